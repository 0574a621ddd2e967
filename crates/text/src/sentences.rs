//! Padding a list of sentences into one batch of token ids.

use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;

use crate::Error;

/// Token ids and mask of several sentences, right-padded.
#[derive(Clone, Debug)]
pub struct SentenceBatch<B: TrrgOps> {
    /// `[batch, seq_len]`
    pub token_ids: Tensor<B, 2, Int>,
    /// `[batch, seq_len]`, true for real tokens
    pub attention_mask: Tensor<B, 2, Bool>,
}

impl<B: TrrgOps> SentenceBatch<B> {
    /// Right-pads token-id rows (each as a tokenizer's `encode_report` writes it: `[bos] tokens
    /// [eos]`, truncated) with `pad_id` into one batch.
    pub fn from_rows(rows: &[Vec<u32>], pad_id: u32, device: &B::Device) -> crate::Result<Self> {
        if rows.is_empty() {
            return Err(Error::Input {
                what: "sentences",
                reason: "no sentences to encode".into(),
            });
        }
        let seq_len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq_len);
        let mut mask = Vec::with_capacity(rows.len() * seq_len);
        for row in rows {
            for t in 0..seq_len {
                ids.push(row.get(t).copied().unwrap_or(pad_id) as i64);
                mask.push(t < row.len());
            }
        }
        let shape = [rows.len(), seq_len];
        Ok(Self {
            token_ids: Tensor::from_data(TensorData::new(ids, shape), device),
            attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
        })
    }
}
