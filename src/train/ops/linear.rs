//! The linear layer on flex while training, as one operation: `y = x W + b` for `x` `[rows,
//! in]` and Burn's `[in, out]` weight, the bias written into the output before the product adds
//! to it, and a backward of two products (`dx = dy Wᵀ`, `dW = xᵀ dy`) and one column sum
//! (`db`), each straight into its own buffer. Burn 0.22 composes the layer from a product and a
//! broadcast addition, each with its own backward, and flex passes every product's output
//! through a zero-filled byte vector copied into an aligned one (`FlexTensor::empty`).
//!
//! Rows are split into fixed blocks for the threads, and the weight and bias gradients add the
//! blocks' partial sums in order, so results do not depend on how rayon splits the work.
//! Outputs and gradients agree with Burn's within float rounding (`tests/suite/ops.rs`). Without
//! autodiff (evaluation) Burn's operation runs.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::prelude::*;
use rayon::prelude::*;

use super::gemm::{View, matmul};
use super::simd::vectorised;
use super::{Lift, contiguous, f32s, from_vec, sum_in_order};

/// Rows per parallel task in the products with one output row per input row.
const ROWS: usize = 256;

/// Rows per partial sum of the weight and bias gradients.
const GRAD_ROWS: usize = 1024;

/// `burn::tensor::module::linear(x, weight, bias)` for `x` `[rows, in]`: one host operation
/// where something is tracked on flex.
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    let Some((lifts, lift_bias)) = plan(&x, &weight, bias.as_ref()) else {
        return burn::tensor::module::linear(x, weight, bias);
    };
    let [lx, lw] = lifts;
    let (x, weight) = (lx.tracked(x), lw.tracked(weight));
    let y = match (bias, lift_bias) {
        (Some(b), Some(lb)) => host_linear([x, weight, lb.tracked(b)]),
        _ => host_linear([x, weight]),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(y)
}

/// Whether [`linear`] runs on the host for these operands (for tests).
pub fn runs_on_host(x: &Tensor<2>, weight: &Tensor<2>) -> bool {
    plan(x, weight, None).is_some()
}

/// How the operands reach the host operation; `None` where Burn's runs (nothing tracked,
/// another backend or float type, shapes that do not fit together, an empty matrix).
fn plan(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<([Lift; 2], Option<Lift>)> {
    let ([rows, inputs], [w_in, outputs]) = (x.dims(), weight.dims());
    let fits = inputs == w_in && bias.is_none_or(|b| b.dims()[0] == outputs);
    if !fits || rows * inputs * outputs == 0 {
        return None;
    }
    let lifts = [Lift::of(x)?, Lift::of(weight)?];
    let lift_bias = Lift::of_optional(bias)?;
    Lift::any_tracked(&lifts, lift_bias).then_some((lifts, lift_bias))
}

/// The forward pass of `[x, weight]` or `[x, weight, bias]`, recorded with
/// [`LinearBackward`].
fn host_linear<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
) -> FloatTensor<Autodiff<Flex>> {
    let prep = LinearBackward
        .prepare::<NoCheckpointing>(operands.each_ref().map(|t| t.node()))
        .compute_bound()
        .stateful();
    let values = operands.map(|t| contiguous(t.into_primitive()));
    let [rows, inputs] = values[0].shape().dims();
    let outputs = values[1].shape()[1];
    let (x, w) = (f32s(&values[0]), f32s(&values[1]));
    let bias = values.get(2).map(f32s);
    let mut y = vec![0.0f32; rows * outputs];
    y.par_chunks_mut(ROWS * outputs)
        .zip(x.par_chunks(ROWS * inputs))
        .for_each(|(y, x)| {
            if let Some(bias) = bias {
                y.chunks_mut(outputs)
                    .for_each(|row| row.copy_from_slice(bias));
            }
            let (x, w) = (View::rows(x, inputs), View::rows(w, outputs));
            matmul(y.len() / outputs, outputs, inputs, x, w, y, bias.is_some());
        });
    let y = from_vec(y, [rows, outputs].into());
    match prep {
        OpsKind::Tracked(prep) => {
            let [x, w] = [&values[0], &values[1]].map(|t| t.clone());
            prep.finish(Kept { x, w }, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// What the backward pass needs from the forward: both matrices (shared, not copied).
#[derive(Debug, Clone)]
struct Kept {
    x: FlexTensor,
    w: FlexTensor,
}

/// The backward of [`host_linear`]: `dx = dy Wᵀ`, `dW = xᵀ dy`, `db = Σ_rows dy`.
#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    type State = Kept;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let Kept { x: x_kept, w } = ops.state;
        let (dys, x, w) = (f32s(&dy), f32s(&x_kept), f32s(&w));
        let outputs = dy.shape()[1];
        let inputs = w.len() / outputs;
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            let dx = input_grad(w, dys, inputs, outputs);
            grads.register::<Flex>(node.id, from_vec(dx, x_kept.shape()));
        }
        if let Some(node) = parents.next().flatten() {
            let dw = weight_grad(x, dys, inputs, outputs);
            grads.register::<Flex>(node.id, from_vec(dw, [inputs, outputs].into()));
        }
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, from_vec(bias_grad(dys, outputs), [outputs].into()));
        }
    }
}

/// `dx = dy Wᵀ`, blocks of rows in parallel.
fn input_grad(w: &[f32], dy: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; dy.len() / outputs * inputs];
    dx.par_chunks_mut(ROWS * inputs)
        .zip(dy.par_chunks(ROWS * outputs))
        .for_each(|(dx, dy)| {
            let (dy, wt) = (View::rows(dy, outputs), View::transposed(w, outputs));
            matmul(dx.len() / inputs, inputs, outputs, dy, wt, dx, false);
        });
    dx
}

/// `dW = xᵀ dy`: one product per block of [`GRAD_ROWS`] rows, added in order.
fn weight_grad(x: &[f32], dy: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = x
        .par_chunks(GRAD_ROWS * inputs)
        .zip(dy.par_chunks(GRAD_ROWS * outputs))
        .map(|(x, dy)| {
            let mut dw = vec![0.0f32; inputs * outputs];
            let (xt, dy) = (View::transposed(x, inputs), View::rows(dy, outputs));
            matmul(inputs, outputs, x.len() / inputs, xt, dy, &mut dw, false);
            dw
        })
        .collect();
    sum_in_order(inputs * outputs, partials.iter().map(Vec::as_slice))
}

/// `db = Σ_rows dy`, in `f64` over blocks of [`GRAD_ROWS`] rows, added in order.
fn bias_grad(dy: &[f32], outputs: usize) -> Vec<f32> {
    let partials: Vec<Vec<f64>> = dy
        .par_chunks(GRAD_ROWS * outputs)
        .map(|dy| {
            let mut db = vec![0.0f64; outputs];
            vectorised(
                #[inline(always)]
                || {
                    for row in dy.chunks(outputs) {
                        db.iter_mut()
                            .zip(row)
                            .for_each(|(s, &v)| *s += f64::from(v));
                    }
                },
            );
            db
        })
        .collect();
    let db = sum_in_order(outputs, partials.iter().map(Vec::as_slice));
    db.into_iter().map(|v| v as f32).collect()
}
