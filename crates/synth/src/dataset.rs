//! Generating studies and writing them as an R2Gen-format dataset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use trrg_data::AnnotationEntry;
pub use trrg_data::Split;

use crate::report::{aggregate_labels, report_text, statements, StudyLabels};
use crate::{render_study, Error, Findings, Result};

/// Synthetic dataset settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthConfig {
    /// Number of studies. Default 1,200.
    pub studies: usize,
    /// Seed; the same seed gives the same bytes. Default 7.
    pub seed: u64,
    /// Image side in pixels. Default 256.
    pub size: usize,
    /// Train / val / test fractions. Default 0.7 / 0.1 / 0.2.
    pub split: [f64; 3],
    /// Fraction of studies with no finding at all. Default 0.45 (IU-Xray has about 40 % normal).
    pub normal_fraction: f64,
    /// Training studies drawn after the `studies` split by `split`: indices `studies ..
    /// studies + extra_train`, all in the training split. The first `studies` (and so the
    /// validation and test splits) are the same as without them. Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extra_train: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            studies: 1200,
            seed: 7,
            size: 256,
            split: [0.7, 0.1, 0.2],
            normal_fraction: 0.45,
            extra_train: 0,
        }
    }
}

impl SynthConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.studies == 0 {
            return bad("studies", "must be at least 1".into());
        }
        if !(64..=2048).contains(&self.size) {
            return bad("size", format!("{} px is outside 64..=2048", self.size));
        }
        if self.split.iter().any(|f| !(0.0..=1.0).contains(f))
            || (self.split.iter().sum::<f64>() - 1.0).abs() > 1e-6
        {
            return bad(
                "split",
                format!("{:?} must be three fractions summing to 1", self.split),
            );
        }
        if !(0.0..=1.0).contains(&self.normal_fraction) {
            return bad(
                "normal_fraction",
                format!("{} is not a fraction", self.normal_fraction),
            );
        }
        Ok(())
    }

    /// Studies drawn in all: `studies + extra_train`.
    pub fn total(&self) -> usize {
        self.studies + self.extra_train
    }

    /// The split of study `index`: the first `split[0]` of the first `studies` indices train,
    /// then val, then test; the `extra_train` after them train.
    pub fn split_of(&self, index: usize) -> Split {
        if index >= self.studies {
            return Split::Train;
        }
        let f = index as f64 / self.studies as f64;
        if f < self.split[0] {
            Split::Train
        } else if f < self.split[0] + self.split[1] {
            Split::Val
        } else {
            Split::Test
        }
    }
}

/// One generated study.
#[derive(Clone, Debug)]
pub struct SynthStudy {
    /// Study id (`synth_00000`).
    pub id: String,
    /// Split.
    pub split: Split,
    /// What the images show.
    pub findings: Findings,
    /// The findings text.
    pub report: String,
    /// Ground-truth labels of what the report states (and the images show).
    pub labels: StudyLabels,
    /// Frontal (PA) view.
    pub frontal: image::GrayImage,
    /// Lateral view.
    pub lateral: image::GrayImage,
}

/// A seed for study `index` of a dataset with seed `seed`.
pub fn study_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates study `index` (independent of every other index, so generation parallelizes).
pub fn generate_study(config: &SynthConfig, index: usize) -> SynthStudy {
    let seed = study_seed(config.seed, index);
    let mut rng = StdRng::seed_from_u64(seed);
    let findings = Findings::sample(&mut rng, config.normal_fraction);
    let said = statements(&findings, &mut rng);
    let (frontal, lateral) = render_study(&findings, seed ^ 0x5EED, config.size);
    SynthStudy {
        id: format!("synth_{index:05}"),
        split: config.split_of(index),
        labels: aggregate_labels(&said, &findings),
        report: report_text(&said),
        findings,
        frontal,
        lateral,
    }
}

/// What [`write_dataset`] wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SynthManifest {
    /// Always true: marks the directory as synthetic for every tool that reads it.
    pub synthetic: bool,
    /// Generator name and version.
    pub generator: String,
    /// The settings used.
    pub config: SynthConfig,
    /// Studies per split.
    pub counts: BTreeMap<String, usize>,
    /// Where the report texts come from when they are not generated: e.g. the real IU-Xray
    /// reports of a **semi-synthetic** set ([`write_paired_dataset`]). None: generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<String>,
}

/// The manifest file name inside a synthetic dataset directory.
pub const MANIFEST: &str = "synthetic.json";

/// Writes a synthetic dataset in R2Gen layout: `annotation.json`, `images/<id>/0.png` (frontal),
/// `images/<id>/1.png` (lateral), `labels.json` (`{id: {observation: 1|0|-1}}`, blanks omitted),
/// `findings.json` (the rendered attributes) and `synthetic.json` (the manifest).
///
/// The dataset is built in a temporary sibling directory and renamed into place, so `out` is
/// either absent, the old dataset, or the whole new one. If `out` already holds a synthetic
/// dataset with the same settings from the same generator version it is reused; any other
/// existing directory is an error.
pub fn write_dataset(out: &Path, config: &SynthConfig) -> Result<SynthManifest> {
    config.validate()?;
    write_atomically(
        out,
        |m| m.config == *config && m.reports.is_none(),
        |dir| {
            let rows = (0..config.total())
                .into_par_iter()
                .map(|i| {
                    let study = generate_study(config, i);
                    Row::write(
                        dir,
                        study.id,
                        study.split.as_str(),
                        study.report,
                        study.labels,
                        study.findings,
                        (&study.frontal, &study.lateral),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            write_tables(dir, rows, config.clone(), None)
        },
    )
}

/// A study whose report is given (e.g. a real IU-Xray report) and whose two views are drawn
/// from its labels ([`Findings::from_labels`]).
#[derive(Clone, Debug)]
pub struct PairedStudy {
    /// Study id.
    pub id: String,
    /// Its split.
    pub split: Split,
    /// The report text, written as given.
    pub report: String,
    /// CheXpert observation -> 1 / 0 / -1 (None = blank), the labels the images show.
    pub labels: StudyLabels,
}

/// Writes a **semi-synthetic** dataset in R2Gen layout: the given reports, each with two views
/// rendered from its labels (`size` px, study `i` seeded by `seed` and `i`), `labels.json` with
/// those labels, and a manifest whose `reports` field names the report source. Atomic and
/// reused like [`write_dataset`] (same studies, seed, size and source).
pub fn write_paired_dataset(
    out: &Path,
    studies: &[PairedStudy],
    size: usize,
    seed: u64,
    source: &str,
) -> Result<SynthManifest> {
    let config = SynthConfig {
        studies: studies.len(),
        seed,
        size,
        ..SynthConfig::default()
    };
    config.validate()?;
    write_atomically(
        out,
        |m| m.config == config && m.reports.as_deref() == Some(source),
        |dir| {
            let rows = studies
                .par_iter()
                .enumerate()
                .map(|(i, study)| {
                    let seed = study_seed(seed, i);
                    let mut rng = StdRng::seed_from_u64(seed);
                    let findings = Findings::from_labels(
                        study
                            .labels
                            .iter()
                            .filter_map(|(k, v)| Some((k.as_str(), (*v)?))),
                        &mut rng,
                    );
                    let (frontal, lateral) = render_study(&findings, seed ^ 0x5EED, size);
                    Row::write(
                        dir,
                        study.id.clone(),
                        study.split.as_str(),
                        study.report.clone(),
                        study.labels.clone(),
                        findings,
                        (&frontal, &lateral),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            write_tables(dir, rows, config.clone(), Some(source.to_string()))
        },
    )
}

/// One written study: id, split, report, labels, findings.
struct Row(String, &'static str, String, StudyLabels, Findings);

impl Row {
    /// Writes the study's two views under `dir/images/<id>/`.
    fn write(
        dir: &Path,
        id: String,
        split: &'static str,
        report: String,
        labels: StudyLabels,
        findings: Findings,
        (frontal, lateral): (&image::GrayImage, &image::GrayImage),
    ) -> Result<Self> {
        let study_dir = dir.join("images").join(&id);
        std::fs::create_dir_all(&study_dir).map_err(|source| Error::Write {
            path: study_dir.clone(),
            source,
        })?;
        for (view, image) in [(0, frontal), (1, lateral)] {
            let path = study_dir.join(format!("{view}.png"));
            image
                .save(&path)
                .map_err(|source| Error::Encode { path, source })?;
        }
        Ok(Self(id, split, report, labels, findings))
    }
}

/// Builds the dataset in a temporary sibling of `out` with `fill` and renames it into place;
/// an existing dataset at `out` is reused when `reuse` accepts its manifest (and was made by
/// this generator version); any other existing directory is an error.
fn write_atomically(
    out: &Path,
    reuse: impl Fn(&SynthManifest) -> bool,
    fill: impl FnOnce(&Path) -> Result<SynthManifest>,
) -> Result<SynthManifest> {
    // The dataset already at `out`, when it is this one.
    let reusable = || -> Result<Option<SynthManifest>> {
        if !out.exists() {
            return Ok(None);
        }
        let existing = std::fs::read_to_string(out.join(MANIFEST))
            .ok()
            .and_then(|t| serde_json::from_str::<SynthManifest>(&t).ok())
            .ok_or_else(|| Error::NotSynthetic {
                path: out.to_path_buf(),
            })?;
        Ok((reuse(&existing) && existing.generator == generator_name()).then_some(existing))
    };
    if let Some(existing) = reusable()? {
        log::info!("reusing synthetic dataset at {}", out.display());
        return Ok(existing);
    }
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(write(parent))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "synth".into());
    let tmp = parent.join(format!(".{name}.{}.partial", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(write(&tmp))?;
    }
    let manifest = match fill(&tmp) {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Another process may have written the same dataset meanwhile (two runs started at once
    // on a fresh machine) and be reading it: keep its copy.
    if let Some(existing) = reusable()? {
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(existing);
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(write(out))?;
    }
    std::fs::rename(&tmp, out).map_err(write(out))?;
    Ok(manifest)
}

/// Writes `annotation.json`, `labels.json`, `findings.json` and the manifest for `rows`.
fn write_tables(
    dir: &Path,
    rows: Vec<Row>,
    config: SynthConfig,
    reports: Option<String>,
) -> Result<SynthManifest> {
    let mut annotation: BTreeMap<&str, Vec<AnnotationEntry>> =
        ["train", "val", "test"].map(|k| (k, Vec::new())).into();
    let mut labels = BTreeMap::new();
    let mut findings = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for Row(id, split, report, study_labels, study_findings) in rows {
        let entry = AnnotationEntry {
            image_path: vec![format!("{id}/0.png"), format!("{id}/1.png")],
            id: id.clone(),
            report,
            split: Some(split.to_string()),
        };
        annotation.entry(split).or_default().push(entry);
        *counts.entry(split.to_string()).or_insert(0) += 1;
        labels.insert(id.clone(), study_labels);
        findings.insert(id, study_findings);
    }
    let manifest = SynthManifest {
        synthetic: true,
        generator: generator_name(),
        config,
        counts,
        reports,
    };
    write_json(&dir.join("annotation.json"), &annotation)?;
    write_json(&dir.join("labels.json"), &labels)?;
    write_json(&dir.join("findings.json"), &findings)?;
    write_json(&dir.join(MANIFEST), &manifest)?;
    Ok(manifest)
}

/// Name and version of this generator, recorded in the manifest: a dataset made by another version
/// is regenerated rather than reused.
fn generator_name() -> String {
    format!("trrg-synth {}", env!("CARGO_PKG_VERSION"))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("maps of strings and numbers serialize");
    Ok(trrg_io::write_atomic(path, &bytes)?)
}

/// Where [`write_dataset`] would put a dataset by default: `<dir>/synth-iu-<size>px-<n>-seed<seed>`,
/// with `<n>+<extra_train>` for extra training studies.
pub fn default_dir(root: &Path, config: &SynthConfig) -> PathBuf {
    let extra = match config.extra_train {
        0 => String::new(),
        n => format!("+{n}"),
    };
    root.join(format!(
        "synth-iu-{}px-{}{extra}-seed{}",
        config.size, config.studies, config.seed
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset that another process finishes while this one draws is kept, not replaced
    /// under that process's feet.
    #[test]
    fn a_dataset_written_meanwhile_by_another_process_is_kept() {
        let root = std::env::temp_dir().join(format!("trrg-synth-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let out = root.join("data");
        let config = SynthConfig {
            studies: 4,
            size: 64,
            ..SynthConfig::default()
        };
        let theirs = write_dataset(&root.join("theirs"), &config).unwrap();
        let ours = write_atomically(
            &out,
            |m| m.config == config,
            |tmp| {
                // The other process renames its finished copy into place first.
                std::fs::rename(root.join("theirs"), &out).unwrap();
                std::fs::write(out.join("marker"), "theirs").unwrap();
                std::fs::create_dir_all(tmp).unwrap();
                Ok(theirs.clone())
            },
        )
        .unwrap();
        assert_eq!(ours, theirs);
        assert!(
            out.join("marker").is_file(),
            "the other process's copy was replaced"
        );
        assert!(!root
            .join(format!(".data.{}.partial", std::process::id()))
            .exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
