//! GGUF (llama.cpp) checkpoints of the `llama` architecture: the config and the tokenizer
//! (byte-level BPE, or SentencePiece BPE as Llama-2 and Mistral ship it) rebuilt from the
//! metadata, llama.cpp's Q/K row permutation undone. The container itself
//! (header, tensor table, dequantization) is [`trrg_io::Gguf`].

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};
pub use trrg_io::{Gguf, GgufValue};

use crate::model::{RopeRows, PROJECTION_NAMES};
use crate::{LlamaConfig, LlamaForCausalLM, Result};
use trrg_kernels::TrrgOps;

/// What a `llama` GGUF file's metadata says about the model: its config and its tokenizer.
pub trait GgufLlama {
    /// The decoder's configuration from `llama.*` metadata (the architecture must be `llama`).
    fn llama_config(&self) -> Result<LlamaConfig>;
    /// The tokenizer stored in the metadata, as transformers rebuilds it from a GGUF file, with
    /// the CONTROL tokens (and the unknown token) as special tokens:
    /// - `tokenizer.ggml.model` = `gpt2`: byte-level BPE with its merges, digits split one by one
    ///   (llama.cpp's `smollm` pre-tokenizer rule set starts with that);
    /// - `llama` (SentencePiece, as Llama-2 and Mistral ship it): BPE with byte fallback, its
    ///   merges recovered from the vocabulary and the scores (transformers' `generate_merges`),
    ///   `▁` for spaces, prepended to the text unless `tokenizer.ggml.add_space_prefix` is false.
    fn tokenizer(&self) -> Result<Tokenizer>;
}

impl GgufLlama for Gguf {
    fn llama_config(&self) -> Result<LlamaConfig> {
        match self.metadata().get("general.architecture") {
            Some(GgufValue::String(a)) if a == "llama" => {}
            other => {
                return Err(crate::Error::from(self.error(format!(
                    "general.architecture is {other:?}; only `llama` is supported"
                ))))
            }
        }
        let vocab = self.strings("tokenizer.ggml.tokens")?.len();
        let n = |key: &str| self.int(&format!("llama.{key}")).map(|v| v as usize);
        let heads = n("attention.head_count")?;
        let config = LlamaConfig::new(
            vocab,
            n("embedding_length")?,
            n("feed_forward_length")?,
            n("block_count")?,
            heads,
        )
        .with_num_key_value_heads(Some(n("attention.head_count_kv").unwrap_or(heads)))
        .with_rms_norm_eps(self.float("llama.attention.layer_norm_rms_epsilon")?)
        .with_rope_theta(self.float("llama.rope.freq_base").unwrap_or(10000.0))
        .with_max_position_embeddings(n("context_length")?)
        .with_tie_word_embeddings(!self.has_tensor("output.weight"));
        config.validate()?;
        Ok(config)
    }

    fn tokenizer(&self) -> Result<Tokenizer> {
        let tokens = self.strings("tokenizer.ggml.tokens")?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let model = match self.metadata().get("tokenizer.ggml.model") {
            Some(GgufValue::String(m)) => m.as_str(),
            other => {
                return Err(crate::Error::from(
                    self.error(format!("tokenizer.ggml.model is {other:?}, not a string")),
                ))
            }
        };
        let mut tokenizer = match model {
            "gpt2" => byte_level_bpe(self, vocab)?,
            "llama" => sentencepiece_bpe(self, &tokens, vocab)?,
            other => {
                return Err(crate::Error::from(self.error(format!(
                    "tokenizer.ggml.model is `{other}`; supported: `gpt2` (byte-level BPE) and \
                     `llama` (SentencePiece BPE)"
                ))))
            }
        };
        let unknown = self.int("tokenizer.ggml.unknown_token_id").ok();
        let special: Vec<AddedToken> = match self.metadata().get("tokenizer.ggml.token_type") {
            Some(GgufValue::Array(types)) => tokens
                .iter()
                .zip(types)
                .enumerate()
                .filter(|(i, (_, t))| {
                    **t == GgufValue::Int(3) || (model == "llama" && unknown == Some(*i as i64))
                })
                .map(|(_, (tok, _))| AddedToken::from(tok.to_string(), true).normalized(false))
                .collect(),
            _ => Vec::new(),
        };
        tokenizer.add_special_tokens(&special);
        Ok(tokenizer)
    }
}

/// `tokenizer.ggml.model` = `gpt2`: byte-level BPE with the file's merges, digits split one by
/// one.
fn byte_level_bpe(gguf: &Gguf, vocab: Vocab) -> Result<Tokenizer> {
    let merges = gguf
        .strings("tokenizer.ggml.merges")?
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| gguf.error(format!("merge `{m}` has no space")))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| gguf.error(format!("tokenizer: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::new(true, true, true)));
    tokenizer.with_post_processor(Some(ByteLevel::new(true, false, true)));
    Ok(tokenizer)
}

/// `tokenizer.ggml.model` = `llama`: SentencePiece BPE with byte fallback, merges recovered from
/// the scores, `▁` for spaces (transformers' `LlamaTokenizer` over a GGUF vocabulary).
fn sentencepiece_bpe(gguf: &Gguf, tokens: &[&str], vocab: Vocab) -> Result<Tokenizer> {
    let scores = gguf.floats("tokenizer.ggml.scores")?;
    if scores.len() != tokens.len() {
        return Err(crate::Error::from(gguf.error(format!(
            "tokenizer.ggml.scores has {} entries for {} tokens",
            scores.len(),
            tokens.len()
        ))));
    }
    let merges = merges_from_scores(tokens, &scores, &vocab);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| gguf.error(format!("tokenizer: {e}")))?;
    let prefix = !matches!(
        gguf.metadata().get("tokenizer.ggml.add_space_prefix"),
        Some(GgufValue::Bool(false))
    );
    let scheme = if prefix {
        PrependScheme::First
    } else {
        PrependScheme::Never
    };
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
    let replace = Replace::new("▁", " ").map_err(|e| gguf.error(format!("tokenizer: {e}")))?;
    let mut decoders = vec![
        DecoderWrapper::Replace(replace),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ];
    if prefix {
        decoders.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// The merges a SentencePiece BPE vocabulary implies, as transformers' `generate_merges`
/// recovers them for a GGUF file without merges: every split of every token into two tokens,
/// ordered by the whole token's score (highest first), then the longer left and right parts,
/// ties kept in vocabulary order.
fn merges_from_scores(tokens: &[&str], scores: &[f64], vocab: &Vocab) -> Merges {
    // `dict(zip(tokens, scores))`: a repeated token keeps its first place and its last score.
    let mut order: Vec<&str> = Vec::with_capacity(tokens.len());
    let mut score: std::collections::HashMap<&str, f64> = Default::default();
    for (token, s) in tokens.iter().zip(scores) {
        if score.insert(token, *s).is_none() {
            order.push(token);
        }
    }
    let mut merges: Vec<(&str, &str, f64)> = Vec::new();
    for token in order {
        let mut local: Vec<(&str, &str, f64)> = token
            .char_indices()
            .skip(1)
            .map(|(at, _)| token.split_at(at))
            .filter(|(l, r)| vocab.contains_key(*l) && vocab.contains_key(*r))
            .map(|(l, r)| (l, r, score[token]))
            .collect();
        local.sort_by_key(|(l, r, _)| (vocab[*l], vocab[*r]));
        merges.extend(local);
    }
    let key = |(l, r, s): &(&str, &str, f64)| (*s, l.chars().count(), r.chars().count());
    merges.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2))
    });
    merges
        .into_iter()
        .map(|(l, r, _)| (l.to_string(), r.to_string()))
        .collect()
}

/// Undoes llama.cpp's rotary row permutation of a `[n_head * head_dim, d_in]` Q or K weight
/// (`convert_hf_to_gguf.py` interleaves each head's two rotary halves).
fn unpermute(w: Vec<f32>, n_head: usize, rows: usize, cols: usize) -> Vec<f32> {
    let half = rows / n_head / 2;
    let mut out = vec![0f32; w.len()];
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                // GGUF row (h, i, j) holds HF row (h, j, i).
                let src = (h * half + i) * 2 + j;
                let dst = (h * 2 + j) * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

impl<B: TrrgOps> LlamaForCausalLM<B> {
    /// Loads a `llama`-architecture GGUF file: the model (weights dequantized to the float type
    /// of `device`), its config and its tokenizer. The file is opened once, memory-mapped.
    pub fn from_gguf(
        path: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<(Self, LlamaConfig, Tokenizer)> {
        let gguf = Gguf::open(path)?;
        let tokenizer = gguf.tokenizer()?;
        let (model, config) = Self::from_opened_gguf(&gguf, device)?;
        Ok((model, config, tokenizer))
    }

    /// [`LlamaForCausalLM::from_gguf`] of a file already open (so that its tokenizer, config
    /// and weights come from one open). A model whose dequantized weights need more memory than
    /// the machine has left is refused before any is allocated.
    pub fn from_opened_gguf(gguf: &Gguf, device: &B::Device) -> Result<(Self, LlamaConfig)> {
        let config = gguf.llama_config()?;
        gguf.check_memory::<B>(device)?;
        let mut model = config.init::<B>(device)?;
        let d = config.hidden_size;
        let (heads, kv_heads) = (config.num_attention_heads, config.n_kv_heads());
        let linear =
            |name: &str, d_out: usize, d_in: usize, permute: Option<usize>| -> Result<Linear<B>> {
                let mut w = gguf.tensor_values(name, &[d_out, d_in])?;
                if let Some(n_head) = permute {
                    w = unpermute(w, n_head, d_out, d_in);
                }
                // burn's `[in, out]`, stored contiguously: a transposed view would be copied on
                // every forward pass.
                let w = trrg_io::transpose(&w, d_out, d_in);
                let weight = Tensor::<B, 2>::from_data(TensorData::new(w, [d_in, d_out]), device);
                Ok(Linear {
                    weight: Param::from_tensor(weight),
                    bias: None,
                })
            };
        let vector = |name: &str, n: usize| -> Result<Param<Tensor<B, 1>>> {
            let v = gguf.tensor_values(name, &[n])?;
            Ok(Param::from_tensor(Tensor::from_data(
                TensorData::new(v, [n]),
                device,
            )))
        };
        let vocab = config.vocab_size;
        let embed = gguf.tensor_values("token_embd.weight", &[vocab, d])?;
        model.model.embed_tokens.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(embed, [vocab, d]),
            device,
        ));
        model.model.norm.gamma = vector("output_norm.weight", d)?;
        if let Some(head) = model.lm_head.as_mut() {
            *head = linear("output.weight", vocab, d, None)?;
        }
        for (i, layer) in model.model.layers.iter_mut().enumerate() {
            let p = format!("blk.{i}");
            layer.input_layernorm.gamma = vector(&format!("{p}.attn_norm.weight"), d)?;
            layer.post_attention_layernorm.gamma = vector(&format!("{p}.ffn_norm.weight"), d)?;
            for ((_, proj), (_, gguf_name, rows)) in
                layer.projections_mut().into_iter().zip(PROJECTION_NAMES)
            {
                let [d_in, d_out] = proj.dims();
                let permute = match rows {
                    RopeRows::Plain => None,
                    RopeRows::Query => Some(heads),
                    RopeRows::Key => Some(kv_heads),
                };
                proj.weight =
                    linear(&format!("{p}.{gguf_name}.weight"), d_out, d_in, permute)?.weight;
            }
        }
        let expected = 2 + usize::from(model.lm_head.is_some()) + 9 * config.num_hidden_layers;
        if gguf.tensor_names().count() != expected {
            let known = |n: &str| {
                n == "token_embd.weight"
                    || n == "output_norm.weight"
                    || (n == "output.weight" && model.lm_head.is_some())
                    || n.strip_prefix("blk.").is_some_and(|rest| {
                        rest.split_once('.').is_some_and(|(i, _)| {
                            i.parse::<usize>()
                                .is_ok_and(|i| i < config.num_hidden_layers)
                        })
                    })
            };
            let unused: Vec<&str> = gguf.tensor_names().filter(|n| !known(n)).collect();
            return Err(crate::Error::from(gguf.error(format!(
                "{} tensor(s) the model has no place for: {unused:?}",
                gguf.tensor_names().count().saturating_sub(expected)
            ))));
        }
        Ok((model, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_restores_hf_row_order() {
        // Two heads of head_dim 4 (halves of 2), one column: HF rows 0..8.
        // llama.cpp row (h, i, j) holds HF row (h, j, i).
        let gguf_rows = vec![0., 2., 1., 3., 4., 6., 5., 7.];
        assert_eq!(
            unpermute(gguf_rows, 2, 8, 1),
            vec![0., 1., 2., 3., 4., 5., 6., 7.]
        );
    }
}
