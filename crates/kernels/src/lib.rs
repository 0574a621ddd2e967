//! trrg's own fused kernels, through Burn 0.21's backend extension.
//!
//! [`TrrgOps`] is a backend trait with the composite versions of a few ops as its default
//! bodies ([`composite`]: burn's own op sequences, so a backend that takes the defaults computes
//! exactly what it computed before). Two implementations override them:
//! - **Flex** (feature `flex`): GELU forward and backward in one pass over the buffer, with an
//!   erf and an exp that vectorize (dispatched at run time to AVX-512, AVX2 or the baseline);
//!   the backward passes of softmax and layer norm row by row over rayon (their forward passes
//!   are Flex's own fused kernels); multi-head attention with one task per (batch, head), the
//!   heads read as strided views of the projections, forward and backward. The feature also
//!   turns on the gemm crate's AVX-512 kernels, which burn-flex's products then use.
//! - **`Autodiff<B>`** for any `B: TrrgOps` (feature `autodiff`): each op is one autodiff node
//!   whose backward pass calls `B`'s backward op, instead of the 5–10 nodes each way of the
//!   composite version.
//!
//! Every other backend (NdArray, LibTorch, Wgpu, Cuda) implements the trait with its defaults
//! and keeps working unchanged. Model code takes `B: TrrgOps` (and [`TrrgAutodiff`] for
//! training) and calls the tensor-level functions [`gelu`], [`softmax`] and [`layer_norm`], or
//! [`nn`]'s versions of burn-nn's attention and transformer encoder.
//!
//! The pattern is the Burn book's "Backend Extension" chapter (custom operations with their own
//! backward pass); the kernels are this project's own code.
#![warn(missing_docs)]

#[cfg(feature = "autodiff")]
mod autodiff;
pub mod composite;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod flex_attention;
pub mod nn;
#[cfg(feature = "flex")]
pub mod simd;

use burn::nn::LayerNorm;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{BoolTensor, FloatTensor};
use burn::tensor::{Tensor, TensorPrimitive};

/// The ops trrg fuses, with burn's composite versions as default bodies.
///
/// Softmax and layer norm work on the last dimension; every tensor is float.
pub trait TrrgOps: Backend {
    /// GELU in its erf form, `x Φ(x) = 0.5 x (1 + erf(x / √2))`, element by element.
    fn trrg_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composite::gelu::<Self>(x)
    }

    /// The gradient of [`TrrgOps::trrg_gelu`] at `x`, times `grad`.
    fn trrg_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composite::gelu_backward::<Self>(x, grad)
    }

    /// Softmax over the last dimension.
    fn trrg_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composite::softmax::<Self>(x)
    }

    /// The gradient of [`TrrgOps::trrg_softmax`] given its output `y`:
    /// `y ⊙ (grad − Σ grad ⊙ y)`, the sum over the last dimension.
    fn trrg_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composite::softmax_backward::<Self>(y, grad)
    }

    /// Layer norm over the last dimension: `(x − mean) / sqrt(var + epsilon) ⊙ gamma + beta`,
    /// the variance biased.
    fn trrg_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: Option<FloatTensor<Self>>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        composite::layer_norm::<Self>(x, gamma, beta, epsilon)
    }

    /// The gradients of [`TrrgOps::trrg_layer_norm`] with respect to `x`, `gamma` and `beta`
    /// (the last two summed over every row), given the output's gradient `grad`.
    fn trrg_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        composite::layer_norm_backward::<Self>(x, gamma, grad, epsilon)
    }

    /// Multi-head attention on the projections' own layout, without a dropout:
    /// `softmax(q kᵀ / √d_head) v` per head, where `q` is `[batch, n_q, heads · d_head]`, `k`
    /// and `v` are `[batch, n_kv, heads · d_head]`, and the scores of keys where `padding`
    /// (`[batch, n_kv]`) is true are set to `masked` before the softmax (burn's `mask_fill`).
    /// Returns `[batch, n_q, heads · d_head]`, the heads merged as burn's
    /// `MultiHeadAttention` merges them.
    fn trrg_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        padding: Option<BoolTensor<Self>>,
        heads: usize,
        masked: f64,
    ) -> FloatTensor<Self> {
        composite::attention::<Self>(q, k, v, padding, heads, masked)
    }

    /// The gradients `[dq, dk, dv]` of [`TrrgOps::trrg_attention`] given its output's gradient
    /// `grad` (masked keys get none).
    fn trrg_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        padding: Option<BoolTensor<Self>>,
        grad: FloatTensor<Self>,
        heads: usize,
        masked: f64,
    ) -> [FloatTensor<Self>; 3] {
        composite::attention_backward::<Self>(q, k, v, padding, grad, heads, masked)
    }
}

/// An autodiff backend whose inner backend has the fused ops too (the bound training code
/// takes, so that `model.valid()` runs them as well).
pub trait TrrgAutodiff: AutodiffBackend<InnerBackend: TrrgOps> + TrrgOps {}

impl<B> TrrgAutodiff for B
where
    B: AutodiffBackend + TrrgOps,
    B::InnerBackend: TrrgOps,
{
}

#[cfg(feature = "ndarray")]
impl TrrgOps for burn::backend::NdArray {}
#[cfg(feature = "wgpu")]
impl TrrgOps for burn::backend::Wgpu {}
#[cfg(feature = "tch")]
impl TrrgOps for burn::backend::LibTorch {}
#[cfg(feature = "cuda")]
impl TrrgOps for burn::backend::Cuda {}

fn float<B: Backend, const D: usize>(x: Tensor<B, D>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

/// GELU (erf form) through [`TrrgOps::trrg_gelu`].
pub fn gelu<B: TrrgOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    tensor(B::trrg_gelu(float(x)))
}

/// Softmax over the last dimension through [`TrrgOps::trrg_softmax`].
pub fn softmax<B: TrrgOps, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    tensor(B::trrg_softmax(float(x)))
}

/// The epsilon of burn's `LayerNormConfig` by default, for modules built without their own.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// burn's [`LayerNorm::forward`] through [`TrrgOps::trrg_layer_norm`]. burn keeps the module's
/// epsilon private, so the caller passes the one its config gave the module.
pub fn layer_norm<B: TrrgOps, const D: usize>(
    norm: &LayerNorm<B>,
    x: Tensor<B, D>,
    epsilon: f64,
) -> Tensor<B, D> {
    tensor(B::trrg_layer_norm(
        float(x),
        float(norm.gamma.val()),
        norm.beta.as_ref().map(|beta| float(beta.val())),
        epsilon,
    ))
}

#[cfg(test)]
mod tests;
