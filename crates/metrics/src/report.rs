//! One call for a whole evaluation in the R2Gen convention: every NLG metric and clinical
//! efficacy, as `trrg eval` prints it and the Python package's `trrg.score` returns it.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use trrg_labeler::{Labeler, LABELER_NAME};

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
    for k in 0..4 {
        out.insert(format!("BLEU_{}", k + 1), json!(scores.bleu[k]));
    }
    out.insert("METEOR".into(), json!(scores.meteor));
    out.insert("ROUGE_L".into(), json!(scores.rouge_l));
    out.insert("CIDEr".into(), json!(scores.cider));
    out.insert("METEOR_modules".into(), json!(scores.meteor_modules));
    let mut ce_json = json!({
        "convention": ce.convention, "labeler": ce.labeler,
        "precision": ce.precision, "recall": ce.recall, "f1": ce.f1,
        "reference_labels_from": "first reference of each example",
    });
    if ce.convention == CeConvention::F1chexbert.name() {
        ce_json["micro_f1_14"] = json!(ce.f1);
        ce_json["macro_f1_14"] = json!(ce.macro_f1_14);
        ce_json["micro_f1_5"] = json!(ce.micro_f1_5);
        ce_json["macro_f1_5"] = json!(ce.macro_f1_5);
    }
    ce_json["per_observation"] = json!(ce.per_observation);
    out.insert("CE".into(), ce_json);
    if per_example {
        out.insert("per_example".into(), json!(scores.per_example));
    }
    Value::Object(out)
}
