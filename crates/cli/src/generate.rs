//! `trrg generate`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, Backend};
use trrg_core::train::thresholds_by_name;
use trrg_core::ReportGenerator;

/// Arguments of `trrg generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example, or a directory
    /// written by `trrg export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The study's view images (PNG, JPEG or DICOM), as many as the model was trained with.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Print `{"report": .., "clues": {disease: p}}` as JSON (with `"clue_thresholds":
    /// {disease: t}` for a run with hard clues).
    #[arg(long)]
    json: bool,
}

/// Runs `trrg generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    let generator = ReportGenerator::<Backend>::from_dir(&args.checkpoint, &device()?)?;
    let report = generator.generate(&args.images)?;
    let thresholds = generator.clue_thresholds();
    if args.json {
        let clues: serde_json::Map<String, serde_json::Value> = report
            .clues
            .iter()
            .map(|(d, p)| (d.clone(), serde_json::json!(p)))
            .collect();
        let mut out = serde_json::json!({"report": report.text, "clues": clues});
        if let Some(t) = thresholds {
            let names: Vec<String> = report.clues.iter().map(|(d, _)| d.clone()).collect();
            out["clue_thresholds"] = thresholds_by_name(&names, t);
        }
        println!("{out}");
    } else {
        println!("{}", report.text);
        let decisions = generator.clue_decisions(&report);
        for (i, (disease, p)) in report.clues.iter().enumerate() {
            match (thresholds.map(|t| t[i]), &decisions) {
                (Some(t), Some(on)) => {
                    let verdict = if on[i] { "present" } else { "absent" };
                    println!("  {disease:<28} {p:.3}  {verdict} (threshold {t:.2})");
                }
                _ => println!("  {disease:<28} {p:.3}"),
            }
        }
    }
    Ok(())
}
