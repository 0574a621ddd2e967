//! Disease sets: any number of named diseases, each with positive and negative prompts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One disease and its prompt templates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disease {
    /// Name; for the CheXpert set, the observation name.
    pub name: String,
    /// Sentences that state the disease is present (their embeddings are averaged).
    pub positive: Vec<String>,
    /// Sentences that state it is absent.
    pub negative: Vec<String>,
}

/// An ordered set of diseases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiseaseSet {
    /// A name for logs.
    pub name: String,
    /// The diseases, in clue order.
    pub diseases: Vec<Disease>,
}

const CHEXPERT_JSON: &str = include_str!("../assets/chexpert_prompts.json");

impl DiseaseSet {
    /// The 14 CheXpert observations with trrg's default prompts (report-style sentences, as
    /// R2Gen-cleaned text: lower case, no punctuation).
    pub fn chexpert() -> Self {
        Self::from_json_str(CHEXPERT_JSON, "embedded chexpert_prompts.json")
            .unwrap_or_else(|e| unreachable!("embedded disease set is valid: {e}"))
    }

    /// Reads a set from JSON: `{"name": .., "diseases": [{"name", "positive": [..], "negative": [..]}]}`.
    pub fn from_path(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let set: Self = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        set.validate(&path.display().to_string())?;
        Ok(set)
    }

    fn from_json_str(text: &str, origin: &str) -> crate::Result<Self> {
        let set: Self = serde_json::from_str(text).map_err(|source| Error::Json {
            path: origin.into(),
            source,
        })?;
        set.validate(origin)?;
        Ok(set)
    }

    /// Checks names are unique and every disease has prompts of both kinds.
    pub fn validate(&self, origin: &str) -> crate::Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidSet {
                origin: origin.into(),
                reason,
            })
        };
        let mut names = std::collections::HashSet::new();
        for d in &self.diseases {
            if !names.insert(d.name.as_str()) {
                return bad(format!("disease `{}` appears twice", d.name));
            }
            let empty = |p: &Vec<String>| p.is_empty() || p.iter().any(|s| s.trim().is_empty());
            if empty(&d.positive) || empty(&d.negative) {
                return bad(format!(
                    "disease `{}` needs non-empty positive and negative prompts",
                    d.name
                ));
            }
        }
        Ok(())
    }

    /// Number of diseases (clues).
    pub fn len(&self) -> usize {
        self.diseases.len()
    }

    /// Whether the set is empty (a model then runs without clues).
    pub fn is_empty(&self) -> bool {
        self.diseases.is_empty()
    }

    /// Disease names in order.
    pub fn names(&self) -> Vec<&str> {
        self.diseases.iter().map(|d| d.name.as_str()).collect()
    }

    /// Every prompt with its disease index and polarity (true = positive), in a fixed order.
    pub fn prompts(&self) -> Vec<(usize, bool, &str)> {
        let mut out = Vec::new();
        for (i, d) in self.diseases.iter().enumerate() {
            out.extend(d.positive.iter().map(|p| (i, true, p.as_str())));
            out.extend(d.negative.iter().map(|p| (i, false, p.as_str())));
        }
        out
    }

    /// The CheXpert observation order must hold for label-based losses; this maps each disease
    /// to its column in a 14-observation label row, or `None` if it is not an observation.
    pub fn chexpert_columns(&self) -> Vec<Option<usize>> {
        self.diseases
            .iter()
            .map(|d| trrg_labeler::observation_index(&d.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chexpert_set_covers_the_14_observations_in_order() {
        let set = DiseaseSet::chexpert();
        assert_eq!(set.names(), trrg_labeler::CHEXPERT_OBSERVATIONS);
        assert_eq!(set.prompts().len(), 14 * 4);
    }

    #[test]
    fn bad_sets_are_rejected_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("trrg-clue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("set.json");
        std::fs::write(
            &path,
            r#"{"name": "x", "diseases": [{"name": "a", "positive": ["a"], "negative": []}]}"#,
        )
        .unwrap();
        let err = DiseaseSet::from_path(&path).unwrap_err().to_string();
        assert!(err.contains("`a` needs non-empty"), "{err}");
        std::fs::write(&path, r#"{"name": "x", "diseases": [{"nam": "a"}]}"#).unwrap();
        let err = DiseaseSet::from_path(&path).unwrap_err().to_string();
        assert!(
            err.contains("malformed") && err.contains("set.json"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
