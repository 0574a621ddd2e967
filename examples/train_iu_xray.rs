//! Main job: train TRRG end to end on IU-Xray (two views).
//!
//! `cargo run --release --example train_iu_xray` with no arguments generates (or reuses) the
//! embedded default **synthetic** IU-Xray-like dataset (trrg-synth: 1,200 two-view studies whose
//! reports state exactly what is drawn), trains the `tiny` preset through stage 1 (contrastive
//! pre-training) and stage 2 (clue-enhanced fine-tuning), evaluates the best checkpoint on the
//! test split and prints a results table. It is `trrg train` with the IU-Xray dataset kind: the
//! same flags and defaults (`--help` lists them).

fn main() {
    trrg_cli::train::main_job(trrg_data::DatasetKind::IuXray)
}
