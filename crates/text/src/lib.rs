//! Text encoders for trrg, generic over Burn's backend.
//!
//! [`Bert`] follows HF `BertModel` (post-LN blocks); [`mean_pool`] turns its hidden states
//! `[batch, seq_len, d_model]` into sentence embeddings `[batch, d_model]` as
//! sentence-transformers does; [`SentenceBatch`] pads tokenized sentences into one batch (token
//! ids: the text encoder needs no tokenizer).
//!
//! ```
//! use burn::backend::Flex;
//! use trrg_tokenize::{ReportTokenizer, WordVocab};
//! use trrg_text::{mean_pool, BertConfig, SentenceBatch};
//!
//! let device = Default::default();
//! let vocab = WordVocab::build(["no pleural effusion", "the heart is normal"], 1);
//! let bert = BertConfig::tiny(vocab.tokens().len() + 1).init::<Flex>(&device)?;
//! let rows = vocab.encode_all(&["no pleural effusion", "normal heart"], 16)?;
//! let batch = SentenceBatch::from_rows(&rows, vocab.pad_id(), &device)?;
//! let hidden = bert.forward(batch.token_ids, batch.attention_mask.clone())?;
//! let embeddings = mean_pool(hidden, batch.attention_mask, true);
//! assert_eq!(embeddings.dims(), [2, 128]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod bert;
mod error;
mod loader;
mod sentences;

pub use bert::{l2_normalize, mean_pool, Bert, BertConfig};
pub use error::{Error, Result};
pub use loader::BERT_LAYER_KEYS;
pub use sentences::SentenceBatch;
