//! The labeler: sentences -> mentions -> labels -> one label per observation per report.

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

use crate::observations::{observation_index, CHEXPERT_OBSERVATIONS, OTHER_FINDINGS, PHRASES};
use crate::rules::{Label, Rules};

/// The name trrg's labeler reports itself by (it is neither CheXpert nor CheXbert).
pub const LABELER_NAME: &str = "CheXpert-style rules (trrg)";

/// One labeled mention, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// Observation name.
    pub observation: String,
    /// The sentence (lower-cased, normalized).
    pub sentence: String,
    /// The matched text.
    pub text: String,
    /// Its label.
    pub label: Label,
}

/// A report's labels over the 14 observations, in [`CHEXPERT_OBSERVATIONS`] order:
/// `Some(1)` positive, `Some(0)` negative, `Some(-1)` uncertain, `None` blank.
pub type ReportLabels = [Option<i8>; 14];

struct Observation {
    name: &'static str,
    /// All mention patterns at once: one scan tells whether any pattern matches a sentence.
    any_mention: RegexSet,
    mentions: Vec<Regex>,
    unmentions: Vec<Regex>,
}

/// The CheXpert-style rule labeler. Build once (it compiles its patterns), label many reports.
pub struct Labeler {
    observations: Vec<Observation>,
    other: Vec<Regex>,
    rules: Rules,
    sentence_end: Regex,
}

impl Default for Labeler {
    fn default() -> Self {
        Self::new()
    }
}

impl Labeler {
    /// Compiles the phrase lists and rules.
    pub fn new() -> Self {
        let compile = |list: &[&str]| {
            list.iter()
                .map(|p| Regex::new(p).expect("the labeler's built-in patterns are valid"))
                .collect::<Vec<_>>()
        };
        Self {
            observations: PHRASES
                .iter()
                .map(|(name, m, u)| Observation {
                    name,
                    any_mention: RegexSet::new(*m)
                        .expect("the labeler's built-in patterns are valid"),
                    mentions: compile(m),
                    unmentions: compile(u),
                })
                .collect(),
            other: compile(OTHER_FINDINGS),
            rules: Rules::new(),
            sentence_end: Regex::new(r"[.!?](\s|$)|\n").expect("valid pattern"),
        }
    }

    /// Lower-cases and normalizes a report as the CheXpert loader does (`and/or` -> `or`,
    /// `x/y` -> `x or y`, common abbreviations spelled out) and splits it into sentences.
    pub fn sentences(&self, report: &str) -> Vec<String> {
        let mut text = report
            .to_lowercase()
            .replace("and/or", "or")
            .replace("w/o", "without ")
            .replace("r/o", "rule out")
            .replace("s/p", "status post");
        text = text.replace('/', " or ");
        let mut sentences = Vec::new();
        let mut last = 0;
        for m in self.sentence_end.find_iter(&text) {
            // Keep a question mark with its sentence: it signals uncertainty.
            let end = if m.as_str().starts_with('?') {
                m.start() + 1
            } else {
                m.start()
            };
            sentences.push(text[last..end].to_string());
            last = m.end();
        }
        sentences.push(text[last..].to_string());
        sentences
            .into_iter()
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Every mention in a report with its label.
    pub fn mentions(&self, report: &str) -> Vec<Mention> {
        self.mentions_in(&self.sentences(report))
    }

    fn mentions_in(&self, sentences: &[String]) -> Vec<Mention> {
        let mut out = Vec::new();
        for sentence in sentences {
            for obs in &self.observations {
                if !obs.any_mention.is_match(sentence) {
                    continue;
                }
                let blocked: Vec<(usize, usize)> = obs
                    .unmentions
                    .iter()
                    .flat_map(|u| u.find_iter(sentence).map(|m| (m.start(), m.end())))
                    .collect();
                let mut spans: Vec<(usize, usize)> = obs
                    .mentions
                    .iter()
                    .flat_map(|m| m.find_iter(sentence).map(|m| (m.start(), m.end())))
                    .filter(|&(s, e)| !blocked.iter().any(|&(bs, be)| s < be && bs < e))
                    .collect();
                spans.sort_unstable();
                // Overlapping matches of one observation are one mention.
                let mut merged: Vec<(usize, usize)> = Vec::new();
                for (s, e) in spans {
                    match merged.last_mut() {
                        Some(last) if s < last.1 => last.1 = last.1.max(e),
                        _ => merged.push((s, e)),
                    }
                }
                for (s, e) in merged {
                    out.push(Mention {
                        observation: obs.name.to_string(),
                        text: sentence[s..e].to_string(),
                        label: self.rules.classify(sentence, s, e, obs.name),
                        sentence: sentence.clone(),
                    });
                }
            }
        }
        out
    }

    /// Labels one report with CheXpert's aggregation: positive beats uncertain beats negative;
    /// unmentioned observations are blank; a positive or uncertain mention of heart failure adds
    /// an uncertain Cardiomegaly; No Finding is 1 when no observation other than Support Devices,
    /// and no other abnormality (emphysema, granuloma, scoliosis, ...), is positive or uncertain,
    /// and blank otherwise.
    ///
    /// ```
    /// use trrg_labeler::{Labeler, observation_index};
    /// let labels = Labeler::new().label("Mild cardiomegaly. No pleural effusion or pneumothorax.");
    /// assert_eq!(labels[observation_index("Cardiomegaly").unwrap()], Some(1));
    /// assert_eq!(labels[observation_index("Pleural Effusion").unwrap()], Some(0));
    /// assert_eq!(labels[observation_index("Edema").unwrap()], None);
    /// ```
    pub fn label(&self, report: &str) -> ReportLabels {
        let mut labels: [Option<Label>; 14] = [None; 14];
        let mut merge = |index: usize, label: Label| {
            let slot = &mut labels[index];
            if slot.is_none_or(|current| label.priority() > current.priority()) {
                *slot = Some(label);
            }
        };
        // Split once: the mentions and the No Finding check read the same sentences.
        let sentences = self.sentences(report);
        let mentions = self.mentions_in(&sentences);
        let cardiomegaly = observation_index("Cardiomegaly").expect("known observation");
        for m in &mentions {
            let index = observation_index(&m.observation).expect("phrase lists use known names");
            merge(index, m.label);
            if m.label != Label::Negative && (m.text.contains("heart failure") || m.text == "chf") {
                merge(cardiomegaly, Label::Uncertain);
            }
        }
        let support = observation_index("Support Devices").expect("known observation");
        let abnormal = labels
            .iter()
            .enumerate()
            .any(|(i, l)| i != support && matches!(l, Some(Label::Positive | Label::Uncertain)));
        let other = !abnormal && self.other_abnormality(&sentences);
        let no_finding = observation_index("No Finding").expect("known observation");
        labels[no_finding] = (!abnormal && !other).then_some(Label::Positive);
        labels.map(|l| l.map(Label::code))
    }

    /// Whether a report has a positive or uncertain mention of an abnormality without a column.
    fn other_abnormality(&self, sentences: &[String]) -> bool {
        sentences.iter().any(|sentence| {
            self.other.iter().any(|pattern| {
                pattern.find_iter(sentence).any(|m| {
                    self.rules.classify(sentence, m.start(), m.end(), "other") != Label::Negative
                })
            })
        })
    }

    /// The observation names, in label order.
    pub fn observations(&self) -> &'static [&'static str; 14] {
        &CHEXPERT_OBSERVATIONS
    }
}
