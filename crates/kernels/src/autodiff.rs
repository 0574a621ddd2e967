//! [`TrrgOps`] for `Autodiff<B>`: each fused op is one graph node whose backward pass calls
//! `B`'s backward op. The nodes keep their inputs (or softmax's output) as state, as burn's
//! compute-bound ops do.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::Autodiff;
use burn::tensor::ops::{BoolTensor, FloatTensor};

use crate::TrrgOps;

#[derive(Debug)]
struct GeluNode;

impl<B: TrrgOps> Backward<B, 1> for GeluNode {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::trrg_gelu_backward(x, grad)
        });
    }
}

#[derive(Debug)]
struct SoftmaxNode;

impl<B: TrrgOps> Backward<B, 1> for SoftmaxNode {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let y = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::trrg_softmax_backward(y, grad)
        });
    }
}

/// Layer norm's node: parents `[x, gamma, beta]` (`N` = 3) or `[x, gamma]` (2, no beta).
#[derive(Debug)]
struct LayerNormNode {
    epsilon: f64,
}

impl<B: TrrgOps, const N: usize> Backward<B, N> for LayerNormNode {
    /// `x` and `gamma`.
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma) = ops.state;
        let gradients = B::trrg_layer_norm_backward(x, gamma, grad, self.epsilon);
        register::<B, N>(ops.parents.map(|p| p.map(|p| p.id)), gradients, grads);
    }
}

/// Attention's node: parents `[q, k, v]`.
#[derive(Debug)]
struct AttentionNode {
    heads: usize,
    masked: f64,
}

type AttentionState<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<BoolTensor<B>>,
);

impl<B: TrrgOps> Backward<B, 3> for AttentionNode {
    type State = AttentionState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (q, k, v, padding) = ops.state;
        let gradients = B::trrg_attention_backward(q, k, v, padding, grad, self.heads, self.masked);
        register::<B, 3>(ops.parents.map(|p| p.map(|p| p.id)), gradients, grads);
    }
}

/// Gives each parent that requires a gradient its own (the first `N` of `gradients`).
fn register<B: TrrgOps, const N: usize>(
    parents: [Option<NodeId>; N],
    gradients: [FloatTensor<B>; 3],
    grads: &mut Gradients,
) {
    for (parent, value) in parents.into_iter().zip(gradients) {
        if let Some(parent) = parent {
            grads.register::<B>(parent, value);
        }
    }
}

/// Records `out` as the output of `node` with `parents`, keeping `state` for the backward
/// pass when a gradient is required.
fn record<B, C, BO, const N: usize>(
    node: BO,
    parents: [&FloatTensor<Autodiff<B, C>>; N],
    state: BO::State,
    out: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: TrrgOps,
    C: CheckpointStrategy,
    BO: Backward<B, N>,
{
    match node
        .prepare::<C>(parents.map(|p| p.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

impl<B: TrrgOps, C: CheckpointStrategy> TrrgOps for Autodiff<B, C> {
    fn trrg_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        padding: Option<BoolTensor<Self>>,
        heads: usize,
        masked: f64,
    ) -> FloatTensor<Self> {
        let out = B::trrg_attention(
            q.primitive.clone(),
            k.primitive.clone(),
            v.primitive.clone(),
            padding.clone(),
            heads,
            masked,
        );
        let state = (
            q.primitive.clone(),
            k.primitive.clone(),
            v.primitive.clone(),
            padding,
        );
        record::<B, C, _, _>(AttentionNode { heads, masked }, [&q, &k, &v], state, out)
    }

    fn trrg_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = B::trrg_gelu(x.primitive.clone());
        record::<B, C, _, _>(GeluNode, [&x], x.primitive.clone(), out)
    }

    fn trrg_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let y = B::trrg_softmax(x.primitive.clone());
        record::<B, C, _, _>(SoftmaxNode, [&x], y.clone(), y)
    }

    fn trrg_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: Option<FloatTensor<Self>>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let out = B::trrg_layer_norm(
            x.primitive.clone(),
            gamma.primitive.clone(),
            beta.as_ref().map(|beta| beta.primitive.clone()),
            epsilon,
        );
        let state = (x.primitive.clone(), gamma.primitive.clone());
        let node = LayerNormNode { epsilon };
        match &beta {
            Some(beta) => record::<B, C, _, _>(node, [&x, &gamma, beta], state, out),
            None => record::<B, C, _, _>(node, [&x, &gamma], state, out),
        }
    }
}
