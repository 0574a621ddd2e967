//! trrg-synth: determinism, report/label agreement, truthfulness, and evidence in the pixels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use trrg_synth::*;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("trrg-synth-{name}-{}", std::process::id()))
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let config = SynthConfig {
        studies: 12,
        size: 96,
        ..Default::default()
    };
    let (a, b, c) = (temp("a"), temp("b"), temp("c"));
    write_dataset(&a, &config).unwrap();
    write_dataset(&b, &config).unwrap();
    write_dataset(
        &c,
        &SynthConfig {
            seed: 8,
            ..config.clone()
        },
    )
    .unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(
        fa.len(),
        12 * 2 + 4,
        "annotation, labels, findings, manifest and two views per study"
    );
    assert_eq!(fa, fb);
    assert_ne!(
        fa.get(Path::new("images/synth_00000/0.png")),
        fc.get(Path::new("images/synth_00000/0.png"))
    );
    assert_ne!(
        fa.get(Path::new("annotation.json")),
        fc.get(Path::new("annotation.json"))
    );
    // Reuse with the same settings; refuse a directory that is not a synthetic dataset.
    write_dataset(&a, &config).unwrap();
    let err = write_dataset(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        &config,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not a trrg synthetic dataset"),
        "{err}"
    );
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Extra training studies leave the first `studies` as they were (so the validation and test
/// splits too), and add studies drawn with the same seeds to the training split only.
#[test]
fn extra_training_studies_keep_the_splits_as_they_were() {
    let config = SynthConfig {
        studies: 10,
        size: 64,
        ..Default::default()
    };
    let extra = SynthConfig {
        extra_train: 5,
        ..config.clone()
    };
    assert_eq!(
        default_dir(Path::new("data"), &extra),
        Path::new("data/synth-iu-64px-10+5-seed7")
    );
    let (a, b) = (temp("base"), temp("extra"));
    write_dataset(&a, &config).unwrap();
    let manifest = write_dataset(&b, &extra).unwrap();
    assert_eq!(manifest.counts["train"], 7 + 5);
    let (fa, fb) = (files(&a), files(&b));
    for (path, bytes) in &fa {
        if path.starts_with("images") {
            assert_eq!(fb.get(path), Some(bytes), "{}", path.display());
        }
    }
    let splits = |dir: &Path| -> BTreeMap<String, Vec<String>> {
        let text = std::fs::read_to_string(dir.join("annotation.json")).unwrap();
        let annotation: BTreeMap<String, Vec<serde_json::Value>> =
            serde_json::from_str(&text).unwrap();
        annotation
            .into_iter()
            .map(|(k, v)| (k, v.iter().map(|s| s["id"].to_string()).collect()))
            .collect()
    };
    let (sa, sb) = (splits(&a), splits(&b));
    assert_eq!(sa["val"], sb["val"]);
    assert_eq!(sa["test"], sb["test"]);
    assert_eq!(sb["train"][..7], sa["train"][..]);
    assert_eq!(
        sb["train"][7..],
        (10..15)
            .map(|i| format!("\"synth_{i:05}\""))
            .collect::<Vec<_>>()
    );
    // A manifest without the field (every dataset written before it) reads as 0, and the
    // default config writes none, so those datasets are reused.
    let text = std::fs::read_to_string(a.join("synthetic.json")).unwrap();
    assert!(!text.contains("extra_train"), "{text}");
    for d in [a, b] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// An independent reading of the generated text: mention keywords per observation, with negation
/// ("no", "normal", "unremarkable", "without") and uncertainty ("may represent", "borderline")
/// cues, aggregated as CheXpert does.
fn read_labels(report: &str) -> BTreeMap<String, i8> {
    const MENTIONS: &[(&str, &[&str])] = &[
        (
            "Cardiomegaly",
            &[
                "cardiomegaly",
                "heart size",
                "heart is",
                "cardiac silhouette",
            ],
        ),
        ("Enlarged Cardiomediastinum", &["mediastin"]),
        ("Pleural Effusion", &["pleural effusion"]),
        ("Pneumothorax", &["pneumothorax"]),
        ("Consolidation", &["consolidation"]),
        ("Pneumonia", &["pneumonia"]),
        (
            "Lung Opacity",
            &["opacity", "infiltrates", "airspace disease"],
        ),
        ("Edema", &["edema"]),
        ("Atelectasis", &["atelectasis"]),
        ("Lung Lesion", &["nodule", " mass "]),
        ("Pleural Other", &["pleural thickening"]),
        ("Fracture", &["fracture"]),
        (
            "Support Devices",
            &["pacemaker", "sternotomy", "catheter", "endotracheal tube"],
        ),
    ];
    let mut labels: BTreeMap<String, i8> = BTreeMap::new();
    let mut incidental = false;
    for sentence in report.to_lowercase().split(". ") {
        let sentence = format!(" {} ", sentence.trim_end_matches('.'));
        incidental |= sentence.contains("granuloma");
        let negated = sentence.starts_with(" no ")
            || sentence.starts_with(" there is no ")
            || sentence.contains("normal")
            || sentence.contains("unremarkable");
        for (name, words) in MENTIONS {
            let Some(at) = words.iter().filter_map(|w| sentence.find(w)).min() else {
                continue;
            };
            let before = &sentence[..at];
            let value = if negated || before.contains("without") {
                0
            } else if before.contains("may represent")
                || before.contains("borderline")
                || sentence[at..].contains("borderline")
            {
                -1
            } else {
                1
            };
            // Positive beats uncertain beats negative.
            let rank = |v: i8| match v {
                1 => 2,
                -1 => 1,
                _ => 0,
            };
            let slot = labels.entry(name.to_string()).or_insert(value);
            if rank(value) > rank(*slot) {
                *slot = value;
            }
        }
    }
    let abnormal = labels
        .iter()
        .any(|(n, &v)| n != "Support Devices" && v != 0);
    if !abnormal && !incidental {
        labels.insert("No Finding".into(), 1);
    }
    labels
}

fn config500() -> SynthConfig {
    SynthConfig {
        studies: 500,
        size: 64,
        seed: 11,
        ..Default::default()
    }
}

#[test]
fn reports_state_exactly_the_labels_on_500_studies() {
    let config = config500();
    let mismatches: Vec<String> = (0..config.studies)
        .into_par_iter()
        .filter_map(|i| {
            let s = generate_study(&config, i);
            let stated = read_labels(&s.report);
            let written: BTreeMap<String, i8> = s
                .labels
                .iter()
                .filter_map(|(k, v)| v.map(|v| (k.clone(), v)))
                .collect();
            (stated != written).then(|| {
                format!(
                    "{}: {}\n  read {stated:?}\n  file {written:?}",
                    s.id, s.report
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g.\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(3)].join("\n")
    );
}

#[test]
fn labels_are_true_to_the_rendered_findings() {
    let config = config500();
    for i in 0..config.studies {
        let s = generate_study(&config, i);
        let f = &s.findings;
        let label = |name: &str| s.labels.get(name).copied().flatten();
        let present = [
            ("Cardiomegaly", f.cardiomegaly()),
            ("Enlarged Cardiomediastinum", f.enlarged_mediastinum),
            ("Pleural Effusion", f.effusion.is_some()),
            ("Pneumothorax", f.pneumothorax.is_some()),
            ("Consolidation", f.consolidation.is_some()),
            ("Pneumonia", f.pneumonia.is_some()),
            ("Lung Opacity", f.opacity.is_some() || f.pneumonia.is_some()),
            ("Edema", f.edema),
            ("Atelectasis", f.atelectasis.is_some()),
            ("Lung Lesion", f.lesion.is_some()),
            ("Pleural Other", f.pleural_thickening.is_some()),
            ("Fracture", f.rib_fracture.is_some()),
            ("Support Devices", !f.devices.is_empty()),
        ];
        for (name, shown) in present {
            assert_eq!(
                label(name) == Some(1),
                shown,
                "{}: {name} label {:?} vs findings {f:?}",
                s.id,
                label(name)
            );
        }
        // A faint opacity is reported as possible pneumonia unless pneumonia is stated elsewhere.
        let ambiguous =
            f.borderline_heart() || (matches!(f.opacity, Some((_, true))) && f.pneumonia.is_none());
        let uncertain = s.labels.values().any(|v| *v == Some(-1));
        assert_eq!(
            uncertain, ambiguous,
            "{}: uncertainty only where the image is ambiguous",
            s.id
        );
        let no_finding = label("No Finding") == Some(1);
        assert_eq!(
            no_finding,
            f.is_normal() || (f.granuloma.is_none() && !ambiguous && present_only_devices(f)),
            "{}",
            s.id
        );
    }
}

fn present_only_devices(f: &Findings) -> bool {
    Findings {
        devices: vec![],
        ..f.clone()
    }
    .is_normal()
}

#[test]
fn findings_from_labels_show_what_the_labels_state() {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let f = Findings::from_labels(
        [
            ("Cardiomegaly", 1),
            ("Pleural Effusion", 1),
            ("Pneumonia", -1),
            ("Edema", 0),
        ],
        &mut rng,
    );
    assert!(
        f.cardiomegaly()
            && f.effusion.is_some()
            && matches!(f.opacity, Some((_, true)))
            && !f.edema
    );
    let said = statements(&f, &mut rng);
    let labels = aggregate_labels(&said, &f);
    assert_eq!(labels.get("Pneumonia"), Some(&Some(-1)));
    assert_eq!(labels.get("Cardiomegaly"), Some(&Some(1)));
}

/// Area-average downsampling of a square gray image to `side` x `side`, standardized later.
fn features(image: &image::GrayImage, side: u32) -> Vec<f32> {
    let cell = image.width() / side;
    let mut out = Vec::with_capacity((side * side) as usize);
    for cy in 0..side {
        for cx in 0..side {
            let mut sum = 0.0;
            for y in cy * cell..(cy + 1) * cell {
                for x in cx * cell..(cx + 1) * cell {
                    sum += image.get_pixel(x, y)[0] as f32;
                }
            }
            out.push(sum / (cell * cell) as f32 / 255.0);
        }
    }
    out
}

/// Full-batch logistic regression (gradient descent, L2), returning weights and bias.
fn logistic_regression(
    x: &[Vec<f32>],
    y: &[f32],
    epochs: usize,
    lr: f32,
    l2: f32,
) -> (Vec<f32>, f32) {
    let d = x[0].len();
    let (mut w, mut b) = (vec![0.0f32; d], 0.0f32);
    for _ in 0..epochs {
        let mut gw = vec![0.0f32; d];
        let mut gb = 0.0;
        for (xi, &yi) in x.iter().zip(y) {
            let z: f32 = xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + b;
            let err = 1.0 / (1.0 + (-z).exp()) - yi;
            for (g, &v) in gw.iter_mut().zip(xi) {
                *g += err * v;
            }
            gb += err;
        }
        let n = x.len() as f32;
        for (wi, g) in w.iter_mut().zip(&gw) {
            *wi -= lr * (g / n + l2 * *wi);
        }
        b -= lr * gb / n;
    }
    (w, b)
}

/// Area under the ROC curve (Mann-Whitney U, ties counted half).
fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let (mut pairs, mut wins) = (0.0, 0.0);
    for (s_pos, _) in scores.iter().zip(labels).filter(|(_, &l)| l) {
        for (s_neg, _) in scores.iter().zip(labels).filter(|(_, &l)| !l) {
            pairs += 1.0;
            wins += if s_pos > s_neg {
                1.0
            } else if s_pos == s_neg {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

#[test]
fn pixel_baseline_detects_cardiomegaly_and_effusion_above_chance() {
    let config = SynthConfig::default();
    let studies: Vec<(Split, Vec<f32>, bool, bool)> = (0..config.studies)
        .into_par_iter()
        .map(|i| {
            let s = generate_study(&config, i);
            let mut x = features(&s.frontal, 16);
            x.extend(features(&s.lateral, 16));
            (
                s.split,
                x,
                s.findings.cardiomegaly(),
                s.findings.effusion.is_some(),
            )
        })
        .collect();
    let d = studies[0].1.len();
    let train: Vec<_> = studies.iter().filter(|s| s.0 == Split::Train).collect();
    let test: Vec<_> = studies.iter().filter(|s| s.0 == Split::Test).collect();
    let mean: Vec<f32> = (0..d)
        .map(|j| train.iter().map(|s| s.1[j]).sum::<f32>() / train.len() as f32)
        .collect();
    let std: Vec<f32> = (0..d)
        .map(|j| {
            (train
                .iter()
                .map(|s| (s.1[j] - mean[j]).powi(2))
                .sum::<f32>()
                / train.len() as f32)
                .sqrt()
                .max(1e-3)
        })
        .collect();
    let norm = |x: &[f32]| {
        x.iter()
            .enumerate()
            .map(|(j, v)| (v - mean[j]) / std[j])
            .collect::<Vec<f32>>()
    };
    let xtr: Vec<Vec<f32>> = train.iter().map(|s| norm(&s.1)).collect();
    let xte: Vec<Vec<f32>> = test.iter().map(|s| norm(&s.1)).collect();
    let mut aucs = Vec::new();
    for (name, pick) in [("cardiomegaly", 2usize), ("pleural effusion", 3)] {
        let label = |s: &&(Split, Vec<f32>, bool, bool)| if pick == 2 { s.2 } else { s.3 };
        let ytr: Vec<f32> = train.iter().map(|s| label(s) as u8 as f32).collect();
        let (w, b) = logistic_regression(&xtr, &ytr, 300, 0.1, 1e-2);
        let scores: Vec<f32> = xte
            .iter()
            .map(|x| x.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + b)
            .collect();
        let yte: Vec<bool> = test.iter().map(label).collect();
        let a = auc(&scores, &yte);
        println!(
            "logistic regression on 16x16 frontal + lateral pixels, default SYNTHETIC set ({} train / {} test): {name} test AUC {a:.3} ({} positives)",
            train.len(),
            test.len(),
            yte.iter().filter(|&&p| p).count()
        );
        aucs.push(a);
    }
    assert!(
        aucs.iter().all(|&a| a > 0.7),
        "AUCs {aucs:?} should be well above chance (0.5)"
    );
}

/// A semi-synthetic set: given reports, images drawn from their labels, the source named in the
/// manifest; written again with the same inputs it is reused.
#[test]
fn paired_dataset_keeps_reports_and_draws_their_labels() {
    use trrg_synth::{write_paired_dataset, PairedStudy, StudyLabels};
    let labels = |pairs: &[(&str, i8)]| -> StudyLabels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(*v)))
            .collect()
    };
    let studies = vec![
        PairedStudy {
            id: "CXR1".into(),
            split: Split::Train,
            report: "The heart is enlarged. Small left pleural effusion.".into(),
            labels: labels(&[("Cardiomegaly", 1), ("Pleural Effusion", 1)]),
        },
        PairedStudy {
            id: "CXR2".into(),
            split: Split::Test,
            report: "No acute cardiopulmonary abnormality.".into(),
            labels: labels(&[("No Finding", 1), ("Pleural Effusion", 0)]),
        },
    ];
    let dir = std::env::temp_dir().join(format!("trrg-synth-{}-paired", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let manifest = write_paired_dataset(&dir, &studies, 64, 5, "test reports").unwrap();
    assert!(manifest.synthetic);
    assert_eq!(manifest.reports.as_deref(), Some("test reports"));
    let annotation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("annotation.json")).unwrap())
            .unwrap();
    assert_eq!(annotation["train"][0]["report"], studies[0].report.as_str());
    // What synth writes, trrg-data reads: the same `AnnotationEntry`, every image in place.
    let back = trrg_data::Annotation::from_path(dir.join("annotation.json")).unwrap();
    for (split, study) in [(Split::Train, &studies[0]), (Split::Test, &studies[1])] {
        let set = back
            .studies(
                split,
                trrg_data::DatasetKind::IuXray,
                trrg_data::Cleaner::IuXray,
                &dir.join("images"),
                trrg_data::EmptyReportPolicy::Error,
            )
            .unwrap();
        assert_eq!(set.studies.len(), 1);
        assert_eq!(set.studies[0].id, study.id);
        assert!(set.studies[0].image_paths.iter().all(|p| p.is_file()));
    }
    assert_eq!(annotation["test"][0]["id"], "CXR2");
    let findings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("findings.json")).unwrap()).unwrap();
    assert!(findings["CXR1"]["cardiothoracic_ratio"].as_f64().unwrap() > 0.55);
    assert!(!findings["CXR1"]["effusion"].is_null());
    assert!(findings["CXR2"]["effusion"].is_null());
    assert!(dir.join("images/CXR2/1.png").is_file());
    let again = write_paired_dataset(&dir, &studies, 64, 5, "test reports").unwrap();
    assert_eq!(again, manifest);
    // A split is a `Split` now: a name outside train/val/test is refused where it is read.
    let err = serde_json::from_str::<Split>("\"dev\"").unwrap_err();
    assert!(err.to_string().contains("dev"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
