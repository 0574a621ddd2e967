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

/// The value representations whose explicit-VR header has a 2-byte length.
const SHORT_LENGTH_VRS: [&[u8]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// The transfer syntaxes whose data set (after the file meta group) is deflated.
const DEFLATED: [&str; 2] = ["1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"];

/// Refuses a file whose length fields claim more bytes than it holds, before dicom-rs reads
/// it: dicom-rs sizes and zero-fills each value's buffer from its length field, so a file of a
/// few hundred bytes could make it allocate 4 GiB. The file meta group is walked here (it is
/// always explicit VR little endian); the data set's element, sequence and item headers are
/// read with dicom-rs's lazy reader, which skips values without reading them. A deflated data
/// set is inflated first, up to the most that a file of this length may hold. Whatever else is
/// wrong is left to the decoder's own errors.
fn check_lengths(bytes: &[u8]) -> std::result::Result<(), String> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::{entries, TransferSyntaxRegistry};
    use std::io::Read;

    let start = if looks_like_dicom(bytes) { 128 } else { 0 };
    let Some(file) = bytes.get(start..).filter(|b| b.starts_with(b"DICM")) else {
        return Ok(());
    };
    let (at, syntax) = check_meta_group(file)?;
    let Some(ts) = TransferSyntaxRegistry.get(&syntax) else {
        return Ok(());
    };
    if !DEFLATED.contains(&syntax.as_str()) {
        return check_data_set(&file[at..], ts);
    }
    let most = 2 * crate::image::max_image_pixels(bytes.len() as u64);
    let mut inflated = Vec::new();
    let _ = flate2::read::DeflateDecoder::new(&file[at..])
        .take(most + 1)
        .read_to_end(&mut inflated);
    if inflated.len() as u64 > most {
        return Err(format!(
            "its deflated data set inflates to more than {most} bytes"
        ));
    }
    check_data_set(&inflated, &entries::EXPLICIT_VR_LITTLE_ENDIAN.erased())
}

/// "its {what} claims {len} bytes, more than the {holds} the file holds".
fn too_long(what: String, len: u64, holds: usize) -> std::result::Result<(), String> {
    Err(format!(
        "its {what} claims {len} bytes, more than the {holds} the file holds"
    ))
}

/// Walks the file meta group of `file` (from its `DICM`) as dicom-rs reads it, checking each
/// length against the file; returns where the data set starts and the transfer syntax.
fn check_meta_group(file: &[u8]) -> std::result::Result<(usize, String), String> {
    // The group's length, when the group starts with it as it should, bounds the group (as
    // dicom-rs reads it); else the group ends at the first element of another group.
    let meta_end = match file.get(4..16) {
        Some(h) if h[..6] == [2, 0, 0, 0, b'U', b'L'] => {
            16 + u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize
        }
        _ => usize::MAX,
    };
    let (mut at, mut syntax) = (4usize, String::new());
    while let Some(head) = file.get(at..at + 8).filter(|_| at < meta_end) {
        let (group, element) = (
            u16::from_le_bytes([head[0], head[1]]),
            u16::from_le_bytes([head[2], head[3]]),
        );
        if group != 2 && meta_end == usize::MAX {
            break;
        }
        // An unknown VR is read as UN, with a 4-byte length.
        let long = !SHORT_LENGTH_VRS.contains(&&head[4..6]);
        let (len, value_at) = match (long, file.get(at + 8..at + 12)) {
            (false, _) => (u64::from(u16::from_le_bytes([head[6], head[7]])), at + 8),
            (true, Some(l)) => (
                u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]])),
                at + 12,
            ),
            (true, None) => break,
        };
        let holds = file.len() - value_at.min(file.len());
        if len > holds as u64 {
            too_long(
                format!("meta element ({group:04X},{element:04X})"),
                len,
                holds,
            )?;
        }
        let value = &file[value_at..value_at + len as usize];
        if (group, element) == (2, 0x10) {
            syntax = String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        at = value_at + len as usize;
    }
    Ok((at, syntax))
}

/// Reads the element, sequence and item headers of `data_set` with dicom-rs's lazy reader
/// (which skips values without reading them), checking each length against the data set.
fn check_data_set(
    data_set: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> std::result::Result<(), String> {
    use dicom_parser::dataset::lazy_read::LazyDataSetReader;
    use dicom_parser::dataset::LazyDataToken;

    let holds = data_set.len();
    let Ok(mut reader) = LazyDataSetReader::new_with_ts(std::io::Cursor::new(data_set), ts) else {
        return Ok(());
    };
    while let Some(Ok(token)) = reader.advance() {
        let claimed = match &token {
            LazyDataToken::ElementHeader(h) | LazyDataToken::LazyValue { header: h, .. } => {
                // dicom-rs reads whole values of a binary VR and then counts the whole length
                // as read: a remainder would put its reading out of step with this scan.
                let size = match format!("{:?}", h.vr).as_str() {
                    "US" | "SS" | "OW" => 2,
                    "UL" | "SL" | "FL" | "OF" | "OL" | "AT" => 4,
                    "FD" | "OD" | "SV" | "UV" | "OV" => 8,
                    _ => 1,
                };
                if let Some(len) = h.len.get().filter(|l| l % size != 0) {
                    return Err(format!(
                        "its element ({:04X},{:04X}) of VR {:?} has {len} bytes, not a whole \
                         number of {size}-byte values",
                        h.tag.0, h.tag.1, h.vr
                    ));
                }
                h.len.get()
            }
            LazyDataToken::SequenceStart { len, .. } | LazyDataToken::ItemStart { len } => {
                len.get()
            }
            LazyDataToken::LazyItemValue { len, .. } => Some(*len),
            _ => None,
        };
        if let Some(len) = claimed.filter(|&l| l as usize > holds) {
            return too_long("data set".into(), len.into(), holds);
        }
        if token.skip().is_err() {
            break;
        }
    }
    Ok(())
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// The JPEG transfer syntaxes dicom-rs decodes with jpeg-decoder: baseline, extended,
/// lossless and lossless first-order.
const JPEG: [&str; 4] = [
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];

/// Checks that the JPEG stream of a frame is the size its DICOM header claims: dicom-rs copies
/// the decoded stream into a buffer sized by the header, and panics when it is larger. The
/// stream's frame header (its first SOF marker) must give the header's width, height and
/// samples, and samples of more than 8 bits only where 16 are allocated; a stream without one is
/// left to the decoder's own error.
fn check_jpeg_frame(
    fragment: &[u8],
    (width, height, samples): (u32, u32, u32),
    allocated: u32,
) -> std::result::Result<(), String> {
    let mut at = 2; // after the start-of-image marker
    while let Some(segment) = fragment.get(at..at + 4).filter(|s| s[0] == 0xFF) {
        let marker = segment[1];
        if matches!(marker, 0xC0..=0xCF) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let Some(f) = fragment.get(at + 4..at + 10) else {
                break;
            };
            let precision = u32::from(f[0]);
            let rows = u32::from(u16::from_be_bytes([f[1], f[2]]));
            let cols = u32::from(u16::from_be_bytes([f[3], f[4]]));
            let components = u32::from(f[5]);
            if (cols, rows, components) != (width, height, samples)
                || (precision > 8 && allocated < 16)
            {
                return Err(format!(
                    "its JPEG stream is {cols}x{rows} with {components} component(s) of \
                     {precision} bits where its header claims {width}x{height} with {samples} of \
                     {allocated} bits allocated"
                ));
            }
            break;
        }
        at += 2 + usize::from(u16::from_be_bytes([segment[2], segment[3]]));
    }
    Ok(())
}

/// Checks an RLE Lossless fragment (DICOM PS3.5 annex G) before dicom-rs decodes it: its
/// decoder indexes the header's segment table and each decoded segment without bounds checks,
/// so a short or lying fragment would panic it. The header must list `segments` (one per
/// sample byte) increasing offsets inside the fragment, and each segment must decode (PackBits,
/// as dicom-rs reads it) to at least `pixels` bytes.
fn check_rle(fragment: &[u8], pixels: u64, segments: u64) -> std::result::Result<(), String> {
    let word = |i: usize| {
        fragment
            .get(4 * i..4 * i + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let count = word(0).filter(|_| fragment.len() >= 64).ok_or_else(|| {
        format!(
            "its RLE fragment has {} bytes, less than its 64-byte header",
            fragment.len()
        )
    })?;
    if count != segments || !(1..=15).contains(&count) {
        return Err(format!(
            "its RLE header lists {count} segments where the image has {segments} sample bytes"
        ));
    }
    let mut bounds: Vec<u64> = (1..=count as usize).filter_map(word).collect();
    bounds.push(fragment.len() as u64);
    for (i, pair) in bounds.windows(2).enumerate() {
        let (start, end) = (pair[0] as usize, pair[1] as usize);
        if start < 64 || start > end {
            return Err(format!(
                "its RLE segment {i} spans bytes {start}..{end} of a {}-byte fragment",
                fragment.len()
            ));
        }
        let (segment, mut at, mut decoded) = (&fragment[start..end], 0usize, 0u64);
        while at < segment.len() && decoded < pixels {
            let header = segment[at] as i8;
            at += 1;
            match header {
                -127..=-1 => {
                    decoded += (1 - i64::from(header)) as u64;
                    at += 1;
                }
                0.. => {
                    let n = header as usize + 1;
                    decoded += n.min(segment.len() - at) as u64;
                    at += n;
                }
                -128 => {}
            }
        }
        if decoded < pixels {
            return Err(format!(
                "its RLE segment {i} decodes to {decoded} bytes, fewer than the image's {pixels} \
                 pixels"
            ));
        }
    }
    Ok(())
}

/// Decodes the first frame of a DICOM file to gray values in [0, 1]; `id` names the study in
/// errors. The header's size is checked against the file's length before pixels are decoded.
pub(crate) fn decode_dicom(bytes: &[u8], path: &Path, id: &str) -> Result<GrayImage> {
    let bad = |reason: String| Error::Dicom {
        id: id.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    check_lengths(bytes).map_err(bad)?;
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
    // dicom-rs asserts these (a panic) rather than checking them.
    let allocated = int(tags::BITS_ALLOCATED, "BitsAllocated")?;
    let stored = int(tags::BITS_STORED, "BitsStored")?;
    if ![1, 8, 16, 32].contains(&allocated) || !(1..=allocated).contains(&stored) {
        return Err(bad(format!(
            "it claims {stored} bits stored in {allocated} bits allocated per sample"
        )));
    }
    let fragment = object
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments().and_then(|f| f.first()));
    if let (Some(fragment), Ok(samples)) =
        (fragment, int(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel"))
    {
        if syntax == RLE_LOSSLESS {
            let pixels = u64::from(width) * u64::from(height);
            check_rle(
                fragment,
                pixels,
                u64::from(samples) * u64::from(allocated / 8),
            )
            .map_err(bad)?;
        }
        if JPEG.contains(&syntax.as_str()) {
            check_jpeg_frame(fragment, (width, height, samples), allocated).map_err(bad)?;
        }
    }
    // The checks above cover the decoder panics the fuzz target has found; a decoder panic
    // they miss is still one error here, not a crash (its message goes to stderr first).
    let decoded = std::panic::catch_unwind(|| object.decode_pixel_data_frame(0))
        .map_err(|_| {
            bad(format!(
                "its pixel data crashed the decoder (transfer syntax {syntax})"
            ))
        })?
        .map_err(|e| {
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
