//! [`TrrgOps`] for burn's Flex backend (f32; other dtypes take the composite versions).
//!
//! Element-wise work is split over rayon in fixed chunks of [`CHUNK`] elements and row work in
//! fixed blocks of [`ROWS`] rows, so the results do not depend on the number of threads: the
//! per-block partial sums of layer norm's gamma and beta gradients are added in block order.

use burn::backend::Flex;
use burn::tensor::ops::{BoolTensor, FloatTensor};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::{composite, simd, TrrgOps};

/// Elements per parallel task of the element-wise kernels.
const CHUNK: usize = 32 * 1024;
/// Rows per parallel task of the row kernels.
const ROWS: usize = 32;

/// The tensor's elements in row-major order (a copy only when it is not contiguous).
pub(crate) fn values(x: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match x.as_slice::<f32>() {
        Some(values) => values.into(),
        None => x
            .to_contiguous()
            .as_slice::<f32>()
            .expect("contiguous")
            .to_vec()
            .into(),
    }
}

pub(crate) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// Runs `kernel` over `CHUNK`-element pieces of the inputs and the output, in parallel.
fn elementwise(inputs: &[&[f32]], kernel: impl Fn(&[&[f32]], &mut [f32]) + Sync) -> Vec<f32> {
    let n = inputs[0].len();
    let mut out = vec![0f32; n];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, out)| {
        let start = i * CHUNK;
        let pieces: Vec<&[f32]> = inputs
            .iter()
            .map(|x| &x[start..start + out.len()])
            .collect();
        kernel(&pieces, out);
    });
    out
}

impl TrrgOps for Flex {
    fn trrg_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        padding: Option<BoolTensor<Self>>,
        heads: usize,
        masked: f64,
    ) -> FloatTensor<Self> {
        crate::flex_attention::attention(&q, &k, &v, padding.as_ref(), heads, masked)
            .unwrap_or_else(|| composite::attention::<Self>(q, k, v, padding, heads, masked))
    }

    fn trrg_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        padding: Option<BoolTensor<Self>>,
        grad: FloatTensor<Self>,
        heads: usize,
        masked: f64,
    ) -> [FloatTensor<Self>; 3] {
        let fused = crate::flex_attention::attention_backward(
            [&q, &k, &v],
            padding.as_ref(),
            &grad,
            heads,
            masked,
        );
        fused.unwrap_or_else(|| {
            composite::attention_backward::<Self>(q, k, v, padding, grad, heads, masked)
        })
    }

    fn trrg_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if !all_f32(&[&x]) {
            return composite::gelu::<Self>(x);
        }
        let shape = x.shape();
        let out = elementwise(&[&values(&x)], |x, out| simd::gelu_slice(x[0], out));
        tensor(out, shape)
    }

    fn trrg_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !all_f32(&[&x, &grad]) || x.shape() != grad.shape() {
            return composite::gelu_backward::<Self>(x, grad);
        }
        let shape = x.shape();
        let out = elementwise(&[&values(&x), &values(&grad)], |v, out| {
            simd::gelu_backward_slice(v[0], v[1], out)
        });
        tensor(out, shape)
    }

    fn trrg_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !all_f32(&[&y, &grad]) || y.shape() != grad.shape() {
            return composite::softmax_backward::<Self>(y, grad);
        }
        let shape = y.shape();
        let d = shape[shape.num_dims() - 1];
        let (y, grad) = (values(&y), values(&grad));
        let mut dx = vec![0f32; y.len()];
        if d > 0 {
            let block = ROWS * d;
            dx.par_chunks_mut(block)
                .zip(y.par_chunks(block).zip(grad.par_chunks(block)))
                .for_each(|(dx, (y, g))| simd::softmax_backward_rows(y, g, dx, d));
        }
        tensor(dx, shape)
    }

    fn trrg_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        let shape = x.shape();
        let d = shape[shape.num_dims() - 1];
        if !all_f32(&[&x, &gamma, &grad]) || x.shape() != grad.shape() || d == 0 {
            return composite::layer_norm_backward::<Self>(x, gamma, grad, epsilon);
        }
        let (x, gamma, grad) = (values(&x), values(&gamma), values(&grad));
        let mut dx = vec![0f32; x.len()];
        let block = ROWS * d;
        let partials: Vec<Vec<f32>> = dx
            .par_chunks_mut(block)
            .zip(x.par_chunks(block).zip(grad.par_chunks(block)))
            .map(|(dx, (x, g))| {
                let mut partial = vec![0f32; 2 * d];
                simd::layer_norm_backward_rows(x, g, &gamma, dx, &mut partial, epsilon as f32);
                partial
            })
            .collect();
        let mut sums = vec![0f32; 2 * d];
        for partial in &partials {
            for (s, p) in sums.iter_mut().zip(partial) {
                *s += p;
            }
        }
        let dbeta = sums.split_off(d);
        [
            tensor(dx, shape),
            tensor(sums, Shape::new([d])),
            tensor(dbeta, Shape::new([d])),
        ]
    }
}
