//! `trrg probe`: the perception probe of a trained run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use trrg_core::backend::{device, Backend};
use trrg_core::data::ReportBatcher;
use trrg_core::run::RunDir;
use trrg_core::train::{feature_probe, perception_aucs, ProbeAuc, RunData};
use trrg_core::ReportGenerator;

/// The split `trrg probe` scores on.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProbeSplit {
    /// The training split (the probes' own fitting split).
    Train,
    /// The validation split.
    Val,
    /// The test split.
    Test,
}

/// Arguments of `trrg probe`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The R2Gen-layout dataset the run was trained on (with `labels.json`, or the labeler
    /// reads the reports): the probes are fitted on its training split.
    #[arg(long)]
    data_dir: PathBuf,
    /// The split the probes and the clue logits are scored on.
    #[arg(long, value_enum, default_value_t = ProbeSplit::Val)]
    split: ProbeSplit,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One observation's row.
struct Row {
    observation: String,
    /// The run's clue logits (what its hard clues threshold).
    clue: Option<f64>,
    /// Logistic regressions on the run's encoder features, fitted on the training split.
    probe: ProbeAuc,
}

/// Runs `trrg probe`.
pub fn run(args: ProbeArgs) -> Result<()> {
    let device = device()?;
    let generator = ReportGenerator::<Backend>::from_dir(&args.checkpoint, &device)?;
    let Some(bank) = generator.clue_bank() else {
        anyhow::bail!(
            "{} was trained without clues (clues: off): nothing to probe",
            args.checkpoint.display()
        );
    };
    let config = generator.config();
    let run = RunDir::new(&args.checkpoint);
    let vocab = match config.base {
        None => Some(run.read_vocab()?),
        Some(_) => None,
    };
    let data = RunData::load(&args.data_dir, config, vocab)?;
    let (split, split_name) = match args.split {
        ProbeSplit::Train => (&data.train, "training"),
        ProbeSplit::Val => (&data.val, "validation"),
        ProbeSplit::Test => (&data.test, "test"),
    };
    let batcher = ReportBatcher::new(config.image.clone(), false, data.reports.pad_id())?;
    let batch = config.batch_size;
    let model = generator.model();
    eprintln!(
        "fitting the probes on {} training studies ...",
        data.train.items().len()
    );
    let clue = perception_aucs(model, split, &batcher, batch, bank, &device)?.clue;
    let probe = feature_probe(model, &data.train, split, &batcher, batch, bank, &device)?;
    let rows: Vec<Row> = bank
        .names
        .iter()
        .filter_map(|name| {
            Some(Row {
                observation: name.clone(),
                clue: *clue.get(name)?,
                probe: probe.get(name)?.clone(),
            })
        })
        .collect();
    let kind = if data.synthetic { "SYNTHETIC " } else { "" };
    println!(
        "Perception of {} on the {kind}{} split ({} studies): AUC per observation, present \
         against the rest; the probes are logistic regressions on the run's encoder features, \
         fitted on the training split\n",
        args.checkpoint.display(),
        split_name,
        split.items().len(),
    );
    println!("| observation | clue logits | probe, view mean | probe, views | probe, patch grid |");
    println!("|---|---|---|---|---|");
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.observation,
            fmt(r.clue),
            fmt(r.probe.pooled),
            fmt(r.probe.views),
            fmt(r.probe.patches)
        );
    }
    let mean = |f: &dyn Fn(&Row) -> Option<f64>| {
        let v: Vec<f64> = rows.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    println!(
        "| **mean** | {} | {} | {} | {} |",
        fmt(mean(&|r| r.clue)),
        fmt(mean(&|r| r.probe.pooled)),
        fmt(mean(&|r| r.probe.views)),
        fmt(mean(&|r| r.probe.patches))
    );
    if let Some(path) = &args.out {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "observation": r.observation,
                    "clue": r.clue,
                    "probe": r.probe,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&json)?;
        trrg_core::io::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("written: {}", path.display());
    }
    Ok(())
}
