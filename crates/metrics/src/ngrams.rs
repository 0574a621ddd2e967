//! Token interning and n-gram counting shared by BLEU and CIDEr (pycocoevalcap's `precook`).

use rustc_hash::FxHashMap as HashMap;

/// An n-gram of interned tokens: its length (1..=4) and the token ids, unused slots 0.
pub(crate) type NGram = (u8, [u32; 4]);

/// Maps tokens to small integers so n-grams hash cheaply.
#[derive(Default, Debug, Clone)]
pub(crate) struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    /// Python's `str.split()`: whitespace runs separate tokens.
    pub(crate) fn tokens(&mut self, text: &str) -> Vec<u32> {
        text.split_whitespace()
            .map(|t| match self.ids.get(t) {
                Some(&id) => id,
                None => {
                    let id = self.ids.len() as u32 + 1;
                    self.ids.insert(t.to_string(), id);
                    id
                }
            })
            .collect()
    }
}

/// Counts of all 1..=`n`-grams of a token sequence, in first-appearance order (as Python's dict).
pub(crate) fn count_ngrams(tokens: &[u32], n: usize) -> Vec<(NGram, u32)> {
    let grams = n * tokens.len();
    let mut index: HashMap<NGram, usize> =
        HashMap::with_capacity_and_hasher(grams, Default::default());
    let mut counts: Vec<(NGram, u32)> = Vec::with_capacity(grams);
    for k in 1..=n {
        for window in tokens.windows(k) {
            let mut key = [0u32; 4];
            key[..k].copy_from_slice(window);
            let gram = (k as u8, key);
            match index.get(&gram) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    index.insert(gram, counts.len());
                    counts.push((gram, 1));
                }
            }
        }
    }
    counts
}
