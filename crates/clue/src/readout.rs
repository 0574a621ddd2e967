//! Per-disease clue readout: each disease's own query, weight and bias on top of the heads that
//! read its prompt embedding.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;

/// Readout settings.
#[derive(Config, Debug)]
pub struct ClueReadoutConfig {
    /// Number of diseases with parameters of their own (the 14 CheXpert observations; a disease
    /// without a slot reads its prompts only).
    pub n_slots: usize,
    /// Width of the refiner's bilinear space ([`crate::ClueRefinerConfig::d_refine`]).
    #[config(default = 64)]
    pub d_refine: usize,
    /// Width of the locator's attention space ([`crate::ClueLocatorConfig::d_locate`]).
    #[config(default = 64)]
    pub d_locate: usize,
}

impl ClueReadoutConfig {
    /// Builds the readout at zero: every disease starts where its prompt embedding puts it.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueReadout<B> {
        let zeros = |d: usize| Param::from_tensor(Tensor::zeros([self.n_slots, d], device));
        ClueReadout {
            refine: zeros(self.d_refine),
            query: zeros(self.d_locate),
            readout: zeros(self.d_locate),
            bias: Param::from_tensor(Tensor::zeros([self.n_slots], device)),
        }
    }
}

/// Each disease's own parameters, added to what the clue heads derive from its prompt
/// embedding: the refiner's disease vector `C e_d + u_d`, the locator's query `Q e_d + q_d` and
/// readout `R e_d + r_d`, and a logit bias `b_d`.
///
/// The heads' terms are linear in the identities `e_d`, which are nearly parallel across
/// diseases, so gradient descent learns one shared "abnormal" direction about two orders of
/// magnitude faster than a direction, or even a base rate, per disease. The offsets here get
/// each disease's gradient alone. They start at zero, so a disease starts where its prompts put
/// it, and a disease without a slot (a set never trained on) keeps the prompts' readout: any
/// number of clues still works at inference.
#[derive(Module, Debug)]
pub struct ClueReadout<B: TrrgOps> {
    /// `u`, `[n_slots, d_refine]`
    pub refine: Param<Tensor<B, 2>>,
    /// `q`, `[n_slots, d_locate]`
    pub query: Param<Tensor<B, 2>>,
    /// `r`, `[n_slots, d_locate]`
    pub readout: Param<Tensor<B, 2>>,
    /// `b`, `[n_slots]`
    pub bias: Param<Tensor<B, 1>>,
}

/// A disease set's rows of a [`ClueReadout`] (zero for a disease without a slot).
#[derive(Clone, Debug)]
pub struct ReadoutRows<B: TrrgOps> {
    /// `[n_clues, d_refine]`
    pub refine: Tensor<B, 2>,
    /// `[n_clues, d_locate]`
    pub query: Tensor<B, 2>,
    /// `[n_clues, d_locate]`
    pub readout: Tensor<B, 2>,
    /// `[1, n_clues]`
    pub bias: Tensor<B, 2>,
}

impl<B: TrrgOps> ClueReadout<B> {
    /// Number of slots.
    pub fn n_slots(&self) -> usize {
        self.bias.dims()[0]
    }

    /// The rows of the diseases whose slots are `slots` (in clue order; None or a slot past the
    /// end: zeros), selected on the device by a one-hot product, so gradient reaches each slot.
    pub fn rows(&self, slots: &[Option<usize>]) -> ReadoutRows<B> {
        let select = slot_select::<B>(slots, self.n_slots(), &self.bias.device());
        ReadoutRows {
            refine: select.clone().matmul(self.refine.val()),
            query: select.clone().matmul(self.query.val()),
            readout: select.clone().matmul(self.readout.val()),
            bias: slot_bias(select, &self.bias),
        }
    }

    /// Sets the biases, one per slot (the training log-odds of each disease, so each starts at
    /// its base rate instead of learning it through the shared direction).
    pub fn with_bias(mut self, bias: &[f32]) -> crate::Result<Self> {
        self.bias = bias_param(bias, &self.bias, "readout biases")?;
        Ok(self)
    }
}

/// The one-hot rows `[n_clues, n_slots]` that pick each clue's slot (None or a slot past the
/// end: a zero row), so a product with per-slot parameters selects them on the device and
/// gradient reaches each slot.
pub(crate) fn slot_select<B: TrrgOps>(
    slots: &[Option<usize>],
    n_slots: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut onehot = vec![0.0f32; slots.len() * n_slots];
    for (d, slot) in slots.iter().enumerate() {
        if let Some(s) = slot.filter(|&s| s < n_slots) {
            onehot[d * n_slots + s] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(onehot, [slots.len(), n_slots]), device)
}

/// The selected slots' biases as a row, `[1, n_clues]`.
pub(crate) fn slot_bias<B: TrrgOps>(
    select: Tensor<B, 2>,
    bias: &Param<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    select.matmul(bias.val().unsqueeze_dim::<2>(1)).transpose()
}

/// `bias` as the new value of the per-slot biases `current` (one value per slot).
pub(crate) fn bias_param<B: TrrgOps>(
    bias: &[f32],
    current: &Param<Tensor<B, 1>>,
    what: &'static str,
) -> crate::Result<Param<Tensor<B, 1>>> {
    let (n, n_slots) = (bias.len(), current.dims()[0]);
    if n != n_slots {
        return Err(crate::Error::Shape {
            what,
            reason: format!("{n} values for {n_slots} slots"),
        });
    }
    Ok(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias.to_vec(), [n]),
        &current.device(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn rows_follow_the_slots_and_a_disease_without_one_reads_zeros() {
        let device = Default::default();
        let readout = ClueReadoutConfig::new(3)
            .with_d_refine(2)
            .with_d_locate(2)
            .init::<Flex>(&device)
            .with_bias(&[1.0, 2.0, 3.0])
            .unwrap();
        assert!(readout.clone().with_bias(&[1.0]).is_err());
        let zero = readout.rows(&[Some(0), None]);
        assert_eq!(zero.refine.dims(), [2, 2]);
        assert_eq!(zero.query.abs().sum().into_scalar(), 0.0);
        let rows = readout.rows(&[Some(2), None, Some(0), Some(7)]);
        assert_eq!(
            rows.bias.into_data().to_vec::<f32>().unwrap(),
            vec![3.0, 0.0, 1.0, 0.0]
        );
    }
}
