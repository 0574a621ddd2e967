//! Batching studies into tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::{load_gray, Error, ImageTransformConfig, Result, StudyItem};
pub use trrg_labeler::DiseaseLabels;

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
    /// What the reports state, when an edit made a study's report differ from its labels
    /// ([`StudyItem::report_labels`]); `None`: `labels`.
    pub report_labels: Option<DiseaseLabels<B>>,
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

        let labels = label_tensors(items.iter().map(|i| i.labels.as_ref()), device)?;
        let report_labels = if items.iter().any(|i| i.report_labels.is_some()) {
            label_tensors(
                items
                    .iter()
                    .map(|i| i.report_labels.as_ref().or(i.labels.as_ref())),
                device,
            )?
        } else {
            None
        };
        Ok(ReportBatch {
            ids: items.iter().map(|i| i.id.clone()).collect(),
            reports: items.iter().map(|i| i.report.clone()).collect(),
            images,
            token_ids,
            attention_mask,
            label_mask,
            labels,
            report_labels,
        })
    }
}

/// The label rows of a batch as tensors, when every study has one.
fn label_tensors<'a, B: Backend>(
    rows: impl Iterator<Item = Option<&'a crate::LabelRow>>,
    device: &B::Device,
) -> Result<Option<DiseaseLabels<B>>> {
    let Some(rows) = rows.collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    let (batch, n) = (rows.len(), rows.first().map_or(0, |r| r.len()));
    if rows.iter().any(|r| r.len() != n) {
        return Err(Error::InvalidConfig {
            field: "labels",
            reason: "studies in one batch have different label sets".into(),
        });
    }
    let values: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.iter().map(|v| v.unwrap_or(0) as f32))
        .collect();
    let known: Vec<bool> = rows
        .iter()
        .flat_map(|r| r.iter().map(Option::is_some))
        .collect();
    Ok(Some(DiseaseLabels {
        values: Tensor::from_data(TensorData::new(values, [batch, n]), device),
        known: Tensor::from_data(TensorData::new(known, [batch, n]), device),
    }))
}

/// For burn's `DataLoader`: the output is a `Result`, so a corrupt image reaches the training loop
/// as an error naming the study and the file instead of a panic in a worker thread.
impl<B: Backend> Batcher<B, StudyItem, Result<ReportBatch<B>>> for ReportBatcher {
    fn batch(&self, items: Vec<StudyItem>, device: &B::Device) -> Result<ReportBatch<B>> {
        self.try_batch(&items, device)
    }
}
