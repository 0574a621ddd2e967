//! Per-disease clue thresholds fitted on the validation split.
//!
//! The clue probabilities of rare findings rarely reach 0.5 even where they rank the studies
//! well (a validation AUC of 0.86 with every probability under 0.2 is common), so one threshold
//! of 0.5 keeps those clues off. [`fit_thresholds`] picks one threshold per disease from a grid
//! to maximize the micro-F1 of the hard clue decisions against the labels, which is the quantity
//! clinical efficacy measures (r2gen convention: positive = 1, micro over the observations).

use trrg_metrics::prf;

/// The candidate thresholds: 0.05, 0.10, ..., 0.95.
pub fn threshold_grid() -> Vec<f32> {
    (1..20).map(|i| i as f32 / 20.0).collect()
}

/// `[tp, fp, fn]` of the decisions `probs[i] >= threshold` against `truth[i]`.
fn confusion(probs: &[f32], truth: &[bool], threshold: f32) -> [usize; 3] {
    let mut c = [0; 3];
    for (&p, &y) in probs.iter().zip(truth) {
        match (p >= threshold, y) {
            (true, true) => c[0] += 1,
            (true, false) => c[1] += 1,
            (false, true) => c[2] += 1,
            (false, false) => {}
        }
    }
    c
}

fn f1([tp, fp, fn_]: [usize; 3]) -> f64 {
    prf(tp, fp, fn_).2
}

fn add(a: [usize; 3], b: [usize; 3]) -> [usize; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// One threshold per disease (from [`threshold_grid`]) maximizing the micro-F1 of
/// `probs[d][i] >= threshold[d]` against `truth[d][i]`, by coordinate ascent from 0.5 over the
/// diseases in order until no threshold changes (ties keep the current threshold). Diseases whose
/// `truth` is None (no labels) keep 0.5 and do not count.
pub fn fit_thresholds(probs: &[Vec<f32>], truth: &[Option<Vec<bool>>]) -> Vec<f32> {
    let grid = threshold_grid();
    let half = grid.len() / 2; // 0.5
                               // counts[d][g] = [tp, fp, fn] of disease d at grid value g (empty without labels).
    let counts: Vec<Vec<[usize; 3]>> = probs
        .iter()
        .zip(truth)
        .map(|(p, t)| match t {
            Some(t) => grid.iter().map(|&g| confusion(p, t, g)).collect(),
            None => Vec::new(),
        })
        .collect();
    let mut chosen = vec![half; probs.len()];
    // Each accepted change raises the micro-F1, so this ends; the bound is a guard.
    for _ in 0..100 {
        let mut changed = false;
        for d in (0..probs.len()).filter(|&d| !counts[d].is_empty()) {
            // The micro counts of every other disease at its current threshold.
            let rest = (0..probs.len())
                .filter(|&e| e != d && !counts[e].is_empty())
                .fold([0; 3], |sum, e| add(sum, counts[e][chosen[e]]));
            let mut best = (f1(add(rest, counts[d][chosen[d]])), chosen[d]);
            for (g, &c) in counts[d].iter().enumerate() {
                let score = f1(add(rest, c));
                if score > best.0 + 1e-12 {
                    best = (score, g);
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
    chosen.into_iter().map(|g| grid[g]).collect()
}

/// Micro-F1 of the hard decisions `probs[d][i] >= thresholds[d]` over the labeled diseases.
pub fn micro_f1(probs: &[Vec<f32>], truth: &[Option<Vec<bool>>], thresholds: &[f32]) -> f64 {
    let counts = probs
        .iter()
        .zip(truth)
        .zip(thresholds)
        .filter_map(|((p, t), &th)| t.as_ref().map(|t| confusion(p, t, th)))
        .fold([0; 3], add);
    f1(counts)
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
        let at_half = micro_f1(&probs, &truth, &[0.5, 0.5]);
        let fitted = fit_thresholds(&probs, &truth);
        // 0.5 still separates disease 0, so the tie keeps it; for disease 1 every threshold in
        // 0.10 ..= 0.20 separates its positives from its negatives, and the first one wins.
        assert_eq!(fitted[0], 0.5);
        assert_eq!(fitted[1], 0.1, "{fitted:?}");
        assert!((micro_f1(&probs, &truth, &fitted) - 1.0).abs() < 1e-12);
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
        let fitted = fit_thresholds(&probs, &truth);
        assert_eq!(fitted[0], 0.5);
        // Any threshold above 0.6 turns disease 1 off: one missed positive costs less micro-F1
        // than three false positives; the first such grid value is 0.65.
        assert_eq!(fitted[1], 0.65, "{fitted:?}");
        assert_eq!(fitted[2], 0.5);
        let grid = threshold_grid();
        assert_eq!(grid.len(), 19);
        assert!(fitted.iter().all(|t| grid.contains(t)));
    }
}
