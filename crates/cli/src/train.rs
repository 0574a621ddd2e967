//! `trrg train`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, TrainBackend};
use trrg_core::train::{default_synthetic_data, results_table, train, RunOptions, TrainConfig};

/// Arguments of `trrg train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training config JSON (`TrainConfig`; unknown fields are errors). Default: the built-in
    /// defaults (tiny preset).
    #[arg(long)]
    config: Option<PathBuf>,
    /// R2Gen-layout dataset (`annotation.json` + `images/`). Default: the synthetic dataset,
    /// generated under `data/` if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run directory.
    #[arg(long, default_value = "runs/trrg")]
    out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Runs `trrg train` and prints the results table.
pub fn run(args: TrainArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => TrainConfig::from_path(path)?,
        None => TrainConfig::default(),
    };
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => default_synthetic_data(std::path::Path::new("data"))?,
    };
    let summary = train::<TrainBackend>(
        &config,
        &RunOptions {
            data_dir,
            out_dir: args.out,
            resume: args.resume,
            quiet: args.quiet,
            stop_after_stage2_epochs: None,
        },
        &device()?,
    )?;
    println!(
        "{}",
        results_table(&[(config.clues.to_string(), summary.metrics)])
    );
    Ok(())
}
