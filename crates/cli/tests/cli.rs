//! The `trrg` binary end to end: outputs on good input, one clear error line on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trrg(args: &[&str]) -> Output {
    trrg_with_meteor_jar(args, None)
}

/// Runs `trrg` with `TRRG_METEOR_JAR` set to `jar`, or unset.
fn trrg_with_meteor_jar(args: &[&str], jar: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trrg"));
    match jar {
        Some(jar) => cmd.env("TRRG_METEOR_JAR", jar),
        None => cmd.env_remove("TRRG_METEOR_JAR"),
    };
    cmd.args(args).output().expect("the trrg binary runs")
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("trrg-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn eval_prints_pycocoevalcap_keys_and_names_the_ce_convention() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../metrics/tests/fixtures/golden_scores.json"
    );
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    let pairs = temp_file("pairs.json", &golden["sets"]["sample"]["pairs"].to_string());
    let out = trrg(&[
        "eval",
        "--pairs",
        pairs.to_str().unwrap(),
        "--ce",
        "f1chexbert",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "BLEU_1",
        "BLEU_2",
        "BLEU_3",
        "BLEU_4",
        "METEOR",
        "ROUGE_L",
        "CIDEr",
        "METEOR_modules",
        "CE",
    ] {
        assert!(scores.get(key).is_some(), "missing {key}");
    }
    let expected = &golden["sets"]["sample"]["scores"];
    assert!(
        (scores["BLEU_4"].as_f64().unwrap() - expected["BLEU_4"].as_f64().unwrap()).abs() < 1e-9
    );
    assert!((scores["CIDEr"].as_f64().unwrap() - expected["CIDEr"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(scores["CE"]["convention"], "f1chexbert");
    assert_eq!(scores["CE"]["labeler"], "CheXpert-style rules (trrg)");
    // METEOR: full modules when python3 has pycocoevalcap, else exact+stem (never above).
    let meteor = scores["METEOR"].as_f64().unwrap();
    let want = expected["METEOR"].as_f64().unwrap();
    match scores["METEOR_modules"].as_str().unwrap() {
        "exact,stem,synonym,paraphrase" => assert!((meteor - want).abs() < 1e-9),
        "exact,stem" => assert!(meteor > 0.0 && meteor <= want + 1e-12, "{meteor} vs {want}"),
        other => panic!("unexpected METEOR_modules {other}"),
    }
    std::fs::remove_file(pairs).unwrap();
}

#[test]
fn eval_with_a_missing_meteor_jar_names_it() {
    let pairs = temp_file(
        "meteor-pairs.json",
        r#"{"refs": {"a": ["no effusion ."]}, "hyps": {"a": ["no effusion ."]}}"#,
    );
    let out = trrg_with_meteor_jar(
        &["eval", "--pairs", pairs.to_str().unwrap()],
        Some("/nonexistent/meteor-1.5.jar"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/meteor-1.5.jar"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(pairs).unwrap();
}

#[test]
fn eval_and_label_reject_bad_input_with_one_clear_line() {
    let cases = [
        (
            r#"{"refs": {"a": ["x ."]}, "hyps": {"b": ["y ."]}}"#,
            "hypothesis `b` has no reference",
        ),
        (r#"{"refs": {"a": ["x ."]}}"#, "missing object \"hyps\""),
        (
            r#"{"refs": {"a": [""]}, "hyps": {"a": ["y ."]}}"#,
            "empty reference",
        ),
        (
            r#"{"refs": {"a": ["x ."]}, "hyps": {"a": ["y .", "z ."]}}"#,
            "exactly one text",
        ),
        ("{not json", "not valid JSON"),
    ];
    for (i, (json, message)) in cases.iter().enumerate() {
        let path = temp_file(&format!("bad{i}.json"), json);
        let out = trrg(&["eval", "--pairs", path.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(message) && err.lines().count() == 1,
            "{json}: {err}"
        );
        std::fs::remove_file(path).unwrap();
    }
    let invalid = std::env::temp_dir().join(format!("trrg-cli-{}-latin1.json", std::process::id()));
    std::fs::write(&invalid, b"{\"a\": \"caf\xe9\"}").unwrap();
    let out = trrg(&["label", "--reports", invalid.to_str().unwrap()]);
    assert!(
        !out.status.success() && stderr(&out).contains("not valid UTF-8"),
        "{}",
        stderr(&out)
    );
    let out = trrg(&["label", "--reports", "/nonexistent/reports.json"]);
    assert!(!out.status.success() && stderr(&out).contains("/nonexistent/reports.json"));
    std::fs::remove_file(invalid).unwrap();
}

#[test]
fn label_prints_all_14_observations() {
    let path = temp_file(
        "reports.json",
        r#"{"s1": "Mild cardiomegaly. No pleural effusion."}"#,
    );
    let out = trrg(&["label", "--reports", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let labels: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(labels["s1"].as_object().unwrap().len(), 14);
    assert_eq!(labels["s1"]["Cardiomegaly"], 1);
    assert_eq!(labels["s1"]["Pleural Effusion"], 0);
    assert!(labels["s1"]["Edema"].is_null());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn synth_writes_a_synthetic_dataset_and_refuses_foreign_directories() {
    let out_dir = std::env::temp_dir().join(format!("trrg-cli-{}-synth", std::process::id()));
    let out = trrg(&[
        "synth",
        "--out",
        out_dir.to_str().unwrap(),
        "--studies",
        "5",
        "--size",
        "64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SYNTHETIC"));
    assert!(
        out_dir.join("annotation.json").is_file()
            && out_dir.join("images/synth_00004/1.png").is_file()
    );
    let out = trrg(&[
        "synth",
        "--out",
        env!("CARGO_MANIFEST_DIR"),
        "--studies",
        "5",
    ]);
    assert!(!out.status.success() && stderr(&out).contains("not a trrg synthetic dataset"));
    let out = trrg(&[
        "synth",
        "--out",
        out_dir.to_str().unwrap(),
        "--studies",
        "0",
    ]);
    assert!(!out.status.success() && stderr(&out).contains("studies"));
    std::fs::remove_dir_all(out_dir).unwrap();
}

#[test]
fn inspect_reports_architecture_and_unmapped_tensors() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vision/tests/fixtures/tiny_swin"
    );
    let out = trrg(&["inspect", fixture]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    for part in [
        "Swin visual encoder",
        "77 (F32 x77)",
        "25180 in the loaded model",
        "unmapped:     none",
    ] {
        assert!(stdout.contains(part), "{part}: {stdout}");
    }
    // A config with one block fewer leaves that block's tensors unmapped: named, non-zero exit.
    let dir = std::env::temp_dir().join(format!("trrg-cli-{}-swin", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        format!("{fixture}/model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let config = std::fs::read_to_string(format!("{fixture}/config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config["depths"] = serde_json::json!([2, 1]);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let out = trrg(&["inspect", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("encoder.layers.1.blocks.1.") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    let out = trrg(&["inspect", "/nonexistent/ckpt"]);
    assert!(!out.status.success() && stderr(&out).contains("/nonexistent/ckpt"));
}

#[test]
fn train_names_a_device_the_backend_lacks() {
    let out = trrg(&[
        "train",
        "--devices",
        "cpu,quantum:2",
        "--data-dir",
        "/nonexistent",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("device `quantum:2`") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn train_in_bf16_keeps_its_parameters_in_bf16() {
    let root = std::env::temp_dir().join(format!("trrg-cli-{}-bf16", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    let out = trrg(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--studies",
        "24",
        "--size",
        "64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = temp_file(
        "bf16.json",
        r#"{"preset": "micro", "precision": "bf16", "batch_size": 8,
            "image": {"resize": 72, "crop": 64, "hflip_prob": 0.0, "channels": 1,
                      "mean": [0.5], "std": [0.25], "resize_mode": "square"},
            "stage1": {"epochs": 1}, "stage2": {"epochs": 2},
            "eval": {"num_beams": 1, "max_new_tokens": 12}}"#,
    );
    let run = root.join("run");
    let out = trrg(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["float_dtype"], "BF16", "{metrics}");
    let losses: Vec<f64> = std::fs::read_to_string(run.join("log.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["loss"].as_f64())
        .collect();
    assert!(
        !losses.is_empty() && losses.iter().all(|l| l.is_finite()),
        "{losses:?}"
    );
    // `trrg generate` writes a report for a study of the run's split, with the clue
    // probabilities and the thresholds the run fitted on its validation split.
    let views: Vec<String> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .map(|study| {
            let mut views: Vec<String> = std::fs::read_dir(study.path())
                .unwrap()
                .map(|v| v.unwrap().path().display().to_string())
                .collect();
            views.sort();
            views
        })
        .unwrap();
    let mut args = vec!["generate", "--checkpoint", run.to_str().unwrap(), "--json"];
    args.extend(views.iter().map(String::as_str));
    let out = trrg(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(report["report"].is_string(), "{report}");
    assert_eq!(report["clues"].as_object().unwrap().len(), 14, "{report}");
    let fitted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("clue_thresholds.json")).unwrap())
            .unwrap();
    assert_eq!(report["clue_thresholds"], fitted, "{report}");
    assert_eq!(metrics["clue_thresholds"], fitted, "{metrics}");
    std::fs::remove_file(run.join("clue_thresholds.json")).unwrap();
    let out = trrg(&args);
    assert!(
        !out.status.success() && stderr(&out).contains("clue_thresholds.json"),
        "{}",
        stderr(&out)
    );

    let bad = temp_file("f8.json", r#"{"precision": "f8"}"#);
    let out = trrg(&["train", "--config", bad.to_str().unwrap()]);
    assert!(
        !out.status.success() && stderr(&out).contains("precision"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(root).unwrap();
}

/// Each cause is printed once: a config with an unknown field lists the valid fields once, and a
/// missing run directory names the OS error once.
#[test]
fn errors_print_each_cause_once() {
    let config = temp_file("unknown-field.json", r#"{"no_such_field": 1}"#);
    let out = trrg(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        "/nonexistent/data",
        "--out",
        "/nonexistent/run",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no_such_field"), "{err}");
    assert_eq!(err.matches("batch_size").count(), 1, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );

    let out = trrg(&[
        "generate",
        "--checkpoint",
        "/nonexistent/run",
        "frontal.png",
        "lateral.png",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/run"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // `eval --predictions` scores every CE convention and no per-example rows: it refuses the
    // flags that would say otherwise.
    for flag in [&["--ce", "promptmrg"][..], &["--per-example"][..]] {
        let mut args = vec!["eval", "--predictions", "preds.jsonl"];
        args.extend_from_slice(flag);
        let out = trrg(&args);
        let err = stderr(&out);
        assert!(
            !out.status.success() && err.contains("cannot be used with"),
            "{flag:?}: {err}"
        );
    }

    // A checkpoint file where a directory is expected says what to give instead.
    let file = temp_file("stage2-epoch008.model.mpk", "not a directory");
    let out = trrg(&[
        "generate",
        "--checkpoint",
        file.to_str().unwrap(),
        "frontal.png",
        "lateral.png",
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("expects a run directory")
            && !err.contains("Not a directory"),
        "{err}"
    );
}

/// `RUST_LOG=info` (and the default `warn`) shows how many studies were skipped for an empty
/// report; the corrupt image that follows is one error line naming the file.
#[test]
fn skipped_studies_are_logged_and_a_corrupt_image_is_one_error() {
    let root = std::env::temp_dir().join(format!("trrg-cli-{}-skipped", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    for id in ["a", "b"] {
        std::fs::create_dir_all(data.join("images").join(id)).unwrap();
        for view in ["0.png", "1.png"] {
            std::fs::write(data.join("images").join(id).join(view), b"not a png").unwrap();
        }
    }
    std::fs::write(
        data.join("annotation.json"),
        r#"{"train": [
            {"id": "a", "report": "", "image_path": ["a/0.png", "a/1.png"]},
            {"id": "b", "report": "The heart is normal.", "image_path": ["b/0.png", "b/1.png"]}
        ], "val": [], "test": []}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trrg"))
        .args(["train", "--quiet", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(root.join("run"))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("skipped 1 studies with an empty report"),
        "{err}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("study `b`"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

/// One small trained run (micro preset, LoRA in stage 2) shared by the tests below: its data
/// directory and run directory.
fn trained_run() -> &'static (PathBuf, PathBuf) {
    static RUN: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("trrg-cli-{}-e2e", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        let out = trrg(&[
            "synth", "--out", data.to_str().unwrap(), "--studies", "40", "--size", "64",
            "--seed", "5",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let run = root.join("run");
        let out = trrg(&[
            "train", "--preset", "micro", "--data-dir", data.to_str().unwrap(), "--out",
            run.to_str().unwrap(), "--quiet",
            "--set", "batch_size=8", "--set", "image.resize=72", "--set", "image.crop=64",
            "--set", "stage1.epochs=1", "--set", "stage2.epochs=1", "--set", "eval.num_beams=2",
            "--set", "eval.max_new_tokens=16",
            "--set", r#"stage2_llm={"lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}}"#,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        (data, run)
    })
}

fn json_file(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `trrg predict` on the run's test split writes one row per study with clues, decisions and
/// labels, the same reports the run wrote into samples.jsonl, and a metrics.json equal to what
/// `trrg eval --predictions` computes from those rows; a CSV of the same pairs scores the same
/// NLG metrics; bad input is one clear error.
#[test]
fn predict_writes_rows_and_metrics_that_eval_reproduces() {
    let (data, run) = trained_run();
    let out_dir = run.parent().unwrap().join("predict");
    let out = trrg(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        out_dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&out_dir.join("predictions.jsonl"));
    let samples = lines(&run.join("samples.jsonl"));
    assert_eq!(rows.len(), samples.len());
    for (row, sample) in rows.iter().zip(&samples) {
        assert_eq!(row["id"], sample["id"]);
        assert_eq!(
            row["generated"], sample["generated"],
            "predict != the run's test pass"
        );
        assert_eq!(row["reference"], sample["reference"]);
        assert_eq!(row["clues"].as_object().unwrap().len(), 14);
        assert_eq!(row["clue_decisions"].as_object().unwrap().len(), 14);
        for key in [
            "generated_labels",
            "reference_labels",
            "ground_truth_labels",
        ] {
            assert_eq!(row[key].as_object().unwrap().len(), 14, "{key}");
        }
    }
    let metrics = json_file(&out_dir.join("metrics.json"));
    for convention in ["r2gen", "promptmrg", "f1chexbert"] {
        assert!(metrics["CE"][convention]["f1"].is_number(), "{convention}");
        assert!(metrics["CE_vs_ground_truth"][convention]["f1"].is_number());
    }
    let run_metrics = json_file(&run.join("metrics.json"));
    assert_eq!(metrics["BLEU_4"], run_metrics["test"]["BLEU_4"]);
    assert_eq!(
        metrics["CE"]["r2gen"]["f1"],
        run_metrics["test"]["CE"]["f1"]
    );
    // The run's test table, scored again from the prediction rows.
    assert!(run_metrics["test_per_observation"].is_array());
    assert_eq!(
        metrics["per_observation"],
        run_metrics["test_per_observation"]
    );
    let rows_path = out_dir.join("predictions.jsonl");
    let out = trrg(&["eval", "--predictions", rows_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        from_rows, metrics,
        "trrg eval --predictions != predict's metrics.json"
    );
    // The same pairs as CSV (quoted fields, an id column).
    let mut csv = String::from("id,reference,generated\n");
    for row in &rows {
        let q = |v: &serde_json::Value| format!("\"{}\"", v.as_str().unwrap().replace('"', "\"\""));
        csv += &format!(
            "{},{},{}\n",
            row["id"].as_str().unwrap(),
            q(&row["reference"]),
            q(&row["generated"])
        );
    }
    let csv_path = temp_file("pairs.csv", &csv);
    let out = trrg(&["eval", "--predictions", csv_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_csv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["BLEU_4", "METEOR", "ROUGE_L", "CIDEr"] {
        assert_eq!(from_csv[key], metrics[key], "{key}");
    }
    assert_eq!(from_csv["CE"], metrics["CE"]);
    // Image files without references: rows, no metrics.
    let first = &rows[0]["views"];
    let images_out = run.parent().unwrap().join("predict-images");
    let out = trrg(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        "--out",
        images_out.to_str().unwrap(),
        first[0].as_str().unwrap(),
        first[1].as_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let image_rows = lines(&images_out.join("predictions.jsonl"));
    assert_eq!(image_rows.len(), 1);
    assert_eq!(image_rows[0]["generated"], rows[0]["generated"]);
    assert!(!images_out.join("metrics.json").exists());
    // Bad input: one clear line each.
    let empty = run.parent().unwrap().join("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    let out = trrg(&[
        "predict",
        "--checkpoint",
        empty.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("config.json") && err.contains("empty-run"),
        "{err}"
    );
    let out = trrg(&[
        "predict",
        "--checkpoint",
        run.to_str().unwrap(),
        "--data-dir",
        empty.to_str().unwrap(),
        "--out",
        "x",
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("annotation.json"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let bad_rows = temp_file("bad.jsonl", "{\"id\": \"a\"}\n");
    let out = trrg(&["eval", "--predictions", bad_rows.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("line 1"), "{err}");
}

/// `trrg obey` writes one row per forced clue and one with every clue off, each a fraction of
/// the normal studies; a split without normal studies is one clear error.
#[test]
fn obey_forces_each_clue_and_counts_what_the_reports_state() {
    let (data, run) = trained_run();
    let json = run.parent().unwrap().join("obey.json");
    let out = on_run(
        "obey",
        run,
        data.to_str().unwrap(),
        &[
            "--split",
            "all",
            "--studies",
            "6",
            "--quiet",
            "--out",
            json.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| Pleural Effusion |") && table.contains("| (none) |"),
        "{table}"
    );
    let probe = json_file(&json);
    assert_eq!(probe["studies"], 6);
    let rows = probe["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    let fraction = |v: &serde_json::Value| v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f));
    assert!(rows[..14]
        .iter()
        .all(|r| fraction(&r["stated"]) && fraction(&r["other_findings"])));
    assert!(rows[14]["clue_on"].is_null() && rows[14]["stated"].is_null());

    let out = on_run("obey", run, "/nonexistent-trrg-data", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent-trrg-data"), "{err}");
}

/// `trrg COMMAND --checkpoint RUN --data-dir DATA REST...`.
fn on_run(command: &str, run: &Path, data: &str, rest: &[&str]) -> std::process::Output {
    let mut args = vec![
        command,
        "--checkpoint",
        run.to_str().unwrap(),
        "--data-dir",
        data,
    ];
    args.extend_from_slice(rest);
    trrg(&args)
}

/// `trrg probe` prints one row per observation with a clue: the AUC of the run's clue logits
/// beside the feature probes, each in [0, 1] or "-" (a class missing from the split).
#[test]
fn probe_scores_the_clue_logits_beside_the_feature_probes() {
    let (data, run) = trained_run();
    let json = run.parent().unwrap().join("probe.json");
    let out = on_run(
        "probe",
        run,
        data.to_str().unwrap(),
        &["--split", "test", "--out", json.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("SYNTHETIC test split") && table.contains("| **mean** |"),
        "{table}"
    );
    let rows = json_file(&json);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let auc =
        |v: &serde_json::Value| v.is_null() || v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f));
    for r in rows {
        assert!(auc(&r["clue"]), "{r}");
        for key in ["pooled", "views", "patches"] {
            assert!(auc(&r["probe"][key]), "{r}");
        }
    }
    assert!(rows.iter().any(|r| r["clue"].is_number()));
    let out = on_run("probe", run, data.to_str().unwrap(), &["--split", "all"]);
    let err = stderr(&out);
    // clap refuses the value and names the ones it takes.
    assert!(
        !out.status.success() && err.contains("'all'") && err.contains("val"),
        "{err}"
    );
}

fn dicom_fixture(name: &str) -> String {
    format!(
        "{}/../data/tests/fixtures/dicom/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn generate_json(checkpoint: &std::path::Path, views: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "generate",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(views);
    let out = trrg(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `trrg export` writes the LLM in HF Llama layout (names, shapes, f32), the LoRA adapters in
/// PEFT layout and a model card; `trrg generate` on the exported directory writes exactly the
/// run's report. The same study as PNG and as DICOM (both photometric interpretations) gives
/// the same report.
#[test]
fn export_is_self_contained_and_dicom_reads_like_png() {
    let (_, run) = trained_run();
    let export = run.parent().unwrap().join("export");
    let out = trrg(&[
        "export",
        "--checkpoint",
        run.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = json_file(&export.join("llm/config.json"));
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    let layers = config["num_hidden_layers"].as_u64().unwrap() as usize;
    let tied = config["tie_word_embeddings"].as_bool().unwrap();
    let bytes = std::fs::read(export.join("llm/model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names: std::collections::HashSet<String> =
        file.names().into_iter().map(String::from).collect();
    assert_eq!(names, trrg_core::run::hf_llama_names(layers, tied));
    let (d, vocab, inner) = (
        config["hidden_size"].as_u64().unwrap() as usize,
        config["vocab_size"].as_u64().unwrap() as usize,
        config["intermediate_size"].as_u64().unwrap() as usize,
    );
    let kv = config["num_key_value_heads"].as_u64().unwrap() as usize
        * config["head_dim"].as_u64().unwrap() as usize;
    for (name, shape) in [
        ("model.embed_tokens.weight".to_string(), vec![vocab, d]),
        ("model.layers.0.self_attn.q_proj.weight".into(), vec![d, d]),
        ("model.layers.0.self_attn.k_proj.weight".into(), vec![kv, d]),
        ("model.layers.0.mlp.gate_proj.weight".into(), vec![inner, d]),
        ("model.layers.0.mlp.down_proj.weight".into(), vec![d, inner]),
        ("model.norm.weight".into(), vec![d]),
    ] {
        let t = file.tensor(&name).unwrap();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
    }
    let adapter = json_file(&export.join("llm/adapter_config.json"));
    assert_eq!(adapter["peft_type"], "LORA");
    let bytes = std::fs::read(export.join("llm/adapter_model.safetensors")).unwrap();
    let lora = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(lora
        .names()
        .iter()
        .any(|n| n.starts_with("base_model.model.model.layers.0.self_attn.q_proj.lora_A")));
    let card = std::fs::read_to_string(export.join("README.md")).unwrap();
    assert!(
        card.contains("synthetic") && card.contains("BLEU_4"),
        "{card}"
    );
    // An export writes over an earlier export of the same run only: not into the run
    // directory, not over a folder of the user's.
    let export_to = |out: &std::path::Path| {
        trrg(&[
            "export",
            "--checkpoint",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert!(export_to(&export).status.success());
    // `trrg inspect` reads the run, the export and a checkpoint of the run alike.
    let model_file = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".model.mpk"))
        .unwrap();
    let mut counts = Vec::new();
    for (what, path) in [
        ("run", run.clone()),
        ("export", export.clone()),
        ("checkpoint", model_file.clone()),
    ] {
        let out = trrg(&["inspect", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert!(
            text.contains("TRRG, preset micro") && text.contains("F32"),
            "{what}: {text}"
        );
        let line = text.lines().find(|l| l.starts_with("parameters:")).unwrap();
        counts.push(line.split_whitespace().nth(1).unwrap().to_string());
    }
    assert!(counts.iter().all(|c| *c == counts[0]), "{counts:?}");
    let optim = model_file
        .to_string_lossy()
        .replace(".model.mpk", ".optim.mpk");
    let out = trrg(&["inspect", &optim]);
    assert!(!out.status.success() && stderr(&out).contains("not a model checkpoint"));
    let out = export_to(run);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("is the run directory itself"),
        "{err}"
    );
    let mine = run.parent().unwrap().join("my-folder");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("README.md"), "my notes").unwrap();
    let out = export_to(&mine);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("is not empty") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("README.md")).unwrap(),
        "my notes"
    );
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    // Same report from the run and from the export, from PNG and from DICOM.
    let png = dicom_fixture("rg1_chest_pa_512.png");
    let (mono2, mono1) = (
        dicom_fixture("rg1_dx_monochrome2.dcm"),
        dicom_fixture("rg1_dx_monochrome1_rle.dcm"),
    );
    let from_run = generate_json(run, &[&png, &png]);
    assert_eq!(
        generate_json(&export, &[&png, &png]),
        from_run,
        "export != run"
    );
    assert_eq!(
        generate_json(run, &[&mono2, &mono1]),
        from_run,
        "DICOM != PNG"
    );
    // An image over the pixel budget is one error naming it and the variable that raises it.
    let out = Command::new(env!("CARGO_BIN_EXE_trrg"))
        .env("TRRG_MAX_IMAGE_PIXELS", "100000")
        .args([
            "generate",
            "--checkpoint",
            run.to_str().unwrap(),
            &png,
            &png,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("482x512")
            && err.contains("TRRG_MAX_IMAGE_PIXELS")
            && err.lines().count() == 1,
        "{err}"
    );
    // A missing image given on the command line is named once, with no dataset hint.
    let missing = run.parent().unwrap().join("no-such-view.png");
    let out = trrg(&[
        "generate",
        "--checkpoint",
        run.to_str().unwrap(),
        &png,
        missing.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.matches("no-such-view.png").count() == 1
            && !err.contains("images root"),
        "{err}"
    );
    let corrupt = temp_file("corrupt.dcm", "not a DICOM file at all");
    let out = trrg(&[
        "generate",
        "--checkpoint",
        run.to_str().unwrap(),
        &png,
        corrupt.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("corrupt.dcm") && err.contains("DICOM"),
        "{err}"
    );
}

/// `--print-config` shows the effect of `--preset` and `--set`; bad overrides are one clear line.
#[test]
fn train_flags_print_config_and_overrides() {
    let out = trrg(&[
        "train",
        "--print-config",
        "--preset",
        "micro",
        "--set",
        "stage2.epochs=3",
        "--set",
        "clue.consistency_weight=0.25",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["preset"], "micro");
    assert_eq!(config["stage2"]["epochs"], 3);
    assert_eq!(config["clue"]["consistency_weight"], 0.25);
    for (set, word) in [
        ("nope.x=1", "nope"),
        ("stage2.epochs=many", "stage2.epochs"),
        ("stage2", "KEY=VALUE"),
        ("stage2.epochs=-1", "expected a whole number, 0 or more"),
        ("stage2.lr=fast", "expected a number"),
    ] {
        let out = trrg(&["train", "--print-config", "--set", set]);
        let err = stderr(&out);
        assert!(!out.status.success() && err.contains(word), "{set}: {err}");
    }
    let out = trrg(&["train", "--resume"]);
    assert!(
        !out.status.success() && stderr(&out).contains("--out"),
        "{}",
        stderr(&out)
    );
}

/// A raw HTTP/1.1 exchange with the server; returns the whole response.
fn http_text(addr: &str, request: &[u8]) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    read_response(stream)
}

/// The whole response on `stream`; empty if none comes within 5 minutes (a server that waits
/// on another request fails the test instead of hanging it).
fn read_response(mut stream: std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(300)))
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// A raw HTTP/1.1 exchange with the server; returns the status and body.
fn http(addr: &str, request: &[u8]) -> (u16, String) {
    let text = http_text(addr, request);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "trrgTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"view\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A PNG signature, an IHDR chunk (8-bit gray) claiming `width x height`, an IDAT chunk with
/// an empty zlib stream and IEND: 71 bytes from which a decoder reads the size.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn post(addr: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST /api/report HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    http(addr, &request)
}

/// `trrg serve` answers the page, the model info and a report with clues and evidence maps;
/// an oversized upload gets 413, a non-image or a wrong view count 400, each with a JSON error.
#[test]
fn serve_answers_reports_and_refuses_bad_uploads() {
    use std::io::BufRead;
    let (_, run) = trained_run();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trrg"))
        .args([
            "serve",
            "--checkpoint",
            run.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--max-upload-mb",
            "1",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    // The server goes down with the test, also when an assertion fails.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Stop(child);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .to_string();
    let (status, page) = http(&addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(page.contains("/api/report") && page.contains("not for clinical use"));
    assert!(page.contains("id=\"scale\"") && page.contains("even share"));
    let (status, info) = http(
        &addr,
        b"GET /api/info HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["views"], 2);
    // The run's name, not the server's path to it.
    assert_eq!(info["checkpoint"], "run");
    let png = std::fs::read(dicom_fixture("rg1_chest_pa_512.png")).unwrap();
    let dcm = std::fs::read(dicom_fixture("rg1_dx_monochrome1_rle.dcm")).unwrap();
    let (ct, body) = multipart(&[("frontal.png", &png), ("lateral.dcm", &dcm)]);
    let (status, answer) = post(&addr, &ct, &body);
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let report = answer["report"].as_str().unwrap();
    let expected = generate_json(
        run,
        &[
            &dicom_fixture("rg1_chest_pa_512.png"),
            &dicom_fixture("rg1_dx_monochrome2.dcm"),
        ],
    );
    assert_eq!(report, expected["report"].as_str().unwrap());
    assert_eq!(answer["clues"].as_array().unwrap().len(), 14);
    let evidence = &answer["evidence"];
    let grid = evidence["grid"].as_array().unwrap();
    let n = (grid[0].as_u64().unwrap() * grid[1].as_u64().unwrap()) as usize;
    let maps = evidence["maps"].as_object().unwrap();
    assert_eq!(maps.len(), 14);
    let first: Vec<f64> = maps
        .values()
        .next()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(first.len(), 2 * n);
    assert!(
        (first.iter().sum::<f64>() - 1.0).abs() < 1e-3,
        "attention sums to 1"
    );
    // An upload that has sent half its body holds up no other request: its worker waits for
    // the rest while another worker reads, decodes and answers a whole one.
    let (ct, body) = multipart(&[("frontal.png", &png), ("lateral.dcm", &dcm)]);
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    {
        use std::io::Write;
        stalled
            .write_all(format!("POST /api/report HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes())
            .unwrap();
        stalled.write_all(&body[..body.len() / 2]).unwrap();
        let (status, answer) = post(&addr, &ct, &body);
        assert_eq!(
            status, 200,
            "a request waited on a stalled upload: {answer}"
        );
        stalled.write_all(&body[body.len() / 2..]).unwrap();
    }
    let late = read_response(stalled);
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
    let late: serde_json::Value =
        serde_json::from_str(late.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(late["report"], report);
    // A PNG whose header claims 16384 x 16384 pixels is refused from its header.
    let huge = png_header(16_384, 16_384);
    let (ct, body) = multipart(&[("huge.png", &huge), ("b.png", &png)]);
    let (status, answer) = post(&addr, &ct, &body);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("16384x16384") && answer.contains("TRRG_MAX_IMAGE_PIXELS"),
        "{answer}"
    );
    let big = vec![0u8; 1 << 21];
    let (ct, body) = multipart(&[("a.png", &big), ("b.png", &big)]);
    let (status, answer) = post(&addr, &ct, &body);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("limit"), "{answer}");
    let (ct, body) = multipart(&[("notes.txt", b"hello"), ("b.png", &png)]);
    let (status, answer) = post(&addr, &ct, &body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("notes.txt"), "{answer}");
    let (ct, body) = multipart(&[("a.png", &png)]);
    let (status, answer) = post(&addr, &ct, &body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("2 view"), "{answer}");
    let (status, _) = post(&addr, "application/json", b"{}");
    assert_eq!(status, 400);
    // HEAD as GET without a body; a method a path does not take gets 405 with `Allow`.
    let head = http_text(&addr, b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.split_once("\r\n\r\n").unwrap().1.is_empty(), "{head}");
    let denied = http_text(
        &addr,
        b"DELETE /api/info HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(denied.starts_with("HTTP/1.1 405"), "{denied}");
    assert!(denied.contains("Allow: GET, HEAD"), "{denied}");
    let denied = http_text(
        &addr,
        b"GET /api/report HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        denied.contains("Allow: POST") && denied.contains("allowed: POST"),
        "{denied}"
    );
}

/// Every subcommand's `--help` ends with examples that use only flags the subcommand has.
#[test]
fn every_help_ends_with_examples_of_its_own_flags() {
    for command in [
        "synth", "eval", "label", "train", "generate", "predict", "obey", "probe", "export",
        "serve", "inspect",
    ] {
        let out = trrg(&[command, "--help"]);
        assert!(out.status.success(), "{command}");
        let help = String::from_utf8(out.stdout).unwrap();
        let (options, examples) = help
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"));
        for line in examples.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.trim();
            assert!(
                line.starts_with(&format!("trrg {command} ")),
                "{command}: {line}"
            );
            for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
                assert!(
                    options.contains(&format!("{flag} ")) || options.contains(&format!("{flag}\n")),
                    "{command}: example flag {flag} is not in its help"
                );
            }
        }
    }
}

/// A run records its data directory (absolute): `--resume` from another folder, without
/// `--data-dir`, continues on the same data and generates none where it runs; data that has
/// moved away is one error that asks for `--data-dir`.
#[test]
fn resume_from_another_folder_finds_the_run_data() {
    let root = std::env::temp_dir().join(format!("trrg-cli-{}-resume-cwd", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run_in = |cwd: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trrg"))
            .current_dir(cwd)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run_in(
        &root,
        &[
            "synth",
            "--out",
            "data",
            "--studies",
            "20",
            "--size",
            "64",
            "--seed",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let micro = [
        "--preset",
        "micro",
        "--quiet",
        "--set",
        "batch_size=8",
        "--set",
        "image.resize=72",
        "--set",
        "image.crop=64",
        "--set",
        "stage1.epochs=1",
        "--set",
        "stage2.epochs=1",
        "--set",
        "eval.num_beams=1",
        "--set",
        "eval.max_new_tokens=8",
    ];
    let mut args = vec!["train", "--data-dir", "data", "--out", "run"];
    args.extend_from_slice(&micro);
    let out = run_in(&root, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded = json_file(&root.join("run/data.json"));
    assert_eq!(
        recorded["data_dir"].as_str().unwrap(),
        root.join("data").canonicalize().unwrap().to_str().unwrap()
    );
    let out = run_in(
        &elsewhere,
        &["train", "--out", "../run", "--resume", "--quiet"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !elsewhere.join("data").exists(),
        "resume generated data where it ran"
    );
    std::fs::rename(root.join("data"), root.join("moved")).unwrap();
    let out = run_in(
        &elsewhere,
        &["train", "--out", "../run", "--resume", "--quiet"],
    );
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("no longer exists") && err.contains("--data-dir"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}
