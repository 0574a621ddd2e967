//! The trrg workspace root: examples and benches.
//!
//! Library crates never choose a backend; they are generic over `B: TrrgOps`. Examples and
//! benches take the backend from [`trrg_core::backend`], chosen by the root package's cargo
//! features: `flex` (default, CPU).
#![warn(missing_docs)]

pub use trrg_core::backend;

/// One line on a loaded model: its parameters, their size in memory as `dtype`, and the peak
/// resident memory so far as a multiple of that size (the loaders' memory check, in
/// docs/performance.md).
pub fn load_report(what: &str, params: usize, dtype: burn::tensor::DType, seconds: f64) -> String {
    let model_bytes = params as f64 * dtype.size() as f64;
    let peak = trrg_core::io::peak_resident_memory().map_or(
        "unknown (no /proc/self/status)".into(),
        |p| {
            format!(
                "{:.1} MB = {:.2}x the model",
                p as f64 / 1e6,
                p as f64 / model_bytes
            )
        },
    );
    format!(
        "loaded {params} parameters ({:.1} MB as {dtype:?}) from {what} in {seconds:.2} s; \
         peak resident memory {peak}",
        model_bytes / 1e6
    )
}
