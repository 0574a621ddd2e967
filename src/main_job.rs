//! The main job shared by `examples/train_iu_xray.rs` and `examples/train_mimic_cxr.rs`:
//! argument parsing, default synthetic data, one run or the ablation, the results table.
//!
//! Options:
//! - `--data-dir DIR`  a real dataset in R2Gen layout (`annotation.json` + `images/`)
//! - `--config FILE`   a `TrainConfig` JSON (unknown fields are errors)
//! - `--preset P`      `tiny` (default), `micro`, or `base` (pretrained parts named by the
//!   config's `"base"` field)
//! - `--out DIR`       run directory (default `runs/<dataset>-<data>-seed<seed>`, numbered if taken)
//! - `--resume`        continue the run in `--out` from its last checkpoint
//! - `--reports iu`    a **semi-synthetic** set instead of the default synthetic one: the real
//!   IU-Xray reports (R2Gen's 2,955 studies and split, from the `NLMCXR_reports.tgz` asset of
//!   `scripts/fetch-assets.sh`), each with two synthetic views drawn from its labels (trrg's
//!   CheXpert-style labeler), so stage 2's LM learns real report language
//! - `--ablation`      also train the no-interaction and no-clue variants and print the table
//! - `--devices LIST`  data-parallel stage 2 over devices of the selected backend
//!   (`cuda:0,cuda:1`; `cpu,cpu` runs two CPU workers); default: `TRRG_DEVICE` or the
//!   backend's default device
//! - `--quiet`         no progress bars

use std::path::{Path, PathBuf};

use crate::backend::{device, parse_devices, TrainBackend};
use anyhow::{bail, Context};
use trrg_data::{DatasetKind, Split};
use trrg_model::ClueMode;
use trrg_synth::PairedStudy;
use trrg_train::{
    default_synthetic_data, results_table, train_parallel, Preset, RunOptions, TrainConfig,
};

struct Args {
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: bool,
    ablation: bool,
    quiet: bool,
    real_reports: bool,
    devices: Option<String>,
    preset: Option<Preset>,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        data_dir: None,
        config: None,
        out: None,
        resume: false,
        ablation: false,
        quiet: false,
        real_reports: false,
        devices: None,
        preset: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => args.data_dir = Some(value("--data-dir")?.into()),
            "--config" => args.config = Some(value("--config")?.into()),
            "--out" => args.out = Some(value("--out")?.into()),
            "--resume" => args.resume = true,
            "--ablation" => args.ablation = true,
            "--quiet" => args.quiet = true,
            "--devices" => args.devices = Some(value("--devices")?),
            "--preset" => {
                args.preset = Some(match value("--preset")?.as_str() {
                    "tiny" => Preset::Tiny,
                    "micro" => Preset::Micro,
                    "base" => Preset::Base,
                    other => bail!("--preset `{other}`: tiny, micro or base"),
                })
            }
            "--reports" => match value("--reports")?.as_str() {
                "iu" => args.real_reports = true,
                other => {
                    bail!("--reports `{other}`: only `iu` (the IU-Xray reports asset) is known")
                }
            },
            "-h" | "--help" => {
                println!("usage: train_iu_xray | train_mimic_cxr [--data-dir DIR] [--config FILE] [--out DIR] [--preset tiny|micro|base] [--reports iu] [--resume] [--ablation] [--devices LIST] [--quiet]");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if args.real_reports && args.data_dir.is_some() {
        bail!("--reports iu makes its own semi-synthetic data; leave out --data-dir");
    }
    if args.resume && args.out.is_none() {
        bail!("--resume needs --out DIR (the run to continue)");
    }
    Ok(args)
}

/// The semi-synthetic IU-Xray set: R2Gen's IU-Xray studies with their real reports, each with
/// two synthetic views drawn from the report's labels.
fn semi_synthetic_iu(root: &Path) -> anyhow::Result<PathBuf> {
    let tgz = trrg_data::assets_dir().join("NLMCXR_reports.tgz");
    if !tgz.is_file() {
        bail!(
            "--reports iu needs the IU-Xray reports asset {} (run scripts/fetch-assets.sh)",
            tgz.display()
        );
    }
    let reports = trrg_data::read_openi_reports(&tgz)?;
    let annotation = trrg_data::iu_xray_annotation(&reports, &trrg_data::R2GenIuSplit::embedded())?;
    let labeler = trrg_labeler::Labeler::new();
    let studies: Vec<PairedStudy> = [
        (Split::Train, &annotation.train),
        (Split::Val, &annotation.val),
        (Split::Test, &annotation.test),
    ]
    .into_iter()
    .flat_map(|(split, entries)| {
        let labeler = &labeler;
        entries.iter().map(move |e| PairedStudy {
            id: e.id.clone(),
            split,
            report: e.report.clone(),
            labels: labeler
                .observations()
                .iter()
                .zip(labeler.label(&e.report))
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        })
    })
    .collect();
    let dir = root.join("semi-iu-256px-seed7");
    trrg_synth::write_paired_dataset(
        &dir,
        &studies,
        256,
        7,
        "IU-Xray (Open-i) reports, R2Gen's studies and split",
    )?;
    Ok(dir)
}

fn fresh_dir(base: PathBuf) -> PathBuf {
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

/// Runs the main job for `kind`; on failure prints one `error: ...` line and exits with status 1.
pub fn main(kind: DatasetKind) {
    trrg_core::init_logging();
    if let Err(e) = run(kind) {
        eprintln!("error: {}", trrg_core::error_line(e.as_ref()));
        std::process::exit(1);
    }
}

/// Runs the main job for `kind` with the process's command-line arguments.
pub fn run(kind: DatasetKind) -> anyhow::Result<()> {
    let args = parse()?;
    let mut config = match &args.config {
        Some(path) => TrainConfig::from_path(path)?,
        None => TrainConfig::default(),
    };
    config.dataset = kind;
    if let Some(preset) = args.preset {
        config.preset = preset;
        if preset == Preset::Base && config.base.is_none() {
            bail!(
                "--preset base needs the pretrained checkpoints: a --config file with \
                 \"base\": {{\"vision\": DIR_OR_PTH, \"text\": DIR, \"llm\": DIR_OR_GGUF}} \
                 (see docs/guide.md)"
            );
        }
    }
    config.validate()?;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None if args.real_reports => {
            eprintln!(
                "building (or reusing) the SEMI-SYNTHETIC set under data/: real IU-Xray reports, synthetic images ..."
            );
            semi_synthetic_iu(Path::new("data"))?
        }
        None => {
            eprintln!("generating (or reusing) the default SYNTHETIC dataset under data/ ...");
            if kind == DatasetKind::MimicCxr {
                eprintln!("(read MIMIC-CXR style: the frontal view only, MIMIC cleaning)");
            }
            default_synthetic_data(Path::new("data"))?
        }
    };
    let label = match (&args.data_dir, args.real_reports) {
        (Some(_), _) => "data",
        (None, true) => "semi_synthetic",
        (None, false) => "synthetic",
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => fresh_dir(PathBuf::from(format!(
            "runs/{}-{label}-seed{}",
            kind.name().to_lowercase().replace('-', "_"),
            config.seed
        ))),
    };
    let variants: Vec<(String, ClueMode)> = if args.ablation {
        vec![
            ("full".into(), ClueMode::Full),
            ("no_interaction".into(), ClueMode::NoInteraction),
            ("no_clues".into(), ClueMode::Off),
        ]
    } else {
        vec![(config.clue.mode.to_string(), config.clue.mode)]
    };
    let devices = match &args.devices {
        Some(list) => parse_devices(list)?,
        None => vec![device()?],
    };
    let mut rows = Vec::new();
    for (name, mode) in variants {
        let run_dir: PathBuf = if args.ablation {
            out.join(&name)
        } else {
            out.clone()
        };
        let mut config = config.clone();
        config.clue.mode = mode;
        eprintln!("run {name}: {}", run_dir.display());
        let started = std::time::Instant::now();
        let summary = train_parallel::<TrainBackend>(
            &config,
            &RunOptions {
                data_dir: data_dir.clone(),
                // In an ablation, a variant not started before the interruption starts now.
                resume: args.resume && run_dir.join("checkpoints/state.json").is_file(),
                out_dir: run_dir,
                quiet: args.quiet,
                stop_after_stage2_epochs: None,
            },
            &devices,
        )?;
        eprintln!(
            "run {name} finished in {:.1} min",
            started.elapsed().as_secs_f64() / 60.0
        );
        rows.push((name, summary.metrics));
    }
    println!("\n{}", results_table(&rows));
    eprintln!("results, samples, logs and plots: {}", out.display());
    Ok(())
}
