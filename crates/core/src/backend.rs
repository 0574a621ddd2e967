//! Cargo feature -> Burn backend type and device: the one place that maps them.
//!
//! Library code stays generic over `B: Backend`; binaries, examples and benches write
//! `train::<TrainBackend>(.., &device())` and pick the backend with a cargo feature of
//! trrg-core (`flex`: CPU, gemm + rayon; the root package and trrg-cli enable it by default).

/// The inference backend selected by cargo features (`flex`: CPU, gemm + rayon).
#[cfg(feature = "flex")]
pub type Backend = burn::backend::Flex;

/// The training backend: [`Backend`] with automatic differentiation.
#[cfg(feature = "flex")]
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// The default device of [`Backend`].
#[cfg(feature = "flex")]
pub fn device() -> burn::tensor::Device<Backend> {
    Default::default()
}
