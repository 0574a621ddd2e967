//! Radiograph decoding and transforms: grayscale PNG/JPEG (8 or 16 bit) -> normalized tensor data.
//!
//! Pipeline (torchvision's, as R2Gen uses it): resize (shorter side to `resize`, or both sides to
//! `resize` in [`ResizeMode::Square`]) with a triangle (bilinear, antialiased) filter -> crop to
//! `crop` x `crop` (centre, or random when augmenting) -> horizontal flip with `hflip_prob` when
//! augmenting -> replicate the gray channel to `channels` -> `(x - mean[c]) / std[c]`.
//! Pixel values are scaled to [0, 1] first (8-bit / 255, 16-bit / 65535).
//! Random choices come from a seed, so a given seed always yields the same pixels.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A single-channel image with values in [0, 1].
pub type GrayImage = ImageBuffer<Luma<f32>, Vec<f32>>;

/// ImageNet channel means (torchvision).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (torchvision).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Decodes a PNG, JPEG or DICOM file to gray values in [0, 1] (colour images are converted to
/// luma; DICOM as [`crate::looks_like_dicom`] and the `dicom` module describe).
///
/// `id` names the study in the error message.
pub fn load_gray(path: &Path, id: &str) -> Result<GrayImage> {
    if !path.is_file() {
        return Err(Error::MissingImage {
            id: id.to_string(),
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_gray(&bytes, path, id)
}

/// Decodes the bytes of a PNG, JPEG or DICOM file (as [`load_gray`] does a file); `path` names
/// the file in errors (an upload's file name, say), and a `.dcm`/`.dicom` name or the DICM
/// magic selects DICOM.
pub fn decode_gray(bytes: &[u8], path: &Path, id: &str) -> Result<GrayImage> {
    let dicom_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm") || e.eq_ignore_ascii_case("dicom"));
    if crate::looks_like_dicom(bytes) || dicom_name {
        return crate::dicom::decode_dicom(bytes, path, id);
    }
    Ok(decode(bytes, path, id)?.to_luma32f())
}

/// The widest and tallest image [`load_gray`] decodes (chest radiographs are at most about
/// 4,300 px a side).
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// How many pixels an image file of `len` bytes may claim: 1,100 per byte (deflate, PNG's
/// compression, expands at most 1,032 times; a JPEG block needs a few bits) plus 1 Mi. A
/// header that claims more is refused before any pixel buffer is allocated, so a small file
/// cannot make the decoder allocate gigabytes.
pub fn max_image_pixels(len: u64) -> u64 {
    1_100 * len + (1 << 20)
}

/// The default pixel budget: the most pixels one decoded image may have (40 megapixels; chest
/// radiographs are at most about 4,300 x 4,300 = 18.5 megapixels).
pub const DEFAULT_PIXEL_BUDGET: u64 = 40_000_000;

/// The environment variable that sets the pixel budget (a whole number of pixels).
pub const PIXEL_BUDGET_VAR: &str = "TRRG_MAX_IMAGE_PIXELS";

/// The pixel budget that `value` (the content of [`PIXEL_BUDGET_VAR`], if set) gives: the
/// number it holds, else [`DEFAULT_PIXEL_BUDGET`].
pub fn pixel_budget_from(value: Option<&str>) -> Result<u64> {
    match value.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PIXEL_BUDGET),
        Some(v) => v
            .replace('_', "")
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::PixelBudget {
                value: v.to_string(),
            }),
    }
}

/// The pixel budget of this process: [`PIXEL_BUDGET_VAR`] if set, else
/// [`DEFAULT_PIXEL_BUDGET`], read once. Every decoder (PNG, JPEG, DICOM) refuses a larger image
/// before it allocates its pixels.
pub fn pixel_budget() -> Result<u64> {
    static BUDGET: std::sync::OnceLock<std::result::Result<u64, String>> =
        std::sync::OnceLock::new();
    BUDGET
        .get_or_init(|| {
            let value = std::env::var(PIXEL_BUDGET_VAR).ok();
            pixel_budget_from(value.as_deref()).map_err(|_| value.unwrap_or_default())
        })
        .clone()
        .map_err(|value| Error::PixelBudget { value })
}

/// Refuses a header whose `width x height` is over [`MAX_IMAGE_SIDE`] a side, over the pixel
/// budget ([`pixel_budget`]) or more than a file of `len` bytes can hold
/// ([`max_image_pixels`]), before any pixel buffer is allocated.
pub(crate) fn check_claimed_size(
    width: u32,
    height: u32,
    len: u64,
    path: &Path,
    id: &str,
) -> Result<()> {
    check_pixel_budget(width, height, pixel_budget()?, path, id)?;
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || pixels > max_image_pixels(len) {
        return Err(Error::ImageTooLarge {
            id: id.to_string(),
            path: path.to_path_buf(),
            width,
            height,
            len,
        });
    }
    Ok(())
}

/// Refuses an image of more than `budget` pixels.
pub fn check_pixel_budget(
    width: u32,
    height: u32,
    budget: u64,
    path: &Path,
    id: &str,
) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > budget {
        return Err(Error::OverPixelBudget {
            id: id.to_string(),
            path: path.to_path_buf(),
            width,
            height,
            budget,
        });
    }
    Ok(())
}

/// The most memory the decoder may allocate for one image (1 GiB).
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// Decodes a PNG or JPEG file's bytes (format guessed from them); `id` names the study in
/// errors. The header's size is checked against the length before the decoder allocates pixels.
fn decode(bytes: &[u8], path: &Path, id: &str) -> Result<image::DynamicImage> {
    let bad = |source| Error::ImageDecode {
        id: id.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .expect("reading from memory cannot fail")
    };
    let (width, height) = reader().into_dimensions().map_err(bad)?;
    check_claimed_size(width, height, bytes.len() as u64, path, id)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    let mut reader = reader();
    reader.limits(limits);
    reader.decode().map_err(bad)
}

/// How the first resize step treats the aspect ratio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Shorter side to `resize`, aspect kept (torchvision `Resize(int)`; R2Gen train).
    #[default]
    ShorterSide,
    /// Both sides to `resize` (torchvision `Resize((s, s))`; R2Gen test).
    Square,
}

/// Image transform settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTransformConfig {
    /// Target of the resize step in pixels. Default 256 (R2Gen).
    pub resize: usize,
    /// How `resize` applies. Default [`ResizeMode::ShorterSide`].
    pub resize_mode: ResizeMode,
    /// Side of the square crop fed to the encoder. Default 224.
    pub crop: usize,
    /// Probability of a horizontal flip when augmenting. Default 0.5 (R2Gen).
    pub hflip_prob: f32,
    /// Output channels: 1, or 3 with the gray value replicated (for ImageNet weights). Default 3.
    pub channels: usize,
    /// Per-channel mean subtracted after scaling to [0, 1]. Default ImageNet's.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by. Default ImageNet's.
    pub std: Vec<f32>,
}

impl Default for ImageTransformConfig {
    fn default() -> Self {
        Self {
            resize: 256,
            resize_mode: ResizeMode::ShorterSide,
            crop: 224,
            hflip_prob: 0.5,
            channels: 3,
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
        }
    }
}

impl ImageTransformConfig {
    /// Checks that the settings are possible.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.crop == 0 || self.crop > self.resize {
            return bad(
                "crop",
                format!("{} must be in 1..={} (resize)", self.crop, self.resize),
            );
        }
        if !(0.0..=1.0).contains(&self.hflip_prob) {
            return bad(
                "hflip_prob",
                format!("{} is not a probability", self.hflip_prob),
            );
        }
        if !matches!(self.channels, 1 | 3) {
            return bad("channels", format!("{} must be 1 or 3", self.channels));
        }
        if self.mean.len() != self.channels || self.std.len() != self.channels {
            return bad("mean/std", format!("need {} values each", self.channels));
        }
        if self.std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return bad("std", "every value must be positive".into());
        }
        Ok(())
    }

    /// Number of values [`ImageTransformConfig::apply`] returns.
    pub fn output_len(&self) -> usize {
        self.channels * self.crop * self.crop
    }

    /// Transforms the decoded views of `studies` (each with `n_views` views) and stacks them into
    /// one batch, `[studies, n_views, channels, crop, crop]`; `seed(study, view)` draws each
    /// view's crop and flip when augmenting. The one stacker of the training batcher and of
    /// inference.
    pub fn stack<B: burn::tensor::backend::Backend>(
        &self,
        studies: &[Vec<GrayImage>],
        n_views: usize,
        augment: bool,
        seed: impl Fn(usize, usize) -> u64,
        device: &B::Device,
    ) -> burn::tensor::Tensor<B, 5> {
        let mut pixels = Vec::with_capacity(studies.len() * n_views * self.output_len());
        for (study, views) in studies.iter().enumerate() {
            for (view, image) in views.iter().enumerate() {
                pixels.extend(self.apply(image, augment, seed(study, view)));
            }
        }
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(
                pixels,
                [studies.len(), n_views, self.channels, self.crop, self.crop],
            ),
            device,
        )
    }

    /// Transforms one image to `[channels, crop, crop]` values (row-major).
    ///
    /// With `augment`, the crop position and the flip are drawn from `seed`; without, the crop is
    /// centred and nothing is flipped. Call [`ImageTransformConfig::validate`] first.
    pub fn apply(&self, image: &GrayImage, augment: bool, seed: u64) -> Vec<f32> {
        let (w, h) = image.dimensions();
        let (nw, nh) = match self.resize_mode {
            ResizeMode::Square => (self.resize as u32, self.resize as u32),
            ResizeMode::ShorterSide if w <= h => (
                self.resize as u32,
                (self.resize as u64 * h as u64 / w.max(1) as u64) as u32,
            ),
            ResizeMode::ShorterSide => (
                (self.resize as u64 * w as u64 / h.max(1) as u64) as u32,
                self.resize as u32,
            ),
        };
        let resized = imageops::resize(image, nw, nh.max(1), FilterType::Triangle);
        let crop = self.crop as u32;
        let mut rng = StdRng::seed_from_u64(seed);
        let (left, top, flip) = if augment {
            let left = rng.random_range(0..=nw - crop);
            let top = rng.random_range(0..=nh - crop);
            (left, top, rng.random::<f32>() < self.hflip_prob)
        } else {
            // torchvision CenterCrop: int(round((size - crop) / 2)).
            let centre = |size: u32| ((size - crop) as f64 / 2.0).round_ties_even() as u32;
            (centre(nw), centre(nh), false)
        };
        let plane = (crop * crop) as usize;
        let mut out = vec![0.0; self.output_len()];
        for y in 0..crop {
            for x in 0..crop {
                let sx = if flip { crop - 1 - x } else { x };
                let v = resized.get_pixel(left + sx, top + y)[0];
                let i = (y * crop + x) as usize;
                for c in 0..self.channels {
                    out[c * plane + i] = (v - self.mean[c]) / self.std[c];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_budget_comes_from_its_variable_and_refuses_larger_images() {
        assert_eq!(pixel_budget_from(None).unwrap(), DEFAULT_PIXEL_BUDGET);
        assert_eq!(pixel_budget_from(Some("")).unwrap(), DEFAULT_PIXEL_BUDGET);
        assert_eq!(pixel_budget_from(Some("1_000_000")).unwrap(), 1_000_000);
        for bad in ["lots", "-5", "0", "1.5"] {
            let err = pixel_budget_from(Some(bad)).unwrap_err().to_string();
            assert!(err.contains(PIXEL_BUDGET_VAR) && err.contains(bad), "{err}");
        }
        let path = Path::new("big.png");
        // The 16384 x 16384 PNG of a few hundred KB that the file-size rule lets through.
        let err = check_pixel_budget(16_384, 16_384, DEFAULT_PIXEL_BUDGET, path, "s1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("16384x16384")
                && err.contains("big.png")
                && err.contains(PIXEL_BUDGET_VAR),
            "{err}"
        );
        assert!(check_claimed_size(16_384, 16_384, 300_000, path, "s1").is_err());
        check_pixel_budget(4_300, 4_300, DEFAULT_PIXEL_BUDGET, path, "s1").unwrap();
    }

    fn ramp(w: u32, h: u32) -> GrayImage {
        ImageBuffer::from_fn(w, h, |x, _| Luma([x as f32 / (w - 1) as f32]))
    }

    fn config(channels: usize) -> ImageTransformConfig {
        ImageTransformConfig {
            resize: 8,
            crop: 6,
            channels,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            ..Default::default()
        }
    }

    #[test]
    fn shapes_and_channel_replication() {
        let out = config(3).apply(&ramp(16, 32), false, 0);
        assert_eq!(out.len(), 3 * 36);
        assert_eq!(&out[..36], &out[36..72]);
    }

    #[test]
    fn center_crop_is_deterministic_and_augmentation_follows_seed() {
        let cfg = ImageTransformConfig {
            hflip_prob: 1.0,
            ..config(1)
        };
        let img = ramp(20, 20);
        assert_eq!(cfg.apply(&img, false, 1), cfg.apply(&img, false, 2));
        assert_eq!(cfg.apply(&img, true, 7), cfg.apply(&img, true, 7));
        let flipped = cfg.apply(&img, true, 7);
        assert!(
            flipped[0] > flipped[5],
            "a left-to-right ramp, flipped, decreases"
        );
    }

    #[test]
    fn validation() {
        assert!(ImageTransformConfig::default().validate().is_ok());
        assert!(ImageTransformConfig {
            crop: 300,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(ImageTransformConfig {
            channels: 2,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(ImageTransformConfig {
            channels: 1,
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}

/// A HF image processor's settings (`preprocessor_config.json` of `ViTImageProcessor`,
/// `ConvNextImageProcessor`, ...), applied as HF does: resize (both sides, or the shortest edge
/// keeping the aspect ratio) with the PIL filter it names, optional centre crop, rescale,
/// normalize, RGB channels first. Resizing uses the `image` crate's filters (triangle for PIL's
/// bilinear, Catmull-Rom for bicubic), so pixels can differ from PIL's by rounding.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HfImageProcessor {
    /// Resize at all. Default true.
    #[serde(default = "yes")]
    pub do_resize: bool,
    /// `{"height", "width"}`, `{"shortest_edge"}` or one side. Default 224x224.
    #[serde(default = "size_224")]
    pub size: serde_json::Value,
    /// PIL resampling filter: 0 nearest, 1 Lanczos, 2 bilinear, 3 bicubic. Default 2.
    #[serde(default = "bilinear")]
    pub resample: u32,
    /// Crop the centre after resizing. Default false.
    #[serde(default)]
    pub do_center_crop: bool,
    /// `{"height", "width"}` or one side, for the centre crop.
    #[serde(default)]
    pub crop_size: Option<serde_json::Value>,
    /// Multiply pixel values (0..255) by `rescale_factor`. Default true.
    #[serde(default = "yes")]
    pub do_rescale: bool,
    /// Default 1/255.
    #[serde(default = "one_255th")]
    pub rescale_factor: f32,
    /// Subtract `image_mean` and divide by `image_std` per channel. Default true.
    #[serde(default = "yes")]
    pub do_normalize: bool,
    /// Default `[0.5, 0.5, 0.5]` (HF's `IMAGENET_STANDARD_MEAN`).
    #[serde(default = "halves")]
    pub image_mean: Vec<f32>,
    /// Default `[0.5, 0.5, 0.5]`.
    #[serde(default = "halves")]
    pub image_std: Vec<f32>,
}

fn yes() -> bool {
    true
}
fn size_224() -> serde_json::Value {
    serde_json::json!({"height": 224, "width": 224})
}
fn bilinear() -> u32 {
    2
}
fn one_255th() -> f32 {
    1.0 / 255.0
}
fn halves() -> Vec<f32> {
    vec![0.5; 3]
}

impl Default for HfImageProcessor {
    fn default() -> Self {
        crate::parse_json("{}", Path::new("(defaults)")).expect("all fields have defaults")
    }
}

/// `(height, width)` of a HF size field; `None` for `{"shortest_edge": s}`.
fn hw(size: &serde_json::Value) -> Option<(u32, u32)> {
    if let Some(side) = size.as_u64() {
        return Some((side as u32, side as u32));
    }
    Some((
        size["height"].as_u64()? as u32,
        size["width"].as_u64()? as u32,
    ))
}

impl HfImageProcessor {
    /// Reads `preprocessor_config.json`.
    pub fn from_json(path: &Path) -> Result<Self> {
        let processor: Self = crate::read_json(path)?;
        let bad = |reason: String| Error::InvalidConfig {
            field: "preprocessor_config.json",
            reason: format!("{}: {reason}", path.display()),
        };
        if processor.image_mean.len() != 3 || processor.image_std.len() != 3 {
            return Err(bad("image_mean and image_std need 3 values (RGB)".into()));
        }
        if hw(&processor.size).is_none() && processor.size["shortest_edge"].as_u64().is_none() {
            return Err(bad(format!("unsupported size {}", processor.size)));
        }
        Ok(processor)
    }

    /// Decodes `path` as RGB and returns `([3, height, width] values, [3, height, width])`.
    pub fn apply(&self, path: &Path) -> Result<(Vec<f32>, [usize; 3])> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let decoded = decode(&bytes, path, &path.display().to_string())?;
        let mut rgb = decoded.to_rgb32f(); // values in [0, 1]
        let filter = match self.resample {
            0 => FilterType::Nearest,
            1 => FilterType::Lanczos3,
            3 => FilterType::CatmullRom,
            _ => FilterType::Triangle,
        };
        if self.do_resize {
            let (h, w) = hw(&self.size).unwrap_or_else(|| {
                // {"shortest_edge": s}: the shorter side to s, the aspect ratio kept.
                let edge = self.size["shortest_edge"].as_u64().unwrap_or(224) as f64;
                let (h, w) = (rgb.height() as f64, rgb.width() as f64);
                let scale = edge / h.min(w);
                ((h * scale).round() as u32, (w * scale).round() as u32)
            });
            rgb = imageops::resize(&rgb, w.max(1), h.max(1), filter);
        }
        if let (true, Some((ch, cw))) = (self.do_center_crop, self.crop_size.as_ref().and_then(hw))
        {
            let (ch, cw) = (ch.min(rgb.height()), cw.min(rgb.width()));
            let (top, left) = ((rgb.height() - ch) / 2, (rgb.width() - cw) / 2);
            rgb = imageops::crop_imm(&rgb, left, top, cw, ch).to_image();
        }
        let (h, w) = (rgb.height() as usize, rgb.width() as usize);
        let mut out = vec![0f32; 3 * h * w];
        for (x, y, p) in rgb.enumerate_pixels() {
            for c in 0..3 {
                let mut v = p[c] * 255.0;
                if self.do_rescale {
                    v *= self.rescale_factor;
                }
                if self.do_normalize {
                    v = (v - self.image_mean[c]) / self.image_std[c];
                }
                out[c * h * w + y as usize * w + x as usize] = v;
            }
        }
        Ok((out, [3, h, w]))
    }
}
