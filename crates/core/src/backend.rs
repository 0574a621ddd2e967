//! Cargo feature -> Burn backend type and device: the one place that maps them.
//!
//! Library code stays generic over `B: TrrgOps`; binaries, examples and benches write
//! `train::<TrainBackend>(.., &device()?)` and pick the backend with a cargo feature of
//! trrg-core, forwarded by the root package and trrg-cli:
//!
//! | feature | backend | devices (`TRRG_DEVICE`) |
//! |---|---|---|
//! | `flex` (default) | [`burn::backend::Flex`]: CPU, gemm + rayon | `cpu` |
//! | `ndarray` | `burn::backend::NdArray`: CPU, ndarray | `cpu` |
//! | `wgpu` | `burn::backend::Wgpu`: Vulkan / Metal / DX12 through wgpu | `gpu:N` (discrete), `igpu:N` (integrated), `vgpu:N` (virtual), `cpu` (software adapter, e.g. lavapipe); default: the best adapter |
//! | `tch` | `burn::backend::LibTorch`: LibTorch 2.9 | `cpu` (default), `cuda:N`, `mps` |
//! | `cuda` | `burn::backend::Cuda`: CubeCL CUDA | `cuda:N` (default `cuda:0`) |
//!
//! When several features are on (the default `flex` stays on unless
//! `--no-default-features`), the first of `cuda`, `tch`, `wgpu`, `ndarray`, `flex` wins, so
//! `cargo run --release --features wgpu --example train_iu_xray` runs on wgpu.

#[cfg(not(any(
    feature = "flex",
    feature = "ndarray",
    feature = "wgpu",
    feature = "tch",
    feature = "cuda"
)))]
compile_error!("trrg_core::backend needs one backend feature: flex, ndarray, wgpu, tch or cuda");

/// The inference backend selected by cargo features.
#[cfg(feature = "cuda")]
pub type Backend = burn::backend::Cuda;
/// The inference backend selected by cargo features.
#[cfg(all(feature = "tch", not(feature = "cuda")))]
pub type Backend = burn::backend::LibTorch;
/// The inference backend selected by cargo features.
#[cfg(all(feature = "wgpu", not(any(feature = "cuda", feature = "tch"))))]
pub type Backend = burn::backend::Wgpu;
/// The inference backend selected by cargo features.
#[cfg(all(
    feature = "ndarray",
    not(any(feature = "cuda", feature = "tch", feature = "wgpu"))
))]
pub type Backend = burn::backend::NdArray;
/// The inference backend selected by cargo features.
#[cfg(all(
    feature = "flex",
    not(any(
        feature = "cuda",
        feature = "tch",
        feature = "wgpu",
        feature = "ndarray"
    ))
))]
pub type Backend = burn::backend::Flex;

/// The training backend: [`Backend`] with automatic differentiation.
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// The device type of [`Backend`].
pub type Device = burn::tensor::Device<Backend>;

/// The name of the selected backend (`flex`, `ndarray`, `wgpu`, `tch`, `cuda`), for logs and
/// `metrics.json`.
pub const NAME: &str = if cfg!(feature = "cuda") {
    "cuda"
} else if cfg!(feature = "tch") {
    "tch"
} else if cfg!(feature = "wgpu") {
    "wgpu"
} else if cfg!(feature = "ndarray") {
    "ndarray"
} else {
    "flex"
};

/// A device spec that the selected backend does not have.
#[derive(Debug, thiserror::Error)]
#[error("device `{spec}` is not a {backend} device (expected {expected})")]
pub struct DeviceError {
    spec: String,
    backend: &'static str,
    expected: &'static str,
}

/// The device named by the `TRRG_DEVICE` environment variable, or the backend's default device
/// (see the module table).
pub fn device() -> Result<Device, DeviceError> {
    match std::env::var("TRRG_DEVICE") {
        Ok(spec) if !spec.trim().is_empty() => parse_device(&spec),
        _ => Ok(Default::default()),
    }
}

/// Several devices from a comma-separated list (`--devices cuda:0,cuda:1`); `cpu,cpu` on a CPU
/// backend gives two data-parallel workers on the same device.
pub fn parse_devices(list: &str) -> Result<Vec<Device>, DeviceError> {
    list.split(',').map(|s| parse_device(s.trim())).collect()
}

#[cfg(any(feature = "cuda", feature = "tch", feature = "wgpu"))]
fn index(spec: &str, prefix: &str) -> Option<usize> {
    spec.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|n| n.parse().ok())
}

/// One device from its spec (see the module table).
pub fn parse_device(spec: &str) -> Result<Device, DeviceError> {
    let spec = spec.trim().to_ascii_lowercase();
    let err = |expected| DeviceError {
        spec: spec.clone(),
        backend: NAME,
        expected,
    };
    #[cfg(feature = "cuda")]
    {
        if spec == "cuda" {
            return Ok(Default::default());
        }
        index(&spec, "cuda")
            .map(burn::backend::cuda::CudaDevice::new)
            .ok_or_else(|| err("`cuda` or `cuda:N`"))
    }
    #[cfg(all(feature = "tch", not(feature = "cuda")))]
    {
        use burn::backend::libtorch::LibTorchDevice;
        match spec.as_str() {
            "cpu" => Ok(LibTorchDevice::Cpu),
            "mps" => Ok(LibTorchDevice::Mps),
            "cuda" => Ok(LibTorchDevice::Cuda(0)),
            _ => index(&spec, "cuda")
                .map(LibTorchDevice::Cuda)
                .ok_or_else(|| err("`cpu`, `cuda:N` or `mps`")),
        }
    }
    #[cfg(all(feature = "wgpu", not(any(feature = "cuda", feature = "tch"))))]
    {
        use burn::backend::wgpu::WgpuDevice;
        match spec.as_str() {
            // `best` is wgpu's old name of the default device (`BestAvailable`, deprecated).
            "default" | "best" => Ok(WgpuDevice::DefaultDevice),
            "cpu" => Ok(WgpuDevice::Cpu),
            _ => index(&spec, "gpu")
                .map(WgpuDevice::DiscreteGpu)
                .or_else(|| index(&spec, "igpu").map(WgpuDevice::IntegratedGpu))
                .or_else(|| index(&spec, "vgpu").map(WgpuDevice::VirtualGpu))
                .ok_or_else(|| err("`default`, `best`, `cpu`, `gpu:N`, `igpu:N` or `vgpu:N`")),
        }
    }
    #[cfg(not(any(feature = "cuda", feature = "tch", feature = "wgpu")))]
    {
        match spec.as_str() {
            "cpu" => Ok(Default::default()),
            _ => Err(err("`cpu`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_of_the_selected_backend() {
        assert!(parse_device("cpu").is_ok() || NAME == "cuda");
        let error = parse_device("quantum:3").unwrap_err().to_string();
        assert!(
            error.contains("quantum:3") && error.contains(NAME),
            "{error}"
        );
        if NAME != "cuda" {
            assert_eq!(parse_devices("cpu, cpu").unwrap().len(), 2);
        }
    }
}
