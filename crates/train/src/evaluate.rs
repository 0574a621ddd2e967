//! Evaluation: generate reports for a split, score them (NLG metrics, clinical efficacy), and
//! zero-shot AUC of the clue perception.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::Serialize;
use serde_json::{json, Value};
use trrg_data::{LabelRow, ReportBatcher, ReportDataset, ReportTokenizer};
use trrg_labeler::{Labeler, ReportLabels, LABELER_NAME};
use trrg_llm::GenerationConfig;
use trrg_metrics::{clinical_efficacy, CeConvention, CeScores, Meteor, NlgEvaluator};
use trrg_model::{ClueBank, Trrg};

use crate::data::epoch_batches;
use crate::thresholds::{fit_thresholds, thresholds_by_name};

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

/// Scores of a split.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// `BLEU_1..4, METEOR, ROUGE_L, CIDEr, CE` (and `CE_vs_ground_truth`) as in `metrics.json`.
    pub scores: Value,
    /// BLEU-4.
    pub bleu4: f64,
    /// CIDEr-D.
    pub cider: f64,
    /// CE F1 (r2gen convention, labeler on both reports).
    pub ce_f1: f64,
    /// Every generated report.
    pub samples: Vec<Sample>,
}

fn ce_json(ce: &CeScores) -> Value {
    json!({
        "convention": ce.convention,
        "labeler": ce.labeler,
        "precision": ce.precision,
        "recall": ce.recall,
        "f1": ce.f1,
    })
}

fn row_labels(row: &LabelRow) -> ReportLabels {
    let mut out = [None; 14];
    for (o, v) in out.iter_mut().zip(row) {
        *o = *v;
    }
    out
}

/// pycocoevalcap's full METEOR when its jar is found ([`Meteor::find_jar`]; loaded once per
/// process), else the exact+stem METEOR. `METEOR_modules` in the scores says which.
fn meteor() -> Arc<Meteor> {
    static METEOR: OnceLock<Arc<Meteor>> = OnceLock::new();
    METEOR
        .get_or_init(|| {
            let Some(jar) = Meteor::find_jar() else {
                return Meteor::shared_exact_stem();
            };
            match Meteor::from_jar(&jar) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    eprintln!("warning: {e}; METEOR uses the exact and stem modules only");
                    Meteor::shared_exact_stem()
                }
            }
        })
        .clone()
}

/// Generates a report for each of the first `limit` studies of `dataset` and scores them.
///
/// `ground_truth` adds `CE_vs_ground_truth` (generated-report labels against the dataset's own
/// labels, for synthetic data whose labels are exact).
#[allow(clippy::too_many_arguments)]
pub fn evaluate<B: Backend>(
    model: &Trrg<B>,
    dataset: &ReportDataset,
    limit: Option<usize>,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: Option<&ClueBank<B>>,
    vocab: &dyn ReportTokenizer,
    generation: &GenerationConfig,
    ground_truth: bool,
    device: &B::Device,
    bar: &indicatif::ProgressBar,
) -> crate::Result<Evaluation> {
    let n = limit.unwrap_or(usize::MAX).min(dataset.len());
    let labeler = Labeler::new();
    let mut nlg = NlgEvaluator::with_meteor(meteor());
    let (mut ref_labels, mut hyp_labels, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    let mut samples = Vec::with_capacity(n);
    bar.set_length(n as u64);
    for indices in epoch_batches(n, batch_size, 0, 0, false) {
        let items = crate::data::items(dataset, &indices);
        let batch = batcher.try_batch::<B>(&items, device)?;
        let generated = model.generate(batch.images, bank, generation, vocab.bos_id())?;
        for (item, g) in items.iter().zip(generated) {
            let text = vocab.decode(&g.ids);
            nlg.update(&item.id, &[item.report.as_str()], &text)?;
            ref_labels.push(labeler.label(&item.report));
            hyp_labels.push(labeler.label(&text));
            if let Some(row) = &item.labels {
                truth.push(row_labels(row));
            }
            let clues = bank
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
        bar.inc(indices.len() as u64);
    }
    let nlg = nlg.finalize()?;
    let ce = clinical_efficacy(&ref_labels, &hyp_labels, CeConvention::R2gen, LABELER_NAME);
    let mut scores = json!({
        "BLEU_1": nlg.bleu[0],
        "BLEU_2": nlg.bleu[1],
        "BLEU_3": nlg.bleu[2],
        "BLEU_4": nlg.bleu[3],
        "METEOR": nlg.meteor,
        "METEOR_modules": nlg.meteor_modules,
        "ROUGE_L": nlg.rouge_l,
        "CIDEr": nlg.cider,
        "CE": ce_json(&ce),
    });
    if ground_truth && truth.len() == hyp_labels.len() {
        let gt = clinical_efficacy(&truth, &hyp_labels, CeConvention::R2gen, LABELER_NAME);
        let mut value = ce_json(&gt);
        value["reference"] = json!("dataset ground-truth labels (labels.json)");
        scores["CE_vs_ground_truth"] = value;
    }
    Ok(Evaluation {
        scores,
        bleu4: nlg.bleu[3],
        cider: nlg.cider,
        ce_f1: ce.f1,
        samples,
    })
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
fn perceive_split<B: Backend>(
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
        let p = sigmoid(logits(batch.images)?)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        for (b, item) in items.iter().enumerate() {
            for d in 0..n_clues {
                probs[d].push(p[b * n_clues + d]);
                let label = bank.label_columns[d].and_then(|c| {
                    item.labels
                        .as_ref()
                        .and_then(|r| r.get(c).copied().flatten())
                });
                truth[d].push(match label {
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
pub fn zero_shot_auc<B: Backend>(
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
    Ok(bank
        .names
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let (s, t): (Vec<f32>, Vec<bool>) = probs[d]
                .iter()
                .zip(&truth[d])
                .filter_map(|(p, t)| t.map(|t| (*p, t)))
                .unzip();
            (name.clone(), auc(&s, &t))
        })
        .collect())
}

/// `bank` with hard clues whose per-disease thresholds [`fit_thresholds`] chose on `dataset`
/// (the validation split) from the model's stage-2 clue probabilities. The labels count in the
/// r2gen convention (present = positive; absent, blank and uncertain = negative); a disease
/// outside the label set, or without a labeled study, keeps 0.5.
pub fn fit_clue_thresholds<B: Backend>(
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
    let thresholds = fit_thresholds(&probs, &truth);
    Ok(bank.clone().with_thresholds(thresholds)?)
}

/// The thresholds of a bank by disease name (see [`thresholds_by_name`]); null for soft clues.
pub fn thresholds_json<B: Backend>(bank: &ClueBank<B>) -> Value {
    match &bank.thresholds {
        Some(t) => thresholds_by_name(&bank.names, t),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
