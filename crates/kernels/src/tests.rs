//! Each fused op against its composite version on `Autodiff<Flex>`: outputs and the gradients
//! of every input, to 1e-5 relative to the largest magnitude of the reference (the composite
//! ops sum in another order, so bit equality is not expected). The composite backward passes,
//! which the other backends run, are checked the same way against burn's autodiff.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{activation, Distribution, Tensor};

use crate::{composite, float, tensor, TrrgOps};

type A = Autodiff<Flex>;

fn close<const D: usize>(what: &str, got: Tensor<Flex, D>, want: Tensor<Flex, D>) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let scale = want.clone().abs().max().into_scalar().max(1e-30);
    let diff = (got - want).abs().max().into_scalar();
    assert!(
        diff <= 1e-5 * scale,
        "{what}: max difference {diff:e}, 1e-5 relative to {scale:e} allowed"
    );
}

fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<A, D> {
    A::seed(&Default::default(), seed);
    Tensor::random(shape, Distribution::Normal(0.0, 1.5), &Default::default())
}

/// `Σ y ⊙ w` for a fixed random `w`, so every output element gets its own gradient.
fn loss<const D: usize>(y: Tensor<A, D>, seed: u64) -> Tensor<A, 1> {
    let w = random(y.dims(), seed).detach();
    (y * w).sum()
}

/// Runs `fused` and `reference` on the same inputs and compares outputs and input gradients.
fn compare<const D: usize>(
    what: &str,
    x: Tensor<A, D>,
    fused: impl Fn(Tensor<A, D>) -> Tensor<A, D>,
    reference: impl Fn(Tensor<A, D>) -> Tensor<A, D>,
) {
    let (xa, xb) = (x.clone().require_grad(), x.require_grad());
    let (ya, yb) = (fused(xa.clone()), reference(xb.clone()));
    close(
        &format!("{what} forward"),
        ya.clone().inner(),
        yb.clone().inner(),
    );
    let (ga, gb) = (loss(ya, 7).backward(), loss(yb, 7).backward());
    close(
        &format!("{what} gradient"),
        xa.grad(&ga).unwrap(),
        xb.grad(&gb).unwrap(),
    );
}

#[test]
fn gelu_matches_burns() {
    // Above and below one parallel chunk, and through a transposed (strided) view.
    for shape in [[3, 5, 7], [4, 100, 200]] {
        compare("gelu", random(shape, 1), crate::gelu, activation::gelu);
        compare(
            "gelu of a transposed view",
            random(shape, 2).swap_dims(1, 2),
            crate::gelu,
            activation::gelu,
        );
    }
}

#[test]
fn softmax_matches_burns() {
    for shape in [[2, 3, 5, 67], [1, 2, 70, 9]] {
        compare("softmax", random(shape, 3), crate::softmax, |x| {
            activation::softmax(x, 3)
        });
        compare(
            "softmax of a transposed view",
            random(shape, 4).swap_dims(2, 3),
            crate::softmax,
            |x| activation::softmax(x, 3),
        );
    }
}

#[test]
fn layer_norm_matches_burns_with_and_without_beta() {
    for bias in [true, false] {
        for shape in [[3, 37, 96], [2, 5, 13]] {
            let d = shape[2];
            let mut norm: LayerNorm<A> = LayerNormConfig::new(d)
                .with_epsilon(1e-6)
                .with_bias(bias)
                .init(&Default::default());
            // Non-trivial gamma and beta, so their gradients and use are checked.
            norm.gamma = Param::from_tensor(random([d], 11) + 1.0);
            norm.beta = norm.beta.map(|_| Param::from_tensor(random([d], 12)));
            let x = random(shape, 5);
            let (xa, xb) = (x.clone().require_grad(), x.require_grad());
            let ya = crate::layer_norm(&norm, xa.clone(), 1e-6);
            let yb = norm.forward(xb.clone());
            close("layer norm forward", ya.clone().inner(), yb.clone().inner());
            let (ga, gb) = (loss(ya, 8).backward(), loss(yb, 8).backward());
            close(
                "layer norm dx",
                xa.grad(&ga).unwrap(),
                xb.grad(&gb).unwrap(),
            );
            close(
                "layer norm dgamma",
                norm.gamma.val().grad(&ga).unwrap(),
                norm.gamma.val().grad(&gb).unwrap(),
            );
            if let Some(beta) = &norm.beta {
                close(
                    "layer norm dbeta",
                    beta.val().grad(&ga).unwrap(),
                    beta.val().grad(&gb).unwrap(),
                );
            }
        }
    }
}

/// The composite backward passes (the default bodies every other backend runs) against the
/// Flex kernels, which the tests above tie to burn's autodiff.
#[test]
fn composite_backward_passes_match_the_kernels() {
    let x: Tensor<Flex, 3> = random([4, 9, 33], 21).inner();
    let g: Tensor<Flex, 3> = random([4, 9, 33], 22).inner();
    let gamma: Tensor<Flex, 1> = random([33], 23).inner();
    let y = crate::softmax(x.clone());
    close::<3>(
        "softmax backward",
        tensor(composite::softmax_backward::<Flex>(
            float(y.clone()),
            float(g.clone()),
        )),
        tensor(Flex::trrg_softmax_backward(float(y), float(g.clone()))),
    );
    close::<3>(
        "gelu backward",
        tensor(composite::gelu_backward::<Flex>(
            float(x.clone()),
            float(g.clone()),
        )),
        tensor(Flex::trrg_gelu_backward(float(x.clone()), float(g.clone()))),
    );
    let composite = composite::layer_norm_backward::<Flex>(
        float(x.clone()),
        float(gamma.clone()),
        float(g.clone()),
        1e-5,
    );
    let fused = Flex::trrg_layer_norm_backward(float(x), float(gamma), float(g), 1e-5);
    let [cx, cgamma, cbeta] = composite;
    let [fx, fgamma, fbeta] = fused;
    close::<3>("layer norm dx", tensor(cx), tensor(fx));
    close::<1>("layer norm dgamma", tensor(cgamma), tensor(fgamma));
    close::<1>("layer norm dbeta", tensor(cbeta), tensor(fbeta));
}

#[test]
fn kernels_do_not_depend_on_the_thread_count() {
    let x: Tensor<Flex, 2> = random([300, 257], 31).inner();
    let g: Tensor<Flex, 2> = random([300, 257], 32).inner();
    let gamma: Tensor<Flex, 1> = random([257], 33).inner();
    let run = || {
        let [dx, dgamma, dbeta] = Flex::trrg_layer_norm_backward(
            float(x.clone()),
            float(gamma.clone()),
            float(g.clone()),
            1e-5,
        );
        let gelu = Flex::trrg_gelu_backward(float(x.clone()), float(g.clone()));
        [dx, dgamma, dbeta, gelu].map(|t| t.into_data().to_vec::<f32>().unwrap())
    };
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    assert_eq!(pool(1).install(run), pool(3).install(run));
}

#[test]
fn transformer_encoder_matches_burns_forward() {
    use burn::nn::transformer::{TransformerEncoderConfig, TransformerEncoderInput};
    for norm_first in [false, true] {
        let encoder = TransformerEncoderConfig::new(32, 64, 4, 2)
            .with_dropout(0.0)
            .with_norm_first(norm_first)
            .with_layer_norm_eps(1e-6)
            .init::<A>(&Default::default());
        let x = random([3, 11, 32], 41);
        let padding = Tensor::<A, 2>::random(
            [3, 11],
            Distribution::Uniform(0.0, 1.0),
            &Default::default(),
        )
        .greater_elem(0.7);
        compare(
            "transformer encoder",
            x,
            |x| crate::nn::transformer_encoder(&encoder, x, Some(padding.clone()), 1e-6),
            |x| encoder.forward(TransformerEncoderInput::new(x).mask_pad(padding.clone())),
        );
    }
}

/// The fused attention against the composite version on `Autodiff<Flex>`, with padding (one
/// batch row fully masked), cross-attention shapes, and the gradients of q, k and v.
#[test]
fn attention_matches_the_composite_version() {
    let device = Default::default();
    let (batch, n_q, n_kv, heads, d) = (3, 7, 10, 4, 32);
    let mut pad = vec![false; batch * n_kv];
    pad[n_kv + 6..2 * n_kv].iter_mut().for_each(|p| *p = true); // row 1: keys 6.. masked
    pad[2 * n_kv..].iter_mut().for_each(|p| *p = true); // row 2: every key masked
    let padding = Tensor::<A, 2, burn::tensor::Bool>::from_data(
        burn::tensor::TensorData::new(pad, [batch, n_kv]),
        &device,
    );
    for padding in [None, Some(padding)] {
        let inputs = [
            random([batch, n_q, d], 51),
            random([batch, n_kv, d], 52),
            random([batch, n_kv, d], 53),
        ]
        .map(|x| x.require_grad());
        let pad = || padding.clone().map(Tensor::into_primitive);
        let run = |fused: bool| {
            let [q, k, v] = inputs.clone().map(float);
            let out: Tensor<A, 3> = tensor(match fused {
                true => A::trrg_attention(q, k, v, pad(), heads, -65504.0),
                false => composite::attention::<A>(q, k, v, pad(), heads, -65504.0),
            });
            let grads = loss(out.clone(), 54).backward();
            (out.inner(), inputs.clone().map(|x| x.grad(&grads).unwrap()))
        };
        let (fused, fused_grads) = run(true);
        let (reference, reference_grads) = run(false);
        close("attention forward", fused, reference);
        for ((name, a), b) in ["dq", "dk", "dv"]
            .iter()
            .zip(fused_grads)
            .zip(reference_grads)
        {
            close(&format!("attention {name}"), a, b);
        }
    }
}

/// The composite attention backward (what other backends run) against the Flex kernel.
#[test]
fn composite_attention_backward_matches_the_kernel() {
    let [q, k, v] = [
        random([2, 5, 24], 61),
        random([2, 9, 24], 62),
        random([2, 9, 24], 63),
    ]
    .map(|x| x.inner());
    let g: Tensor<Flex, 3> = random([2, 5, 24], 64).inner();
    let args = || {
        (
            float(q.clone()),
            float(k.clone()),
            float(v.clone()),
            float(g.clone()),
        )
    };
    let (q1, k1, v1, g1) = args();
    let reference = composite::attention_backward::<Flex>(q1, k1, v1, None, g1, 3, -1e4);
    let (q2, k2, v2, g2) = args();
    let fused = Flex::trrg_attention_backward(q2, k2, v2, None, g2, 3, -1e4);
    for ((name, a), b) in ["dq", "dk", "dv"].iter().zip(fused).zip(reference) {
        close::<3>(&format!("attention {name}"), tensor(a), tensor(b));
    }
}
