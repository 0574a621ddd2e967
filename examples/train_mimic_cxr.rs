//! Train TRRG on MIMIC-CXR (one view per study, MIMIC cleaning).
//!
//! `cargo run --release --example train_mimic_cxr -- --data-dir data/mimic_cxr` trains on
//! MIMIC-CXR in R2Gen layout. Without `--data-dir` it reads the default **synthetic** dataset the
//! MIMIC way (frontal view only). It is `trrg train` with the MIMIC-CXR dataset kind: the same
//! flags and defaults (`--help` lists them).

fn main() {
    trrg_cli::train::main_job(trrg_data::DatasetKind::MimicCxr)
}
