//! Evaluation: generate reports for a split, score them (NLG metrics, clinical efficacy), and
//! zero-shot AUC of the clue perception.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trrg_data::{LabelRow, ReportBatcher, ReportDataset, ReportTokenizer};
use trrg_kernels::TrrgOps;
use trrg_labeler::{Labeler, ReportLabels, LABELER_NAME};
use trrg_llm::GenerationConfig;
use trrg_metrics::{clinical_efficacy, CeConvention, CeScores, Meteor, NlgEvaluator};
use trrg_model::{ClueBank, Trrg};

use crate::data::{epoch_batches, study_label};
use crate::log::progress;
use crate::thresholds::fit_thresholds;
use crate::thresholds_by_name;

/// One generated report beside its reference.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Study id.
    pub id: String,
    /// Reference report (cleaned).
    pub reference: String,
    /// Generated report.
    pub generated: String,
    /// Clue probability per disease.
    pub clues: BTreeMap<String, f32>,
}

/// Clinical efficacy as `metrics.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CeRecord {
    /// `r2gen` (the convention of the run's own scores).
    pub convention: String,
    /// The labeler of both sides.
    pub labeler: String,
    /// Micro precision over the 14 observations.
    pub precision: f64,
    /// Micro recall.
    pub recall: f64,
    /// Micro F1.
    pub f1: f64,
    /// What the generated reports' labels were compared with, when not the reference reports'
    /// labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl CeRecord {
    fn new(ce: &CeScores) -> Self {
        Self {
            convention: ce.convention.clone(),
            labeler: ce.labeler.clone(),
            precision: ce.precision,
            recall: ce.recall,
            f1: ce.f1,
            reference: None,
        }
    }
}

/// The scores of a split, as `metrics.json` (`test`) and the validation log records hold them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// BLEU-1.
    #[serde(rename = "BLEU_1")]
    pub bleu_1: f64,
    /// BLEU-2.
    #[serde(rename = "BLEU_2")]
    pub bleu_2: f64,
    /// BLEU-3.
    #[serde(rename = "BLEU_3")]
    pub bleu_3: f64,
    /// BLEU-4.
    #[serde(rename = "BLEU_4")]
    pub bleu_4: f64,
    /// METEOR.
    #[serde(rename = "METEOR")]
    pub meteor: f64,
    /// Which METEOR modules scored (`exact+stem+synonym+paraphrase` with the jar).
    #[serde(rename = "METEOR_modules")]
    pub meteor_modules: String,
    /// ROUGE-L.
    #[serde(rename = "ROUGE_L")]
    pub rouge_l: f64,
    /// CIDEr-D.
    #[serde(rename = "CIDEr")]
    pub cider: f64,
    /// Clinical efficacy, labeler on both reports.
    #[serde(rename = "CE")]
    pub ce: CeRecord,
    /// Clinical efficacy against the dataset's own labels (synthetic data, whose labels are
    /// exact).
    #[serde(
        rename = "CE_vs_ground_truth",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ce_vs_ground_truth: Option<CeRecord>,
}

/// Scores of a split, and its generated reports.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The scores.
    pub scores: Scores,
    /// Every generated report.
    pub samples: Vec<Sample>,
    /// Per observation: the reports against the labels, the clue's AUC and how often the
    /// report says what the clue decided (empty for a run without clues).
    pub per_observation: Vec<ObservationRow>,
}

/// One observation of [`Evaluation::per_observation`] (r2gen binarization: positive = 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObservationRow {
    /// CheXpert observation.
    pub observation: String,
    /// Studies whose label is positive (the dataset's labels where it has them, else the
    /// labeler on the reference report).
    pub positives: usize,
    /// Generated reports that state it where the label is positive.
    pub tp: usize,
    /// ... that state it where the label is not positive.
    pub fp: usize,
    /// ... that do not state it where the label is positive.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// F1 of the reports.
    pub f1: f64,
    /// AUC of the clue probability against the label (None without both classes).
    pub clue_auc: Option<f64>,
    /// Studies whose clue is on (probability at or above its decision threshold; 0.5 without
    /// one).
    pub clue_on: usize,
    /// F1 of the clue decisions against the label.
    pub clue_f1: f64,
    /// Fraction of studies where the report states the finding exactly when the clue is on.
    pub agreement: f64,
    /// Among studies with the clue on, the fraction whose report states it (None if none).
    pub agreement_on: Option<f64>,
    /// Among studies with the clue off, the fraction whose report does not (None if none).
    pub agreement_off: Option<f64>,
}

/// The per-observation table: `labels` (reference) and `hyps` (generated) per study, `clues`
/// each study's clue probabilities in clue order, `decisions` its hard clue decisions and
/// `columns` each clue's CheXpert column.
pub(crate) fn per_observation(
    labels: &[ReportLabels],
    hyps: &[ReportLabels],
    clues: &[Vec<f32>],
    decisions: &[Vec<bool>],
    columns: &[Option<usize>],
) -> Vec<ObservationRow> {
    let positive = |l: &ReportLabels, i: usize| l[i] == Some(1);
    trrg_labeler::CHEXPERT_OBSERVATIONS
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let d = columns.iter().position(|&c| c == Some(i))?;
            // (tp, fp, fn) of a prediction against the label.
            let tally =
                |c: &mut (usize, usize, usize), y: bool, predicted: bool| match (y, predicted) {
                    (true, true) => c.0 += 1,
                    (false, true) => c.1 += 1,
                    (true, false) => c.2 += 1,
                    _ => {}
                };
            let (mut report, mut decision) = ((0, 0, 0), (0, 0, 0));
            let (mut on, mut on_stated, mut off_silent, mut scores, mut truth) =
                (0, 0, 0, Vec::new(), Vec::new());
            for (((l, h), p), decided) in labels.iter().zip(hyps).zip(clues).zip(decisions) {
                let (y, stated) = (positive(l, i), positive(h, i));
                let prob = p.get(d).copied().unwrap_or(f32::NAN);
                let clue = decided.get(d).copied().unwrap_or(false);
                tally(&mut report, y, stated);
                tally(&mut decision, y, clue);
                if clue {
                    on += 1;
                    on_stated += usize::from(stated);
                } else {
                    off_silent += usize::from(!stated);
                }
                scores.push(prob);
                truth.push(y);
            }
            let n = labels.len();
            let frac = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
            Some(ObservationRow {
                observation: name.to_string(),
                positives: report.0 + report.2,
                tp: report.0,
                fp: report.1,
                fn_: report.2,
                f1: trrg_metrics::prf(report.0, report.1, report.2).2,
                clue_auc: auc(&scores, &truth),
                clue_on: on,
                clue_f1: trrg_metrics::prf(decision.0, decision.1, decision.2).2,
                agreement: frac(on_stated + off_silent, n).unwrap_or(0.0),
                agreement_on: frac(on_stated, on),
                agreement_off: frac(off_silent, n - on),
            })
        })
        .collect()
}

/// What generating and scoring a split needs besides the model.
pub struct EvalContext<'a, B: TrrgOps> {
    /// The split.
    pub dataset: &'a ReportDataset,
    /// Score only the first `limit` studies (None = all).
    pub limit: Option<usize>,
    /// Batches the studies (no augmentation).
    pub batcher: &'a ReportBatcher,
    /// Studies per batch.
    pub batch_size: usize,
    /// The clue bank (None = a run without clues).
    pub bank: Option<&'a ClueBank<B>>,
    /// Decodes the generated ids.
    pub tokenizer: &'a dyn ReportTokenizer,
    /// Decoding settings.
    pub generation: &'a GenerationConfig,
    /// Add `CE_vs_ground_truth` (the dataset's labels are exact).
    pub ground_truth: bool,
    /// Where the model runs.
    pub device: &'a B::Device,
}

fn row_labels(row: &LabelRow) -> ReportLabels {
    let mut out = [None; 14];
    for (o, v) in out.iter_mut().zip(row) {
        *o = *v;
    }
    out
}

/// Where the main job and `trrg train` find METEOR's jar: `$TRRG_METEOR_JAR`, else where
/// `scripts/fetch-assets.sh` puts it (`meteor/meteor-1.5.jar` under [`trrg_data::assets_dir`],
/// with `data/paraphrase-en.gz` beside it), else an installed pycocoevalcap's
/// ([`Meteor::find_jar`]).
pub fn meteor_jar() -> Option<PathBuf> {
    if std::env::var_os("TRRG_METEOR_JAR").is_none() {
        let jar = trrg_data::assets_dir()
            .join("meteor")
            .join("meteor-1.5.jar");
        if jar.is_file() {
            return Some(jar);
        }
    }
    Meteor::find_jar()
}

/// pycocoevalcap's full METEOR when its jar is found ([`meteor_jar`]; loaded once per
/// process), else the exact+stem METEOR, with a warning. `METEOR_modules` in the scores says
/// which.
pub fn meteor() -> Arc<Meteor> {
    static METEOR: OnceLock<Arc<Meteor>> = OnceLock::new();
    METEOR
        .get_or_init(|| {
            let Some(jar) = meteor_jar() else {
                log::warn!(
                    "METEOR's jar was not found ($TRRG_METEOR_JAR, the assets of \
                     scripts/fetch-assets.sh, or pycocoevalcap): METEOR uses the exact and stem \
                     modules only"
                );
                return Meteor::shared_exact_stem();
            };
            match Meteor::from_jar(&jar) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    log::warn!("{e}; METEOR uses the exact and stem modules only");
                    Meteor::shared_exact_stem()
                }
            }
        })
        .clone()
}

/// Generates a report for each of the first `limit` studies of the split and scores them,
/// with a progress bar labelled `label` unless `quiet`. Batches are generated in parallel, one
/// per worker thread, as `trrg predict` does: each is the same batch as alone, so the reports do
/// not depend on the thread count, and they are scored in order.
pub fn evaluate<B: TrrgOps>(
    model: &Trrg<B>,
    ctx: &EvalContext<'_, B>,
    label: &str,
    quiet: bool,
) -> crate::Result<Evaluation> {
    let n = ctx.limit.unwrap_or(usize::MAX).min(ctx.dataset.len());
    let bar = progress(n, label, quiet);
    let labeler = Labeler::new();
    let mut nlg = NlgEvaluator::with_meteor(meteor());
    let (mut ref_labels, mut hyp_labels, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    let mut clue_rows = Vec::with_capacity(n);
    let mut samples = Vec::with_capacity(n);
    let batches = epoch_batches(n, ctx.batch_size, 0, 0, false)
        .par_iter()
        .map(|indices| {
            let items = crate::data::items(ctx.dataset, indices);
            let batch = ctx.batcher.try_batch::<B>(&items, ctx.device)?;
            let generated = model.generate(
                batch.images,
                ctx.bank,
                ctx.generation,
                ctx.tokenizer.bos_id(),
            )?;
            bar.inc(items.len() as u64);
            Ok((items, generated))
        })
        .collect::<crate::Result<Vec<_>>>()?;
    for (items, generated) in batches {
        for (item, g) in items.iter().zip(generated) {
            let text = trrg_run::report_text(&g, ctx.bank, &labeler, ctx.tokenizer)?;
            nlg.update(&item.id, &[item.report.as_str()], &text)?;
            ref_labels.push(labeler.label(&item.report));
            hyp_labels.push(labeler.label(&text));
            if let Some(row) = &item.labels {
                truth.push(row_labels(row));
            }
            clue_rows.push(g.clue_probabilities.clone());
            let clues = ctx
                .bank
                .map(|b| {
                    b.names
                        .iter()
                        .cloned()
                        .zip(g.clue_probabilities.iter().copied())
                        .collect()
                })
                .unwrap_or_default();
            samples.push(Sample {
                id: item.id.clone(),
                reference: item.report.clone(),
                generated: text,
                clues,
            });
        }
    }
    bar.finish_and_clear();
    let nlg = nlg.finalize()?;
    let ce = clinical_efficacy(&ref_labels, &hyp_labels, CeConvention::R2gen, LABELER_NAME);
    let ce_vs_ground_truth = (ctx.ground_truth && truth.len() == hyp_labels.len()).then(|| {
        let gt = clinical_efficacy(&truth, &hyp_labels, CeConvention::R2gen, LABELER_NAME);
        CeRecord {
            reference: Some("dataset ground-truth labels (labels.json)".into()),
            ..CeRecord::new(&gt)
        }
    });
    let per_observation = match ctx.bank {
        Some(bank) => {
            let labels = if truth.len() == hyp_labels.len() {
                &truth
            } else {
                &ref_labels
            };
            clue_agreement(bank, labels, &hyp_labels, &clue_rows)
        }
        None => Vec::new(),
    };
    let [bleu_1, bleu_2, bleu_3, bleu_4] = nlg.bleu;
    Ok(Evaluation {
        per_observation,
        scores: Scores {
            bleu_1,
            bleu_2,
            bleu_3,
            bleu_4,
            meteor: nlg.meteor,
            meteor_modules: nlg.meteor_modules,
            rouge_l: nlg.rouge_l,
            cider: nlg.cider,
            ce: CeRecord::new(&ce),
            ce_vs_ground_truth,
        },
        samples,
    })
}

/// The per-observation table of reports and clues: the bank's decisions on `clue_rows` (soft
/// clues are read as on from 0.5) beside the reports' labels.
fn clue_agreement<B: TrrgOps>(
    bank: &ClueBank<B>,
    labels: &[ReportLabels],
    hyp_labels: &[ReportLabels],
    clue_rows: &[Vec<f32>],
) -> Vec<ObservationRow> {
    let decisions: Vec<Vec<bool>> = clue_rows
        .iter()
        .map(|p| {
            bank.decide(p)
                .unwrap_or_else(|| p.iter().map(|&p| p >= 0.5).collect())
        })
        .collect();
    per_observation(
        labels,
        hyp_labels,
        clue_rows,
        &decisions,
        &bank.label_columns,
    )
}

/// Area under the ROC curve (ties get half credit); None without both classes.
pub fn auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f32, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    let n_pos = pairs.iter().filter(|p| p.1).count();
    let n_neg = pairs.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// Clue probabilities on `dataset` from `logits` (per batch of images, `[batch, n_clues]`) and
/// each study's label per disease (present = true; absent = false; blank, uncertain or not a
/// labeled disease = None), both indexed `[disease][study]`.
#[allow(clippy::type_complexity)]
fn perceive_split<B: TrrgOps>(
    dataset: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
    logits: impl Fn(Tensor<B, 5>) -> trrg_model::Result<Tensor<B, 2>>,
) -> crate::Result<(Vec<Vec<f32>>, Vec<Vec<Option<bool>>>)> {
    let n_clues = bank.names.len();
    let mut probs: Vec<Vec<f32>> = vec![Vec::new(); n_clues];
    let mut truth: Vec<Vec<Option<bool>>> = vec![Vec::new(); n_clues];
    for indices in epoch_batches(dataset.len(), batch_size, 0, 0, false) {
        let items = crate::data::items(dataset, &indices);
        let batch = batcher.try_batch::<B>(&items, device)?;
        let p = trrg_io::f32_values(sigmoid(logits(batch.images)?));
        for (b, item) in items.iter().enumerate() {
            for d in 0..n_clues {
                probs[d].push(p[b * n_clues + d]);
                truth[d].push(match study_label(item, bank.label_columns[d]) {
                    Some(1) => Some(true),
                    Some(0) => Some(false),
                    _ => None,
                });
            }
        }
    }
    Ok((probs, truth))
}

/// Zero-shot clue probabilities on `dataset` and the AUC per disease against its labels
/// (present = 1; absent = 0; blank and uncertain left out).
pub fn zero_shot_auc<B: TrrgOps>(
    model: &Trrg<B>,
    dataset: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
) -> crate::Result<BTreeMap<String, Option<f64>>> {
    let (probs, truth) = perceive_split(dataset, batcher, batch_size, bank, device, |images| {
        model.zero_shot(images, bank)
    })?;
    Ok(auc_table(bank, &probs, &truth, true))
}

/// The AUC per disease of `probs` against `truth` ([`perceive_split`]'s): blank and uncertain
/// labels left out, or (`left_out` false) counted as negatives for a disease in the label set.
fn auc_table<B: TrrgOps>(
    bank: &ClueBank<B>,
    probs: &[Vec<f32>],
    truth: &[Vec<Option<bool>>],
    left_out: bool,
) -> BTreeMap<String, Option<f64>> {
    bank.names
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let labeled = bank.label_columns[d].is_some();
            let (s, t): (Vec<f32>, Vec<bool>) = probs[d]
                .iter()
                .zip(&truth[d])
                .filter_map(|(p, t)| match t {
                    Some(t) => Some((*p, *t)),
                    None => (!left_out && labeled).then_some((*p, false)),
                })
                .unzip();
            (name.clone(), auc(&s, &t))
        })
        .collect()
}

/// The perception AUCs per disease of a split (see [`perception_aucs`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PerceptionAucs {
    /// The zero-shot term, absent against present, blank and uncertain labels left out
    /// ([`zero_shot_auc`]'s convention, the stage-1 figure of earlier runs).
    pub zero_shot_left_out: BTreeMap<String, Option<f64>>,
    /// The zero-shot term ([`Trrg::zero_shot`]), present against the rest.
    pub zero_shot: BTreeMap<String, Option<f64>>,
    /// The full clue logits stage 2 reads ([`Trrg::clue_logits`]: zero-shot plus the refinement
    /// and the locator), present against the rest.
    pub clue: BTreeMap<String, Option<f64>>,
}

/// The AUC per disease on `dataset` of the zero-shot term in both label conventions and of the
/// full clue logits; "present against the rest" counts absent, blank and uncertain labels as
/// negatives, as the test's per-observation clue AUC does (None for a disease outside the label
/// set or without both classes in the split).
pub fn perception_aucs<B: TrrgOps>(
    model: &Trrg<B>,
    dataset: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
) -> crate::Result<PerceptionAucs> {
    let (zero, zero_truth) =
        perceive_split(dataset, batcher, batch_size, bank, device, |images| {
            model.zero_shot(images, bank)
        })?;
    let (clue, clue_truth) =
        perceive_split(dataset, batcher, batch_size, bank, device, |images| {
            model.clue_logits(images, bank)
        })?;
    Ok(PerceptionAucs {
        zero_shot_left_out: auc_table(bank, &zero, &zero_truth, true),
        zero_shot: auc_table(bank, &zero, &zero_truth, false),
        clue: auc_table(bank, &clue, &clue_truth, false),
    })
}

/// The mean of the known values of a per-disease table, and how many there are.
pub fn known_mean(values: &BTreeMap<String, Option<f64>>) -> (f64, usize) {
    let known: Vec<f64> = values.values().flatten().copied().collect();
    (
        known.iter().sum::<f64>() / known.len().max(1) as f64,
        known.len(),
    )
}

/// `bank` with hard clues whose per-disease thresholds [`fit_thresholds`] chose on `dataset`
/// (the validation split) from the model's stage-2 clue probabilities, shrunk by the model's
/// `clue.threshold_shrinkage`. The labels count in the
/// r2gen convention (present = positive; absent, blank and uncertain = negative); a disease
/// outside the label set, or without a labeled study, keeps 0.5.
pub fn fit_clue_thresholds<B: TrrgOps>(
    model: &Trrg<B>,
    dataset: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
) -> crate::Result<ClueBank<B>> {
    let (probs, truth) = perceive_split(dataset, batcher, batch_size, bank, device, |images| {
        model.clue_logits(images, bank)
    })?;
    let truth: Vec<Option<Vec<bool>>> = truth
        .iter()
        .map(|t| {
            t.iter()
                .any(Option::is_some)
                .then(|| t.iter().map(|v| *v == Some(true)).collect())
        })
        .collect();
    let shrinkage = model.settings().clue.threshold_shrinkage;
    let thresholds = fit_thresholds(&probs, &truth, bank.gate.as_ref(), shrinkage);
    Ok(bank.clone().with_thresholds(thresholds)?)
}

/// The thresholds of a bank by disease name (see [`thresholds_by_name`]); null for soft clues.
pub fn thresholds_json<B: TrrgOps>(bank: &ClueBank<B>) -> Value {
    match &bank.thresholds {
        Some(t) => thresholds_by_name(&bank.names, t),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the assets of `scripts/fetch-assets.sh`, the run's METEOR is pycocoevalcap's whole
    /// METEOR, not its exact+stem fallback.
    #[test]
    fn real_meteor_jar_of_the_assets_gives_all_four_modules() {
        let Some(jar) = trrg_testutil::asset_for_test("meteor/meteor-1.5.jar") else {
            return;
        };
        let want = std::env::var_os("TRRG_METEOR_JAR").map_or(jar, PathBuf::from);
        let found = meteor_jar().expect("a jar is found");
        assert_eq!(found.canonicalize().unwrap(), want.canonicalize().unwrap());
        assert_eq!(meteor().modules(), "exact,stem,synonym,paraphrase");
    }

    #[test]
    fn per_observation_counts_reports_clues_and_their_agreement() {
        // Cardiomegaly (column 1) as the only clue, on from 0.4; four studies.
        let row = |v: Option<i8>| {
            let mut l: ReportLabels = [None; 14];
            l[1] = v;
            l
        };
        let labels = [row(Some(1)), row(Some(1)), row(Some(0)), row(None)];
        let hyps = [row(Some(1)), row(Some(0)), row(Some(1)), row(None)];
        let clues = [vec![0.9], vec![0.5], vec![0.3], vec![0.1]];
        let on = |t: f32| -> Vec<Vec<bool>> { clues.iter().map(|p| vec![p[0] >= t]).collect() };
        let rows = per_observation(&labels, &hyps, &clues, &on(0.4), &[Some(1)]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.observation, "Cardiomegaly");
        assert_eq!((r.positives, r.tp, r.fp, r.fn_), (2, 1, 1, 1));
        assert!((r.f1 - 0.5).abs() < 1e-12);
        // Clues on for the first two studies (0.9, 0.5 >= 0.4): both true positives.
        assert_eq!(r.clue_on, 2);
        assert!((r.clue_f1 - 1.0).abs() < 1e-12);
        // Study 1 agrees (on, stated), 2 not (on, silent), 3 not (off, stated), 4 agrees.
        assert!((r.agreement - 0.5).abs() < 1e-12);
        assert_eq!((r.agreement_on, r.agreement_off), (Some(0.5), Some(0.5)));
        assert_eq!(r.clue_auc, Some(1.0));
        let rows = per_observation(&labels, &hyps, &clues, &on(0.6), &[Some(1)]);
        assert_eq!(rows[0].clue_on, 1);
        // A clue without a CheXpert column has no row.
        assert!(per_observation(&labels, &hyps, &clues, &on(0.4), &[None]).is_empty());
    }

    #[test]
    fn auc_matches_hand_counts() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
    }
}
