//! `trrg eval`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;
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
        examples.push((id.as_str(), r, h.clone()));
    }
    let meteor = match args.meteor_jar.or_else(Meteor::find_jar) {
        Some(jar) => Arc::new(load_meteor(&jar)?),
        None => {
            eprintln!(
                "trrg eval: no meteor-1.5.jar (give --meteor-jar, set TRRG_METEOR_JAR or pip install \
                 pycocoevalcap==1.2): METEOR uses the exact and stem modules only"
            );
            Meteor::shared_exact_stem()
        }
    };
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
