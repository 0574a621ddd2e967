use std::time::Instant;
use burn::prelude::*;
use burn::tensor::Distribution;
use trrg::backend::{device, TrainBackend as A};
use trrg_model::TrrgConfig;

fn main() {
    let d = device();
    let cfg = TrrgConfig::tiny(200);
    let model = cfg.init::<A>(&d).unwrap();
    let images = Tensor::<A, 5>::random([16, 2, 1, 128, 128], Distribution::Normal(0.0, 1.0), &d);
    // vision only
    for _ in 0..2 {
        let t = Instant::now();
        let out = model.vision.forward_features(images.clone().reshape([32, 1, 128, 128])).unwrap();
        let loss = out.patch_tokens.mean() + out.global.mean();
        let _g = loss.backward();
        println!("vision fwd+bwd 32 imgs: {:.3}s", t.elapsed().as_secs_f64());
    }
    let ids = Tensor::<A, 2, Int>::random([16, 50], Distribution::Uniform(1.0, 199.0), &d);
    let mask = Tensor::<A, 2, Int>::ones([16, 50], &d).bool();
    for _ in 0..2 {
        let t = Instant::now();
        let emb = model.llm.embed(ids.clone());
        let soft = Tensor::<A, 3>::random([16, 28, 192], Distribution::Normal(0.0, 1.0), &d);
        let e = Tensor::cat(vec![soft, emb], 1);
        let m = Tensor::cat(vec![trrg_core::llm::real_mask::<A>(16, 28, &d), mask.clone()], 1);
        let logits = model.llm.forward_embeds(e, m, None).unwrap();
        let loss = logits.mean();
        let _g = loss.backward();
        println!("llm fwd+bwd 16x78: {:.3}s", t.elapsed().as_secs_f64());
    }
    let bank_pos = Tensor::<A, 2>::random([14, 128], Distribution::Normal(0.0, 1.0), &d);
    let prompts = trrg_core::clue::PromptEmbeddings { positive: bank_pos.clone(), negative: bank_pos };
    let bank = trrg_model::ClueBank { names: vec!["x".into(); 14], prompts, label_columns: vec![None; 14] };
    for _ in 0..2 {
        let t = Instant::now();
        let out = model.forward_train(images.clone(), ids.clone(), mask.clone(), mask.clone(), None, Some(&bank)).unwrap();
        let _g = out.loss.backward();
        println!("full fwd+bwd: {:.3}s", t.elapsed().as_secs_f64());
    }
}
