//! TRRG — truthful radiology report generation — on Burn, generic over the backend.
//!
//! This facade re-exports every trrg crate as a module: [`data`] (datasets, cleaning,
//! tokenizers), [`synth`] (synthetic radiographs with truthful reports), [`labeler`]
//! (CheXpert-style rule labeler), [`metrics`] (pycocoevalcap-equal NLG metrics, clinical
//! efficacy), [`vision`], [`text`], [`clue`], [`interact`], [`llm`], [`model`] (`Trrg<B>`) and
//! [`train`].
//!
//! A user's `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! trrg-core = { git = "https://github.com/trrg/trrg" }
//! burn = { version = "=0.21.0", features = ["flex"] }
//! ```
//!
//! and a program that writes the report of a study with a trained run (from
//! `cargo run --release --example train_iu_xray`):
//!
//! ```no_run
//! use burn::backend::Flex;
//! use trrg_core::ReportGenerator;
//!
//! fn main() -> Result<(), trrg_core::GeneratorError> {
//!     let device = Default::default();
//!     let generator = ReportGenerator::<Flex>::from_dir("runs/iu_xray-synthetic-seed42", &device)?;
//!     let views = ["frontal.png".into(), "lateral.png".into()];
//!     let report = generator.generate(&views)?;
//!     println!("{}", report.text);
//!     for (disease, p) in report.clues {
//!         println!("{disease}: {p:.2}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Swap the backend by changing the type parameter (`ReportGenerator::<Wgpu>`, ...).
#![warn(missing_docs)]

#[cfg(any(
    feature = "flex",
    feature = "ndarray",
    feature = "wgpu",
    feature = "tch",
    feature = "cuda"
))]
pub mod backend;
pub use trrg_run::{Error as GeneratorError, Report, ReportGenerator};

pub use trrg_clue as clue;
pub use trrg_data as data;
pub use trrg_interact as interact;
pub use trrg_io as io;
pub use trrg_labeler as labeler;
pub use trrg_llm as llm;
pub use trrg_metrics as metrics;
pub use trrg_model as model;
pub use trrg_run as run;
pub use trrg_synth as synth;
pub use trrg_text as text;
pub use trrg_tokenize as tokenize;
pub use trrg_train as train;
pub use trrg_vision as vision;

/// The types most programs need.
pub mod prelude {
    pub use trrg_clue::DiseaseSet;
    pub use trrg_llm::GenerationConfig;
    pub use trrg_model::{ClueMode, Trrg, TrrgConfig};
    pub use trrg_tokenize::{ReportTokenizer, WordVocab};
    pub use trrg_train::{train, RunOptions, TrainConfig};
}
