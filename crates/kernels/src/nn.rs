//! burn-nn's transformer modules run through the fused ops: the same modules and records, the
//! same op sequence as burn 0.21's `forward`s (dropouts included), with GELU, softmax and layer
//! norm from [`TrrgOps`].

use burn::nn::activation::Activation;
use burn::nn::attention::MultiHeadAttention;
use burn::nn::transformer::{PositionWiseFeedForward, TransformerEncoder, TransformerEncoderLayer};
use burn::nn::LayerNorm;
use burn::tensor::activation::quiet_softmax;
use burn::tensor::{Bool, Tensor};

use crate::{composite, float, tensor, TrrgOps};

/// burn's `MultiHeadAttention::forward` on `(query, kv, kv)` with an optional padding mask
/// (`true` = masked), with `dropout` applied to the scores where burn applies the module's
/// dropout (before the mask). Where that dropout does nothing (a rate of 0, or no autodiff)
/// and the softmax is the plain one, the heads go through [`TrrgOps::trrg_attention`] in one
/// op.
///
/// # Shapes
/// - query: `[batch, n_q, d_model]`, kv: `[batch, n_kv, d_model]`, padding: `[batch, n_kv]`
/// - output: `[batch, n_q, d_model]`
pub fn attention<B: TrrgOps>(
    mha: &MultiHeadAttention<B>,
    query: Tensor<B, 3>,
    kv: Tensor<B, 3>,
    padding: Option<Tensor<B, 2, Bool>>,
    dropout: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 3> {
    let (q, k, v) = (
        float(mha.query.forward(query.clone())),
        float(mha.key.forward(kv.clone())),
        float(mha.value.forward(kv)),
    );
    let padding = padding.map(Tensor::into_primitive);
    let (heads, masked) = (mha.n_heads, mha.min_float);
    let dropout_off = mha.dropout.prob == 0.0 || !B::ad_enabled(&query.device());
    let context = match dropout_off && !mha.quiet_softmax {
        true => B::trrg_attention(q, k, v, padding, heads, masked),
        false => composite::attention_with::<B>(
            q,
            k,
            v,
            padding,
            heads,
            masked,
            |scores| float(dropout(tensor(scores))),
            |scores| match mha.quiet_softmax {
                true => float(quiet_softmax(tensor::<B, 4>(scores), 3)),
                false => B::trrg_softmax(scores),
            },
        ),
    };
    mha.output.forward(tensor(context))
}

/// burn's `PositionWiseFeedForward::forward`, its exact GELU through [`crate::gelu`].
pub fn feed_forward<B: TrrgOps, const D: usize>(
    pwff: &PositionWiseFeedForward<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let x = pwff.linear_inner.forward(x);
    let x = match &pwff.activation {
        Activation::Gelu(gelu) if !gelu.approximate => crate::gelu(x),
        other => other.forward(x),
    };
    pwff.linear_outer.forward(pwff.dropout.forward(x))
}

/// burn's `TransformerEncoder::forward` (with an optional padding mask and no attention mask).
/// burn keeps the layer norms' epsilon private: pass the encoder config's `layer_norm_eps`.
pub fn transformer_encoder<B: TrrgOps>(
    encoder: &TransformerEncoder<B>,
    x: Tensor<B, 3>,
    padding: Option<Tensor<B, 2, Bool>>,
    layer_norm_eps: f64,
) -> Tensor<B, 3> {
    encoder.layers.iter().fold(x, |x, layer| {
        encoder_layer(layer, x, padding.clone(), layer_norm_eps)
    })
}

fn encoder_layer<B: TrrgOps>(
    layer: &TransformerEncoderLayer<B>,
    x: Tensor<B, 3>,
    padding: Option<Tensor<B, 2, Bool>>,
    epsilon: f64,
) -> Tensor<B, 3> {
    let norm = |norm: &LayerNorm<B>, x| crate::layer_norm(norm, x, epsilon);
    let residual = match layer.norm_first {
        true => norm(&layer.norm_2, x.clone()),
        false => x.clone(),
    };
    let residual = attention(&layer.mha, residual.clone(), residual, padding, |scores| {
        layer.mha.dropout.forward(scores)
    });
    let mut x = x + layer.dropout.forward(residual);
    let residual = match layer.norm_first {
        true => norm(&layer.norm_1, x.clone()),
        false => {
            x = norm(&layer.norm_1, x);
            x.clone()
        }
    };
    let x = x + layer.dropout.forward(feed_forward(&layer.pwff, residual));
    match layer.norm_first {
        true => x,
        false => norm(&layer.norm_2, x),
    }
}
