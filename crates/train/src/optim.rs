//! AdamW with two parameter groups (the visual encoder, everything else), each with its own
//! learning rate, and a third for the clue heads when their learning rate differs, plus
//! gradient accumulation and global-norm clipping.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use trrg_kernels::TrrgAutodiff;
use trrg_model::Trrg;

use crate::{Checkpoints, StageConfig};

type Adaptor<B> = OptimizerAdaptor<AdamW, Trrg<B>, B>;

/// Optimizer state of a stage.
pub struct Optimizers<B: TrrgAutodiff> {
    vision: Adaptor<B>,
    rest: Adaptor<B>,
    /// The clue heads' own group (refiner, locator, readout, spatial) when `clue_lr_scale` is not 1;
    /// otherwise they are in `rest`, as in runs before the option existed.
    heads: Option<(Adaptor<B>, f64)>,
    acc_vision: GradientsAccumulator<Trrg<B>>,
    acc_rest: GradientsAccumulator<Trrg<B>>,
    pending: usize,
    clip_norm: f64,
}

impl<B: TrrgAutodiff> Optimizers<B> {
    /// AdamW (betas 0.9/0.999, eps 1e-8) with the stage's weight decay, global gradient-norm
    /// clipping (`grad_clip_norm`, over both groups) and per-tensor clipping (`grad_clip`).
    pub fn new(stage: &StageConfig) -> Self {
        let config = || {
            AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(stage.weight_decay as f32)
                .with_grad_clipping(
                    (stage.grad_clip > 0.0)
                        .then_some(GradientClippingConfig::Norm(stage.grad_clip as f32)),
                )
                .init()
        };
        Self {
            vision: config(),
            rest: config(),
            heads: (stage.clue_lr_scale != 1.0).then(|| (config(), stage.clue_lr_scale)),
            acc_vision: GradientsAccumulator::new(),
            acc_rest: GradientsAccumulator::new(),
            pending: 0,
            clip_norm: stage.grad_clip_norm,
        }
    }

    /// Adds the gradients of `loss` to the pending sum.
    pub fn backward(&mut self, loss: Tensor<B, 1>, model: &Trrg<B>) {
        let mut grads = loss.backward();
        let vision = GradientsParams::from_module(&mut grads, &model.vision);
        let rest = GradientsParams::from_grads(grads, model);
        self.accumulate(model, vision, rest);
    }

    /// Adds one batch's gradients, already split into the two groups (as
    /// [`crate::DataParallel::gradients`] returns them), to the pending sum.
    pub fn accumulate(&mut self, model: &Trrg<B>, vision: GradientsParams, rest: GradientsParams) {
        self.acc_vision.accumulate(model, vision);
        self.acc_rest.accumulate(model, rest);
        self.pending += 1;
    }

    /// Batches accumulated since the last step.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// One optimizer step with the summed gradients.
    pub fn step(&mut self, model: Trrg<B>, lr: f64, vision_lr_scale: f64) -> Trrg<B> {
        self.pending = 0;
        let mut vision = self.acc_vision.grads();
        let mut rest = self.acc_rest.grads();
        if self.clip_norm > 0.0 {
            // The norm covers what this step trains: a frozen group's gradients do not count.
            let groups: &mut [&mut GradientsParams] = if vision_lr_scale > 0.0 {
                &mut [&mut vision, &mut rest]
            } else {
                &mut [&mut rest]
            };
            clip_grad_norm(&model, groups, self.clip_norm);
        }
        let model = if vision_lr_scale > 0.0 {
            self.vision.step(lr * vision_lr_scale, model, vision)
        } else {
            model
        };
        let model = match &mut self.heads {
            Some((heads, scale)) => {
                let mut grads = GradientsParams::new();
                move_grads(&model.clue_refiner, &mut rest, &mut grads);
                move_grads(&model.clue_locator, &mut rest, &mut grads);
                move_grads(&model.clue_readout, &mut rest, &mut grads);
                move_grads(&model.clue_spatial, &mut rest, &mut grads);
                heads.step(lr * *scale, model, grads)
            }
            None => model,
        };
        self.rest.step(lr, model, rest)
    }

    /// Saves every group's state (the heads' group third when it exists).
    pub fn save(&self, checkpoints: &Checkpoints, name: &str) -> crate::Result<()> {
        let (vision, rest) = (self.vision.to_record(), self.rest.to_record());
        match &self.heads {
            Some((heads, _)) => {
                checkpoints.save_record::<B, _>(name, (vision, rest, heads.to_record()))?;
            }
            None => checkpoints.save_record::<B, _>(name, (vision, rest))?,
        }
        Ok(())
    }

    /// Loads every group's state, as [`Optimizers::save`] wrote it.
    pub fn load(
        self,
        checkpoints: &Checkpoints,
        name: &str,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let (vision, rest, heads) = match self.heads {
            Some((heads, scale)) => {
                let (vision, rest, saved) = checkpoints.load_record::<B, _>(name, device)?;
                (vision, rest, Some((heads.load_record(saved), scale)))
            }
            None => {
                let (vision, rest) = checkpoints.load_record::<B, _>(name, device)?;
                (vision, rest, None)
            }
        };
        Ok(Self {
            vision: self.vision.load_record(vision),
            rest: self.rest.load_record(rest),
            heads,
            ..self
        })
    }
}

/// Moves the gradients of `module`'s parameters from `from` to `to`.
fn move_grads<B: TrrgAutodiff, M: AutodiffModule<B>>(
    module: &M,
    from: &mut GradientsParams,
    to: &mut GradientsParams,
) {
    struct Move<'a> {
        from: &'a mut GradientsParams,
        to: &'a mut GradientsParams,
    }
    impl<B: TrrgAutodiff> ModuleVisitor<B> for Move<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.from.remove::<B::InnerBackend, D>(param.id) {
                self.to.register(param.id, grad);
            }
        }
    }
    module.visit(&mut Move { from, to });
}

/// Scales the gradients of `module` held in `groups` so that their joint L2 norm is at most
/// `max_norm`, as `torch.nn.utils.clip_grad_norm_`: one coefficient `max_norm / (norm + 1e-6)`,
/// clamped at 1, for every gradient. Returns the norm before clipping. One host read per call.
pub fn clip_grad_norm<B: TrrgAutodiff, M: AutodiffModule<B>>(
    module: &M,
    groups: &mut [&mut GradientsParams],
    max_norm: f64,
) -> f64 {
    struct SquaredNorms<'a, 'b, B: TrrgAutodiff> {
        groups: &'a [&'b mut GradientsParams],
        sum: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: TrrgAutodiff> ModuleVisitor<B> for SquaredNorms<'_, '_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            for group in self.groups {
                if let Some(grad) = group.get::<B::InnerBackend, D>(param.id) {
                    let squared = grad.square().sum();
                    self.sum = Some(match self.sum.take() {
                        Some(sum) => sum + squared,
                        None => squared,
                    });
                }
            }
        }
    }
    struct Scale<'a, 'b> {
        groups: &'a mut [&'b mut GradientsParams],
        factor: f32,
    }
    impl<B: TrrgAutodiff> ModuleVisitor<B> for Scale<'_, '_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            for group in self.groups.iter_mut() {
                if let Some(grad) = group.remove::<B::InnerBackend, D>(param.id) {
                    group.register(param.id, grad.mul_scalar(self.factor));
                }
            }
        }
    }

    let mut norms = SquaredNorms::<B> { groups, sum: None };
    module.visit(&mut norms);
    let Some(sum) = norms.sum else {
        return 0.0;
    };
    let norm = sum.sqrt().into_scalar().elem::<f32>();
    let factor = max_norm as f32 / (norm + 1e-6);
    if factor < 1.0 {
        module.visit(&mut Scale { groups, factor });
    }
    f64::from(norm)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;
    use trrg_kernels::TrrgOps;

    use super::*;

    type A = Autodiff<Flex>;

    #[derive(Module, Debug)]
    struct Three<B: TrrgOps> {
        a: Param<Tensor<B, 2>>,
        b: Param<Tensor<B, 1>>,
        c: Param<Tensor<B, 2>>,
    }

    /// Equal to `torch.nn.utils.clip_grad_norm_` (`scripts/make_clip_golden.py`), with the
    /// gradients split over two groups as the two learning-rate groups split them.
    #[test]
    fn global_norm_clipping_equals_torch() {
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/clip_grad_norm.json")).unwrap();
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let grads: Vec<Vec<f32>> = golden["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let device = Default::default();
        let module = Three::<A> {
            a: Param::from_tensor(Tensor::zeros([3, 4], &device)),
            b: Param::from_tensor(Tensor::zeros([4], &device)),
            c: Param::from_tensor(Tensor::zeros([2, 2], &device)),
        };
        type I = Flex;
        for case in golden["cases"].as_array().unwrap() {
            let (mut first, mut second) = (GradientsParams::new(), GradientsParams::new());
            let grad2 = |i: usize, shape: [usize; 2]| {
                Tensor::<I, 1>::from_floats(grads[i].as_slice(), &device).reshape(shape)
            };
            first.register(module.a.id, grad2(0, [3, 4]));
            second.register(
                module.b.id,
                Tensor::<I, 1>::from_floats(grads[1].as_slice(), &device),
            );
            second.register(module.c.id, grad2(2, [2, 2]));
            let max_norm = case["max_norm"].as_f64().unwrap();
            let norm = clip_grad_norm(&module, &mut [&mut first, &mut second], max_norm);
            let want = case["norm"].as_f64().unwrap();
            assert!((norm - want).abs() <= 1e-6 * want, "norm {norm} vs {want}");
            let got = [
                first.get::<I, 2>(module.a.id).unwrap().into_data(),
                second.get::<I, 1>(module.b.id).unwrap().into_data(),
                second.get::<I, 2>(module.c.id).unwrap().into_data(),
            ];
            for (k, (got, want)) in got
                .iter()
                .zip(case["clipped"].as_array().unwrap())
                .enumerate()
            {
                for (g, w) in got.to_vec::<f32>().unwrap().iter().zip(floats(want)) {
                    assert!(
                        (g - w).abs() <= 1e-6,
                        "max_norm {max_norm}, tensor {k}: {g} vs {w}"
                    );
                }
            }
        }
        // No gradient at all: nothing to clip, norm 0.
        assert_eq!(clip_grad_norm(&module, &mut [], 1.0), 0.0);
    }

    /// With `clue_lr_scale` the clue heads take their own step (the first AdamW step moves each
    /// parameter by the learning rate), the rest keeps the stage's.
    #[test]
    fn the_clue_heads_step_with_their_own_learning_rate() {
        let device = Default::default();
        let model: Trrg<A> = trrg_model::TrrgConfig::micro(40).init(&device).unwrap();
        let head = |m: &Trrg<A>| m.clue_refiner.as_ref().unwrap().image.weight.val();
        let rest = |m: &Trrg<A>| m.markers.val();
        let moved =
            |a: Tensor<A, 2>, b: Tensor<A, 2>| (a - b).abs().max().into_scalar().elem::<f32>();
        for scale in [1.0, 4.0] {
            let stage = StageConfig {
                clue_lr_scale: scale,
                weight_decay: 0.0,
                grad_clip_norm: 0.0,
                ..StageConfig::default()
            };
            let mut optim = Optimizers::new(&stage);
            optim.backward(head(&model).sum() + rest(&model).sum(), &model);
            let stepped = optim.step(model.clone(), 0.01, 1.0);
            let (h, r) = (
                moved(head(&stepped), head(&model)),
                moved(rest(&stepped), rest(&model)),
            );
            assert!(
                (h - 0.01 * scale as f32).abs() < 1e-4,
                "scale {scale}: head {h}"
            );
            assert!((r - 0.01).abs() < 1e-4, "scale {scale}: rest {r}");
        }
    }
}
