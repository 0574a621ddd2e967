//! trrg-vision against transformers and torch: tiny random ViT and Swin checkpoints written by
//! `scripts/make_tiny_encoders.py` must give HF's last hidden state and pooled output to 1e-4;
//! the real EfficientNet-Lite0 weights (`scripts/fetch-assets.sh`) must give the PyTorch port's
//! outputs (`scripts/make_efficientnet_golden.py`) to 1e-4 and call the committed cat a cat;
//! every parameter gets a gradient; burn's recorder round-trips; bad checkpoints fail with
//! errors that name the tensor.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::TensorData;
use serde_json::Value;
use trrg_testutil::{asset_for_test, GradCount};
use trrg_vision::{
    EfficientNet, EfficientNetConfig, SwinConfig, VisionEncoder, VisionEncoderConfig, VitConfig,
};

type B = Flex;
type A = Autodiff<Flex>;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("encoders_golden.json")).unwrap())
        .unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn dims<const D: usize>(v: &Value) -> [usize; D] {
    let d: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    d.try_into().unwrap()
}

fn max_diff(got: Vec<f32>, want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn check_against_transformers(name: &str, dir: &str) {
    let device = Default::default();
    let (encoder, _) = VisionEncoder::<B>::from_pretrained(fixture(dir), &device).unwrap();
    let golden = golden();
    let mut worst = 0f32;
    for (i, case) in golden[name]["cases"].as_array().unwrap().iter().enumerate() {
        let pixels = Tensor::<B, 4>::from_data(
            TensorData::new(
                floats(&case["pixel_values"]),
                dims::<4>(&case["pixel_shape"]),
            ),
            &device,
        );
        let out = encoder.forward_features(pixels).unwrap();
        assert_eq!(
            out.patch_tokens.dims(),
            dims::<3>(&case["patch_tokens_shape"])
        );
        let d_tokens = max_diff(
            out.patch_tokens.into_data().to_vec().unwrap(),
            &floats(&case["patch_tokens"]),
        );
        let d_global = max_diff(
            out.global.into_data().to_vec().unwrap(),
            &floats(&case["global"]),
        );
        println!(
            "{name} case {i} {:?}: max |diff| patch tokens {d_tokens:.2e}, global {d_global:.2e}",
            dims::<4>(&case["pixel_shape"])
        );
        worst = worst.max(d_tokens).max(d_global);
    }
    assert!(worst < 1e-4, "{name}: max |diff| {worst:.2e}");
}

#[test]
fn vit_matches_transformers() {
    check_against_transformers("vit", "tiny_vit");
}

#[test]
fn swin_matches_transformers() {
    check_against_transformers("swin", "tiny_swin");
}

fn tiny_configs() -> Vec<(VisionEncoderConfig, [usize; 4])> {
    vec![
        (
            VisionEncoderConfig::Vit(
                VitConfig::new()
                    .with_image_size(32)
                    .with_patch_size(8)
                    .with_hidden_size(16)
                    .with_num_hidden_layers(2)
                    .with_num_attention_heads(2)
                    .with_intermediate_size(32),
            ),
            [2, 1, 32, 32],
        ),
        (
            VisionEncoderConfig::Swin(
                SwinConfig::new()
                    .with_image_size(36)
                    .with_embed_dim(8)
                    .with_depths(vec![2, 2])
                    .with_num_heads(vec![2, 2])
                    .with_window_size(4),
            ),
            [2, 3, 36, 36],
        ),
        (
            VisionEncoderConfig::EfficientNet(EfficientNetConfig::new().with_num_classes(0)),
            [1, 1, 40, 36],
        ),
    ]
}

#[test]
fn every_parameter_gets_a_gradient() {
    let device = Default::default();
    for (config, shape) in tiny_configs() {
        let encoder = config.init::<A>(&device).unwrap();
        let images =
            Tensor::<A, 4>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let out = encoder.forward_features(images).unwrap();
        let loss = out.patch_tokens.powi_scalar(2).mean() + out.global.sum();
        let grads = loss.backward();
        let check = GradCount::of::<A, _>(&encoder, &grads);
        assert!(check.with + check.without > 10, "{config:?}");
        assert!(
            check.without_grad.is_empty(),
            "{config:?}: no gradient for {:?}",
            check.without_grad
        );
    }
}

#[test]
fn recorder_round_trip_gives_identical_outputs() {
    type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;
    let device = Default::default();
    for (config, shape) in tiny_configs() {
        let encoder = config.init::<B>(&device).unwrap();
        let images = Tensor::<B, 4>::random(shape, burn::tensor::Distribution::Default, &device);
        let before = encoder.forward_features(images.clone()).unwrap();
        let bytes =
            Recorder::<B>::record(&Rec::default(), encoder.clone().into_record(), ()).unwrap();
        let fresh = config.init::<B>(&device).unwrap();
        let loaded =
            fresh.load_record(Recorder::<B>::load(&Rec::default(), bytes, &device).unwrap());
        let after = loaded.forward_features(images).unwrap();
        before
            .patch_tokens
            .into_data()
            .assert_eq(&after.patch_tokens.into_data(), true);
        before
            .global
            .into_data()
            .assert_eq(&after.global.into_data(), true);
    }
}

/// A copy of a fixture checkpoint with its config edited.
fn edited_checkpoint(dir: &str, tag: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let tmp = std::env::temp_dir().join(format!("trrg-vision-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(
        fixture(dir).join("model.safetensors"),
        tmp.join("model.safetensors"),
    )
    .unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(dir).join("config.json")).unwrap())
            .unwrap();
    edit(&mut config);
    std::fs::write(tmp.join("config.json"), config.to_string()).unwrap();
    tmp
}

fn load_error(dir: &Path) -> String {
    VisionEncoder::<B>::from_pretrained(dir, &Default::default())
        .expect_err("loading should fail")
        .to_string()
}

#[test]
fn bad_checkpoints_name_the_tensor() {
    let wider = edited_checkpoint("tiny_vit", "wider", |c| c["hidden_size"] = 48.into());
    let message = load_error(&wider);
    assert!(
        message.contains("embeddings.cls_token") && message.contains("shape"),
        "{message}"
    );

    let shallower = edited_checkpoint("tiny_swin", "shallower", |c| {
        c["depths"] = serde_json::json!([2, 1])
    });
    let message = load_error(&shallower);
    assert!(
        message.contains("encoder.layers.1.blocks.1") && message.contains("no place"),
        "{message}"
    );

    let unknown = edited_checkpoint("tiny_vit", "unknown", |c| {
        c["model_type"] = "convnext".into()
    });
    let message = load_error(&unknown);
    assert!(
        message.contains("model_type") && message.contains("convnext"),
        "{message}"
    );

    let missing = load_error(&fixture("no_such_checkpoint"));
    assert!(missing.contains("no_such_checkpoint"), "{missing}");
    for dir in [wider, shallower, unknown] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn swin_rejects_maps_smaller_than_the_window() {
    let device = Default::default();
    let (encoder, _) = VisionEncoder::<B>::from_pretrained(fixture("tiny_swin"), &device).unwrap();
    let err = encoder
        .forward_features(Tensor::zeros([1, 3, 12, 12], &device))
        .expect_err("a 3x3 map in a 4-token window")
        .to_string();
    assert!(err.contains("smaller than the 4-token window"), "{err}");
}

/// The golden script's fixed input: `x[c, h, w] = sin(0.05 h + 0.07 w + 1.3 c)`.
fn fixed_input(device: &burn::tensor::Device<B>) -> Tensor<B, 4> {
    let mut values = Vec::with_capacity(3 * 224 * 224);
    for c in 0..3 {
        for h in 0..224 {
            for w in 0..224 {
                values.push((0.05 * h as f64 + 0.07 * w as f64 + 1.3 * c as f64).sin() as f32);
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [1, 3, 224, 224]), device)
}

#[test]
fn real_efficientnet_lite0_matches_torch() {
    let Some(weights) = asset_for_test("efficientnet/efficientnet-lite0-57934424.pth") else {
        return;
    };
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("efficientnet_lite0_golden.json")).unwrap(),
    )
    .unwrap();
    let device = Default::default();
    let (encoder, _) = VisionEncoder::<B>::from_pretrained(&weights, &device).unwrap();
    let VisionEncoder::EfficientNet(net) = encoder else {
        panic!("a .pth file loads as EfficientNet");
    };
    let out = net.forward_features(fixed_input(&device)).unwrap();
    assert_eq!(out.patch_tokens.dims(), [1, 49, 1280]);
    let first = out
        .patch_tokens
        .narrow(1, 0, 1)
        .into_data()
        .to_vec()
        .unwrap();
    let logits = net.classify(fixed_input(&device)).unwrap();
    let diffs = [
        max_diff(first, &floats(&golden["first_patch_token"])),
        max_diff(
            out.global.into_data().to_vec().unwrap(),
            &floats(&golden["global"]),
        ),
        max_diff(
            logits.into_data().to_vec().unwrap(),
            &floats(&golden["logits"]),
        ),
    ];
    println!(
        "EfficientNet-Lite0 vs torch, max |diff|: first patch token {:.2e}, global {:.2e}, logits {:.2e}",
        diffs[0], diffs[1], diffs[2]
    );
    assert!(diffs.iter().all(|&d| d < 1e-4), "{diffs:?}");

    // Chelsea the cat (CC0), normalized as the TF-Lite models expect: (pixel - 127) / 128.
    let image = image::open(fixture("chelsea_224.png")).unwrap().to_rgb8();
    let mut pixels = vec![0f32; 3 * 224 * 224];
    for (x, y, p) in image.enumerate_pixels() {
        for c in 0..3 {
            pixels[c * 224 * 224 + y as usize * 224 + x as usize] = (p[c] as f32 - 127.0) / 128.0;
        }
    }
    let probs = burn::tensor::activation::softmax(
        net.classify(Tensor::from_data(
            TensorData::new(pixels, [1, 3, 224, 224]),
            &device,
        ))
        .unwrap(),
        1,
    )
    .into_data()
    .to_vec::<f32>()
    .unwrap();
    let mut ranked: Vec<usize> = (0..probs.len()).collect();
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let want: Vec<usize> =
        serde_json::from_value(golden["chelsea_top5"]["classes"].clone()).unwrap();
    let want_p = floats(&golden["chelsea_top5"]["probabilities"]);
    println!(
        "chelsea_224.png top-5: {:?} p {:?} (torch {want:?})",
        &ranked[..5],
        ranked[..5].iter().map(|&k| probs[k]).collect::<Vec<_>>()
    );
    assert_eq!(&ranked[..5], &want[..]);
    for (k, p) in want.iter().zip(&want_p) {
        assert!((probs[*k] - p).abs() < 1e-4);
    }
    // ImageNet 281 tabby, 282 tiger cat, 285 Egyptian cat.
    assert!([281, 282, 285].contains(&ranked[0]), "top-1 {}", ranked[0]);
}

#[test]
fn pytorch_checkpoint_errors_name_the_file() {
    let device = Default::default();
    let bogus = std::env::temp_dir().join(format!("trrg-vision-{}-bogus.pth", std::process::id()));
    std::fs::write(&bogus, b"not a pickle").unwrap();
    let err = EfficientNet::<B>::from_pytorch(&bogus, &EfficientNetConfig::new(), &device)
        .expect_err("a bogus file")
        .to_string();
    assert!(err.contains("bogus.pth"), "{err}");
    std::fs::remove_file(bogus).unwrap();
    let err = VisionEncoder::<B>::from_pretrained(fixture("missing.pth"), &device)
        .expect_err("a missing file")
        .to_string();
    assert!(err.contains("missing.pth"), "{err}");
}
