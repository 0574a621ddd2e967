//! A pooled image embedding from any supported visual checkpoint: a HF ViT or Swin directory
//! (`config.json` + safetensors) or an EfficientNet-Lite0 `.pth` (`scripts/fetch-assets.sh`):
//!
//! ```text
//! cargo run --release --example embed_image -- \
//!     --model .assets/efficientnet/efficientnet-lite0-57934424.pth \
//!     --image crates/vision/tests/fixtures/chelsea_224.png
//! ```
//!
//! Preprocessing follows the directory's `preprocessor_config.json` (resize, rescale, normalize)
//! as HF's image processor does. Without one: ViT/Swin take HF's defaults (the config's image
//! size, 1/255, mean and std 0.5); EfficientNet-Lite0 takes its TF-Lite input, 224x224 bicubic
//! and `(pixel - 127) / 128`.
//!
//! Options: `--model PATH` `--image FILE` `[--json]`: `{"embeddings": [[f32, ...]],
//! "last_hidden_state_shape": [..]}` (HF's shape: ViT counts its CLS token) so other tools can
//! compare. The embedding is the global token: ViT's CLS, Swin's and EfficientNet's average
//! pooling.

use std::path::PathBuf;

use anyhow::{bail, Context};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::json;
use trrg::backend::{device, Backend};
use trrg_core::data::HfImageProcessor;
use trrg_core::vision::{VisionEncoder, VisionEncoderConfig};

fn main() -> anyhow::Result<()> {
    let (mut model, mut image, mut json_out) = (None, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = Some(PathBuf::from(args.next().context("--model needs a PATH")?)),
            "--image" => image = Some(PathBuf::from(args.next().context("--image needs a FILE")?)),
            "--json" => json_out = true,
            other => bail!("unknown argument `{other}` (--model PATH --image FILE [--json])"),
        }
    }
    let model = model.context("--model PATH is required")?;
    let image = image.context("--image FILE is required")?;
    let device = device()?;
    let (encoder, config) = VisionEncoder::<Backend>::from_pretrained(&model, &device)?;
    let side = config.image_size();
    let processor_path = model.join("preprocessor_config.json");
    let processor = if processor_path.is_file() {
        HfImageProcessor::from_json(&processor_path)?
    } else if let VisionEncoderConfig::EfficientNet(_) = config {
        HfImageProcessor {
            resample: 3,
            do_rescale: false,
            image_mean: vec![127.0; 3],
            image_std: vec![128.0; 3],
            ..Default::default()
        }
    } else {
        HfImageProcessor {
            size: json!({"height": side, "width": side}),
            ..Default::default()
        }
    };
    let (pixels, [c, h, w]) = processor.apply(&image)?;
    let images = Tensor::<Backend, 4>::from_data(TensorData::new(pixels, [1, c, h, w]), &device);
    let out = encoder.forward_features(images)?;
    let [b, n, d] = out.patch_tokens.dims();
    let n = if let VisionEncoderConfig::Vit(_) = config {
        n + 1
    } else {
        n
    };
    let global = out
        .global
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if json_out {
        println!(
            "{}",
            json!({"embeddings": [global], "last_hidden_state_shape": [b, n, d]})
        );
    } else {
        let head: Vec<String> = global.iter().take(4).map(|v| format!("{v:.4}")).collect();
        println!(
            "{} -> [{}, ...] ({d} dims; {n} tokens of the last hidden state)",
            image.display(),
            head.join(", ")
        );
    }
    Ok(())
}
