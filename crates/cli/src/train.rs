//! `trrg train`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, parse_devices, TrainBackend};
use trrg_core::train::{
    default_synthetic_data, results_table, train_parallel, RunOptions, TrainConfig,
};

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
    /// Data-parallel stage 2 over these devices of the selected backend, comma-separated
    /// (`cuda:0,cuda:1` with `--features tch` or `cuda`; `cpu,cpu` runs two CPU workers).
    /// Default: the one device of `TRRG_DEVICE` or the backend's default.
    #[arg(long)]
    devices: Option<String>,
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
    let devices = match &args.devices {
        Some(list) => parse_devices(list)?,
        None => vec![device()?],
    };
    let summary = train_parallel::<TrainBackend>(
        &config,
        &RunOptions {
            data_dir,
            out_dir: args.out,
            resume: args.resume,
            quiet: args.quiet,
            stop_after_stage2_epochs: None,
        },
        &devices,
    )?;
    println!(
        "{}",
        results_table(&[(config.clue.mode.to_string(), summary.metrics)])
    );
    Ok(())
}
