//! One interface over report tokenizers: R2Gen's word vocabulary and HF `tokenizer.json`.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::{Error, Result};

/// A tokenizer for report text, as the dataset and the decoders see it.
pub trait ReportTokenizer: Send + Sync {
    /// Token ids of a (cleaned) report, without special tokens.
    fn tokenize(&self, text: &str) -> Result<Vec<u32>>;

    /// Text of token ids; special tokens are dropped. An error when the tokenizer cannot decode
    /// them (a HF tokenizer whose decoder fails); never an empty text in place of one.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// Number of ids the tokenizer can produce (embedding table size).
    fn vocab_size(&self) -> usize;

    /// Id put before a report.
    fn bos_id(&self) -> u32;

    /// Id that ends a report.
    fn eos_id(&self) -> u32;

    /// Id used for padding.
    fn pad_id(&self) -> u32;

    /// `[bos] + tokenize(text) + [eos]`, truncated to `max_len` ids.
    ///
    /// As in R2Gen, truncation comes after EOS is added, so a report longer than `max_len - 1`
    /// tokens has no EOS.
    fn encode_report(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(max_len);
        ids.push(self.bos_id());
        ids.extend(self.tokenize(text)?);
        ids.push(self.eos_id());
        ids.truncate(max_len);
        Ok(ids)
    }

    /// [`ReportTokenizer::encode_report`] of each sentence, for a `SentenceBatch` of the text
    /// encoder.
    fn encode_all(&self, sentences: &[&str], max_len: usize) -> Result<Vec<Vec<u32>>> {
        sentences
            .iter()
            .map(|s| self.encode_report(s, max_len))
            .collect()
    }
}

/// Special tokens of a HF tokenizer, by their text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpecialTokens {
    /// Begin-of-sequence token, e.g. `<s>`, `<|im_start|>` or `[CLS]`.
    pub bos: String,
    /// End-of-sequence token, e.g. `</s>`, `<|im_end|>` or `[SEP]`.
    pub eos: String,
    /// Padding token; the EOS token is a common choice for LLaMA-family models.
    pub pad: String,
}

/// `Tokenizer::from_str`, with any panic inside the tokenizers crate (it `expect`s on some
/// inputs its own deserializers reject) turned into an error, and the panic message kept out
/// of stderr: the caller reports the error once.
fn parse_tokenizer(text: &str) -> std::result::Result<Tokenizer, tokenizers::Error> {
    use std::str::FromStr;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let parsed = std::panic::catch_unwind(|| Tokenizer::from_str(text));
    std::panic::set_hook(hook);
    parsed.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(format!("the tokenizers crate failed on this file ({what})").into())
    })
}

/// A HF `tokenizer.json`, with the file's own padding and truncation turned off so that trrg
/// alone decides lengths.
#[derive(Clone, Debug)]
pub struct HfReportTokenizer {
    tokenizer: Tokenizer,
    path: PathBuf,
    bos: u32,
    eos: u32,
    pad: u32,
}

impl HfReportTokenizer {
    /// Loads `tokenizer.json` and looks up the special tokens in its vocabulary.
    pub fn from_file(path: impl AsRef<Path>, special: &SpecialTokens) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(trrg_io::Error::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }
            .into());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| trrg_io::Error::Io {
            path: path.clone(),
            source,
        })?;
        // Malformed JSON is reported by serde_json (line and column); the tokenizers crate
        // panics on some of it (an `expect` in its decoder parsing) instead of failing.
        trrg_io::parse_json::<serde::de::IgnoredAny>(&text, &path)?;
        let tokenizer = parse_tokenizer(&text).map_err(|source| Error::Tokenizer {
            path: path.clone(),
            source,
        })?;
        Self::from_tokenizer(tokenizer, path, special)
    }

    /// Wraps a tokenizer already in memory (e.g. one rebuilt from a GGUF file); `origin` names it
    /// in errors.
    pub fn from_tokenizer(
        mut tokenizer: Tokenizer,
        origin: impl Into<PathBuf>,
        special: &SpecialTokens,
    ) -> Result<Self> {
        let path = origin.into();
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|source| Error::Tokenizer {
                path: path.clone(),
                source,
            })?;
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| Error::UnknownSpecialToken {
                    path: path.clone(),
                    token: token.to_string(),
                })
        };
        let (bos, eos, pad) = (id(&special.bos)?, id(&special.eos)?, id(&special.pad)?);
        Ok(Self {
            tokenizer,
            path,
            bos,
            eos,
            pad,
        })
    }

    /// The wrapped tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

impl ReportTokenizer for HfReportTokenizer {
    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|source| Error::Tokenizer {
                path: self.path.clone(),
                source,
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids past the tokenizer's vocabulary are skipped, as transformers' fast tokenizers do:
    /// an LLM's embedding table is often wider than its tokenizer (rows padded to a multiple
    /// of 64), and a model may emit those ids. A decoder failure is an error.
    fn decode(&self, ids: &[u32]) -> Result<String> {
        let special = [self.bos, self.eos, self.pad];
        let ids: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !special.contains(id))
            .collect();
        self.tokenizer
            .decode(&ids, true)
            .map_err(|source| Error::Decode {
                path: self.path.clone(),
                ids,
                source,
            })
    }

    fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    fn bos_id(&self) -> u32 {
        self.bos
    }

    fn eos_id(&self) -> u32 {
        self.eos
    }

    fn pad_id(&self) -> u32 {
        self.pad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
    use tokenizers::{PaddingParams, TruncationParams};

    fn word_level_file(dir: &Path) -> PathBuf {
        let vocab = ["<pad>", "<s>", "</s>", "<unk>", "heart", "normal", "."]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token("<unk>".into())
            .build()
            .unwrap();
        let mut tok = Tokenizer::new(model);
        tok.with_pre_tokenizer(Some(WhitespaceSplit));
        // Padding and truncation in the file, as all-MiniLM-L6-v2 ships: must be overridden.
        tok.with_padding(Some(PaddingParams {
            pad_id: 0,
            pad_token: "<pad>".into(),
            ..Default::default()
        }));
        tok.with_truncation(Some(TruncationParams {
            max_length: 2,
            ..Default::default()
        }))
        .unwrap();
        let path = dir.join("tokenizer.json");
        tok.save(&path, false).unwrap();
        path
    }

    #[test]
    fn hf_tokenizer_ignores_file_padding_and_truncation() {
        let dir = std::env::temp_dir().join(format!("trrg-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = word_level_file(&dir);
        let special = SpecialTokens {
            bos: "<s>".into(),
            eos: "</s>".into(),
            pad: "<pad>".into(),
        };
        let tok = HfReportTokenizer::from_file(&path, &special).unwrap();
        assert_eq!(
            tok.encode_report("heart normal . x", 60).unwrap(),
            [1, 4, 5, 6, 3, 2]
        );
        assert_eq!(tok.decode(&[1, 4, 5, 2]).unwrap(), "heart normal");
        assert_eq!(tok.decode(&[1, 4, 7, 5]).unwrap(), "heart normal");
        assert_eq!((tok.vocab_size(), tok.pad_id()), (7, 0));
        let bad = SpecialTokens {
            bos: "<bos>".into(),
            ..special.clone()
        };
        let err = HfReportTokenizer::from_file(&path, &bad).unwrap_err();
        assert!(err.to_string().contains("`<bos>`"), "{err}");
        // Regression (found by `fuzz_tokenizer_json`): the tokenizers crate panics on a
        // malformed decoder; here it is one error naming the file and the JSON position.
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replacen("\"decoder\":", "\"decoder\":{{{{{", 1);
        assert_ne!(broken, text);
        std::fs::write(&path, broken).unwrap();
        let err = HfReportTokenizer::from_file(&path, &special)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("line"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
