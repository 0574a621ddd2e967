//! Flex's fused attention: one task per (batch, head), each reading its head as a strided view
//! of the `[batch, n, heads · d_head]` projections and writing its part of the merged output,
//! so no head is ever split or merged by a copy. The backward pass recomputes the weights
//! (they are not kept between the passes) and runs its four products the same way.

use burn::backend::Flex;
use burn::tensor::ops::{BoolTensor, FloatTensor};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_flex::FlexTensor;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::flex::{tensor, values};
use crate::simd;

/// The problem's sizes.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    n_q: usize,
    n_kv: usize,
    heads: usize,
    d_head: usize,
}

impl Dims {
    /// Row stride of the projections.
    fn width(&self) -> usize {
        self.heads * self.d_head
    }
    /// Offsets of head `h` of batch `b` in the query-side and key-side tensors.
    fn offsets(&self, bh: usize) -> (usize, usize) {
        let (b, h) = (bh / self.heads, bh % self.heads);
        let d = self.width();
        (
            b * self.n_q * d + h * self.d_head,
            b * self.n_kv * d + h * self.d_head,
        )
    }
}

/// A pointer the parallel tasks share; each writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct Out(*mut f32);

impl Out {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}
// SAFETY: tasks write disjoint elements (their own head's columns), and the buffer outlives
// the parallel loop.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// The sizes, or `None` where the fused kernel does not apply (another dtype, shapes that do
/// not line up): the caller then takes the composite version.
fn dims(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    padding: Option<&FlexTensor>,
    heads: usize,
) -> Option<Dims> {
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let f32s = [q, k, v].iter().all(|t| t.dtype() == DType::F32);
    if !f32s || qs.num_dims() != 3 || ks != vs || ks.num_dims() != 3 || heads == 0 {
        return None;
    }
    let (batch, n_q, d) = (qs[0], qs[1], qs[2]);
    let n_kv = ks[1];
    if ks[0] != batch || ks[2] != d || d % heads != 0 || n_kv == 0 {
        return None;
    }
    if let Some(padding) = padding {
        if padding.shape() != Shape::new([batch, n_kv]) {
            return None;
        }
    }
    Some(Dims {
        batch,
        n_q,
        n_kv,
        heads,
        d_head: d / heads,
    })
}

fn padding_values(padding: Option<&BoolTensor<Flex>>) -> Option<Vec<bool>> {
    padding.map(|p| {
        p.clone()
            .into_data()
            .to_vec::<bool>()
            .expect("a bool tensor")
    })
}

/// `dst (m × n) = alpha · lhs (m × k) · rhs (k × n)` on strided views, single-threaded
/// (the tasks are the parallelism). Strides are `(row, column)`.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_strides: (usize, usize),
    lhs: *const f32,
    lhs_strides: (usize, usize),
    rhs: *const f32,
    rhs_strides: (usize, usize),
    alpha: f32,
) {
    let s = |x: usize| x as isize;
    // SAFETY: the caller's pointers and strides stay inside their buffers.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            s(dst_strides.1),
            s(dst_strides.0),
            false,
            lhs,
            s(lhs_strides.1),
            s(lhs_strides.0),
            rhs,
            s(rhs_strides.1),
            s(rhs_strides.0),
            0.0,
            alpha,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Head `bh`'s attention weights `[n_q, n_kv]` into `p`.
fn weights(
    q: &[f32],
    k: &[f32],
    padding: Option<&[bool]>,
    dims: Dims,
    bh: usize,
    masked: f32,
    p: &mut [f32],
) {
    let (oq, ok) = dims.offsets(bh);
    let d = dims.width();
    let scale = 1.0 / (dims.d_head as f32).sqrt();
    // SAFETY: rows of q/k at stride d from the head's offset stay inside the tensors.
    unsafe {
        product(
            (dims.n_q, dims.n_kv, dims.d_head),
            p.as_mut_ptr(),
            (dims.n_kv, 1),
            q[oq..].as_ptr(),
            (d, 1),
            k[ok..].as_ptr(),
            (1, d),
            scale,
        );
    }
    mask_keys(p, padding, dims, bh, masked);
    simd::softmax_rows_in_place(p, dims.n_kv);
}

/// Sets the columns of head `bh`'s `[n_q, n_kv]` scores whose key is padding to `value`.
fn mask_keys(scores: &mut [f32], padding: Option<&[bool]>, dims: Dims, bh: usize, value: f32) {
    if let Some(padding) = padding {
        let b = bh / dims.heads;
        let keys = &padding[b * dims.n_kv..(b + 1) * dims.n_kv];
        for row in scores.chunks_exact_mut(dims.n_kv) {
            for (s, &pad) in row.iter_mut().zip(keys) {
                if pad {
                    *s = value;
                }
            }
        }
    }
}

/// The fused forward pass, or `None` where it does not apply.
pub(crate) fn attention(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    padding: Option<&BoolTensor<Flex>>,
    heads: usize,
    masked: f64,
) -> Option<FlexTensor> {
    let dims = dims(q, k, v, padding, heads)?;
    let shape = q.shape();
    let padding = padding_values(padding);
    let (q, k, v) = (values(q), values(k), values(v));
    let d = dims.width();
    let mut out = vec![0f32; q.len()];
    let out_ptr = Out(out.as_mut_ptr());
    (0..dims.batch * dims.heads).into_par_iter().for_each_init(
        || vec![0f32; dims.n_q * dims.n_kv],
        |p, bh| {
            weights(&q, &k, padding.as_deref(), dims, bh, masked as f32, p);
            let (oq, ok) = dims.offsets(bh);
            // SAFETY: this task writes head bh's columns of its batch's rows only.
            unsafe {
                product(
                    (dims.n_q, dims.d_head, dims.n_kv),
                    out_ptr.at(oq),
                    (d, 1),
                    p.as_ptr(),
                    (dims.n_kv, 1),
                    v[ok..].as_ptr(),
                    (d, 1),
                    1.0,
                );
            }
        },
    );
    Some(tensor(out, shape))
}

/// The fused backward pass `[dq, dk, dv]`, or `None` where it does not apply.
pub(crate) fn attention_backward(
    [q, k, v]: [&FlexTensor; 3],
    padding: Option<&BoolTensor<Flex>>,
    grad: &FlexTensor,
    heads: usize,
    masked: f64,
) -> Option<[FloatTensor<Flex>; 3]> {
    let dims = dims(q, k, v, padding, heads)?;
    if grad.shape() != q.shape() || grad.dtype() != DType::F32 {
        return None;
    }
    let (q_shape, kv_shape) = (q.shape(), k.shape());
    let padding = padding_values(padding);
    let (q, k, v, g) = (values(q), values(k), values(v), values(grad));
    let d = dims.width();
    let scale = 1.0 / (dims.d_head as f32).sqrt();
    let (mut dq, mut dk, mut dv) = (
        vec![0f32; q.len()],
        vec![0f32; k.len()],
        vec![0f32; v.len()],
    );
    let (dq_ptr, dk_ptr, dv_ptr) = (
        Out(dq.as_mut_ptr()),
        Out(dk.as_mut_ptr()),
        Out(dv.as_mut_ptr()),
    );
    let scores = dims.n_q * dims.n_kv;
    (0..dims.batch * dims.heads).into_par_iter().for_each_init(
        || (vec![0f32; scores], vec![0f32; scores]),
        |(p, ds), bh| {
            weights(&q, &k, padding.as_deref(), dims, bh, masked as f32, p);
            let (oq, ok) = dims.offsets(bh);
            let (n_q, n_kv, d_head) = (dims.n_q, dims.n_kv, dims.d_head);
            // SAFETY: each product reads inside the tensors and writes head bh's columns
            // of its batch's rows (or the task's own scratch) only.
            unsafe {
                // dv = pᵀ g
                product(
                    (n_kv, d_head, n_q),
                    dv_ptr.at(ok),
                    (d, 1),
                    p.as_ptr(),
                    (1, n_kv),
                    g[oq..].as_ptr(),
                    (d, 1),
                    1.0,
                );
                // dp = g vᵀ
                product(
                    (n_q, n_kv, d_head),
                    ds.as_mut_ptr(),
                    (n_kv, 1),
                    g[oq..].as_ptr(),
                    (d, 1),
                    v[ok..].as_ptr(),
                    (1, d),
                    1.0,
                );
            }
            simd::score_gradient_rows(p, ds, n_kv, scale);
            mask_keys(ds, padding.as_deref(), dims, bh, 0.0);
            // SAFETY: as above.
            unsafe {
                // dq = ds k
                product(
                    (n_q, d_head, n_kv),
                    dq_ptr.at(oq),
                    (d, 1),
                    ds.as_ptr(),
                    (n_kv, 1),
                    k[ok..].as_ptr(),
                    (d, 1),
                    1.0,
                );
                // dk = dsᵀ q
                product(
                    (n_kv, d_head, n_q),
                    dk_ptr.at(ok),
                    (d, 1),
                    ds.as_ptr(),
                    (1, n_kv),
                    q[oq..].as_ptr(),
                    (d, 1),
                    1.0,
                );
            }
        },
    );
    Some([
        tensor(dq, q_shape),
        tensor(dk, kv_shape.clone()),
        tensor(dv, kv_shape),
    ])
}
