//! One call for a whole evaluation in the R2Gen convention: every NLG metric and clinical
//! efficacy, as `trrg eval` prints it and the Python package's `trrg.score` returns it.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use trrg_labeler::{Labeler, ReportLabels, LABELER_NAME};

use crate::{clinical_efficacy, CeConvention, CeScores, Meteor, NlgEvaluator, NlgScores, Result};

/// Scores `(id, references, hypothesis)` examples: BLEU-1..4, METEOR (with `meteor`'s modules),
/// ROUGE-L, CIDEr-D, and CE in `convention`, each report labeled by the CheXpert-style labeler
/// (the reference side from each example's first reference).
pub fn evaluate(
    examples: &[(impl AsRef<str>, Vec<String>, impl AsRef<str>)],
    meteor: Arc<Meteor>,
    convention: CeConvention,
) -> Result<(NlgScores, CeScores)> {
    let labeler = Labeler::new();
    let mut eval = NlgEvaluator::with_meteor(meteor);
    let (mut ref_labels, mut hyp_labels) = (Vec::new(), Vec::new());
    for (id, refs, hyp) in examples {
        eval.update(id.as_ref(), refs, hyp.as_ref())?;
        ref_labels.push(labeler.label(&refs[0]));
        hyp_labels.push(labeler.label(hyp.as_ref()));
    }
    let scores = eval.finalize()?;
    let ce = clinical_efficacy(&ref_labels, &hyp_labels, convention, LABELER_NAME);
    Ok((scores, ce))
}

/// The JSON object of an evaluation: `BLEU_1`..`BLEU_4`, `METEOR`, `ROUGE_L`, `CIDEr`,
/// `METEOR_modules`, `CE` (with the f1chexbert convention's micro/macro F1 over 14 and 5), and
/// `per_example` when asked for.
pub fn evaluation_json(scores: &NlgScores, ce: &CeScores, per_example: bool) -> Value {
    let mut out = Map::new();
    insert_nlg(&mut out, scores);
    let mut ce_json = ce_json(ce);
    ce_json["reference_labels_from"] = json!("first reference of each example");
    out.insert("CE".into(), ce_json);
    if per_example {
        out.insert("per_example".into(), json!(scores.per_example));
    }
    Value::Object(out)
}

/// `BLEU_1`..`BLEU_4`, `METEOR`, `ROUGE_L`, `CIDEr` and `METEOR_modules`, in that order.
fn insert_nlg(out: &mut Map<String, Value>, scores: &NlgScores) {
    for k in 0..4 {
        out.insert(format!("BLEU_{}", k + 1), json!(scores.bleu[k]));
    }
    out.insert("METEOR".into(), json!(scores.meteor));
    out.insert("ROUGE_L".into(), json!(scores.rouge_l));
    out.insert("CIDEr".into(), json!(scores.cider));
    out.insert("METEOR_modules".into(), json!(scores.meteor_modules));
}

/// One clinical-efficacy result as JSON: convention, labeler, precision, recall, F1 (with the
/// f1chexbert convention's micro/macro F1 over 14 and 5) and the per-observation scores.
fn ce_json(ce: &CeScores) -> Value {
    let mut out = json!({
        "convention": ce.convention, "labeler": ce.labeler,
        "precision": ce.precision, "recall": ce.recall, "f1": ce.f1,
    });
    if ce.convention == CeConvention::F1chexbert.name() {
        out["micro_f1_14"] = json!(ce.f1);
        out["macro_f1_14"] = json!(ce.macro_f1_14);
        out["micro_f1_5"] = json!(ce.micro_f1_5);
        out["macro_f1_5"] = json!(ce.macro_f1_5);
    }
    out["per_observation"] = json!(ce.per_observation);
    out
}

/// CE of `hyps` against `refs` in each of the three conventions, keyed by convention name.
fn ce_all_conventions(refs: &[ReportLabels], hyps: &[ReportLabels]) -> Value {
    let mut out = Map::new();
    for convention in [
        CeConvention::R2gen,
        CeConvention::Promptmrg,
        CeConvention::F1chexbert,
    ] {
        let ce = clinical_efficacy(refs, hyps, convention, LABELER_NAME);
        out.insert(convention.name().into(), ce_json(&ce));
    }
    Value::Object(out)
}

/// The scores of a set of predictions, as `trrg predict` writes `metrics.json` and `trrg eval
/// --predictions` prints it: `n_studies`, BLEU-1..4, METEOR (with `meteor`'s modules), ROUGE-L,
/// CIDEr-D, and `CE` in all three conventions (`r2gen`, `promptmrg`, `f1chexbert`), both
/// reports labeled by the CheXpert-style labeler. With `ground_truth` (one label row per
/// example, e.g. a synthetic dataset's exact labels), `CE_vs_ground_truth` compares the
/// generated reports' labels with those rows, in the same three conventions.
///
/// `examples` are `(id, reference, generated)`; ids must be distinct.
pub fn predictions_metrics(
    examples: &[(String, String, String)],
    ground_truth: Option<&[ReportLabels]>,
    meteor: Arc<Meteor>,
) -> Result<Value> {
    let labeler = Labeler::new();
    let mut nlg = NlgEvaluator::with_meteor(meteor);
    let (mut refs, mut hyps) = (Vec::new(), Vec::new());
    for (id, reference, generated) in examples {
        nlg.update(id, std::slice::from_ref(reference), generated)?;
        refs.push(labeler.label(reference));
        hyps.push(labeler.label(generated));
    }
    let scores = nlg.finalize()?;
    let mut out = Map::new();
    out.insert("n_studies".into(), json!(examples.len()));
    insert_nlg(&mut out, &scores);
    out.insert("CE".into(), ce_all_conventions(&refs, &hyps));
    if let Some(truth) = ground_truth {
        if truth.len() != hyps.len() {
            return Err(crate::Error::GroundTruthLength {
                rows: truth.len(),
                examples: hyps.len(),
            });
        }
        out.insert(
            "CE_vs_ground_truth".into(),
            ce_all_conventions(truth, &hyps),
        );
    }
    Ok(Value::Object(out))
}
