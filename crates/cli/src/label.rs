//! `trrg label`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{Map, Value};
use trrg_labeler::{Labeler, CHEXPERT_OBSERVATIONS, LABELER_NAME};

/// Arguments of `trrg label`.
#[derive(Args, Debug)]
pub struct LabelArgs {
    /// JSON file `{id: report text}`.
    #[arg(long)]
    reports: PathBuf,
}

/// Runs `trrg label`: prints `{id: {observation: 1|0|-1|null}}` on stdout.
pub fn run(args: LabelArgs) -> Result<()> {
    let text = crate::read_utf8(&args.reports)?;
    let reports: BTreeMap<String, Value> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a JSON object {{id: report text}}",
            args.reports.display()
        )
    })?;
    let labeler = Labeler::new();
    let mut out = Map::new();
    for (id, report) in reports {
        let Value::String(report) = report else {
            bail!("{}: report `{id}` is not a string", args.reports.display());
        };
        if report.trim().is_empty() {
            bail!("{}: report `{id}` is empty", args.reports.display());
        }
        let labels = labeler.label(&report);
        let row: Map<String, Value> = CHEXPERT_OBSERVATIONS
            .iter()
            .zip(labels)
            .map(|(o, v)| (o.to_string(), v.map_or(Value::Null, Value::from)))
            .collect();
        out.insert(id, Value::Object(row));
    }
    eprintln!("labeler: {LABELER_NAME}");
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
