//! Batching studies into tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::{load_gray, Error, ImageTransformConfig, Result, StudyItem};
pub use trrg_clue::DiseaseLabels;

/// A batch of studies.
#[derive(Clone, Debug)]
pub struct ReportBatch<B: Backend> {
    /// Study ids, one per row.
    pub ids: Vec<String>,
    /// Cleaned reports, one per row.
    pub reports: Vec<String>,
    /// - images: `[batch, n_views, channels, height, width]`
    pub images: Tensor<B, 5>,
    /// - token_ids: `[batch, seq_len]`, `[bos] + report + [eos]`, right-padded with the pad id.
    pub token_ids: Tensor<B, 2, Int>,
    /// - attention_mask: `[batch, seq_len]`, true on real tokens, false on padding.
    pub attention_mask: Tensor<B, 2, Bool>,
    /// - label_mask: `[batch, seq_len]`, true where the token is a training target: every real
    ///   token after the first (BOS is given, never predicted).
    pub label_mask: Tensor<B, 2, Bool>,
    /// Disease labels when every study in the batch has them.
    pub labels: Option<DiseaseLabels<B>>,
}

/// Turns [`StudyItem`]s into a [`ReportBatch`]: decodes and transforms the images, pads tokens.
#[derive(Clone, Debug)]
pub struct ReportBatcher {
    transform: ImageTransformConfig,
    augment: bool,
    pad_id: u32,
}

impl ReportBatcher {
    /// A batcher; `augment` turns on random crops and flips (training), off gives centre crops.
    pub fn new(transform: ImageTransformConfig, augment: bool, pad_id: u32) -> Result<Self> {
        transform.validate()?;
        Ok(Self {
            transform,
            augment,
            pad_id,
        })
    }

    /// The image transform.
    pub fn transform(&self) -> &ImageTransformConfig {
        &self.transform
    }

    /// Batches items, with a clear error for an image that cannot be decoded or a ragged batch.
    pub fn try_batch<B: Backend>(
        &self,
        items: &[StudyItem],
        device: &B::Device,
    ) -> Result<ReportBatch<B>> {
        let batch = items.len();
        let ragged = |field: &'static str, reason: String| Error::InvalidConfig { field, reason };
        let first = items
            .first()
            .ok_or_else(|| ragged("batch", "a batch needs at least one study".into()))?;
        let n_views = first.image_paths.len();
        let mut decoded = Vec::with_capacity(batch);
        for item in items {
            if item.image_paths.len() != n_views {
                return Err(ragged(
                    "batch",
                    format!(
                        "study `{}` has {} views, the batch {n_views}",
                        item.id,
                        item.image_paths.len()
                    ),
                ));
            }
            decoded.push(
                item.image_paths
                    .iter()
                    .map(|path| load_gray(path, &item.id))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        let seed = |study: usize, view: usize| {
            crate::dataset::mix_seed(&[items[study].augment_seed, view as u64])
        };
        let images = self
            .transform
            .stack(&decoded, n_views, self.augment, seed, device);

        let seq_len = items.iter().map(|i| i.token_ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq_len);
        let mut attention = Vec::with_capacity(batch * seq_len);
        let mut targets = Vec::with_capacity(batch * seq_len);
        for item in items {
            for t in 0..seq_len {
                let real = t < item.token_ids.len();
                ids.push(item.token_ids.get(t).copied().unwrap_or(self.pad_id) as i64);
                attention.push(real);
                targets.push(real && t > 0);
            }
        }
        let token_ids = Tensor::from_data(TensorData::new(ids, [batch, seq_len]), device);
        let attention_mask =
            Tensor::from_data(TensorData::new(attention, [batch, seq_len]), device);
        let label_mask = Tensor::from_data(TensorData::new(targets, [batch, seq_len]), device);

        let labels = match items
            .iter()
            .map(|i| i.labels.as_ref())
            .collect::<Option<Vec<_>>>()
        {
            Some(rows) => {
                let n = rows[0].len();
                if rows.iter().any(|r| r.len() != n) {
                    return Err(ragged(
                        "labels",
                        "studies in one batch have different label sets".into(),
                    ));
                }
                let values: Vec<f32> = rows
                    .iter()
                    .flat_map(|r| r.iter().map(|v| v.unwrap_or(0) as f32))
                    .collect();
                let known: Vec<bool> = rows
                    .iter()
                    .flat_map(|r| r.iter().map(Option::is_some))
                    .collect();
                Some(DiseaseLabels {
                    values: Tensor::from_data(TensorData::new(values, [batch, n]), device),
                    known: Tensor::from_data(TensorData::new(known, [batch, n]), device),
                })
            }
            None => None,
        };
        Ok(ReportBatch {
            ids: items.iter().map(|i| i.id.clone()).collect(),
            reports: items.iter().map(|i| i.report.clone()).collect(),
            images,
            token_ids,
            attention_mask,
            label_mask,
            labels,
        })
    }
}

/// For burn's `DataLoader`: the output is a `Result`, so a corrupt image reaches the training loop
/// as an error naming the study and the file instead of a panic in a worker thread.
impl<B: Backend> Batcher<B, StudyItem, Result<ReportBatch<B>>> for ReportBatcher {
    fn batch(&self, items: Vec<StudyItem>, device: &B::Device) -> Result<ReportBatch<B>> {
        self.try_batch(&items, device)
    }
}
