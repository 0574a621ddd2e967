//! SmolLM2-135M greedy generation speed on the CPU backend: a 64-token prompt, exactly 128 new
//! tokens (EOS banned until then), batch 1 and 8, with the KV cache. The weights come from the
//! Q4_1 GGUF of `scripts/fetch-assets.sh`, dequantized to f32; or, when `TRRG_SMOLLM2_CONFIG`
//! names a directory with SmolLM2's `config.json` (as `scripts/gpu-check.sh` carries to a
//! machine without the assets), random weights of the same shape: speed does not depend on them.
//! `crates/llm/scripts/time_transformers.py` times transformers on the same setting.
//!
//! It first prints the load's peak resident memory as a multiple of the model's size.
//!
//! `cargo bench --bench llm`

use burn::prelude::*;
use burn::tensor::TensorData;
use criterion::{criterion_group, criterion_main, Criterion};
use trrg::backend::{device, Backend};
use trrg_core::data::assets_dir;
use trrg_core::llm::{generate_from_ids, GenerationConfig, LlamaConfig, LlamaForCausalLM};

fn bench(c: &mut Criterion) {
    let device = device().expect("TRRG_DEVICE");
    let start = std::time::Instant::now();
    let model = match std::env::var_os("TRRG_SMOLLM2_CONFIG") {
        Some(dir) => LlamaConfig::from_hf_json(std::path::Path::new(&dir).join("config.json"))
            .and_then(|config| config.init::<Backend>(&device))
            .unwrap_or_else(|e| panic!("TRRG_SMOLLM2_CONFIG: {e}")),
        None => {
            let path = assets_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
            LlamaForCausalLM::<Backend>::from_gguf(&path, &device)
                .unwrap_or_else(|e| {
                    panic!("this bench needs the SmolLM2 GGUF ({e}); run scripts/fetch-assets.sh")
                })
                .0
        }
    };
    // What loading cost, before anything else runs (docs/performance.md, loading memory).
    let dtype = model.model.embed_tokens.weight.val().dtype();
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "{}",
        trrg::load_report("SmolLM2-135M", model.num_params(), dtype, seconds)
    );
    let config = GenerationConfig::new()
        .with_max_new_tokens(128)
        .with_min_new_tokens(128)
        .with_eos_token_ids(vec![2]);
    let mut group = c.benchmark_group("smollm2_greedy_prompt64_new128");
    group.sample_size(10);
    for batch in [1usize, 8] {
        let ids: Vec<i64> = (0..batch * 64)
            .map(|i| 100 + (i as i64 * 37) % 9000)
            .collect();
        group.bench_function(format!("batch{batch}"), |b| {
            b.iter(|| {
                let tokens = Tensor::<Backend, 2, Int>::from_data(
                    TensorData::new(ids.clone(), [batch, 64]),
                    &device,
                );
                let mask = Tensor::<Backend, 2, Bool>::from_data(
                    TensorData::new(vec![true; batch * 64], [batch, 64]),
                    &device,
                );
                let out = generate_from_ids(&model, tokens, mask, &config).expect("generates");
                assert!(out.iter().all(|r| r.len() == 128));
                out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
