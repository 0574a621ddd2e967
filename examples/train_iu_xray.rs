//! Main job: train TRRG on IU-Xray (or, with no data, on the embedded synthetic dataset).
//!
//! `cargo run --release --example train_iu_xray`
//!
//! Today this reads and checks an R2Gen-format IU-Xray directory (`--data-dir DIR`) and prints
//! its statistics; the training loops land with the training issue, and until then the command
//! says so and exits with status 2.

use std::path::PathBuf;

use anyhow::{bail, Context};
use trrg_data::{Annotation, DatasetKind, EmptyReportPolicy, Split, WordVocab};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut data_dir: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                data_dir = Some(args.next().context("--data-dir needs a directory")?.into())
            }
            "-h" | "--help" => {
                println!("usage: train_iu_xray [--data-dir DIR]   (DIR: annotation.json + images/, R2Gen layout)");
                return Ok(());
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if let Some(dir) = data_dir {
        let kind = DatasetKind::IuXray;
        let annotation = Annotation::from_path(dir.join("annotation.json"))?;
        let images = dir.join("images");
        for split in Split::ALL {
            let set = annotation.studies(
                split,
                kind,
                kind.default_cleaner(),
                &images,
                EmptyReportPolicy::Skip,
            )?;
            println!(
                "{split}: {} studies ({} skipped: empty report)",
                set.studies.len(),
                set.skipped_empty
            );
            if split == Split::Train {
                let vocab = WordVocab::build(
                    set.studies.iter().map(|s| s.report.as_str()),
                    kind.default_threshold(),
                );
                println!(
                    "vocabulary: {} tokens (threshold {})",
                    vocab.tokens().len(),
                    kind.default_threshold()
                );
            }
        }
    }
    eprintln!("train_iu_xray: training is not yet available (tracked in the training issue); nothing was trained.");
    std::process::exit(2)
}
