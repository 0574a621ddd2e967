//! The data of a run: splits, vocabulary, labels, batching order and stage-1 sentence sets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::Dataset;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use trrg_clue::DiseaseSet;
use trrg_data::{
    split_sentences, Annotation, LabelRow, LabelTable, ReportDataset, ReportDatasetConfig,
    ReportTokenizer, Split, StudyItem, WordVocab, CHEXPERT_OBSERVATIONS,
};
use trrg_labeler::Labeler;

use trrg_run::RunTokenizers;

use crate::{Error, TrainConfig};

/// Where the labels of a dataset come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSource {
    /// `labels.json` in the data directory (the synthetic dataset's ground truth).
    File,
    /// trrg's rule labeler run on the reference reports.
    Labeler,
}

/// Loaded splits of one dataset.
pub struct RunData {
    /// The data directory.
    pub dir: PathBuf,
    /// Whether `synthetic.json` marks the directory as trrg-synth output.
    pub synthetic: bool,
    /// The manifest's report source when the reports are real and only the images synthetic
    /// (a **semi-synthetic** set, `trrg_synth::write_paired_dataset`).
    pub real_reports: Option<String>,
    /// Report tokenizer: the word vocabulary of the `tiny` and `micro` presets (R2Gen word
    /// level, built on the training split), or the LLM's own for `base`.
    pub reports: Arc<dyn ReportTokenizer>,
    /// Sentence tokenizer of the text encoder: the same word vocabulary, or the text encoder's
    /// own `tokenizer.json` for `base`.
    pub sentences: Arc<dyn ReportTokenizer>,
    /// The word vocabulary, when the run has one (saved as `vocab.json`).
    pub words: Option<WordVocab>,
    /// Training split.
    pub train: ReportDataset,
    /// Validation split.
    pub val: ReportDataset,
    /// Test split.
    pub test: ReportDataset,
    /// Where the labels came from.
    pub label_source: LabelSource,
    /// Labels of every study (ground truth for synthetic data).
    pub labels: LabelTable,
}

impl RunData {
    /// Loads `dir` (R2Gen layout: `annotation.json` + `images/`); `vocab` reuses a saved
    /// vocabulary (on resume) instead of building one (word-level presets only).
    pub fn load(dir: &Path, config: &TrainConfig, vocab: Option<WordVocab>) -> crate::Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Io {
                action: "cannot open data directory",
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            });
        }
        let annotation = Annotation::from_path(dir.join("annotation.json"))?;
        let images = dir.join("images");
        let kind = config.dataset;
        let cleaner = kind.default_cleaner();
        // Each split is read and cleaned once (it logs its skipped studies once), then used for
        // the vocabulary, the labeler and the dataset.
        let [train_set, val_set, test_set] = Split::ALL.map(|split| {
            annotation.studies(
                split,
                kind,
                cleaner,
                &images,
                trrg_data::EmptyReportPolicy::Skip,
            )
        });
        let sets = [train_set?, val_set?, test_set?];
        let RunTokenizers {
            reports,
            sentences,
            words,
        } = RunTokenizers::for_config(config, || match vocab {
            Some(v) => Ok(v),
            None => Ok(WordVocab::build(
                sets[0].studies.iter().map(|s| s.report.as_str()),
                config.vocab_threshold.unwrap_or(kind.default_threshold()),
            )),
        })?;
        let labels_path = dir.join("labels.json");
        let (labels, label_source) = if labels_path.is_file() {
            (
                LabelTable::from_path(&labels_path, &CHEXPERT_OBSERVATIONS)?,
                LabelSource::File,
            )
        } else {
            let labeler = Labeler::new();
            let mut rows = HashMap::new();
            for study in sets.iter().flat_map(|set| &set.studies) {
                rows.insert(study.id.clone(), labeler.label(&study.report).to_vec());
            }
            (
                LabelTable::from_rows(&CHEXPERT_OBSERVATIONS, rows, dir.join("annotation.json")),
                LabelSource::Labeler,
            )
        };
        let ds_config = ReportDatasetConfig {
            kind,
            cleaner: None,
            max_seq_length: config.max_seq_length,
            empty_reports: trrg_data::EmptyReportPolicy::Skip,
            seed: config.seed,
        };
        let [train, val, test] =
            sets.map(|set| ReportDataset::from_studies(set, &*reports, Some(&labels), &ds_config));
        let (train, val, test) = (train?, val?, test?);
        if train.len() == 0 {
            return Err(Error::InvalidConfig {
                field: "data_dir".into(),
                reason: format!("{} has no training studies", dir.display()),
            });
        }
        // Decode every image once now, so a corrupt file stops the run before it starts.
        [&train, &val, &test]
            .par_iter()
            .flat_map(|d| d.items().par_iter())
            .try_for_each(|item| {
                item.image_paths
                    .iter()
                    .try_for_each(|p| trrg_data::load_gray(p, &item.id).map(drop))
            })?;
        let manifest = std::fs::read_to_string(dir.join("synthetic.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<trrg_synth::SynthManifest>(&t).ok());
        Ok(Self {
            synthetic: dir.join("synthetic.json").is_file(),
            real_reports: manifest.and_then(|m| m.reports),
            dir: dir.to_path_buf(),
            reports,
            sentences,
            words,
            train,
            val,
            test,
            label_source,
            labels,
        })
    }
}

impl RunData {
    /// One line: the directory, whether it is synthetic, the split sizes and the vocabulary.
    pub fn summary(&self) -> String {
        let kind = if self.synthetic { "SYNTHETIC" } else { "real" };
        format!(
            "{} ({kind}): {} train / {} val / {} test studies, vocabulary {}",
            self.dir.display(),
            self.train.len(),
            self.val.len(),
            self.test.len(),
            self.reports.vocab_size()
        )
    }
}

/// Batches of indices for one epoch: shuffled by `(seed, epoch)` when `shuffle`.
pub fn epoch_batches(
    len: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    shuffle: bool,
) -> Vec<Vec<usize>> {
    rows_in_batches((0..len).collect(), batch_size, seed, epoch, shuffle)
}

/// Batches of the row indices `order` (an index may appear more than once; see
/// [`rare_positive_rows`]), shuffled by `(seed, epoch)` when `shuffle`.
pub fn rows_in_batches(
    mut order: Vec<usize>,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    shuffle: bool,
) -> Vec<Vec<usize>> {
    if shuffle {
        order.shuffle(&mut StdRng::seed_from_u64(
            seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
    }
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

/// The share of training studies under which an observation counts as rare for
/// [`rare_positive_rows`]: 5 %.
pub const RARE_SHARE: f64 = 0.05;

/// One epoch's rows: every index of `dataset` once, and `repeats` more times each study with
/// a positive label of an observation that fewer than [`RARE_SHARE`] of the labelled studies
/// have (in the default synthetic set: Enlarged Cardiomediastinum, Lung Lesion, Pneumothorax,
/// Pleural Other and Fracture).
pub fn rare_positive_rows(dataset: &ReportDataset, repeats: usize) -> Vec<usize> {
    let labels: Vec<Option<&LabelRow>> =
        dataset.items().iter().map(|i| i.labels.as_ref()).collect();
    rows_with_repeats(&labels, repeats)
}

/// [`rare_positive_rows`] of the studies' label rows (None: unlabelled).
fn rows_with_repeats(labels: &[Option<&LabelRow>], repeats: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..labels.len()).collect();
    if repeats == 0 {
        return rows;
    }
    let labelled: Vec<&LabelRow> = labels.iter().flatten().copied().collect();
    let n_columns = labelled.first().map_or(0, |l| l.len());
    let rare: Vec<usize> = (0..n_columns)
        .filter(|&c| {
            let positives = labelled.iter().filter(|l| l[c] == Some(1)).count();
            (positives as f64) < RARE_SHARE * labelled.len() as f64
        })
        .collect();
    for (i, l) in labels.iter().enumerate() {
        if l.is_some_and(|l| rare.iter().any(|&c| l[c] == Some(1))) {
            rows.extend(std::iter::repeat_n(i, repeats));
        }
    }
    rows
}

/// The studies of a batch of indices.
pub fn items(dataset: &ReportDataset, indices: &[usize]) -> Vec<StudyItem> {
    indices.iter().filter_map(|&i| dataset.get(i)).collect()
}

/// A study's label in CheXpert `column` (None: no column, no labels, or blank).
pub(crate) fn study_label(item: &StudyItem, column: Option<usize>) -> Option<i8> {
    item.labels.as_ref()?.get(column?).copied().flatten()
}

/// Each CheXpert column's log-odds of a positive label among `dataset`'s labelled studies,
/// blanks and uncertain labels counted as not positive, with half a study of each kind added
/// so that no column is infinite (all zeros without labels).
pub(crate) fn positive_log_odds(dataset: &ReportDataset, n_columns: usize) -> Vec<f32> {
    let (mut positive, mut total) = (vec![0.0f64; n_columns], 0.0f64);
    for item in (0..dataset.len()).filter_map(|i| dataset.get(i)) {
        if item.labels.is_none() {
            continue;
        }
        total += 1.0;
        for (column, count) in positive.iter_mut().enumerate() {
            if study_label(&item, Some(column)) == Some(1) {
                *count += 1.0;
            }
        }
    }
    if total == 0.0 {
        return vec![0.0; n_columns];
    }
    positive
        .iter()
        .map(|&p| ((p + 0.5) / (total - p + 0.5)).ln() as f32)
        .collect()
}

/// Deduplicated report sentences of a batch and which study each belongs to
/// (`positive[b * n + j]`).
pub fn sentence_set(items: &[StudyItem]) -> (Vec<String>, Vec<bool>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sentences: Vec<String> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    for (b, item) in items.iter().enumerate() {
        for s in split_sentences(&item.report) {
            let j = *index.entry(s).or_insert_with(|| {
                sentences.push(s.to_string());
                owners.push(Vec::new());
                sentences.len() - 1
            });
            if owners[j].last() != Some(&b) {
                owners[j].push(b);
            }
        }
    }
    let n = sentences.len();
    let mut positive = vec![false; items.len() * n];
    for (j, owner) in owners.iter().enumerate() {
        for &b in owner {
            positive[b * n + j] = true;
        }
    }
    (sentences, positive)
}

/// `set` with each CheXpert disease's prompts led by the training corpus's own phrasing: the
/// most frequent report sentence that states the disease present (for the positive prompts)
/// or absent (for the negative ones) and no other observation, by trrg's labeler on the
/// sentence alone (ties: the alphabetically first). A disease's first positive prompt is its
/// clue words, so the LLM reads the words the reports use, and the prompt embeddings average
/// over sentences that occur. A disease without such a sentence keeps its prompts, and so does
/// No Finding (a sentence alone never states it).
pub fn corpus_prompts<'a>(
    reports: impl IntoIterator<Item = &'a str>,
    set: &DiseaseSet,
) -> DiseaseSet {
    let mut labels = SentenceLabels::default();
    // (observation, label) -> sentence -> count
    let mut counts: HashMap<(usize, i8), HashMap<String, usize>> = HashMap::new();
    for report in reports {
        for sentence in split_sentences(report) {
            let stated: Vec<(usize, i8)> = labels
                .of(sentence)
                .iter()
                .enumerate()
                .filter_map(|(o, v)| v.map(|v| (o, v)))
                .collect();
            if let [(o, v @ (0 | 1))] = stated[..] {
                *counts
                    .entry((o, v))
                    .or_default()
                    .entry(sentence.to_string())
                    .or_default() += 1;
            }
        }
    }
    let most_frequent = |key: (usize, i8)| -> Option<String> {
        counts
            .get(&key)?
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(s, _)| s.clone())
    };
    let lead = |prompts: &mut Vec<String>, sentence: Option<String>| {
        if let Some(sentence) = sentence {
            prompts.retain(|p| *p != sentence);
            prompts.insert(0, sentence);
        }
    };
    let mut out = set.clone();
    out.name = format!("{} (led by the training corpus's phrasing)", set.name);
    for disease in &mut out.diseases {
        let Some(o) = trrg_labeler::observation_index(&disease.name) else {
            continue;
        };
        lead(&mut disease.positive, most_frequent((o, 1)));
        lead(&mut disease.negative, most_frequent((o, 0)));
    }
    out
}

/// The CheXpert labels each sentence states by itself (trrg's labeler on the sentence alone),
/// for stage 1's label-aware positives. No Finding is left out: a single sentence without a
/// positive finding ("the heart is normal in size") says nothing about the rest of the study.
pub struct SentenceLabels {
    labeler: Labeler,
    no_finding: usize,
    cache: HashMap<String, [Option<i8>; 14]>,
}

impl Default for SentenceLabels {
    fn default() -> Self {
        Self {
            labeler: Labeler::new(),
            no_finding: trrg_labeler::observation_index("No Finding")
                .expect("a CheXpert observation"),
            cache: HashMap::new(),
        }
    }
}

impl SentenceLabels {
    /// The labels `sentence` states (blank where it says nothing).
    pub fn of(&mut self, sentence: &str) -> [Option<i8>; 14] {
        if let Some(l) = self.cache.get(sentence) {
            return *l;
        }
        let mut labels = self.labeler.label(sentence);
        labels[self.no_finding] = None;
        self.cache.insert(sentence.to_string(), labels);
        labels
    }

    /// What `sentence` states, if [`SentenceLabels::of`] has read it.
    pub fn read(&self, sentence: &str) -> Option<&[Option<i8>; 14]> {
        self.cache.get(sentence)
    }

    /// Marks as positive, besides each study's own sentences, every sentence of the batch that
    /// is true of the study by its labels: it states at least one label, and each label it
    /// states equals the study's (a blank study label counts as absent, as in the consistency
    /// loss). Studies without labels keep their own sentences only. `positive` is
    /// [`sentence_set`]'s, `[study * n + sentence]`.
    pub fn add_positives(
        &mut self,
        items: &[StudyItem],
        sentences: &[String],
        positive: &mut [bool],
    ) {
        let n = sentences.len();
        let stated: Vec<[Option<i8>; 14]> = sentences.iter().map(|s| self.of(s)).collect();
        for (b, item) in items.iter().enumerate() {
            let Some(study) = &item.labels else { continue };
            for (j, says) in stated.iter().enumerate() {
                let states_any = says.iter().any(Option::is_some);
                let agrees = says.iter().enumerate().all(|(o, said)| {
                    said.is_none_or(|v| study.get(o).copied().flatten().unwrap_or(0) == v)
                });
                if states_any && agrees {
                    positive[b * n + j] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_sentences_are_one_column_positive_for_each_owner() {
        let item = |id: &str, report: &str| StudyItem {
            id: id.into(),
            report: report.into(),
            token_ids: vec![],
            image_paths: vec![],
            labels: None,
            report_labels: None,
            augment_seed: 0,
        };
        let (s, p) = sentence_set(&[
            item("a", "no effusion . heart normal ."),
            item("b", "heart normal . big heart ."),
        ]);
        assert_eq!(s, ["no effusion", "heart normal", "big heart"]);
        assert_eq!(p, [true, true, false, false, true, true]);
    }

    #[test]
    fn a_sentence_true_of_a_study_by_its_labels_is_positive_for_it() {
        let effusion = trrg_labeler::observation_index("Pleural Effusion").unwrap();
        let cardiomegaly = trrg_labeler::observation_index("Cardiomegaly").unwrap();
        let item = |id: &str, report: &str, labels: &[(usize, i8)]| {
            let mut row = vec![None; 14];
            for &(o, v) in labels {
                row[o] = Some(v);
            }
            StudyItem {
                id: id.into(),
                report: report.into(),
                token_ids: vec![],
                image_paths: vec![],
                labels: Some(row),
                report_labels: None,
                augment_seed: 0,
            }
        };
        let items = [
            item(
                "a",
                "there is a small left pleural effusion .",
                &[(effusion, 1)],
            ),
            item(
                "b",
                "no pleural effusion . the heart is enlarged .",
                &[(effusion, 0), (cardiomegaly, 1)],
            ),
            // Effusion blank: "no pleural effusion" is true of it (blank counts as absent).
            item("c", "the lungs are clear .", &[]),
        ];
        let (sentences, mut positive) = sentence_set(&items);
        assert_eq!(
            sentences,
            [
                "there is a small left pleural effusion",
                "no pleural effusion",
                "the heart is enlarged",
                "the lungs are clear"
            ]
        );
        let mut labels = SentenceLabels::default();
        labels.add_positives(&items, &sentences, &mut positive);
        let n = sentences.len();
        let row = |b: usize| positive[b * n..(b + 1) * n].to_vec();
        assert_eq!(row(0), [true, false, false, false]);
        assert_eq!(row(1), [false, true, true, false]);
        // "the lungs are clear" states no CheXpert label here: positive for its owner only.
        assert_eq!(row(2), [false, true, false, true]);
    }

    #[test]
    fn corpus_prompts_lead_with_the_most_frequent_sentence_stating_the_disease_alone() {
        let reports = [
            "the heart is mildly enlarged . no pleural effusion .",
            "the heart is mildly enlarged . no pleural effusion or pneumothorax .",
            "the cardiac silhouette is enlarged . no pleural effusion .",
            "there is a small right pleural effusion . the lungs are clear .",
        ];
        let set = DiseaseSet::chexpert();
        let led = corpus_prompts(reports, &set);
        let find = |s: &DiseaseSet, name: &str| {
            s.diseases.iter().find(|d| d.name == name).unwrap().clone()
        };
        let cardio = find(&led, "Cardiomegaly");
        assert_eq!(cardio.positive[0], "the heart is mildly enlarged");
        // The JSON prompts follow, none twice.
        assert_eq!(
            cardio.positive.len(),
            find(&set, "Cardiomegaly").positive.len() + 1
        );
        let effusion = find(&led, "Pleural Effusion");
        assert_eq!(
            effusion.positive[0],
            "there is a small right pleural effusion"
        );
        // "no pleural effusion or pneumothorax" states two observations: not a candidate.
        assert_eq!(effusion.negative[0], "no pleural effusion");
        // Nothing in the corpus about these: their prompts as they were.
        for name in ["Fracture", "No Finding"] {
            assert_eq!(find(&led, name), find(&set, name), "{name}");
        }
        assert_eq!(led.diseases.len(), set.diseases.len());
    }

    #[test]
    fn batches_cover_every_index_once_and_depend_on_the_epoch() {
        let a = epoch_batches(10, 3, 1, 0, true);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(a, epoch_batches(10, 3, 1, 1, true));
        assert_eq!(a, epoch_batches(10, 3, 1, 0, true));
    }

    #[test]
    fn rare_positive_studies_are_repeated_and_common_or_unlabelled_ones_are_not() {
        // 40 labelled studies and one unlabelled. Column 0: 20 positives (common); column 1:
        // one positive, study 3 (2.5 %, rare); column 2: one uncertain label only (no
        // positive, so no study is repeated for it).
        let rows: Vec<LabelRow> = (0..40)
            .map(|i| {
                vec![
                    Some((i % 2 == 0) as i8),
                    Some((i == 3) as i8),
                    (i == 5).then_some(-1),
                ]
            })
            .collect();
        let mut labels: Vec<Option<&LabelRow>> = rows.iter().map(Some).collect();
        labels.push(None);
        assert_eq!(rows_with_repeats(&labels, 0), (0..41).collect::<Vec<_>>());
        let repeated = rows_with_repeats(&labels, 2);
        assert_eq!(&repeated[..41], &(0..41).collect::<Vec<_>>()[..]);
        assert_eq!(&repeated[41..], &[3, 3]);
        // Each row of an epoch's batches, repeats included, appears as often as in `rows`.
        let mut batched = rows_in_batches(repeated.clone(), 4, 7, 1, true).concat();
        batched.sort();
        let mut want = repeated;
        want.sort();
        assert_eq!(batched, want);
    }
}
