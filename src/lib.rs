//! The trrg workspace root: examples, benches, and the one place that maps cargo features to a
//! Burn backend.
//!
//! Library crates never choose a backend; they are generic over `B: Backend`. Examples and
//! benches use [`backend::Backend`] (inference) and [`backend::TrainBackend`] (autodiff), chosen by
//! the root package's cargo features: `flex` (default, CPU).
#![warn(missing_docs)]

pub mod backend;
