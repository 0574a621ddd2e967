//! TRRG — truthful radiology report generation — on Burn, generic over the backend.
//!
//! This facade re-exports every trrg crate as a module: [`data`] (datasets, cleaning,
//! tokenizers), [`synth`] (synthetic radiographs with truthful reports), [`labeler`]
//! (CheXpert-style rule labeler), [`metrics`] (pycocoevalcap-equal NLG metrics, clinical
//! efficacy), [`vision`], [`text`], [`clue`], [`interact`], [`llm`], [`model`] (`Trrg<B>`) and
//! [`train`] (with the `train` feature, on by default; without it trrg-core is inference only,
//! and `ReportGenerator` needs no training code: `examples/generate_report.rs`).
//!
//! A user's `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! trrg-core = { git = "https://github.com/trrg/trrg" }
//! burn = { version = "=0.21.0", features = ["flex"] }
//! ```
//!
//! and a program that writes the report of a study with a trained run (from
//! `cargo run --release --example train_iu_xray`):
//!
//! ```no_run
//! use burn::backend::Flex;
//! use trrg_core::ReportGenerator;
//!
//! fn main() -> Result<(), trrg_core::GeneratorError> {
//!     let device = Default::default();
//!     let generator = ReportGenerator::<Flex>::from_dir("runs/iu_xray-synthetic-seed42", &device)?;
//!     let views = ["frontal.png".into(), "lateral.png".into()];
//!     let report = generator.generate(&views)?;
//!     println!("{}", report.text);
//!     for (disease, p) in report.clues {
//!         println!("{disease}: {p:.2}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Swap the backend by changing the type parameter (`ReportGenerator::<Wgpu>`, ...).
#![warn(missing_docs)]

#[cfg(any(
    feature = "flex",
    feature = "ndarray",
    feature = "wgpu",
    feature = "tch",
    feature = "cuda"
))]
pub mod backend;
pub use trrg_run::{Error as GeneratorError, Report, ReportGenerator};

pub use trrg_clue as clue;
pub use trrg_data as data;
pub use trrg_interact as interact;
pub use trrg_io as io;
pub use trrg_kernels as kernels;
pub use trrg_labeler as labeler;
pub use trrg_llm as llm;
pub use trrg_metrics as metrics;
pub use trrg_model as model;
pub use trrg_run as run;
pub use trrg_synth as synth;
pub use trrg_text as text;
pub use trrg_tokenize as tokenize;
#[cfg(feature = "train")]
pub use trrg_train as train;
pub use trrg_vision as vision;

/// Installs the logger of trrg's programs (the `trrg` binary, the examples): `RUST_LOG` chooses
/// what is shown in env_logger's syntax (`RUST_LOG=info`, `RUST_LOG=trrg_data=debug`), default
/// `warn` and a training run's progress lines (`trrg_train::progress=info`). Info lines print
/// as they are; other levels as `warning: ...`, `error: ...`. A second call does nothing.
pub fn init_logging() {
    use std::io::Write;
    let env = env_logger::Env::default().default_filter_or("warn,trrg_train::progress=info");
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| match record.level() {
            log::Level::Info => writeln!(buf, "{}", record.args()),
            log::Level::Warn => writeln!(buf, "warning: {}", record.args()),
            level => writeln!(buf, "{}: {}", level.as_str().to_lowercase(), record.args()),
        })
        .try_init();
}

/// `--quiet`: hides the info lines (a run's progress) that [`init_logging`]'s default shows,
/// unless `RUST_LOG` asks for them.
pub fn quiet_logging() {
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// One line for an error and its causes, each cause once: a cause whose text the line already
/// holds is left out. (Many variants name their cause in their message and also return it as
/// `source()`, as thiserror's `#[source]` does; printing the whole chain would repeat it.)
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

/// The types most programs need.
pub mod prelude {
    pub use trrg_clue::DiseaseSet;
    pub use trrg_llm::GenerationConfig;
    pub use trrg_model::{ClueMode, Trrg, TrrgConfig};
    pub use trrg_tokenize::{ReportTokenizer, WordVocab};
    #[cfg(feature = "train")]
    pub use trrg_train::{train, RunOptions, TrainConfig};
}
