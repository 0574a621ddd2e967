//! R2Gen's `annotation.json`: `{"train"|"val"|"test": [{id, report, image_path: [..], split}]}`.
//!
//! IU-Xray entries have two image paths (`CXR…/0.png`, `CXR…/1.png`) and R2Gen reads both;
//! MIMIC-CXR entries have one or more and R2Gen reads `image_path[0]` only. Unknown fields (MIMIC's
//! `study_id`, `subject_id`) are accepted and ignored.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{parse_json, resolve_under, Cleaner, Error, Result};

/// One entry of `annotation.json`, as written there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotationEntry {
    /// Study id, e.g. `CXR2384_IM-0942`.
    pub id: String,
    /// Raw findings text.
    pub report: String,
    /// Image paths relative to the images root.
    pub image_path: Vec<String>,
    /// Split name as written in the entry (informational; the top-level key decides).
    #[serde(default)]
    pub split: Option<String>,
}

/// A dataset split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training split (`"train"`).
    Train,
    /// Validation split (`"val"`).
    Val,
    /// Test split (`"test"`).
    Test,
}

impl Split {
    /// All splits in file order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The key used in `annotation.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which R2Gen dataset layout an annotation follows; decides views, cleaner and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// IU-Xray: two views per study (`image_path[0]`, `image_path[1]`).
    IuXray,
    /// MIMIC-CXR: one view per entry (`image_path[0]`).
    MimicCxr,
}

impl DatasetKind {
    /// Number of views R2Gen reads per study.
    pub fn n_views(self) -> usize {
        match self {
            DatasetKind::IuXray => 2,
            DatasetKind::MimicCxr => 1,
        }
    }

    /// R2Gen's cleaner for this dataset.
    pub fn default_cleaner(self) -> Cleaner {
        match self {
            DatasetKind::IuXray => Cleaner::IuXray,
            DatasetKind::MimicCxr => Cleaner::MimicCxr,
        }
    }

    /// R2Gen's vocabulary count threshold (IU 3, MIMIC 10).
    pub fn default_threshold(self) -> usize {
        match self {
            DatasetKind::IuXray => 3,
            DatasetKind::MimicCxr => 10,
        }
    }

    /// R2Gen's `max_seq_length` (IU 60, MIMIC 100), counting BOS and EOS.
    pub fn default_max_seq_length(self) -> usize {
        match self {
            DatasetKind::IuXray => 60,
            DatasetKind::MimicCxr => 100,
        }
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::IuXray => "IU-Xray",
            DatasetKind::MimicCxr => "MIMIC-CXR",
        }
    }
}

/// What to do with a study whose cleaned report has no words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyReportPolicy {
    /// Fail with [`Error::EmptyReport`] naming the study (default).
    #[default]
    Error,
    /// Drop the study, log a warning, and count it in [`StudySet::skipped_empty`].
    Skip,
}

/// A parsed `annotation.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    /// Training entries.
    #[serde(default)]
    pub train: Vec<AnnotationEntry>,
    /// Validation entries.
    #[serde(default)]
    pub val: Vec<AnnotationEntry>,
    /// Test entries.
    #[serde(default)]
    pub test: Vec<AnnotationEntry>,
}

/// A study ready for loading: cleaned report and image paths resolved under the images root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Study {
    /// Study id.
    pub id: String,
    /// Split it came from.
    pub split: Split,
    /// The report as written in the annotation.
    pub raw_report: String,
    /// The cleaned report (see [`Cleaner`]).
    pub report: String,
    /// One resolved path per view, in annotation order.
    pub image_paths: Vec<PathBuf>,
}

/// The studies of one split, plus what was dropped on the way.
#[derive(Clone, Debug, Default)]
pub struct StudySet {
    /// The studies kept.
    pub studies: Vec<Study>,
    /// How many studies were dropped for an empty report under [`EmptyReportPolicy::Skip`].
    pub skipped_empty: usize,
}

impl Annotation {
    /// Reads and parses an `annotation.json`; errors name the file and the JSON path.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses annotation JSON; `origin` is only used in error messages.
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self> {
        let annotation: Annotation = parse_json(text, origin)?;
        for split in Split::ALL {
            let mut seen = HashSet::new();
            for entry in annotation.entries(split) {
                if !seen.insert(entry.id.as_str()) {
                    return Err(Error::DuplicateId {
                        id: entry.id.clone(),
                        split: split.to_string(),
                        path: origin.to_path_buf(),
                    });
                }
            }
        }
        Ok(annotation)
    }

    /// The raw entries of one split.
    pub fn entries(&self, split: Split) -> &[AnnotationEntry] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }

    /// Cleans the reports of one split and resolves its image paths under `images_root`.
    ///
    /// Takes the first `kind.n_views()` paths of each entry; a study with fewer is an error, and so
    /// is a path that escapes `images_root`. File existence is checked by the dataset, not here.
    pub fn studies(
        &self,
        split: Split,
        kind: DatasetKind,
        cleaner: Cleaner,
        images_root: &Path,
        empty: EmptyReportPolicy,
    ) -> Result<StudySet> {
        let mut set = StudySet::default();
        for entry in self.entries(split) {
            let report = cleaner.clean(&entry.report);
            if !report.split(' ').any(|t| !t.is_empty() && t != ".") {
                match empty {
                    EmptyReportPolicy::Error => {
                        return Err(Error::EmptyReport {
                            id: entry.id.clone(),
                            split: split.to_string(),
                        })
                    }
                    EmptyReportPolicy::Skip => {
                        set.skipped_empty += 1;
                        continue;
                    }
                }
            }
            let needed = kind.n_views();
            if entry.image_path.len() < needed {
                return Err(Error::WrongViewCount {
                    id: entry.id.clone(),
                    found: entry.image_path.len(),
                    needed,
                    kind: kind.name(),
                });
            }
            let image_paths = entry.image_path[..needed]
                .iter()
                .map(|p| resolve_under(images_root, p, &entry.id))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            set.studies.push(Study {
                id: entry.id.clone(),
                split,
                raw_report: entry.report.clone(),
                report,
                image_paths,
            });
        }
        if set.skipped_empty > 0 {
            log::warn!(
                "split `{split}`: skipped {} studies with an empty report",
                set.skipped_empty
            );
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"train": [{"id": "a", "report": "Heart normal.", "image_path": ["a/0.png", "a/1.png"], "split": "train"}],
        "val": [], "test": [{"id": "b", "report": "  ", "image_path": ["b/0.png", "b/1.png"], "split": "test"}]}"#;

    #[test]
    fn parses_and_cleans() {
        let ann = Annotation::from_json_str(JSON, Path::new("ann.json")).unwrap();
        let set = ann
            .studies(
                Split::Train,
                DatasetKind::IuXray,
                Cleaner::IuXray,
                Path::new("/img"),
                EmptyReportPolicy::Error,
            )
            .unwrap();
        assert_eq!(set.studies[0].report, "heart normal .");
        assert_eq!(set.studies[0].image_paths[1], Path::new("/img/a/1.png"));
    }

    #[test]
    fn empty_report_is_an_error_or_counted() {
        let ann = Annotation::from_json_str(JSON, Path::new("ann.json")).unwrap();
        let root = Path::new("/img");
        let err = ann
            .studies(
                Split::Test,
                DatasetKind::IuXray,
                Cleaner::IuXray,
                root,
                EmptyReportPolicy::Error,
            )
            .unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
        let set = ann
            .studies(
                Split::Test,
                DatasetKind::IuXray,
                Cleaner::IuXray,
                root,
                EmptyReportPolicy::Skip,
            )
            .unwrap();
        assert_eq!((set.studies.len(), set.skipped_empty), (0, 1));
    }

    #[test]
    fn malformed_json_names_file_and_path() {
        let bad = r#"{"train": [{"id": "a", "report": "x", "image_path": "a/0.png"}]}"#;
        let err = Annotation::from_json_str(bad, Path::new("/d/annotation.json")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/d/annotation.json") && msg.contains("train[0].image_path"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_view_count_and_duplicates() {
        let one = r#"{"train": [{"id": "a", "report": "x", "image_path": ["a/0.png"]}]}"#;
        let ann = Annotation::from_json_str(one, Path::new("a.json")).unwrap();
        let err = ann
            .studies(
                Split::Train,
                DatasetKind::IuXray,
                Cleaner::IuXray,
                Path::new("/i"),
                EmptyReportPolicy::Error,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::WrongViewCount {
                found: 1,
                needed: 2,
                ..
            }
        ));
        let dup = r#"{"test": [{"id": "a", "report": "x", "image_path": ["p"]}, {"id": "a", "report": "y", "image_path": ["q"]}]}"#;
        assert!(matches!(
            Annotation::from_json_str(dup, Path::new("a.json")),
            Err(Error::DuplicateId { .. })
        ));
    }
}
