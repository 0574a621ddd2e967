//! Label statistics of the default synthetic dataset next to IU-Xray's.
//!
//! `cargo run --release --example label_stats [-- --assets DIR]`
//!
//! Prints, per CheXpert observation, the share of studies labeled positive and the share of
//! mentions that are negated: for the SYNTHETIC default set from its ground-truth labels and from
//! trrg's rule labeler on its reports, and for the 2,955 R2Gen IU-Xray reports from the labeler
//! (the reports come from `scripts/fetch-assets.sh`; without them that column is skipped with a
//! note).

use anyhow::{Context, Result};
use rayon::prelude::*;
use trrg_data::{iu_xray_annotation, read_openi_reports, R2GenIuSplit};
use trrg_labeler::{Labeler, ReportLabels, CHEXPERT_OBSERVATIONS};
use trrg_synth::{generate_study, SynthConfig};

/// Per observation: (positive studies, negative mentions, non-blank mentions), and the study count.
fn tally(rows: &[ReportLabels]) -> (Vec<(usize, usize, usize)>, usize) {
    let mut out = vec![(0, 0, 0); 14];
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if let Some(v) = v {
                out[i].2 += 1;
                match v {
                    1 => out[i].0 += 1,
                    0 => out[i].1 += 1,
                    _ => {}
                }
            }
        }
    }
    (out, rows.len())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut assets = trrg_data::assets_dir();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--assets" => {
                assets =
                    std::path::PathBuf::from(args.next().context("--assets needs a directory")?)
            }
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    let labeler = Labeler::new();
    let config = SynthConfig::default();
    let studies: Vec<_> = (0..config.studies)
        .into_par_iter()
        .map(|i| {
            let mut study = generate_study(&config, i);
            study.frontal = Default::default();
            study.lateral = Default::default();
            study
        })
        .collect();
    let truth: Vec<ReportLabels> = studies
        .iter()
        .map(|s| CHEXPERT_OBSERVATIONS.map(|o| s.labels.get(o).copied().flatten()))
        .collect();
    let synth_labeled: Vec<ReportLabels> =
        studies.iter().map(|s| labeler.label(&s.report)).collect();
    let agree = truth
        .iter()
        .zip(&synth_labeled)
        .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x == y).count())
        .sum::<usize>();
    let mut columns = vec![
        ("synthetic, ground truth", tally(&truth)),
        ("synthetic, labeler", tally(&synth_labeled)),
    ];
    let tgz = assets.join("NLMCXR_reports.tgz");
    if tgz.is_file() {
        let annotation = iu_xray_annotation(&read_openi_reports(&tgz)?, &R2GenIuSplit::embedded())?;
        let reports: Vec<&str> = annotation
            .train
            .iter()
            .chain(&annotation.val)
            .chain(&annotation.test)
            .map(|e| e.report.as_str())
            .collect();
        let iu: Vec<ReportLabels> = reports.par_iter().map(|r| labeler.label(r)).collect();
        columns.push(("IU-Xray (2,955 R2Gen reports), labeler", tally(&iu)));
    } else {
        eprintln!(
            "note: {} is absent (scripts/fetch-assets.sh fetches it); IU-Xray column skipped",
            tgz.display()
        );
    }
    println!("Label statistics: positive = share of studies labeled 1; negated = share of an observation's mentions labeled 0.");
    print!("| observation |");
    for (name, (_, n)) in &columns {
        print!(" {name} ({n}): positive | negated |");
    }
    println!();
    println!("|---|{}", "---|---|".repeat(columns.len()));
    for (i, obs) in CHEXPERT_OBSERVATIONS.iter().enumerate() {
        print!("| {obs} |");
        for (_, (t, n)) in &columns {
            let (pos, neg, mentions) = t[i];
            let negated = if mentions == 0 {
                "–".to_string()
            } else {
                format!("{:.1} %", 100.0 * neg as f64 / mentions as f64)
            };
            print!(" {:.1} % | {negated} |", 100.0 * pos as f64 / *n as f64);
        }
        println!();
    }
    let all = |t: &(Vec<(usize, usize, usize)>, usize)| {
        let (neg, men): (usize, usize) =
            t.0.iter()
                .take(13)
                .fold((0, 0), |a, x| (a.0 + x.1, a.1 + x.2));
        100.0 * neg as f64 / men.max(1) as f64
    };
    print!("| all 13 findings: negated share of mentions |");
    for (_, t) in &columns {
        print!(" | {:.1} % |", all(t));
    }
    println!();
    println!(
        "labeler vs synthetic ground truth: {:.2} % of the {} study x observation cells agree",
        100.0 * agree as f64 / (14 * truth.len()) as f64,
        14 * truth.len()
    );
    Ok(())
}
