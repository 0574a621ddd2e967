//! The main job shared by `examples/train_iu_xray.rs` and `examples/train_mimic_cxr.rs`:
//! argument parsing, default synthetic data, one run or the ablation, the results table.
//!
//! Options:
//! - `--data-dir DIR`  a real dataset in R2Gen layout (`annotation.json` + `images/`)
//! - `--config FILE`   a `TrainConfig` JSON (unknown fields are errors)
//! - `--out DIR`       run directory (default `runs/<dataset>-<data>-seed<seed>`, numbered if taken)
//! - `--resume`        continue the run in `--out` from its last checkpoint
//! - `--ablation`      also train the no-interaction and no-clue variants and print the table
//! - `--quiet`         no progress bars

use std::path::{Path, PathBuf};

use crate::backend::{device, TrainBackend};
use anyhow::{bail, Context};
use trrg_data::DatasetKind;
use trrg_model::ClueMode;
use trrg_train::{default_synthetic_data, results_table, train, RunOptions, TrainConfig};

struct Args {
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: bool,
    ablation: bool,
    quiet: bool,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        data_dir: None,
        config: None,
        out: None,
        resume: false,
        ablation: false,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => args.data_dir = Some(value("--data-dir")?.into()),
            "--config" => args.config = Some(value("--config")?.into()),
            "--out" => args.out = Some(value("--out")?.into()),
            "--resume" => args.resume = true,
            "--ablation" => args.ablation = true,
            "--quiet" => args.quiet = true,
            "-h" | "--help" => {
                println!("usage: train_iu_xray | train_mimic_cxr [--data-dir DIR] [--config FILE] [--out DIR] [--resume] [--ablation] [--quiet]");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if args.resume && args.out.is_none() {
        bail!("--resume needs --out DIR (the run to continue)");
    }
    Ok(args)
}

fn fresh_dir(base: PathBuf) -> PathBuf {
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

/// Runs the main job for `kind`; on failure prints one `error: ...` line and exits with status 1.
pub fn main(kind: DatasetKind) {
    if let Err(e) = run(kind) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Runs the main job for `kind` with the process's command-line arguments.
pub fn run(kind: DatasetKind) -> anyhow::Result<()> {
    let args = parse()?;
    let mut config = match &args.config {
        Some(path) => TrainConfig::from_path(path)?,
        None => TrainConfig::default(),
    };
    config.dataset = kind;
    config.validate()?;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            eprintln!("generating (or reusing) the default SYNTHETIC dataset under data/ ...");
            if kind == DatasetKind::MimicCxr {
                eprintln!("(read MIMIC-CXR style: the frontal view only, MIMIC cleaning)");
            }
            default_synthetic_data(Path::new("data"))?
        }
    };
    let label = if args.data_dir.is_some() {
        "data"
    } else {
        "synthetic"
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => fresh_dir(PathBuf::from(format!(
            "runs/{}-{label}-seed{}",
            kind.name().to_lowercase().replace('-', "_"),
            config.seed
        ))),
    };
    let variants: Vec<(String, ClueMode)> = if args.ablation {
        vec![
            ("full".into(), ClueMode::Full),
            ("no_interaction".into(), ClueMode::NoInteraction),
            ("no_clues".into(), ClueMode::Off),
        ]
    } else {
        vec![(config.clues.to_string(), config.clues)]
    };
    let device = device();
    let mut rows = Vec::new();
    for (name, mode) in variants {
        let run_dir: PathBuf = if args.ablation {
            out.join(&name)
        } else {
            out.clone()
        };
        let config = TrainConfig {
            clues: mode,
            ..config.clone()
        };
        eprintln!("run {name}: {}", run_dir.display());
        let started = std::time::Instant::now();
        let summary = train::<TrainBackend>(
            &config,
            &RunOptions {
                data_dir: data_dir.clone(),
                // In an ablation, a variant not started before the interruption starts now.
                resume: args.resume && run_dir.join("checkpoints/state.json").is_file(),
                out_dir: run_dir,
                quiet: args.quiet,
                stop_after_stage2_epochs: None,
            },
            &device,
        )?;
        eprintln!(
            "run {name} finished in {:.1} min",
            started.elapsed().as_secs_f64() / 60.0
        );
        rows.push((name, summary.metrics));
    }
    println!("\n{}", results_table(&rows));
    eprintln!("results, samples, logs and plots: {}", out.display());
    Ok(())
}
