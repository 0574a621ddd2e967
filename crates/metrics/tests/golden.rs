//! trrg-metrics against pycocoevalcap 1.2 (fixtures: `scripts/make_golden.py`). Tolerance 1e-6
//! for BLEU, ROUGE-L and CIDEr; 1e-3 for METEOR (the bound), with all four modules read
//! from the real `meteor-1.5.jar` and `paraphrase-en.gz` (`scripts/fetch-assets.sh`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use trrg_data::{iu_xray_annotation, read_openi_reports, Cleaner, R2GenIuSplit};
use trrg_metrics::{Meteor, NlgEvaluator, NlgScores};
use trrg_testutil::asset_for_test;

const TOLERANCE: f64 = 1e-6;
const METEOR_TOLERANCE: f64 = 1e-3;

/// `(id, references, hypothesis)`.
type Pair = (String, Vec<String>, String);

fn golden() -> Value {
    serde_json::from_str(include_str!("fixtures/golden_scores.json")).unwrap()
}

/// The full METEOR (exact, stem, synonym, paraphrase), loaded once per test binary; `None` (and
/// a NOT RUN line, or a failure under CI=true) without the assets.
fn full_meteor() -> Option<Arc<Meteor>> {
    static METEOR: OnceLock<Option<Arc<Meteor>>> = OnceLock::new();
    METEOR
        .get_or_init(|| {
            let jar = asset_for_test("meteor/meteor-1.5.jar")?;
            let start = std::time::Instant::now();
            let meteor = Meteor::from_jar(&jar).unwrap();
            assert_eq!(meteor.modules(), "exact,stem,synonym,paraphrase");
            println!(
                "METEOR data loaded in {:.1} s ({} paraphrase entries)",
                start.elapsed().as_secs_f64(),
                meteor.paraphrase_entries()
            );
            Some(Arc::new(meteor))
        })
        .clone()
}

fn evaluate(pairs: &[Pair]) -> NlgScores {
    evaluate_with(pairs, NlgEvaluator::new())
}

fn evaluate_with(pairs: &[Pair], mut eval: NlgEvaluator) -> NlgScores {
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

/// Compares corpus and per-example METEOR; returns the largest corpus and per-example
/// differences.
fn compare_meteor(set: &str, ours: &NlgScores, expected: &Value) -> (f64, f64) {
    let want = expected["METEOR"].as_f64().unwrap();
    let corpus = (ours.meteor - want).abs();
    assert!(
        corpus <= METEOR_TOLERANCE,
        "{set} METEOR: trrg {} vs pycocoevalcap {want}",
        ours.meteor
    );
    let per = expected["METEOR_per"].as_array().unwrap();
    assert_eq!(per.len(), ours.per_example.len());
    let mut worst = 0.0f64;
    for (ex, want) in ours.per_example.iter().zip(per) {
        let want = want.as_f64().unwrap();
        let d = (ex.meteor - want).abs();
        worst = worst.max(d);
        assert!(
            d <= METEOR_TOLERANCE,
            "{set} METEOR of example {}: trrg {} vs pycocoevalcap {want}",
            ex.id,
            ex.meteor
        );
    }
    (corpus, worst)
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
fn real_meteor_equals_pycocoevalcap_on_committed_sets() {
    let Some(meteor) = full_meteor() else {
        return;
    };
    let g = golden();
    for set in ["sample", "edge", "meteor_text"] {
        let pairs = committed_pairs(&g["sets"][set]);
        let ours = evaluate_with(&pairs, NlgEvaluator::with_meteor(meteor.clone()));
        let (corpus, per) = compare_meteor(set, &ours, &g["sets"][set]["scores"]);
        println!(
            "{set}: METEOR {:.6}; |trrg - pycocoevalcap| corpus {corpus:.2e}, largest per example {per:.2e}",
            ours.meteor
        );
    }
}

#[test]
fn exact_stem_meteor_is_labelled_and_never_above_the_full_one() {
    let g = golden();
    let pairs = committed_pairs(&g["sets"]["meteor_text"]);
    let ours = evaluate(&pairs);
    assert_eq!(ours.meteor_modules, "exact,stem");
    let full = g["sets"]["meteor_text"]["scores"]["METEOR"]
        .as_f64()
        .unwrap();
    assert!(
        ours.meteor > 0.0 && ours.meteor < full,
        "{} vs {full}",
        ours.meteor
    );
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
    let meteor = full_meteor();
    for (name, pairs) in sets {
        let eval = meteor
            .clone()
            .map_or_else(NlgEvaluator::new, NlgEvaluator::with_meteor);
        let ours = evaluate_with(&pairs, eval);
        let worst = compare(name, &ours, &g["sets"][name]["scores"]);
        println!(
            "{name}: BLEU-4 {:.6} ROUGE-L {:.6} CIDEr {:.6}; largest |trrg - pycocoevalcap| = {worst:.2e}",
            ours.bleu[3], ours.rouge_l, ours.cider
        );
        if meteor.is_some() {
            let (corpus, per) = compare_meteor(name, &ours, &g["sets"][name]["scores"]);
            println!(
                "{name}: METEOR {:.6}; |trrg - pycocoevalcap| corpus {corpus:.2e}, largest per example {per:.2e}",
                ours.meteor
            );
        }
    }
}
