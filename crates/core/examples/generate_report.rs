//! Writes the report of one study with a trained run, through trrg-core alone: it builds without
//! the `train` feature, so with no training code (`cargo run -p trrg-core --no-default-features
//! --features flex --example generate_report -- RUN_DIR VIEW...`; CI runs it so).

use std::path::PathBuf;
use std::process::ExitCode;

use burn::backend::Flex;
use trrg_core::ReportGenerator;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(run), views) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: generate_report RUN_DIR VIEW...");
        return ExitCode::from(2);
    };
    if views.is_empty() {
        eprintln!("usage: generate_report RUN_DIR VIEW... (no view given)");
        return ExitCode::from(2);
    }
    let device = Default::default();
    let report = ReportGenerator::<Flex>::from_dir(&run, &device)
        .and_then(|generator| generator.generate(&views));
    match report {
        Ok(report) => {
            println!("{}", report.text);
            for (disease, p) in report.clues {
                println!("{disease}: {p:.2}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", trrg_core::error_line(&e));
            ExitCode::FAILURE
        }
    }
}
