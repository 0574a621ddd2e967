//! # trrg-synth: a synthetic two-view chest X-ray dataset with truthful reports
//!
//! Real IU-Xray images cannot be shipped, yet a user trying trrg should see it learn something
//! real in minutes. This crate draws studies procedurally — a frontal (PA) and a lateral view of
//! a chest with lung fields, heart and mediastinum, diaphragm domes, costophrenic angles, ribs,
//! clavicles and spine, film noise, exposure and positioning jitter — and renders findings into the
//! pixels: cardiomegaly (cardiothoracic ratio), a widened mediastinum, pleural effusion (side, size,
//! meniscus), pneumothorax (pleural line, absent markings), consolidation, pneumonia, lung opacity,
//! edema, atelectasis, nodules and masses, pleural thickening, rib fractures, support devices and
//! calcified granulomas. Each study's IU-style report states only what is drawn; its CheXpert
//! labels are known exactly.
//!
//! ```text
//! seed, index ──> Findings::sample ──> render_study ──> frontal, lateral  [size, size] u8
//!                        │
//!                        └──> statements ──> report text + labels (1 / 0 / -1 / blank)
//! write_dataset ──> annotation.json, images/<id>/{0,1}.png, labels.json, findings.json, synthetic.json
//! ```
//!
//! Everything it makes is **synthetic** and is called so wherever trrg prints or writes it.
//!
//! ```
//! let config = trrg_synth::SynthConfig { studies: 4, size: 64, ..Default::default() };
//! let study = trrg_synth::generate_study(&config, 0);
//! assert_eq!(study.frontal.dimensions(), (64, 64));
//! assert!(study.labels.contains_key("No Finding") || !study.findings.is_normal());
//! ```
#![warn(missing_docs)]

mod canvas;
mod dataset;
mod error;
mod findings;
mod render;
mod report;

pub use dataset::{
    default_dir, generate_study, study_seed, write_dataset, write_paired_dataset, PairedStudy,
    Split, SynthConfig, SynthManifest, SynthStudy, MANIFEST,
};
pub use error::{Error, Result};
pub use findings::{Device, Findings, LesionKind, Lobe, Side, Size, CARDIOMEGALY_CTR};
pub use render::render_study;
pub use report::{aggregate_labels, report_text, statements, Statement, StudyLabels};
