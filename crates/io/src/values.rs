//! A tensor's values read back to the host, as plain vectors, whatever the backend stores. Each
//! call waits for the device, so a model's forward pass should not need one (trrg-model's clue
//! words still read their decisions back, once per batch).

use burn::prelude::*;

/// The values of a boolean tensor, row-major, on any backend (wgpu and others store booleans
/// as integers, so `TensorData::into_vec::<bool>` does not work everywhere).
pub fn bool_values<B: Backend, const D: usize>(tensor: Tensor<B, D, Bool>) -> Vec<bool> {
    tensor
        .int()
        .into_data()
        .iter::<i64>()
        .map(|v| v != 0)
        .collect()
}

/// The values of a float tensor as f32, row-major, whatever float type it computes in.
pub fn f32_values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 above")
}

/// The values of an integer tensor as i64, row-major.
pub fn i64_values<B: Backend, const D: usize>(tensor: Tensor<B, D, Int>) -> Vec<i64> {
    tensor
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("converted to i64 above")
}
