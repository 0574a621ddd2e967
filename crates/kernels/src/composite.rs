//! The composite versions: the default bodies of [`TrrgOps`](crate::TrrgOps), built from a
//! backend's primitive ops. The forward passes are burn 0.21's own (`ActivationOps::gelu`,
//! `ActivationOps::softmax`, `ModuleOps::layer_norm`), so a backend that keeps the defaults
//! computes what it did before this crate existed.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{BoolTensor, FloatTensor};
use burn::tensor::{Shape, TensorMetadata};

/// burn's GELU.
pub fn gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::gelu(x)
}

/// burn's GELU gradient.
pub fn gelu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    B::gelu_backward(x, grad)
}

/// burn's softmax over the last dimension.
pub fn softmax<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let last = x.shape().num_dims() - 1;
    B::softmax(x, last)
}

/// `y ⊙ (grad − Σ grad ⊙ y)` over the last dimension.
pub fn softmax_backward<B: Backend>(y: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let last = y.shape().num_dims() - 1;
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), y.clone()), last);
    B::float_mul(y, B::float_sub(grad, dot))
}

/// burn's layer norm over the last dimension.
pub fn layer_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: Option<FloatTensor<B>>,
    epsilon: f64,
) -> FloatTensor<B> {
    B::layer_norm(x, gamma, beta, epsilon)
}

/// Layer norm's gradients `[dx, dgamma, dbeta]`, on `[rows, d]` views of `x` and `grad`:
/// with `x̂ = (x − mean) · rstd` and `g = grad ⊙ gamma`,
/// `dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))`, `dgamma = Σ_rows grad ⊙ x̂`,
/// `dbeta = Σ_rows grad`.
pub fn layer_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
    epsilon: f64,
) -> [FloatTensor<B>; 3] {
    let shape = x.shape();
    let d = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / d.max(1);
    let x = B::float_reshape(x, Shape::new([rows, d]));
    let grad = B::float_reshape(grad, Shape::new([rows, d]));
    let centered = B::float_sub(x.clone(), B::float_mean_dim(x, 1));
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), 1);
    let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, epsilon.into())));
    let x_hat = B::float_mul(centered, rstd.clone());
    let dbeta = B::float_sum_dim(grad.clone(), 0);
    let dgamma = B::float_sum_dim(B::float_mul(grad.clone(), x_hat.clone()), 0);
    let g = B::float_mul(grad, B::float_reshape(gamma, Shape::new([1, d])));
    let mean_g = B::float_mean_dim(g.clone(), 1);
    let mean_gx = B::float_mean_dim(B::float_mul(g.clone(), x_hat.clone()), 1);
    let dx = B::float_mul(
        B::float_sub(B::float_sub(g, mean_g), B::float_mul(x_hat, mean_gx)),
        rstd,
    );
    [
        B::float_reshape(dx, shape),
        B::float_reshape(dgamma, Shape::new([d])),
        B::float_reshape(dbeta, Shape::new([d])),
    ]
}

/// `[batch, n, heads · d_head]` -> `[batch, heads, n, d_head]`.
fn split_heads<B: Backend>(x: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
    let shape = x.shape();
    let (batch, n, d) = (shape[0], shape[1], shape[2]);
    B::float_swap_dims(
        B::float_reshape(x, Shape::new([batch, n, heads, d / heads])),
        1,
        2,
    )
}

/// `[batch, heads, n, d_head]` -> `[batch, n, heads · d_head]`.
fn merge_heads<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let (batch, heads, n, d_head) = (shape[0], shape[1], shape[2], shape[3]);
    B::float_reshape(
        B::float_swap_dims(x, 1, 2),
        Shape::new([batch, n, heads * d_head]),
    )
}

/// The attention weights `[batch, heads, n_q, n_kv]`, and the padding as
/// `[batch, 1, 1, n_kv]`: the scaled scores, `dropout` on them, the padded keys' scores set to
/// `masked`, then `softmax` over the keys (burn's `MultiHeadAttention` order).
fn attention_weights<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    padding: Option<BoolTensor<B>>,
    heads: usize,
    masked: f64,
    dropout: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
    softmax: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> (FloatTensor<B>, Option<BoolTensor<B>>) {
    let d_head = q.shape()[2] / heads;
    let (q, k) = (split_heads::<B>(q, heads), split_heads::<B>(k, heads));
    let scores = B::float_div_scalar(
        B::float_matmul(q, B::float_swap_dims(k, 2, 3)),
        (d_head as f32).sqrt().into(),
    );
    let scores = dropout(scores);
    let padding = padding.map(|padding| {
        let shape = padding.shape();
        B::bool_reshape(padding, Shape::new([shape[0], 1, 1, shape[1]]))
    });
    let scores = match &padding {
        Some(padding) => B::float_mask_fill(scores, padding.clone(), masked.into()),
        None => scores,
    };
    (softmax(scores), padding)
}

/// burn's `MultiHeadAttention` op sequence (head split, scaled scores, `mask_fill`, softmax,
/// weighted sum, head merge), without its dropout.
pub fn attention<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    padding: Option<BoolTensor<B>>,
    heads: usize,
    masked: f64,
) -> FloatTensor<B> {
    attention_with::<B>(q, k, v, padding, heads, masked, |s| s, softmax::<B>)
}

/// [`attention`] with a `dropout` on the scores (before the mask, as burn has it) and the
/// given `softmax`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_with<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    padding: Option<BoolTensor<B>>,
    heads: usize,
    masked: f64,
    dropout: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
    softmax: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<B> {
    let (weights, _) = attention_weights::<B>(q, k, padding, heads, masked, dropout, softmax);
    merge_heads::<B>(B::float_matmul(weights, split_heads::<B>(v, heads)))
}

/// The gradients `[dq, dk, dv]` of [`attention`]: with the weights `p`,
/// `dv = pᵀ g`, `ds = p ⊙ (g vᵀ − Σ (g vᵀ) ⊙ p) / √d_head` (0 at masked keys),
/// `dq = ds k`, `dk = dsᵀ q`, per head.
pub fn attention_backward<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    padding: Option<BoolTensor<B>>,
    grad: FloatTensor<B>,
    heads: usize,
    masked: f64,
) -> [FloatTensor<B>; 3] {
    let d_head = q.shape()[2] / heads;
    let (p, padding) = attention_weights::<B>(
        q.clone(),
        k.clone(),
        padding,
        heads,
        masked,
        |s| s,
        softmax::<B>,
    );
    let split = |x| split_heads::<B>(x, heads);
    let (q, k, v, grad) = (split(q), split(k), split(v), split(grad));
    let dv = B::float_matmul(B::float_swap_dims(p.clone(), 2, 3), grad.clone());
    let dp = B::float_matmul(grad, B::float_swap_dims(v, 2, 3));
    let ds = B::float_div_scalar(softmax_backward::<B>(p, dp), (d_head as f32).sqrt().into());
    let ds = match padding {
        Some(padding) => B::float_mask_fill(ds, padding, 0f32.into()),
        None => ds,
    };
    let dq = B::float_matmul(ds.clone(), k);
    let dk = B::float_matmul(B::float_swap_dims(ds, 2, 3), q);
    [dq, dk, dv].map(merge_heads::<B>)
}
