//! # trrg-labeler: a CheXpert-style rule labeler
//!
//! Labels a radiology report with the 14 CheXpert observations — 1 (positive), 0 (negative),
//! -1 (uncertain) or blank — in the manner of the Stanford CheXpert labeler
//! (stanfordmlgroup/chexpert-labeler): mention phrases per observation, unmention phrases that veto
//! them, negation and uncertainty rules, and per-report aggregation with CheXpert's conflict rules
//! and No Finding rule.
//!
//! ```text
//! report -> normalize, split sentences -> mentions (regex phrase lists, minus unmentions)
//!        -> per mention: pre-negation uncertainty > negation > uncertainty > positive (rules.rs)
//!        -> per report: positive > uncertain > negative; blank if unmentioned; No Finding rule
//! ```
//!
//! CheXpert decides negation on a dependency parse (BLLIP + NegBio); nothing like it exists in
//! Rust, so trrg uses surface rules within clauses (NegEx-style). The output names itself
//! [`LABELER_NAME`] — "CheXpert-style rules (trrg)" — never CheXpert or CheXbert. The phrase lists
//! are trrg's own.
#![warn(missing_docs)]

mod labeler;
mod observations;
mod rules;

pub use labeler::{Labeler, Mention, ReportLabels, LABELER_NAME};
pub use observations::{observation_index, CHEXPERT_OBSERVATIONS};
pub use rules::Label;
#[cfg(feature = "burn")]
mod tensors;
#[cfg(feature = "burn")]
pub use tensors::DiseaseLabels;
