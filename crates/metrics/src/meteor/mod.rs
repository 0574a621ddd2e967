//! METEOR 1.5 as pycocoevalcap runs it (`java -jar meteor-1.5.jar - - -stdio -l en -norm`),
//! ported to Rust: the `-norm` tokenizer, the exact, stem (Snowball English), synonym (WordNet)
//! and paraphrase modules, the beam-search aligner, the English ranking parameters
//! (alpha 0.85, beta 0.2, gamma 0.6, delta 0.75; module weights 1.0, 0.6, 0.8, 0.6) and the
//! corpus score from pooled sufficient statistics.
//!
//! The synonym and paraphrase data are not bundled: [`Meteor::from_jar`] reads them from the
//! `meteor-1.5.jar` and `data/paraphrase-en.gz` that ship in the `pycocoevalcap` wheel.
//! [`Meteor::exact_stem`] needs no files and says so in [`Meteor::modules`].

mod align;
mod cache;
mod normalize;
mod resources;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashSet;

use crate::{Error, Result};
use align::{align, Line, EXACT, PARAPHRASE, STEM, SYNONYM};
pub use cache::MeteorCache;
use cache::Tables;
use rayon::prelude::*;
use resources::{Paraphrases, Synonyms};

/// English ranking-task parameters (`Constants.PARAM_RANK[LANG_EN]`).
const ALPHA: f64 = 0.85;
const BETA: f64 = 0.20;
const GAMMA: f64 = 0.60;
const DELTA: f64 = 0.75;
/// Module weights in scoring: exact, stem, synonym, paraphrase (`Constants.WEIGHT_RANK`).
const MODULE_WEIGHTS: [f64; 4] = [1.0, 0.6, 0.8, 0.6];

/// The METEOR scorer and its language data. Cheap to share: wrap it in an [`Arc`].
pub struct Meteor {
    function_words: FxHashSet<String>,
    stemmer: Stemmer,
    synonyms: Option<Synonyms>,
    paraphrases: Option<Paraphrases>,
}

static EXACT_STEM: LazyLock<Arc<Meteor>> = LazyLock::new(|| Arc::new(Meteor::exact_stem()));

/// `data/paraphrase-en.gz` beside the jar, where pycocoevalcap and the assets script put it.
fn paraphrase_beside(jar: &Path) -> Option<PathBuf> {
    let path = jar
        .parent()
        .unwrap_or(Path::new("."))
        .join("data")
        .join("paraphrase-en.gz");
    path.is_file().then_some(path)
}

/// The jar's function words and WordNet data, and the paraphrase table when given.
fn read_tables(jar: &Path, paraphrase: Option<&Path>) -> Result<Tables> {
    let file = std::fs::File::open(jar).map_err(|e| data_error(jar, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| data_error(jar, format!("not a readable jar (zip) file: {e}")))?;
    let mut entry = |name: &str| -> Result<String> {
        let mut text = String::new();
        let mut file = zip
            .by_name(name)
            .map_err(|e| data_error(jar, format!("no `{name}` in the jar: {e}")))?;
        std::io::Read::read_to_string(&mut file, &mut text)
            .map_err(|e| data_error(jar, format!("`{name}`: {e}")))?;
        Ok(text)
    };
    let function_words = entry("function/english.words")?;
    let synonyms = Synonyms::parse(
        &entry("synonym/english.exceptions")?,
        &entry("synonym/english.synsets")?,
    )
    .map_err(|e| data_error(jar, e))?;
    let paraphrases = paraphrase
        .map(|p| Paraphrases::load(p).map_err(|e| data_error(p, e)))
        .transpose()?;
    Ok(Tables {
        function_words: function_words.lines().map(str::to_string).collect(),
        synonyms,
        paraphrases,
    })
}

/// Maps a cache file into memory.
fn map_file(path: &Path) -> std::io::Result<cache::Backing> {
    if cfg!(target_endian = "big") {
        // The cache holds little-endian tables that are used in place.
        return Err(std::io::Error::other(
            "the cache is not used on big-endian machines",
        ));
    }
    let file = std::fs::File::open(path)?;
    // SAFETY: trrg writes cache files once, through a temporary file and a rename, and never
    // changes one in place; the map stays valid as long as nobody else truncates the file.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Arc::new(map))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.{}-{n}.tmp",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn data_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::MeteorData {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl Meteor {
    /// METEOR with the exact and stem modules only: no files needed. Scores are lower than
    /// pycocoevalcap's whenever synonyms or paraphrases would have matched.
    pub fn exact_stem() -> Self {
        Self {
            function_words: include_str!("../../data/meteor_function_words_en.txt")
                .lines()
                .map(str::to_string)
                .collect(),
            stemmer: Stemmer::create(Algorithm::English),
            synonyms: None,
            paraphrases: None,
        }
    }

    /// The shared exact+stem scorer.
    pub fn shared_exact_stem() -> Arc<Self> {
        EXACT_STEM.clone()
    }

    /// All four modules, as pycocoevalcap: WordNet data from `jar` (`meteor-1.5.jar`) and the
    /// paraphrase table from `data/paraphrase-en.gz` beside it. Like METEOR itself, a missing
    /// paraphrase file leaves the paraphrase module empty ([`Meteor::modules`] then omits it).
    /// Reading the 62 MB table takes a few seconds; [`Meteor::from_jar_cached`] does it once.
    pub fn from_jar(jar: &Path) -> Result<Self> {
        let paraphrase = paraphrase_beside(jar);
        Self::from_files(jar, paraphrase.as_deref())
    }

    /// WordNet data from `jar`, the paraphrase table from `paraphrase` (or none).
    pub fn from_files(jar: &Path, paraphrase: Option<&Path>) -> Result<Self> {
        Ok(Self::from_tables(read_tables(jar, paraphrase)?))
    }

    /// [`Meteor::from_jar`] through a cache of the parsed tables in `cache_dir` (one file per
    /// jar, rebuilt when the jar or the paraphrase file changes size or modification time). The
    /// returned [`MeteorCache`] says whether the cache was read or written; failing to write it
    /// is not an error, since the scorer is complete either way.
    pub fn from_jar_cached(jar: &Path, cache_dir: &Path) -> Result<(Self, MeteorCache)> {
        let paraphrase = paraphrase_beside(jar);
        let paraphrase = paraphrase.as_deref();
        let fingerprint = cache::fingerprint(jar, paraphrase).map_err(|e| data_error(jar, e))?;
        let path = cache::cache_path(cache_dir, jar, paraphrase);
        let replaced = match map_file(&path) {
            Ok(bytes) => match cache::decode(&bytes, fingerprint) {
                Ok(Some(tables)) => {
                    return Ok((Self::from_tables(tables), MeteorCache::Loaded(path)))
                }
                Ok(None) => Some("it was made from other files or by another trrg version".into()),
                Err(e) => Some(e),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(e.to_string()),
        };
        let tables = read_tables(jar, paraphrase)?;
        let outcome = match write_atomically(&path, &cache::encode(&tables, fingerprint)) {
            Ok(()) => MeteorCache::Written { path, replaced },
            Err(e) => MeteorCache::NotWritten {
                path,
                reason: e.to_string(),
            },
        };
        Ok((Self::from_tables(tables), outcome))
    }

    /// Where [`Meteor::from_jar_cached`] keeps its cache by default: `$TRRG_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/trrg`, else `$HOME/.cache/trrg`; `None` when none of them is set.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("TRRG_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("trrg")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("trrg")))
    }

    fn from_tables(tables: Tables) -> Self {
        Self {
            function_words: tables.function_words,
            stemmer: Stemmer::create(Algorithm::English),
            synonyms: Some(tables.synonyms),
            paraphrases: tables.paraphrases,
        }
    }

    /// Finds pycocoevalcap's `meteor-1.5.jar`: `$TRRG_METEOR_JAR` when set, else the
    /// `pycocoevalcap` package of `python3` (located without importing it).
    pub fn find_jar() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("TRRG_METEOR_JAR") {
            return Some(PathBuf::from(path));
        }
        let script = "import importlib.util as u\ns = u.find_spec('pycocoevalcap')\n\
                      print(s.submodule_search_locations[0] if s else '')";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        let jar = Path::new(dir.trim()).join("meteor").join("meteor-1.5.jar");
        (!dir.trim().is_empty() && jar.is_file()).then_some(jar)
    }

    /// The modules in use, e.g. `"exact,stem,synonym,paraphrase"`.
    pub fn modules(&self) -> String {
        let mut m = vec!["exact", "stem"];
        if self.synonyms.is_some() {
            m.push("synonym");
        }
        if self.paraphrases.is_some() {
            m.push("paraphrase");
        }
        m.join(",")
    }

    /// Entries of the loaded paraphrase table (0 without one).
    pub fn paraphrase_entries(&self) -> usize {
        self.paraphrases.as_ref().map_or(0, Paraphrases::len)
    }

    fn is_function_word(&self, word: &str) -> bool {
        self.function_words.contains(word)
    }

    /// Sufficient statistics of `hyp` against its best reference (highest segment score; the
    /// first on ties), as METEOR's `SCORE` command computes them.
    pub fn stats(&self, hyp: &str, refs: &[impl AsRef<str>]) -> MeteorStats {
        let hyp = self.line(&clean_hypothesis(hyp));
        let refs: Vec<Line> = refs.iter().map(|r| self.line(r.as_ref())).collect();
        self.best(&hyp, refs.iter())
    }

    /// [`Meteor::stats`] of many examples, in parallel; each distinct text is tokenized and
    /// looked up once.
    pub fn stats_many(
        &self,
        hyps: &[impl AsRef<str> + Sync],
        refs: &[Vec<String>],
    ) -> Vec<MeteorStats> {
        let cleaned: Vec<String> = hyps.iter().map(|h| clean_hypothesis(h.as_ref())).collect();
        let mut texts: Vec<&str> = cleaned
            .iter()
            .map(String::as_str)
            .chain(refs.iter().flatten().map(String::as_str))
            .collect();
        texts.sort_unstable();
        texts.dedup();
        let lines: Vec<Line> = texts.par_iter().map(|t| self.line(t)).collect();
        let line = |t: &str| &lines[texts.binary_search(&t).expect("every text was prepared")];
        cleaned
            .par_iter()
            .zip(refs)
            .map(|(h, r)| self.best(line(h), r.iter().map(|r| line(r))))
            .collect()
    }

    fn line(&self, text: &str) -> Line {
        Line::new(self, &normalize::normalize(text.trim()))
    }

    /// The statistics against the best reference (highest score, the first on ties).
    fn best<'a>(&self, hyp: &Line, refs: impl Iterator<Item = &'a Line>) -> MeteorStats {
        let mut best: Option<(f64, MeteorStats)> = None;
        for r in refs {
            let stats = self.segment(hyp, r);
            let score = stats.score();
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, stats));
            }
        }
        best.map(|(_, s)| s).unwrap_or_default()
    }

    fn segment(&self, hyp: &Line, reference: &Line) -> MeteorStats {
        let a = align(self, hyp, reference);
        let mut s = MeteorStats {
            test_length: hyp.len() as f64,
            reference_length: reference.len() as f64,
            test_function_words: a.function1 as f64,
            reference_function_words: a.function2 as f64,
            chunks: a.chunks as f64,
            ..MeteorStats::default()
        };
        for (module, counts) in a.stage.iter().enumerate() {
            s.stage[module] = counts.map(|c| c as f64);
            s.test_word_matches += (counts[0] + counts[2]) as f64;
            s.reference_word_matches += (counts[1] + counts[3]) as f64;
        }
        s
    }
}

/// pycocoevalcap's `_stat` cleans the hypothesis this way before sending it to Java.
fn clean_hypothesis(hyp: &str) -> String {
    hyp.replace("|||", "").replace("  ", " ")
}

/// METEOR's sufficient statistics of one segment, or of a corpus after [`MeteorStats::add`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeteorStats {
    /// Hypothesis words.
    pub test_length: f64,
    /// Reference words.
    pub reference_length: f64,
    /// Function words in the hypothesis.
    pub test_function_words: f64,
    /// Function words in the reference.
    pub reference_function_words: f64,
    /// Per module (exact, stem, synonym, paraphrase): matched words as
    /// `[hyp content, ref content, hyp function, ref function]`.
    pub stage: [[f64; 4]; 4],
    /// Chunks (contiguous matched runs).
    pub chunks: f64,
    /// Matched hypothesis words.
    pub test_word_matches: f64,
    /// Matched reference words.
    pub reference_word_matches: f64,
}

impl MeteorStats {
    fn total_matches(&self, side: usize) -> f64 {
        self.stage.iter().map(|m| m[side] + m[side + 2]).sum()
    }

    /// Whether hypothesis and reference match completely in one chunk.
    fn is_perfect(&self) -> bool {
        self.total_matches(0) == self.test_length
            && self.total_matches(1) == self.reference_length
            && self.chunks == 1.0
    }

    /// The METEOR score of these statistics (`MeteorScorer.computeMetrics`).
    pub fn score(&self) -> f64 {
        let weighted_length =
            |len: f64, function: f64| DELTA * (len - function) + (1.0 - DELTA) * function;
        let test_len = weighted_length(self.test_length, self.test_function_words);
        let ref_len = weighted_length(self.reference_length, self.reference_function_words);
        let weighted = |side: usize| {
            let mut sum = 0.0;
            for (m, w) in self.stage.iter().zip(MODULE_WEIGHTS) {
                sum += m[side] * w * DELTA;
            }
            for (m, w) in self.stage.iter().zip(MODULE_WEIGHTS) {
                sum += m[side + 2] * w * (1.0 - DELTA);
            }
            sum
        };
        let precision = weighted(0) / test_len;
        let recall = weighted(1) / ref_len;
        let f_mean = 1.0 / ((1.0 - ALPHA) / precision + ALPHA / recall);
        let frag = if self.is_perfect() {
            0.0
        } else {
            self.chunks / ((self.test_word_matches + self.reference_word_matches) / 2.0)
        };
        let score = f_mean * (1.0 - GAMMA * frag.powf(BETA));
        if score.is_nan() {
            0.0
        } else {
            score.max(0.0)
        }
    }

    /// Pools another segment's statistics into these (`MeteorStats.addStats`): a perfect
    /// segment's single chunk is not counted.
    pub fn add(&mut self, other: &MeteorStats) {
        self.test_length += other.test_length;
        self.reference_length += other.reference_length;
        self.test_function_words += other.test_function_words;
        self.reference_function_words += other.reference_function_words;
        for (a, b) in self.stage.iter_mut().zip(&other.stage) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        if !other.is_perfect() {
            self.chunks += other.chunks;
        }
        self.test_word_matches += other.test_word_matches;
        self.reference_word_matches += other.reference_word_matches;
    }
}

/// The corpus METEOR: the score of the pooled statistics (pycocoevalcap's `EVAL` line), not the
/// mean of segment scores.
pub fn corpus_meteor(stats: &[MeteorStats]) -> f64 {
    let mut total = MeteorStats::default();
    for s in stats {
        total.add(s);
    }
    total.score()
}

// Module indices are the positions in `MeteorStats::stage`.
const _: () = assert!(EXACT == 0 && STEM == 1 && SYNONYM == 2 && PARAPHRASE == 3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_score_near_one_and_empty_hypothesis_zero() {
        let m = Meteor::exact_stem();
        let s = m.stats("the heart is normal .", &["the heart is normal ."]);
        assert!(s.is_perfect());
        assert!((s.score() - 1.0).abs() < 1e-12, "{}", s.score());
        assert_eq!(m.stats("", &["the lungs are clear ."]).score(), 0.0);
    }

    #[test]
    fn stem_module_matches_inflections() {
        let m = Meteor::exact_stem();
        let s = m.stats("lung opacities", &["lungs opacity"]);
        assert_eq!(s.stage[STEM][0], 2.0);
        assert_eq!(s.stage[EXACT][0], 0.0);
    }

    #[test]
    fn best_reference_is_kept() {
        let m = Meteor::exact_stem();
        let one = m.stats("no effusion .", &["mild cardiomegaly ."]);
        let two = m.stats("no effusion .", &["mild cardiomegaly .", "no effusion ."]);
        assert!(two.score() > one.score());
        assert_eq!(two, m.stats("no effusion .", &["no effusion ."]));
    }
}
