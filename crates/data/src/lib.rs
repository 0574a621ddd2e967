//! # trrg-data: R2Gen-compatible radiology report datasets
//!
//! Everything between files on disk and tensors in a batch:
//!
//! ```text
//! annotation.json ──Annotation──> Study {id, report (cleaned), image_paths}  (Cleaner: R2Gen / R2GenGPT, exact)
//!        │                                   │
//!        │                      ReportTokenizer (WordVocab | HfReportTokenizer) -> token ids
//!        ▼                                   ▼
//! ReportDataset (burn Dataset<StudyItem>) ──ReportBatcher──> ReportBatch {
//!     images:         [batch, n_views, channels, height, width]
//!     token_ids:      [batch, seq_len]   ([bos] report [eos], right-padded)
//!     attention_mask: [batch, seq_len]
//!     label_mask:     [batch, seq_len]   (targets: real tokens after BOS)
//!     labels:         [batch, n_clues]   (1/0/-1, with a known-mask for blanks)
//! }
//! ```
//!
//! Layout followed: cuhksz-nlp/R2Gen (`annotation.json` with `train`/`val`/`test`, images under
//! `images/`; IU-Xray reads two views, MIMIC-CXR one), its report cleaners and word vocabulary,
//! and R2GenGPT's MIMIC cleaner. See `docs/data.md` for how to lay out IU-Xray and MIMIC-CXR.
//!
//! ```no_run
//! use std::path::Path;
//! use trrg_data::*;
//! # fn main() -> Result<()> {
//! let dir = Path::new("data/iu_xray");
//! let annotation = Annotation::from_path(dir.join("annotation.json"))?;
//! let config = ReportDatasetConfig::default();
//! let train = annotation.studies(Split::Train, config.kind, config.cleaner(), &dir.join("images"), config.empty_reports)?;
//! let vocab = WordVocab::build(train.studies.iter().map(|s| s.report.as_str()), 3);
//! let dataset = ReportDataset::from_r2gen_dir(dir, Split::Train, &vocab, None, &config)?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod annotation;
mod assets;
mod batch;
mod dataset;
mod dicom;
mod error;
mod image;
mod labels;
mod openi;
mod sentences;

pub use annotation::{
    Annotation, AnnotationEntry, DatasetKind, EmptyReportPolicy, Split, Study, StudySet,
};
pub use assets::assets_dir;
pub use batch::{DiseaseLabels, ReportBatch, ReportBatcher};
pub use dataset::{ReportDataset, ReportDatasetConfig, StudyItem};
pub use dicom::looks_like_dicom;
pub use error::{Error, Result};
pub use image::{
    check_pixel_budget, decode_gray, load_gray, max_image_pixels, pixel_budget, pixel_budget_from,
    GrayImage, HfImageProcessor, ImageTransformConfig, ResizeMode, DEFAULT_PIXEL_BUDGET,
    IMAGENET_MEAN, IMAGENET_STD, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, PIXEL_BUDGET_VAR,
};
pub use labels::{LabelRow, LabelTable, CHEXPERT_OBSERVATIONS};
pub use openi::{iu_xray_annotation, read_openi_reports, OpenIReport, R2GenIuSplit};
pub use sentences::split_sentences;
pub use trrg_clean::{py_split_whitespace, Cleaner};
// The tokenizers and file helpers the dataset uses, from the crates below it.
pub use trrg_io::{parse_json, read_json, resolve_under, write_atomic};
pub use trrg_tokenize::{HfReportTokenizer, ReportTokenizer, SpecialTokens, WordVocab, UNK};
