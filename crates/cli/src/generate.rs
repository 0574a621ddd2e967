//! `trrg generate`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, Backend};
use trrg_core::ReportGenerator;

/// Arguments of `trrg generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The study's view images (PNG/JPEG), as many as the model was trained with.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Print `{"report": .., "clues": {disease: p}}` as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `trrg generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    let generator = ReportGenerator::<Backend>::from_dir(&args.checkpoint, &device()?)?;
    let report = generator.generate(&args.images)?;
    if args.json {
        let clues: serde_json::Map<String, serde_json::Value> = report
            .clues
            .iter()
            .map(|(d, p)| (d.clone(), serde_json::json!(p)))
            .collect();
        println!(
            "{}",
            serde_json::json!({"report": report.text, "clues": clues})
        );
    } else {
        println!("{}", report.text);
        for (disease, p) in &report.clues {
            println!("  {disease:<28} {p:.3}");
        }
    }
    Ok(())
}
