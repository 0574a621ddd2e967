//! Per-disease clue thresholds fitted on the validation split.
//!
//! The clue probabilities of rare findings rarely reach 0.5 even where they rank the studies
//! well (a validation AUC of 0.86 with every probability under 0.2 is common), so one threshold
//! of 0.5 keeps those clues off. [`fit_thresholds`] picks one threshold per disease from a grid
//! to maximize the micro-F1 of the hard clue decisions against the labels, which is the quantity
//! clinical efficacy measures (r2gen convention: positive = 1, micro over the observations).

use trrg_metrics::prf;
use trrg_model::NoFindingGate;
use trrg_run::kept_threshold;

/// The candidate thresholds: 0.05, 0.10, ..., 0.95.
pub fn threshold_grid() -> Vec<f32> {
    (1..20).map(|i| i as f32 / 20.0).collect()
}

fn f1([tp, fp, fn_]: [usize; 3]) -> f64 {
    prf(tp, fp, fn_).2
}

/// Micro `[tp, fp, fn]` over the labeled diseases of the decisions `probs[d][i] >=
/// thresholds[d]`, each study's decisions passed through `gate` (No Finding off beside a
/// finding).
fn micro_counts(
    probs: &[Vec<f32>],
    truth: &[Option<Vec<bool>>],
    thresholds: &[f32],
    gate: Option<&NoFindingGate>,
) -> [usize; 3] {
    let n_studies = probs.first().map_or(0, Vec::len);
    let mut counts = [0; 3];
    let mut on = vec![false; probs.len()];
    for i in 0..n_studies {
        for (d, p) in probs.iter().enumerate() {
            on[d] = p[i] >= thresholds[d];
        }
        if let Some(gate) = gate {
            gate.apply(&mut on);
        }
        for (d, t) in truth.iter().enumerate() {
            let Some(t) = t else { continue };
            match (on[d], t[i]) {
                (true, true) => counts[0] += 1,
                (true, false) => counts[1] += 1,
                (false, true) => counts[2] += 1,
                (false, false) => {}
            }
        }
    }
    counts
}

/// One threshold per disease (from [`threshold_grid`]) maximizing the micro-F1 of the
/// decisions `probs[d][i] >= threshold[d]` (through `gate`, when given) against `truth[d][i]`,
/// by coordinate ascent from 0.5 over the diseases in order until no threshold changes (ties
/// keep the current threshold), then shrunk toward 0.5 by the pseudo-count `shrinkage`:
/// `(n t + shrinkage 0.5) / (n + shrinkage)` with `n` the disease's positives in `truth` (see
/// `ClueOptions::threshold_shrinkage`; 0 keeps the fitted values), rounded to hundredths.
/// Diseases whose `truth` is None (no labels) keep 0.5 and do not count.
pub fn fit_thresholds(
    probs: &[Vec<f32>],
    truth: &[Option<Vec<bool>>],
    gate: Option<&NoFindingGate>,
    shrinkage: f64,
) -> Vec<f32> {
    let fitted = fit_micro(probs, truth, gate);
    fitted
        .iter()
        .zip(truth)
        .map(|(&t, truth)| {
            let n = truth
                .as_ref()
                .map_or(0, |t| t.iter().filter(|&&v| v).count()) as f64;
            if n + shrinkage == 0.0 {
                return t;
            }
            let shrunk = (n * t as f64 + shrinkage * 0.5) / (n + shrinkage);
            // To the hundredth that `clue_thresholds.json` keeps, so that inference from the
            // file decides as the run's own test did.
            kept_threshold(shrunk) as f32
        })
        .collect()
}

/// [`fit_thresholds`]' coordinate ascent, before the shrinkage.
fn fit_micro(
    probs: &[Vec<f32>],
    truth: &[Option<Vec<bool>>],
    gate: Option<&NoFindingGate>,
) -> Vec<f32> {
    let grid = threshold_grid();
    let mut chosen = vec![0.5f32; probs.len()];
    let score = |t: &[f32]| f1(micro_counts(probs, truth, t, gate));
    // Each accepted change raises the micro-F1, so this ends; the bound is a guard.
    for _ in 0..100 {
        let mut changed = false;
        for d in (0..probs.len()).filter(|&d| truth[d].is_some()) {
            let mut best = (score(&chosen), chosen[d]);
            let mut trial = chosen.clone();
            for &g in &grid {
                trial[d] = g;
                let s = score(&trial);
                if s > best.0 + 1e-12 {
                    best = (s, g);
                }
            }
            if best.1 != chosen[d] {
                chosen[d] = best.1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    chosen
}

/// Micro-F1 of the hard decisions `probs[d][i] >= thresholds[d]` (through `gate`, when given)
/// over the labeled diseases.
pub fn micro_f1(
    probs: &[Vec<f32>],
    truth: &[Option<Vec<bool>>],
    thresholds: &[f32],
    gate: Option<&NoFindingGate>,
) -> f64 {
    f1(micro_counts(probs, truth, thresholds, gate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rare_finding_with_low_but_ranking_probabilities_gets_a_low_threshold() {
        // Disease 0: common, well calibrated. Disease 1: rare, every probability under 0.3, but
        // its two positives rank first.
        let probs = vec![
            vec![0.9, 0.8, 0.7, 0.2, 0.1, 0.1],
            vec![0.25, 0.22, 0.05, 0.06, 0.04, 0.03],
        ];
        let truth = vec![
            Some(vec![true, true, true, false, false, false]),
            Some(vec![true, true, false, false, false, false]),
        ];
        let at_half = micro_f1(&probs, &truth, &[0.5, 0.5], None);
        let fitted = fit_thresholds(&probs, &truth, None, 0.0);
        // 0.5 still separates disease 0, so the tie keeps it; for disease 1 every threshold in
        // 0.10 ..= 0.20 separates its positives from its negatives, and the first one wins.
        assert_eq!(fitted[0], 0.5);
        assert_eq!(fitted[1], 0.1, "{fitted:?}");
        assert!((micro_f1(&probs, &truth, &fitted, None) - 1.0).abs() < 1e-12);
        assert!(at_half < 0.9, "{at_half}");
    }

    #[test]
    fn a_disease_that_only_adds_false_positives_is_switched_off_and_unlabeled_ones_keep_half() {
        let probs = vec![
            vec![0.9, 0.1, 0.9, 0.1],
            // Uninformative: positives and negatives alike at 0.6.
            vec![0.6, 0.6, 0.6, 0.6],
            vec![0.99, 0.01, 0.5, 0.5],
        ];
        let truth = vec![
            Some(vec![true, false, true, false]),
            Some(vec![true, false, false, false]),
            None,
        ];
        let fitted = fit_thresholds(&probs, &truth, None, 0.0);
        assert_eq!(fitted[0], 0.5);
        // Any threshold above 0.6 turns disease 1 off: one missed positive costs less micro-F1
        // than three false positives; the first such grid value is 0.65.
        assert_eq!(fitted[1], 0.65, "{fitted:?}");
        assert_eq!(fitted[2], 0.5);
        let grid = threshold_grid();
        assert_eq!(grid.len(), 19);
        assert!(fitted.iter().all(|t| grid.contains(t)));
    }

    #[test]
    fn with_the_gate_no_finding_is_off_beside_a_finding_when_fitting_and_scoring() {
        // Disease 0 a finding, disease 1 No Finding, whose head is confused on study 0.
        let probs = vec![vec![0.9, 0.1, 0.1], vec![0.8, 0.9, 0.7]];
        let truth = vec![
            Some(vec![true, false, false]),
            Some(vec![false, true, true]),
        ];
        let gate = NoFindingGate {
            no_finding: 1,
            findings: vec![0],
        };
        let alone = fit_thresholds(&probs, &truth, None, 0.0);
        assert!(micro_f1(&probs, &truth, &alone, None) < 1.0);
        let gated = fit_thresholds(&probs, &truth, Some(&gate), 0.0);
        assert_eq!(gated, vec![0.5, 0.5]);
        assert!((micro_f1(&probs, &truth, &gated, Some(&gate)) - 1.0).abs() < 1e-12);
        let mut on = vec![true, true];
        gate.apply(&mut on);
        assert_eq!(on, vec![true, false]);
    }

    #[test]
    fn shrinkage_pulls_each_threshold_toward_half_by_its_positives() {
        // Disease 0: four positives, fitted at 0.1 (its positives sit at 0.15-0.3, its
        // negatives under 0.1). Disease 1: one positive, fitted at 0.1 as well. Disease 2 has
        // no positive: fitted above its one false positive, shrunk all the way back to 0.5.
        // Disease 3 has no labels and stays at 0.5.
        let probs = vec![
            vec![0.3, 0.2, 0.15, 0.15, 0.05, 0.05],
            vec![0.12, 0.05, 0.05, 0.05, 0.05, 0.05],
            vec![0.6, 0.1, 0.1, 0.1, 0.1, 0.1],
            vec![0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
        ];
        let truth = vec![
            Some(vec![true, true, true, true, false, false]),
            Some(vec![true, false, false, false, false, false]),
            Some(vec![false; 6]),
            None,
        ];
        let fitted = fit_thresholds(&probs, &truth, None, 0.0);
        assert_eq!(&fitted[..2], &[0.1, 0.1], "{fitted:?}");
        let shrunk = fit_thresholds(&probs, &truth, None, 4.0);
        // (4 * 0.1 + 4 * 0.5) / 8 and (1 * 0.1 + 4 * 0.5) / 5: the disease with fewer
        // positives moves further. With 3 more: (4 * 0.1 + 3 * 0.5) / 7 = 0.2714... is kept as
        // 0.27, the hundredth `clue_thresholds.json` writes.
        assert!((shrunk[0] - 0.3).abs() < 1e-6, "{shrunk:?}");
        assert!((shrunk[1] - 0.42).abs() < 1e-6, "{shrunk:?}");
        assert_eq!(fit_thresholds(&probs, &truth, None, 3.0)[0], 0.27);
        assert_eq!(&fitted[2..], &[0.65, 0.5]);
        assert_eq!(&shrunk[2..], &[0.5, 0.5]);
    }
}
