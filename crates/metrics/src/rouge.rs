//! ROUGE-L exactly as pycocoevalcap's `Rouge`: tokens split on a single space, LCS by dynamic
//! programming, precision and recall each maximized over the references,
//! `F = (1 + b^2) P R / (R + b^2 P)` with b = 1.2 (0 when P or R is 0), averaged over examples.

const BETA: f64 = 1.2;

fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L F-score of one hypothesis against its references.
pub(crate) fn example_rouge_l(hyp: &str, refs: &[String]) -> f64 {
    let c: Vec<&str> = hyp.split(' ').collect();
    let (mut p_max, mut r_max) = (0.0f64, 0.0f64);
    for r in refs {
        let r: Vec<&str> = r.split(' ').collect();
        let l = lcs(&r, &c) as f64;
        p_max = p_max.max(l / c.len() as f64);
        r_max = r_max.max(l / r.len() as f64);
    }
    if p_max != 0.0 && r_max != 0.0 {
        (1.0 + BETA * BETA) * p_max * r_max / (r_max + BETA * BETA * p_max)
    } else {
        0.0
    }
}
