//! CIDEr-D exactly as pycocoevalcap's `CiderScorer` (n = 4; sigma 6 by default).
//!
//! Document frequency `df(g)` = number of examples whose references contain n-gram g, over the
//! evaluated set only; `log N` = ln(number of examples). Each text becomes, per n, a tf-idf vector
//! `tf(g) * (log N - ln(max(1, df(g))))`; its "length" is its bigram count (pycocoevalcap's
//! quirk). `sim_n = sum_g min(v_h, v_r) v_r / (|v_h| |v_r|) * exp(-(len_h - len_r)^2 / (2 sigma^2))`;
//! an example scores `10 * mean_n(sum_refs sim_n) / n_refs`; CIDEr is the mean over examples.
//! So a CIDEr value depends on the whole evaluated set: compute it once, never per batch.

use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;

use crate::ngrams::NGram;

/// pycocoevalcap's default length-penalty width.
pub(crate) const CIDER_SIGMA: f64 = 6.0;

type Counts = Vec<(NGram, u32)>;

/// A tf-idf vector per n-gram order, sorted by n-gram for merge joins.
struct Vector {
    weights: [Vec<(NGram, f64)>; 4],
    norms: [f64; 4],
    length: f64,
}

fn vectorize(counts: &Counts, df: &HashMap<NGram, u32>, log_n: f64) -> Vector {
    let mut weights: [Vec<(NGram, f64)>; 4] = Default::default();
    let mut norms = [0.0f64; 4];
    let mut length = 0.0;
    for &(gram, tf) in counts {
        let d = (df.get(&gram).copied().unwrap_or(0) as f64).max(1.0).ln();
        let n = gram.0 as usize - 1;
        let w = tf as f64 * (log_n - d);
        weights[n].push((gram, w));
        norms[n] += w * w;
        if n == 1 {
            length += tf as f64;
        }
    }
    for w in &mut weights {
        w.sort_unstable_by_key(|e| e.0);
    }
    Vector {
        weights,
        norms: norms.map(f64::sqrt),
        length,
    }
}

fn similarity(h: &Vector, r: &Vector, sigma: f64) -> [f64; 4] {
    let delta = h.length - r.length;
    let mut val = [0.0f64; 4];
    for (n, v) in val.iter_mut().enumerate() {
        let (hw, rw) = (&h.weights[n], &r.weights[n]);
        let (mut i, mut j) = (0, 0);
        while i < hw.len() && j < rw.len() {
            match hw[i].0.cmp(&rw[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    *v += hw[i].1.min(rw[j].1) * rw[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        if h.norms[n] != 0.0 && r.norms[n] != 0.0 {
            *v /= h.norms[n] * r.norms[n];
        }
        *v *= std::f64::consts::E.powf(-(delta * delta) / (2.0 * sigma * sigma));
    }
    val
}

/// Per-example CIDEr-D scores of a whole evaluated set, with length penalty width `sigma`.
pub(crate) fn cider_scores(hyps: &[Counts], refs: &[Vec<Counts>], sigma: f64) -> Vec<f64> {
    let mut df: HashMap<NGram, u32> = HashMap::default();
    for example_refs in refs {
        let mut seen = rustc_hash::FxHashSet::default();
        for r in example_refs {
            for (gram, _) in r {
                if seen.insert(*gram) {
                    *df.entry(*gram).or_insert(0) += 1;
                }
            }
        }
    }
    let log_n = (refs.len() as f64).ln();
    hyps.par_iter()
        .zip(refs)
        .map(|(h, rs)| {
            let hv = vectorize(h, &df, log_n);
            let mut total = [0.0f64; 4];
            for r in rs {
                let s = similarity(&hv, &vectorize(r, &df, log_n), sigma);
                for n in 0..4 {
                    total[n] += s[n];
                }
            }
            total.iter().sum::<f64>() / 4.0 / rs.len() as f64 * 10.0
        })
        .collect()
}
