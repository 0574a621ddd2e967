//! Backend conformance: the `tiny` preset's forward pass, one AdamW training step and greedy
//! generation on the backend selected by cargo features (`trrg::backend`) against the golden
//! values that flex computed (`tests/fixtures/conformance.json`).
//!
//! The weights are not drawn from the backend's generator (each backend's differs) but from a
//! fixed function of each parameter's path, so every backend runs the same model.
//!
//! Tolerances: losses and clue logits within 1e-4 relative + 1e-4 absolute (f32 accumulation order
//! differs between backends), the loss after the training step within 1e-3 relative; greedy
//! token ids equal.
//!
//! Run on another backend: `cargo test --release --features wgpu --test conformance`
//! (or `scripts/test-wgpu.sh`, `scripts/test-tch.sh`). Regenerate the golden on flex:
//! `TRRG_BLESS=1 cargo test --test conformance` (and say why in the commit).

use std::path::PathBuf;

use burn::module::{AutodiffModule, Module, ModuleMapper, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::{json, Value};
use trrg::backend::{device, Backend as B, TrainBackend as A, NAME};
use trrg_core::clue::DiseaseSet;
use trrg_core::data::{DiseaseLabels, WordVocab};
use trrg_core::llm::GenerationConfig;
use trrg_core::model::{Trrg, TrrgConfig};
use trrg_kernels::TrrgOps;

const REPORTS: [&str; 2] = [
    "the heart is enlarged . there is a small right pleural effusion .",
    "the lungs are clear . no pneumothorax . heart size is normal .",
];

/// Replaces every float parameter by a fixed function of its path: uniform in
/// `[-1/sqrt(fan_in), 1/sqrt(fan_in))` (constant tensors such as norm weights keep their value).
struct FixedWeights {
    path: Vec<String>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl ModuleMapper<A> for FixedWeights {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<A, D>>) -> Param<Tensor<A, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.dims();
        let grad = tensor.is_require_grad();
        let constant = tensor.clone().max().into_scalar().elem::<f32>()
            == tensor.clone().min().into_scalar().elem::<f32>();
        if constant {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let fan_in: usize = if D == 1 {
            shape[0]
        } else {
            shape[..D - 1].iter().product::<usize>().max(shape[0])
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let seed = self
            .path
            .join(".")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            });
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n as u64)
            .map(|i| {
                let u = (splitmix(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d)) >> 40) as f32
                    / (1u64 << 24) as f32;
                (2.0 * u - 1.0) * bound
            })
            .collect();
        let fresh = Tensor::<A, D>::from_data(TensorData::new(values, shape), &tensor.device());
        let fresh = if grad { fresh.require_grad() } else { fresh };
        Param::from_mapped_value(id, fresh, mapper)
    }
}

fn config(vocab: usize) -> TrrgConfig {
    // Dropout and clue teacher forcing draw from the backend's generator: off here.
    let mut config = TrrgConfig::tiny(vocab);
    config.clue.teacher_forcing = 0.0;
    // The reference scores the consistency loss over the known labels only: blanks ignored.
    config.clue.consistency_blank = trrg_core::clue::BlankLabel::Ignore;
    config.llm = config.llm.with_dropout(0.0);
    config.interaction = config.interaction.with_dropout(0.0);
    config
}

fn images<BB: TrrgOps>(device: &BB::Device) -> Tensor<BB, 5> {
    let (batch, views, size) = (2, 2, 128);
    let mut values = Vec::with_capacity(batch * views * size * size);
    for b in 0..batch {
        for v in 0..views {
            for y in 0..size {
                for x in 0..size {
                    let t = 0.05 * (x + 2 * y) as f32 + 0.7 * b as f32 + 0.3 * v as f32;
                    values.push(t.sin() * (1.0 - (y as f32 / size as f32)));
                }
            }
        }
    }
    Tensor::from_data(
        TensorData::new(values, [batch, views, 1, size, size]),
        device,
    )
}

fn floats<BB: TrrgOps, const D: usize>(t: Tensor<BB, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

fn scalar<BB: TrrgOps>(t: Tensor<BB, 1>) -> f32 {
    t.into_scalar().elem::<f32>()
}

/// Everything the golden file records, computed on the selected backend.
fn run() -> Value {
    let device = device().expect("TRRG_DEVICE names a device of this backend");
    let diseases = DiseaseSet::chexpert();
    let prompts: Vec<&str> = diseases.prompts().into_iter().map(|(_, _, p)| p).collect();
    let vocab = WordVocab::build(prompts.iter().copied().chain(REPORTS), 1);
    let model: Trrg<A> = config(vocab.tokens().len() + 1).init(&device).unwrap();
    let model = model.map(&mut FixedWeights { path: Vec::new() });
    let bank = model.clue_bank(&diseases, &vocab, 16).unwrap();
    let model = model.freeze_for_stage2(false);

    let len = 16;
    let (mut ids, mut attention, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for report in REPORTS {
        let mut row: Vec<i64> = vec![0];
        row.extend(report.split(' ').map(|w| vocab.id(w) as i64));
        row.push(0);
        for i in 0..len {
            attention.push(i < row.len());
            targets.push(i > 0 && i < row.len());
        }
        row.resize(len, 0);
        ids.extend(row);
    }
    let ids = Tensor::<A, 2, Int>::from_data(TensorData::new(ids, [2, len]), &device);
    let attention = Tensor::<A, 2, Bool>::from_data(TensorData::new(attention, [2, len]), &device);
    let targets = Tensor::<A, 2, Bool>::from_data(TensorData::new(targets, [2, len]), &device);
    // Study 0: columns 2 and 9 positive; study 1: column 8 positive, column 3 blank.
    let mut values = vec![0.0f32; 2 * 14];
    values[2] = 1.0;
    values[9] = 1.0;
    values[14 + 8] = 1.0;
    let labels = DiseaseLabels::<A> {
        values: Tensor::from_data(TensorData::new(values, [2, 14]), &device),
        known: Tensor::from_data(
            TensorData::new((0..28).map(|i| i != 14 + 3).collect::<Vec<_>>(), [2, 14]),
            &device,
        ),
    };
    let forward = |model: &Trrg<A>| {
        model
            .forward_train(
                images(&device),
                ids.clone(),
                attention.clone(),
                targets.clone(),
                Some((&labels).into()),
                Some(&bank),
            )
            .unwrap()
    };

    let out = forward(&model);
    let lm_loss = scalar(out.lm_loss.clone());
    let consistency = scalar(out.consistency_loss.clone().unwrap());
    let clue_logits = floats(out.clue_logits.clone().unwrap());
    // Greedy generation from the untrained weights: varied tokens (the trained step favours ".").
    let initial = model.valid();
    let generation = GenerationConfig::new().with_max_new_tokens(12);
    let initial_bank = initial.clue_bank(&diseases, &vocab, 16).unwrap();
    let generated = initial
        .generate(images::<B>(&device), Some(&initial_bank), &generation, 0)
        .unwrap();
    let grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let mut optim = AdamWConfig::new().init::<A, Trrg<A>>();
    let model = optim.step(1e-3, model, grads);
    let after = forward(&model);
    let loss_after_step = scalar(after.loss);

    let trained = model.valid();
    let trained_bank = trained.clue_bank(&diseases, &vocab, 16).unwrap();
    let after_step = trained
        .generate(images::<B>(&device), Some(&trained_bank), &generation, 0)
        .unwrap();
    json!({
        "backend": NAME,
        "lm_loss": lm_loss,
        "consistency_loss": consistency,
        "clue_logits": clue_logits,
        "loss_after_step": loss_after_step,
        "greedy_ids": generated.iter().map(|g| g.ids.clone()).collect::<Vec<_>>(),
        "clue_probabilities_after_step": after_step.iter().map(|g| g.clue_probabilities.clone()).collect::<Vec<_>>(),
    })
}

/// The golden file of the checkout this test was built in; a test binary carried to another
/// machine (`scripts/gpu-check.sh`) runs from the root of a checkout there and reads its copy.
fn golden_path() -> PathBuf {
    let relative = "tests/fixtures/conformance.json";
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    if built.is_file() {
        built
    } else {
        PathBuf::from(relative)
    }
}

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= abs + rel * want.abs()
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(numbers).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        _ => Vec::new(),
    }
}

#[test]
fn tiny_model_agrees_with_the_flex_golden() {
    let got = run();
    if std::env::var_os("TRRG_BLESS").is_some() {
        assert_eq!(NAME, "flex", "the golden is flex's");
        let text = serde_json::to_string_pretty(&got).unwrap();
        std::fs::write(golden_path(), text + "\n").unwrap();
        return;
    }
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_path()).unwrap()).unwrap();
    eprintln!("conformance on {NAME}: {got}");
    for (key, rel, abs) in [
        ("lm_loss", 1e-4, 1e-4),
        ("consistency_loss", 1e-4, 1e-4),
        ("clue_logits", 1e-4, 1e-4),
        ("clue_probabilities_after_step", 1e-3, 1e-4),
        ("loss_after_step", 1e-3, 1e-4),
    ] {
        let (g, w) = (numbers(&got[key]), numbers(&want[key]));
        assert_eq!(g.len(), w.len(), "{key}: length");
        for (i, (g, w)) in g.iter().zip(&w).enumerate() {
            assert!(
                close(*g, *w, rel, abs),
                "{key}[{i}] on {NAME}: {g} vs flex {w}"
            );
        }
    }
    assert_eq!(
        got["greedy_ids"], want["greedy_ids"],
        "greedy generation on {NAME} differs from flex"
    );
}
