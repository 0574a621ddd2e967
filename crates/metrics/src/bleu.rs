//! BLEU-1..4 exactly as pycocoevalcap's `BleuScorer` with `option='closest'`.
//!
//! Per example: clipped n-gram matches `correct[k]`, hypothesis n-grams `guess[k]`, hypothesis
//! length and the reference length closest to it (ties to the shorter). Corpus:
//! `BLEU-n = prod_{k<=n} ((C_k + 1e-15) / (G_k + 1e-9))^(1/n)`, times `exp(1 - r/c)` when the
//! ratio `(c + 1e-15) / (r + 1e-9)` is below 1. The per-example scores use the same formula on one
//! example's counts.

use rustc_hash::FxHashMap as HashMap;

use crate::ngrams::{count_ngrams, NGram};

const TINY: f64 = 1e-15;
const SMALL: f64 = 1e-9;

/// BLEU's sufficient statistics of one example, or summed over a set (what pycocoevalcap prints
/// as `totalcomps` when verbose).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BleuStats {
    /// Hypothesis tokens.
    pub test_len: usize,
    /// Reference tokens: per example, the reference length closest to the hypothesis's.
    pub ref_len: usize,
    /// Hypothesis n-grams, n = 1..4.
    pub guess: [usize; 4],
    /// Clipped matching n-grams, n = 1..4.
    pub correct: [usize; 4],
}

pub(crate) fn bleu_stats(hyp: &[u32], refs: &[Vec<u32>]) -> BleuStats {
    let mut max_ref: HashMap<NGram, u32> = HashMap::default();
    for r in refs {
        for (gram, count) in count_ngrams(r, 4) {
            let slot = max_ref.entry(gram).or_insert(0);
            *slot = (*slot).max(count);
        }
    }
    let test_len = hyp.len();
    // min over (|l - c|, l): closest length, ties to the shorter reference.
    let ref_len = refs
        .iter()
        .map(|r| r.len())
        .min_by_key(|&l| ((l as i64 - test_len as i64).abs(), l))
        .unwrap_or(0);
    let mut correct = [0usize; 4];
    for (gram, count) in count_ngrams(hyp, 4) {
        correct[gram.0 as usize - 1] +=
            count.min(max_ref.get(&gram).copied().unwrap_or(0)) as usize;
    }
    let guess = [1, 2, 3, 4].map(|k| (test_len + 1).saturating_sub(k));
    BleuStats {
        test_len,
        ref_len,
        guess,
        correct,
    }
}

fn score(test_len: f64, ref_len: f64, guess: [f64; 4], correct: [f64; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    let mut product = 1.0;
    for k in 0..4 {
        product *= (correct[k] + TINY) / (guess[k] + SMALL);
        out[k] = product.powf(1.0 / (k as f64 + 1.0));
    }
    let ratio = (test_len + TINY) / (ref_len + SMALL);
    if ratio < 1.0 {
        for v in &mut out {
            *v *= (1.0 - 1.0 / ratio).exp();
        }
    }
    out
}

impl BleuStats {
    /// The sums of all examples' statistics (integers, as Python's).
    pub(crate) fn sum(stats: &[BleuStats]) -> Self {
        let mut t = BleuStats::default();
        for s in stats {
            t.test_len += s.test_len;
            t.ref_len += s.ref_len;
            for k in 0..4 {
                t.guess[k] += s.guess[k];
                t.correct[k] += s.correct[k];
            }
        }
        t
    }

    /// BLEU-1..4 of these statistics: of one example, or the corpus score of summed ones.
    pub fn score(&self) -> [f64; 4] {
        score(
            self.test_len as f64,
            self.ref_len as f64,
            self.guess.map(|g| g as f64),
            self.correct.map(|c| c as f64),
        )
    }
}
