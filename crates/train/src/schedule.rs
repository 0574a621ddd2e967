//! Learning-rate schedule: linear warm-up, then cosine, linear or constant decay.

use crate::{Decay, StageConfig};

/// Learning rate at optimizer step `step` (0-based) of `total` steps.
pub fn learning_rate(config: &StageConfig, step: usize, total: usize) -> f64 {
    let total = total.max(1);
    let warmup = (config.warmup_ratio * total as f64).round() as usize;
    if step < warmup {
        return config.lr * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    let progress = progress.clamp(0.0, 1.0);
    match config.decay {
        Decay::Cosine => config.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        Decay::Linear => config.lr * (1.0 - progress),
        Decay::Constant => config.lr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_zero() {
        let config = StageConfig {
            lr: 1.0,
            warmup_ratio: 0.1,
            ..StageConfig::default()
        };
        assert!((learning_rate(&config, 0, 100) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&config, 9, 100) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&config, 10, 100) - 1.0).abs() < 1e-12);
        assert!(learning_rate(&config, 99, 100) < 0.001);
        let linear = StageConfig {
            decay: Decay::Linear,
            ..config
        };
        assert!((learning_rate(&linear, 55, 100) - 0.5).abs() < 1e-12);
    }
}
