//! Evaluation speed on a MIMIC-test-size corpus: 3,858 (reference, hypothesis) pairs resampled
//! from the real IU-Xray reports (pair i: reference = report (7 i) mod 2955, hypothesis = report
//! (13 i + 5) mod 2955, R2Gen IU cleaner) — BLEU-1..4, METEOR 1.5 (all four modules, data loaded
//! once beforehand; the load is timed on its own), ROUGE-L, CIDEr-D and r2gen CE with labeling of
//! both sides. `crates/metrics/scripts/time_pycocoevalcap.py` times pycocoevalcap on the same
//! pairs. Needs `scripts/fetch-assets.sh`.
//!
//! `cargo bench --bench metrics`

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use trrg_data::{assets_dir, iu_xray_annotation, read_openi_reports, Cleaner, R2GenIuSplit};
use trrg_labeler::{Labeler, LABELER_NAME};

use trrg_metrics::{clinical_efficacy, CeConvention, Meteor, NlgEvaluator};

fn pairs() -> Vec<(String, String)> {
    let tgz = assets_dir().join("NLMCXR_reports.tgz");
    let reports = read_openi_reports(&tgz).unwrap_or_else(|e| {
        panic!("this bench needs the IU-Xray reports ({e}); run scripts/fetch-assets.sh")
    });
    let a = iu_xray_annotation(&reports, &R2GenIuSplit::embedded())
        .expect("the embedded split matches the reports");
    let all: Vec<String> = a
        .train
        .iter()
        .chain(&a.val)
        .chain(&a.test)
        .map(|e| Cleaner::IuXray.clean(&e.report))
        .collect();
    (0..3858)
        .map(|i| {
            (
                all[(7 * i) % all.len()].clone(),
                all[(13 * i + 5) % all.len()].clone(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pairs = pairs();
    let labeler = Labeler::new();
    let jar = assets_dir().join("meteor").join("meteor-1.5.jar");
    let meteor = Arc::new(Meteor::from_jar(&jar).unwrap_or_else(|e| {
        panic!("this bench needs METEOR's data ({e}); run scripts/fetch-assets.sh")
    }));
    let mut group = c.benchmark_group("evaluate_3858_pairs");
    group.sample_size(10);
    group.bench_function("meteor_data_load", |b| {
        b.iter(|| {
            Meteor::from_jar(&jar)
                .expect("loaded above")
                .paraphrase_entries()
        })
    });
    let (refs, hyps): (Vec<Vec<String>>, Vec<String>) = pairs
        .iter()
        .map(|(r, h)| (vec![r.clone()], h.clone()))
        .unzip();
    group.bench_function("meteor_full", |b| {
        b.iter(|| trrg_metrics::corpus_meteor(&meteor.stats_many(&hyps, &refs)))
    });
    group.bench_function("bleu_meteor_rouge_cider", |b| {
        b.iter(|| {
            let mut eval = NlgEvaluator::with_meteor(meteor.clone());
            for (i, (r, h)) in pairs.iter().enumerate() {
                eval.update(&i.to_string(), &[r], h)
                    .expect("non-empty references");
            }
            eval.finalize().expect("non-empty corpus").cider
        })
    });
    group.bench_function("bleu_meteor_rouge_cider_and_ce_r2gen", |b| {
        b.iter(|| {
            let mut eval = NlgEvaluator::with_meteor(meteor.clone());
            let (mut rl, mut hl) = (Vec::new(), Vec::new());
            for (i, (r, h)) in pairs.iter().enumerate() {
                eval.update(&i.to_string(), &[r], h)
                    .expect("non-empty references");
                rl.push(labeler.label(r));
                hl.push(labeler.label(h));
            }
            let ce = clinical_efficacy(&rl, &hl, CeConvention::R2gen, LABELER_NAME);
            (eval.finalize().expect("non-empty corpus").cider, ce.f1)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
