//! `trrg export`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use trrg_core::backend::{device, Backend};
use trrg_core::run::export_run;

/// Arguments of `trrg export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory written by `trrg train` or the `train_iu_xray` example.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output directory (created): safetensors (the LLM in HF Llama layout under `llm/`, LoRA
    /// adapters in PEFT layout), config, tokenizers, disease set, clue thresholds, model card.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `trrg export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let summary = export_run::<Backend>(&args.checkpoint, &args.out, &device()?)?;
    println!(
        "exported {} (checkpoint {}, {} data) to {}: llm/ in HF Llama layout ({} tensors{}), \
         model.safetensors ({} tensors), README.md model card",
        summary.info.source_run,
        summary.info.checkpoint,
        summary.info.provenance,
        args.out.display(),
        summary.llm_tensors,
        if summary.lora {
            ", LoRA adapters in PEFT layout"
        } else {
            ""
        },
        summary.model_tensors,
    );
    Ok(())
}
