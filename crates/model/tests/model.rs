//! Shape, masking, gradient and generation invariants of `Trrg` on a micro configuration.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use trrg_clue::DiseaseLabels;
use trrg_clue::{Disease, DiseaseSet};
use trrg_interact::InteractionConfig;
use trrg_kernels::TrrgOps;
use trrg_llm::{GenerationConfig, LlamaConfig};
use trrg_model::{
    BatchLabels, ClueMode, ClueOptions, Trrg, TrrgConfig, VisionEncoderConfig, VitConfig,
};
use trrg_text::BertConfig;
use trrg_tokenize::{ReportTokenizer, WordVocab};

type B = Flex;
type A = Autodiff<Flex>;

const VOCAB: usize = 40;

fn config(clues: ClueMode) -> TrrgConfig {
    TrrgConfig::new(
        VisionEncoderConfig::Vit(
            VitConfig::tiny()
                .with_image_size(32)
                .with_patch_size(8)
                .with_conv_stem(vec![4, 8])
                .with_hidden_size(32)
                .with_num_hidden_layers(1)
                .with_intermediate_size(64),
        ),
        BertConfig::tiny(VOCAB)
            .with_hidden_size(32)
            .with_num_hidden_layers(1)
            .with_intermediate_size(64),
        LlamaConfig::new(VOCAB, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .with_max_position_embeddings(128),
        InteractionConfig::new(32)
            .with_n_layers(1)
            .with_dropout(0.0),
    )
    .with_d_embed(16)
    .with_llm_patch_grid(2)
    // Teacher forcing off and blank labels ignored: these tests check what perception and the
    // clue path compute on the labels as given. Clue words off: the prefix layouts below are
    // the ones without them (`clue_words_...` turns them on).
    .with_clue(ClueOptions {
        mode: clues,
        teacher_forcing: 0.0,
        words: false,
        consistency_blank: trrg_clue::BlankLabel::Ignore,
        ..ClueOptions::default()
    })
}

/// `config` with its clue options changed by `f`.
fn with_clue(mut config: TrrgConfig, f: impl FnOnce(&mut ClueOptions)) -> TrrgConfig {
    f(&mut config.clue);
    config
}

/// The error of building the full-clue model with `f` applied to its clue options.
fn init_error(f: impl FnOnce(&mut ClueOptions)) -> String {
    with_clue(config(ClueMode::Full), f)
        .init::<B>(&Default::default())
        .unwrap_err()
        .to_string()
}

fn vocab() -> WordVocab {
    WordVocab::build(
        ["there is no effusion heart normal big lung clear nodule present"],
        1,
    )
}

/// `sentences` as the test vocabulary encodes them (8 tokens at most), padded into one batch.
fn encode<B: TrrgOps>(sentences: &[&str], device: &B::Device) -> trrg_text::SentenceBatch<B> {
    let vocab = vocab();
    let rows = vocab.encode_all(sentences, 8).unwrap();
    trrg_text::SentenceBatch::from_rows(&rows, vocab.pad_id(), device).unwrap()
}

fn diseases(n: usize) -> DiseaseSet {
    DiseaseSet {
        name: format!("{n} test diseases"),
        diseases: (0..n)
            .map(|i| Disease {
                name: if i == 0 {
                    "Cardiomegaly".into()
                } else {
                    format!("d{i}")
                },
                positive: vec![format!(
                    "there is {}",
                    ["effusion", "nodule", "big heart"][i % 3]
                )],
                negative: vec!["no effusion".into(), "heart normal".into()],
            })
            .collect(),
    }
}

fn images<BB: TrrgOps>(batch: usize, views: usize) -> Tensor<BB, 5> {
    Tensor::random(
        [batch, views, 1, 32, 32],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    )
}

use trrg_testutil::max_diff;

#[test]
fn prefix_shapes_for_any_number_of_clues_and_views() {
    let device = Default::default();
    let model: Trrg<B> = config(ClueMode::Full).init(&device).unwrap();
    for views in [1, 2] {
        for n in [0, 1, 14, 18] {
            let bank = model.clue_bank(&diseases(n), &vocab(), 8).unwrap();
            let prefix = model.prefix(images(3, views), Some(&bank)).unwrap();
            // <img> + views global + views * 2x2 patches + </img> + <clue> + n + </clue>
            assert_eq!(
                prefix.embeds.dims(),
                [3, 2 + views * 5 + 2 + n, 32],
                "views {views}, n {n}"
            );
            assert_eq!(prefix.clue_logits.unwrap().dims(), [3, n]);
        }
    }
    let off: Trrg<B> = config(ClueMode::Off).init(&device).unwrap();
    let prefix = off.prefix(images(2, 2), None).unwrap();
    assert_eq!(prefix.embeds.dims(), [2, 12, 32]);
    assert!(prefix.clue_logits.is_none());
    assert!(model
        .prefix(images(2, 3), None)
        .unwrap_err()
        .to_string()
        .contains("3 views"));
    assert!(model
        .prefix(images(2, 2), None)
        .unwrap_err()
        .to_string()
        .contains("no disease set"));
}

#[test]
fn batch_of_one_equals_its_row_of_a_batch() {
    let device = Default::default();
    let model: Trrg<B> = config(ClueMode::Full).init(&device).unwrap();
    let bank = model.clue_bank(&diseases(14), &vocab(), 8).unwrap();
    let batch = images::<B>(4, 2);
    let all = model.prefix(batch.clone(), Some(&bank)).unwrap();
    let one = model.prefix(batch.narrow(0, 2, 1), Some(&bank)).unwrap();
    assert!(max_diff(all.embeds.narrow(0, 2, 1), one.embeds) < 1e-5);
    assert!(
        max_diff(
            all.clue_logits.unwrap().narrow(0, 2, 1),
            one.clue_logits.unwrap()
        ) < 1e-5
    );
}

#[test]
fn every_trainable_parameter_gets_a_gradient_under_each_ablation() {
    let device = Default::default();
    let labels = DiseaseLabels::<A> {
        values: Tensor::from_data(TensorData::new(vec![1.0f32; 2 * 14], [2, 14]), &device),
        known: Tensor::from_data(TensorData::new(vec![true; 2 * 14], [2, 14]), &device),
    };
    let ids = Tensor::<A, 2, Int>::from_data([[0, 3, 4, 5, 0], [0, 6, 7, 0, 0]], &device);
    let mask = Tensor::<A, 2, Bool>::from_data(
        [
            [true, true, true, true, true],
            [true, true, true, true, false],
        ],
        &device,
    );
    let targets = Tensor::<A, 2, Bool>::from_data(
        [
            [false, true, true, true, true],
            [false, true, true, true, false],
        ],
        &device,
    );
    for mode in [ClueMode::Full, ClueMode::NoInteraction, ClueMode::Off] {
        for consistency in [true, false] {
            for freeze_vision in [false, true] {
                let model: Trrg<A> = with_clue(config(mode), |c| c.consistency_loss = consistency)
                    .init(&device)
                    .unwrap();
                let bank = model.clue_bank(&diseases(3), &vocab(), 8).unwrap();
                let model = model.freeze_for_stage2(freeze_vision);
                let out = model
                    .forward_train(
                        images(2, 2),
                        ids.clone(),
                        mask.clone(),
                        targets.clone(),
                        Some((&labels).into()),
                        (mode != ClueMode::Off).then_some(&bank),
                    )
                    .unwrap();
                assert_eq!(
                    out.consistency_loss.is_some(),
                    consistency && mode != ClueMode::Off
                );
                let grads = out.loss.backward();
                let check = trrg_testutil::GradCount::of::<A, _>(&model, &grads);
                let what =
                    format!("{mode}, consistency {consistency}, frozen vision {freeze_vision}");
                assert!(check.trainable > 20, "{what}");
                assert_eq!(
                    check.missing, 0,
                    "{what}: {} of {} trainable parameters lack a gradient",
                    check.missing, check.trainable
                );
                assert_eq!(check.frozen_with_grad, 0, "{what}");
            }
        }
    }
}

#[test]
fn stage1_trains_the_encoders_and_the_alignment_head() {
    let device = Default::default();
    let model: Trrg<A> = config(ClueMode::Full).init(&device).unwrap();
    let sentences = encode(&["heart normal", "no effusion", "big heart"], &device);
    let positive =
        Tensor::<A, 2, Bool>::from_data([[true, true, false], [false, true, true]], &device);
    let out = model
        .contrastive(images(2, 2), &sentences, positive)
        .unwrap();
    let grads = out.loss.backward();
    let has = |p: &Param<Tensor<A, 2>>| p.val().grad(&grads).is_some();
    assert!(has(&model.align.image_proj.weight) && has(&model.align.text_proj.weight));
    assert!(has(&model.text.word_embeddings.weight));
    assert!(model.align.logit_scale.val().grad(&grads).is_some());
}

#[test]
fn generation_with_the_cache_equals_full_recomputation() {
    let device = Default::default();
    let model: Trrg<B> = config(ClueMode::Full).init(&device).unwrap();
    let bank = model.clue_bank(&diseases(5), &vocab(), 8).unwrap();
    let batch = images::<B>(2, 2);
    let config = GenerationConfig::new().with_max_new_tokens(6);
    let got = model
        .generate(batch.clone(), Some(&bank), &config, 0)
        .unwrap();
    let prefix = model.prefix(batch, Some(&bank)).unwrap().embeds;
    for (row, generation) in got.iter().enumerate() {
        let mut tokens = vec![0i64];
        for _ in 0..6 {
            let n = tokens.len();
            let ids =
                Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.clone(), [1, n]), &device);
            let embeds = Tensor::cat(
                vec![prefix.clone().narrow(0, row, 1), model.llm.embed(ids)],
                1,
            );
            let len = embeds.dims()[1];
            let logits = model
                .llm
                .forward_embeds(embeds, trrg_llm::real_mask(1, len, &device), None)
                .unwrap();
            let next = logits.narrow(1, len - 1, 1).argmax(2).into_scalar();
            tokens.push(next as i64);
        }
        let want: Vec<u32> = tokens[1..].iter().map(|&t| t as u32).collect();
        assert_eq!(generation.ids, want, "row {row}");
        assert_eq!(generation.clue_probabilities.len(), 5);
    }
}

/// A batch mixing disease sets: the union bank with per-row padding gives each row exactly what
/// a bank of that row's own diseases gives (losses, clue logits, generated reports).
#[test]
fn padded_clues_change_nothing_for_their_row() {
    let device = Default::default();
    let model: Trrg<B> = config(ClueMode::Full).init(&device).unwrap();
    let union = model.clue_bank(&diseases(14), &vocab(), 8).unwrap();
    // Row 0 lacks diseases 3 and 7, row 1 lacks disease 0 (Cardiomegaly).
    let mut padding = vec![false; 2 * 14];
    padding[3] = true;
    padding[7] = true;
    padding[14] = true;
    let padded = union
        .clone()
        .with_padding(Tensor::from_data(
            TensorData::new(padding, [2, 14]),
            &device,
        ))
        .unwrap();
    let rows: [Vec<usize>; 2] = [
        (0..14).filter(|i| ![3, 7].contains(i)).collect(),
        (1..14).collect(),
    ];
    let batch = images::<B>(2, 2);
    let ids = Tensor::<B, 2, Int>::from_data([[0, 3, 4, 5, 0], [0, 6, 7, 0, 0]], &device);
    let mask = Tensor::<B, 2, Bool>::from_data(
        [
            [true, true, true, true, true],
            [true, true, true, true, false],
        ],
        &device,
    );
    let labels = DiseaseLabels::<B> {
        values: Tensor::from_data(
            TensorData::new(
                (0..28).map(|i| (i % 3 == 0) as i32 as f32).collect(),
                [2, 14],
            ),
            &device,
        ),
        known: Tensor::from_data(TensorData::new(vec![true; 28], [2, 14]), &device),
    };
    let config = GenerationConfig::new().with_max_new_tokens(6);
    let generated = model
        .generate(batch.clone(), Some(&padded), &config, 0)
        .unwrap();
    for (row, keep) in rows.iter().enumerate() {
        let own = union.select(keep).unwrap();
        let one = |t: Tensor<B, 2, Int>| t.narrow(0, row, 1);
        let row_labels = DiseaseLabels::<B> {
            values: labels.values.clone().narrow(0, row, 1),
            known: labels.known.clone().narrow(0, row, 1),
        };
        let padded_bank = union
            .clone()
            .with_padding(padded.padding.clone().unwrap().narrow(0, row, 1))
            .unwrap();
        let run = |bank| {
            model
                .forward_train(
                    batch.clone().narrow(0, row, 1),
                    one(ids.clone()),
                    mask.clone().narrow(0, row, 1),
                    mask.clone().narrow(0, row, 1),
                    Some((&row_labels).into()),
                    Some(bank),
                )
                .unwrap()
        };
        let (a, b) = (run(&padded_bank), run(&own));
        assert!(max_diff(a.lm_loss, b.lm_loss) < 1e-6, "row {row} lm loss");
        assert!(
            max_diff(a.consistency_loss.unwrap(), b.consistency_loss.unwrap()) < 1e-6,
            "row {row} consistency"
        );
        let index = Tensor::<B, 1, Int>::from_data(
            TensorData::new(keep.iter().map(|&i| i as i64).collect(), [keep.len()]),
            &device,
        );
        assert!(
            max_diff(
                a.clue_logits.unwrap().select(1, index),
                b.clue_logits.unwrap()
            ) < 1e-6
        );
        let alone = model
            .generate(batch.clone().narrow(0, row, 1), Some(&own), &config, 0)
            .unwrap();
        assert_eq!(generated[row].ids, alone[0].ids, "row {row} report");
        let probs = &generated[row].clue_probabilities;
        let kept: Vec<f32> = keep.iter().map(|&i| probs[i]).collect();
        assert!(kept
            .iter()
            .zip(&alone[0].clue_probabilities)
            .all(|(x, y)| (x - y).abs() < 1e-6));
        assert_eq!(probs.iter().filter(|p| p.is_nan()).count(), 14 - keep.len());
    }
    let all_padded = union.clone().with_padding(Tensor::from_data(
        TensorData::new(vec![true; 14], [1, 14]),
        &device,
    ));
    assert!(all_padded
        .unwrap_err()
        .to_string()
        .contains("pads every clue"));
}

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// The `base` preset's code path on tiny real checkpoints (Swin, BERT, LLaMA fixtures of the
/// encoder and LLM crates): configs come from the checkpoints, and the loaded parts inside
/// `Trrg` compute exactly what the standalone loaders give.
#[test]
fn base_preset_loads_pretrained_parts() {
    use trrg_model::PretrainedPaths;
    let device = Default::default();
    let paths = PretrainedPaths {
        vision: fixture("vision/tests/fixtures/tiny_swin"),
        text: fixture("text/tests/fixtures/tiny_bert"),
        llm: fixture("llm/tests/fixtures/tiny_llama_untied"),
    };
    let mut config = TrrgConfig::base(&paths).unwrap();
    config.clue.words = false;
    assert!(matches!(config.vision, VisionEncoderConfig::Swin(_)));
    assert_eq!(config.text.hidden_size, 32);
    let model = Trrg::<B>::from_pretrained(&config, &paths, &device).unwrap();
    let (swin, _) =
        trrg_vision::VisionEncoder::<B>::from_pretrained(&paths.vision, &device).unwrap();
    let pixels = Tensor::<B, 4>::random([2, 3, 36, 36], Distribution::Default, &device);
    let inside = model.vision.forward_features(pixels.clone()).unwrap();
    let alone = swin.forward_features(pixels).unwrap();
    assert_eq!(max_diff(inside.patch_tokens, alone.patch_tokens), 0.0);
    let (llm, _) = trrg_llm::LlamaForCausalLM::<B>::from_pretrained(&paths.llm, &device).unwrap();
    let ids = Tensor::<B, 2, Int>::from_data([[1, 5, 9, 2]], &device);
    let mask = trrg_llm::real_mask(1, 4, &device);
    assert_eq!(
        max_diff(
            model
                .llm
                .forward_embeds(model.llm.embed(ids.clone()), mask.clone(), None)
                .unwrap(),
            llm.forward_embeds(llm.embed(ids), mask, None).unwrap()
        ),
        0.0
    );
    // All 25 patch tokens per view (5x5 after one merge of the 9x9 map) reach the LLM
    // (llm_patch_grid 0).
    let bank = model.clue_bank(&diseases(3), &vocab(), 8).unwrap();
    let prefix = model
        .prefix(
            Tensor::random([1, 2, 1, 36, 36], Distribution::Default, &device),
            Some(&bank),
        )
        .unwrap();
    assert_eq!(prefix.embeds.dims()[1], 2 + 2 * (1 + 25) + 2 + 3);
    // A config whose width disagrees with a checkpoint is refused, naming the part.
    let mut wrong = config.clone();
    wrong.text = wrong.text.with_hidden_size(64);
    let err = Trrg::<B>::from_pretrained(&wrong, &paths, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("text") || err.contains("shape"), "{err}");
}

/// The `base` preset's report tokenizer is the LLM's own: here SmolLM2's, rebuilt from its GGUF
/// (`scripts/fetch-assets.sh`), and the config read from the same file.
#[test]
fn real_base_preset_takes_the_llm_tokenizer() {
    let Some(gguf) = trrg_testutil::asset_for_test("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    else {
        return;
    };
    let paths = trrg_model::PretrainedPaths {
        vision: fixture("vision/tests/fixtures/tiny_swin"),
        text: fixture("text/tests/fixtures/tiny_bert"),
        llm: gguf,
    };
    let tokenizer = paths.llm_tokenizer().unwrap();
    assert_eq!(tokenizer.get_vocab_size(true), 49152);
    let ids = tokenizer.encode("No pleural effusion.", false).unwrap();
    assert!(!ids.get_ids().is_empty());
    let config = TrrgConfig::base(&paths).unwrap();
    assert_eq!(
        (config.llm.hidden_size, config.llm.vocab_size),
        (576, 49152)
    );
    let missing = trrg_model::PretrainedPaths {
        llm: fixture("llm/tests/fixtures/tiny_llama_tied"),
        ..paths
    };
    let err = missing.llm_tokenizer().unwrap_err().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}

/// Hard clues: at inference each probability becomes 0 or 1 before it is embedded, so without
/// the interaction the clue tokens no longer depend on the image (threshold 0: all present);
/// training keeps the soft probabilities. The mode is explicit: `prefix` is inference's on any
/// backend, autodiff included.
#[test]
fn hard_clues_apply_at_inference_only() {
    let device = Default::default();
    let hard = with_clue(config(ClueMode::NoInteraction), |c| {
        c.hard_threshold = Some(0.0);
        c.fit_thresholds = false;
    });
    let model: Trrg<B> = hard.init(&device).unwrap();
    let bank = model.clue_bank(&diseases(4), &vocab(), 8).unwrap();
    let prefix = model.prefix(images(2, 1), Some(&bank)).unwrap().embeds;
    let len = prefix.dims()[1];
    let clues = prefix.narrow(1, len - 5, 4); // <clue> c1..c4 </clue>
    assert!(max_diff(clues.clone().narrow(0, 0, 1), clues.narrow(0, 1, 1)) < 1e-6);

    let trained: Trrg<A> = hard.init(&device).unwrap();
    let bank = trained.clue_bank(&diseases(4), &vocab(), 8).unwrap();
    let prefix = trained
        .prefix_train(images(2, 1), Some(&bank))
        .unwrap()
        .embeds
        .inner();
    let clues = prefix.narrow(1, len - 5, 4);
    assert!(max_diff(clues.clone().narrow(0, 0, 1), clues.narrow(0, 1, 1)) > 1e-4);
    // Inference on the autodiff backend is hard as well (no implicit switch on the backend).
    let prefix = trained
        .prefix(images(2, 1), Some(&bank))
        .unwrap()
        .embeds
        .inner();
    let clues = prefix.narrow(1, len - 5, 4);
    assert!(max_diff(clues.clone().narrow(0, 0, 1), clues.narrow(0, 1, 1)) < 1e-6);
    assert!(init_error(|c| {
        c.hard_threshold = Some(1.5);
        c.fit_thresholds = false;
    })
    .contains("clue.hard_threshold"));
}

/// Visual-token dropout zeroes every visual token of the dropped rows in training (and only
/// those tokens), never at inference.
#[test]
fn visual_dropout_zeroes_the_visual_tokens_of_dropped_rows_in_training_only() {
    let device = Default::default();
    let dropout = with_clue(config(ClueMode::Full), |c| c.visual_dropout = 0.5);
    <A as Backend>::seed(&device, 5);
    let model: Trrg<A> = dropout.init(&device).unwrap();
    let bank = model.clue_bank(&diseases(3), &vocab(), 8).unwrap();
    let batch = 16;
    let images = images::<A>(batch, 1);
    // <img> then 1 global + 2x2 patches.
    let zero_rows = |embeds: Tensor<B, 3>| -> Vec<bool> {
        let visual = embeds.narrow(1, 1, 5);
        (0..batch)
            .map(|b| visual.clone().narrow(0, b, 1).abs().max().into_scalar() == 0.0)
            .collect()
    };
    let train = model
        .prefix_train(images.clone(), Some(&bank))
        .unwrap()
        .embeds
        .inner();
    let dropped = zero_rows(train.clone());
    let n = dropped.iter().filter(|&&d| d).count();
    assert!(0 < n && n < batch, "{n} of {batch} rows dropped");
    // Only the visual tokens: the markers and the clue tokens of a dropped row stay.
    let row = dropped.iter().position(|&d| d).unwrap();
    assert!(
        train
            .narrow(0, row, 1)
            .narrow(1, 0, 1)
            .abs()
            .max()
            .into_scalar()
            > 0.0
    );
    let infer = model.prefix(images, Some(&bank)).unwrap().embeds.inner();
    assert!(zero_rows(infer).iter().all(|&d| !d));
    assert!(init_error(|c| c.visual_dropout = 1.0).contains("clue.visual_dropout"));
}

/// Per-disease thresholds in the bank make the clues hard at inference on a soft model: 1 where
/// `p_d >= threshold_d`, else 0 (a threshold of 0 is always met, one of 1 never by a sigmoid
/// short of saturation).
#[test]
fn per_disease_thresholds_in_the_bank_make_hard_clues() {
    let device = Default::default();
    let model: Trrg<B> = config(ClueMode::NoInteraction).init(&device).unwrap();
    let bank = model.clue_bank(&diseases(4), &vocab(), 8).unwrap();
    let clue_tokens = |bank: &trrg_model::ClueBank<B>| {
        let prefix = model.prefix(images(2, 1), Some(bank)).unwrap().embeds;
        let len = prefix.dims()[1];
        prefix.narrow(1, len - 5, 4) // <clue> c1..c4 </clue>
    };
    let soft = clue_tokens(&bank);
    assert!(max_diff(soft.clone().narrow(0, 0, 1), soft.narrow(0, 1, 1)) > 1e-4);
    let on = clue_tokens(&bank.clone().with_thresholds(vec![0.0; 4]).unwrap());
    let last_off = clue_tokens(
        &bank
            .clone()
            .with_thresholds(vec![0.0, 0.0, 0.0, 1.0])
            .unwrap(),
    );
    for hard in [&on, &last_off] {
        assert!(max_diff(hard.clone().narrow(0, 0, 1), hard.clone().narrow(0, 1, 1)) < 1e-6);
    }
    assert!(max_diff(on.clone().narrow(1, 3, 1), last_off.clone().narrow(1, 3, 1)) > 1e-4);
    // Selecting diseases keeps their thresholds.
    let picked = bank
        .clone()
        .with_thresholds(vec![0.1, 0.2, 0.3, 0.4])
        .unwrap()
        .select(&[3, 0])
        .unwrap();
    assert_eq!(picked.thresholds, Some(vec![0.4, 0.1]));
    for bad in [vec![0.5; 3], vec![0.5, 0.5, 1.5, 0.5]] {
        let err = bank.clone().with_thresholds(bad).unwrap_err().to_string();
        assert!(err.contains("clue thresholds"), "{err}");
    }
}

#[test]
fn lexical_clues_add_p_times_the_llm_embedding_of_the_positive_prompts() {
    let device = Default::default();
    // Parameters initialize lazily, so a clone's record would draw its own values: load one
    // record into both models.
    let fresh: Trrg<B> = config(ClueMode::NoInteraction).init(&device).unwrap();
    let on: Trrg<B> = config(ClueMode::NoInteraction)
        .init(&device)
        .unwrap()
        .load_record(fresh.into_record());
    let off: Trrg<B> = with_clue(config(ClueMode::NoInteraction), |c| c.lexical = false)
        .init(&device)
        .unwrap()
        .load_record(on.clone().into_record());
    let set = diseases(3);
    let bank = on.clue_bank(&set, &vocab(), 8).unwrap();
    let x = images::<B>(2, 1);
    let with = on.prefix(x.clone(), Some(&bank)).unwrap();
    let without = off.prefix(x, Some(&bank)).unwrap();
    let len = with.embeds.dims()[1];
    let added =
        with.embeds.clone().narrow(1, len - 4, 3) - without.embeds.clone().narrow(1, len - 4, 3);
    let p = burn::tensor::activation::sigmoid(with.clue_logits.unwrap());
    for (d, disease) in set.diseases.iter().enumerate() {
        let ids: Vec<i64> = vocab()
            .tokenize(&disease.positive[0])
            .unwrap()
            .into_iter()
            .map(i64::from)
            .collect();
        let n = ids.len();
        let words = on
            .llm
            .embed(Tensor::from_data(TensorData::new(ids, [1, n]), &device))
            .mean_dim(1); // [1, 1, d_llm]
        for row in 0..2 {
            let p_d = p.clone().slice([row..row + 1, d..d + 1]).into_scalar();
            let got = added.clone().slice([row..row + 1, d..d + 1]);
            assert!(
                max_diff(got, words.clone() * p_d) < 1e-5,
                "disease {d}, row {row}"
            );
        }
    }
    // Everything before the clue tokens is unchanged.
    assert!(
        max_diff(
            with.embeds.narrow(1, 0, len - 4),
            without.embeds.narrow(1, 0, len - 4)
        ) < 1e-6
    );

    // Prompt tokens outside the LLM's vocabulary are refused, naming the disease.
    let big = WordVocab::build(
        [(0..60)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            .as_str()],
        1,
    );
    let far = DiseaseSet {
        name: "far".into(),
        diseases: vec![Disease {
            name: "Far Away".into(),
            positive: vec!["w59".into()],
            negative: vec!["w1".into()],
        }],
    };
    let error = on.clue_bank(&far, &big, 8).unwrap_err().to_string();
    assert!(
        error.contains("Far Away") && error.contains("vocabulary"),
        "{error}"
    );
}

/// `clue.words`: after the clue tokens come the LLM's embeddings of the first positive prompt of
/// every clue that is on, in clue order; a padded clue writes nothing in its row, whose extra
/// positions are masked; with no clue on the prefix is the one without words.
#[test]
fn clue_words_write_the_statements_of_the_clues_that_are_on() {
    let device = Default::default();
    let fresh: Trrg<B> = config(ClueMode::NoInteraction).init(&device).unwrap();
    let on: Trrg<B> = with_clue(config(ClueMode::NoInteraction), |c| c.words = true)
        .init(&device)
        .unwrap()
        .load_record(fresh.into_record());
    let off: Trrg<B> = config(ClueMode::NoInteraction)
        .init(&device)
        .unwrap()
        .load_record(on.clone().into_record());
    let set = diseases(3);
    let bank = on.clue_bank(&set, &vocab(), 8).unwrap();
    let statement = |d: usize| -> Vec<i64> {
        vocab()
            .tokenize(&set.diseases[d].positive[0])
            .unwrap()
            .into_iter()
            .map(i64::from)
            .collect()
    };
    let x = images::<B>(2, 1);
    // Clues 0 and 2 on, clue 1 off, in both rows.
    let hard = bank.clone().with_thresholds(vec![0.0, 1.0, 0.0]).unwrap();
    let with = on.prefix(x.clone(), Some(&hard)).unwrap();
    let without = off.prefix(x.clone(), Some(&hard)).unwrap();
    let ids = [statement(0), statement(2)].concat();
    let n = ids.len();
    let [_, len, d_llm] = without.embeds.dims();
    assert_eq!(with.embeds.dims()[1], len + n);
    let narrow = |t: &Tensor<B, 3>, start, k| t.clone().narrow(1, start, k);
    // Up to the last clue token nothing changes; then the words; then `</clue>`.
    assert!(
        max_diff(
            narrow(&with.embeds, 0, len - 1),
            narrow(&without.embeds, 0, len - 1)
        ) < 1e-6
    );
    let words = on
        .llm
        .embed(Tensor::from_data(TensorData::new(ids, [1, n]), &device))
        .expand([2, n, d_llm]);
    assert!(max_diff(narrow(&with.embeds, len - 1, n), words) < 1e-6);
    assert!(
        max_diff(
            narrow(&with.embeds, len - 1 + n, 1),
            narrow(&without.embeds, len - 1, 1)
        ) < 1e-6
    );
    assert!(trrg_io::bool_values(with.mask).into_iter().all(|m| m));

    // Row 1 pads clue 2: it writes only clue 0's words, and the rest of its segment is masked.
    let padding =
        Tensor::<B, 2, Bool>::from_data([[false, false, false], [false, false, true]], &device);
    let padded = hard.with_padding(padding).unwrap();
    let mask = trrg_io::bool_values(on.prefix(x.clone(), Some(&padded)).unwrap().mask);
    let width = len + n;
    let segment = |row: usize| mask[row * width + len - 1..row * width + len - 1 + n].to_vec();
    assert!(segment(0).iter().all(|&m| m));
    let first = statement(0).len();
    assert_eq!(
        segment(1),
        [vec![true; first], vec![false; n - first]].concat()
    );

    // No clue on: no words.
    let none = bank.with_thresholds(vec![1.0; 3]).unwrap();
    assert!(
        max_diff(
            on.prefix(x.clone(), Some(&none)).unwrap().embeds,
            off.prefix(x, Some(&none)).unwrap().embeds
        ) < 1e-6
    );
}

/// Stage 1's negation contrast adds `negation_weight` times the BCE of the clue logits against
/// the labels to the InfoNCE, and reaches the clue heads that InfoNCE alone does not train.
#[test]
fn negation_contrast_adds_the_weighted_bce_of_the_clue_logits() {
    let device = Default::default();
    let model: Trrg<A> = with_clue(config(ClueMode::Full), |c| c.negation_weight = 0.5)
        .init(&device)
        .unwrap();
    let set = diseases(3);
    let bank = model.clue_bank(&set, &vocab(), 8).unwrap();
    let prompts: Vec<&str> = set.prompts().into_iter().map(|p| p.2).collect();
    let prompts = encode(&prompts, &device);
    let sentences = encode(&["heart normal", "big heart"], &device);
    let positive = Tensor::<A, 2, Bool>::from_data([[true, false], [false, true]], &device);
    let labels = DiseaseLabels::<A> {
        values: Tensor::from_data(TensorData::new(vec![1.0f32; 2 * 14], [2, 14]), &device),
        known: Tensor::from_data(TensorData::new(vec![true; 2 * 14], [2, 14]), &device),
    };
    let x = images::<A>(2, 2);
    let plain = model
        .contrastive(x.clone(), &sentences, positive.clone())
        .unwrap();
    assert!(plain.negation_loss.is_none());
    let out = model
        .contrastive_with(
            x.clone(),
            &sentences,
            positive,
            Some(trrg_model::NegationContrast {
                set: &set,
                prompts: &prompts,
                bank: &bank,
                labels: &labels,
            }),
        )
        .unwrap();
    let (values, known) = bank.select_labels(&labels).unwrap();
    let want = trrg_clue::consistency_loss(
        model.clue_logits(x, &bank).unwrap(),
        values,
        known,
        &model.settings().clue.consistency(),
    );
    let negation = out.negation_loss.clone().unwrap();
    assert!(max_diff(negation.clone(), want) < 1e-5);
    assert!(max_diff(out.loss.clone(), plain.loss + negation * 0.5) < 1e-5);
    let grads = out.loss.backward();
    let refiner = model.clue_refiner.as_ref().unwrap();
    assert!(refiner.disease.weight.val().grad(&grads).is_some());
    assert!(model.clue_locator.is_some());

    assert!(init_error(|c| {
        c.spatial = false;
        c.spatial_fit = true;
    })
    .contains("clue.spatial_fit"));
    assert!(init_error(|c| c.spatial_grid = 0).contains("clue.spatial_grid"));
    let grid = with_clue(config(ClueMode::Full), |c| {
        c.spatial = true;
        c.spatial_grid = 3;
    })
    .init::<B>(&device)
    .unwrap();
    assert_eq!(grid.clue_spatial.unwrap().weight.dims()[2], 9);
    assert!(init_error(|c| c.negation_weight = -1.0).contains("clue.negation_weight"));
    assert!(init_error(|c| c.threshold_shrinkage = f64::NAN).contains("clue.threshold_shrinkage"));
}

/// A clue head with parameters per CheXpert slot, turned on by `on`: at zero it leaves the
/// clue logits as they were (`off` removes it), its biases (set by `set_bias`) move their own
/// disease only, and the returned gradients of a consistency loss are checked by the caller.
/// Cardiomegaly (CheXpert column 1) has a slot; the bank's d1 and d2 have none.
fn per_slot_head(
    on: impl FnOnce(&mut ClueOptions),
    off: impl Fn(&mut Trrg<B>),
    set_bias: impl FnOnce(Trrg<A>, &[f32]) -> Trrg<A>,
) -> (
    Trrg<A>,
    <A as burn::tensor::backend::AutodiffBackend>::Gradients,
) {
    let device = Default::default();
    let model: Trrg<A> = with_clue(config(ClueMode::Full), on).init(&device).unwrap();
    let bank = model.clue_bank(&diseases(3), &vocab(), 8).unwrap();
    assert_eq!(bank.label_columns, vec![Some(1), None, None]);
    // Without dropout (the inner backend), the head at zero changes nothing.
    let x = images::<B>(2, 2);
    let valid = model.valid();
    let valid_bank = valid.clue_bank(&diseases(3), &vocab(), 8).unwrap();
    let logits = |m: &Trrg<B>| m.clue_logits(x.clone(), &valid_bank).unwrap();
    let mut without = valid.clone();
    off(&mut without);
    let at_prompts = logits(&without);
    assert!(max_diff(logits(&valid), at_prompts.clone()) < 1e-6);

    // The bias moves its own disease only.
    let bias: Vec<f32> = (0..14).map(|k| k as f32 + 1.0).collect();
    let model = set_bias(model, &bias);
    let offset = Tensor::<B, 2>::from_data([[2.0f32, 0.0, 0.0], [2.0, 0.0, 0.0]], &device);
    assert!(max_diff(logits(&model.valid()), at_prompts + offset) < 1e-5);

    let values = Tensor::<A, 2>::from_data([[1.0f32, 0.0, 1.0], [0.0, 1.0, 0.0]], &device);
    let known = values.clone().greater_equal_elem(0.0);
    let loss = trrg_clue::consistency_loss(
        model.clue_logits(images(2, 2), &bank).unwrap(),
        values,
        known,
        &model.settings().clue.consistency(),
    );
    let grads = loss.backward();
    (model, grads)
}

/// Whether `grad`'s rows (`per_slot` values each) are non-zero for slot 1 only.
fn only_slot_1(grad: &[f32], per_slot: usize) -> bool {
    let row = |k: usize| {
        grad[k * per_slot..(k + 1) * per_slot]
            .iter()
            .map(|g| g.abs())
            .sum::<f32>()
    };
    row(1) > 0.0 && (0..14).filter(|&k| k != 1).all(|k| row(k) == 0.0)
}

#[test]
fn spatial_readout_starts_at_zero_and_trains_each_slot_alone() {
    let (model, grads) = per_slot_head(
        |c| c.spatial = true,
        |m| m.clue_spatial = None,
        |mut m, bias| {
            m.clue_spatial = m.clue_spatial.map(|s| s.with_bias(bias).unwrap());
            m
        },
    );
    // The consistency loss reaches Cardiomegaly's weights and no other slot's.
    let weight = &model.clue_spatial.as_ref().unwrap().weight;
    let per_slot = weight.dims()[1..].iter().product::<usize>();
    let grad = weight.val().grad(&grads).unwrap().to_data();
    assert!(only_slot_1(&grad.to_vec::<f32>().unwrap(), per_slot));
}

#[test]
fn per_disease_readout_starts_at_the_prompts_and_trains_each_slot_alone() {
    let (model, grads) = per_slot_head(
        |c| c.readout = true,
        |m| m.clue_readout = None,
        |mut m, bias| {
            m.clue_readout = m.clue_readout.map(|r| r.with_bias(bias).unwrap());
            m
        },
    );
    // The consistency loss reaches Cardiomegaly's slot and no other.
    let readout = model.clue_readout.as_ref().unwrap();
    for (what, param, per_slot) in [
        ("refine", &readout.refine, 64),
        ("readout", &readout.readout, 64),
    ] {
        let grad = param.val().grad(&grads).unwrap().to_data();
        assert!(
            only_slot_1(&grad.to_vec::<f32>().unwrap(), per_slot),
            "{what}"
        );
    }
    let bias_grad = readout.bias.val().grad(&grads).unwrap().to_data();
    assert!(only_slot_1(&bias_grad.to_vec::<f32>().unwrap(), 1));
}

#[test]
fn the_no_finding_gate_turns_no_finding_off_beside_a_finding() {
    let device = Default::default();
    let disease = |name: &str, positive: &str| Disease {
        name: name.into(),
        positive: vec![positive.into()],
        negative: vec!["heart normal".into()],
    };
    let set = DiseaseSet {
        name: "gate".into(),
        diseases: vec![
            disease("Cardiomegaly", "big heart"),
            disease("No Finding", "lung clear"),
            disease("Support Devices", "there is nodule"),
        ],
    };
    let gated: Trrg<B> = with_clue(config(ClueMode::NoInteraction), |c| {
        c.no_finding_gate = true
    })
    .init(&device)
    .unwrap();
    let bank = gated.clue_bank(&set, &vocab(), 8).unwrap();
    let gate = trrg_model::NoFindingGate {
        no_finding: 1,
        findings: vec![0],
    };
    assert_eq!(bank.gate, Some(gate));
    let mut plain_bank = bank.clone();
    plain_bank.gate = None;

    let x = images::<B>(1, 1);
    let clue_tokens = |bank: &trrg_model::ClueBank<B>, thresholds: [f32; 3]| {
        let bank = bank.clone().with_thresholds(thresholds.to_vec()).unwrap();
        let prefix = gated.prefix(x.clone(), Some(&bank)).unwrap().embeds;
        let len = prefix.dims()[1];
        prefix.narrow(1, len - 4, 3) // <clue> c1..c3 </clue>
    };
    // Cardiomegaly on: the gate turns No Finding off, as its threshold of 1 would.
    let on = clue_tokens(&bank, [0.0, 0.0, 0.0]);
    assert!(max_diff(on.clone(), clue_tokens(&plain_bank, [0.0, 1.0, 0.0])) < 1e-6);
    assert!(max_diff(on, clue_tokens(&plain_bank, [0.0, 0.0, 0.0])) > 1e-4);
    // Cardiomegaly off (and Support Devices on): No Finding stays on.
    assert!(
        max_diff(
            clue_tokens(&bank, [1.0, 0.0, 0.0]),
            clue_tokens(&plain_bank, [1.0, 0.0, 0.0])
        ) < 1e-6
    );

    let halves = bank.clone().with_thresholds(vec![0.5; 3]).unwrap();
    assert_eq!(
        halves.decide(&[0.9, 0.9, 0.9]),
        Some(vec![true, false, true])
    );
    assert_eq!(
        halves.decide(&[0.1, 0.9, 0.9]),
        Some(vec![false, true, true])
    );
    assert_eq!(bank.decide(&[0.9, 0.9, 0.9]), None);
    // A selection keeps the gate of the diseases it keeps.
    let picked = bank.select(&[2, 1]).unwrap();
    assert_eq!(
        picked.gate,
        Some(trrg_model::NoFindingGate {
            no_finding: 1,
            findings: vec![]
        })
    );
    let ungated: Trrg<B> = config(ClueMode::NoInteraction).init(&device).unwrap();
    assert_eq!(ungated.clue_bank(&set, &vocab(), 8).unwrap().gate, None);
}

/// Counterfactual rows take the next row's report and forced clues: with every row swapped,
/// the LM loss is the one of the rolled reports and labels, while the consistency loss still
/// scores each image's own labels. Edited labels (`BatchLabels::forced`) are forced the same
/// way.
#[test]
fn counterfactual_rows_read_the_next_rows_report_and_clues() {
    let device = Default::default();
    let rows = |v: [[f32; 14]; 3]| {
        let flat: Vec<f32> = v.iter().flatten().copied().collect();
        DiseaseLabels::<B> {
            values: Tensor::from_data(TensorData::new(flat, [3, 14]), &device),
            known: Tensor::from_data(TensorData::new(vec![true; 3 * 14], [3, 14]), &device),
        }
    };
    let (mut a, mut b, mut c) = ([0.0f32; 14], [0.0f32; 14], [0.0f32; 14]);
    a[0] = 1.0;
    b[1] = 1.0;
    c[2] = 1.0;
    let labels = rows([a, b, c]);
    let rolled_labels = rows([b, c, a]);
    let report = |r: [[i64; 5]; 3], m: [[bool; 5]; 3]| {
        (
            Tensor::<B, 2, Int>::from_data(r, &device),
            Tensor::<B, 2, Bool>::from_data(m, &device),
        )
    };
    let (ids, mask) = report(
        [[0, 3, 4, 5, 0], [0, 6, 7, 0, 0], [0, 8, 0, 0, 0]],
        [
            [true, true, true, true, true],
            [true, true, true, true, false],
            [true, true, true, false, false],
        ],
    );
    let (rolled_ids, rolled_mask) = report(
        [[0, 6, 7, 0, 0], [0, 8, 0, 0, 0], [0, 3, 4, 5, 0]],
        [
            [true, true, true, true, false],
            [true, true, true, false, false],
            [true, true, true, true, true],
        ],
    );
    let targets = |m: &Tensor<B, 2, Bool>| {
        let first = Tensor::<B, 2, Bool>::from_data([[false], [false], [false]], &device);
        Tensor::cat(vec![first, m.clone().narrow(1, 1, 4)], 1)
    };
    let model = |rate: f64| -> Trrg<B> {
        with_clue(config(ClueMode::Full), |c| {
            c.counterfactual = rate;
            c.teacher_forcing = 1.0;
        })
        .init(&device)
        .unwrap()
    };
    // Parameters initialize lazily, so a clone's record would draw its own values (and other
    // tests share the RNG): load one materialized record into both models.
    let plain = model(0.0).load_record(model(0.0).into_record());
    // Every row swaps but with probability 3e-6.
    let swapping = model(0.999_999).load_record(plain.clone().into_record());
    let bank = plain.clue_bank(&diseases(3), &vocab(), 8).unwrap();
    let x = images::<B>(3, 1);
    let run = |m: &Trrg<B>, ids: &Tensor<B, 2, Int>, mask: &Tensor<B, 2, Bool>, l| {
        let out = m
            .forward_train(
                x.clone(),
                ids.clone(),
                mask.clone(),
                targets(mask),
                Some(BatchLabels::from(l)),
                Some(&bank),
            )
            .unwrap();
        (
            out.lm_loss.into_scalar(),
            out.consistency_loss.unwrap().into_scalar(),
        )
    };
    let (lm, consistency) = run(&swapping, &ids, &mask, &labels);
    let (rolled_lm, _) = run(&plain, &rolled_ids, &rolled_mask, &rolled_labels);
    let (own_lm, own_consistency) = run(&plain, &ids, &mask, &labels);
    assert!((lm - rolled_lm).abs() < 1e-5, "{lm} vs {rolled_lm}");
    assert!((lm - own_lm).abs() > 1e-4, "{lm} vs {own_lm}");
    assert!((consistency - own_consistency).abs() < 1e-6);
    // Edited reports (trrg-train's `stage2_report_edits`): the clues are forced from the
    // labels the reports state, and the consistency loss scores the images' labels.
    let edited = plain
        .forward_train(
            x.clone(),
            ids.clone(),
            mask.clone(),
            targets(&mask),
            Some(BatchLabels {
                truth: &labels,
                forced: &rolled_labels,
            }),
            Some(&bank),
        )
        .unwrap();
    let (forced_lm, _) = run(&plain, &ids, &mask, &rolled_labels);
    let edited_lm = edited.lm_loss.into_scalar();
    assert!(
        (edited_lm - forced_lm).abs() < 1e-5,
        "{edited_lm} vs {forced_lm}"
    );
    assert!((edited_lm - own_lm).abs() > 1e-4, "{edited_lm} vs {own_lm}");
    let edited_consistency = edited.consistency_loss.unwrap().into_scalar();
    assert!((edited_consistency - own_consistency).abs() < 1e-6);
    for (rate, forcing) in [(1.0, 1.0), (0.5, 0.0)] {
        assert!(init_error(|c| {
            c.counterfactual = rate;
            c.teacher_forcing = forcing;
        })
        .contains("clue.counterfactual"));
    }
}
