//! DICOM input: the DX fixtures of `scripts/dicom-fixtures.py` against the PNG they were written
//! from, pydicom's own test files against pydicom's displayed values, and clear errors for what
//! trrg refuses.

use std::path::{Path, PathBuf};

use serde_json::Value;
use trrg_data::{load_gray, looks_like_dicom, Error};
use trrg_testutil::asset_for_test;

fn dicom_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom")
}

/// `shared/assets/rg1_chest_pa_512.png`, copied beside the DX files written from it.
fn png() -> PathBuf {
    dicom_fixtures().join("rg1_chest_pa_512.png")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(dicom_fixtures().join("pydicom_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Both photometric interpretations of the DX fixture show exactly the PNG's gray values: the
/// modality LUT (slope 1/16), the LINEAR_EXACT window and, for MONOCHROME1, the inversion.
#[test]
fn dx_fixtures_in_both_photometric_interpretations_equal_their_png() {
    let mono2 = load_gray(&dicom_fixtures().join("rg1_dx_monochrome2.dcm"), "dx").unwrap();
    let mono1 = load_gray(&dicom_fixtures().join("rg1_dx_monochrome1_rle.dcm"), "dx").unwrap();
    assert_eq!(mono2.dimensions(), (482, 512));
    assert_eq!(
        mono1.as_raw(),
        mono2.as_raw(),
        "MONOCHROME1 (RLE) != MONOCHROME2"
    );
    let from_png = load_gray(&png(), "png").unwrap();
    assert_eq!(mono2.as_raw(), from_png.as_raw(), "DICOM != PNG");
}

fn check_against_pydicom(path: &Path, want: &Value, tolerance: f64) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let bytes = std::fs::read(path).unwrap();
    assert!(looks_like_dicom(&bytes), "{name}: no DICM magic");
    let image = load_gray(path, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        (image.height(), image.width()),
        (
            want["rows"].as_u64().unwrap() as u32,
            want["columns"].as_u64().unwrap() as u32
        ),
        "{name}: shape"
    );
    let values = image.as_raw();
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    let want_mean = want["mean"].as_f64().unwrap();
    assert!(
        (mean - want_mean).abs() < tolerance,
        "{name}: mean {mean} vs pydicom {want_mean}"
    );
    for s in want["samples"].as_array().unwrap() {
        let (y, x, v) = (
            s[0].as_u64().unwrap() as u32,
            s[1].as_u64().unwrap() as u32,
            s[2].as_f64().unwrap(),
        );
        let got = f64::from(image.get_pixel(x, y)[0]);
        assert!(
            (got - v).abs() < tolerance,
            "{name}: pixel ({y}, {x}) {got} vs pydicom {v}"
        );
    }
}

/// The committed JPEG-baseline DX file equals pydicom's display of it (min-max normalized; the
/// two JPEG decoders may differ by a level, hence 1.5/255).
#[test]
fn jpeg_baseline_fixture_matches_pydicom() {
    let want = &reference()["readable"]["rg1_dx_jpeg_baseline.dcm"];
    check_against_pydicom(
        &dicom_fixtures().join("rg1_dx_jpeg_baseline.dcm"),
        want,
        1.5 / 255.0,
    );
}

/// pydicom's test files in each transfer syntax trrg reads (uncompressed little/big endian,
/// implicit and explicit VR, deflate, RLE, JPEG 2000 lossless and lossy) display as pydicom shows
/// them.
#[test]
fn real_pydicom_test_files_display_as_pydicom_shows_them() {
    let reference = reference();
    let mut checked = 0;
    for (name, want) in reference["readable"].as_object().unwrap() {
        if name.starts_with("rg1_") {
            continue;
        }
        let Some(path) = asset_for_test(&format!("pydicom/{name}")) else {
            return;
        };
        // JPEG 2000 is decoded by two different libraries (openjp2 here, OpenJPEG there).
        check_against_pydicom(&path, want, 2.5e-3);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files checked");
}

/// What trrg cannot read is one error that names the file, and the reason.
#[test]
fn real_unsupported_and_corrupt_dicom_are_one_clear_error() {
    let reference = reference();
    for (name, word) in reference["refused"].as_object().unwrap() {
        let Some(path) = asset_for_test(&format!("pydicom/{name}")) else {
            return;
        };
        let e = load_gray(&path, "s1").unwrap_err();
        assert!(matches!(e, Error::Dicom { .. }), "{name}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(name.as_str()) && msg.contains("s1"),
            "{name}: {msg}"
        );
        assert!(msg.contains(word.as_str().unwrap()), "{name}: {msg}");
    }
}

/// Bytes that claim to be DICOM but are cut short, or a `.dcm` that is not DICOM at all.
#[test]
fn truncated_and_fake_dicom_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("trrg-dicom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(dicom_fixtures().join("rg1_dx_monochrome2.dcm")).unwrap();
    for (name, bytes) in [
        ("cut.dcm", good[..good.len() / 2].to_vec()),
        ("header_only.dcm", good[..400].to_vec()),
        ("fake.dcm", b"this is not a DICOM file".to_vec()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let e = load_gray(&path, "s1").unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("DICOM"), "{name}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real CR radiograph the PNG fixture was made from (MONOCHROME1, 15 bits, no window: min-max
/// normalized, then inverted) decodes at full size with bone bright: resized to the PNG's size
/// it correlates with the PNG (made with a percentile window) above 0.95.
#[test]
fn real_monochrome1_chest_radiograph_decodes_bone_bright() {
    let Some(path) = asset_for_test("pydicom/RG1_UNCR.dcm") else {
        return;
    };
    let image = load_gray(&path, "rg1").unwrap();
    assert_eq!(image.dimensions(), (1841, 1955));
    let png = load_gray(&png(), "png").unwrap();
    let small = image::imageops::resize(
        &image,
        png.width(),
        png.height(),
        image::imageops::FilterType::Triangle,
    );
    let (a, b) = (small.as_raw(), png.as_raw());
    let n = a.len() as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    let r = sab / (saa * sbb).sqrt();
    println!("RG1_UNCR.dcm vs rg1_chest_pa_512.png: correlation {r:.4}");
    assert!(r > 0.95, "correlation {r}");
}
