//! Sentence embeddings (mean-pooled) from any BERT checkpoint directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`), e.g. all-MiniLM-L6-v2 from `scripts/fetch-assets.sh`:
//!
//! ```text
//! cargo run --release --example embed_text -- --model .assets/minilm --normalize \
//!     --text "No acute cardiopulmonary process." "The heart is enlarged."
//! ```
//!
//! Options: `--model DIR` `--text T...` `[--normalize]` (L2, as sentence-transformers' `Normalize`)
//! `[--max-len N]` (default 128) `[--json]`: `{"embeddings": [[f32, ...], ...],
//! "last_hidden_state_shape": [batch, seq_len, d]}` so other tools can compare.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;
use trrg::backend::{device, Backend};
use trrg_core::data::{HfReportTokenizer, SpecialTokens};
use trrg_core::model::sentence_batch;
use trrg_core::text::{mean_pool, Bert};

fn main() -> anyhow::Result<()> {
    let mut model = None;
    let mut texts = Vec::new();
    let (mut normalize, mut json_out, mut max_len) = (false, false, 128usize);
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = Some(PathBuf::from(args.next().context("--model needs a DIR")?)),
            "--text" => {
                while let Some(t) = args.next_if(|a| !a.starts_with("--")) {
                    texts.push(t);
                }
            }
            "--normalize" => normalize = true,
            "--json" => json_out = true,
            "--max-len" => {
                max_len = args
                    .next()
                    .context("--max-len needs N")?
                    .parse()
                    .context("--max-len needs a whole number")?
            }
            other => bail!("unknown argument `{other}` (--model DIR --text T... [--normalize] [--max-len N] [--json])"),
        }
    }
    let model = model.context("--model DIR is required")?;
    if texts.is_empty() {
        bail!("--text needs at least one sentence");
    }
    let device = device()?;
    let (bert, _) = Bert::<Backend>::from_pretrained(&model, &device)?;
    let specials = SpecialTokens {
        bos: "[CLS]".into(),
        eos: "[SEP]".into(),
        pad: "[PAD]".into(),
    };
    let tokenizer = HfReportTokenizer::from_file(model.join("tokenizer.json"), &specials)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = sentence_batch::<Backend>(&tokenizer, &refs, max_len, &device)?;
    let hidden = bert.forward(batch.token_ids, batch.attention_mask.clone())?;
    let shape = hidden.dims();
    let embeddings = mean_pool(hidden, batch.attention_mask, normalize);
    let d = shape[2];
    let values = embeddings
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows: Vec<&[f32]> = values.chunks(d).collect();
    if json_out {
        println!(
            "{}",
            json!({"embeddings": rows, "last_hidden_state_shape": shape})
        );
    } else {
        for (text, row) in texts.iter().zip(&rows) {
            let head: Vec<String> = row.iter().take(4).map(|v| format!("{v:.4}")).collect();
            println!("{text:?} -> [{}, ...] ({d} dims)", head.join(", "));
        }
    }
    Ok(())
}
