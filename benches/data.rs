//! Data-side throughput: report cleaning, labeling, synthetic study generation, batching.
//!
//! `cargo bench --bench data` (numbers in docs/performance.md).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trrg::backend::{device, Backend};
use trrg_data::{Cleaner, ImageTransformConfig, ReportBatch, ReportBatcher, StudyItem};
use trrg_labeler::Labeler;
use trrg_synth::{generate_study, write_dataset, SynthConfig};

fn reports(n: usize) -> Vec<String> {
    let config = SynthConfig {
        studies: n,
        size: 64,
        ..Default::default()
    };
    (0..n).map(|i| generate_study(&config, i).report).collect()
}

fn bench(c: &mut Criterion) {
    let texts = reports(256);
    let mut group = c.benchmark_group("text");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("clean_iu_xray_256_reports", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| Cleaner::IuXray.clean(black_box(t)).len())
                .sum::<usize>()
        })
    });
    let labeler = Labeler::new();
    group.bench_function("label_256_reports", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter(|t| labeler.label(black_box(t))[1] == Some(1))
                .count()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("synth");
    group.sample_size(10);
    let config = SynthConfig {
        studies: 1,
        ..Default::default()
    };
    group.bench_function("generate_study_256px_two_views", |b| {
        b.iter(|| generate_study(black_box(&config), 3).frontal.len())
    });
    group.finish();

    let dir = std::env::temp_dir().join(format!("trrg-bench-{}", std::process::id()));
    let config = SynthConfig {
        studies: 16,
        ..Default::default()
    };
    write_dataset(&dir, &config).expect("temporary dataset");
    let items: Vec<StudyItem> = (0..8)
        .map(|i| StudyItem {
            id: format!("synth_{i:05}"),
            report: String::new(),
            token_ids: vec![0, 5, 6, 7, 0],
            image_paths: vec![
                dir.join(format!("images/synth_{i:05}/0.png")),
                dir.join(format!("images/synth_{i:05}/1.png")),
            ],
            labels: None,
            report_labels: None,
            augment_seed: i as u64,
        })
        .collect();
    let batcher =
        ReportBatcher::new(ImageTransformConfig::default(), true, 0).expect("default transform");
    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(8));
    group.bench_function("batch_8_two_view_studies_224px", |b| {
        b.iter(|| {
            let batch: ReportBatch<Backend> = batcher
                .try_batch(&items, &device().expect("TRRG_DEVICE"))
                .expect("fixture images decode");
            batch.images.dims()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
