//! The trrg workspace root: examples and benches.
//!
//! Library crates never choose a backend; they are generic over `B: Backend`. Examples and
//! benches take the backend from [`trrg_core::backend`], chosen by the root package's cargo
//! features: `flex` (default, CPU).
#![warn(missing_docs)]

pub use trrg_core::backend;
