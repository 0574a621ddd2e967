//! METEOR 1.5's aligner: candidate matches from each module, then a beam search for the best
//! one-to-one alignment (`edu.cmu.meteor.aligner.Aligner`).
//!
//! Line 1 is the hypothesis ("test"), line 2 the reference. Quirks of the Java code that change
//! scores are kept on purpose:
//! - words are compared by `String.hashCode` keys;
//! - the beam's weighted match counts are Java `int`s, so each addition of `length * weight`
//!   truncates (a one-word stem or synonym match adds 0 with the alignment weight 0.5);
//! - the distance of a match is added to the path it branched from, not to the new path.

use std::cmp::Ordering;

use super::resources::{Paraphrases, Synonyms};
use super::Meteor;

/// Module weights used to rank partial alignments (`MeteorScorer`: "best weights for
/// evaluation"): exact 1, stem, synonym and paraphrase 0.5.
const ALIGN_WEIGHTS: [f64; 4] = [1.0, 0.5, 0.5, 0.5];
/// `Constants.DEFAULT_BEAM_SIZE`.
const BEAM_SIZE: usize = 40;

pub(crate) const EXACT: usize = 0;
pub(crate) const STEM: usize = 1;
pub(crate) const SYNONYM: usize = 2;
pub(crate) const PARAPHRASE: usize = 3;

/// Java's `String.hashCode`.
pub(crate) fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[derive(Clone, Copy, Debug)]
struct Match {
    /// First word in line 2 (reference) and number of words.
    start: usize,
    length: usize,
    /// First word in line 1 (hypothesis) and number of words.
    match_start: usize,
    match_length: usize,
    module: usize,
}

/// Candidate matches by line-2 start index, and how many candidates start at each word.
struct Stage {
    matches: Vec<Vec<Match>>,
    coverage1: Vec<u32>,
    coverage2: Vec<u32>,
}

impl Stage {
    fn push(&mut self, m: Match) {
        self.matches[m.start].push(m);
        for c in &mut self.coverage1[m.match_start..m.match_start + m.match_length] {
            *c += 1;
        }
        for c in &mut self.coverage2[m.start..m.start + m.length] {
            *c += 1;
        }
    }

    fn single(&mut self, module: usize, i: usize, j: usize) {
        self.push(Match {
            start: j,
            length: 1,
            match_start: i,
            match_length: 1,
            module,
        });
    }
}

#[derive(Clone)]
struct Partial {
    matches: Vec<Option<Match>>,
    matches1: i32,
    matches2: i32,
    chunks: i32,
    idx: usize,
    last_match_end: Option<usize>,
    distance: i32,
    used1: Vec<bool>,
    used2: Vec<bool>,
}

impl Partial {
    fn is_used(&self, m: &Match) -> bool {
        self.used2[m.start..m.start + m.length].iter().any(|&u| u)
            || self.used1[m.match_start..m.match_start + m.match_length]
                .iter()
                .any(|&u| u)
    }

    fn set_used(&mut self, m: &Match) {
        self.used2[m.start..m.start + m.length].fill(true);
        self.used1[m.match_start..m.match_start + m.match_length].fill(true);
    }

    /// Takes match `m` (the path's weighted counts and chunk bookkeeping).
    fn take(&mut self, m: &Match) {
        let w = ALIGN_WEIGHTS[m.module];
        // Java: `int += int * double` narrows the sum back to int.
        self.matches1 = (f64::from(self.matches1) + m.match_length as f64 * w) as i32;
        self.matches2 = (f64::from(self.matches2) + m.length as f64 * w) as i32;
        if self.last_match_end.is_some_and(|end| m.match_start != end) {
            self.chunks += 1;
        }
        self.idx = m.start + m.length;
        self.last_match_end = Some(m.match_start + m.match_length);
    }

    fn close_chunk(&mut self) {
        if self.last_match_end.take().is_some() {
            self.chunks += 1;
        }
    }
}

/// `Constants.PARTIAL_COMPARE_TOTAL`: more weighted matches, then fewer chunks, then less distance.
fn compare(x: &Partial, y: &Partial) -> Ordering {
    (y.matches1 + y.matches2)
        .cmp(&(x.matches1 + x.matches2))
        .then(x.chunks.cmp(&y.chunks))
        .then(x.distance.cmp(&y.distance))
}

/// Per-module matched-word counts of one alignment.
pub(crate) struct AlignmentCounts {
    pub(crate) function1: usize,
    pub(crate) function2: usize,
    /// Per module: `[hyp content, ref content, hyp function, ref function]`.
    pub(crate) stage: [[usize; 4]; 4],
    pub(crate) chunks: usize,
}

/// Aligns hypothesis words `w1` with reference words `w2`.
pub(crate) fn align(res: &Meteor, w1: &[&str], w2: &[&str]) -> AlignmentCounts {
    let k1: Vec<i32> = w1.iter().map(|w| java_hash(w)).collect();
    let k2: Vec<i32> = w2.iter().map(|w| java_hash(w)).collect();
    let mut s = Stage {
        matches: vec![Vec::new(); w2.len()],
        coverage1: vec![0; w1.len()],
        coverage2: vec![0; w2.len()],
    };
    // Identical lines need only exact matches (avoids beam search errors).
    let identical = k1 == k2;
    exact(&mut s, &k1, &k2);
    if !identical {
        stem(&mut s, res, w1, w2, &k1, &k2);
        if let Some(syn) = &res.synonyms {
            synonym(&mut s, syn, w1, w2, &k1, &k2);
        }
        if let Some(para) = &res.paraphrases {
            paraphrase(&mut s, para, w1, w2);
        }
    }

    // One-to-one matches that nothing else overlaps are definite.
    let mut start = Partial {
        matches: vec![None; w2.len()],
        matches1: 0,
        matches2: 0,
        chunks: 0,
        idx: 0,
        last_match_end: None,
        distance: 0,
        used1: vec![false; w1.len()],
        used2: vec![false; w2.len()],
    };
    for (i, candidates) in s.matches.iter().enumerate() {
        if let [m] = candidates.as_slice() {
            let overlap = (0..m.length).any(|j| s.coverage2[i + j] != 1)
                || (0..m.match_length).any(|j| s.coverage1[m.match_start + j] != 1);
            if !overlap {
                start.matches[i] = Some(*m);
                start.set_used(m);
            }
        }
    }
    let best = resolve(&s, start);

    let function1: Vec<bool> = w1.iter().map(|w| res.is_function_word(w)).collect();
    let function2: Vec<bool> = w2.iter().map(|w| res.is_function_word(w)).collect();
    let mut stage = [[0usize; 4]; 4];
    for m in best.matches.iter().flatten() {
        for i in m.match_start..m.match_start + m.match_length {
            stage[m.module][if function1[i] { 2 } else { 0 }] += 1;
        }
        for j in m.start..m.start + m.length {
            stage[m.module][if function2[j] { 3 } else { 1 }] += 1;
        }
    }
    AlignmentCounts {
        function1: function1.iter().filter(|&&f| f).count(),
        function2: function2.iter().filter(|&&f| f).count(),
        stage,
        chunks: count_chunks(&best.matches),
    }
}

/// The beam search (`Aligner.resolve`), left to right over line 2.
fn resolve(s: &Stage, start: Partial) -> Partial {
    let n = s.matches.len();
    let mut next = vec![start];
    for current in 0..=n {
        let mut paths = std::mem::take(&mut next);
        paths.sort_by(compare);
        paths.truncate(BEAM_SIZE);
        let fallback = paths[0].clone();
        for mut path in paths {
            if current == n {
                path.close_chunk();
                next.push(path);
                continue;
            }
            if path.used2[current] {
                if current < path.idx {
                    // Inside a match taken earlier.
                    next.push(path);
                } else if let Some(m) = path.matches[path.idx] {
                    // A definite match.
                    path.take(&m);
                    path.distance += (m.start as i32 - m.match_start as i32).abs();
                    next.push(path);
                }
                continue;
            }
            for m in &s.matches[current] {
                if path.is_used(m) {
                    continue;
                }
                let mut branch = path.clone();
                branch.set_used(m);
                branch.matches[current] = Some(*m);
                branch.take(m);
                // Java adds the distance to the path it branched from (kept: it changes ties).
                path.distance += (m.start as i32 - m.match_start as i32).abs();
                next.push(branch);
            }
            // Skip this word.
            path.close_chunk();
            path.idx += 1;
            next.push(path);
        }
        if next.is_empty() {
            next.push(fallback);
        }
    }
    next.sort_by(compare);
    next.swap_remove(0)
}

/// `Aligner.getCountAndChunks`: contiguous runs of matches in both lines.
fn count_chunks(matches: &[Option<Match>]) -> usize {
    let mut chunks = 0;
    let mut idx = 0;
    let mut last_match_end = None;
    while idx < matches.len() {
        match matches[idx] {
            None => {
                if last_match_end.take().is_some() {
                    chunks += 1;
                }
                idx += 1;
            }
            Some(m) => {
                if last_match_end.is_some_and(|end| m.match_start != end) {
                    chunks += 1;
                }
                idx = m.start + m.length;
                last_match_end = Some(m.match_start + m.match_length);
            }
        }
    }
    chunks + usize::from(last_match_end.is_some())
}

fn exact(s: &mut Stage, k1: &[i32], k2: &[i32]) {
    for (j, b) in k2.iter().enumerate() {
        for (i, a) in k1.iter().enumerate() {
            if a == b {
                s.single(EXACT, i, j);
            }
        }
    }
}

fn stem(s: &mut Stage, res: &Meteor, w1: &[&str], w2: &[&str], k1: &[i32], k2: &[i32]) {
    let stem_keys = |words: &[&str]| -> Vec<i32> {
        words
            .iter()
            .map(|w| java_hash(&res.stemmer.stem(w)))
            .collect()
    };
    let (s1, s2) = (stem_keys(w1), stem_keys(w2));
    for j in 0..w2.len() {
        for i in 0..w1.len() {
            if s1[i] == s2[j] && k1[i] != k2[j] {
                s.single(STEM, i, j);
            }
        }
    }
}

fn synonym(s: &mut Stage, syn: &Synonyms, w1: &[&str], w2: &[&str], k1: &[i32], k2: &[i32]) {
    let sets1: Vec<Vec<i32>> = w1.iter().map(|w| syn.all_sets(w)).collect();
    let sets2: Vec<Vec<i32>> = w2.iter().map(|w| syn.all_sets(w)).collect();
    for j in 0..w2.len() {
        for i in 0..w1.len() {
            let shared = sets1[i].iter().any(|x| sets2[j].binary_search(x).is_ok());
            if shared && k1[i] != k2[j] {
                s.single(SYNONYM, i, j);
            }
        }
    }
}

/// `ParaphraseMatcher`: phrases of either line whose paraphrase occurs in the other line.
fn paraphrase(s: &mut Stage, para: &Paraphrases, w1: &[&str], w2: &[&str]) {
    let line1: Vec<Option<u32>> = w1.iter().map(|w| para.word_id(w)).collect();
    let line2: Vec<Option<u32>> = w2.iter().map(|w| para.word_id(w)).collect();
    let occurs_at = |line: &[Option<u32>], at: usize, words: &[u32]| {
        at + words.len() <= line.len() && words.iter().zip(&line[at..]).all(|(w, l)| *l == Some(*w))
    };
    // Reference phrases whose paraphrase is in the hypothesis.
    for j in 0..line2.len() {
        for (len, idx) in para.phrases_at(&line2, j) {
            let words = para.paraphrase(idx);
            for i in 0..line1.len() {
                if occurs_at(&line1, i, words) {
                    s.push(Match {
                        start: j,
                        length: len,
                        match_start: i,
                        match_length: words.len(),
                        module: PARAPHRASE,
                    });
                }
            }
        }
    }
    // Hypothesis phrases whose paraphrase is in the reference.
    for i in 0..line1.len() {
        for (len, idx) in para.phrases_at(&line1, i) {
            let words = para.paraphrase(idx);
            for j in 0..line2.len() {
                if occurs_at(&line2, j, words) {
                    s.push(Match {
                        start: j,
                        length: words.len(),
                        match_start: i,
                        match_length: len,
                        module: PARAPHRASE,
                    });
                }
            }
        }
    }
}
