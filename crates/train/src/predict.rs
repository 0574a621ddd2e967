//! Batch prediction: a trained run writes the reports of a dataset split, or of image files, to
//! `predictions.jsonl`, and, where references exist, their scores to `metrics.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trrg_data::{Annotation, DatasetKind, EmptyReportPolicy, LabelTable, Split};
use trrg_kernels::TrrgOps;
use trrg_labeler::{Labeler, ReportLabels, CHEXPERT_OBSERVATIONS};
use trrg_metrics::Meteor;
use trrg_run::{Report, ReportGenerator};

use crate::evaluate::{per_observation, ObservationRow};
use crate::log::progress;
use crate::Error;

/// The file extensions (lower case) of the images a study directory may hold.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "dcm"];

/// One study to predict.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictStudy {
    /// Study id (the annotation's, the study directory's name, or the first view's path without
    /// its extension).
    pub id: String,
    /// One image per view.
    pub views: Vec<PathBuf>,
    /// The cleaned reference report, when there is one.
    pub reference: Option<String>,
    /// The dataset's own labels (`labels.json`, as a synthetic dataset has), when there are any.
    pub ground_truth: Option<ReportLabels>,
}

/// The reports of `studies`, in order, batches of `batch_size` advancing `bar`. Batches run in
/// parallel, one per worker thread: decoding is bound by per-op overhead, so the second core is
/// the cheapest speed-up. Each batch is the same batch as alone, so the reports do not depend
/// on the thread count; rayon keeps them in order.
pub(crate) fn generate_reports<B: TrrgOps>(
    generator: &ReportGenerator<B>,
    studies: &[PredictStudy],
    batch_size: usize,
    bar: &indicatif::ProgressBar,
) -> crate::Result<Vec<Report>> {
    let reports = studies
        .par_chunks(batch_size.max(1))
        .map(|chunk| {
            let views: Vec<&[PathBuf]> = chunk.iter().map(|s| s.views.as_slice()).collect();
            let reports = generator.generate_batch(&views);
            bar.inc(chunk.len() as u64);
            reports
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(reports.into_iter().flatten().collect())
}

/// One row of `predictions.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Study id.
    pub id: String,
    /// The view images read.
    #[serde(default)]
    pub views: Vec<String>,
    /// The reference report (cleaned), when the input had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The generated report.
    pub generated: String,
    /// Clue probability per disease, in disease-set order (empty for a run without clues).
    #[serde(default)]
    pub clues: Map<String, Value>,
    /// Hard-clue decision per disease (probability at or above its fitted threshold), for a
    /// run with hard clues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clue_decisions: Option<Map<String, Value>>,
    /// The labeler's labels of the generated report: observation -> 1, 0, -1 (uncertain) or
    /// null (not mentioned).
    #[serde(default)]
    pub generated_labels: Map<String, Value>,
    /// The labeler's labels of the reference report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_labels: Option<Map<String, Value>>,
    /// The dataset's own labels (`labels.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground_truth_labels: Option<Map<String, Value>>,
}

/// Labels as JSON: observation -> 1, 0, -1 or null, in CheXpert order.
pub fn labels_json(labels: &ReportLabels) -> Map<String, Value> {
    CHEXPERT_OBSERVATIONS
        .iter()
        .zip(labels)
        .map(|(name, v)| (name.to_string(), v.map_or(Value::Null, Value::from)))
        .collect()
}

/// Labels back from [`labels_json`]; `what` names the row in errors.
pub fn labels_from_json(map: &Map<String, Value>, what: &str) -> crate::Result<ReportLabels> {
    let mut out = [None; 14];
    for (name, value) in map {
        let bad = |reason: String| Error::Predictions {
            what: what.to_string(),
            reason,
        };
        let i = CHEXPERT_OBSERVATIONS
            .iter()
            .position(|o| o == name)
            .ok_or_else(|| bad(format!("`{name}` is not a CheXpert observation")))?;
        out[i] = match value {
            Value::Null => None,
            v => match v.as_i64() {
                Some(l @ -1..=1) => Some(l as i8),
                _ => {
                    return Err(bad(format!(
                        "label of `{name}` is {v}, not 1, 0, -1 or null"
                    )))
                }
            },
        };
    }
    Ok(out)
}

/// The studies of a dataset directory (R2Gen layout), with their cleaned reports and, where
/// `labels.json` exists, their ground-truth labels. `split` None takes every split in the order
/// train, val, test.
pub fn data_dir_studies(
    dir: &Path,
    kind: DatasetKind,
    split: Option<Split>,
) -> crate::Result<Vec<PredictStudy>> {
    let annotation_path = dir.join("annotation.json");
    if !annotation_path.is_file() {
        return Err(Error::NotADataset {
            dir: dir.to_path_buf(),
        });
    }
    let annotation = Annotation::from_path(&annotation_path)?;
    let labels_path = dir.join("labels.json");
    let labels = labels_path
        .is_file()
        .then(|| LabelTable::from_path(&labels_path, &CHEXPERT_OBSERVATIONS))
        .transpose()?;
    let splits = match split {
        Some(s) => vec![s],
        None => Split::ALL.to_vec(),
    };
    let mut out = Vec::new();
    for split in splits {
        let set = annotation.studies(
            split,
            kind,
            kind.default_cleaner(),
            &dir.join("images"),
            EmptyReportPolicy::Skip,
        )?;
        for study in set.studies {
            let ground_truth = match &labels {
                Some(table) => {
                    let row = table.row(&study.id)?;
                    let mut l = [None; 14];
                    for (o, v) in l.iter_mut().zip(row) {
                        *o = *v;
                    }
                    Some(l)
                }
                None => None,
            };
            out.push(PredictStudy {
                id: study.id,
                views: study.image_paths,
                reference: Some(study.report),
                ground_truth,
            });
        }
    }
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Studies from paths: a directory is one study, its images ([`IMAGE_EXTENSIONS`]) in name
/// order, `n_views` of them exactly; image files are taken `n_views` at a time, in the order
/// given. A study is named by its directory's name, or by its first view's path without the
/// extension.
pub fn path_studies(paths: &[PathBuf], n_views: usize) -> crate::Result<Vec<PredictStudy>> {
    let mut studies = Vec::new();
    let mut pending: Vec<PathBuf> = Vec::new();
    let bad = |path: &Path, reason: String| Error::Predictions {
        what: path.display().to_string(),
        reason,
    };
    for path in paths {
        if path.is_dir() {
            if !pending.is_empty() {
                return Err(bad(
                    path,
                    format!(
                        "a study directory follows {} loose image(s); give image files {n_views} \
                         at a time",
                        pending.len()
                    ),
                ));
            }
            let entries = std::fs::read_dir(path).map_err(|source| Error::Io {
                action: "cannot list",
                path: path.clone(),
                source,
            })?;
            let mut views: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            views.sort();
            if views.len() != n_views {
                return Err(bad(
                    path,
                    format!(
                        "the study directory holds {} image(s) ({}); the model reads {n_views} \
                         view(s) per study",
                        views.len(),
                        IMAGE_EXTENSIONS.join(", ")
                    ),
                ));
            }
            let id = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            studies.push(PredictStudy {
                id,
                views,
                reference: None,
                ground_truth: None,
            });
        } else if path.is_file() {
            pending.push(path.clone());
            if pending.len() == n_views {
                let views = std::mem::take(&mut pending);
                let id = views[0].with_extension("").display().to_string();
                studies.push(PredictStudy {
                    id,
                    views,
                    reference: None,
                    ground_truth: None,
                });
            }
        } else {
            return Err(Error::Io {
                action: "cannot read",
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
    }
    if let Some(last) = pending.last() {
        return Err(bad(
            last,
            format!(
                "{} image(s) left over; the model reads {n_views} view(s) per study",
                pending.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = studies.iter().find(|s| !seen.insert(s.id.as_str())) {
        return Err(bad(
            &dup.views[0],
            format!("study id `{}` is given twice", dup.id),
        ));
    }
    Ok(studies)
}

/// Writes the report of every study, `batch_size` studies per batch (batches in parallel, one
/// per worker thread), with a progress bar unless `quiet`.
pub fn predict<B: TrrgOps>(
    generator: &ReportGenerator<B>,
    studies: &[PredictStudy],
    batch_size: usize,
    quiet: bool,
) -> crate::Result<Vec<Prediction>> {
    let bar = progress(studies.len(), "predict", quiet);
    let labeler = Labeler::new();
    let mut rows = Vec::with_capacity(studies.len());
    let reports = generate_reports(generator, studies, batch_size, &bar)?;
    for (study, report) in studies.iter().zip(reports) {
        let clues: Map<String, Value> = report
            .clues
            .iter()
            .map(|(d, p)| (d.clone(), Value::from(*p)))
            .collect();
        let clue_decisions = generator.clue_decisions(&report).map(|on| {
            report
                .clues
                .iter()
                .zip(on)
                .map(|((d, _), on)| (d.clone(), Value::from(on)))
                .collect()
        });
        rows.push(Prediction {
            id: study.id.clone(),
            views: study
                .views
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            reference_labels: study
                .reference
                .as_ref()
                .map(|r| labels_json(&labeler.label(r))),
            reference: study.reference.clone(),
            generated_labels: labels_json(&labeler.label(&report.text)),
            generated: report.text,
            clues,
            clue_decisions,
            ground_truth_labels: study.ground_truth.as_ref().map(labels_json),
        });
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// The scores of predictions that all have a reference ([`trrg_metrics::predictions_metrics`]):
/// NLG metrics and CE in the three conventions, plus `CE_vs_ground_truth` when every row has
/// ground-truth labels, and `per_observation` ([`observation_table`]) for a run with clues.
/// `origin` names the rows in errors.
pub fn prediction_metrics(
    rows: &[Prediction],
    meteor: Arc<Meteor>,
    origin: &str,
) -> crate::Result<Value> {
    let mut examples = Vec::with_capacity(rows.len());
    for row in rows {
        let reference = row.reference.clone().ok_or_else(|| Error::Predictions {
            what: origin.to_string(),
            reason: format!("study `{}` has no reference to score against", row.id),
        })?;
        examples.push((row.id.clone(), reference, row.generated.clone()));
    }
    let truth = rows
        .iter()
        .all(|r| r.ground_truth_labels.is_some())
        .then(|| {
            rows.iter()
                .map(|r| {
                    let labels = r.ground_truth_labels.as_ref().expect("checked above");
                    labels_from_json(labels, &format!("{origin}: study `{}`", r.id))
                })
                .collect::<crate::Result<Vec<_>>>()
        })
        .transpose()?;
    let mut metrics = trrg_metrics::predictions_metrics(&examples, truth.as_deref(), meteor)?;
    let table = observation_table(rows, truth.as_deref(), origin)?;
    if let (Some(table), Some(fields)) = (table, metrics.as_object_mut()) {
        let table = serde_json::to_value(table).expect("observation rows serialize");
        fields.insert("per_observation".into(), table);
    }
    Ok(metrics)
}

/// The per-observation table of a run's training metrics (`test_per_observation`) for
/// predictions: each CheXpert observation with a clue gets its clue AUC, its hard-clue
/// counts and the reports' agreement with the clue decisions (probability >= 0.5 where the
/// rows have no decisions), against `truth` (the ground-truth labels) where given, else the
/// labeler's labels of the references. None for rows without clues.
fn observation_table(
    rows: &[Prediction],
    truth: Option<&[ReportLabels]>,
    origin: &str,
) -> crate::Result<Option<Vec<ObservationRow>>> {
    let Some(names) = rows
        .first()
        .map(|r| r.clues.keys().cloned().collect::<Vec<_>>())
    else {
        return Ok(None);
    };
    if names.is_empty() {
        return Ok(None);
    }
    let columns: Vec<Option<usize>> = names
        .iter()
        .map(|n| CHEXPERT_OBSERVATIONS.iter().position(|o| o == n))
        .collect();
    let (mut labels, mut hyps, mut clues, mut decisions) = (vec![], vec![], vec![], vec![]);
    for (i, row) in rows.iter().enumerate() {
        let what = format!("{origin}: study `{}`", row.id);
        let bad = |reason: String| Error::Predictions {
            what: what.clone(),
            reason,
        };
        labels.push(match (truth, &row.reference_labels) {
            (Some(truth), _) => truth[i],
            (None, Some(reference)) => labels_from_json(reference, &what)?,
            (None, None) => return Err(bad("has no reference labels".into())),
        });
        hyps.push(labels_from_json(&row.generated_labels, &what)?);
        let probs = names
            .iter()
            .map(|n| match row.clues.get(n).and_then(Value::as_f64) {
                Some(p) => Ok(p as f32),
                None => Err(bad(format!("has no clue probability for `{n}`"))),
            })
            .collect::<crate::Result<Vec<f32>>>()?;
        decisions.push(
            names
                .iter()
                .zip(&probs)
                .map(|(n, &p)| match &row.clue_decisions {
                    Some(d) => d.get(n).and_then(Value::as_bool).unwrap_or(false),
                    None => p >= 0.5,
                })
                .collect::<Vec<bool>>(),
        );
        clues.push(probs);
    }
    Ok(Some(per_observation(
        &labels, &hyps, &clues, &decisions, &columns,
    )))
}

/// Reads `predictions.jsonl`; errors name the file and line.
pub fn read_predictions(path: &Path) -> crate::Result<Vec<Prediction>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::Predictions {
                what: format!("{} line {}", path.display(), i + 1),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Writes `predictions.jsonl` into `out_dir` (created), atomically; returns its path.
pub fn write_predictions(out_dir: &Path, rows: &[Prediction]) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Io {
        action: "cannot create",
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut text = String::new();
    for row in rows {
        text += &serde_json::to_string(row).expect("predictions serialize (string keys)");
        text.push('\n');
    }
    let path = out_dir.join("predictions.jsonl");
    trrg_io::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Whether every row has a reference (and there are rows): then they can be scored.
pub fn have_references(rows: &[Prediction]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.reference.is_some())
}

/// Scores the rows ([`prediction_metrics`]) into `out_dir/metrics.json`, atomically; returns the
/// metrics.
pub fn write_prediction_metrics(
    out_dir: &Path,
    rows: &[Prediction],
    meteor: Arc<Meteor>,
) -> crate::Result<Value> {
    let origin = out_dir.join("predictions.jsonl").display().to_string();
    let metrics = prediction_metrics(rows, meteor, &origin)?;
    let pretty = serde_json::to_string_pretty(&metrics).expect("metrics serialize");
    trrg_io::write_atomic(&out_dir.join("metrics.json"), pretty.as_bytes())?;
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_json() {
        let mut l: ReportLabels = [None; 14];
        l[0] = Some(1);
        l[3] = Some(-1);
        l[13] = Some(0);
        let json = labels_json(&l);
        assert_eq!(json.len(), 14);
        assert_eq!(json[CHEXPERT_OBSERVATIONS[0]], Value::from(1));
        assert_eq!(labels_from_json(&json, "row").unwrap(), l);
        let mut bad = json.clone();
        bad.insert("Edema".into(), Value::from(2));
        let e = labels_from_json(&bad, "row 3").unwrap_err().to_string();
        assert!(e.contains("row 3") && e.contains("Edema"), "{e}");
    }

    #[test]
    fn paths_group_into_studies_and_bad_groupings_are_named() {
        let dir = std::env::temp_dir().join(format!("trrg-predict-paths-{}", std::process::id()));
        let study = dir.join("s1");
        std::fs::create_dir_all(&study).unwrap();
        for name in ["1.png", "0.png", "notes.txt"] {
            std::fs::write(study.join(name), b"x").unwrap();
        }
        let loose = [dir.join("a.png"), dir.join("b.dcm")];
        for p in &loose {
            std::fs::write(p, b"x").unwrap();
        }
        let got = path_studies(&[study.clone(), loose[0].clone(), loose[1].clone()], 2).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "s1");
        assert_eq!(got[0].views, [study.join("0.png"), study.join("1.png")]);
        assert_eq!(got[1].id, dir.join("a").display().to_string());
        let e = path_studies(std::slice::from_ref(&loose[0]), 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.png") && e.contains("left over"), "{e}");
        let e = path_studies(std::slice::from_ref(&study), 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds 2 image"), "{e}");
        let e = path_studies(&[dir.join("missing.png")], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"), "{e}");
        let e = data_dir_studies(&dir, DatasetKind::IuXray, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("annotation.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_observation_table_of_predictions_scores_clues_and_reports() {
        // Cardiomegaly and an unknown clue; three studies. Study a: present, clue 0.9 on,
        // stated. b: present, clue 0.4 off, silent. c: absent, clue 0.2 off, stated.
        let labels = |v: i8| {
            let mut l: ReportLabels = [None; 14];
            l[1] = Some(v);
            labels_json(&l)
        };
        let row = |id: &str, truth: i8, stated: i8, p: f64, on: bool| Prediction {
            id: id.into(),
            views: vec![],
            reference: Some("r".into()),
            generated: "g".into(),
            clues: [("Cardiomegaly", p), ("Other", 0.5)]
                .into_iter()
                .map(|(d, p)| (d.to_string(), Value::from(p)))
                .collect(),
            clue_decisions: Some(
                [("Cardiomegaly", on), ("Other", false)]
                    .into_iter()
                    .map(|(d, on)| (d.to_string(), Value::from(on)))
                    .collect(),
            ),
            generated_labels: labels(stated),
            reference_labels: Some(labels(1 - truth)),
            ground_truth_labels: Some(labels(truth)),
        };
        let rows = [
            row("a", 1, 1, 0.9, true),
            row("b", 1, 0, 0.4, false),
            row("c", 0, 1, 0.2, false),
        ];
        let truth: Vec<ReportLabels> = rows
            .iter()
            .map(|r| labels_from_json(r.ground_truth_labels.as_ref().unwrap(), "t").unwrap())
            .collect();
        let table = observation_table(&rows, Some(&truth), "p")
            .unwrap()
            .unwrap();
        assert_eq!(table.len(), 1, "only the CheXpert clue has a row");
        let r = &table[0];
        assert_eq!(r.observation, "Cardiomegaly");
        assert_eq!((r.positives, r.tp, r.fp, r.fn_, r.clue_on), (2, 1, 1, 1, 1));
        assert_eq!(r.clue_auc, Some(1.0));
        assert!((r.agreement - 2.0 / 3.0).abs() < 1e-12);
        // Without ground truth the references' labels count (here the opposite ones).
        let by_reference = observation_table(&rows, None, "p").unwrap().unwrap();
        assert_eq!(
            (by_reference[0].positives, by_reference[0].clue_auc),
            (1, Some(0.0))
        );
        // A row missing a clue is named.
        let mut broken = rows.clone();
        broken[2].clues.remove("Cardiomegaly");
        let e = observation_table(&broken, Some(&truth), "p.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.jsonl") && e.contains("`c`") && e.contains("Cardiomegaly"),
            "{e}"
        );
        // Rows without clues have no table.
        let mut plain = rows.clone();
        plain.iter_mut().for_each(|r| r.clues.clear());
        assert!(observation_table(&plain, Some(&truth), "p")
            .unwrap()
            .is_none());
    }
}
