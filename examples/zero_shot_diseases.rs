//! Zero-shot disease perception: one study's images -> probability per disease.
//!
//! `cargo run --release --example zero_shot_diseases -- --run RUN_DIR IMAGE [IMAGE]`
//!
//! RUN_DIR is a run directory of `train_iu_xray` / `trrg train` (after stage 1 at least); the
//! probabilities come from the aligned image and prompt embeddings (positive vs negative prompt
//! of each disease in the run's `diseases.json`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use trrg::backend::{device, Backend};
use trrg_core::ReportGenerator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut run: Option<PathBuf> = None;
    let mut images = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--run" => run = Some(args.next().context("--run needs a directory")?.into()),
            "-h" | "--help" => {
                println!("usage: zero_shot_diseases --run RUN_DIR IMAGE [IMAGE]");
                return Ok(());
            }
            other if other.starts_with("--") => bail!("unknown option `{other}`"),
            other => images.push(PathBuf::from(other)),
        }
    }
    let run = run.context("--run RUN_DIR is required")?;
    let generator = ReportGenerator::<Backend>::from_dir(&run, &device()?)?;
    for (disease, p) in generator.perceive(&images)? {
        println!("{disease:<28} {p:.3}");
    }
    Ok(())
}
