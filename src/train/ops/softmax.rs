//! Softmax over the last dimension on flex while training, as one operation: per row the
//! maximum, `e^(x - max)` by the branch-free exponential of `ops::math` (the loop vectorises),
//! the sum and the quotient; the output kept for the backward, `dx = y (dy - Σ dy y)` per row,
//! written over the output gradient's own buffer.
//! Burn 0.22 composes softmax from five tensor operations (the maximum, the difference, exp,
//! the sum, the division), each a fresh buffer with its own backward, and flex's exp calls
//! glibc's scalar `expf`. Swin's and ViT's attention call it on every head's scores.
//!
//! Outputs and gradients agree with Burn's within float rounding (`tests/suite/ops.rs`).
//! Without autodiff (evaluation), or over another dimension, Burn's operation runs.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::prelude::*;
use burn::tensor::activation;
use rayon::prelude::*;

use super::math::exp_nonpositive;
use super::simd::{dot, max_of, sum_by, vectorised};
use super::{Lift, contiguous, f32s, f32s_mut, from_vec, writable};

/// Rows per parallel task.
const ROWS: usize = 256;

/// `activation::softmax(x, dim)`, on the host while training on flex when `dim` is the last.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !runs_on_host(&x, dim) {
        return activation::softmax(x, dim);
    }
    let y = host_softmax(Lift::Tracked.tracked(x));
    Tensor::from_primitive::<Autodiff<Flex>>(y)
}

/// Whether [`softmax`] runs on the host for this input and dimension (for tests).
pub fn runs_on_host<const D: usize>(x: &Tensor<D>, dim: usize) -> bool {
    dim + 1 == D && x.dims()[dim] > 0 && Lift::of(x) == Some(Lift::Tracked)
}

fn host_softmax(x: FloatTensor<Autodiff<Flex>>) -> FloatTensor<Autodiff<Flex>> {
    let prep = SoftmaxBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful();
    let input = contiguous(x.into_primitive());
    let shape = input.shape();
    let width = shape[shape.num_dims() - 1];
    let mut y = f32s(&input).to_vec();
    y.par_chunks_mut(ROWS * width).for_each(|y| {
        vectorised(
            #[inline(always)]
            || {
                for row in y.chunks_mut(width) {
                    softmax_in_place(row);
                }
            },
        )
    });
    let y = from_vec(y, shape);
    match prep {
        OpsKind::Tracked(prep) => prep.finish(y.clone(), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// One row in place: `e^(x - max) / Σ e^(x - max)`.
#[inline(always)]
pub(super) fn softmax_in_place(row: &mut [f32]) {
    let max = max_of(row);
    row.iter_mut().for_each(|v| *v = exp_nonpositive(*v - max));
    let sum = sum_by(row, |v| v);
    row.iter_mut().for_each(|v| *v /= sum);
}

/// One row's backward over its output gradient `dy` in place: `dx = y (dy - Σ dy y)`.
#[inline(always)]
pub(super) fn backward_in_place(dy: &mut [f32], y: &[f32]) {
    let dot = dot(dy, y);
    for (d, &y) in dy.iter_mut().zip(y) {
        *d = y * (*d - dot);
    }
}

/// The backward of [`host_softmax`], from the kept output.
#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(node) = node else { return };
        let shape = dy.shape();
        let width = shape[shape.num_dims() - 1];
        let y = f32s(&ops.state);
        // Row by row in the output gradient's own buffer: its dot product with the output
        // first, then each entry overwritten.
        let mut dx = writable(dy);
        f32s_mut(&mut dx)
            .par_chunks_mut(ROWS * width)
            .zip(y.par_chunks(ROWS * width))
            .for_each(|(dx, y)| {
                vectorised(
                    #[inline(always)]
                    || {
                        for (dx, y) in dx.chunks_mut(width).zip(y.chunks(width)) {
                            backward_in_place(dx, y);
                        }
                    },
                )
            });
        grads.register::<Flex>(node.id, dx);
    }
}
