//! Size, speed and memory of a model preset on the CPU backend (numbers for docs/model.md).
//!
//! `cargo run --release --example model_stats -- [tiny|micro] [batch]`
//!
//! Prints the parameter count per part, the mean time of a stage-2 forward + backward and of a
//! stage-1 forward + backward at the given batch size (random two-view images, 50-token reports,
//! the 14 CheXpert clues), and the process's peak resident memory.

use std::time::Instant;

use anyhow::{bail, Context};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use trrg::backend::{device, TrainBackend as A};
use trrg_core::clue::DiseaseSet;
use trrg_core::data::WordVocab;
use trrg_core::model::sentence_batch;
use trrg_core::model::TrrgConfig;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let preset = args.next().unwrap_or_else(|| "tiny".into());
    let batch: usize = args
        .next()
        .map_or(Ok(8), |b| b.parse())
        .context("batch must be a number")?;
    let vocab = WordVocab::build(
        ["the heart is normal in size . no pleural effusion or pneumothorax . the lungs are clear ."],
        1,
    );
    let vocab_size = 140; // the synthetic dataset's word vocabulary is about this size
    let config = match preset.as_str() {
        "tiny" => TrrgConfig::tiny(vocab_size),
        "micro" => TrrgConfig::micro(vocab_size),
        other => bail!("unknown preset `{other}` (tiny, micro)"),
    };
    let side = config.vision.image_size();
    let device = device()?;
    let model = config.init::<A>(&device)?;
    println!("preset {preset}: {} parameters", model.num_params());
    for (name, n) in [
        ("vision", model.vision.num_params()),
        ("text", model.text.num_params()),
        ("alignment head", model.align.num_params()),
        ("clue embedder", model.clue_embedder.num_params()),
        ("interaction", model.interaction.num_params()),
        ("llm", model.llm.num_params()),
    ] {
        println!("  {name:<16} {n:>9}");
    }
    let bank = model.clue_bank(&DiseaseSet::chexpert(), &vocab, 32)?;
    let images = Tensor::<A, 5>::random(
        [batch, 2, 1, side, side],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let ids = Tensor::<A, 2, Int>::random(
        [batch, 50],
        Distribution::Uniform(1.0, (vocab_size - 1) as f64),
        &device,
    );
    let mask = Tensor::<A, 2, Int>::ones([batch, 50], &device).bool();
    let time = |f: &dyn Fn()| {
        f(); // warm-up
        let started = Instant::now();
        for _ in 0..5 {
            f();
        }
        started.elapsed().as_secs_f64() / 5.0
    };
    let stage2 = time(&|| {
        let out = model
            .forward_train(
                images.clone(),
                ids.clone(),
                mask.clone(),
                mask.clone(),
                None,
                Some(&bank),
            )
            .expect("forward");
        let _ = out.loss.backward();
    });
    let sentences: Vec<String> = (0..batch * 4)
        .map(|i| format!("the heart is normal {}", i % 7))
        .collect();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let encoded = sentence_batch(&vocab, &refs, 32, &device)?;
    let positive = Tensor::<A, 2, Int>::ones([batch, refs.len()], &device).bool();
    let stage1 = time(&|| {
        let out = model
            .contrastive(images.clone(), &encoded, positive.clone())
            .expect("forward");
        let _ = out.loss.backward();
    });
    println!(
        "batch {batch}: stage-2 forward+backward {:.3} s, stage-1 forward+backward {:.3} s",
        stage2, stage1
    );
    if let Some(mib) = peak_rss_mib() {
        println!("peak resident memory {mib:.0} MiB");
    }
    Ok(())
}
