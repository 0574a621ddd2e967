//! The obedience probe: does the LLM write what the clues decide?
//!
//! On normal studies (No Finding in their labels), each clue in turn is forced on and every
//! other off, whatever the image shows; the reports are labeled with trrg's labeler, and the
//! probe counts how often a report states the forced finding, and how often it states another
//! one. A last row forces every clue off: a faithful reader then states no finding at all.
//! Perception plays no part, so this measures the reader alone
//! (`../shared/reference/truthful_diagnosis.md`, §3).

use serde::Serialize;
use trrg_kernels::TrrgOps;
use trrg_labeler::{observation_index, Labeler, ReportLabels};
use trrg_run::ReportGenerator;

use crate::log::progress;
use crate::predict::{generate_reports, PredictStudy};

/// One forced clue set's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObedienceRow {
    /// The disease whose clue was on (None: every clue off).
    pub clue_on: Option<String>,
    /// Fraction of reports that state the forced finding (None for the all-off row, or a
    /// disease outside the 14 CheXpert observations).
    pub stated: Option<f64>,
    /// Fraction of reports that state a finding other than the forced one (No Finding and
    /// Support Devices aside, as the label rule counts a normal study).
    pub other_findings: f64,
    /// Fraction of reports labeled No Finding.
    pub no_finding: f64,
}

/// The obedience probe's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Obedience {
    /// Normal studies the reports were written for.
    pub studies: usize,
    /// One row per disease with its clue forced on, then the all-off row.
    pub rows: Vec<ObedienceRow>,
}

/// The normal studies among `studies`: No Finding in their ground-truth labels (else in the
/// labels of their reference report), the first `limit`.
pub fn normal_studies(studies: &[PredictStudy], limit: usize) -> Vec<PredictStudy> {
    let labeler = Labeler::new();
    let no_finding = observation_index("No Finding").expect("a CheXpert observation");
    studies
        .iter()
        .filter(|s| {
            let labels = s
                .ground_truth
                .or_else(|| s.reference.as_ref().map(|r| labeler.label(r)));
            labels.is_some_and(|l| l[no_finding] == Some(1))
        })
        .take(limit)
        .cloned()
        .collect()
}

/// Forces each clue of `generator` on in turn (the others off), then all off, writes the
/// reports of `studies` for each, and counts what the reports state.
pub fn obedience<B: TrrgOps>(
    generator: &ReportGenerator<B>,
    studies: &[PredictStudy],
    batch_size: usize,
    quiet: bool,
) -> crate::Result<Obedience> {
    let names = generator.disease_names().to_vec();
    if names.is_empty() {
        return Err(trrg_run::Error::NoClues.into());
    }
    let labeler = Labeler::new();
    let no_finding = observation_index("No Finding").expect("a CheXpert observation");
    let devices = observation_index("Support Devices").expect("a CheXpert observation");
    let settings: Vec<Option<usize>> = (0..names.len()).map(Some).chain([None]).collect();
    let bar = progress(settings.len() * studies.len(), "obedience", quiet);
    let mut rows = Vec::with_capacity(settings.len());
    for on in settings {
        let forced: Vec<bool> = (0..names.len()).map(|d| Some(d) == on).collect();
        let forced = generator.with_forced_clues(&forced)?;
        let labels: Vec<ReportLabels> = generate_reports(&forced, studies, batch_size, &bar)?
            .iter()
            .map(|r| labeler.label(&r.text))
            .collect();
        let target = on.and_then(|d| observation_index(&names[d]));
        let fraction = |f: &dyn Fn(&ReportLabels) -> bool| {
            labels.iter().filter(|l| f(l)).count() as f64 / labels.len().max(1) as f64
        };
        rows.push(ObedienceRow {
            clue_on: on.map(|d| names[d].clone()),
            stated: target.map(|t| fraction(&|l| l[t] == Some(1))),
            other_findings: fraction(&|l| {
                l.iter().enumerate().any(|(o, v)| {
                    *v == Some(1) && o != no_finding && o != devices && Some(o) != target
                })
            }),
            no_finding: fraction(&|l| l[no_finding] == Some(1)),
        });
    }
    bar.finish_and_clear();
    Ok(Obedience {
        studies: studies.len(),
        rows,
    })
}

/// A Markdown table of the probe.
pub fn obedience_table(probe: &Obedience) -> String {
    let mut out = format!(
        "Obedience on {} normal studies: each clue forced on and every other off, then all off \
         (reports labeled by \"{}\")\n\n\
         | clue on | states it | states another finding | states No Finding |\n\
         |---|---|---|---|\n",
        probe.studies,
        trrg_labeler::LABELER_NAME
    );
    for r in &probe.rows {
        let pct = |v: f64| format!("{:.0} %", 100.0 * v);
        out += &format!(
            "| {} | {} | {} | {} |\n",
            r.clue_on.as_deref().unwrap_or("(none)"),
            r.stated.map_or("-".into(), pct),
            pct(r.other_findings),
            pct(r.no_finding),
        );
    }
    out
}
