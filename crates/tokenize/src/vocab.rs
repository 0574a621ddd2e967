//! R2Gen's word vocabulary: whitespace tokens of cleaned train reports with count >= threshold.
//!
//! Ported from cuhksz-nlp/R2Gen `modules/tokenizers.py`: the tokens kept are sorted together with
//! `<unk>` and numbered from 1; id 0 is BOS, EOS and padding at once. A report encodes to
//! `[0] + ids + [0]`, truncated by the dataset to `max_seq_length` (so a long report loses its
//! final 0). Decoding stops at the first 0, as R2Gen's `decode` does.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use trrg_io::{read_json, write_atomic};

use crate::{Error, ReportTokenizer, Result};
use trrg_clean::py_split_whitespace;

/// The unknown-word token.
pub const UNK: &str = "<unk>";

/// R2Gen's word-level vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordVocab {
    /// `tokens[i]` has id `i + 1`; sorted, `<unk>` included.
    tokens: Vec<String>,
    index: HashMap<String, u32>,
    unk_id: u32,
}

#[derive(Serialize, Deserialize)]
struct VocabFile {
    format: String,
    tokens: Vec<String>,
}

const FORMAT: &str = "trrg-word-vocab-v1";

impl WordVocab {
    /// Builds the vocabulary from cleaned reports (R2Gen uses the train split only).
    ///
    /// ```
    /// let v = trrg_tokenize::WordVocab::build(["a b .", "a c .", "a b ."], 2);
    /// assert_eq!(v.tokens(), ["."; 1].iter().chain(&["<unk>", "a", "b"]).copied().collect::<Vec<_>>());
    /// ```
    pub fn build<'a>(cleaned_reports: impl IntoIterator<Item = &'a str>, threshold: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for report in cleaned_reports {
            for token in py_split_whitespace(report) {
                *counts.entry(token).or_default() += 1;
            }
        }
        let mut tokens: Vec<String> = counts
            .into_iter()
            .filter(|&(_, c)| c >= threshold)
            .map(|(t, _)| t.to_string())
            .collect();
        if !tokens.iter().any(|t| t == UNK) {
            tokens.push(UNK.to_string());
        }
        Self::from_tokens(tokens)
    }

    fn from_tokens(mut tokens: Vec<String>) -> Self {
        // Python sorts str by code point, as Rust's `String` ordering does.
        tokens.sort();
        tokens.dedup();
        let index: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32 + 1))
            .collect();
        let unk_id = index[UNK];
        Self {
            tokens,
            index,
            unk_id,
        }
    }

    /// The tokens, in id order (id = position + 1).
    pub fn tokens(&self) -> Vec<&str> {
        self.tokens.iter().map(String::as_str).collect()
    }

    /// The id of a token (`<unk>`'s id when absent).
    pub fn id(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(self.unk_id)
    }

    /// The token of an id (`<unk>` for 0 or out-of-range ids).
    pub fn token(&self, id: u32) -> &str {
        id.checked_sub(1)
            .and_then(|i| self.tokens.get(i as usize))
            .map_or(UNK, String::as_str)
    }

    /// Writes the vocabulary as JSON (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let file = VocabFile {
            format: FORMAT.into(),
            tokens: self.tokens.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).expect("a list of strings serializes");
        Ok(write_atomic(path.as_ref(), &json)?)
    }

    /// Reads a vocabulary written by [`WordVocab::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file: VocabFile = read_json(path)?;
        let bad = |reason: String| Error::InvalidConfig {
            field: "vocabulary",
            reason,
        };
        if file.format != FORMAT {
            return Err(bad(format!(
                "{}: format `{}`, expected `{FORMAT}`",
                path.display(),
                file.format
            )));
        }
        if !file.tokens.iter().any(|t| t == UNK) {
            return Err(bad(format!("{}: has no `{UNK}` token", path.display())));
        }
        Ok(Self::from_tokens(file.tokens))
    }
}

impl ReportTokenizer for WordVocab {
    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        Ok(py_split_whitespace(text).map(|t| self.id(t)).collect())
    }

    /// R2Gen's decode: tokens joined by spaces, stopping at the first id 0. An id past the
    /// vocabulary is an error (R2Gen's `idx2token[id]` fails there too).
    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut text = String::new();
        for (i, &id) in ids.iter().enumerate() {
            if id == 0 {
                break;
            }
            if id as usize >= self.vocab_size() {
                return Err(Error::UnknownId {
                    tokenizer: "word vocabulary".into(),
                    id,
                    vocab_size: self.vocab_size(),
                });
            }
            if i >= 1 {
                text.push(' ');
            }
            text.push_str(self.token(id));
        }
        Ok(text)
    }

    fn vocab_size(&self) -> usize {
        self.tokens.len() + 1
    }

    fn bos_id(&self) -> u32 {
        0
    }

    fn eos_id(&self) -> u32 {
        0
    }

    fn pad_id(&self) -> u32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2gen_encoding_and_decoding() {
        let v = WordVocab::build(["heart normal .", "heart big .", "heart normal ."], 2);
        assert_eq!(v.tokens(), [".", "<unk>", "heart", "normal"]);
        let ids = v.encode_report("heart huge .", 60).unwrap();
        assert_eq!(ids, [0, 3, 2, 1, 0]);
        assert_eq!(v.decode(&ids[1..]).unwrap(), "heart <unk> .");
        // An id the vocabulary does not have is one clear error, not an empty report.
        let err = v.decode(&[3, 99]).unwrap_err().to_string();
        assert!(
            err.contains("token id 99") && err.contains("vocabulary of 5"),
            "{err}"
        );
        assert_eq!(v.encode_report("heart normal .", 3).unwrap(), [0, 3, 4]);
        assert_eq!(v.vocab_size(), 5);
    }

    #[test]
    fn save_load_roundtrip() {
        let v = WordVocab::build(["a b c", "a b"], 1);
        let path = std::env::temp_dir().join(format!("trrg-vocab-{}.json", std::process::id()));
        v.save(&path).unwrap();
        assert_eq!(WordVocab::load(&path).unwrap(), v);
        std::fs::remove_file(path).unwrap();
    }
}
