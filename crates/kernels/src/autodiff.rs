//! [`TrrgOps`] for `Autodiff<B>`: each fused op is one graph node whose backward pass calls
//! `B`'s backward op. The nodes keep their inputs (or softmax's output) as state, as burn's
//! compute-bound ops do.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
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
        let [dx, dgamma, dbeta] = B::trrg_layer_norm_backward(x, gamma, grad, self.epsilon);
        for (parent, value) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, value);
            }
        }
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
        let dqkv = B::trrg_attention_backward(q, k, v, padding, grad, self.heads, self.masked);
        for (parent, value) in ops.parents.into_iter().zip(dqkv) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, value);
            }
        }
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
        match (AttentionNode { heads, masked })
            .prepare::<C>([q.node.clone(), k.node.clone(), v.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish((q.primitive, k.primitive, v.primitive, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn trrg_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluNode
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::trrg_gelu(x.primitive.clone());
                prep.finish(x.primitive, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::trrg_gelu(x.primitive)),
        }
    }

    fn trrg_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match SoftmaxNode
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::trrg_softmax(x.primitive);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::trrg_softmax(x.primitive)),
        }
    }

    fn trrg_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: Option<FloatTensor<Self>>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let node = LayerNormNode { epsilon };
        let forward = |beta: Option<FloatTensor<B>>| {
            B::trrg_layer_norm(x.primitive.clone(), gamma.primitive.clone(), beta, epsilon)
        };
        let state = (x.primitive.clone(), gamma.primitive.clone());
        match beta {
            Some(beta) => {
                let out = forward(Some(beta.primitive.clone()));
                match node
                    .prepare::<C>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(state, out),
                    OpsKind::UnTracked(prep) => prep.finish(out),
                }
            }
            None => {
                let out = forward(None);
                match node
                    .prepare::<C>([x.node.clone(), gamma.node.clone()])
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(state, out),
                    OpsKind::UnTracked(prep) => prep.finish(out),
                }
            }
        }
    }
}
