//! What the main job prints: the default synthetic data and the results table.

use std::path::{Path, PathBuf};

use serde_json::Value;
use trrg_synth::{default_dir, write_dataset, SynthConfig};

/// Generates (or reuses, when already there) the default **synthetic** dataset under `root`
/// and returns its directory.
pub fn default_synthetic_data(root: &Path) -> crate::Result<PathBuf> {
    let config = SynthConfig::default();
    let dir = default_dir(root, &config);
    write_dataset(&dir, &config).map_err(|e| crate::Error::InvalidConfig {
        field: "synthetic data".into(),
        reason: e.to_string(),
    })?;
    Ok(dir)
}

fn number(v: &Value, path: &[&str]) -> String {
    path.iter()
        .fold(v, |v, p| &v[*p])
        .as_f64()
        .map_or("-".into(), |x| format!("{x:.3}"))
}

/// A Markdown table of `metrics.json` test scores, one row per named run, titled as synthetic
/// when the data is.
pub fn results_table(rows: &[(String, Value)]) -> String {
    let synthetic = rows
        .iter()
        .any(|(_, m)| m["synthetic"].as_bool() == Some(true));
    let semi = rows
        .iter()
        .find_map(|(_, m)| m["semi_synthetic_reports"].as_str().map(str::to_string));
    let mut out = match (semi, synthetic) {
        (Some(reports), _) => format!(
            "TRRG on a SEMI-SYNTHETIC test split: real report text ({reports}), synthetic trrg-synth images drawn from each report's labels (not real radiographs)\n\n"
        ),
        (None, true) => "TRRG on the SYNTHETIC IU-Xray-like test split (trrg-synth images and reports, not real radiographs)\n\n".to_string(),
        (None, false) => "TRRG on the test split\n\n".to_string(),
    };
    out += "| model | BLEU_1 | BLEU_2 | BLEU_3 | BLEU_4 | METEOR | ROUGE_L | CIDEr | CE P | CE R | CE F1 | CE F1 vs ground truth |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (name, m) in rows {
        let t = &m["test"];
        let cells: Vec<String> = [
            &["BLEU_1"][..],
            &["BLEU_2"],
            &["BLEU_3"],
            &["BLEU_4"],
            &["METEOR"],
            &["ROUGE_L"],
            &["CIDEr"],
            &["CE", "precision"],
            &["CE", "recall"],
            &["CE", "f1"],
            &["CE_vs_ground_truth", "f1"],
        ]
        .iter()
        .map(|p| number(t, p))
        .collect();
        out += &format!("| {name} | {} |\n", cells.join(" | "));
    }
    out += "\nCE: r2gen convention (micro P/R/F1 over the 14 CheXpert observations, positive = 1), labels from \
            \"CheXpert-style rules (trrg)\" on the generated and the reference report; \"vs ground truth\" \
            scores the generated report's labels against the dataset's own labels.\n";
    let modules: Vec<&str> = rows
        .iter()
        .filter_map(|(_, m)| m["test"]["METEOR_modules"].as_str())
        .collect();
    if let Some(first) = modules.first() {
        out += &format!(
            "METEOR 1.5 modules: {first}{}.\n",
            if *first == "exact,stem" {
                " (pycocoevalcap's meteor-1.5.jar was not found, so no synonyms or paraphrases: lower than \
                 pycocoevalcap's METEOR; see docs/metrics.md)"
            } else {
                " (as pycocoevalcap)"
            }
        );
    }
    if let [(_, m)] = rows {
        out += &per_observation_table(m);
    }
    out
}

/// The test split per observation from `metrics.json` (empty for a run without clues).
pub fn per_observation_table(metrics: &Value) -> String {
    let Some(rows) = metrics["test_per_observation"].as_array() else {
        return String::new();
    };
    let mut out = "\nPer observation (test; the generated reports against the labels; clue = the \
                   hard clue decision; agreement = the report states the finding exactly when the \
                   clue is on, then among clue-on and clue-off studies):\n\n\
                   | observation | positives | TP | FP | FN | F1 | clue AUC | clue on | clue F1 | agreement | on | off |\n\
                   |---|---|---|---|---|---|---|---|---|---|---|---|\n"
        .to_string();
    for r in rows {
        let count = |k: &str| r[k].as_u64().map_or("-".into(), |x| x.to_string());
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["observation"].as_str().unwrap_or("?"),
            count("positives"),
            count("tp"),
            count("fp"),
            count("fn"),
            number(r, &["f1"]),
            number(r, &["clue_auc"]),
            count("clue_on"),
            number(r, &["clue_f1"]),
            number(r, &["agreement"]),
            number(r, &["agreement_on"]),
            number(r, &["agreement_off"]),
        );
    }
    out
}
