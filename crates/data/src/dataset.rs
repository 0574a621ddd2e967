//! A burn [`Dataset`] of studies: cleaned report, token ids, image paths and optional labels.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataset::Dataset;
use serde::{Deserialize, Serialize};

use crate::{
    Annotation, Cleaner, DatasetKind, EmptyReportPolicy, Error, LabelRow, LabelTable,
    ReportTokenizer, Result, Split, StudySet,
};

/// How a split of an R2Gen dataset is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDatasetConfig {
    /// Layout of the annotation (views per study, default cleaner). Default IU-Xray.
    pub kind: DatasetKind,
    /// Report cleaner; `None` uses the kind's R2Gen cleaner.
    pub cleaner: Option<Cleaner>,
    /// Token ids per report including BOS/EOS; `None` uses the kind's R2Gen value (IU 60, MIMIC 100).
    pub max_seq_length: Option<usize>,
    /// What to do with studies whose report cleans to nothing. Default: error.
    pub empty_reports: EmptyReportPolicy,
    /// Seed of the per-item augmentation seeds. Default 42.
    pub seed: u64,
}

impl Default for ReportDatasetConfig {
    fn default() -> Self {
        Self {
            kind: DatasetKind::IuXray,
            cleaner: None,
            max_seq_length: None,
            empty_reports: EmptyReportPolicy::Error,
            seed: 42,
        }
    }
}

impl ReportDatasetConfig {
    /// The cleaner in effect.
    pub fn cleaner(&self) -> Cleaner {
        self.cleaner.unwrap_or(self.kind.default_cleaner())
    }

    /// The maximum sequence length in effect.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
            .unwrap_or(self.kind.default_max_seq_length())
    }
}

/// One study as the dataset hands it to a batcher.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyItem {
    /// Study id.
    pub id: String,
    /// Cleaned report.
    pub report: String,
    /// `[bos] + report + [eos]`, truncated to `max_seq_length`.
    pub token_ids: Vec<u32>,
    /// One image file per view.
    pub image_paths: Vec<PathBuf>,
    /// Disease labels when the dataset has a label table.
    pub labels: Option<LabelRow>,
    /// What the report states, where an edit made it differ from `labels` (what the images
    /// show); `None`: `labels`. Training teacher-forces the clues from these.
    pub report_labels: Option<LabelRow>,
    /// Seed for this item's random augmentation; depends on the dataset seed, epoch and index.
    pub augment_seed: u64,
}

/// The studies of one split of an R2Gen-format dataset.
#[derive(Debug)]
pub struct ReportDataset {
    items: Vec<StudyItem>,
    max_len: usize,
    seed: u64,
    epoch: AtomicU64,
    skipped_empty: usize,
}

impl ReportDataset {
    /// Reads one split of an R2Gen dataset directory: `dir/annotation.json` and `dir/images/`.
    ///
    /// Every image file must exist (checked here, so a missing file fails before training
    /// starts). With `labels`, every study must have a row in the table.
    pub fn from_r2gen_dir(
        dir: &Path,
        split: Split,
        tokenizer: &dyn ReportTokenizer,
        labels: Option<&LabelTable>,
        config: &ReportDatasetConfig,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "dataset directory not found",
                ),
            });
        }
        let annotation = Annotation::from_path(dir.join("annotation.json"))?;
        Self::from_annotation(
            &annotation,
            &dir.join("images"),
            split,
            tokenizer,
            labels,
            config,
        )
    }

    /// Builds the dataset of one split from a parsed annotation and an images root.
    pub fn from_annotation(
        annotation: &Annotation,
        images_root: &Path,
        split: Split,
        tokenizer: &dyn ReportTokenizer,
        labels: Option<&LabelTable>,
        config: &ReportDatasetConfig,
    ) -> Result<Self> {
        let set = annotation.studies(
            split,
            config.kind,
            config.cleaner(),
            images_root,
            config.empty_reports,
        )?;
        Self::from_studies(set, tokenizer, labels, config)
    }

    /// [`ReportDataset::from_annotation`] for a split already read (`Annotation::studies`), so
    /// that a caller that also needs the studies reads and cleans them once.
    pub fn from_studies(
        set: StudySet,
        tokenizer: &dyn ReportTokenizer,
        labels: Option<&LabelTable>,
        config: &ReportDatasetConfig,
    ) -> Result<Self> {
        let max_len = config.max_seq_length();
        if max_len < 2 {
            return Err(Error::InvalidConfig {
                field: "max_seq_length",
                reason: format!("{max_len} leaves no room for BOS and a token"),
            });
        }
        let items = set
            .studies
            .into_iter()
            .map(|study| {
                if let Some(path) = study.image_paths.iter().find(|p| !p.is_file()) {
                    return Err(Error::MissingImage {
                        id: study.id.clone(),
                        path: path.clone(),
                    });
                }
                Ok(StudyItem {
                    token_ids: tokenizer.encode_report(&study.report, max_len)?,
                    labels: labels.map(|t| t.row(&study.id).cloned()).transpose()?,
                    id: study.id,
                    report: study.report,
                    image_paths: study.image_paths,
                    report_labels: None,
                    augment_seed: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            items,
            max_len,
            seed: config.seed,
            epoch: AtomicU64::new(0),
            skipped_empty: set.skipped_empty,
        })
    }

    /// The most token ids of an item (`[bos] + report + [eos]`, truncated to it).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Sets the epoch that, with the seed and the index, decides each item's augmentation seed.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// Studies dropped for an empty report (under [`EmptyReportPolicy::Skip`]).
    pub fn skipped_empty(&self) -> usize {
        self.skipped_empty
    }

    /// All items (augmentation seeds not filled in).
    pub fn items(&self) -> &[StudyItem] {
        &self.items
    }
}

/// SplitMix64 finaliser: a well-mixed seed from a few integers.
pub(crate) fn mix_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9E37_79B9_7F4A_7C15u64, |acc, &p| {
        let mut z = acc ^ p.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

impl Dataset<StudyItem> for ReportDataset {
    fn get(&self, index: usize) -> Option<StudyItem> {
        let mut item = self.items.get(index)?.clone();
        item.augment_seed =
            mix_seed(&[self.seed, self.epoch.load(Ordering::Relaxed), index as u64]);
        Some(item)
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}
