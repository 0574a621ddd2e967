//! `trrg train`, and the main job (`examples/train_iu_xray.rs`, `examples/train_mimic_cxr.rs`),
//! which parses the same flags with the same defaults.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, ValueEnum};
use trrg_core::backend::{device, parse_devices, TrainBackend};
use trrg_core::data::{DatasetKind, Split};
use trrg_core::model::ClueMode;
use trrg_core::run::RunDir;
use trrg_core::synth::PairedStudy;
use trrg_core::train::{
    default_synthetic_data, results_table, train_parallel, Preset, RunOptions, StopFlag,
    TrainConfig,
};

/// The dataset layout and cleaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// IU-Xray: two views per study, R2Gen's IU cleaning.
    #[value(name = "iu_xray")]
    IuXray,
    /// MIMIC-CXR: the frontal view, R2Gen's MIMIC cleaning.
    #[value(name = "mimic_cxr")]
    MimicCxr,
}

impl From<DatasetArg> for DatasetKind {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::IuXray => DatasetKind::IuXray,
            DatasetArg::MimicCxr => DatasetKind::MimicCxr,
        }
    }
}

/// Model size preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// CPU-sized ViT + BERT + LLaMA from scratch.
    Tiny,
    /// The smallest working model, for smoke runs.
    Micro,
    /// Pretrained parts named by the config's `base` field (vision, text, llm).
    Base,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Tiny => Preset::Tiny,
            PresetArg::Micro => Preset::Micro,
            PresetArg::Base => Preset::Base,
        }
    }
}

/// Where the report text comes from when no `--data-dir` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportsArg {
    /// A SEMI-SYNTHETIC set: the real IU-Xray reports of R2Gen's 2,955 studies and split (the
    /// `NLMCXR_reports.tgz` asset of `scripts/fetch-assets.sh`), each with two synthetic views
    /// drawn from its labels.
    Iu,
}

/// Arguments of `trrg train` and of the main job.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Training config JSON (`TrainConfig`; unknown fields are errors). Default: the built-in
    /// defaults (tiny preset); with `--resume`, the run's own `config.json`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config value: a dotted key and a JSON value (`--set stage2.epochs=3
    /// --set clue.consistency_weight=0.5`); repeatable, applied after `--config`.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// Print the effective config (after `--config`, `--preset`, `--dataset` and `--set`) as
    /// JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Dataset layout and cleaning [default: the config's, iu_xray; train_iu_xray: iu_xray;
    /// train_mimic_cxr: mimic_cxr].
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// Model preset [default: the config's, tiny].
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    /// R2Gen-layout dataset (`annotation.json` + `images/`). Default: the SYNTHETIC dataset,
    /// generated under `data/` if missing.
    #[arg(long, conflicts_with = "reports")]
    pub data_dir: Option<PathBuf>,
    /// Train on a semi-synthetic set instead of the default synthetic one.
    #[arg(long, value_enum)]
    pub reports: Option<ReportsArg>,
    /// Run directory [default: runs/<dataset>-<synthetic|semi_synthetic|data>-seed<seed>,
    /// numbered if taken].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in `--out` from its last checkpoint (its config.json is the config).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Also train the no-interaction and no-clue variants (under `--out`) and print the
    /// ablation table.
    #[arg(long)]
    pub ablation: bool,
    /// Data-parallel stage 2 over these devices of the selected backend, comma-separated
    /// (`cuda:0,cuda:1` with `--features tch` or `cuda`; `cpu,cpu` runs two CPU workers).
    /// Default: the one device of `TRRG_DEVICE` or the backend's default.
    #[arg(long)]
    pub devices: Option<String>,
    /// No progress bars or epoch lines: warnings and errors only (`RUST_LOG` still chooses,
    /// when set).
    #[arg(long)]
    pub quiet: bool,
}

fn parse_key_value(s: &str) -> std::result::Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    Ok((key.trim().to_string(), value.to_string()))
}

/// The main job's command line: the flags of `trrg train`.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train TRRG end to end (stage 1, stage 2, test), as `trrg train`"
)]
struct MainJob {
    #[command(flatten)]
    args: TrainArgs,
}

/// The semi-synthetic IU-Xray set: R2Gen's IU-Xray studies with their real reports, each with
/// two synthetic views drawn from the report's labels.
fn semi_synthetic_iu(root: &Path) -> Result<PathBuf> {
    let tgz = trrg_core::data::assets_dir().join("NLMCXR_reports.tgz");
    if !tgz.is_file() {
        bail!(
            "--reports iu needs the IU-Xray reports asset {} (run scripts/fetch-assets.sh)",
            tgz.display()
        );
    }
    let reports = trrg_core::data::read_openi_reports(&tgz)?;
    let annotation =
        trrg_core::data::iu_xray_annotation(&reports, &trrg_core::data::R2GenIuSplit::embedded())?;
    let labeler = trrg_core::labeler::Labeler::new();
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
    trrg_core::synth::write_paired_dataset(
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

/// The effective config: `--config` (or, with `--resume`, the run's `config.json`), then
/// `--dataset` (else `default_kind`), `--preset` and `--set`.
pub fn effective_config(
    args: &TrainArgs,
    default_kind: Option<DatasetKind>,
) -> Result<TrainConfig> {
    let mut config = match (&args.config, args.resume, &args.out) {
        (Some(path), _, _) => TrainConfig::from_path(path)?,
        (None, true, Some(out)) => {
            // An ablation's variants sit one level down and share all but the clue mode, which
            // each variant sets again.
            let run = if args.ablation {
                out.join("full")
            } else {
                out.clone()
            };
            RunDir::new(&run).read_config().with_context(|| {
                format!(
                    "--resume without --config reads the run's config in {}",
                    run.display()
                )
            })?
        }
        _ => TrainConfig::default(),
    };
    if let Some(kind) = args.dataset.map(DatasetKind::from).or(default_kind) {
        config.dataset = kind;
    }
    if let Some(preset) = args.preset {
        config.preset = preset.into();
        if config.preset == Preset::Base && config.base.is_none() {
            bail!(
                "--preset base needs the pretrained checkpoints: a --config file with \
                 \"base\": {{\"vision\": DIR_OR_PTH, \"text\": DIR, \"llm\": DIR_OR_GGUF}} \
                 (see docs/guide.md)"
            );
        }
    }
    let config = config.with_overrides(&args.set)?;
    config.validate()?;
    Ok(config)
}

/// The data directory a run to resume recorded (None for a run from before the record): it
/// must still exist, or `--data-dir` must say where the data is now.
fn recorded_data_dir(out: &Path, ablation: bool) -> Result<Option<PathBuf>> {
    let run = if ablation {
        out.join("full")
    } else {
        out.to_path_buf()
    };
    let Some(dir) = RunDir::new(&run).read_data_dir()? else {
        return Ok(None);
    };
    if !dir.is_dir() {
        bail!(
            "the run in {} was trained on {}, which no longer exists; give --data-dir with where \
             the data is now",
            run.display(),
            dir.display()
        );
    }
    Ok(Some(dir))
}

/// Trains as the flags say and prints the results table; `default_kind` (the examples' own) is
/// the dataset kind unless `--dataset` names one.
pub fn run(args: TrainArgs, default_kind: Option<DatasetKind>) -> Result<()> {
    if args.quiet {
        trrg_core::quiet_logging();
    }
    let config = effective_config(&args, default_kind)?;
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    let kind = config.dataset;
    let recorded = match (&args.data_dir, args.resume, &args.out) {
        (None, true, Some(out)) => recorded_data_dir(out, args.ablation)?,
        _ => None,
    };
    let data_dir = match (&args.data_dir, recorded, args.reports) {
        (Some(dir), _, _) => dir.clone(),
        (None, Some(dir), _) => dir,
        (None, None, Some(ReportsArg::Iu)) => {
            eprintln!(
                "building (or reusing) the SEMI-SYNTHETIC set under data/: real IU-Xray reports, synthetic images ..."
            );
            semi_synthetic_iu(Path::new("data"))?
        }
        (None, None, None) => {
            eprintln!("generating (or reusing) the default SYNTHETIC dataset under data/ ...");
            if kind == DatasetKind::MimicCxr {
                eprintln!("(read MIMIC-CXR style: the frontal view only, MIMIC cleaning)");
            }
            default_synthetic_data(Path::new("data"))?
        }
    };
    let label = match (&args.data_dir, args.reports) {
        (Some(_), _) => "data",
        (None, Some(_)) => "semi_synthetic",
        (None, None) => "synthetic",
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
    let stop = stop_on_ctrl_c();
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
                stop: stop.clone(),
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

/// A [`StopFlag`] that the first Ctrl-C (SIGINT) sets: the run finishes and saves the epoch in
/// progress, then ends with "stopped on request ...; continue with --resume". The handler puts
/// SIGINT's default action back, so a second Ctrl-C ends the process at once.
fn stop_on_ctrl_c() -> StopFlag {
    static FLAG: std::sync::OnceLock<StopFlag> = std::sync::OnceLock::new();
    let flag = FLAG.get_or_init(StopFlag::new).clone();
    #[cfg(unix)]
    {
        extern "C" fn on_sigint(_: libc::c_int) {
            const NOTE: &[u8] =
                b"\nstopping after the epoch in progress is saved (Ctrl-C again to quit now)\n";
            // SAFETY: only async-signal-safe calls: write(2), signal(2), and an atomic store
            // through a flag that was initialized before the handler was installed.
            unsafe {
                libc::write(2, NOTE.as_ptr().cast(), NOTE.len());
                libc::signal(libc::SIGINT, libc::SIG_DFL);
            }
            if let Some(flag) = FLAG.get() {
                flag.stop();
            }
        }
        // SAFETY: installs a handler that does only the above.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        }
    }
    flag
}

/// The main job for `kind` (`examples/train_iu_xray.rs`, `examples/train_mimic_cxr.rs`): the
/// flags of `trrg train`; on failure one `error: ...` line and exit status 1.
pub fn main_job(kind: DatasetKind) {
    crate::restore_sigpipe();
    trrg_core::init_logging();
    let cli = MainJob::parse();
    if let Err(e) = run(cli.args, Some(kind)) {
        eprintln!("error: {}", trrg_core::error_line(e.as_ref()));
        std::process::exit(1);
    }
}
