//! One training epoch, as both stages run it: batches in a seeded order, a loss per batch,
//! gradient accumulation, an optimizer step every `accumulation` batches (and at the epoch's
//! end), a log record per step, and a progress bar.

use std::time::Instant;

use serde::Serialize;
use trrg_kernels::TrrgAutodiff;
use trrg_model::Trrg;

use crate::data::{rare_positive_rows, rows_in_batches};
use crate::log::progress;
use crate::optim::Optimizers;
use crate::schedule::learning_rate;
use crate::{Error, RunState, StageConfig};

use super::Context;

/// The losses of one batch. Stage 1 has only `loss` (InfoNCE); stage 2 has the total, the LM
/// loss and, with the consistency loss on, that loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct StepLosses {
    /// What is minimized.
    pub loss: f32,
    /// Stage 2's language-model loss.
    pub lm_loss: Option<f32>,
    /// Stage 2's consistency loss, when on.
    pub consistency_loss: Option<f32>,
}

impl StepLosses {
    /// `[loss, lm_loss, consistency_loss]` as far as present, for the data-parallel workers'
    /// weighted sum ([`crate::ParallelGrads::values`]).
    pub fn to_values(self) -> Vec<f32> {
        let mut v = vec![self.loss];
        v.extend(self.lm_loss);
        v.extend(self.consistency_loss);
        v
    }

    /// The inverse of [`StepLosses::to_values`] for stage 2 (`lm_loss` always present).
    pub fn from_values(values: &[f32]) -> Self {
        Self {
            loss: values.first().copied().unwrap_or(f32::NAN),
            lm_loss: values.get(1).copied(),
            consistency_loss: values.get(2).copied(),
        }
    }
}

/// A `log.jsonl` record of one optimizer step.
#[derive(Serialize)]
struct StepRecord {
    stage: u8,
    epoch: usize,
    step: usize,
    /// The f32 losses widened to f64, as the log has always held them.
    loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lm_loss: Option<f64>,
    /// Stage 2 writes it even when off (as null).
    #[serde(skip_serializing_if = "is_stage1")]
    consistency_loss: Option<Option<f64>>,
    lr: f64,
}

fn is_stage1(v: &Option<Option<f64>>) -> bool {
    v.is_none()
}

/// The RNG streams of a stage: what seeds the backend (dropout), the augmentation and the
/// batch order of each epoch.
#[derive(Clone, Copy, Debug)]
pub(super) struct Streams {
    /// Stage number, 1 or 2 (mixed into the backend seed, and written in the log).
    pub stage: u8,
    /// Added to the epoch for the augmentation seed (stage 2 draws other crops than stage 1).
    pub augment_epoch_offset: u64,
    /// XORed into the run seed for the batch order.
    pub order_seed_xor: u64,
}

/// Stage 1's streams.
pub(super) const STAGE1: Streams = Streams {
    stage: 1,
    augment_epoch_offset: 0,
    order_seed_xor: 0,
};

/// Stage 2's streams.
pub(super) const STAGE2: Streams = Streams {
    stage: 2,
    augment_epoch_offset: 1000,
    order_seed_xor: 2,
};

/// The backend seed of `(seed, stage, epoch)`: a splitmix64 finalizer of the three.
pub(super) fn mix(seed: u64, stage: u64, epoch: u64) -> u64 {
    let mut z = seed
        ^ stage.wrapping_mul(0xA24B_AED4_963E_E407)
        ^ epoch.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

/// Sums of an epoch's batch losses (for the epoch line).
#[derive(Clone, Copy, Debug)]
pub(super) struct EpochSums {
    /// Sum of `loss`.
    pub loss: f64,
    /// Sum of the LM loss.
    pub lm: f64,
    /// Sum of the consistency loss (0 where off).
    pub consistency: f64,
    /// Batches.
    pub batches: usize,
    /// When the epoch started.
    pub started: Instant,
}

impl EpochSums {
    fn add(&mut self, l: &StepLosses) {
        self.loss += l.loss as f64;
        self.lm += l.lm_loss.unwrap_or(0.0) as f64;
        self.consistency += l.consistency_loss.unwrap_or(0.0) as f64;
        self.batches += 1;
    }

    /// The progress bar's message: running means.
    fn message(&self, stage: u8) -> String {
        let n = self.batches as f64;
        match stage {
            1 => format!("loss {:.3}", self.loss / n),
            _ => format!("lm {:.3} cons {:.3}", self.lm / n, self.consistency / n),
        }
    }

    /// Seconds since the epoch started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn check_finite(stage: u8, step: usize, value: f32) -> crate::Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        let stage = if stage == 1 { "stage 1" } else { "stage 2" };
        Err(Error::Diverged { stage, step, value })
    }
}

/// Runs the stage's next epoch (`state.epochs_done`, counted from 0) over the training split,
/// shuffled (in stage 2 with `stage2_rare_repeats`, [`rare_positive_rows`]): `batch_loss(model,
/// optim, indices, draws)` computes one batch's losses and feeds its gradients to `optim`
/// (backward or data-parallel accumulation); `draws` is the batch's seed for the workers'
/// random streams ([`crate::DataParallel::gradients`]), a function of the run seed, stage,
/// epoch and batch. The driver steps, logs and reports progress.
pub(super) fn run_epoch<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    streams: Streams,
    stage: &StageConfig,
    state: &mut RunState,
    mut model: Trrg<B>,
    optim: &mut Optimizers<B>,
    mut batch_loss: impl FnMut(&Trrg<B>, &mut Optimizers<B>, &[usize], u64) -> crate::Result<StepLosses>,
) -> crate::Result<(Trrg<B>, EpochSums)> {
    let (config, data) = (ctx.config, ctx.data);
    let epoch = state.epochs_done;
    let rows = match streams.stage {
        2 => rare_positive_rows(&data.train, config.stage2_rare_repeats),
        _ => (0..data.train.items().len()).collect(),
    };
    let per_epoch = rows.len().div_ceil(config.batch_size);
    let total_steps = (per_epoch * stage.epochs).div_ceil(stage.accumulation);
    let epoch_seed = mix(config.seed, streams.stage.into(), epoch as u64);
    B::seed(ctx.device, epoch_seed);
    data.train
        .set_epoch(streams.augment_epoch_offset + epoch as u64);
    let bar = progress(
        per_epoch,
        &format!("stage {} {}/{}", streams.stage, epoch + 1, stage.epochs),
        ctx.options.quiet,
    );
    let mut sums = EpochSums {
        loss: 0.0,
        lm: 0.0,
        consistency: 0.0,
        batches: 0,
        started: Instant::now(),
    };
    let batches = rows_in_batches(
        rows,
        config.batch_size,
        config.seed ^ streams.order_seed_xor,
        epoch as u64,
        true,
    );
    for (i, indices) in batches.iter().enumerate() {
        let draws = mix(epoch_seed, 0, i as u64 + 1);
        let losses = batch_loss(&model, optim, indices, draws)?;
        check_finite(streams.stage, state.step, losses.loss)?;
        if optim.pending() == stage.accumulation || i + 1 == per_epoch {
            let lr = learning_rate(stage, state.step, total_steps);
            model = optim.step(model, lr, stage.vision_lr_scale);
            state.step += 1;
            ctx.log.write(&StepRecord {
                stage: streams.stage,
                epoch: epoch + 1,
                step: state.step,
                loss: losses.loss.into(),
                lm_loss: losses.lm_loss.map(f64::from),
                consistency_loss: (streams.stage == 2)
                    .then_some(losses.consistency_loss.map(f64::from)),
                lr,
            })?;
        }
        sums.add(&losses);
        bar.inc(1);
        bar.set_message(sums.message(streams.stage));
    }
    bar.finish_and_clear();
    Ok((model, sums))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_records_keep_the_log_layout_of_each_stage() {
        let record = |stage: u8, cons: Option<f64>| StepRecord {
            stage,
            epoch: 1,
            step: 3,
            loss: 0.5,
            lm_loss: (stage == 2).then_some(0.25),
            consistency_loss: (stage == 2).then_some(cons),
            lr: 0.001,
        };
        assert_eq!(
            serde_json::to_string(&record(1, None)).unwrap(),
            r#"{"stage":1,"epoch":1,"step":3,"loss":0.5,"lr":0.001}"#
        );
        assert_eq!(
            serde_json::to_string(&record(2, None)).unwrap(),
            r#"{"stage":2,"epoch":1,"step":3,"loss":0.5,"lm_loss":0.25,"consistency_loss":null,"lr":0.001}"#
        );
    }
}
