//! End-to-end training on a small synthetic dataset with the micro preset: resume equals an
//! uninterrupted run, and bad input fails early with clear errors.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use serde_json::Value;
use trrg_synth::{write_dataset, SynthConfig};
use trrg_train::{train, Error, LlmTraining, Preset, RunOptions, StopFlag, TrainConfig};

type A = Autodiff<Flex>;

/// The backend's seeded random generator is process-wide: training tests that compare two runs
/// must not run while another test trains.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    TRAINING.lock().unwrap_or_else(|e| e.into_inner())
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trrg-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn dataset(dir: &Path) {
    let config = SynthConfig {
        studies: 40,
        seed: 3,
        size: 64,
        split: [0.6, 0.2, 0.2],
        normal_fraction: 0.4,
        extra_train: 0,
    };
    write_dataset(dir, &config).unwrap();
}

fn config() -> TrainConfig {
    let mut c = TrainConfig {
        preset: Preset::Micro,
        batch_size: 8,
        keep_last: 3,
        ..TrainConfig::default()
    };
    c.image.resize = 72;
    c.image.crop = 64;
    c.stage1.epochs = 1;
    c.stage2.epochs = 3;
    c.eval.num_beams = 2;
    c.eval.max_new_tokens = 16;
    c
}

/// The stage and epoch where a run stopped on request.
fn stopped_at(result: trrg_train::Result<trrg_train::RunSummary>) -> (u8, usize) {
    match result {
        Err(Error::Stopped { stage, epochs }) => (stage, epochs),
        Err(e) => panic!("stopped by an error: {e}"),
        Ok(_) => panic!("ran to the end"),
    }
}

/// With `stop`, the run ends after its first epoch (a stop asked for before it started).
fn options(data: &Path, out: &Path, resume: bool, stop: bool) -> RunOptions {
    RunOptions {
        data_dir: data.to_path_buf(),
        out_dir: out.to_path_buf(),
        resume,
        quiet: true,
        stop: {
            let flag = StopFlag::new();
            if stop {
                flag.stop();
            }
            flag
        },
    }
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let _guard = exclusive();
    let root = temp("resume");
    let data = root.join("data");
    dataset(&data);
    let device = Default::default();
    let config = config();

    let whole = train::<A>(
        &config,
        &options(&data, &root.join("a"), false, false),
        &device,
    )
    .unwrap();
    assert_eq!(whole.metrics["synthetic"], Value::Bool(true));
    for key in ["BLEU_4", "ROUGE_L", "CIDEr"] {
        assert!(whole.metrics["test"][key].is_number(), "{key}");
    }
    for file in [
        "metrics.json",
        "samples.jsonl",
        "log.jsonl",
        "vocab.json",
        "diseases.json",
        "plots/stage2_val.png",
        "plots/stage2_val.svg",
        "plots/stage1_loss.png",
        "clue_thresholds.json",
    ] {
        assert!(root.join("a").join(file).is_file(), "{file}");
    }
    // The plots count epochs, mark the kept checkpoint and show perception.
    let svg = std::fs::read_to_string(root.join("a/plots/stage2_val.svg")).unwrap();
    let best = whole.metrics["best_epoch"].as_u64().unwrap();
    for text in [
        "stage-2 epoch".to_string(),
        format!("kept checkpoint (epoch {best})"),
        "clue AUC".into(),
    ] {
        assert!(svg.contains(&text), "stage2_val.svg lacks `{text}`");
    }
    let svg = std::fs::read_to_string(root.join("a/plots/stage1_loss.svg")).unwrap();
    assert!(svg.contains("stage-1 epoch") && svg.contains("zero-shot"));
    // The test split is generated with hard clues whose thresholds were fitted on validation:
    // per disease a grid value shrunk toward 0.5 by the disease's validation positives
    // (`clue.threshold_shrinkage`), to the hundredth, also in every validation record of the
    // log.
    let thresholds = whole.metrics["clue_thresholds"].as_object().unwrap();
    assert_eq!(thresholds.len(), 14);
    let k = config.clue.threshold_shrinkage;
    assert!(k > 0.0);
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("labels.json")).unwrap()).unwrap();
    let annotation: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("annotation.json")).unwrap())
            .unwrap();
    let val_ids: Vec<&str> = annotation["val"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let grid = trrg_train::threshold_grid();
    for (disease, t) in thresholds {
        let n = val_ids
            .iter()
            .filter(|id| labels[**id][disease.as_str()] == 1)
            .count() as f64;
        let t = t.as_f64().unwrap();
        assert!(
            grid.iter()
                .any(|&g| ((n * g as f64 + k * 0.5) / (n + k) * 100.0).round() / 100.0 == t),
            "{disease}: {t} with {n} validation positives"
        );
    }
    let log = std::fs::read_to_string(root.join("a/log.jsonl")).unwrap();
    let val: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["stage"] == 2 && v["split"] == "val")
        .collect();
    assert!(!val.is_empty() && val.iter().all(|v| v["clue_thresholds"].is_object()));

    // Stopped twice, at the end of stage 1 and after stage 2's first epoch, then resumed.
    let b = root.join("b");
    let stopped = train::<A>(&config, &options(&data, &b, false, true), &device);
    assert_eq!(stopped_at(stopped), (1, 1));
    let stopped = train::<A>(&config, &options(&data, &b, true, true), &device);
    assert_eq!(stopped_at(stopped), (2, 1));
    assert!(!b.join("metrics.json").exists());
    let resumed = train::<A>(&config, &options(&data, &b, true, false), &device).unwrap();
    assert_eq!(resumed.metrics, whole.metrics);
    let read = |d: &str, f: &str| std::fs::read_to_string(root.join(d).join(f)).unwrap();
    assert_eq!(read("a", "samples.jsonl"), read("b", "samples.jsonl"));
    // The resumed run's log has each step once, byte for byte as the uninterrupted one.
    assert_eq!(read("a", "log.jsonl"), read("b", "log.jsonl"));
    std::fs::remove_dir_all(root).unwrap();
}

/// Stage 2 with LoRA adapters on a frozen LLM: the checkpoints hold the adapters (and the clue
/// heads' own optimizer group), so a run stopped after one epoch resumes to the same result,
/// report edits included (drawn per epoch); the frozen setting trains too.
#[test]
fn lora_and_frozen_llm_train_and_resume() {
    let _guard = exclusive();
    let root = temp("lora");
    let data = root.join("data");
    dataset(&data);
    let device = Default::default();
    let mut config = config();
    config.stage1.epochs = 0;
    config.stage2.epochs = 2;
    config.stage2_llm = LlmTraining::Lora(trrg_llm::LoraConfig::default());
    // The clue heads in their own optimizer group (saved and resumed with the others), with
    // the per-disease and the spatial readout.
    config.stage2.clue_lr_scale = 4.0;
    config.clue.readout = true;
    config.clue.spatial = true;
    config.clue.spatial_fit = true;
    config.stage2_report_edits = 0.5;
    let whole = train::<A>(
        &config,
        &options(&data, &root.join("a"), false, false),
        &device,
    )
    .unwrap();
    let b = root.join("b");
    let stopped = train::<A>(&config, &options(&data, &b, false, true), &device);
    assert_eq!(stopped_at(stopped), (2, 1));
    let resumed = train::<A>(&config, &options(&data, &b, true, false), &device).unwrap();
    assert_eq!(resumed.metrics, whole.metrics);
    config.stage2_llm = LlmTraining::Frozen;
    config.stage2.epochs = 1;
    let frozen = train::<A>(
        &config,
        &options(&data, &root.join("c"), false, false),
        &device,
    )
    .unwrap();
    assert!(frozen.metrics["test"]["BLEU_4"].is_number());
    std::fs::remove_dir_all(root).unwrap();
}

/// `stage2.epochs = 0` is the perception probe: stage 1 alone, then the validation split's
/// zero-shot and full clue AUC, the linear probe on the encoder's features and the prompts'
/// conditioning in `metrics.json`, and no stage 2 or test.
#[test]
fn a_stage1_only_run_is_the_perception_probe() {
    let _guard = exclusive();
    let root = temp("probe");
    let data = root.join("data");
    dataset(&data);
    let mut config = config();
    config.stage2.epochs = 0;
    // The patch column at the spatial readout's grid.
    config.clue.spatial_grid = 2;
    let run = root.join("run");
    let summary = train::<A>(
        &config,
        &options(&data, &run, false, false),
        &Default::default(),
    )
    .unwrap();
    let m = &summary.metrics;
    assert_eq!(m["stage1_only"], true);
    assert!(m.get("test").is_none() && !run.join("samples.jsonl").exists());
    let diseases = m["val_clue_auc"].as_object().unwrap();
    assert_eq!(diseases.len(), 14);
    let known = |v: &Value| v.as_f64().is_some_and(|a| (0.0..=1.0).contains(&a));
    // The small validation split lacks some classes; those AUCs are null, the rest in [0, 1].
    assert!(diseases.values().any(known));
    assert!(diseases.values().all(|v| v.is_null() || known(v)));
    assert!(m["val_feature_probe"]
        .as_object()
        .unwrap()
        .values()
        .any(|p| known(&p["pooled"]) && known(&p["views"])));
    let cosine = m["prompts"]["identity"]["mean_cosine"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&cosine));
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    let val: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["stage"] == 1 && v["split"] == "val")
        .collect();
    assert_eq!(val.len(), 1);
    assert!(val[0]["clue_auc"].is_object() && val[0]["prompts"]["contrast"].is_object());
    let table = trrg_train::results_table(&[("probe".into(), m.clone())]);
    assert!(
        table.contains("Perception probe")
            && table.contains("SYNTHETIC")
            && table.contains("averaged to 2 x 2 cells"),
        "{table}"
    );
    assert_eq!(m["feature_probe_settings"]["patch_grid"], 2);
    // Nothing to train: no stage at all is an error naming the field.
    config.stage1.epochs = 0;
    let err = train::<A>(
        &config,
        &options(&data, &root.join("none"), false, false),
        &Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("stage2.epochs"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn bad_input_fails_before_anything_is_overwritten() {
    let _guard = exclusive();
    let root = temp("bad");
    let data = root.join("data");
    dataset(&data);
    let device = Default::default();
    let config = config();
    let out = root.join("run");

    let missing = train::<A>(
        &config,
        &options(&root.join("nope"), &out, false, false),
        &device,
    )
    .unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
    assert!(!out.exists());

    let bad_config = TrainConfig {
        batch_size: 0,
        ..config.clone()
    };
    let err = train::<A>(&bad_config, &options(&data, &out, false, false), &device).unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
    // A fixed threshold and fitted ones at once is refused, naming both.
    let mut both = config.clone();
    both.clue.hard_threshold = Some(0.5);
    let err = both.validate().unwrap_err().to_string();
    assert!(
        err.contains("clue.hard_threshold") && err.contains("clue.fit_thresholds"),
        "{err}"
    );
    assert!(!out.exists());

    let file = root.join("config.json");
    std::fs::write(&file, r#"{"stage2": {"epochs": 2, "learning_rate": 1}}"#).unwrap();
    let err = TrainConfig::from_path(&file).unwrap_err().to_string();
    assert!(
        err.contains("learning_rate") && err.contains("stage2"),
        "{err}"
    );
    std::fs::write(&file, r#"{"stage2": {"warmup_ratio": 1.5}}"#).unwrap();
    let err = TrainConfig::from_path(&file).unwrap_err().to_string();
    assert!(err.contains("warmup_ratio"), "{err}");

    // An existing run is never overwritten.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("config.json"), "precious").unwrap();
    let err = train::<A>(&config, &options(&data, &out, false, false), &device).unwrap_err();
    assert!(matches!(err, Error::RunExists { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("config.json")).unwrap(),
        "precious"
    );

    // A corrupt image is found before training starts and named.
    let fresh = root.join("run2");
    let image = std::fs::read_dir(data.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let victim = std::fs::read_dir(&image)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&victim, b"not a png").unwrap();
    let err = train::<A>(&config, &options(&data, &fresh, false, false), &device).unwrap_err();
    assert!(
        err.to_string()
            .contains(&*victim.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
    assert!(!fresh.exists());

    std::fs::write(data.join("annotation.json"), "{\"train\": [").unwrap();
    let err = train::<A>(&config, &options(&data, &fresh, false, false), &device).unwrap_err();
    assert!(err.to_string().contains("annotation.json"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

/// Every float parameter of a model, flattened in visiting order.
struct Flatten(Vec<f32>);

impl burn::module::ModuleVisitor<A> for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<A, D>>) {
        self.0
            .extend(param.val().into_data().convert::<f32>().iter::<f32>());
    }
}

/// The CheXpert disease set and a word vocabulary of its prompts (the micro models' tokens).
fn chexpert_vocab() -> (trrg_clue::DiseaseSet, trrg_data::WordVocab) {
    let diseases = trrg_clue::DiseaseSet::chexpert();
    let vocab = trrg_data::WordVocab::build(diseases.prompts().into_iter().map(|(_, _, p)| p), 1);
    (diseases, vocab)
}

fn flatten(model: &trrg_model::Trrg<A>) -> Vec<f32> {
    use burn::module::Module;
    let mut f = Flatten(Vec::new());
    model.visit(&mut f);
    f.0
}

/// A micro model ready for stage 2 with the CheXpert clue bank, and a global batch of 4
/// studies, each with 6 target tokens and all 14 labels known, so the token-mean LM loss and
/// the label-mean consistency loss are means over rows.
struct Stage2Fixture {
    model: trrg_model::Trrg<A>,
    bank: trrg_model::ClueBank<A>,
    ids: Vec<i64>,
    targets: Vec<bool>,
    images: Vec<f32>,
    labels: Vec<f32>,
}

impl Stage2Fixture {
    const ROWS: usize = 4;
    const LEN: usize = 8;

    /// `interaction_dropout` and `teacher_forcing` draw random numbers in the forward pass.
    fn new(interaction_dropout: f64, teacher_forcing: f64) -> Self {
        let device = Default::default();
        let (diseases, vocab) = chexpert_vocab();
        let mut config = trrg_model::TrrgConfig::micro(vocab.tokens().len() + 1);
        config.interaction = config.interaction.with_dropout(interaction_dropout);
        config.clue.teacher_forcing = teacher_forcing;
        <A as burn::tensor::backend::Backend>::seed(&device, 11);
        let model: trrg_model::Trrg<A> = config.init(&device).unwrap();
        let bank = model.clue_bank(&diseases, &vocab, 12).unwrap();
        let (rows, len) = (Self::ROWS, Self::LEN);
        Self {
            model: model.freeze_for_stage2(false),
            bank,
            ids: (0..rows * len)
                .map(|i| match i % len {
                    0 | 7 => 0,
                    _ => (i * 7 % 40 + 1) as i64,
                })
                .collect(),
            targets: (0..rows * len)
                .map(|i| i % len != 0 && i % len != 7)
                .collect(),
            images: (0..rows * 2 * 64 * 64)
                .map(|i| ((i as f32) * 0.013).sin())
                .collect(),
            labels: (0..rows * 14)
                .map(|i| ((i * 5) % 3 == 0) as i32 as f32)
                .collect(),
        }
    }

    /// The loss of rows `r` of the batch, and its value.
    fn forward(
        &self,
        model: &trrg_model::Trrg<A>,
        r: std::ops::Range<usize>,
    ) -> (Tensor<A, 1>, Vec<f32>) {
        use burn::tensor::{Bool, Int, TensorData};
        let device = Default::default();
        let (n, len) = (r.len(), Self::LEN);
        let images = Tensor::<A, 5>::from_data(
            TensorData::new(
                self.images[r.start * 2 * 4096..r.end * 2 * 4096].to_vec(),
                [n, 2, 1, 64, 64],
            ),
            &device,
        );
        let ids = Tensor::<A, 2, Int>::from_data(
            TensorData::new(self.ids[r.start * len..r.end * len].to_vec(), [n, len]),
            &device,
        );
        let targets = Tensor::<A, 2, Bool>::from_data(
            TensorData::new(self.targets[r.start * len..r.end * len].to_vec(), [n, len]),
            &device,
        );
        let labels = trrg_data::DiseaseLabels::<A> {
            values: Tensor::from_data(
                TensorData::new(self.labels[r.start * 14..r.end * 14].to_vec(), [n, 14]),
                &device,
            ),
            known: Tensor::<A, 2, Bool>::from_data(
                TensorData::new(vec![true; n * 14], [n, 14]),
                &device,
            ),
        };
        let mask = Tensor::<A, 2, Bool>::ones(ids.dims(), &device);
        let out = model
            .forward_train(
                images,
                ids,
                mask,
                targets,
                Some((&labels).into()),
                Some(&self.bank),
            )
            .unwrap();
        let value = out.loss.clone().into_scalar().elem::<f32>();
        (out.loss, vec![value])
    }
}

#[test]
fn two_device_data_parallel_equals_one_device() {
    use burn::optim::GradientsParams;
    use trrg_train::{DataParallel, Optimizers, StageConfig};

    let _guard = exclusive();
    let device: burn::tensor::Device<A> = Default::default();
    // No dropout and no teacher forcing: nothing random in the forward pass.
    let fixture = Stage2Fixture::new(0.0, 0.0);
    let start = fixture.model.clone();
    let rows = Stage2Fixture::ROWS;
    let forward = |model: &trrg_model::Trrg<A>, r| fixture.forward(model, r);
    // Parameters are lazy until first read and a clone of a lazy parameter initializes on its
    // own: read them all before the two runs clone the model.
    let before = flatten(&start);
    let stage = StageConfig::default();
    let steps = 3;

    let mut one = start.clone();
    let mut optim = Optimizers::<A>::new(&stage);
    let mut one_losses = Vec::new();
    for _ in 0..steps {
        let (loss, values) = forward(&one, 0..rows);
        one_losses.push(values[0]);
        optim.backward(loss, &one);
        one = optim.step(one, 1e-3, 1.0);
    }

    let parallel = DataParallel::<A>::new(vec![device, device]).unwrap();
    let shards = parallel.shards(rows);
    assert_eq!(shards, vec![0..2, 2..4]);
    // The summed shard gradients equal the global batch's (AdamW is nearly scale-free, so the
    // parameter comparison below would not see a wrongly scaled gradient).
    let full = GradientsParams::from_grads(forward(&start, 0..rows).0.backward(), &start);
    let inputs = shards.iter().map(|r| (r.clone(), 0.5)).collect();
    let summed = parallel
        .gradients(&start, inputs, None, |replica, r| Ok(forward(replica, r)))
        .unwrap()
        .rest;
    for param in [&start.visual_to_llm.weight, &start.clue_to_llm.weight] {
        let want = full.get::<Flex, 2>(param.id).unwrap();
        let got = summed.get::<Flex, 2>(param.id).unwrap();
        let scale = want.clone().abs().max().into_scalar();
        let diff = (want - got).abs().max().into_scalar();
        assert!(
            scale > 0.0 && diff < 1e-4 * scale,
            "gradient differs by {diff} (scale {scale})"
        );
    }

    let mut two = start;
    let mut optim = Optimizers::<A>::new(&stage);
    let mut two_losses = Vec::new();
    for _ in 0..steps {
        let inputs = shards.iter().map(|r| (r.clone(), 0.5)).collect();
        let grads = parallel
            .gradients(&two, inputs, None, |replica, r| Ok(forward(replica, r)))
            .unwrap();
        two_losses.push(grads.values[0]);
        optim.accumulate(&two, grads.vision, grads.rest);
        two = optim.step(two, 1e-3, 1.0);
    }

    for (a, b) in one_losses.iter().zip(&two_losses) {
        assert!(
            (a - b).abs() < 1e-5,
            "losses {one_losses:?} vs {two_losses:?}"
        );
    }
    // AdamW's first steps move every parameter by about lr whatever its gradient's size, so
    // float rounding in a near-zero gradient can flip a step: compare the updates.
    let (a, b) = (flatten(&one), flatten(&two));
    assert_eq!((a.len(), b.len()), (before.len(), before.len()));
    let norm = |v: Vec<f32>| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let update = norm(a.iter().zip(&before).map(|(x, y)| x - y).collect());
    let apart = norm(a.iter().zip(&b).map(|(x, y)| x - y).collect());
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    eprintln!("after {steps} steps: update norm {update:.4}, two-device difference norm {apart:.2e}, max {max:.2e}");
    assert!(
        apart < 1e-3 * update && max < 1e-3,
        "parameters differ: norm {apart} against an update of {update}, max {max}"
    );
    assert!(
        one_losses[2] < one_losses[0],
        "training moved: {one_losses:?}"
    );
}

/// Workers side by side on streams of their own (a step's seed), with interaction dropout and
/// teacher-forcing coins in the forward pass: a step repeats exactly (a draw from the backend's
/// generator, which moves on, would break that), another seed draws other masks, and the
/// summed gradients are those of each shard's pass run alone in the stream `seed + shard`.
#[test]
fn workers_side_by_side_draw_from_their_own_streams() {
    use burn::optim::GradientsParams;
    use trrg_io::random::with_stream;
    use trrg_train::DataParallel;

    let _guard = exclusive();
    let device = Default::default();
    let fixture = Stage2Fixture::new(0.3, 0.5);
    let start = &fixture.model;
    let _ = flatten(start);
    let parallel = DataParallel::<A>::new(vec![device, device]).unwrap();
    let shards = parallel.shards(Stage2Fixture::ROWS);
    let param = start.visual_to_llm.weight.id;
    let grad = |grads: &GradientsParams| {
        let g = grads.get::<Flex, 2>(param).unwrap();
        g.into_data().to_vec::<f32>().unwrap()
    };
    let step = |seed| {
        let inputs = shards.iter().map(|r| (r.clone(), 0.5)).collect();
        let out = parallel
            .gradients(start, inputs, Some(seed), |replica, r| {
                Ok(fixture.forward(replica, r))
            })
            .unwrap();
        (grad(&out.rest), out.values[0])
    };
    let (a, loss) = step(7);
    assert_eq!(step(7), (a.clone(), loss));
    assert_ne!(step(8).0, a);
    let mut alone = vec![0.0f32; a.len()];
    for (k, r) in shards.iter().enumerate() {
        let (loss, _) = with_stream(7 + k as u64, || fixture.forward(start, r.clone()));
        let g = GradientsParams::from_grads((loss * 0.5).backward(), start);
        for (sum, v) in alone.iter_mut().zip(grad(&g)) {
            *sum += v;
        }
    }
    let scale = alone.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = alone
        .iter()
        .zip(&a)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        scale > 0.0 && diff <= 1e-5 * scale,
        "side by side differs from alone by {diff} (scale {scale})"
    );
}

#[test]
fn stage1_gathered_infonce_equals_one_process() {
    use burn::optim::GradientsParams;
    use burn::tensor::{Bool, TensorData};
    use trrg_model::{Trrg, TrrgConfig};
    use trrg_train::DataParallel;

    let _guard = exclusive();
    let device: burn::tensor::Device<A> = Default::default();
    let (diseases, vocab) = chexpert_vocab();
    let prompts: Vec<&str> = diseases.prompts().into_iter().map(|(_, _, p)| p).collect();
    <A as burn::tensor::backend::Backend>::seed(&device, 5);
    let model: Trrg<A> = TrrgConfig::micro(vocab.tokens().len() + 1)
        .init(&device)
        .unwrap();
    // 5 studies and 7 sentences of different lengths (so the shards pad differently); each
    // study owns one or two sentences and sentence 6 belongs to studies 1 and 4.
    let (rows, sentences) = (5, &prompts[..7]);
    let owners = [
        (0, 0),
        (1, 1),
        (1, 6),
        (2, 2),
        (2, 3),
        (3, 4),
        (4, 5),
        (4, 6),
    ];
    let mut positive = vec![false; rows * sentences.len()];
    for (b, j) in owners {
        positive[b * sentences.len() + j] = true;
    }
    let positive = TensorData::new(positive, [rows, sentences.len()]);
    let images: Vec<f32> = (0..rows * 2 * 64 * 64)
        .map(|i| ((i as f32) * 0.017).sin())
        .collect();
    let images = |r: std::ops::Range<usize>| {
        let data = images[r.start * 2 * 4096..r.end * 2 * 4096].to_vec();
        Tensor::<A, 5>::from_data(TensorData::new(data, [r.len(), 2, 1, 64, 64]), &device)
    };
    let encode = |t: std::ops::Range<usize>| {
        trrg_model::sentence_batch::<A>(&vocab, &sentences[t], 12, &device).unwrap()
    };
    // Read every lazy parameter before the workers clone the model.
    let _ = flatten(&model);

    let one = model
        .contrastive(
            images(0..rows),
            &encode(0..sentences.len()),
            Tensor::<A, 2, Bool>::from_data(positive.clone(), &device),
        )
        .unwrap()
        .loss;
    let one_loss = one.clone().into_scalar();
    let mut grads = one.backward();
    let one_vision = GradientsParams::from_module(&mut grads, &model.vision);
    let one_rest = GradientsParams::from_grads(grads, &model);

    let parallel = DataParallel::<A>::new(vec![device, device]).unwrap();
    let inputs = vec![(0..3, 0..4), (3..rows, 4..sentences.len())];
    let two = parallel
        .contrastive_gradients(
            &model,
            inputs,
            None,
            &positive,
            |replica, (studies, texts)| {
                let share = studies.len() as f32 / rows as f32;
                let parts = replica.contrastive_parts(images(studies), &encode(texts), None)?;
                Ok((parts, share))
            },
        )
        .unwrap();
    assert!(
        (two.values[0] - one_loss).abs() < 1e-5,
        "gathered loss {} against one process's {one_loss}",
        two.values[0]
    );
    let close = |want: Tensor<Flex, 2>, got: Tensor<Flex, 2>, what: &str| {
        let scale = want.clone().abs().max().into_scalar();
        let diff = (want - got).abs().max().into_scalar();
        assert!(
            scale > 0.0 && diff <= 1e-5 * scale.max(1.0),
            "{what}: gradient differs by {diff} (scale {scale})"
        );
    };
    for (param, what) in [
        (&model.align.image_proj.weight, "image projection"),
        (&model.align.text_proj.weight, "text projection"),
    ] {
        close(
            one_rest.get::<Flex, 2>(param.id).unwrap(),
            two.rest.get::<Flex, 2>(param.id).unwrap(),
            what,
        );
    }
    // The temperature's gradient counts once, not once per worker.
    let scale = model.align.logit_scale.id;
    close(
        one_rest.get::<Flex, 1>(scale).unwrap().unsqueeze(),
        two.rest.get::<Flex, 1>(scale).unwrap().unsqueeze(),
        "temperature",
    );
    struct Matrices(Vec<burn::module::ParamId>);
    impl burn::module::ModuleVisitor<A> for Matrices {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<A, D>>) {
            if D == 2 {
                self.0.push(param.id);
            }
        }
    }
    let mut matrices = Matrices(Vec::new());
    burn::module::Module::visit(&model.vision, &mut matrices);
    assert!(!matrices.0.is_empty());
    for id in matrices.0 {
        close(
            one_vision.get::<Flex, 2>(id).unwrap(),
            two.vision.get::<Flex, 2>(id).unwrap(),
            "visual encoder",
        );
    }
}

/// The stem's BatchNorm statistics follow every step of a data-parallel run as they do in one
/// process (burn folds a thread's pending update in only when that thread reads again; workers
/// sharing the CPU run on long-lived pool threads, and `DataParallel` also folds after each step
/// for workers on distinct devices, which run on new threads).
#[test]
fn data_parallel_steps_update_batchnorm_statistics() {
    use burn::module::Module;
    use burn::tensor::{Bool, TensorData};
    use trrg_model::{Trrg, TrrgConfig, VisionEncoderConfig};
    use trrg_train::DataParallel;

    let _guard = exclusive();
    let device: burn::tensor::Device<A> = Default::default();
    let (diseases, vocab) = chexpert_vocab();
    let prompts: Vec<&str> = diseases.prompts().into_iter().map(|(_, _, p)| p).collect();
    let mut config = TrrgConfig::micro(vocab.tokens().len() + 1);
    let VisionEncoderConfig::Vit(vit) = &mut config.vision else {
        panic!("the micro preset builds a ViT");
    };
    vit.conv_stem = vec![4];
    vit.conv_stem_norm = true;
    // Two models with the same values and their own running statistics.
    let init = || {
        <A as burn::tensor::backend::Backend>::seed(&device, 7);
        let model: Trrg<A> = config.init(&device).unwrap();
        let _ = flatten(&model);
        model
    };
    let (one, two) = (init(), init());
    // Two equal halves: each shard's batch statistics are then the whole batch's.
    let half: Vec<f32> = (0..2 * 2 * 64 * 64)
        .map(|i| ((i as f32) * 0.011).cos() + 0.3)
        .collect();
    let images = |rows: usize| {
        let data: Vec<f32> = half.iter().copied().cycle().take(rows * 2 * 4096).collect();
        Tensor::<A, 5>::from_data(TensorData::new(data, [rows, 2, 1, 64, 64]), &device)
    };
    let sentences = trrg_model::sentence_batch::<A>(&vocab, &prompts[..2], 12, &device).unwrap();
    let loss = |model: &Trrg<A>, rows: usize| {
        let positive = Tensor::<A, 2, Bool>::from_data(
            TensorData::new((0..rows * 2).map(|i| i % 3 == 0).collect(), [rows, 2]),
            &device,
        );
        model
            .contrastive(images(rows), &sentences, positive)
            .unwrap()
            .loss
    };
    // A model's parameters with its pending running-statistics updates folded in.
    let synced = |model: &Trrg<A>| {
        drop(model.clone().into_record());
        flatten(model)
    };
    let initial = synced(&one);
    assert_eq!(initial, synced(&two));
    let parallel = DataParallel::<A>::new(vec![device, device]).unwrap();
    for _ in 0..3 {
        drop(loss(&one, 4).backward());
        let inputs = vec![(2, 0.5), (2, 0.5)];
        parallel
            .gradients(&two, inputs, None, |replica, rows| {
                Ok((loss(replica, rows), vec![]))
            })
            .unwrap();
    }
    let (one, two) = (synced(&one), synced(&two));
    let moved = one
        .iter()
        .zip(&initial)
        .filter(|(a, b)| (*a - *b).abs() > 1e-4)
        .count();
    assert!(moved > 0, "no running statistic moved in three steps");
    let max = one
        .iter()
        .zip(&two)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        max < 1e-5,
        "two workers' running statistics differ from one process's by {max}"
    );
}

#[test]
fn data_parallel_run_trains_end_to_end() {
    let _guard = exclusive();
    let root = temp("parallel");
    let data = root.join("data");
    dataset(&data);
    let mut config = config();
    config.stage2.epochs = 1;
    let device = Default::default();
    let summary = trrg_train::train_parallel::<A>(
        &config,
        &options(&data, &root.join("run"), false, false),
        &[device, device],
    )
    .unwrap();
    assert!(summary.metrics["test"]["BLEU_4"].as_f64().is_some());
    let log = std::fs::read_to_string(root.join("run/log.jsonl")).unwrap();
    assert!(log
        .lines()
        .any(|l| l.contains("\"stage\":2") && l.contains("lm_loss")));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_second_float_type_in_one_process_is_refused() {
    let device = Default::default();
    // The device's first tensor fixes its float type to the default, f32.
    let _ = Tensor::<Flex, 1>::zeros([1], &device);
    let error = trrg_train::Precision::Bf16
        .apply::<A>(&device)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("precision") && error.contains("F32") && error.contains("BF16"),
        "{error}"
    );
    assert!(trrg_train::Precision::F32.apply::<A>(&device).is_ok());
}

/// A word-level `tokenizer.json` whose first ids are `special`, then common report words.
fn word_tokenizer(path: &Path, special: &[&str], size: usize) {
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
    let words = "the . is no heart normal in size mediastinum unremarkable lungs are clear \
                 pleural effusion or pneumothorax there focal consolidation acute fracture \
                 cardiac silhouette enlarged of a edema atelectasis nodule pulmonary within limits \
                 contour and with displaced rib fractures osseous structures intact bilaterally \
                 airspace disease mild moderate small right left lower upper lobe base opacity";
    let vocab = special
        .iter()
        .copied()
        .chain(words.split_whitespace())
        .take(size)
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token(special[3].into())
        .build()
        .unwrap();
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(WhitespaceSplit));
    tokenizer.save(path, false).unwrap();
}

/// The `base` preset trains through both stages from pretrained parts (the tiny Swin, BERT and
/// LLaMA checkpoints of the encoder and LLM crates, with word-level tokenizers written here):
/// reports go through the LLM's tokenizer, sentences through the text encoder's.
#[test]
fn base_preset_trains_from_pretrained_parts_with_their_tokenizers() {
    let _guard = exclusive();
    let root = temp("base");
    let data = root.join("data");
    dataset(&data);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = |from: &str, to: &str| {
        let dir = root.join(to);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(fixtures.join(from)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    };
    let vision = copy("vision/tests/fixtures/tiny_swin", "swin");
    let text = copy("text/tests/fixtures/tiny_bert", "bert");
    let llm = copy("llm/tests/fixtures/tiny_llama_untied", "llama");
    word_tokenizer(
        &text.join("tokenizer.json"),
        &["[PAD]", "[CLS]", "[SEP]", "[UNK]"],
        99,
    );
    word_tokenizer(
        &llm.join("tokenizer.json"),
        &["<pad>", "<s>", "</s>", "<unk>"],
        64,
    );

    let mut config = config();
    config.preset = Preset::Base;
    config.stage2.epochs = 1;
    config.image.resize = 40;
    config.image.crop = 36;
    // The tiny LLaMA covers 128 positions: a 70-token soft prompt and the report.
    config.max_seq_length = Some(40);
    config.eval.max_new_tokens = 8;
    let refused = train::<A>(
        &config,
        &options(&data, &root.join("refused"), false, false),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(refused.contains("base"), "{refused}");
    config.base = Some(trrg_train::BaseParts {
        vision,
        text,
        llm,
        llm_tokens: trrg_data::SpecialTokens {
            bos: "<s>".into(),
            eos: "</s>".into(),
            pad: "<pad>".into(),
        },
        text_tokens: trrg_data::SpecialTokens {
            bos: "[CLS]".into(),
            eos: "[SEP]".into(),
            pad: "[PAD]".into(),
        },
    });
    let run = root.join("run");
    let summary = train::<A>(
        &config,
        &options(&data, &run, false, false),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(summary.metrics["preset"], "base");
    assert!(summary.metrics["test"]["CE"]["f1"].is_number());
    // No word vocabulary: the tokenizers are the checkpoints' own.
    assert!(!run.join("vocab.json").exists());
    let samples = std::fs::read_to_string(run.join("samples.jsonl")).unwrap();
    assert_eq!(samples.lines().count(), 8);
    // The LLM's tokenizer decodes what it writes: only its words (or nothing) appear.
    for line in samples.lines() {
        let sample: Value = serde_json::from_str(line).unwrap();
        let generated = sample["generated"].as_str().unwrap();
        assert!(
            generated
                .split_whitespace()
                .all(|w| w == "<unk>" || w.chars().all(|c| c.is_ascii_lowercase() || c == '.')),
            "{generated}"
        );
    }
    std::fs::remove_dir_all(root).unwrap();
}
