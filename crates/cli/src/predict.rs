//! `trrg predict`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use trrg_core::backend::{device, Backend};
use trrg_core::data::Split;
use trrg_core::train::{
    data_dir_studies, have_references, meteor_jar, path_studies, predict, write_prediction_metrics,
    write_predictions,
};
use trrg_core::ReportGenerator;

/// Which split of `--data-dir` to predict.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitArg {
    /// The training split.
    Train,
    /// The validation split.
    Val,
    /// The test split.
    Test,
    /// Every split, in the order train, val, test.
    All,
}

impl SplitArg {
    /// The split (None: every split).
    pub fn split(self) -> Option<Split> {
        match self {
            Self::Train => Some(Split::Train),
            Self::Val => Some(Split::Val),
            Self::Test => Some(Split::Test),
            Self::All => None,
        }
    }
}

/// Arguments of `trrg predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example, or a directory
    /// written by `trrg export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// An R2Gen-layout dataset (`annotation.json` + `images/`) whose `--split` to predict and
    /// score against its reports (and against `labels.json` where it exists).
    #[arg(long, conflicts_with = "inputs")]
    data_dir: Option<PathBuf>,
    /// The split of `--data-dir`.
    #[arg(long, value_enum, default_value_t = SplitArg::Test, requires = "data_dir")]
    split: SplitArg,
    /// Studies without references: a directory is one study (its PNG/JPEG/DICOM images in name
    /// order); image files are taken as many at a time as the model has views.
    #[arg(required_unless_present = "data_dir")]
    inputs: Vec<PathBuf>,
    /// Output directory: `predictions.jsonl`, and `metrics.json` when the studies have
    /// references.
    #[arg(long)]
    out: PathBuf,
    /// Studies per batch. Default: the run's batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs `trrg predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    let start = Instant::now();
    let generator = ReportGenerator::<Backend>::from_dir(&args.checkpoint, &device()?)?;
    let studies = match &args.data_dir {
        Some(dir) => data_dir_studies(dir, generator.config().dataset, args.split.split())?,
        None => path_studies(&args.inputs, generator.n_views())?,
    };
    if studies.is_empty() {
        anyhow::bail!("no studies to predict");
    }
    let batch_size = args.batch_size.unwrap_or(generator.config().batch_size);
    let rows = predict(&generator, &studies, batch_size, args.quiet)?;
    let path = write_predictions(&args.out, &rows)?;
    let metrics = if have_references(&rows) {
        let meteor = crate::eval::meteor_or_fallback(meteor_jar(), false)?;
        Some(write_prediction_metrics(&args.out, &rows, meteor)?)
    } else {
        None
    };
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "wrote {} predictions to {} in {seconds:.1} s ({:.3} s per study)",
        rows.len(),
        path.display(),
        seconds / rows.len() as f64
    );
    if let Some(m) = metrics {
        let ce = |key: &str| m[key]["r2gen"]["f1"].as_f64();
        print!(
            "metrics.json: BLEU_4 {:.4}  METEOR {:.4}  ROUGE_L {:.4}  CIDEr {:.4}  CE F1 (r2gen) {:.4}",
            m["BLEU_4"].as_f64().unwrap_or(f64::NAN),
            m["METEOR"].as_f64().unwrap_or(f64::NAN),
            m["ROUGE_L"].as_f64().unwrap_or(f64::NAN),
            m["CIDEr"].as_f64().unwrap_or(f64::NAN),
            ce("CE").unwrap_or(f64::NAN),
        );
        if let Some(f1) = ce("CE_vs_ground_truth") {
            print!("  vs ground truth {f1:.4}");
        }
        let aucs: Vec<f64> = m["per_observation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| row["clue_auc"].as_f64())
            .collect();
        if !aucs.is_empty() {
            let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
            print!("  clue AUC {mean:.4} (mean of {})", aucs.len());
        }
        println!();
    }
    Ok(())
}
