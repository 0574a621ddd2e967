//! METEOR 1.5's aligner: candidate matches from each module, then a beam search for the best
//! one-to-one alignment (`edu.cmu.meteor.aligner.Aligner`).
//!
//! Line 1 is the hypothesis ("test"), line 2 the reference. Quirks of the Java code that change
//! scores are kept on purpose:
//! - words are compared by `String.hashCode` keys;
//! - the beam's weighted match counts are Java `int`s, so each addition of `length * weight`
//!   truncates (a one-word stem or synonym match adds 0 with the alignment weight 0.5);
//! - the distance of a match is added to the path it branched from, not to the new path.

use std::cmp::Reverse;

use rustc_hash::FxHashMap;

use super::resources::Paraphrases;
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

/// A tokenized line and what every module needs to know of its words, computed once per
/// distinct text.
pub(crate) struct Line {
    len: usize,
    keys: Vec<i32>,
    stems: Vec<i32>,
    /// Sorted synsets of each word (empty without the synonym module).
    synsets: Vec<Vec<i32>>,
    /// Paraphrase-table word ids (empty without the paraphrase module).
    para: Vec<Option<u32>>,
    function: Vec<bool>,
}

impl Line {
    /// `normalized` is a line after METEOR's tokenizer and lower-casing.
    pub(crate) fn new(res: &Meteor, normalized: &str) -> Self {
        let words: Vec<&str> = normalized
            .split(super::normalize::is_java_token_delimiter)
            .filter(|t| !t.is_empty())
            .collect();
        Self {
            len: words.len(),
            keys: words.iter().map(|w| java_hash(w)).collect(),
            stems: words
                .iter()
                .map(|w| java_hash(&res.stemmer.stem(w)))
                .collect(),
            synsets: res
                .synonyms
                .as_ref()
                .map(|syn| words.iter().map(|w| syn.all_sets(w)).collect())
                .unwrap_or_default(),
            para: res
                .paraphrases
                .as_ref()
                .map(|p| words.iter().map(|w| p.word_id(w)).collect())
                .unwrap_or_default(),
            function: words.iter().map(|w| res.is_function_word(w)).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
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

/// Used-word bits; inline for lines of up to 256 words together.
#[derive(Clone)]
enum Bits {
    Inline([u64; 4]),
    Heap(Vec<u64>),
}

impl Bits {
    fn new(n: usize) -> Self {
        if n <= 256 {
            Bits::Inline([0; 4])
        } else {
            Bits::Heap(vec![0; n.div_ceil(64)])
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            Bits::Inline(w) => w,
            Bits::Heap(w) => w,
        }
    }

    fn get(&self, k: usize) -> bool {
        self.words()[k / 64] >> (k % 64) & 1 == 1
    }

    fn set(&mut self, k: usize) {
        let w = match self {
            Bits::Inline(w) => &mut w[..],
            Bits::Heap(w) => &mut w[..],
        };
        w[k / 64] |= 1 << (k % 64);
    }
}

/// No match taken yet (the end of a path's history in the arena).
const NONE: u32 = u32::MAX;

/// A partial alignment: what is used, what was taken, and the ranking statistics.
#[derive(Clone)]
struct Partial {
    /// Last match taken by the search: an index into the arena of `(match, previous)`.
    taken: u32,
    matches1: i32,
    matches2: i32,
    chunks: i32,
    idx: usize,
    last_match_end: Option<usize>,
    distance: i32,
    /// Bit `i` for line-1 word `i`, bit `n1 + j` for line-2 word `j`.
    used: Bits,
    n1: usize,
}

impl Partial {
    fn used2(&self, j: usize) -> bool {
        self.used.get(self.n1 + j)
    }

    fn is_used(&self, m: &Match) -> bool {
        (m.start..m.start + m.length).any(|j| self.used2(j))
            || (m.match_start..m.match_start + m.match_length).any(|i| self.used.get(i))
    }

    fn set_used(&mut self, m: &Match) {
        let n1 = self.n1;
        for k in (m.match_start..m.match_start + m.match_length)
            .chain(n1 + m.start..n1 + m.start + m.length)
        {
            self.used.set(k);
        }
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

/// A path's rank and its index among the paths of a step.
type Ranked = ((Reverse<i32>, i32, i32), usize);

/// `Constants.PARTIAL_COMPARE_TOTAL` as a sort key: more weighted matches, then fewer chunks,
/// then less distance.
fn rank(p: &Partial) -> (Reverse<i32>, i32, i32) {
    (Reverse(p.matches1 + p.matches2), p.chunks, p.distance)
}

/// Per-module matched-word counts of one alignment.
pub(crate) struct AlignmentCounts {
    pub(crate) function1: usize,
    pub(crate) function2: usize,
    /// Per module: `[hyp content, ref content, hyp function, ref function]`.
    pub(crate) stage: [[usize; 4]; 4],
    pub(crate) chunks: usize,
}

/// Aligns hypothesis `l1` with reference `l2`.
pub(crate) fn align(res: &Meteor, l1: &Line, l2: &Line) -> AlignmentCounts {
    let mut s = Stage {
        matches: vec![Vec::new(); l2.len],
        coverage1: vec![0; l1.len],
        coverage2: vec![0; l2.len],
    };
    // Identical lines need only exact matches (avoids beam search errors).
    let identical = l1.keys == l2.keys;
    exact(&mut s, l1, l2);
    if !identical {
        stem(&mut s, l1, l2);
        if res.synonyms.is_some() {
            synonym(&mut s, l1, l2);
        }
        if let Some(para) = &res.paraphrases {
            paraphrase(&mut s, para, l1, l2);
        }
    }

    // One-to-one matches that nothing else overlaps are definite.
    let mut start = Partial {
        taken: NONE,
        matches1: 0,
        matches2: 0,
        chunks: 0,
        idx: 0,
        last_match_end: None,
        distance: 0,
        used: Bits::new(l1.len + l2.len),
        n1: l1.len,
    };
    let mut matches: Vec<Option<Match>> = vec![None; l2.len];
    for (i, candidates) in s.matches.iter().enumerate() {
        if let [m] = candidates.as_slice() {
            let overlap = (0..m.length).any(|j| s.coverage2[i + j] != 1)
                || (0..m.match_length).any(|j| s.coverage1[m.match_start + j] != 1);
            if !overlap {
                matches[i] = Some(*m);
                start.set_used(m);
            }
        }
    }
    let mut arena = Vec::new();
    let mut taken = resolve(&s, &matches, start, &mut arena).taken;
    while taken != NONE {
        let (m, prev) = arena[taken as usize];
        matches[m.start] = Some(m);
        taken = prev;
    }

    let mut stage = [[0usize; 4]; 4];
    for m in matches.iter().flatten() {
        for i in m.match_start..m.match_start + m.match_length {
            stage[m.module][if l1.function[i] { 2 } else { 0 }] += 1;
        }
        for j in m.start..m.start + m.length {
            stage[m.module][if l2.function[j] { 3 } else { 1 }] += 1;
        }
    }
    AlignmentCounts {
        function1: l1.function.iter().filter(|&&f| f).count(),
        function2: l2.function.iter().filter(|&&f| f).count(),
        stage,
        chunks: count_chunks(&matches),
    }
}

/// The beam search (`Aligner.resolve`), left to right over line 2; `definite` holds the matches
/// fixed before the search.
fn resolve(
    s: &Stage,
    definite: &[Option<Match>],
    start: Partial,
    arena: &mut Vec<(Match, u32)>,
) -> Partial {
    let n = s.matches.len();
    let mut next = vec![start];
    let mut paths: Vec<Partial> = Vec::new();
    let mut beam: Vec<Ranked> = Vec::new();
    for current in 0..=n {
        std::mem::swap(&mut paths, &mut next);
        next.clear();
        best_ranked(&paths, &mut beam);
        let fallback = paths[beam[0].1].clone();
        for &(_, k) in &beam {
            let mut path = paths[k].clone();
            if current == n {
                path.close_chunk();
                next.push(path);
                continue;
            }
            if path.used2(current) {
                if current < path.idx {
                    // Inside a match taken earlier.
                    next.push(path);
                } else if let Some(m) = definite[path.idx] {
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
                arena.push((*m, branch.taken));
                branch.taken = (arena.len() - 1) as u32;
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
    best_ranked(&next, &mut beam);
    next.swap_remove(beam[0].1)
}

/// The (at most) `BEAM_SIZE` best paths' ranks and indices, best first; ties keep the input
/// order, as Java's stable `Collections.sort` does.
fn best_ranked(paths: &[Partial], order: &mut Vec<Ranked>) {
    order.clear();
    order.extend(paths.iter().enumerate().map(|(k, p)| (rank(p), k)));
    if order.len() > BEAM_SIZE {
        order.select_nth_unstable(BEAM_SIZE - 1);
        order.truncate(BEAM_SIZE);
    }
    order.sort_unstable();
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

fn exact(s: &mut Stage, l1: &Line, l2: &Line) {
    for (j, b) in l2.keys.iter().enumerate() {
        for (i, a) in l1.keys.iter().enumerate() {
            if a == b {
                s.single(EXACT, i, j);
            }
        }
    }
}

fn stem(s: &mut Stage, l1: &Line, l2: &Line) {
    for j in 0..l2.len {
        for i in 0..l1.len {
            if l1.stems[i] == l2.stems[j] && l1.keys[i] != l2.keys[j] {
                s.single(STEM, i, j);
            }
        }
    }
}

fn synonym(s: &mut Stage, l1: &Line, l2: &Line) {
    // Synset -> line-2 words that have it.
    let mut index: FxHashMap<i32, Vec<usize>> = FxHashMap::default();
    for (j, sets) in l2.synsets.iter().enumerate() {
        for set in sets {
            index.entry(*set).or_default().push(j);
        }
    }
    let mut shares = vec![false; l2.len];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (i, sets) in l1.synsets.iter().enumerate() {
        shares.fill(false);
        for j in sets.iter().filter_map(|set| index.get(set)).flatten() {
            shares[*j] = true;
        }
        pairs.extend(
            (0..l2.len)
                .filter(|&j| shares[j] && l1.keys[i] != l2.keys[j])
                .map(|j| (j, i)),
        );
    }
    // Java's order: line-2 word, then line-1 word.
    pairs.sort_unstable();
    for (j, i) in pairs {
        s.single(SYNONYM, i, j);
    }
}

/// Start positions of `words` in `line`, ascending (every position for an empty phrase); `at`
/// maps each word to its positions in `line`.
fn occurrences(line: &[Option<u32>], at: &FxHashMap<u32, Vec<usize>>, words: &[u32]) -> Vec<usize> {
    let starts: Vec<usize> = match words.first() {
        None => (0..line.len()).collect(),
        Some(first) => at.get(first).cloned().unwrap_or_default(),
    };
    starts
        .into_iter()
        .filter(|&k| {
            k + words.len() <= line.len()
                && words.iter().zip(&line[k..]).all(|(w, l)| *l == Some(*w))
        })
        .collect()
}

/// `ParaphraseMatcher`: phrases of either line whose paraphrase occurs in the other line.
fn paraphrase(s: &mut Stage, para: &Paraphrases, l1: &Line, l2: &Line) {
    let (line1, line2) = (&l1.para, &l2.para);
    // Where each word occurs, so a paraphrase is looked up by its first word.
    let positions = |line: &[Option<u32>]| {
        let mut at: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        for (k, w) in line.iter().enumerate() {
            if let Some(w) = w {
                at.entry(*w).or_default().push(k);
            }
        }
        at
    };
    let (at1, at2) = (positions(line1), positions(line2));
    // Reference phrases whose paraphrase is in the hypothesis.
    for j in 0..line2.len() {
        for (len, idx) in para.phrases_at(line2, j) {
            let words = para.paraphrase(idx);
            for i in occurrences(line1, &at1, words) {
                {
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
        for (len, idx) in para.phrases_at(line1, i) {
            let words = para.paraphrase(idx);
            for j in occurrences(line2, &at2, words) {
                {
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
