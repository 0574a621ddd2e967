//! The float precision of a run ([`TrainConfig::precision`](crate::TrainConfig::precision)).
//!
//! Burn 0.21 gives every device a default float type, chosen once per process before the
//! device's first tensor: parameters, activations, gradients and optimizer state all take it.
//! So `bf16` and `f16` here are half-precision training, not PyTorch's autocast (which keeps f32
//! master weights): on a GPU it halves memory and uses the tensor cores; `bf16` keeps f32's range
//! and needs no loss scaling, `f16` may overflow in the attention logits or underflow small
//! gradients. Which backends compute in which type is the backend's own answer
//! (`Backend::supports_dtype`); an unsupported choice is a clear error before anything runs.

use burn::tensor::{get_device_settings, set_default_dtypes, DType, Element, FloatDType};
use serde::{Deserialize, Serialize};
use trrg_kernels::TrrgOps;

use crate::Error;

/// Float type of parameters, activations and optimizer state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// 32-bit floats (default).
    #[default]
    F32,
    /// bfloat16: f32's range, 8 bits of mantissa (GPUs from Ampere on; LibTorch's CPU).
    Bf16,
    /// IEEE half: 5 exponent bits, 11 bits of mantissa.
    F16,
}

impl Precision {
    /// The float type.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::Bf16 => FloatDType::BF16,
            Self::F16 => FloatDType::F16,
        }
    }

    /// Makes this precision the default float type of `device`. Must come before the device's
    /// first tensor in this process; asking again for the type it already has is fine.
    pub fn apply<B: TrrgOps>(self, device: &B::Device) -> crate::Result<()> {
        let float = self.dtype();
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                field: "precision".into(),
                reason,
            })
        };
        if !B::supports_dtype(device, DType::from(float)) {
            return bad(format!(
                "the {} backend does not compute in {float:?} on {device:?}",
                B::name(device)
            ));
        }
        let int = <B::IntElem as Element>::dtype();
        if set_default_dtypes::<B>(device, float, int).is_ok() {
            return Ok(());
        }
        let current = get_device_settings::<B>(device).float_dtype;
        if current == float {
            Ok(())
        } else {
            bad(format!(
                "{device:?} already computes in {current:?} in this process (the float type is \
                 chosen once, before the device's first tensor); run {float:?} in its own process"
            ))
        }
    }
}
