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
    if rows
        .iter()
        .all(|(_, m)| m["stage1_only"].as_bool() == Some(true))
    {
        return rows
            .iter()
            .map(|(name, m)| perception_table(name, m))
            .collect();
    }
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

/// The perception probe of a stage-1-only run's `metrics.json`: per disease, the validation AUC
/// of the zero-shot term, of the full clue logits and of the linear probe on the encoder's
/// features.
pub fn perception_table(name: &str, metrics: &Value) -> String {
    let kind = if metrics["synthetic"].as_bool() == Some(true) {
        "the SYNTHETIC validation split (trrg-synth images, not real radiographs)"
    } else {
        "the validation split"
    };
    let mut out = format!(
        "Perception probe of {name} after stage 1 ({} epochs), on {kind}: AUC per observation, \
         present against the rest (as the test's clue AUC)\n\n\
         | observation | zero-shot | clue | linear probe (view mean) | linear probe (views) | linear probe (patch grid) |\n\
         |---|---|---|---|---|---|\n",
        metrics["stage1_epochs"]
    );
    let names: Vec<&String> = metrics["val_clue_auc"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    for d in names {
        out += &format!(
            "| {d} | {} | {} | {} | {} | {} |\n",
            number(metrics, &["val_zero_shot_auc", d]),
            number(metrics, &["val_clue_auc", d]),
            number(metrics, &["val_feature_probe", d, "pooled"]),
            number(metrics, &["val_feature_probe", d, "views"]),
            number(metrics, &["val_feature_probe", d, "patches"]),
        );
    }
    // The mean over diseases of `metrics[key][disease]` (or of its `field`).
    let mean = |key: &str, field: Option<&str>| -> String {
        let values: Vec<f64> = metrics[key]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| field.map_or(v, |f| &v[f]).as_f64())
                    .collect()
            })
            .unwrap_or_default();
        if values.is_empty() {
            "-".into()
        } else {
            format!("{:.3}", values.iter().sum::<f64>() / values.len() as f64)
        }
    };
    out += &format!(
        "\nMeans: zero-shot {}, clue {}, linear probe (views) {}, (patch grid) {}; zero-shot with blank labels left out \
         (the stage-1 figure of earlier runs) {}. Disease identities (pos + neg) / 2: \
         mean cosine {}, condition number {}; contrasts pos - neg: mean cosine {}, condition number {}. \
         The linear probe is a logistic regression fitted on the training split's features; \
         the patch grid is each view's patch tokens averaged to {grid} x {grid} cells.\n",
        mean("val_zero_shot_auc", None),
        mean("val_clue_auc", None),
        mean("val_feature_probe", Some("views")),
        mean("val_feature_probe", Some("patches")),
        number(metrics, &["val_zero_shot_auc_blanks_left_out_mean"]),
        number(metrics, &["prompts", "identity", "mean_cosine"]),
        number(metrics, &["prompts", "identity", "condition_number"]),
        number(metrics, &["prompts", "contrast", "mean_cosine"]),
        number(metrics, &["prompts", "contrast", "condition_number"]),
        grid = metrics["feature_probe_settings"]["patch_grid"]
            .as_u64()
            .map_or("?".into(), |g| g.to_string()),
    );
    out
}
