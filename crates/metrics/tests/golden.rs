//! trrg-metrics against pycocoevalcap 1.2 (fixtures: `scripts/make_golden.py`). Tolerance 1e-6.

use std::collections::BTreeMap;

use serde_json::Value;
use trrg_data::{asset_for_test, iu_xray_annotation, read_openi_reports, Cleaner, R2GenIuSplit};
use trrg_metrics::{NlgEvaluator, NlgScores};

const TOLERANCE: f64 = 1e-6;

/// `(id, references, hypothesis)`.
type Pair = (String, Vec<String>, String);

fn golden() -> Value {
    serde_json::from_str(include_str!("fixtures/golden_scores.json")).unwrap()
}

fn evaluate(pairs: &[Pair]) -> NlgScores {
    let mut eval = NlgEvaluator::new();
    for (id, refs, hyp) in pairs {
        eval.update(id, refs, hyp).unwrap();
    }
    eval.finalize().unwrap()
}

/// Compares corpus scores (and per-example ones when the fixture has them); returns the largest
/// absolute difference.
fn compare(set: &str, ours: &NlgScores, expected: &Value) -> f64 {
    let mut worst = 0.0f64;
    let mut check = |name: &str, got: f64, want: f64| {
        let d = (got - want).abs();
        worst = worst.max(d);
        assert!(
            d <= TOLERANCE,
            "{set} {name}: trrg {got} vs pycocoevalcap {want}"
        );
    };
    for k in 0..4 {
        check(
            &format!("BLEU_{}", k + 1),
            ours.bleu[k],
            expected[format!("BLEU_{}", k + 1)].as_f64().unwrap(),
        );
    }
    check(
        "ROUGE_L",
        ours.rouge_l,
        expected["ROUGE_L"].as_f64().unwrap(),
    );
    check("CIDEr", ours.cider, expected["CIDEr"].as_f64().unwrap());
    if let Some(per) = expected["CIDEr_per"].as_array() {
        for (i, ex) in ours.per_example.iter().enumerate() {
            check("CIDEr_per", ex.cider, per[i].as_f64().unwrap());
            check(
                "ROUGE_L_per",
                ex.rouge_l,
                expected["ROUGE_L_per"][i].as_f64().unwrap(),
            );
            for k in 0..4 {
                check(
                    "BLEU_per",
                    ex.bleu[k],
                    expected[format!("BLEU_{}_per", k + 1)][i].as_f64().unwrap(),
                );
            }
        }
    }
    worst
}

fn committed_pairs(set: &Value) -> Vec<Pair> {
    // pycocoevalcap iterates the refs' keys in file order; keep that order.
    let refs = set["pairs"]["refs"].as_object().unwrap();
    refs.iter()
        .map(|(id, r)| {
            let refs: Vec<String> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            let hyp = set["pairs"]["hyps"][id][0].as_str().unwrap().to_string();
            (id.clone(), refs, hyp)
        })
        .collect()
}

#[test]
fn sample_and_edge_cases_equal_pycocoevalcap() {
    let g = golden();
    for set in ["sample", "edge"] {
        let pairs = committed_pairs(&g["sets"][set]);
        let worst = compare(set, &evaluate(&pairs), &g["sets"][set]["scores"]);
        println!(
            "{set}: {} pairs, largest |trrg - pycocoevalcap| = {worst:.2e}",
            pairs.len()
        );
    }
}

#[test]
fn real_iu_xray_590_test_pairs_equal_pycocoevalcap() {
    let Some(tgz) = asset_for_test("NLMCXR_reports.tgz") else {
        return;
    };
    let annotation = iu_xray_annotation(
        &read_openi_reports(&tgz).unwrap(),
        &R2GenIuSplit::embedded(),
    )
    .unwrap();
    let reports: Vec<String> = annotation
        .test
        .iter()
        .map(|e| Cleaner::IuXray.clean(&e.report))
        .collect();
    assert_eq!(reports.len(), 590);
    let template =
        "the heart is normal in size . the mediastinum is unremarkable . the lungs are clear .";
    let g = golden();
    let sets: BTreeMap<&str, Vec<Pair>> = [
        (
            "iu590_shifted",
            (0..590)
                .map(|i| {
                    (
                        i.to_string(),
                        vec![reports[i].clone()],
                        reports[(i + 1) % 590].clone(),
                    )
                })
                .collect(),
        ),
        (
            "iu590_template",
            (0..590)
                .map(|i| {
                    (
                        i.to_string(),
                        vec![reports[i].clone()],
                        template.to_string(),
                    )
                })
                .collect(),
        ),
    ]
    .into();
    for (name, pairs) in sets {
        let ours = evaluate(&pairs);
        let worst = compare(name, &ours, &g["sets"][name]["scores"]);
        println!(
            "{name}: BLEU-4 {:.6} ROUGE-L {:.6} CIDEr {:.6}; largest |trrg - pycocoevalcap| = {worst:.2e}",
            ours.bleu[3], ours.rouge_l, ours.cider
        );
    }
}
