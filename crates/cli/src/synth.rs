//! `trrg synth`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use trrg_synth::{write_dataset, SynthConfig};

/// Arguments of `trrg synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output directory (created; an existing synthetic dataset with the same settings is reused).
    #[arg(long)]
    out: PathBuf,
    /// Number of studies.
    #[arg(long, default_value_t = SynthConfig::default().studies)]
    studies: usize,
    /// Random seed (same seed, same bytes).
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = SynthConfig::default().size)]
    size: usize,
    /// Fraction of studies with no finding.
    #[arg(long, default_value_t = SynthConfig::default().normal_fraction)]
    normal_fraction: f64,
    /// Training studies drawn after the `--studies` (all in the training split; the
    /// validation and test splits stay those of `--studies` alone).
    #[arg(long, default_value_t = 0)]
    extra_train: usize,
}

/// Runs `trrg synth`.
pub fn run(args: SynthArgs) -> Result<()> {
    let config = SynthConfig {
        studies: args.studies,
        seed: args.seed,
        size: args.size,
        normal_fraction: args.normal_fraction,
        extra_train: args.extra_train,
        ..Default::default()
    };
    let start = Instant::now();
    let manifest = write_dataset(&args.out, &config)?;
    println!(
        "wrote SYNTHETIC dataset {} ({} studies: {}) in {:.1} s",
        args.out.display(),
        config.total(),
        serde_json::to_string(&manifest.counts)?,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
