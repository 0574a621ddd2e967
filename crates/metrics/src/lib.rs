//! # trrg-metrics: report-generation metrics equal to pycocoevalcap, and clinical efficacy
//!
//! NLG metrics follow pycocoevalcap 1.2 in the R2Gen convention (no PTB tokenizer: whitespace
//! tokens of cleaned text): BLEU-1..4 ([`bleu`](crate::NlgScores::bleu), corpus level, closest
//! reference length, 1e-15 / 1e-9 smoothing), ROUGE-L (beta 1.2, mean over examples) and CIDEr-D
//! (n 1..4, sigma 6, x10, document frequencies from the evaluated set's references, bigram-count
//! length). Golden tests compare with pycocoevalcap to 1e-6. Clinical efficacy has three named
//! conventions ([`CeConvention`]). METEOR 1.5 is a Rust port ([`Meteor`]): no Java.
//!
//! ```text
//! (id, refs, hyp)* --update--> n-gram counts, BLEU statistics --finalize--> NlgScores
//! labels(refs), labels(hyps) --clinical_efficacy(convention)--> CeScores
//! ```
#![warn(missing_docs)]

mod bleu;
mod cider;
mod clinical;
mod error;
mod meteor;
mod ngrams;
mod nlg;
mod report;
mod rouge;

pub use bleu::BleuStats;
pub use clinical::{clinical_efficacy, prf, CeConvention, CeScores, ObservationScores, CE_FIVE};
pub use error::{Error, Result};
pub use meteor::{corpus_meteor, Meteor, MeteorCache, MeteorStats};
pub use nlg::{BleuScores, ExampleScores, MeteorScores, NlgEvaluator, NlgScores};
pub use report::{evaluate, evaluation_json, predictions_metrics};
