//! Clinical efficacy (CE): precision, recall and F1 of the observations a generated report states,
//! against those its reference states, both labeled by the same labeler, in three named
//! conventions that papers use without saying so.
//!
//! | convention | positive means | averaging | used by |
//! |---|---|---|---|
//! | `r2gen` | label == 1 (uncertain, negative, blank -> 0) | micro over all 14 observations | R2Gen, R2GenCMN and many later papers |
//! | `promptmrg` | label == 1 | example-based: P, R, F1 per report, then the mean | PromptMRG |
//! | `f1chexbert` | label == 1 or -1 (uncertain counts positive) | micro and macro F1 over the 14, and over the 5 (Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion) | CheXagent, MAIRA-2, LLaVA-Rad |
//!
//! A ratio with a zero denominator is 0 (sklearn's `zero_division=0`, numpy's `nan_to_num`).

use serde::{Deserialize, Serialize};
use trrg_labeler::{ReportLabels, CHEXPERT_OBSERVATIONS};

/// A CE convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CeConvention {
    /// R2Gen: positive = 1, micro over 14.
    R2gen,
    /// PromptMRG: positive = 1, example-based.
    Promptmrg,
    /// f1chexbert: uncertain counts positive; micro/macro over 14 and 5.
    F1chexbert,
}

impl CeConvention {
    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            CeConvention::R2gen => "r2gen",
            CeConvention::Promptmrg => "promptmrg",
            CeConvention::F1chexbert => "f1chexbert",
        }
    }

    fn positive(self, label: Option<i8>) -> bool {
        match self {
            CeConvention::F1chexbert => matches!(label, Some(1) | Some(-1)),
            _ => label == Some(1),
        }
    }
}

/// The five observations of the "5-class" CE subset.
pub const CE_FIVE: [&str; 5] = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
];

/// Per-observation scores (under the convention's binarization).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservationScores {
    /// Observation name.
    pub observation: String,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Reports whose reference is positive.
    pub support: usize,
}

/// Clinical efficacy scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CeScores {
    /// `r2gen`, `promptmrg` or `f1chexbert`.
    pub convention: String,
    /// The labeler that labeled both sides.
    pub labeler: String,
    /// Precision (micro over 14; example-based mean for `promptmrg`).
    pub precision: f64,
    /// Recall (likewise).
    pub recall: f64,
    /// F1 (likewise).
    pub f1: f64,
    /// Macro F1 over the 14 observations.
    pub macro_f1_14: f64,
    /// Micro F1 over the 5 observations of [`CE_FIVE`].
    pub micro_f1_5: f64,
    /// Macro F1 over the 5.
    pub macro_f1_5: f64,
    /// Per observation.
    pub per_observation: Vec<ObservationScores>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Precision, recall and F1 from true-positive, false-positive and false-negative counts (0 where
/// undefined), as every clinical-efficacy score here computes them.
pub fn prf(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let (p, r) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
    let f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    (p, r, f1)
}

/// Scores generated reports' labels (`hyps`) against their references' labels (`refs`), row by
/// row, under `convention`; `labeler` names the labeler in the output.
pub fn clinical_efficacy(
    refs: &[ReportLabels],
    hyps: &[ReportLabels],
    convention: CeConvention,
    labeler: &str,
) -> CeScores {
    let mut counts = [(0usize, 0usize, 0usize); 14]; // tp, fp, fn per observation
    let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
    for (r, h) in refs.iter().zip(hyps) {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for i in 0..14 {
            match (convention.positive(r[i]), convention.positive(h[i])) {
                (true, true) => {
                    counts[i].0 += 1;
                    tp += 1;
                }
                (false, true) => {
                    counts[i].1 += 1;
                    fp += 1;
                }
                (true, false) => {
                    counts[i].2 += 1;
                    fn_ += 1;
                }
                (false, false) => {}
            }
        }
        let (p, rc, f) = prf(tp, fp, fn_);
        p_sum += p;
        r_sum += rc;
        f_sum += f;
    }
    let per_observation: Vec<ObservationScores> = CHEXPERT_OBSERVATIONS
        .iter()
        .zip(&counts)
        .map(|(name, &(tp, fp, fn_))| {
            let (precision, recall, f1) = prf(tp, fp, fn_);
            ObservationScores {
                observation: name.to_string(),
                precision,
                recall,
                f1,
                support: tp + fn_,
            }
        })
        .collect();
    let micro = |subset: &[usize]| {
        let (tp, fp, fn_) = subset.iter().fold((0, 0, 0), |a, &i| {
            (a.0 + counts[i].0, a.1 + counts[i].1, a.2 + counts[i].2)
        });
        prf(tp, fp, fn_)
    };
    let macro_f1 = |subset: &[usize]| {
        subset.iter().map(|&i| per_observation[i].f1).sum::<f64>() / subset.len() as f64
    };
    let all: Vec<usize> = (0..14).collect();
    let five: Vec<usize> = CE_FIVE
        .iter()
        .map(|o| {
            CHEXPERT_OBSERVATIONS
                .iter()
                .position(|x| x == o)
                .expect("CE_FIVE names CheXpert observations")
        })
        .collect();
    let (precision, recall, f1) = match convention {
        CeConvention::Promptmrg => {
            let n = refs.len().max(1) as f64;
            (p_sum / n, r_sum / n, f_sum / n)
        }
        _ => micro(&all),
    };
    CeScores {
        convention: convention.name().to_string(),
        labeler: labeler.to_string(),
        precision,
        recall,
        f1,
        macro_f1_14: macro_f1(&all),
        micro_f1_5: micro(&five).2,
        macro_f1_5: macro_f1(&five),
        per_observation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(usize, i8)]) -> ReportLabels {
        let mut r = [None; 14];
        for &(i, v) in pairs {
            r[i] = Some(v);
        }
        r
    }

    #[test]
    fn conventions_differ_on_uncertain_and_averaging() {
        // Cardiomegaly = 1, Edema = 4, Pleural Effusion = 9.
        let refs = [row(&[(1, 1), (9, 1)]), row(&[(4, -1)])];
        let hyps = [row(&[(1, 1)]), row(&[(4, 1), (9, 1)])];
        let r2gen = clinical_efficacy(&refs, &hyps, CeConvention::R2gen, "test");
        // tp 1 (CM), fp 2 (ED, PE in row 2), fn 1 (PE row 1).
        assert_eq!((r2gen.precision, r2gen.recall), (1.0 / 3.0, 0.5));
        let chexbert = clinical_efficacy(&refs, &hyps, CeConvention::F1chexbert, "test");
        // Uncertain Edema in the reference now counts: tp 2, fp 1, fn 1.
        assert_eq!(
            (chexbert.precision, chexbert.recall),
            (2.0 / 3.0, 2.0 / 3.0)
        );
        let example = clinical_efficacy(&refs, &hyps, CeConvention::Promptmrg, "test");
        // Row 1: P 1, R 0.5, F1 2/3; row 2: tp 0 -> all 0.
        assert_eq!((example.precision, example.recall), (0.5, 0.25));
        assert!((example.f1 - 1.0 / 3.0).abs() < 1e-12);
    }
}
