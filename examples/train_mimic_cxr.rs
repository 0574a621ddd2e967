//! Train TRRG on MIMIC-CXR (one view per study, MIMIC cleaning).
//!
//! `cargo run --release --example train_mimic_cxr -- --data-dir data/mimic_cxr` trains on
//! MIMIC-CXR in R2Gen layout. Without `--data-dir` it reads the default **synthetic** dataset the
//! MIMIC way (frontal view only). Options: see [`trrg::main_job`].

fn main() {
    trrg::main_job::main(trrg_data::DatasetKind::MimicCxr)
}
