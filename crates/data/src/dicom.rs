//! DICOM input: the first frame of a monochrome DICOM image as gray values in [0, 1].
//!
//! The pixel data is decoded by dicom-rs (pure Rust): uncompressed (implicit and explicit VR,
//! little and big endian), deflated, RLE lossless, JPEG baseline (8-bit) and lossless, and JPEG
//! 2000 (12-bit JPEG extended is refused). Then, as a viewer displays it: the modality LUT (rescale slope and intercept), the
//! first VOI transform of the file (a VOI LUT table, else the first window center and width with
//! its `VOILUTFunction`: LINEAR, LINEAR_EXACT or SIGMOID, computed here in f64; without either, a
//! min-max normalization), and for `MONOCHROME1` the inversion, so that bone is bright in every
//! input.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::OpenFileOptions;
use dicom_pixeldata::{ConvertOptions, PhotometricInterpretation, PixelDecoder, VoiLutOption};

use crate::image::GrayImage;
use crate::{Error, Result};

/// Whether `bytes` start like a DICOM Part 10 file (a 128-byte preamble, then `DICM`).
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM".as_slice())
}

/// Decodes the first frame of a DICOM file to gray values in [0, 1]; `id` names the study in
/// errors. The header's size is checked against the file's length before pixels are decoded.
pub(crate) fn decode_dicom(bytes: &[u8], path: &Path, id: &str) -> Result<GrayImage> {
    let bad = |reason: String| Error::Dicom {
        id: id.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let object = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(bytes)
        .map_err(|e| bad(format!("not a readable DICOM file ({e})")))?;
    let syntax = object
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let int = |tag, name: &str| -> Result<u32> {
        object
            .element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .ok_or_else(|| bad(format!("it has no usable {name} attribute (not an image?)")))
    };
    let (height, width) = (int(tags::ROWS, "Rows")?, int(tags::COLUMNS, "Columns")?);
    if width == 0 || height == 0 {
        return Err(bad(format!("it claims a {width}x{height} image")));
    }
    crate::image::check_claimed_size(width, height, bytes.len() as u64, path, id)?;
    let decoded = object.decode_pixel_data_frame(0).map_err(|e| {
        bad(format!(
            "cannot decode its pixel data (transfer syntax {syntax}): {e}"
        ))
    })?;
    let photometric = decoded.photometric_interpretation().clone();
    if decoded.samples_per_pixel() != 1 || !photometric.is_monochrome() {
        return Err(bad(format!(
            "photometric interpretation {photometric} with {} sample(s) per pixel is not \
             supported; trrg reads monochrome radiographs (MONOCHROME1 or MONOCHROME2)",
            decoded.samples_per_pixel()
        )));
    }
    let invert = photometric == PhotometricInterpretation::Monochrome1;
    let window = || -> Option<(f64, f64, String)> {
        let first = |tag| {
            object
                .element(tag)
                .ok()?
                .to_multi_float64()
                .ok()?
                .first()
                .copied()
        };
        let function = object
            .element(tags::VOILUT_FUNCTION)
            .ok()
            .and_then(|e| e.to_str().ok().map(|s| s.trim().to_ascii_uppercase()))
            .unwrap_or_else(|| "LINEAR".into());
        Some((
            first(tags::WINDOW_CENTER)?,
            first(tags::WINDOW_WIDTH)?,
            function,
        ))
    };
    let shown: Vec<f64> = if object.element(tags::VOILUT_SEQUENCE).is_ok() {
        // An explicit VOI LUT table: the library applies it; its output spans 0..=2^n - 1, n the
        // power of two at or above Bits Stored.
        let options = ConvertOptions::new().with_voi_lut(VoiLutOption::First);
        let values: Vec<u16> = decoded
            .to_vec_frame_with_options(0, &options)
            .map_err(|e| bad(format!("cannot apply its VOI LUT: {e}")))?;
        let bits = u32::from(decoded.bits_stored()).next_power_of_two().min(16);
        let max = f64::from((1u32 << bits) - 1);
        values.iter().map(|&v| f64::from(v) / max).collect()
    } else {
        // The modality LUT (rescale) by the library, the window here in f64, so that no
        // intermediate integer output rounds the values.
        let options = ConvertOptions::new().with_voi_lut(VoiLutOption::Identity);
        let values: Vec<f64> = decoded
            .to_vec_frame_with_options(0, &options)
            .map_err(|e| bad(format!("cannot apply its modality LUT: {e}")))?;
        match window() {
            Some((center, width, function)) => {
                let f = voi_window(center, width, &function).map_err(bad)?;
                values.iter().map(|&x| f(x)).collect()
            }
            None => {
                let (lo, hi) = values
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                        (l.min(v), h.max(v))
                    });
                let span = if hi > lo { hi - lo } else { 1.0 };
                values.iter().map(|&v| (v - lo) / span).collect()
            }
        }
    };
    let gray: Vec<f32> = shown
        .iter()
        .map(|&v| {
            let v = v.clamp(0.0, 1.0);
            (if invert { 1.0 - v } else { v }) as f32
        })
        .collect();
    let n = gray.len();
    GrayImage::from_raw(width, height, gray).ok_or_else(|| {
        bad(format!(
            "its first frame holds {n} values, not {width}x{height}"
        ))
    })
}

/// The VOI window of DICOM PS3.3 C.11.2.1.2 as a map to [0, 1]: `LINEAR` (the default),
/// `LINEAR_EXACT` or `SIGMOID`.
type Window = Box<dyn Fn(f64) -> f64>;

fn voi_window(center: f64, width: f64, function: &str) -> std::result::Result<Window, String> {
    match function {
        "LINEAR" if width >= 1.0 => Ok(Box::new(move |x| {
            let (c, w) = (center - 0.5, width - 1.0);
            if x <= c - w / 2.0 {
                0.0
            } else if x > c + w / 2.0 || w == 0.0 {
                1.0
            } else {
                (x - c) / w + 0.5
            }
        })),
        "LINEAR_EXACT" if width > 0.0 => Ok(Box::new(move |x| {
            ((x - center) / width + 0.5).clamp(0.0, 1.0)
        })),
        "SIGMOID" if width > 0.0 => Ok(Box::new(move |x| {
            1.0 / (1.0 + (-4.0 * (x - center) / width).exp())
        })),
        "LINEAR" | "LINEAR_EXACT" | "SIGMOID" => Err(format!(
            "its window width {width} is out of range for {function}"
        )),
        other => Err(format!(
            "VOI LUT function `{other}` is not LINEAR, LINEAR_EXACT or SIGMOID"
        )),
    }
}
