//! Layer norm over the last dimension while training on flex, as one operation: per row the
//! mean and variance, the normalised values kept, and a one-pass backward. Burn 0.22's autodiff
//! composes layer norm from nine tensor operations forward (two reductions, the centring, the
//! square, the root, the division, the scale and shift, each a fresh buffer) and about twice as
//! many backward; ConvNeXt calls it in every block, Swin twice per block.
//!
//! Outputs and gradients agree with Burn's within float rounding (`tests/suite/ops.rs`).
//! Without autodiff (evaluation) Burn's operation runs: flex has a fused forward of its own.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::prelude::*;
use rayon::prelude::*;

use super::simd::{dot, sum_by, vectorised};
use super::{Lift, contiguous, f32s, from_vec, sum_in_order};

/// Rows per parallel task.
const ROWS: usize = 64;

/// `burn::tensor::module::layer_norm(x, gamma, beta, epsilon)`: `x` normalised over its last
/// dimension, times `gamma`, plus `beta`; one host operation where something is tracked on
/// flex.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    epsilon: f64,
) -> Tensor<D> {
    let Some((lifts, lift_beta)) = plan(&x, &gamma, beta.as_ref()) else {
        return burn::tensor::module::layer_norm(x, gamma, beta, epsilon);
    };
    let [lx, lg] = lifts;
    let (x, gamma) = (lx.tracked(x), lg.tracked(gamma));
    let y = match (beta, lift_beta) {
        (Some(b), Some(lb)) => host_layer_norm([x, gamma, lb.tracked(b)], epsilon),
        _ => host_layer_norm([x, gamma], epsilon),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(y)
}

/// Whether [`layer_norm`] runs on the host for these operands (for tests).
pub fn runs_on_host<const D: usize>(x: &Tensor<D>, gamma: &Tensor<1>) -> bool {
    plan(x, gamma, None).is_some()
}

/// How the operands reach the host operation; `None` where Burn's runs (nothing tracked,
/// another backend or float type, a `gamma` that does not match the last dimension).
fn plan<const D: usize>(
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: Option<&Tensor<1>>,
) -> Option<([Lift; 2], Option<Lift>)> {
    let width = x.dims()[D - 1];
    let widths_match = gamma.dims()[0] == width && beta.is_none_or(|b| b.dims()[0] == width);
    if !widths_match || width == 0 {
        return None;
    }
    let lifts = [Lift::of(x)?, Lift::of(gamma)?];
    let lift_beta = Lift::of_optional(beta)?;
    Lift::any_tracked(&lifts, lift_beta).then_some((lifts, lift_beta))
}

/// The forward pass of `[x, gamma]` or `[x, gamma, beta]`, recorded with [`NormBackward`].
fn host_layer_norm<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    epsilon: f64,
) -> FloatTensor<Autodiff<Flex>> {
    let prep = NormBackward
        .prepare::<NoCheckpointing>(operands.each_ref().map(|t| t.node()))
        .compute_bound()
        .stateful();
    let values = operands.map(|t| contiguous(t.into_primitive()));
    let shape = values[0].shape();
    let (x, gamma) = (f32s(&values[0]), f32s(&values[1]));
    let beta = values.get(2).map(f32s);
    let width = gamma.len();
    let mut normalised = vec![0.0f32; x.len()];
    let mut y = vec![0.0f32; x.len()];
    let mut inv_std = vec![0.0f32; x.len() / width];
    normalised
        .par_chunks_mut(ROWS * width)
        .zip(y.par_chunks_mut(ROWS * width))
        .zip(inv_std.par_chunks_mut(ROWS))
        .zip(x.par_chunks(ROWS * width))
        .for_each(|(((xh, y), s), x)| {
            vectorised(
                #[inline(always)]
                || {
                    let rows = xh.chunks_mut(width).zip(y.chunks_mut(width));
                    for (((xh, y), s), x) in rows.zip(s).zip(x.chunks(width)) {
                        *s = normalise_row(x, xh, epsilon as f32);
                        let scaled = y.iter_mut().zip(xh.iter()).zip(gamma);
                        match beta {
                            Some(beta) => {
                                scaled.zip(beta).for_each(|(((y, x), g), b)| *y = x * g + b)
                            }
                            None => scaled.for_each(|((y, x), g)| *y = x * g),
                        }
                    }
                },
            )
        });
    let y = from_vec(y, shape);
    match prep {
        OpsKind::Tracked(prep) => {
            let kept = Kept {
                normalised: Arc::new(normalised),
                inv_std: Arc::new(inv_std),
                gamma: Arc::new(gamma.to_vec()),
            };
            prep.finish(kept, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// One row normalised into `xh` (mean 0, biased variance 1); returns `1 / sqrt(var + eps)`.
#[inline(always)]
fn normalise_row(x: &[f32], xh: &mut [f32], epsilon: f32) -> f32 {
    let n = x.len() as f32;
    let mean = sum_by(x, |v| v) / n;
    let var = sum_by(x, |v| (v - mean) * (v - mean)) / n;
    let inv_std = 1.0 / (var + epsilon).sqrt();
    for (xh, &v) in xh.iter_mut().zip(x) {
        *xh = (v - mean) * inv_std;
    }
    inv_std
}

/// What the backward pass needs from the forward.
#[derive(Debug, Clone)]
struct Kept {
    normalised: Arc<Vec<f32>>,
    inv_std: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
}

/// The backward of [`host_layer_norm`]: per row, with `g = dy γ`,
/// `dx = (g - mean(g) - x̂ mean(g x̂)) / σ`; over rows, `dγ = Σ dy x̂` and `dβ = Σ dy`.
#[derive(Debug)]
struct NormBackward;

impl<const N: usize> Backward<Flex, N> for NormBackward {
    type State = Kept;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let k = ops.state;
        let width = k.gamma.len();
        let dys = f32s(&dy);
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            let dx = input_grad(&k, dys);
            grads.register::<Flex>(node.id, from_vec(dx, dy.shape()));
        }
        let (node_gamma, node_beta) = (parents.next().flatten(), parents.next().flatten());
        if node_gamma.is_some() || node_beta.is_some() {
            let (dgamma, dbeta) = parameter_grads(&k, dys);
            if let Some(node) = node_gamma {
                grads.register::<Flex>(node.id, from_vec(dgamma, [width].into()));
            }
            if let Some(node) = node_beta {
                grads.register::<Flex>(node.id, from_vec(dbeta, [width].into()));
            }
        }
    }
}

/// `dx`, row by row.
fn input_grad(k: &Kept, dy: &[f32]) -> Vec<f32> {
    let width = k.gamma.len();
    let n = width as f32;
    let mut dx = vec![0.0f32; dy.len()];
    dx.par_chunks_mut(ROWS * width)
        .zip(dy.par_chunks(ROWS * width))
        .zip(k.normalised.par_chunks(ROWS * width))
        .zip(k.inv_std.par_chunks(ROWS))
        .for_each(|(((dx, dy), xh), s)| {
            vectorised(
                #[inline(always)]
                || {
                    let rows = dx.chunks_mut(width).zip(dy.chunks(width));
                    for (((dx, dy), xh), &s) in rows.zip(xh.chunks(width)).zip(s) {
                        // g = dy γ first, in dx's row; then its mean and its mean against x̂.
                        for ((g, &d), &gamma) in dx.iter_mut().zip(dy).zip(k.gamma.iter()) {
                            *g = d * gamma;
                        }
                        let (a, b) = (sum_by(dx, |g| g) / n, dot(dx, xh) / n);
                        for (dx, &x) in dx.iter_mut().zip(xh) {
                            *dx = s * (*dx - a - x * b);
                        }
                    }
                },
            )
        });
    dx
}

/// `(dγ, dβ)`: `Σ dy x̂` and `Σ dy` over rows, in `f64`: partial sums over fixed blocks of
/// rows in parallel, then added in order, so the result does not depend on the threads.
fn parameter_grads(k: &Kept, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let width = k.gamma.len();
    let partials: Vec<(Vec<f64>, Vec<f64>)> = dy
        .par_chunks(ROWS * width)
        .zip(k.normalised.par_chunks(ROWS * width))
        .map(|(dy, xh)| {
            let (mut dg, mut db) = (vec![0.0f64; width], vec![0.0f64; width]);
            vectorised(
                #[inline(always)]
                || {
                    for (dy, xh) in dy.chunks(width).zip(xh.chunks(width)) {
                        for (((dg, db), &d), &x) in dg.iter_mut().zip(db.iter_mut()).zip(dy).zip(xh)
                        {
                            *dg += f64::from(d * x);
                            *db += f64::from(d);
                        }
                    }
                },
            );
            (dg, db)
        })
        .collect();
    let dgamma = sum_in_order(width, partials.iter().map(|(dg, _)| dg.as_slice()));
    let dbeta = sum_in_order(width, partials.iter().map(|(_, db)| db.as_slice()));
    let narrow = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (narrow(dgamma), narrow(dbeta))
}
