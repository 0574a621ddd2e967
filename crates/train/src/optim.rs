//! AdamW with two parameter groups (the visual encoder, everything else), each with its own
//! learning rate, plus gradient accumulation.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use trrg_model::Trrg;

use crate::{Checkpoints, StageConfig};

type Adaptor<B> = OptimizerAdaptor<AdamW, Trrg<B>, B>;

/// Optimizer state of a stage.
pub struct Optimizers<B: AutodiffBackend> {
    vision: Adaptor<B>,
    rest: Adaptor<B>,
    acc_vision: GradientsAccumulator<Trrg<B>>,
    acc_rest: GradientsAccumulator<Trrg<B>>,
    pending: usize,
}

impl<B: AutodiffBackend> Optimizers<B> {
    /// AdamW (betas 0.9/0.999, eps 1e-8) with the stage's weight decay and per-tensor
    /// gradient-norm clipping.
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
            acc_vision: GradientsAccumulator::new(),
            acc_rest: GradientsAccumulator::new(),
            pending: 0,
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
        let vision = self.acc_vision.grads();
        let rest = self.acc_rest.grads();
        let model = if vision_lr_scale > 0.0 {
            self.vision.step(lr * vision_lr_scale, model, vision)
        } else {
            model
        };
        self.rest.step(lr, model, rest)
    }

    /// Saves both groups' state.
    pub fn save(&self, checkpoints: &Checkpoints, name: &str) -> crate::Result<()> {
        Ok(checkpoints
            .save_record::<B, _>(name, (self.vision.to_record(), self.rest.to_record()))?)
    }

    /// Loads both groups' state.
    pub fn load(
        self,
        checkpoints: &Checkpoints,
        name: &str,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let (vision, rest) = checkpoints.load_record::<B, _>(name, device)?;
        Ok(Self {
            vision: self.vision.load_record(vision),
            rest: self.rest.load_record(rest),
            ..self
        })
    }
}
