//! METEOR's language data: WordNet synonym sets (with WordNet's morphology) and the paraphrase
//! table, read from the user's copy of `meteor-1.5.jar` and `data/paraphrase-en.gz`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use rustc_hash::FxHashMap;

use super::cache::U32s;
use super::normalize::is_java_token_delimiter;

fn java_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(is_java_token_delimiter)
        .filter(|t| !t.is_empty())
}

/// `SynonymDictionary`: word -> WordNet synsets, and irregular form -> base forms.
pub(crate) struct Synonyms {
    synsets: FxHashMap<String, Vec<i32>>,
    bases: FxHashMap<String, Vec<String>>,
}

/// WordNet 3's detachment rules (`SynonymDictionary.morph`): suffix -> ending, tried in order.
const MORPH: [(&str, &str); 20] = [
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    ("er", ""),
    ("est", ""),
    ("er", "e"),
    ("est", "e"),
];

impl Synonyms {
    /// Parses `english.exceptions` (base line, then a line of its forms) and `english.synsets`
    /// (word line, then a line of synset numbers).
    pub(crate) fn parse(exceptions: &str, synsets: &str) -> Result<Self, String> {
        let mut bases: FxHashMap<String, Vec<String>> = FxHashMap::default();
        let mut lines = exceptions.lines();
        while let Some(base) = lines.next() {
            let forms = lines
                .next()
                .ok_or_else(|| format!("exceptions: base `{base}` has no line of forms"))?;
            for form in java_tokens(forms) {
                bases
                    .entry(form.to_string())
                    .or_default()
                    .push(base.to_string());
            }
        }
        let mut sets = FxHashMap::default();
        let mut lines = synsets.lines().enumerate();
        while let Some((_, word)) = lines.next() {
            let (n, ids) = lines
                .next()
                .ok_or_else(|| format!("synsets: word `{word}` has no line of synsets"))?;
            let ids = java_tokens(ids)
                .map(|t| {
                    t.parse::<i32>()
                        .map_err(|_| format!("synsets line {}: `{t}` is not a number", n + 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            sets.insert(word.to_string(), ids);
        }
        Ok(Self {
            synsets: sets,
            bases,
        })
    }

    pub(crate) fn from_parts(
        synsets: FxHashMap<String, Vec<i32>>,
        bases: FxHashMap<String, Vec<String>>,
    ) -> Self {
        Self { synsets, bases }
    }

    /// The tables as parallel lists, for the cache.
    pub(crate) fn parts(&self) -> SynonymParts<'_> {
        let (synset_words, synset_ids) = self.synsets.iter().map(|(k, v)| (k.as_str(), v)).unzip();
        let (base_forms, base_lists) = self.bases.iter().map(|(k, v)| (k.as_str(), v)).unzip();
        SynonymParts {
            synset_words,
            synset_ids,
            base_forms,
            base_lists,
        }
    }

    fn sets(&self, word: &str) -> &[i32] {
        self.synsets.get(word).map_or(&[], Vec::as_slice)
    }

    /// WordNet's base form of a regular inflection, or `""` when none is in the dictionary.
    fn morph(&self, word: &str) -> String {
        let end = if word.ends_with("ful") { "ful" } else { "" };
        if word.ends_with("ss") || word.encode_utf16().count() <= 2 {
            return word.to_string();
        }
        for (suffix, ending) in MORPH {
            if let Some(stem) = word.strip_suffix(suffix) {
                let candidate = format!("{stem}{ending}");
                if self.synsets.contains_key(&candidate) {
                    return candidate + end;
                }
            }
        }
        String::new()
    }

    /// Synsets of the word, of its irregular bases, or else of its regular base form; sorted.
    pub(crate) fn all_sets(&self, word: &str) -> Vec<i32> {
        let mut out = self.sets(word).to_vec();
        match self.bases.get(word) {
            Some(bases) => {
                for base in bases {
                    out.extend_from_slice(self.sets(base));
                }
            }
            None => out.extend_from_slice(self.sets(&self.morph(word))),
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// [`Synonyms`] as parallel lists.
pub(crate) struct SynonymParts<'a> {
    pub(crate) synset_words: Vec<&'a str>,
    pub(crate) synset_ids: Vec<&'a Vec<i32>>,
    pub(crate) base_forms: Vec<&'a str>,
    pub(crate) base_lists: Vec<&'a Vec<String>>,
}

/// [`Paraphrases`] as flat lists: the vocabulary in id order, the trie edges as
/// `(node, word, child)`.
pub(crate) struct ParaphraseParts<'a> {
    pub(crate) vocab: Vec<&'a str>,
    pub(crate) edges: Vec<(u32, u32, u32)>,
    pub(crate) emit_offsets: &'a [u32],
    pub(crate) emits: &'a [u32],
    pub(crate) word_offsets: &'a [u32],
    pub(crate) words: &'a [u32],
}

/// `ParaphraseTransducer`: a trie of reference phrases, each node emitting the indices of the
/// paraphrases of the phrase ending there (in file order).
pub(crate) struct Paraphrases {
    vocab: FxHashMap<Box<str>, u32>,
    /// `(node, word) -> child node`; node 0 is the root.
    edges: FxHashMap<(u32, u32), u32>,
    /// Paraphrase indices emitted by node `n`: `emits[emit_offsets[n]..emit_offsets[n + 1]]`.
    emit_offsets: U32s,
    emits: U32s,
    /// Words of paraphrase `p`: `words[word_offsets[p]..word_offsets[p + 1]]`.
    word_offsets: U32s,
    words: U32s,
}

impl Paraphrases {
    /// Reads METEOR's `paraphrase-en.gz`: blocks of three lines (probability, phrase,
    /// paraphrase).
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        Self::read(flate2::read::MultiGzDecoder::new(file))
    }

    pub(crate) fn read(reader: impl Read) -> Result<Self, String> {
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut table = Self {
            vocab: FxHashMap::default(),
            edges: FxHashMap::default(),
            emit_offsets: U32s::default(),
            emits: U32s::default(),
            word_offsets: U32s::default(),
            words: U32s::default(),
        };
        let (mut word_offsets, mut words) = (vec![0u32], Vec::new());
        let mut node_emits: Vec<(u32, u32)> = Vec::new();
        let mut nodes = 1u32;
        let (mut prob, mut phrase, mut para) = (String::new(), String::new(), String::new());
        let mut line_no = 0usize;
        loop {
            prob.clear();
            let read = |buf: &mut String, reader: &mut BufReader<_>| {
                buf.clear();
                reader.read_line(buf).map_err(|e| e.to_string())
            };
            if read(&mut prob, &mut reader)? == 0 {
                break;
            }
            if read(&mut phrase, &mut reader)? == 0 || read(&mut para, &mut reader)? == 0 {
                return Err(format!(
                    "entry at line {} is cut short (expected probability, phrase, paraphrase)",
                    line_no + 1
                ));
            }
            line_no += 3;
            let mut node = 0u32;
            for token in java_tokens(phrase.trim_end_matches(['\n', '\r'])) {
                let word = table.intern(token);
                node = *table.edges.entry((node, word)).or_insert_with(|| {
                    nodes += 1;
                    nodes - 1
                });
            }
            let index = word_offsets.len() as u32 - 1;
            node_emits.push((node, index));
            for token in java_tokens(para.trim_end_matches(['\n', '\r'])) {
                let word = table.intern(token);
                words.push(word);
            }
            word_offsets.push(words.len() as u32);
        }
        // Group emits by node, keeping file order within a node.
        node_emits.sort_by_key(|&(node, _)| node);
        let mut emit_offsets = vec![0; nodes as usize + 1];
        for &(node, _) in &node_emits {
            emit_offsets[node as usize + 1] += 1;
        }
        for n in 0..nodes as usize {
            emit_offsets[n + 1] += emit_offsets[n];
        }
        table.emit_offsets = emit_offsets.into();
        table.emits = node_emits
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .into();
        table.word_offsets = word_offsets.into();
        table.words = words.into();
        table.vocab.shrink_to_fit();
        table.edges.shrink_to_fit();
        Ok(table)
    }

    /// A table from its parts; the cache checks that offsets and indices are in range.
    pub(crate) fn from_parts(
        vocab: FxHashMap<Box<str>, u32>,
        edges: FxHashMap<(u32, u32), u32>,
        emit_offsets: U32s,
        emits: U32s,
        word_offsets: U32s,
        words: U32s,
    ) -> Self {
        Self {
            vocab,
            edges,
            emit_offsets,
            emits,
            word_offsets,
            words,
        }
    }

    /// The table as flat lists, for the cache.
    pub(crate) fn parts(&self) -> ParaphraseParts<'_> {
        let mut vocab = vec![""; self.vocab.len()];
        for (word, &id) in &self.vocab {
            vocab[id as usize] = word;
        }
        ParaphraseParts {
            vocab,
            edges: self.edges.iter().map(|(&(n, w), &c)| (n, w, c)).collect(),
            emit_offsets: &self.emit_offsets,
            emits: &self.emits,
            word_offsets: &self.word_offsets,
            words: &self.words,
        }
    }

    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.vocab.get(token) {
            return id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.insert(token.into(), id);
        id
    }

    /// Number of (phrase, paraphrase) entries.
    pub(crate) fn len(&self) -> usize {
        self.word_offsets.len() - 1
    }

    pub(crate) fn word_id(&self, word: &str) -> Option<u32> {
        self.vocab.get(word).copied()
    }

    /// `(phrase length, paraphrase index)` for each table phrase that starts at `line[start]`,
    /// shortest phrases first (`State.getPaths`).
    pub(crate) fn phrases_at(&self, line: &[Option<u32>], start: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut node = 0u32;
        for (i, word) in line[start..].iter().enumerate() {
            let Some(next) = word.and_then(|w| self.edges.get(&(node, w))) else {
                break;
            };
            node = *next;
            let (a, b) = (
                self.emit_offsets[node as usize] as usize,
                self.emit_offsets[node as usize + 1] as usize,
            );
            out.extend(self.emits[a..b].iter().map(|&p| (i + 1, p as usize)));
        }
        out
    }

    pub(crate) fn paraphrase(&self, index: usize) -> &[u32] {
        let (a, b) = (self.word_offsets[index], self.word_offsets[index + 1]);
        &self.words[a as usize..b as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_use_exceptions_and_wordnet_morphology() {
        let exceptions = "mouse\nmice\n";
        let synsets = "mouse\n1 2\ncomputer_mouse\n2\nlung\n7\nenlarge\n9\n";
        let s = Synonyms::parse(exceptions, synsets).unwrap();
        assert_eq!(s.all_sets("mice"), vec![1, 2]);
        assert_eq!(s.all_sets("lungs"), vec![7]);
        assert_eq!(s.all_sets("enlarged"), vec![9]);
        assert!(s.all_sets("unknown").is_empty());
        assert!(Synonyms::parse("base\n", "").is_err());
        assert!(Synonyms::parse("", "word\nnot-a-number\n").is_err());
    }

    #[test]
    fn paraphrase_trie_emits_shortest_first_in_file_order() {
        let text = "0.5\nheart size\ncardiac silhouette\n0.1\nheart\ncardiac\n0.2\nheart size\nsize of the heart\n";
        let p = Paraphrases::read(text.as_bytes()).unwrap();
        assert_eq!(p.len(), 3);
        let id = |w: &str| p.word_id(w);
        let line = [id("heart"), id("size"), None];
        assert_eq!(p.phrases_at(&line, 0), vec![(1, 1), (2, 0), (2, 2)]);
        assert_eq!(p.phrases_at(&line, 1), vec![]);
        let words: Vec<Option<u32>> = p.paraphrase(0).iter().map(|&w| Some(w)).collect();
        assert_eq!(words, vec![id("cardiac"), id("silhouette")]);
        assert!(Paraphrases::read("0.5\nheart\n".as_bytes()).is_err());
    }
}
