//! The composite versions: the default bodies of [`TrrgOps`](crate::TrrgOps), built from a
//! backend's primitive ops. The forward passes are burn 0.21's own (`ActivationOps::gelu`,
//! `ActivationOps::softmax`, `ModuleOps::layer_norm`), so a backend that keeps the defaults
//! computes what it did before this crate existed.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
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
