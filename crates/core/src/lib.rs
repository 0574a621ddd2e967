//! TRRG — truthful radiology report generation — on Burn, generic over the backend.
//!
//! This facade re-exports every trrg crate as a module: [`data`] (datasets, cleaning,
//! tokenizers), [`synth`] (synthetic radiographs with truthful reports), [`labeler`]
//! (CheXpert-style rule labeler), [`metrics`] (pycocoevalcap-equal NLG metrics, clinical
//! efficacy), [`vision`], [`text`], [`clue`], [`interact`], [`llm`], [`model`] (`Trrg<B>`) and
//! [`train`].
#![warn(missing_docs)]

pub use trrg_clue as clue;
pub use trrg_data as data;
pub use trrg_interact as interact;
pub use trrg_labeler as labeler;
pub use trrg_llm as llm;
pub use trrg_metrics as metrics;
pub use trrg_model as model;
pub use trrg_synth as synth;
pub use trrg_text as text;
pub use trrg_train as train;
pub use trrg_vision as vision;

/// The types most programs need.
pub mod prelude {
    pub use trrg_clue::DiseaseSet;
    pub use trrg_data::{ReportTokenizer, WordVocab};
    pub use trrg_llm::GenerationConfig;
    pub use trrg_model::{ClueMode, Trrg, TrrgConfig};
    pub use trrg_train::{train, RunOptions, TrainConfig};
}
