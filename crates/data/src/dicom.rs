//! DICOM input: the first frame of a monochrome DICOM image as gray values in [0, 1].
//!
//! The pixel data is decoded by dicom-rs (pure Rust): uncompressed (implicit and explicit VR,
//! little and big endian), deflated, RLE lossless, JPEG baseline, extended and lossless, and
//! JPEG 2000. Then, as a viewer displays it: the modality LUT (rescale slope and intercept), the
//! first VOI transform of the file (a VOI LUT table, else the first window center and width with
//! its `VOILUTFunction`: LINEAR, LINEAR_EXACT or SIGMOID; without either, a min-max
//! normalization), and for `MONOCHROME1` the inversion, so that bone is bright in every input.

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
    let len = bytes.len() as u64;
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(bad(format!("it claims a {width}x{height} image")));
    }
    if width > crate::MAX_IMAGE_SIDE
        || height > crate::MAX_IMAGE_SIDE
        || pixels > crate::max_image_pixels(len)
    {
        return Err(Error::ImageTooLarge {
            id: id.to_string(),
            path: path.to_path_buf(),
            width,
            height,
            len,
        });
    }
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
    let options = ConvertOptions::new().with_voi_lut(VoiLutOption::First);
    let values: Vec<u16> = decoded
        .to_vec_frame_with_options(0, &options)
        .map_err(|e| bad(format!("cannot apply its modality and VOI transforms: {e}")))?;
    // The VOI output spans 0..=2^n - 1, n the power of two at or above Bits Stored.
    let bits = u32::from(decoded.bits_stored()).next_power_of_two().min(16);
    let max = (1u32 << bits) - 1;
    let invert = photometric == PhotometricInterpretation::Monochrome1;
    let gray: Vec<f32> = values
        .iter()
        .map(|&v| {
            let v = u32::from(v).min(max);
            let v = if invert { max - v } else { v };
            v as f32 / max as f32
        })
        .collect();
    GrayImage::from_raw(width, height, gray).ok_or_else(|| {
        bad(format!(
            "its first frame holds {} values, not {width}x{height}",
            values.len()
        ))
    })
}
