//! The disease-aware consistency loss: clue probabilities against the report's labels.

use burn::prelude::*;
use trrg_kernels::TrrgOps;

/// How an uncertain (-1) label counts in the consistency loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncertainLabel {
    /// Left out, like a blank label (default).
    #[default]
    Ignore,
    /// Counted as present (CheXpert U-Ones).
    Positive,
    /// Counted as absent (CheXpert U-Zeros).
    Negative,
}

/// How a blank (unmentioned) label counts in the consistency loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlankLabel {
    /// Left out (default).
    #[default]
    Ignore,
    /// Counted as absent, as the r2gen CE convention scores it.
    Negative,
}

/// Consistency-loss settings.
#[derive(Config, Debug)]
pub struct ConsistencyConfig {
    /// Treatment of uncertain labels. Default ignore.
    #[config(default = "UncertainLabel::Ignore")]
    pub uncertain: UncertainLabel,
    /// Treatment of blank labels. Default ignore.
    #[config(default = "BlankLabel::Ignore")]
    pub blank: BlankLabel,
    /// Weight of positive labels (BCE `pos_weight`) against class imbalance; 1 = none. Default 1.
    #[config(default = 1.0)]
    pub pos_weight: f64,
}

impl ConsistencyConfig {
    /// Labels and known-mask after the blank rule: with [`BlankLabel::Negative`] every blank
    /// becomes a known 0.
    ///
    /// # Shapes
    /// - labels, known: `[batch, n_clues]`, unchanged
    pub fn resolve_blanks<B: TrrgOps>(
        &self,
        labels: Tensor<B, 2>,
        known: Tensor<B, 2, Bool>,
    ) -> (Tensor<B, 2>, Tensor<B, 2, Bool>) {
        match self.blank {
            BlankLabel::Ignore => (labels, known),
            BlankLabel::Negative => {
                let device = labels.device();
                let labels = labels * known.clone().float();
                let all = Tensor::<B, 2, Int>::ones(known.dims(), &device).bool();
                (labels, all)
            }
        }
    }
}

/// Mean binary cross-entropy between clue logits and labels over known labels.
///
/// Labels are 1 (present), 0 (absent), -1 (uncertain); `known` is false for blanks, which count
/// only as [`BlankLabel::Negative`] says.
///
/// # Shapes
/// - logits: `[batch, n_clues]`
/// - labels: `[batch, n_clues]`
/// - known: `[batch, n_clues]`
/// - output: `[1]`
pub fn consistency_loss<B: TrrgOps>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 2>,
    known: Tensor<B, 2, Bool>,
    config: &ConsistencyConfig,
) -> Tensor<B, 1> {
    let (labels, known) = config.resolve_blanks(labels, known);
    let uncertain = labels.clone().lower_elem(-0.5);
    let (target, keep) = match config.uncertain {
        UncertainLabel::Ignore => (
            labels.clone().clamp_min(0.0),
            known.bool_and(uncertain.bool_not()),
        ),
        UncertainLabel::Positive => (labels.clone().abs(), known),
        UncertainLabel::Negative => (labels.clone().clamp_min(0.0), known),
    };
    // Stable BCE with logits: softplus(-x) for positives, softplus(x) for negatives.
    let softplus = |x: Tensor<B, 2>| x.clone().clamp_min(0.0) + (x.abs().neg().exp() + 1.0).log();
    let per = softplus(logits.clone().neg()) * target.clone() * config.pos_weight
        + softplus(logits) * (target.neg() + 1.0);
    let weight = keep.float();
    (per * weight.clone()).sum() / weight.sum().clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn blank_and_uncertain_labels_do_not_count_by_default() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[2.0, -1.0, 5.0, 0.3]], &device);
        let labels = Tensor::<Flex, 2>::from_floats([[1.0, 0.0, -1.0, 0.0]], &device);
        let known = Tensor::<Flex, 2, Bool>::from_data([[true, true, true, false]], &device);
        let got = consistency_loss(logits, labels, known, &ConsistencyConfig::new()).into_scalar();
        let bce = |x: f32, y: f32| {
            -(y * (1.0 / (1.0 + (-x).exp())).ln() + (1.0 - y) * (1.0 / (1.0 + x.exp())).ln())
        };
        let want = (bce(2.0, 1.0) + bce(-1.0, 0.0)) / 2.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn blank_as_negative_counts_blanks_as_absent() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[2.0, -1.0]], &device);
        let labels = Tensor::<Flex, 2>::from_floats([[1.0, 0.0]], &device);
        let known = Tensor::<Flex, 2, Bool>::from_data([[true, false]], &device);
        let config = ConsistencyConfig::new().with_blank(BlankLabel::Negative);
        let got = consistency_loss(logits, labels, known, &config).into_scalar();
        let softplus = |x: f32| (1.0 + x.exp()).ln();
        let want = (softplus(-2.0) + softplus(-1.0)) / 2.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn uncertain_as_positive_and_pos_weight() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[0.0, 0.0]], &device);
        let labels = Tensor::<Flex, 2>::from_floats([[-1.0, 0.0]], &device);
        let known = Tensor::<Flex, 2, Bool>::from_data([[true, true]], &device);
        let config = ConsistencyConfig::new()
            .with_uncertain(UncertainLabel::Positive)
            .with_pos_weight(3.0);
        let got = consistency_loss(logits, labels, known, &config).into_scalar();
        let ln2 = std::f32::consts::LN_2;
        assert!((got - (3.0 * ln2 + ln2) / 2.0).abs() < 1e-6, "{got}");
    }
}
