//! `trrg`: the command-line tool, as a library so that the main job (`examples/train_iu_xray.rs`)
//! runs `trrg train`'s own flags and code ([`train::main_job`]).

pub mod eval;
pub mod export;
pub mod generate;
pub mod inspect;
pub mod label;
pub mod obey;
pub mod predict;
pub mod probe;
pub mod serve;
pub mod synth;
pub mod train;

use clap::{Parser, Subcommand};

/// TRRG: truthful radiology report generation on Burn.
#[derive(Parser, Debug)]
#[command(name = "trrg", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a synthetic two-view chest X-ray dataset (R2Gen layout) with truthful reports.
    #[command(after_help = "Examples:\n  trrg synth --out data/synth --studies 1200 --seed 7")]
    Synth(synth::SynthArgs),
    /// Score generated reports against references: BLEU-1..4, ROUGE-L, CIDEr (pycocoevalcap-equal)
    /// and clinical efficacy.
    #[command(
        after_help = "Examples:\n  trrg eval --pairs pairs.json --ce r2gen --per-example\n  trrg eval --predictions preds/predictions.jsonl"
    )]
    Eval(eval::EvalArgs),
    /// Label reports with the 14 CheXpert observations ("CheXpert-style rules (trrg)").
    #[command(after_help = "Examples:\n  trrg label --reports reports.json > labels.json")]
    Label(label::LabelArgs),
    /// Train TRRG (stage 1 and stage 2) and evaluate the best checkpoint on the test split.
    #[command(
        after_help = "Examples:\n  trrg train --out runs/main\n  trrg train --out runs/probe --set stage2.epochs=0\n  trrg train --out runs/main --resume"
    )]
    Train(train::TrainArgs),
    /// Write the report of one study with a trained run, with per-disease clue probabilities.
    #[command(
        after_help = "Examples:\n  trrg generate --checkpoint runs/main frontal.png lateral.png\n  trrg generate --checkpoint export/ --json study/frontal.dcm study/lateral.dcm"
    )]
    Generate(generate::GenerateArgs),
    /// Write the reports of a dataset split or of image files with a trained run, batched:
    /// `predictions.jsonl`, and `metrics.json` where references exist.
    #[command(
        after_help = "Examples:\n  trrg predict --checkpoint runs/main --data-dir data/synth --split test --out preds\n  trrg predict --checkpoint export/ --out preds study1/ study2/"
    )]
    Predict(predict::PredictArgs),
    /// The obedience probe: on normal studies, force each clue on (the others off), then all
    /// off, and count how often the reports state the forced finding and any other.
    #[command(
        after_help = "Examples:\n  trrg obey --checkpoint runs/main --data-dir data/synth --out obey.json"
    )]
    Obey(obey::ObeyArgs),
    /// The perception probe of a trained run: per observation, the AUC of its clue logits
    /// beside logistic regressions on its encoder's features (fitted on the training split),
    /// which tells the encoder from the clue heads as the bottleneck.
    #[command(
        after_help = "Examples:\n  trrg probe --checkpoint runs/main --data-dir data/synth --split test"
    )]
    Probe(probe::ProbeArgs),
    /// Export a trained run as a self-contained directory: safetensors with the LLM in HF Llama
    /// layout (LoRA in PEFT layout), config, tokenizers, disease set, thresholds, model card.
    #[command(after_help = "Examples:\n  trrg export --checkpoint runs/main --out export/")]
    Export(export::ExportArgs),
    /// Serve a trained run over HTTP: a JSON API (POST the views, get the report, clue
    /// probabilities and evidence maps) and a one-page web demo. Listens on loopback by default.
    #[command(
        after_help = "Examples:\n  trrg serve --checkpoint runs/main\n  trrg serve --checkpoint export/ --addr 0.0.0.0:8080"
    )]
    Serve(serve::ServeArgs),
    /// Show the architecture, parameters and dtypes of a trrg run, export or `.mpk`
    /// checkpoint, or of a pretrained checkpoint and whether every tensor maps onto trrg's model
    /// (naming any that do not).
    #[command(
        after_help = "Examples:\n  trrg inspect runs/main\n  trrg inspect runs/main/checkpoints/stage2-epoch008.model.mpk --tensors\n  trrg inspect ~/models/SmolLM2-135M"
    )]
    Inspect(inspect::InspectArgs),
}

/// Reads a JSON input file as UTF-8 text, with errors that name the file.
fn read_utf8(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// Runs the `trrg` command line; on failure one `error: ...` line and exit status 1.
pub fn main() {
    restore_sigpipe();
    trrg_core::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => synth::run(args),
        Command::Label(args) => label::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Train(args) => train::run(args, None),
        Command::Generate(args) => generate::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Obey(args) => obey::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Export(args) => export::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Inspect(args) => inspect::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {}", trrg_core::error_line(e.as_ref()));
        std::process::exit(1);
    }
}

/// Restores SIGPIPE's default action (Rust ignores it, so printing into a closed pipe, as in
/// `trrg label ... | head`, would panic); the process then ends quietly, as other tools do.
pub fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default at startup, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
