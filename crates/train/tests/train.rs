//! End-to-end training on a small synthetic dataset with the micro preset: resume equals an
//! uninterrupted run, and bad input fails early with clear errors.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use serde_json::Value;
use trrg_synth::{write_dataset, SynthConfig};
use trrg_train::{train, Error, LlmTraining, Preset, RunOptions, TrainConfig};

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

fn options(data: &Path, out: &Path, resume: bool, stop: Option<usize>) -> RunOptions {
    RunOptions {
        data_dir: data.to_path_buf(),
        out_dir: out.to_path_buf(),
        resume,
        quiet: true,
        stop_after_stage2_epochs: stop,
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
        &options(&data, &root.join("a"), false, None),
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
        "plots/stage2_val_bleu4_cider_ce_f1.png",
    ] {
        assert!(root.join("a").join(file).is_file(), "{file}");
    }

    let b = root.join("b");
    let err = train::<A>(&config, &options(&data, &b, false, Some(1)), &device).unwrap_err();
    assert!(matches!(err, Error::Stopped { epochs: 1 }), "{err}");
    assert!(!b.join("metrics.json").exists());
    let resumed = train::<A>(&config, &options(&data, &b, true, None), &device).unwrap();
    assert_eq!(resumed.metrics, whole.metrics);
    let read = |d: &str, f: &str| std::fs::read_to_string(root.join(d).join(f)).unwrap();
    assert_eq!(read("a", "samples.jsonl"), read("b", "samples.jsonl"));
    // The resumed run's log has each step once, byte for byte as the uninterrupted one.
    assert_eq!(read("a", "log.jsonl"), read("b", "log.jsonl"));
    std::fs::remove_dir_all(root).unwrap();
}

/// Stage 2 with LoRA adapters on a frozen LLM: the checkpoints hold the adapters, so a run
/// stopped after one epoch resumes to the same result; the frozen setting trains too.
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
    let whole = train::<A>(
        &config,
        &options(&data, &root.join("a"), false, None),
        &device,
    )
    .unwrap();
    let b = root.join("b");
    let err = train::<A>(&config, &options(&data, &b, false, Some(1)), &device).unwrap_err();
    assert!(matches!(err, Error::Stopped { epochs: 1 }), "{err}");
    let resumed = train::<A>(&config, &options(&data, &b, true, None), &device).unwrap();
    assert_eq!(resumed.metrics, whole.metrics);
    config.stage2_llm = LlmTraining::Frozen;
    config.stage2.epochs = 1;
    let frozen = train::<A>(
        &config,
        &options(&data, &root.join("c"), false, None),
        &device,
    )
    .unwrap();
    assert!(frozen.metrics["test"]["BLEU_4"].is_number());
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
        &options(&root.join("nope"), &out, false, None),
        &device,
    )
    .unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
    assert!(!out.exists());

    let bad_config = TrainConfig {
        batch_size: 0,
        ..config.clone()
    };
    let err = train::<A>(&bad_config, &options(&data, &out, false, None), &device).unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");

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
    let err = train::<A>(&config, &options(&data, &out, false, None), &device).unwrap_err();
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
    let err = train::<A>(&config, &options(&data, &fresh, false, None), &device).unwrap_err();
    assert!(
        err.to_string()
            .contains(&*victim.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
    assert!(!fresh.exists());

    std::fs::write(data.join("annotation.json"), "{\"train\": [").unwrap();
    let err = train::<A>(&config, &options(&data, &fresh, false, None), &device).unwrap_err();
    assert!(err.to_string().contains("annotation.json"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}
