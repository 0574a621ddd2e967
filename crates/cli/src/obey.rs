//! `trrg obey`: the obedience probe of a trained run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, Backend};
use trrg_core::train::{data_dir_studies, normal_studies, obedience, obedience_table};
use trrg_core::ReportGenerator;

use crate::predict::SplitArg;

/// Arguments of `trrg obey`.
#[derive(Args, Debug)]
pub struct ObeyArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example, or a directory
    /// written by `trrg export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// An R2Gen-layout dataset whose normal studies (No Finding in `labels.json`, else in the
    /// labels of the reference report) the reports are written for.
    #[arg(long)]
    data_dir: PathBuf,
    /// The split of `--data-dir`.
    #[arg(long, value_enum, default_value_t = SplitArg::Val)]
    split: SplitArg,
    /// How many normal studies (the first ones of the split).
    #[arg(long, default_value_t = 60)]
    studies: usize,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Studies per batch. Default: the run's batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs `trrg obey`.
pub fn run(args: ObeyArgs) -> Result<()> {
    let generator = ReportGenerator::<Backend>::from_dir(&args.checkpoint, &device()?)?;
    let all = data_dir_studies(
        &args.data_dir,
        generator.config().dataset,
        args.split.split(),
    )?;
    let studies = normal_studies(&all, args.studies);
    if studies.is_empty() {
        anyhow::bail!(
            "{} has no normal study (No Finding) in the chosen split to write reports for",
            args.data_dir.display()
        );
    }
    let batch_size = args.batch_size.unwrap_or(generator.config().batch_size);
    let probe = obedience(&generator, &studies, batch_size, args.quiet)?;
    println!("{}", obedience_table(&probe));
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&probe)?;
        trrg_core::io::write_atomic(path, text.as_bytes())?;
        eprintln!("written: {}", path.display());
    }
    Ok(())
}
