//! `trrg inspect`: what trrg's own files (a run, an export, a checkpoint) hold, and what a
//! pretrained checkpoint holds and whether trrg can load all of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::module::Module;
use clap::Args;
use trrg_core::backend::{device, Backend};
use trrg_core::io::{TensorInfo, WeightFile};
use trrg_core::llm::{Gguf, LlamaForCausalLM};
use trrg_core::text::Bert;
use trrg_core::vision::VisionEncoder;

/// Arguments of `trrg inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A trrg run directory, a `trrg export` directory or a run's `.model.mpk` checkpoint; a
    /// HF checkpoint directory (`config.json` + safetensors or `pytorch_model.bin`: ViT, Swin,
    /// BERT, LLaMA-family), a Hub model id (`org/name`) in the local Hugging Face cache, an
    /// EfficientNet-Lite0 `.pth` state dict, or a `.gguf` LLM.
    checkpoint: PathBuf,
    /// Also list every tensor with its dtype and shape.
    #[arg(long)]
    tensors: bool,
}

/// What the loader made of the checkpoint: architecture, its config, the model's parameter
/// count, or the loader's error (which names the tensor it could not map).
struct Mapping {
    architecture: String,
    config: String,
    loaded: Result<usize>,
}

fn count<M: Module<Backend>>(model: &M) -> usize {
    model.num_params()
}

fn model_type(dir: &Path) -> Result<String> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (a checkpoint directory needs it)",
            path.display()
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(json["model_type"]
        .as_str()
        .unwrap_or("(missing)")
        .to_string())
}

fn map_dir(dir: &Path) -> Result<Mapping> {
    let device = device()?;
    let kind = model_type(dir)?;
    Ok(match kind.as_str() {
        "vit" | "swin" => {
            let loaded = VisionEncoder::<Backend>::from_pretrained(dir, &device);
            Mapping {
                architecture: format!(
                    "{} visual encoder (HF model_type \"{kind}\")",
                    if kind == "vit" { "ViT" } else { "Swin" }
                ),
                config: config_line(&loaded.as_ref().ok().map(|(_, c)| c)),
                loaded: loaded.map(|(m, _)| count(&m)).map_err(Into::into),
            }
        }
        "bert" => {
            let loaded = Bert::<Backend>::from_pretrained(dir, &device);
            Mapping {
                architecture: "BERT text encoder (HF model_type \"bert\")".into(),
                config: config_line(&loaded.as_ref().ok().map(|(_, c)| c)),
                loaded: loaded.map(|(m, _)| count(&m)).map_err(Into::into),
            }
        }
        _ => {
            let loaded = LlamaForCausalLM::<Backend>::from_pretrained(dir, &device);
            Mapping {
                architecture: format!("LLaMA-family causal LM (HF model_type \"{kind}\")"),
                config: config_line(&loaded.as_ref().ok().map(|(_, c)| c)),
                loaded: loaded.map(|(m, _)| count(&m)).map_err(Into::into),
            }
        }
    })
}

fn config_line<C: std::fmt::Debug>(config: &Option<&C>) -> String {
    config.map_or_else(|| "(not parsed)".into(), |c| format!("{c:?}"))
}

/// Tensors of the checkpoint as stored.
fn describe(path: &Path) -> Result<Vec<TensorInfo>> {
    if path.is_dir() {
        return Ok(WeightFile::open_dir(path)?.describe());
    }
    match extension(path).as_str() {
        "pth" | "pt" | "bin" => Ok(WeightFile::open_pytorch(path)?.describe()),
        "safetensors" => Ok(WeightFile::open(path)?.describe()),
        other => bail!(
            "{}: unknown checkpoint kind `.{other}` (a directory, .pth/.pt, .safetensors or .gguf)",
            path.display()
        ),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_lowercase()
}

/// A GGUF's tensors as stored.
fn gguf_tensors(gguf: &Gguf) -> Vec<TensorInfo> {
    gguf.tensor_table()
        .into_iter()
        .map(|(name, shape, dtype)| TensorInfo { name, dtype, shape })
        .collect()
}

fn map_gguf(gguf: &Gguf) -> Result<Mapping> {
    let loaded = LlamaForCausalLM::<Backend>::from_opened_gguf(gguf, &device()?);
    Ok(Mapping {
        architecture: "LLaMA-family causal LM (GGUF, dequantized to f32)".into(),
        config: config_line(&loaded.as_ref().ok().map(|(_, c)| c)),
        loaded: loaded.map(|(m, _)| count(&m)).map_err(Into::into),
    })
}

fn map_file(path: &Path) -> Result<Mapping> {
    let device = device()?;
    Ok(match extension(path).as_str() {
        "pth" | "pt" => {
            let loaded = VisionEncoder::<Backend>::from_pretrained(path, &device);
            Mapping {
                architecture:
                    "EfficientNet-Lite0 visual encoder (PyTorch state dict, batch norm folded)"
                        .into(),
                config: config_line(&loaded.as_ref().ok().map(|(_, c)| c)),
                loaded: loaded.map(|(m, _)| count(&m)).map_err(Into::into),
            }
        }
        _ => Mapping {
            architecture: "unknown (a bare file: put it in a directory with its config.json)"
                .into(),
            config: "(none)".into(),
            loaded: Err(anyhow::anyhow!("no architecture to map the tensors onto")),
        },
    })
}

/// Prints what one of trrg's own files holds ([`trrg_core::run::inspect_trrg`]).
fn print_trrg(path: &Path, summary: &trrg_core::run::ModelSummary, tensors: bool) {
    println!("checkpoint:   {}", path.display());
    println!("format:       {}", summary.kind);
    println!("weights:      {}", summary.weights);
    for (i, line) in summary.architecture.iter().enumerate() {
        let label = if i == 0 { "architecture:" } else { "" };
        println!("{label:<13} {line}");
    }
    let dtypes: Vec<String> = summary
        .dtypes()
        .iter()
        .map(|(d, n)| format!("{d} x{n}"))
        .collect();
    println!(
        "parameters:   {} in {} tensors ({})",
        summary.n_values(),
        summary.params.len(),
        dtypes.join(", ")
    );
    if tensors {
        for (name, shape, dtype) in &summary.params {
            println!("  {name:<60} {dtype:<6} {shape:?}");
        }
    }
}

/// Runs `trrg inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let path = &trrg_core::io::resolve_model(&args.checkpoint)?;
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    if let Some(summary) = trrg_core::run::inspect_trrg::<Backend>(path, &device()?)? {
        print_trrg(path, &summary, args.tensors);
        return Ok(());
    }
    // A GGUF is opened once: its tensor table and the model come from the same map.
    let gguf = match extension(path).as_str() {
        "gguf" if !path.is_dir() => Some(Gguf::open(path)?),
        _ => None,
    };
    let tensors = match &gguf {
        Some(g) => gguf_tensors(g),
        None => describe(path)?,
    };
    let mut dtypes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut values = 0usize;
    for t in &tensors {
        *dtypes.entry(t.dtype.as_str()).or_default() += 1;
        values += t.shape.iter().product::<usize>();
    }
    let mapping = match &gguf {
        Some(g) => map_gguf(g)?,
        None if path.is_dir() => map_dir(path)?,
        None => map_file(path)?,
    };
    println!("checkpoint:   {}", path.display());
    println!("architecture: {}", mapping.architecture);
    println!("config:       {}", mapping.config);
    let dtypes: Vec<String> = dtypes.iter().map(|(d, n)| format!("{d} x{n}")).collect();
    println!(
        "tensors:      {} ({}), {values} values",
        tensors.len(),
        dtypes.join(", ")
    );
    if args.tensors {
        for t in &tensors {
            println!("  {:<60} {:<6} {:?}", t.name, t.dtype, t.shape);
        }
    }
    match mapping.loaded {
        Ok(params) => {
            println!("parameters:   {params} in the loaded model");
            println!("unmapped:     none (every tensor loaded or deliberately skipped)");
            Ok(())
        }
        Err(e) => bail!("could not map the checkpoint onto trrg's model: {e:#}"),
    }
}
