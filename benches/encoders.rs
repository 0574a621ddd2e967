//! Encoder forward throughput on the CPU backend, random weights at the real shapes:
//! ViT-B/16 and Swin-T on 224 px images (batch 8) and BERT-base on 64-token sentences (batch 8).
//! `benches/reference/time_encoders.py` times PyTorch on the same shapes.
//!
//! `cargo bench --bench encoders`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trrg::backend::{device, Backend};
use trrg_core::text::BertConfig;
use trrg_core::vision::{SwinConfig, VisionEncoderConfig, VitConfig};

const BATCH: usize = 8;

fn bench(c: &mut Criterion) {
    let device = device().expect("TRRG_DEVICE");
    let mut group = c.benchmark_group("encoder_forward_batch8");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    let images = Tensor::<Backend, 4>::random([BATCH, 3, 224, 224], Distribution::Default, &device);
    for (name, config) in [
        (
            "vit_b16_224",
            VisionEncoderConfig::Vit(VitConfig::base_patch16_224()),
        ),
        (
            "swin_t_224",
            VisionEncoderConfig::Swin(SwinConfig::tiny_patch4_window7_224()),
        ),
    ] {
        let encoder = config.init::<Backend>(&device).expect("valid config");
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = encoder.forward_features(images.clone()).expect("forward");
                out.global.into_data()
            })
        });
    }
    let bert = BertConfig::new(30522)
        .init::<Backend>(&device)
        .expect("valid config");
    let ids = Tensor::<Backend, 2, Int>::random(
        [BATCH, 64],
        Distribution::Uniform(1.0, 30000.0),
        &device,
    );
    let mask = Tensor::<Backend, 2, Bool>::from_data(
        burn::tensor::TensorData::new(vec![true; BATCH * 64], [BATCH, 64]),
        &device,
    );
    group.bench_function("bert_base_64tok", |b| {
        b.iter(|| {
            bert.forward(ids.clone(), mask.clone())
                .expect("forward")
                .into_data()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
