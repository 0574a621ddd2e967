//! # trrg-tokenize: report tokenizers
//!
//! One trait, [`ReportTokenizer`], over the two tokenizers a report decoder meets: R2Gen's word
//! vocabulary ([`WordVocab`], built from the cleaned training reports with a count threshold,
//! id 0 for padding) and a HF `tokenizer.json` ([`HfReportTokenizer`], for LLaMA-family
//! decoders). The dataset crate encodes reports through it; the model crates decode through it.
#![warn(missing_docs)]

mod error;
mod tokenizer;
mod vocab;

pub use error::{Error, Result};
pub use tokenizer::{HfReportTokenizer, ReportTokenizer, SpecialTokens};
pub use vocab::{WordVocab, UNK};
