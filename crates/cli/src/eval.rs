//! `trrg eval`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;
use trrg_core::train::{meteor_jar, prediction_metrics, read_predictions, Prediction};
use trrg_metrics::{evaluate, evaluation_json, CeConvention, Meteor, MeteorCache};

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
    #[arg(
        long,
        required_unless_present = "predictions",
        conflicts_with = "predictions"
    )]
    pairs: Option<PathBuf>,
    /// Score generated reports instead from `predictions.jsonl` (as `trrg predict` writes it;
    /// prints what its `metrics.json` holds) or from a CSV file with a header and the columns
    /// `reference` and `generated` (an `id` column is optional). CE is given in all three
    /// conventions, and against `ground_truth_labels` when every row has them.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Clinical-efficacy convention (with --pairs; --predictions gives all three).
    #[arg(long, value_enum, default_value_t = Ce::R2gen, conflicts_with = "predictions")]
    ce: Ce,
    /// Add per-example scores (with --pairs).
    #[arg(long, conflicts_with = "predictions")]
    per_example: bool,
    /// pycocoevalcap's `meteor-1.5.jar` (WordNet synonyms), with `data/paraphrase-en.gz` beside
    /// it. Default: `$TRRG_METEOR_JAR`, else the assets of `scripts/fetch-assets.sh`, else the
    /// pycocoevalcap package of `python3`; without one,
    /// METEOR uses the exact and stem modules only and `METEOR_modules` says so. The parsed
    /// tables are cached once in `$TRRG_CACHE_DIR` (default `~/.cache/trrg`).
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

/// The full METEOR for `jar`, through the table cache of [`Meteor::default_cache_dir`] (a note on
/// stderr when the cache cannot be written).
fn load_meteor(jar: &std::path::Path) -> Result<Meteor> {
    let Some(dir) = Meteor::default_cache_dir() else {
        return Ok(Meteor::from_jar(jar)?);
    };
    let (meteor, cache) = Meteor::from_jar_cached(jar, &dir)?;
    if let MeteorCache::NotWritten { path, reason } = cache {
        eprintln!(
            "trrg eval: METEOR's table cache {} was not written ({reason}); every run parses the \
             data again (set TRRG_CACHE_DIR to a writable directory)",
            path.display()
        );
    }
    Ok(meteor)
}

/// The full METEOR of `jar` (through the table cache), or without a jar the exact+stem METEOR
/// with a warning that names the ways to give one (`--meteor-jar` where the command has it);
/// `trrg eval` and `trrg predict` score alike.
pub fn meteor_or_fallback(jar: Option<PathBuf>, has_flag: bool) -> Result<Arc<Meteor>> {
    Ok(match jar {
        Some(jar) => Arc::new(load_meteor(&jar)?),
        None => {
            log::warn!(
                "no meteor-1.5.jar ({}set TRRG_METEOR_JAR, run scripts/fetch-assets.sh or pip \
                 install pycocoevalcap==1.2): METEOR uses the exact and stem modules only",
                if has_flag { "give --meteor-jar, " } else { "" }
            );
            Meteor::shared_exact_stem()
        }
    })
}

/// Rows of a CSV file of `reference` and `generated` columns (and an optional `id`).
fn csv_rows(path: &std::path::Path) -> Result<Vec<Prediction>> {
    let file = path.display().to_string();
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {file}"))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{file}: cannot read the header row"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(reference), Some(generated)) = (column("reference"), column("generated")) else {
        bail!(
            "{file}: the header must name the columns `reference` and `generated` (found: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let id = column("id");
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{file} line {line}"))?;
        let field = |k: usize| record.get(k).unwrap_or("").to_string();
        rows.push(Prediction {
            id: id.map_or_else(|| (i + 1).to_string(), field),
            views: Vec::new(),
            reference: Some(field(reference)),
            generated: field(generated),
            clues: Default::default(),
            clue_decisions: None,
            generated_labels: Default::default(),
            reference_labels: None,
            ground_truth_labels: None,
        });
    }
    Ok(rows)
}

/// `trrg eval --predictions`: the scores of `predictions.jsonl` or of a CSV file.
fn run_predictions(path: &std::path::Path, jar: Option<PathBuf>) -> Result<()> {
    let rows = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        csv_rows(path)?
    } else {
        read_predictions(path)?
    };
    if rows.is_empty() {
        bail!("{}: no rows to score", path.display());
    }
    let meteor = meteor_or_fallback(jar.or_else(meteor_jar), true)?;
    let out = prediction_metrics(&rows, meteor, &path.display().to_string())?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Runs `trrg eval`: prints one JSON object of scores.
pub fn run(args: EvalArgs) -> Result<()> {
    let pairs = match (&args.predictions, &args.pairs) {
        (Some(path), _) => return run_predictions(path, args.meteor_jar),
        (None, Some(pairs)) => pairs,
        (None, None) => bail!("give --pairs or --predictions"),
    };
    let file = pairs.display().to_string();
    let text = crate::read_utf8(pairs)?;
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
        examples.push((id.as_str(), r, h.clone()));
    }
    let meteor = meteor_or_fallback(args.meteor_jar.or_else(meteor_jar), true)?;
    let convention = match args.ce {
        Ce::R2gen => CeConvention::R2gen,
        Ce::Promptmrg => CeConvention::Promptmrg,
        Ce::F1chexbert => CeConvention::F1chexbert,
    };
    let (scores, ce) = evaluate(&examples, meteor, convention)?;
    let out = evaluation_json(&scores, &ce, args.per_example);
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
