//! Cargo feature -> Burn backend type and device.

/// The inference backend selected by cargo features (`flex`, the default: CPU, gemm + rayon).
#[cfg(feature = "flex")]
pub type Backend = burn::backend::Flex;

/// The training backend: [`Backend`] with automatic differentiation.
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// The default device of [`Backend`].
pub fn device() -> burn::tensor::Device<Backend> {
    Default::default()
}
