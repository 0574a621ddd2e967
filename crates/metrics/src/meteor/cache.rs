//! A one-time binary cache of METEOR's language data, built from the user's own
//! `meteor-1.5.jar` and `paraphrase-en.gz`: reading it takes a fraction of a second where parsing
//! the gzipped paraphrase table takes about three.
//!
//! Layout (little-endian): the magic `TRRGMETEOR`, the format version, the size and modification
//! time of each source file, then the tables as length-prefixed `u32` arrays and string tables,
//! each padded to 4 bytes. The file is memory-mapped and the four big paraphrase arrays (100 MB)
//! are used in place, so only the pages a corpus touches are ever read.
//! A cache whose fingerprint does not match its sources is rebuilt. Every length read is checked
//! against the bytes that remain, and every offset and index against the table it points into, so
//! a damaged file is an error, never a panic or an outsized allocation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use rustc_hash::{FxHashMap, FxHashSet};

use super::resources::{Paraphrases, Synonyms};

/// 12 bytes, so that with the version and fingerprint the tables start 4-byte aligned.
const MAGIC: &[u8; 12] = b"TRRGMETEOR\0\0";
const VERSION: u32 = 1;

/// What the cache did when METEOR's data was loaded ([`super::Meteor::from_jar_cached`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeteorCache {
    /// The tables came from this cache file.
    Loaded(PathBuf),
    /// The tables were parsed from the sources and written to this cache file; `replaced` says
    /// why an existing file there was not used.
    Written {
        /// The cache file.
        path: PathBuf,
        /// Why the file that was there could not be used, if there was one.
        replaced: Option<String>,
    },
    /// The tables were parsed from the sources; the cache file could not be written.
    NotWritten {
        /// The cache file that was tried.
        path: PathBuf,
        /// Why it could not be written.
        reason: String,
    },
}

/// The tables a cache holds.
pub(crate) struct Tables {
    pub(crate) function_words: FxHashSet<String>,
    pub(crate) synonyms: Synonyms,
    pub(crate) paraphrases: Option<Paraphrases>,
}

/// `(size, modification time in ns)` of each source, the paraphrase file's `None` when absent.
pub(crate) fn fingerprint(jar: &Path, paraphrase: Option<&Path>) -> std::io::Result<[u64; 4]> {
    let stat = |p: &Path| -> std::io::Result<(u64, u64)> {
        let m = std::fs::metadata(p)?;
        let t = m.modified()?.duration_since(UNIX_EPOCH).unwrap_or_default();
        Ok((m.len(), t.as_nanos() as u64))
    };
    let (a, b) = stat(jar)?;
    let (c, d) = match paraphrase {
        Some(p) => stat(p)?,
        None => (u64::MAX, u64::MAX),
    };
    Ok([a, b, c, d])
}

/// The cache file for these sources in `dir`: one file per pair of source paths.
pub(crate) fn cache_path(dir: &Path, jar: &Path, paraphrase: Option<&Path>) -> PathBuf {
    // FNV-1a over the canonical paths: stable across runs and builds.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut key = canonical(jar).to_string_lossy().into_owned();
    key.push('\n');
    if let Some(p) = paraphrase {
        key.push_str(&canonical(p).to_string_lossy());
    }
    for byte in key.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    dir.join(format!("meteor-1.5-{hash:016x}.bin"))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u32(v.len() as u32);
        for &x in v {
            self.u32(x);
        }
    }
    fn strings(&mut self, v: &[&str]) {
        self.u32s(&offsets(v.iter().map(|s| s.len())));
        for s in v {
            self.0.extend_from_slice(s.as_bytes());
        }
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }
}

/// `[0, l0, l0 + l1, ...]`.
fn offsets(lens: impl Iterator<Item = usize>) -> Vec<u32> {
    let mut out = vec![0u32];
    let mut end = 0u32;
    for l in lens {
        end += l as u32;
        out.push(end);
    }
    out
}

/// Serializes the tables with the sources' fingerprint.
pub(crate) fn encode(tables: &Tables, fingerprint: [u64; 4]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128 << 20));
    w.0.extend_from_slice(MAGIC);
    w.u32(VERSION);
    for f in fingerprint {
        w.0.extend_from_slice(&f.to_le_bytes());
    }
    let words: Vec<&str> = tables.function_words.iter().map(String::as_str).collect();
    w.strings(&words);
    let s = tables.synonyms.parts();
    w.strings(&s.synset_words);
    w.u32s(&offsets(s.synset_ids.iter().map(|v| v.len())));
    let ids: Vec<u32> = s
        .synset_ids
        .iter()
        .flat_map(|v| v.iter().map(|&i| i as u32))
        .collect();
    w.u32s(&ids);
    w.strings(&s.base_forms);
    w.u32s(&offsets(s.base_lists.iter().map(|v| v.len())));
    let bases: Vec<&str> = s
        .base_lists
        .iter()
        .flat_map(|v| v.iter().map(String::as_str))
        .collect();
    w.strings(&bases);
    match &tables.paraphrases {
        None => w.u32(0),
        Some(p) => {
            w.u32(1);
            let p = p.parts();
            w.strings(&p.vocab);
            for column in 0..3 {
                let v: Vec<u32> = p.edges.iter().map(|e| [e.0, e.1, e.2][column]).collect();
                w.u32s(&v);
            }
            for v in [p.emit_offsets, p.emits, p.word_offsets, p.words] {
                w.u32s(v);
            }
        }
    }
    w.0
}

/// The bytes of a cache file: a memory map, or (in tests) a buffer.
pub(crate) type Backing = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A `u32` table, owned or in place in a cache file.
#[derive(Clone)]
pub(crate) enum U32s {
    Owned(Vec<u32>),
    /// `len` values at byte `start` of the backing bytes (checked in range and aligned).
    Mapped {
        bytes: Backing,
        start: usize,
        len: usize,
    },
}

impl Default for U32s {
    fn default() -> Self {
        U32s::Owned(Vec::new())
    }
}

impl From<Vec<u32>> for U32s {
    fn from(v: Vec<u32>) -> Self {
        U32s::Owned(v)
    }
}

impl std::ops::Deref for U32s {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match self {
            U32s::Owned(v) => v,
            U32s::Mapped { bytes, start, len } => {
                bytemuck::cast_slice(&(**bytes).as_ref()[*start..*start + 4 * *len])
            }
        }
    }
}

struct Reader<'a> {
    all: &'a Backing,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        &(**self.all).as_ref()[self.pos..]
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let rest = self.rest();
        if n > rest.len() {
            return Err(format!(
                "cut short in {what}: {n} bytes needed, {} left",
                rest.len()
            ));
        }
        self.pos += n;
        Ok(&rest[..n])
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    /// A length-prefixed `u32` array, in place.
    fn mapped(&mut self, what: &str) -> Result<U32s, String> {
        let len = self.u32(what)? as usize;
        let start = self.pos;
        let bytes = self.take(len.saturating_mul(4), what)?;
        if bytemuck::try_cast_slice::<u8, u32>(bytes).is_err() {
            return Err(format!("{what}: not 4-byte aligned"));
        }
        Ok(U32s::Mapped {
            bytes: self.all.clone(),
            start,
            len,
        })
    }
    fn u32s(&mut self, what: &str) -> Result<Vec<u32>, String> {
        Ok(self.mapped(what)?.to_vec())
    }
    /// Offsets that start at 0, never decrease, and end at `end`; `count` entries when given.
    fn offsets(&mut self, what: &str, count: Option<usize>) -> Result<U32s, String> {
        let v = self.mapped(what)?;
        let ok = v.first() == Some(&0)
            && v.windows(2).all(|w| w[0] <= w[1])
            && count.is_none_or(|c| v.len() == c + 1);
        if !ok {
            return Err(format!(
                "{what}: offsets out of order or of the wrong count"
            ));
        }
        Ok(v)
    }
    fn strings(&mut self, what: &str) -> Result<Vec<&'a str>, String> {
        let offsets = self.offsets(what, None)?;
        let end = *offsets.last().expect("offsets start at 0") as usize;
        let blob = self.take(end, what)?;
        self.take((4 - end % 4) % 4, what)?;
        let blob = std::str::from_utf8(blob).map_err(|e| format!("{what}: {e}"))?;
        offsets
            .windows(2)
            .map(|w| {
                blob.get(w[0] as usize..w[1] as usize)
                    .ok_or_else(|| format!("{what}: a string splits a character"))
            })
            .collect()
    }
}

fn check_end(offsets: &[u32], len: usize, what: &str) -> Result<(), String> {
    if offsets.last().copied() != Some(len as u32) {
        return Err(format!("{what}: offsets do not end at the table's length"));
    }
    Ok(())
}

fn group<T: Clone>(offsets: &[u32], values: &[T]) -> Vec<Vec<T>> {
    offsets
        .windows(2)
        .map(|w| values[w[0] as usize..w[1] as usize].to_vec())
        .collect()
}

/// Reads a cache; `Ok(None)` when it was made from other sources (or by another format version).
pub(crate) fn decode(all: &Backing, fingerprint: [u64; 4]) -> Result<Option<Tables>, String> {
    let mut r = Reader { all, pos: 0 };
    if r.take(MAGIC.len(), "the header")? != MAGIC {
        return Err("not a trrg METEOR cache (wrong magic)".into());
    }
    if r.u32("the header")? != VERSION {
        return Ok(None);
    }
    for f in fingerprint {
        if r.u64("the header")? != f {
            return Ok(None);
        }
    }
    let function_words = r.strings("function words")?;
    let synset_words = r.strings("synonym words")?;
    let synset_offsets = r.offsets("synsets", Some(synset_words.len()))?;
    let synset_ids: Vec<i32> = r.mapped("synsets")?.iter().map(|&v| v as i32).collect();
    check_end(&synset_offsets, synset_ids.len(), "synsets")?;
    let base_forms = r.strings("irregular forms")?;
    let base_offsets = r.offsets("base forms", Some(base_forms.len()))?;
    let base_lists = r.strings("base forms")?;
    check_end(&base_offsets, base_lists.len(), "base forms")?;
    let synonyms = Synonyms::from_parts(
        synset_words
            .iter()
            .map(|w| w.to_string())
            .zip(group(&synset_offsets, &synset_ids))
            .collect(),
        base_forms
            .iter()
            .map(|w| w.to_string())
            .zip(
                group(&base_offsets, &base_lists)
                    .into_iter()
                    .map(|v| v.into_iter().map(str::to_string).collect()),
            )
            .collect(),
    );
    let paraphrases = match r.u32("the paraphrase flag")? {
        0 => None,
        1 => {
            let vocab = r.strings("paraphrase vocabulary")?;
            let parents = r.u32s("trie edges")?;
            let words = r.u32s("trie edges")?;
            let children = r.u32s("trie edges")?;
            if parents.len() != words.len() || words.len() != children.len() {
                return Err("trie edges: arrays of different lengths".into());
            }
            let emit_offsets = r.offsets("trie emits", None)?;
            let nodes = emit_offsets.len() - 1;
            if parents
                .iter()
                .chain(&children)
                .any(|&n| n as usize >= nodes)
            {
                return Err("trie edges: a node outside the trie".into());
            }
            let emits = r.mapped("trie emits")?;
            check_end(&emit_offsets, emits.len(), "trie emits")?;
            let word_offsets = r.offsets("paraphrases", None)?;
            let para_words = r.mapped("paraphrases")?;
            check_end(&word_offsets, para_words.len(), "paraphrases")?;
            let entries = word_offsets.len() - 1;
            if emits.iter().any(|&p| p as usize >= entries) {
                return Err("trie emits: a paraphrase outside the table".into());
            }
            let n_words = vocab.len();
            let vocab: FxHashMap<Box<str>, u32> = vocab
                .iter()
                .enumerate()
                .map(|(i, w)| ((*w).into(), i as u32))
                .collect();
            if vocab.len() != n_words {
                return Err("paraphrase vocabulary: a word given twice".into());
            }
            let edges: FxHashMap<(u32, u32), u32> =
                parents.into_iter().zip(words).zip(children).collect();
            Some(Paraphrases::from_parts(
                vocab,
                edges,
                emit_offsets,
                emits,
                word_offsets,
                para_words,
            ))
        }
        flag => return Err(format!("the paraphrase flag is {flag}, not 0 or 1")),
    };
    if !r.rest().is_empty() {
        return Err(format!("{} unexpected bytes at the end", r.rest().len()));
    }
    Ok(Some(Tables {
        function_words: function_words.into_iter().map(str::to_string).collect(),
        synonyms,
        paraphrases,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes in a `u32` buffer, so that tables can be used in place as from a memory map.
    struct Aligned(Vec<u32>, usize);

    impl AsRef<[u8]> for Aligned {
        fn as_ref(&self) -> &[u8] {
            &bytemuck::cast_slice(&self.0)[..self.1]
        }
    }

    fn backing(bytes: &[u8]) -> Backing {
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Arc::new(Aligned(words, bytes.len()))
    }

    fn tables() -> Tables {
        let text = "0.5\nheart size\ncardiac silhouette\n0.1\nheart\ncardiac\n0.2\nheart size\nsize of the heart\n";
        Tables {
            function_words: ["the", "of", "a"].map(String::from).into_iter().collect(),
            synonyms: Synonyms::parse("mouse\nmice\n", "mouse\n1 2\nlung\n7\nenlarge\n9\n")
                .unwrap(),
            paraphrases: Some(Paraphrases::read(text.as_bytes()).unwrap()),
        }
    }

    /// Every lookup a scorer makes, over every word of the vocabulary.
    fn exercise(t: &Tables) -> Vec<(usize, usize, Vec<u32>)> {
        let mut out = Vec::new();
        let _ = (t.synonyms.all_sets("mice"), t.synonyms.all_sets("lungs"));
        if let Some(p) = &t.paraphrases {
            let line: Vec<Option<u32>> = (0..8).map(Some).chain([None]).collect();
            for start in 0..line.len() {
                for (len, index) in p.phrases_at(&line, start) {
                    out.push((len, index, p.paraphrase(index).to_vec()));
                }
            }
        }
        out
    }

    const FINGERPRINT: [u64; 4] = [1, 2, 3, 4];

    #[test]
    fn round_trip_gives_the_same_lookups_and_other_sources_are_stale() {
        let t = tables();
        let bytes = encode(&t, FINGERPRINT);
        assert_eq!(bytes.len() % 4, 0);
        let back = decode(&backing(&bytes), FINGERPRINT).unwrap().unwrap();
        assert_eq!(exercise(&back), exercise(&t));
        assert!(!exercise(&t).is_empty());
        assert_eq!(back.function_words, t.function_words);
        assert_eq!(back.synonyms.all_sets("mice"), vec![1, 2]);
        assert!(decode(&backing(&bytes), [1, 2, 3, 5]).unwrap().is_none());
        assert!(decode(&backing(b"TRRGMETEOR\0\0"), FINGERPRINT).is_err());
        assert!(decode(&backing(b"not a cache at all"), FINGERPRINT).is_err());
    }

    /// A seeded mutation loop: truncations and byte changes of a valid cache decode to an error
    /// or to tables whose every lookup works; none panics.
    #[test]
    fn damaged_caches_are_errors_never_panics() {
        let bytes = encode(&tables(), FINGERPRINT);
        for cut in 0..bytes.len() {
            assert!(
                decode(&backing(&bytes[..cut]), FINGERPRINT).is_err(),
                "cut at {cut}"
            );
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let header = MAGIC.len() + 4 + 32;
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = header + (next() as usize) % (b.len() - header);
                b[at] = match next() % 3 {
                    0 => next() as u8,
                    1 => b[at].wrapping_add(1),
                    _ => 0xff,
                };
            }
            if let Ok(Some(t)) = decode(&backing(&b), FINGERPRINT) {
                exercise(&t);
                decoded += 1;
            }
        }
        assert!(
            decoded > 0,
            "no mutation kept a valid cache: the loop tests nothing"
        );
    }
}
