//! Text generation with a LLaMA-family checkpoint: a HF directory (`config.json`,
//! `model.safetensors` or shards, `tokenizer.json`) or a `.gguf` file.
//!
//! ```text
//! cargo run --release --example llm_generate -- --model .assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --prompt "Describe a normal chest X-ray." --chat --max-new 40
//! ```
//!
//! Options: `--model PATH` (or a Hub model id cached locally) `--prompt TEXT` | `--prompt-ids 1,2,3` `[--chat]` `[--max-new N]`
//! `[--beams K]` `[--repetition-penalty R]` `[--length-penalty L]` `[--json]`. Prints the
//! continuation and tokens/s; `--json` prints `{"prompt_ids", "generated_ids", "text"}`.
//!
//! `--load-only` loads the model and stops: it prints the parameter count, the model's size in
//! memory, the load time and the process's peak resident memory (Linux's `VmHWM`) as a multiple
//! of that size (docs/performance.md measures GGUF and safetensors loading with it).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::json;
use trrg::backend::{device, Backend};
use trrg::load_report;
use trrg_core::llm::{generate, ChatTemplate, GenerationConfig, Gguf, GgufLlama, LlamaForCausalLM};

struct Args {
    model: PathBuf,
    prompt: Option<String>,
    prompt_ids: Option<Vec<u32>>,
    chat: bool,
    max_new: usize,
    beams: usize,
    repetition_penalty: f64,
    length_penalty: f64,
    json: bool,
    load_only: bool,
}

fn parse() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        model: PathBuf::new(),
        prompt: None,
        prompt_ids: None,
        chat: false,
        max_new: 64,
        beams: 1,
        repetition_penalty: 1.0,
        length_penalty: 1.0,
        json: false,
        load_only: false,
    };
    let mut model = None;
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => model = Some(PathBuf::from(value()?)),
            "--prompt" => a.prompt = Some(value()?),
            "--prompt-ids" => {
                let ids = value()?
                    .split(',')
                    .map(|t| t.trim().parse::<u32>())
                    .collect::<Result<Vec<_>, _>>()
                    .context("--prompt-ids takes comma-separated token ids")?;
                a.prompt_ids = Some(ids);
            }
            "--chat" => a.chat = true,
            "--max-new" => a.max_new = value()?.parse().context("--max-new takes a number")?,
            "--beams" => a.beams = value()?.parse().context("--beams takes a number")?,
            "--repetition-penalty" => {
                a.repetition_penalty = value()?
                    .parse()
                    .context("--repetition-penalty takes a number")?
            }
            "--length-penalty" => {
                a.length_penalty = value()?
                    .parse()
                    .context("--length-penalty takes a number")?
            }
            "--json" => a.json = true,
            "--load-only" => a.load_only = true,
            "-h" | "--help" => {
                println!("usage: llm_generate --model PATH (--prompt TEXT | --prompt-ids 1,2,3) [--chat] [--max-new N] [--beams K] [--repetition-penalty R] [--length-penalty L] [--json]\n       llm_generate --model PATH --load-only");
                std::process::exit(0);
            }
            other => bail!("unknown option `{other}`"),
        }
    }
    // A Hub model id (`org/name`) is looked up in the local Hugging Face cache, offline.
    a.model = trrg_core::io::resolve_model(&model.context("--model PATH is required")?)?;
    if !a.load_only && a.prompt.is_none() == a.prompt_ids.is_none() {
        bail!("give exactly one of --prompt and --prompt-ids");
    }
    Ok(a)
}

fn run() -> anyhow::Result<()> {
    let args = parse()?;
    let device = device()?;
    let is_gguf = args.model.extension().is_some_and(|e| e == "gguf");
    let start = Instant::now();
    let (model, tokenizer, eos) = if is_gguf {
        // One open (a memory map) serves the tokenizer, the config and the weights.
        let gguf = Gguf::open(&args.model)?;
        let (model, _) = LlamaForCausalLM::<Backend>::from_opened_gguf(&gguf, &device)?;
        (model, Some(gguf.tokenizer()?), gguf.eos_token_id())
    } else {
        let (model, _) = LlamaForCausalLM::<Backend>::from_pretrained(&args.model, &device)?;
        let tok_path = args.model.join("tokenizer.json");
        let tokenizer = if tok_path.is_file() {
            Some(
                tokenizers::Tokenizer::from_file(&tok_path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?,
            )
        } else {
            None
        };
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(args.model.join("config.json"))?)?;
        (
            model,
            tokenizer,
            config["eos_token_id"].as_u64().map(|v| v as u32),
        )
    };
    if args.load_only {
        let dtype = model.model.embed_tokens.weight.val().dtype();
        let what = args.model.display().to_string();
        let seconds = start.elapsed().as_secs_f64();
        println!("{}", load_report(&what, model.num_params(), dtype, seconds));
        return Ok(());
    }
    let prompt_ids: Vec<u32> = match (&args.prompt_ids, &args.prompt) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => {
            let tokenizer = tokenizer
                .as_ref()
                .context("this checkpoint has no tokenizer: give --prompt-ids")?;
            let text = if args.chat {
                ChatTemplate::for_tokenizer(tokenizer).render(None, text)
            } else {
                text.clone()
            };
            tokenizer
                .encode(text, true)
                .map_err(|e| anyhow::anyhow!("tokenizing the prompt: {e}"))?
                .get_ids()
                .to_vec()
        }
        (None, None) => bail!("give --prompt or --prompt-ids"),
    };
    if let Some(&bad) = prompt_ids
        .iter()
        .find(|&&i| i as usize >= model.vocab_size())
    {
        bail!(
            "prompt id {bad} is outside the vocabulary ({} ids)",
            model.vocab_size()
        );
    }
    let n = prompt_ids.len();
    let tokens = Tensor::<Backend, 2, Int>::from_data(
        TensorData::new(prompt_ids.iter().map(|&i| i64::from(i)).collect(), [1, n]),
        &device,
    );
    let mask =
        Tensor::<Backend, 2, Bool>::from_data(TensorData::new(vec![true; n], [1, n]), &device);
    let generation = GenerationConfig::new()
        .with_max_new_tokens(args.max_new)
        .with_num_beams(args.beams)
        .with_repetition_penalty(args.repetition_penalty)
        .with_length_penalty(args.length_penalty)
        .with_eos_token_ids(eos.into_iter().collect());
    let start = Instant::now();
    let generated = generate(&model, model.embed(tokens), mask, &generation)?
        .pop()
        .context("one sequence")?;
    let seconds = start.elapsed().as_secs_f64();
    let text = tokenizer
        .as_ref()
        .map(|t| t.decode(&generated, true))
        .transpose()
        .map_err(|e| anyhow::anyhow!("decoding: {e}"))?
        .unwrap_or_default();
    if args.json {
        println!(
            "{}",
            json!({"prompt_ids": prompt_ids, "generated_ids": generated, "text": text})
        );
    } else {
        println!("{text}");
        eprintln!(
            "{} new tokens in {seconds:.2} s: {:.1} tokens/s (prompt {n} tokens, prefill included)",
            generated.len(),
            generated.len() as f64 / seconds
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
