//! The tokenizers of a run: the `base` preset's own, or the run's word vocabulary.

use std::sync::Arc;

use trrg_tokenize::{HfReportTokenizer, ReportTokenizer, WordVocab};

use crate::TrainConfig;

/// The tokenizers of a run.
pub struct RunTokenizers {
    /// Reports (the LLM's side).
    pub reports: Arc<dyn ReportTokenizer>,
    /// Sentences and prompts (the text encoder's side).
    pub sentences: Arc<dyn ReportTokenizer>,
    /// The word vocabulary, when the run has one.
    pub words: Option<WordVocab>,
}

impl RunTokenizers {
    /// The `base` preset's own tokenizers (the LLM's `tokenizer.json` or the one rebuilt from
    /// its GGUF for reports, the text encoder's `tokenizer.json` for sentences); otherwise the
    /// word vocabulary `words` gives, shared by both sides.
    pub fn for_config(
        config: &TrainConfig,
        words: impl FnOnce() -> crate::Result<WordVocab>,
    ) -> crate::Result<Self> {
        Ok(match &config.base {
            Some(base) => Self {
                reports: Arc::new(HfReportTokenizer::from_tokenizer(
                    base.paths().llm_tokenizer()?,
                    &base.llm,
                    &base.llm_tokens,
                )?),
                sentences: Arc::new(HfReportTokenizer::from_file(
                    base.text.join("tokenizer.json"),
                    &base.text_tokens,
                )?),
                words: None,
            },
            None => {
                let words = words()?;
                let shared: Arc<dyn ReportTokenizer> = Arc::new(words.clone());
                Self {
                    reports: shared.clone(),
                    sentences: shared,
                    words: Some(words),
                }
            }
        })
    }
}
