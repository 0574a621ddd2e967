//! BatchNorm over `[batch, channels, height, width]` computed on rows of `height * width`.
//!
//! burn's `BatchNorm::forward` takes the statistics through `swap_dims(0, 1)` (a full strided
//! copy, twice) and normalizes with `[1, channels, 1, 1]` operands, which broadcast over the
//! middle dimension. On the flex backend neither has a fast path: in a stage-1 step of the tiny
//! preset the stem's three BatchNorms took about 40 % of the time, forward and backward
//! (docs/performance.md). Here every full-size operation is either element-wise on contiguous
//! operands or a per-row scalar (`[batch, channels, 1]` against `[batch, channels, h * w]`), the
//! two layouts backends handle fastest, and the reductions run over the contiguous last
//! dimension. The module, its record and its running statistics are burn's; only the arithmetic
//! is arranged differently, so results agree with `BatchNorm::forward` to float rounding
//! (`(x - mean) * (gamma / std)` instead of `(x - mean) / std * gamma`, and the sums in another
//! order).

use burn::nn::BatchNorm;
use burn::prelude::*;
use trrg_kernels::TrrgOps;

/// `norm` applied to `x`, as `BatchNorm::forward` computes it: batch statistics (biased
/// variance), with the running statistics updated by the module's momentum, on an autodiff
/// backend; the running statistics otherwise.
///
/// # Shapes
/// - x: `[batch, channels, height, width]` -> the same
pub(crate) fn batch_norm_2d<B: TrrgOps>(norm: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [batch, channels, height, width] = x.dims();
    let rows = x.reshape([batch, channels, height * width]); // [batch, channels, h * w]
    let device = rows.device();
    let training = B::ad_enabled(&device);
    let count = (batch * height * width) as f64;
    // [1, channels, 1]: sums over each row, then over the batch.
    let mean = match training {
        true => rows.clone().sum_dim(2).sum_dim(0) / count,
        false => stat(norm.running_mean.value(), channels, &device),
    };
    let centered = rows - mean.clone().repeat_dim(0, batch); // [batch, channels, h * w]
    let var = match training {
        true => {
            let var = (centered.clone() * centered.clone()).sum_dim(2).sum_dim(0) / count;
            update_running(norm, mean, var.clone());
            var
        }
        false => stat(norm.running_var.value(), channels, &device),
    };
    // [1, channels, 1] -> [batch, channels, 1]: a per-row scalar for every row.
    let scale = norm.gamma.val().reshape([1, channels, 1]) / (var + norm.epsilon).sqrt();
    let beta = norm.beta.val().reshape([1, channels, 1]);
    let out = centered * scale.repeat_dim(0, batch) + beta.repeat_dim(0, batch);
    out.reshape([batch, channels, height, width])
}

/// A running statistic as `[1, channels, 1]` on `device`.
fn stat<B: TrrgOps>(s: Tensor<B, 1>, channels: usize, device: &B::Device) -> Tensor<B, 3> {
    s.to_device(device).reshape([1, channels, 1])
}

/// The running statistics' momentum update, as `BatchNorm::forward` makes it.
fn update_running<B: TrrgOps>(norm: &BatchNorm<B>, mean: Tensor<B, 3>, var: Tensor<B, 3>) {
    let device = mean.device();
    let channels = mean.dims()[1];
    let step = |running: Tensor<B, 1>, batch: Tensor<B, 3>| {
        running.to_device(&device).mul_scalar(1.0 - norm.momentum)
            + batch.detach().mul_scalar(norm.momentum).reshape([channels])
    };
    let mean = step(norm.running_mean.value_sync(), mean);
    let var = step(norm.running_var.value_sync(), var);
    norm.running_mean.update(mean.detach());
    norm.running_var.update(var.detach());
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    fn max_rel(a: Tensor<Flex, 1>, b: Tensor<Flex, 1>) -> f32 {
        let scale = b.clone().abs().max().into_scalar().max(1e-6);
        (a - b).abs().max().into_scalar() / scale
    }

    fn flat<const D: usize>(t: Tensor<Flex, D>) -> Tensor<Flex, 1> {
        let n = t.shape().num_elements();
        t.reshape([n])
    }

    #[test]
    fn matches_burns_batch_norm_in_training_and_inference() {
        let device = Default::default();
        let mut ours = BatchNormConfig::new(3).init::<A>(&device);
        let random = |mean| Tensor::random([3], Distribution::Normal(mean, 0.5), &device);
        ours.gamma = burn::module::Param::from_tensor(random(1.0));
        ours.beta = burn::module::Param::from_tensor(random(0.0));
        let burns = BatchNorm {
            gamma: ours.gamma.clone(),
            beta: ours.beta.clone(),
            running_mean: burn::module::RunningState::new(ours.running_mean.value()),
            running_var: burn::module::RunningState::new(ours.running_var.value()),
            momentum: ours.momentum,
            epsilon: ours.epsilon,
        };
        let x = Tensor::<A, 4>::random([4, 3, 5, 6], Distribution::Normal(1.5, 2.0), &device)
            .require_grad();
        let weight = Tensor::<A, 4>::random([4, 3, 5, 6], Distribution::Default, &device);
        // Two training steps (the second reads the first's running statistics), then inference.
        for _ in 0..2 {
            let got = batch_norm_2d(&ours, x.clone());
            let want = burns.forward(x.clone());
            assert!(max_rel(flat(got.clone().inner()), flat(want.clone().inner())) < 1e-5);
            let g_got = (got * weight.clone()).sum().backward();
            let g_want = (want * weight.clone()).sum().backward();
            let grad = |g: &_, t: &Tensor<A, 4>| flat(t.grad(g).unwrap());
            assert!(
                max_rel(grad(&g_got, &x), grad(&g_want, &x)) < 1e-5,
                "x grad"
            );
            for (name, p, q) in [
                ("gamma", &ours.gamma, &burns.gamma),
                ("beta", &ours.beta, &burns.beta),
            ] {
                let got = p.val().grad(&g_got).unwrap();
                let want = q.val().grad(&g_want).unwrap();
                assert!(max_rel(got, want) < 1e-5, "{name} grad");
            }
        }
        for (got, want) in [
            (ours.running_mean.value(), burns.running_mean.value()),
            (ours.running_var.value(), burns.running_var.value()),
        ] {
            assert!(
                max_rel(got.inner(), want.inner()) < 1e-5,
                "running statistics"
            );
        }
        // The running statistics moved away from their initial zeros and ones.
        assert!(ours.running_mean.value().abs().max().into_scalar() > 0.1);
        let (ours, burns) = (ours.valid(), burns.valid());
        let x = x.inner();
        let got = batch_norm_2d(&ours, x.clone());
        assert!(
            max_rel(flat(got), flat(burns.forward(x))) < 1e-5,
            "inference"
        );
    }
}
