//! `trrg eval`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use trrg_labeler::{Labeler, LABELER_NAME};
use trrg_metrics::{clinical_efficacy, CeConvention, Meteor, NlgEvaluator};

/// Clinical-efficacy convention.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Ce {
    /// R2Gen: positive = 1, micro P/R/F1 over the 14 observations.
    R2gen,
    /// PromptMRG: positive = 1, example-based P/R/F1.
    Promptmrg,
    /// f1chexbert: uncertain counts positive; micro/macro F1 over 14 and 5.
    F1chexbert,
}

/// Arguments of `trrg eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// JSON file `{"refs": {id: [text, ...]}, "hyps": {id: [text]}}` (pycocoevalcap's layout).
    #[arg(long)]
    pairs: PathBuf,
    /// Clinical-efficacy convention.
    #[arg(long, value_enum, default_value_t = Ce::R2gen)]
    ce: Ce,
    /// Add per-example scores.
    #[arg(long)]
    per_example: bool,
    /// pycocoevalcap's `meteor-1.5.jar` (WordNet synonyms), with `data/paraphrase-en.gz` beside
    /// it. Default: `$TRRG_METEOR_JAR`, else the pycocoevalcap package of `python3`; without one,
    /// METEOR uses the exact and stem modules only and `METEOR_modules` says so.
    #[arg(long)]
    meteor_jar: Option<PathBuf>,
}

fn texts(value: &Value, what: &str, id: &str, file: &str) -> Result<Vec<String>> {
    let list = value
        .as_array()
        .with_context(|| format!("{file}: {what}[{id}] must be a list of strings"))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .with_context(|| format!("{file}: {what}[{id}] must hold strings"))
        })
        .collect()
}

/// Runs `trrg eval`: prints one JSON object of scores.
pub fn run(args: EvalArgs) -> Result<()> {
    let file = args.pairs.display().to_string();
    let text = crate::read_utf8(&args.pairs)?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{file} is not valid JSON"))?;
    let refs = doc
        .get("refs")
        .and_then(Value::as_object)
        .with_context(|| format!("{file}: missing object \"refs\""))?;
    let hyps = doc
        .get("hyps")
        .and_then(Value::as_object)
        .with_context(|| format!("{file}: missing object \"hyps\""))?;
    if let Some(id) = hyps.keys().find(|id| !refs.contains_key(*id)) {
        bail!("{file}: hypothesis `{id}` has no reference");
    }
    if let Some(id) = refs.keys().find(|id| !hyps.contains_key(*id)) {
        bail!("{file}: reference `{id}` has no hypothesis");
    }
    let mut examples = Vec::with_capacity(refs.len());
    for (id, r) in refs {
        let r = texts(r, "refs", id, &file)?;
        if r.is_empty() || r.iter().any(|t| t.trim().is_empty()) {
            bail!("{file}: refs[{id}] has an empty reference");
        }
        let h = texts(&hyps[id], "hyps", id, &file)?;
        let [h] = h.as_slice() else {
            bail!(
                "{file}: hyps[{id}] must hold exactly one text, not {}",
                h.len()
            );
        };
        examples.push((id, r, h.clone()));
    }
    let meteor = match args.meteor_jar.or_else(Meteor::find_jar) {
        Some(jar) => Arc::new(Meteor::from_jar(&jar)?),
        None => {
            eprintln!(
                "trrg eval: no meteor-1.5.jar (give --meteor-jar, set TRRG_METEOR_JAR or pip install \
                 pycocoevalcap==1.2): METEOR uses the exact and stem modules only"
            );
            Meteor::shared_exact_stem()
        }
    };
    let labeler = Labeler::new();
    let mut eval = NlgEvaluator::with_meteor(meteor);
    let (mut ref_labels, mut hyp_labels) = (Vec::new(), Vec::new());
    for (id, r, h) in &examples {
        eval.update(id, r, h)?;
        ref_labels.push(labeler.label(&r[0]));
        hyp_labels.push(labeler.label(h));
    }
    let scores = eval.finalize()?;
    let convention = match args.ce {
        Ce::R2gen => CeConvention::R2gen,
        Ce::Promptmrg => CeConvention::Promptmrg,
        Ce::F1chexbert => CeConvention::F1chexbert,
    };
    let ce = clinical_efficacy(&ref_labels, &hyp_labels, convention, LABELER_NAME);
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
    if matches!(convention, CeConvention::F1chexbert) {
        ce_json["micro_f1_14"] = json!(ce.f1);
        ce_json["macro_f1_14"] = json!(ce.macro_f1_14);
        ce_json["micro_f1_5"] = json!(ce.micro_f1_5);
        ce_json["macro_f1_5"] = json!(ce.macro_f1_5);
    }
    ce_json["per_observation"] = json!(ce.per_observation);
    out.insert("CE".into(), ce_json);
    if args.per_example {
        out.insert("per_example".into(), json!(scores.per_example));
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(())
}
