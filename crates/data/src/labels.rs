//! Per-study disease labels: the 14 CheXpert observations (or any other named set), 1/0/-1/blank.
//!
//! File format (`labels.json`, also what `trrg label` prints):
//! `{"<study id>": {"<observation>": 1 | 0 | -1 | null, ...}, ...}`. An observation missing from a
//! study's object is blank.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::{read_json, Error, Result};

pub use trrg_labeler::CHEXPERT_OBSERVATIONS;

/// One study's labels: `Some(1)` positive, `Some(0)` negative, `Some(-1)` uncertain, `None` blank.
pub type LabelRow = Vec<Option<i8>>;

/// Labels of many studies over one ordered observation set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelTable {
    observations: Vec<String>,
    rows: HashMap<String, LabelRow>,
    path: PathBuf,
}

impl LabelTable {
    /// Reads `labels.json` over the given observations (in that order).
    pub fn from_path(path: impl AsRef<Path>, observations: &[&str]) -> Result<Self> {
        let path = path.as_ref();
        let raw: BTreeMap<String, BTreeMap<String, Option<i64>>> = read_json(path)?;
        let position: HashMap<&str, usize> = observations
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, i))
            .collect();
        let mut rows = HashMap::with_capacity(raw.len());
        for (id, labels) in raw {
            let mut row = vec![None; observations.len()];
            for (name, value) in labels {
                let bad = |reason: String| Error::BadLabel {
                    path: path.to_path_buf(),
                    id: id.clone(),
                    reason,
                };
                let &i = position
                    .get(name.as_str())
                    .ok_or_else(|| bad(format!("unknown observation `{name}`")))?;
                row[i] = match value {
                    None => None,
                    Some(v @ -1..=1) => Some(v as i8),
                    Some(v) => {
                        return Err(bad(format!("`{name}` is {v}; expected 1, 0, -1 or null")))
                    }
                };
            }
            rows.insert(id, row);
        }
        Ok(Self {
            observations: observations.iter().map(|s| s.to_string()).collect(),
            rows,
            path: path.to_path_buf(),
        })
    }

    /// A table from rows already in `observations` order (e.g. from the rule labeler);
    /// `origin` names where they came from in error messages.
    pub fn from_rows(
        observations: &[&str],
        rows: HashMap<String, LabelRow>,
        origin: impl Into<PathBuf>,
    ) -> Self {
        Self {
            observations: observations.iter().map(|s| s.to_string()).collect(),
            rows,
            path: origin.into(),
        }
    }

    /// The observation names, in column order.
    pub fn observations(&self) -> &[String] {
        &self.observations
    }

    /// A study's labels, or an error naming the study when the file has none for it.
    pub fn row(&self, id: &str) -> Result<&LabelRow> {
        self.rows.get(id).ok_or_else(|| Error::BadLabel {
            path: self.path.clone(),
            id: id.to_string(),
            reason: "no labels for this study".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(json: &str) -> Result<LabelTable> {
        let path = std::env::temp_dir().join(format!(
            "trrg-labels-{}-{}.json",
            std::process::id(),
            json.len()
        ));
        std::fs::write(&path, json).unwrap();
        let t = LabelTable::from_path(&path, &CHEXPERT_OBSERVATIONS);
        std::fs::remove_file(path).unwrap();
        t
    }

    #[test]
    fn reads_values_and_blanks() {
        let t =
            table(r#"{"s1": {"Cardiomegaly": 1, "Edema": -1, "Pneumonia": 0, "Fracture": null}}"#)
                .unwrap();
        let row = t.row("s1").unwrap();
        assert_eq!(
            (row[1], row[4], row[6], row[11], row[0]),
            (Some(1), Some(-1), Some(0), None, None)
        );
        assert!(t.row("s2").unwrap_err().to_string().contains("`s2`"));
    }

    #[test]
    fn rejects_unknown_names_and_values() {
        assert!(table(r#"{"s": {"Cardiomegally": 1}}"#)
            .unwrap_err()
            .to_string()
            .contains("Cardiomegally"));
        assert!(table(r#"{"s": {"Edema": 2}}"#)
            .unwrap_err()
            .to_string()
            .contains("expected 1, 0, -1"));
    }
}
