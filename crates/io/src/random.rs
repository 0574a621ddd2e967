//! The random draws of a training forward pass (dropout masks, teacher-forcing coins), from a
//! stream a thread can own.
//!
//! A backend draws its random tensors from one generator per process (flex, ndarray), so two
//! threads that run forward passes side by side would take their masks in whatever order the
//! scheduler gives them, and a run would not repeat. Inside [`with_stream`], a thread's draws
//! through [`bernoulli`] and [`dropout`] come instead from its own generator, seeded by the
//! caller: the data-parallel workers each take their own stream and run side by side, and a
//! run still repeats exactly. Outside it, both draw from the backend, as burn's
//! `Tensor::random` and `Dropout::forward` do, with the same results.
//!
//! The model crates draw every random number of a forward pass through here. burn's own
//! modules that have a dropout inside (`TransformerEncoder`, used by the ViT and BERT encoders)
//! still draw from the backend; a caller checks their rates before running passes side by side.

use std::cell::RefCell;

use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static STREAM: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Puts the thread's previous stream back when [`with_stream`] returns or unwinds.
struct Restore(Option<StdRng>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        STREAM.with(|s| *s.borrow_mut() = previous);
    }
}

/// Runs `f` with this thread's draws taken from a generator seeded with `seed`; the thread's
/// previous stream (or none) is back afterwards.
pub fn with_stream<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let previous = STREAM.with(|s| s.borrow_mut().replace(StdRng::seed_from_u64(seed)));
    let _restore = Restore(previous);
    f()
}

/// A tensor of ones with probability `p` and zeros otherwise: from the thread's stream inside
/// [`with_stream`] (an f32 drawn uniform in [0, 1) below `p`), from the backend otherwise
/// (`Tensor::random` with `Distribution::Bernoulli(p)`).
pub fn bernoulli<B: Backend, const D: usize>(
    shape: [usize; D],
    p: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let drawn = STREAM.with(|s| {
        s.borrow_mut().as_mut().map(|rng| {
            let n = shape.iter().product();
            let mask: Vec<f32> = (0..n)
                .map(|_| f32::from(u8::from(rng.random::<f64>() < p)))
                .collect();
            TensorData::new(mask, shape)
        })
    });
    match drawn {
        Some(data) => Tensor::from_data(data, device),
        None => Tensor::random(shape, Distribution::Bernoulli(p), device),
    }
}

/// `dropout.forward(input)` with its mask from [`bernoulli`]: in training (an autodiff
/// backend) each element is zeroed with the module's probability and the rest scaled by
/// `1 / (1 - prob)`; unchanged otherwise.
pub fn dropout<B: Backend, const D: usize>(dropout: &Dropout, input: Tensor<B, D>) -> Tensor<B, D> {
    if !B::ad_enabled(&input.device()) || dropout.prob == 0.0 {
        return input;
    }
    let keep = 1.0 - dropout.prob;
    let mask = bernoulli(input.dims(), keep, &input.device());
    input * mask * (1.0 / keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::DropoutConfig;

    type A = Autodiff<Flex>;

    /// Whether this thread is inside [`with_stream`].
    fn in_stream() -> bool {
        STREAM.with(|s| s.borrow().is_some())
    }

    fn values<const D: usize>(t: Tensor<A, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// The only test here that uses the backend's generator, which is one per process: tests
    /// run on parallel threads, so another test drawing from it would interleave.
    #[test]
    fn outside_a_stream_the_draws_are_the_backends_and_inside_they_are_not() {
        let device = Default::default();
        let x = Tensor::<A, 2>::ones([16, 32], &device);
        let module = DropoutConfig::new(0.3).init();
        A::seed(&device, 7);
        let ours = values(dropout(&module, x.clone()));
        A::seed(&device, 7);
        let burns = values(module.forward(x));
        assert_eq!(ours, burns);
        A::seed(&device, 9);
        let ours = values(bernoulli::<A, 2>([4, 8], 0.4, &device));
        A::seed(&device, 9);
        let burns = values(Tensor::<A, 2>::random(
            [4, 8],
            Distribution::Bernoulli(0.4),
            &device,
        ));
        assert_eq!(ours, burns);
        assert!(!in_stream());
        // A stream's draws leave the backend's generator where it was.
        let draw = || values(Tensor::<A, 1>::random([8], Distribution::Default, &device));
        A::seed(&device, 3);
        with_stream(11, || bernoulli::<A, 2>([64, 64], 0.9, &device));
        let after = draw();
        A::seed(&device, 3);
        assert_eq!(after, draw());
    }

    #[test]
    fn a_stream_repeats_on_any_thread() {
        let device = Default::default();
        let draw = move || with_stream(11, || values(bernoulli::<A, 2>([64, 64], 0.9, &device)));
        let here = draw();
        let there = std::thread::spawn(draw).join().unwrap();
        assert_eq!(here, there);
        let ones = here.iter().filter(|&&v| v == 1.0).count();
        assert!(here.iter().all(|&v| v == 0.0 || v == 1.0));
        // 4096 draws at p = 0.9: the share of ones is within 4 standard deviations.
        assert!((ones as f64 / 4096.0 - 0.9).abs() < 4.0 * (0.09f64 / 4096.0).sqrt());
        let other = with_stream(12, || values(bernoulli::<A, 2>([64, 64], 0.9, &device)));
        assert_ne!(here, other);
        assert!(!in_stream());
    }

    #[test]
    fn dropout_in_a_stream_zeroes_and_scales() {
        let device = Default::default();
        let module = DropoutConfig::new(0.25).init();
        let out = with_stream(5, || {
            assert!(in_stream());
            values(dropout(&module, Tensor::<A, 2>::ones([32, 32], &device)))
        });
        assert!(out
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        assert!(out.contains(&0.0));
        // Without autodiff, dropout is the identity.
        let plain = Tensor::<Flex, 2>::ones([4, 4], &device);
        let kept = with_stream(5, || dropout(&module, plain));
        assert_eq!(kept.into_data().to_vec::<f32>().unwrap(), vec![1.0; 16]);
    }

    #[test]
    fn a_stream_is_restored_after_a_panic() {
        let result = std::panic::catch_unwind(|| with_stream(1, || panic!("inside")));
        assert!(result.is_err());
        assert!(!in_stream());
        with_stream(1, || {
            with_stream(2, || assert!(in_stream()));
            assert!(in_stream());
        });
        assert!(!in_stream());
    }
}
