//! The `tiny` preset's training and generation speed on the selected backend, against the
//! PyTorch mirror in `benches/reference/trrg_tiny.py` (same shapes, same optimizer; run it for
//! the side-by-side numbers in docs/performance.md).
//!
//! - `stage2_step/batchN`: forward (2 views of 128 px, 14 clues, 60 report tokens), LM +
//!   consistency loss, backward, AdamW step (two parameter groups).
//! - `stage1_step/batchN`: image <-> 3N sentences (16 tokens) InfoNCE, backward, AdamW step.
//!
//! N is `TRRG_BENCH_BATCH`, by default 16, the main job's batch (`scripts/bench-vs-pytorch.sh`
//! passes the same N to the mirror).
//! - `generate/greedy` and `generate/beam3`: one study, exactly 60 new tokens, KV cache;
//!   `generate/beam3_batch16`: 16 studies in one batch (as `trrg predict` decodes), the same.
//!
//! - `stage2_step_base/batch4`, only when `TRRG_BASE_PARTS` names a directory with `vision/`,
//!   `text/` and `llm/` config.json files (`scripts/gpu-check.sh` writes one): the `base` preset
//!   (EfficientNet-Lite0, a MiniLM-sized BERT, SmolLM2-135M with LoRA r 8 on q/v) with random
//!   weights, 2 views of 224 px, 60 report tokens. Speed does not depend on the weights' values,
//!   so no checkpoint has to travel with the bench.
//!
//! Dropout is off in both implementations (it is a random mask, not compute worth comparing).
//! `cargo bench --bench train` (`--features tch` etc. for another backend).

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use criterion::{criterion_group, criterion_main, Criterion};
use trrg::backend::{device, TrainBackend as A};
use trrg_core::clue::DiseaseSet;
use trrg_core::data::{DiseaseLabels, WordVocab};
use trrg_core::llm::GenerationConfig;
use trrg_core::model::sentence_batch;
use trrg_core::model::{Trrg, TrrgConfig};
use trrg_core::train::{Optimizers, StageConfig};

/// The default synthetic run's vocabulary size.
const VOCAB: usize = 137;
const SEQ: usize = 60;

/// Studies per training step: `TRRG_BENCH_BATCH`, or the main job's 16.
fn batch() -> usize {
    match std::env::var("TRRG_BENCH_BATCH") {
        Ok(n) => n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("TRRG_BENCH_BATCH={n:?} is not a positive whole number")),
        Err(_) => 16,
    }
}

fn bench(c: &mut Criterion) {
    let device = device().expect("TRRG_DEVICE");
    let batch = batch();
    let n_sentences = 3 * batch;
    let diseases = DiseaseSet::chexpert();
    let prompts: Vec<&str> = diseases.prompts().into_iter().map(|(_, _, p)| p).collect();
    let vocab = WordVocab::build(prompts.iter().copied(), 1);
    let mut config = TrrgConfig::tiny(VOCAB);
    // As the PyTorch reference computes: no teacher forcing, blank labels ignored.
    config.clue.teacher_forcing = 0.0;
    config.clue.consistency_blank = trrg_core::clue::BlankLabel::Ignore;
    config.llm = config.llm.with_dropout(0.0);
    config.interaction = config.interaction.with_dropout(0.0);
    let model: Trrg<A> = config.init(&device).unwrap();
    let bank = model.clue_bank(&diseases, &vocab, 16).unwrap();
    let images = || {
        Tensor::<A, 5>::random(
            [batch, 2, 1, 128, 128],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
    };
    let stage = StageConfig::default();

    let mut group = c.benchmark_group("stage1_step");
    group.sample_size(10);
    // Each sentence fills all 16 tokens (words of the prompts, truncated), as the mirror's do.
    let words: Vec<&str> = prompts.iter().flat_map(|p| p.split(' ')).collect();
    let sentences: Vec<String> = (0..n_sentences)
        .map(|i| {
            (0..16)
                .map(|w| words[(i * 16 + w) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let sentences: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let positive: Vec<bool> = (0..batch * n_sentences)
        .map(|i| i % n_sentences % batch == i / n_sentences)
        .collect();
    group.bench_function(format!("batch{batch}"), |b| {
        let mut optim = Optimizers::<A>::new(&stage);
        let mut m = Some(model.clone());
        b.iter(|| {
            let model = m.take().unwrap();
            let encoded = sentence_batch(&vocab, &sentences, 16, &device).unwrap();
            let positive = Tensor::<A, 2, Bool>::from_data(
                TensorData::new(positive.clone(), [batch, n_sentences]),
                &device,
            );
            let out = model.contrastive(images(), &encoded, positive).unwrap();
            optim.backward(out.loss, &model);
            m = Some(optim.step(model, 1e-4, 1.0));
        })
    });
    group.finish();

    let model = model.freeze_for_stage2(false);
    let mut group = c.benchmark_group("stage2_step");
    group.sample_size(10);
    group.bench_function(format!("batch{batch}"), |b| {
        let mut optim = Optimizers::<A>::new(&stage);
        let mut m = Some(model.clone());
        b.iter(|| {
            let model = m.take().unwrap();
            m = Some(stage2_step(
                model,
                &mut optim,
                images(),
                VOCAB,
                &bank,
                &device,
            ));
        })
    });
    group.finish();

    if let Some(dir) = std::env::var_os("TRRG_BASE_PARTS") {
        bench_base_step(
            c,
            std::path::Path::new(&dir),
            &device,
            &diseases,
            &vocab,
            &stage,
        );
    }

    let inner = model.valid();
    let inner_bank = inner.clue_bank(&diseases, &vocab, 16).unwrap();
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for (name, beams, batch) in [("greedy", 1, 1), ("beam3", 3, 1), ("beam3_batch16", 3, 16)] {
        let generation = GenerationConfig::new()
            .with_max_new_tokens(SEQ)
            .with_min_new_tokens(SEQ)
            .with_num_beams(beams)
            .with_eos_token_ids(vec![0]);
        group.bench_function(name, |b| {
            b.iter(|| {
                let image = Tensor::random([batch, 2, 1, 128, 128], Distribution::Default, &device);
                let out = inner
                    .generate(image, Some(&inner_bank), &generation, 0)
                    .unwrap();
                assert!(out.iter().all(|g| g.ids.len() == SEQ));
                out
            })
        });
    }
    group.finish();
}

/// The `base` preset's stage-2 step (LoRA on the LLM) from the parts' configs in `dir`.
fn bench_base_step(
    c: &mut Criterion,
    dir: &std::path::Path,
    device: &trrg::backend::Device,
    diseases: &DiseaseSet,
    vocab: &WordVocab,
    stage: &StageConfig,
) {
    const BASE_BATCH: usize = 4;
    let paths = trrg_core::model::PretrainedPaths {
        vision: dir.join("vision"),
        text: dir.join("text"),
        llm: dir.join("llm"),
    };
    let mut config = TrrgConfig::base(&paths).expect("TRRG_BASE_PARTS holds the parts' configs");
    config.vision.set_input(3, 224);
    config.llm = config.llm.with_dropout(0.0);
    let vocab_size = config.llm.vocab_size;
    let model: Trrg<A> = config.init(device).unwrap();
    let bank = model.clue_bank(diseases, vocab, 16).unwrap();
    let mut model = model.freeze_for_stage2(false);
    model.llm = model
        .llm
        .with_lora(&trrg_core::llm::LoraConfig::default(), device)
        .unwrap();
    let mut group = c.benchmark_group("stage2_step_base");
    group.sample_size(10);
    group.bench_function(format!("batch{BASE_BATCH}"), |b| {
        let mut optim = Optimizers::<A>::new(stage);
        let mut m = Some(model.clone());
        b.iter(|| {
            let model = m.take().unwrap();
            let images = Tensor::<A, 5>::random(
                [BASE_BATCH, 2, 3, 224, 224],
                Distribution::Normal(0.0, 1.0),
                device,
            );
            m = Some(stage2_step(
                model, &mut optim, images, vocab_size, &bank, device,
            ));
        })
    });
    group.finish();
}

/// One stage-2 step on `images` (`[batch, views, ..]`) with 60 report tokens spread over the
/// vocabulary and random labels: forward, LM + consistency loss, backward, AdamW.
fn stage2_step(
    model: Trrg<A>,
    optim: &mut Optimizers<A>,
    images: Tensor<A, 5>,
    vocab_size: usize,
    bank: &trrg_core::model::ClueBank<A>,
    device: &trrg::backend::Device,
) -> Trrg<A> {
    let batch = images.dims()[0];
    let ids: Vec<i64> = (0..batch * SEQ)
        .map(|i| (i * 31 % (vocab_size - 1) + 1) as i64)
        .collect();
    let ids = Tensor::<A, 2, Int>::from_data(TensorData::new(ids, [batch, SEQ]), device);
    let all = Tensor::<A, 2, Bool>::ones([batch, SEQ], device);
    let labels = DiseaseLabels::<A> {
        values: Tensor::random([batch, 14], Distribution::Bernoulli(0.3), device),
        known: Tensor::ones([batch, 14], device),
    };
    let out = model
        .forward_train(
            images,
            ids,
            all.clone(),
            all,
            Some((&labels).into()),
            Some(bank),
        )
        .unwrap();
    optim.backward(out.loss, &model);
    optim.step(model, 1e-4, 1.0)
}

criterion_group!(benches, bench);
criterion_main!(benches);
