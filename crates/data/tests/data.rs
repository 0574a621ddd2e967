//! trrg-data integration tests: golden cleaning, the tiny IU fixture, and the real IU-Xray reports.

use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Bool, Int, Tensor};
use trrg_data::*;
use trrg_io::WeightFile;
use trrg_testutil::asset_for_test;

mod dicom;
mod fuzz;

type B = burn::backend::Flex;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<GoldenCase>,
}

#[derive(serde::Deserialize)]
struct GoldenCase {
    input: String,
    iu_xray: String,
    mimic_cxr: String,
    r2gengpt_mimic: String,
}

#[test]
fn cleaning_matches_python_golden_cases() {
    let golden: Golden = read_json(&fixtures().join("clean_golden.json")).unwrap();
    assert!(golden.cases.len() >= 30);
    for case in &golden.cases {
        assert_eq!(
            Cleaner::IuXray.clean(&case.input),
            case.iu_xray,
            "iu_xray: {:?}",
            case.input
        );
        assert_eq!(
            Cleaner::MimicCxr.clean(&case.input),
            case.mimic_cxr,
            "mimic_cxr: {:?}",
            case.input
        );
        assert_eq!(
            Cleaner::R2GenGptMimic.clean(&case.input),
            case.r2gengpt_mimic,
            "r2gengpt_mimic: {:?}",
            case.input
        );
    }
}

fn tiny_vocab(dir: &Path) -> WordVocab {
    let ann = Annotation::from_path(dir.join("annotation.json")).unwrap();
    WordVocab::build(
        ann.train
            .iter()
            .map(|e| Cleaner::IuXray.clean(&e.report))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
        1,
    )
}

#[test]
fn iu_fixture_batch_has_documented_shapes() {
    let dir = fixtures().join("iu_tiny");
    let vocab = tiny_vocab(&dir);
    let labels = LabelTable::from_path(dir.join("labels.json"), &CHEXPERT_OBSERVATIONS).unwrap();
    let config = ReportDatasetConfig::default();
    let dataset =
        ReportDataset::from_r2gen_dir(&dir, Split::Train, &vocab, Some(&labels), &config).unwrap();
    assert_eq!(dataset.len(), 2);
    let items: Vec<StudyItem> = (0..dataset.len()).filter_map(|i| dataset.get(i)).collect();
    assert_eq!(
        items[0].report,
        "the heart is normal in size . no pleural effusion . lungs are clear ."
    );

    let transform = ImageTransformConfig {
        resize: 36,
        crop: 32,
        ..Default::default()
    };
    let batcher = ReportBatcher::new(transform, true, vocab.pad_id()).unwrap();
    let device = Default::default();
    let batch: ReportBatch<B> = batcher.batch(items.clone(), &device).unwrap();
    assert_eq!(batch.images.dims(), [2, 2, 3, 32, 32]);
    let seq_len = items.iter().map(|i| i.token_ids.len()).max().unwrap();
    assert_eq!(batch.token_ids.dims(), [2, seq_len]);
    assert_eq!(batch.attention_mask.dims(), [2, seq_len]);
    assert_eq!(batch.ids, ["CXR1", "CXR2"]);
    let labels = batch.labels.expect("the fixture has labels");
    assert_eq!(labels.values.dims(), [2, 14]);
    let values: Vec<f32> = labels.values.into_data().to_vec().unwrap();
    assert_eq!((values[1], values[14 + 1], values[14 + 9]), (0.0, 1.0, 1.0));
    let known: Vec<bool> = labels.known.into_data().to_vec().unwrap();
    assert_eq!(known.iter().filter(|&&k| k).count(), 5);

    // Masks: row 2 is the shorter report; label mask = attention mask without position 0.
    let attention: Tensor<B, 2, Bool> = batch.attention_mask;
    let lengths: Vec<i64> = attention
        .clone()
        .int()
        .sum_dim(1)
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    assert_eq!(
        lengths,
        items
            .iter()
            .map(|i| i.token_ids.len() as i64)
            .collect::<Vec<_>>()
    );
    let targets: Vec<i64> = batch
        .label_mask
        .int()
        .sum_dim(1)
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    assert_eq!(targets, lengths.iter().map(|l| l - 1).collect::<Vec<_>>());
    let ids: Tensor<B, 2, Int> = batch.token_ids;
    let first: Vec<i64> = ids
        .slice([0..2, 0..1])
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    assert_eq!(first, [0, 0], "BOS is id 0 in R2Gen's vocabulary");

    // Same epoch and seed, same pixels; another epoch, other augmentations.
    let again: ReportBatch<B> = batcher.batch(items.clone(), &device).unwrap();
    let a: Vec<f32> = again.images.into_data().to_vec().unwrap();
    let b: Vec<f32> = batcher
        .batch(items, &device)
        .map(|b: ReportBatch<B>| b.images)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(a, b);
    dataset.set_epoch(1);
    let items1: Vec<StudyItem> = (0..2).filter_map(|i| dataset.get(i)).collect();
    let c: Vec<f32> = batcher
        .batch(items1, &device)
        .map(|b: ReportBatch<B>| b.images)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap();
    assert_ne!(a, c);
}

#[test]
fn escaping_paths_are_rejected() {
    let json = r#"{"train": [{"id": "evil", "report": "x.", "image_path": ["../../etc/passwd", "a/1.png"]}]}"#;
    let ann = Annotation::from_json_str(json, Path::new("annotation.json")).unwrap();
    let vocab = WordVocab::build(["x ."], 1);
    let err = ReportDataset::from_annotation(
        &ann,
        &fixtures().join("iu_tiny/images"),
        Split::Train,
        &vocab,
        None,
        &ReportDatasetConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::File(trrg_io::Error::PathEscapesRoot { .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("evil") && msg.contains("../../etc/passwd"),
        "{msg}"
    );
}

#[test]
fn missing_and_corrupt_images_name_study_and_path() {
    let dir = fixtures().join("iu_tiny");
    let vocab = tiny_vocab(&dir);
    let config = ReportDatasetConfig::default();
    let val = ReportDataset::from_r2gen_dir(&dir, Split::Val, &vocab, None, &config).unwrap();
    let batcher = ReportBatcher::new(
        ImageTransformConfig {
            resize: 32,
            crop: 32,
            ..Default::default()
        },
        false,
        0,
    )
    .unwrap();
    let items: Vec<StudyItem> = val.get(0).into_iter().collect();
    let err = batcher
        .try_batch::<B>(&items, &Default::default())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::ImageDecode { .. })
            && msg.contains("CXR3")
            && msg.contains("CXR3/0.png"),
        "{msg}"
    );

    let json = r#"{"train": [{"id": "gone", "report": "x.", "image_path": ["nope/0.png", "nope/1.png"]}]}"#;
    let ann = Annotation::from_json_str(json, Path::new("annotation.json")).unwrap();
    let err = ReportDataset::from_annotation(
        &ann,
        &dir.join("images"),
        Split::Train,
        &vocab,
        None,
        &config,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("gone") && err.to_string().contains("nope/0.png"),
        "{err}"
    );

    let err =
        ReportDataset::from_r2gen_dir(&dir.join("absent"), Split::Train, &vocab, None, &config)
            .unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn jpeg_and_sixteen_bit_inputs_decode_to_unit_range() {
    let dir = std::env::temp_dir().join(format!("trrg-jpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.jpg");
    image::GrayImage::from_fn(16, 16, |x, _| image::Luma([(x * 16) as u8]))
        .save(&path)
        .unwrap();
    let gray = load_gray(&path, "jpeg").unwrap();
    assert_eq!(gray.dimensions(), (16, 16));
    assert!(gray.pixels().all(|p| (0.0..=1.0).contains(&p[0])));
    std::fs::remove_dir_all(dir).unwrap();
    let sixteen = load_gray(&fixtures().join("iu_tiny/images/CXR2/1.png"), "CXR2").unwrap();
    assert!(
        (sixteen.get_pixel(0, 0)[0] - 1.0).abs() < 1e-6,
        "65535 maps to 1.0"
    );
}

#[test]
fn real_iu_xray_reports_clean_and_build_the_vocabulary() {
    let Some(tgz) = asset_for_test("NLMCXR_reports.tgz") else {
        return;
    };
    let reports = read_openi_reports(&tgz).unwrap();
    assert_eq!(reports.len(), 3955);
    let annotation = iu_xray_annotation(&reports, &R2GenIuSplit::embedded()).unwrap();
    let kind = DatasetKind::IuXray;
    let root = Path::new("/images");
    let splits: Vec<StudySet> = Split::ALL
        .iter()
        .map(|&s| {
            annotation
                .studies(
                    s,
                    kind,
                    kind.default_cleaner(),
                    root,
                    EmptyReportPolicy::Error,
                )
                .unwrap()
        })
        .collect();
    let total: usize = splits.iter().map(|s| s.studies.len()).sum();
    assert_eq!(total, 2955);
    let vocab = WordVocab::build(
        splits[0].studies.iter().map(|s| s.report.as_str()),
        kind.default_threshold(),
    );
    let mut lengths: Vec<usize> = splits
        .iter()
        .flat_map(|s| &s.studies)
        .map(|s| py_split_whitespace(&s.report).count())
        .collect();
    lengths.sort_unstable();
    let pct = |p: f64| lengths[((lengths.len() - 1) as f64 * p).round() as usize];
    let over = lengths
        .iter()
        .filter(|&&l| l + 2 > kind.default_max_seq_length())
        .count();
    println!(
        "IU-Xray (R2Gen split, {total} studies): vocabulary size {} (train, threshold 3, <unk> included; ids 1..={}, 0 = BOS/EOS/PAD)",
        vocab.vocab_size() - 1,
        vocab.vocab_size() - 1
    );
    println!(
        "cleaned report length in tokens: p50 {} p90 {} p95 {} p99 {} max {}; {over} reports ({:.1}%) exceed max_seq_length 60 with BOS/EOS",
        pct(0.5),
        pct(0.9),
        pct(0.95),
        pct(0.99),
        lengths[lengths.len() - 1],
        100.0 * over as f64 / total as f64
    );
    assert!(
        vocab.vocab_size() > 500 && vocab.vocab_size() < 1500,
        "{}",
        vocab.vocab_size()
    );
    assert!(splits
        .iter()
        .all(|s| s.studies.iter().all(|st| st.report.ends_with(" ."))));
}

/// `torch.save` files in both formats (`scripts/make_torch_fixtures.py`): strided and offset
/// tensors, f16/f64/i64 and a nested dict read back exactly as torch reads them.
#[test]
fn torch_checkpoints_read_as_torch_does() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("torch_expected.json")).unwrap(),
    )
    .unwrap();
    for file in ["torch_zip.pt", "torch_legacy.pt"] {
        let mut weights = WeightFile::open_pytorch(fixtures().join(file)).unwrap();
        let described = weights.describe();
        assert_eq!(described.len(), 5, "{file}: {described:?}");
        let tracked = described
            .iter()
            .find(|t| t.name == "state_dict.bn.num_batches_tracked")
            .unwrap();
        assert_eq!((tracked.dtype.as_str(), tracked.shape.len()), ("I64", 0));
        for (name, want) in expected.as_object().unwrap() {
            let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
            let got = weights.values(name, &shape).unwrap();
            let want: Vec<f64> = serde_json::from_value(want["values"].clone()).unwrap();
            let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            assert_eq!(got, want, "{file}: {name}");
        }
        weights.finish().unwrap();
    }
    let bogus = std::env::temp_dir().join(format!("trrg-data-{}-bogus.pt", std::process::id()));
    std::fs::write(&bogus, b"\x80\x02K\x01.").unwrap();
    let err = WeightFile::open_pytorch(&bogus).err().unwrap().to_string();
    assert!(
        err.contains("bogus.pt") && err.contains("not a PyTorch checkpoint"),
        "{err}"
    );
    std::fs::remove_file(bogus).unwrap();
}

/// A HF directory with only PyTorch weights: `pytorch_model.bin`, or the shards of
/// `pytorch_model.bin.index.json` (`scripts/make_torch_fixtures.py`); an index that misplaces a
/// tensor, and a directory without weights, are one clear error each.
#[test]
fn hf_directories_with_pytorch_weights_load() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("torch_expected.json")).unwrap(),
    )
    .unwrap();
    let want = |name: &str| -> (Vec<usize>, Vec<f32>) {
        let t = &expected[format!("state_dict.{name}")];
        let values: Vec<f64> = serde_json::from_value(t["values"].clone()).unwrap();
        (
            serde_json::from_value(t["shape"].clone()).unwrap(),
            values.iter().map(|&v| v as f32).collect(),
        )
    };
    let sharded = fixtures().join("hf_bin_sharded");
    let mut weights = WeightFile::open_dir(&sharded).unwrap();
    let names: Vec<String> = weights.describe().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["half", "linear.bias", "linear.weight"]);
    for name in &names {
        let (shape, values) = want(name);
        assert_eq!(weights.values(name, &shape).unwrap(), values, "{name}");
    }
    weights.finish().unwrap();

    let dir = std::env::temp_dir().join(format!("trrg-data-{}-hf-bin", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let err = WeightFile::open_dir(&dir).err().unwrap().to_string();
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("has no weights"),
        "{err}"
    );
    std::fs::copy(
        fixtures().join("torch_zip.pt"),
        dir.join("pytorch_model.bin"),
    )
    .unwrap();
    assert_eq!(
        WeightFile::open_dir(&dir).unwrap().describe(),
        WeightFile::open_pytorch(fixtures().join("torch_zip.pt"))
            .unwrap()
            .describe()
    );
    for file in [
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
    ] {
        std::fs::copy(sharded.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(
        dir.join("pytorch_model.bin.index.json"),
        r#"{"weight_map": {"linear.weight": "pytorch_model-00002-of-00002.bin",
            "linear.bias": "pytorch_model-00002-of-00002.bin",
            "half": "pytorch_model-00002-of-00002.bin"}}"#,
    )
    .unwrap();
    let err = WeightFile::open_dir(&dir).err().unwrap().to_string();
    assert!(
        err.contains("pytorch_model.bin.index.json")
            && err.contains("tensor `linear.weight` is not in pytorch_model-00002-of-00002.bin"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hf_image_processor_follows_preprocessor_config() {
    let image = fixtures().join("iu_tiny/images/CXR1/0.png");
    let gray = image::open(&image).unwrap().to_rgb8();
    let config = std::env::temp_dir().join(format!("trrg-data-{}-pre.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"do_resize": true, "size": {"height": 20, "width": 30}, "resample": 3,
            "do_rescale": true, "rescale_factor": 0.00392156862745098,
            "do_normalize": true, "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225], "image_processor_type": "ViTImageProcessor"}"#,
    )
    .unwrap();
    let processor = HfImageProcessor::from_json(&config).unwrap();
    let (values, shape) = processor.apply(&image).unwrap();
    assert_eq!(shape, [3, 20, 30]);
    assert_eq!(values.len(), 3 * 20 * 30);
    // Without resizing, pixel (0, 0) of channel c is (p / 255 - mean[c]) / std[c].
    let plain = HfImageProcessor {
        do_resize: false,
        ..processor
    };
    let (values, shape) = plain.apply(&image).unwrap();
    assert_eq!(shape, [3, gray.height() as usize, gray.width() as usize]);
    let p = gray.get_pixel(0, 0)[1] as f32;
    let want = (p / 255.0 - 0.456) / 0.224;
    assert!((values[shape[1] * shape[2]] - want).abs() < 1e-5);
    std::fs::write(&config, r#"{"image_mean": [0.5]}"#).unwrap();
    let err = HfImageProcessor::from_json(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("image_mean") && err.contains("pre.json"),
        "{err}"
    );
    std::fs::remove_file(config).unwrap();
}
