//! Stage-2 report edits (`stage2_report_edits`): a training study's report and clues changed
//! by one finding, while its image stays, so that the only evidence for that finding's
//! sentence is its clue.
//!
//! In the unedited data the clues always agree with the image, so the reader can write every
//! finding from the visual tokens and ignore the clues (`trrg obey`). An edit flips one
//! finding: absent becomes present (the report's sentences that mention the finding are
//! replaced by a training sentence stating it alone) or present becomes absent (its sentences
//! are replaced by one stating it absent, where the corpus has one). The sentences come from
//! the training corpus and are read with trrg's labeler, so the same edit works on real
//! reports (`--reports iu`), not only on trrg-synth's. No Finding follows the label rule.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use trrg_data::{split_sentences, LabelRow, ReportTokenizer, StudyItem};

use crate::data::SentenceLabels;

/// What a sentence states, in CheXpert order (No Finding left blank).
type Stated = [Option<i8>; 14];

/// Salt of the edits' random stream, so it differs from the image augmentation's.
const EDIT_SALT: u64 = 0x5EED_0ED1_7000_0001;

/// Edits training studies' reports and clue labels ([module docs](self)).
pub struct ReportEditor {
    rate: f64,
    /// What each training sentence states.
    stated: SentenceLabels,
    /// Per (CheXpert column, value 0 or 1): the training sentences that state that value and
    /// nothing else, one entry per occurrence (the corpus's frequent phrasings are drawn more
    /// often).
    pool: HashMap<(usize, i8), Vec<String>>,
    tokenizer: Arc<dyn ReportTokenizer>,
    max_len: usize,
    no_finding: usize,
    support_devices: usize,
}

/// One planned edit of a study.
struct Plan {
    /// The CheXpert column flipped.
    column: usize,
    /// Its new value (1: now present, 0: now absent).
    value: i8,
    /// The labels the edited report states.
    labels: LabelRow,
    /// Indices of the report's sentences to drop (those that mention the finding).
    drop: Vec<usize>,
}

impl ReportEditor {
    /// An editor that edits a study with probability `rate` per epoch, drawing sentences from
    /// the (cleaned) training `reports` and encoding edited reports with `tokenizer` to
    /// `max_len` ids.
    pub fn new<'a>(
        reports: impl IntoIterator<Item = &'a str>,
        rate: f64,
        tokenizer: Arc<dyn ReportTokenizer>,
        max_len: usize,
    ) -> Self {
        let mut stated = SentenceLabels::default();
        let mut pool: HashMap<(usize, i8), Vec<String>> = HashMap::new();
        for report in reports {
            for sentence in split_sentences(report) {
                let says = stated.of(sentence);
                let mut mentioned = (0..says.len()).filter_map(|c| Some((c, says[c]?)));
                if let (Some((c, v @ (0 | 1))), None) = (mentioned.next(), mentioned.next()) {
                    pool.entry((c, v)).or_default().push(sentence.to_string());
                }
            }
        }
        let column = |name| trrg_labeler::observation_index(name).expect("a CheXpert observation");
        Self {
            rate,
            stated,
            pool,
            tokenizer,
            max_len,
            no_finding: column("No Finding"),
            support_devices: column("Support Devices"),
        }
    }

    /// One line for the log: the share, and per finding the number of corpus sentences that
    /// state it present and absent alone (a finding with none present is never written in).
    pub fn summary(&self) -> String {
        let counts: Vec<String> = trrg_labeler::CHEXPERT_OBSERVATIONS
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != self.no_finding)
            .map(|(c, name)| {
                let n = |v| self.pool.get(&(c, v)).map_or(0, Vec::len);
                format!("{name} {}/{}", n(1), n(0))
            })
            .collect();
        format!(
            "stage 2 report edits: {:.0} % of the training studies per epoch; training sentences \
             stating a finding alone, present/absent: {}",
            self.rate * 100.0,
            counts.join(", ")
        )
    }

    /// `item` edited with probability `rate` (drawn from its augmentation seed, so an epoch's
    /// edits repeat exactly), or unchanged: without labels, when the draw says no, or when no
    /// finding of it can be flipped cleanly. An edited item's `report_labels` hold what its
    /// new report states; its `labels` (what the image shows) stay.
    pub fn edit(&self, mut item: StudyItem) -> trrg_data::Result<StudyItem> {
        let Some(labels) = &item.labels else {
            return Ok(item);
        };
        let mut rng = StdRng::seed_from_u64(item.augment_seed ^ EDIT_SALT);
        if !rng.random_bool(self.rate) {
            return Ok(item);
        }
        let sentences = split_sentences(&item.report);
        let Some(stated) = sentences
            .iter()
            .map(|s| self.stated.read(s))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(item);
        };
        // The label rows are in CheXpert order, as the sentences' labels.
        let columns = labels.len().min(trrg_labeler::CHEXPERT_OBSERVATIONS.len());
        let plans: Vec<(Plan, &[String])> = (0..columns)
            .filter_map(|c| self.plan(c, labels, &stated))
            .filter_map(|plan| {
                let insert = self
                    .pool
                    .get(&(plan.column, plan.value))
                    .map_or(&[][..], Vec::as_slice);
                // A finding is written out without a sentence where the corpus never states
                // it absent (Support Devices), never written in without one.
                (!insert.is_empty() || plan.value == 0).then_some((plan, insert))
            })
            .collect();
        let Some((plan, insert)) = plans.choose(&mut rng) else {
            return Ok(item);
        };
        let mut kept: Vec<&str> = sentences
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.drop.contains(i))
            .map(|(_, s)| *s)
            .collect();
        if let Some(sentence) = insert.choose(&mut rng) {
            // Where the finding was mentioned, else anywhere.
            let at = match plan.drop.first() {
                Some(&first) => first,
                None => rng.random_range(0..=kept.len()),
            };
            kept.insert(at, sentence.as_str());
        }
        item.report = join_sentences(&kept);
        item.token_ids = self.tokenizer.encode_report(&item.report, self.max_len)?;
        item.report_labels = Some(plan.labels.clone());
        Ok(item)
    }

    /// The edit that flips `column` of a study with `labels` whose sentences state `stated`,
    /// or `None`: No Finding (it follows the others), an uncertain label, or a sentence
    /// mentioning the finding that also states another finding present or uncertain (dropping
    /// it would drop that finding too).
    fn plan(&self, column: usize, labels: &LabelRow, stated: &[&Stated]) -> Option<Plan> {
        let current = *labels.get(column)?;
        if column == self.no_finding || current == Some(-1) {
            return None;
        }
        let value = if current == Some(1) { 0 } else { 1 };
        let drop: Vec<usize> = (0..stated.len())
            .filter(|&i| stated[i][column].is_some())
            .collect();
        let clean = drop.iter().all(|&i| {
            (0..stated[i].len()).all(|c| c == column || !matches!(stated[i][c], Some(1 | -1)))
        });
        if !clean || (value == 0 && drop.is_empty()) {
            return None;
        }
        let mut edited = labels.clone();
        edited[column] = Some(value);
        let abnormal = |row: &LabelRow| {
            (0..row.len()).any(|c| {
                c != self.no_finding && c != self.support_devices && matches!(row[c], Some(1 | -1))
            })
        };
        if abnormal(&edited) {
            edited[self.no_finding] = None;
        } else if abnormal(labels) {
            edited[self.no_finding] = Some(1);
        }
        Some(Plan {
            column,
            value,
            labels: edited,
            drop,
        })
    }
}

/// Sentences in the cleaned reports' form, `"a b . c d ."` ([`split_sentences`]'s inverse).
fn join_sentences(sentences: &[&str]) -> String {
    sentences
        .iter()
        .map(|s| format!("{s} ."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use trrg_data::WordVocab;
    use trrg_labeler::{observation_index, Labeler};

    const CORPUS: [&str; 5] = [
        "the heart is normal in size . no pleural effusion or pneumothorax . the lungs are clear .",
        "moderate cardiomegaly . small right pleural effusion . the lungs are clear .",
        "there is a small left pneumothorax . no pleural effusion . heart size is normal .",
        "median sternotomy wires are present . heart size is normal . the lungs are clear .",
        "mild cardiomegaly with small left pleural effusion . no pneumothorax .",
    ];

    fn editor(rate: f64) -> ReportEditor {
        let vocab = WordVocab::build(CORPUS, 1);
        ReportEditor::new(CORPUS, rate, Arc::new(vocab), 60)
    }

    fn column(name: &str) -> usize {
        observation_index(name).unwrap()
    }

    /// A training item of `report` whose labels are the labeler's.
    fn item(report: &str, seed: u64) -> StudyItem {
        StudyItem {
            id: format!("s{seed}"),
            report: report.into(),
            token_ids: vec![],
            image_paths: vec![],
            labels: Some(Labeler::new().label(report).to_vec()),
            report_labels: None,
            augment_seed: seed,
        }
    }

    fn positives(labels: &[Option<i8>]) -> Vec<usize> {
        (0..labels.len())
            .filter(|&c| c != column("No Finding") && labels[c] == Some(1))
            .collect()
    }

    #[test]
    fn cleaned_reports_are_rejoined_as_they_were() {
        for report in CORPUS {
            assert_eq!(join_sentences(&split_sentences(report)), report);
        }
    }

    /// Each edit flips exactly one finding; the edited report states what its labels say (by
    /// trrg's labeler on the whole report), keeps the other findings, and No Finding follows
    /// the rule; the item's own labels, what the image shows, stay.
    #[test]
    fn an_edit_flips_one_finding_in_the_report_and_its_labels() {
        let editor = editor(1.0);
        let labeler = Labeler::new();
        let (mut added, mut removed) = (0, 0);
        for seed in 0..200 {
            let original = item(CORPUS[seed as usize % CORPUS.len()], seed);
            let edited = editor.edit(original.clone()).unwrap();
            assert_eq!(edited.labels, original.labels);
            let old = original.labels.clone().unwrap();
            let new = edited
                .report_labels
                .clone()
                .expect("a corpus report has a flippable finding");
            let flipped: Vec<usize> = (0..14)
                .filter(|&c| c != column("No Finding") && new[c] != old[c])
                .collect();
            let [d] = flipped[..] else {
                panic!("seed {seed}: {flipped:?} flipped in {}", edited.report)
            };
            let stated = labeler.label(&edited.report);
            let mut expected = positives(&old);
            if new[d] == Some(1) {
                added += 1;
                expected.push(d);
                expected.sort_unstable();
            } else {
                removed += 1;
                expected.retain(|&c| c != d);
                assert_ne!(stated[d], Some(1), "{}", edited.report);
            }
            assert_eq!(positives(&stated), expected, "{}", edited.report);
            assert_eq!(positives(&new), expected);
            let normal = expected.iter().all(|&c| c == column("Support Devices"));
            assert_eq!(new[column("No Finding")] == Some(1), normal, "{new:?}");
            assert_eq!(
                edited.token_ids,
                editor.tokenizer.encode_report(&edited.report, 60).unwrap()
            );
            assert_eq!(
                editor.edit(original).unwrap(),
                edited,
                "seed {seed} repeats"
            );
        }
        assert!(
            added > 20 && removed > 20,
            "{added} added, {removed} removed"
        );
    }

    #[test]
    fn items_are_left_alone_without_labels_or_at_rate_zero() {
        let labeled = item(CORPUS[0], 3);
        assert_eq!(editor(0.0).edit(labeled.clone()).unwrap(), labeled);
        let unlabeled = StudyItem {
            labels: None,
            ..labeled
        };
        assert_eq!(editor(1.0).edit(unlabeled.clone()).unwrap(), unlabeled);
    }
}
