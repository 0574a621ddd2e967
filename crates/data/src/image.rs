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

/// Decodes a PNG or JPEG file to gray values in [0, 1] (colour images are converted to luma).
///
/// `id` names the study in the error message.
pub fn load_gray(path: &Path, id: &str) -> Result<GrayImage> {
    if !path.is_file() {
        return Err(Error::MissingImage {
            id: id.to_string(),
            path: path.to_path_buf(),
        });
    }
    let decoded = image::ImageReader::open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .decode()
        .map_err(|source| Error::ImageDecode {
            id: id.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
    Ok(decoded.to_luma32f())
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
