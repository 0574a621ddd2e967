//! The `trrg` binary end to end: outputs on good input, one clear error line on bad input.

use std::path::PathBuf;
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
