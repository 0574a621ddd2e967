//! The run directory's per-disease clue thresholds (`clue_thresholds.json`): how they are read
//! and how they are written. Fitting them is `trrg-train`'s business.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

/// The run-directory file of the best checkpoint's thresholds, `{disease: threshold}`.
pub const CLUE_THRESHOLDS_FILE: &str = "clue_thresholds.json";

/// Reads a run directory's [`CLUE_THRESHOLDS_FILE`] and orders its thresholds as `names`.
pub fn read_clue_thresholds(run_dir: &Path, names: &[String]) -> crate::Result<Vec<f32>> {
    let path = run_dir.join(CLUE_THRESHOLDS_FILE);
    let bad = |reason: String| Error::Checkpoint {
        path: path.clone(),
        reason,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(
                "missing: the run fits its clue thresholds (clue.fit_thresholds) \
                 and writes them when it finishes; finish it with --resume"
                    .into(),
            ))
        }
        Err(source) => {
            return Err(Error::Io {
                action: "cannot read",
                path,
                source,
            })
        }
    };
    let map: BTreeMap<String, f32> = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a {{disease: threshold}} object: {e}")))?;
    names
        .iter()
        .map(|name| match map.get(name) {
            Some(&t) if (0.0..=1.0).contains(&t) => Ok(t),
            Some(t) => Err(bad(format!("{name}: {t} is not in [0, 1]"))),
            None => Err(bad(format!("no threshold for {name}"))),
        })
        .collect()
}

/// A threshold to the hundredth that `clue_thresholds.json` keeps.
pub fn kept_threshold(t: f64) -> f64 {
    (t * 100.0).round() / 100.0
}

/// `{disease: threshold}` as JSON, each rounded to two decimals ([`kept_threshold`]: the grid's
/// values, without f32 noise), as `clue_thresholds.json`, `metrics.json` and the logs hold them.
pub fn thresholds_by_name(names: &[String], thresholds: &[f32]) -> serde_json::Value {
    names
        .iter()
        .zip(thresholds)
        .map(|(n, t)| (n.clone(), serde_json::json!(kept_threshold(f64::from(*t)))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
