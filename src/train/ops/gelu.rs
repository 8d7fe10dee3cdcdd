//! GELU on flex while training: the forward pass computes each element's derivative beside its
//! value and keeps it for the backward pass, which is then one multiplication. Burn 0.22's flex
//! backend computes `erf` again in the backward pass, on one thread, and calls libm's scalar
//! `erff` and `expf` per element; GELU is ConvNeXt's and Swin's only activation, applied to
//! their widest tensors.
//!
//! The formulas are flex's: the value `0.5 x (1 + erf(x / √2))` and the derivative
//! `0.5 (1 + erf(x / √2)) + x e^(-x²/2) / √(2π)`, with `erf` and `e^t` written branch-free
//! (`ops::math`) so that the loop over a slice vectorises. They are not libm's to the bit:
//! outputs within 1.5e-6 of Burn's (relative, or absolute below 1), input gradients within 1e-5
//! of their largest entry (`tests/suite/ops.rs`).
//! Without autodiff (evaluation) Burn's operation runs.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::backend::{Autodiff, TensorMetadata};
use burn::prelude::*;
use burn::tensor::activation;
use rayon::prelude::*;

use super::math::{erf, exp_nonpositive};
use super::simd::vectorised;
use super::{Lift, contiguous, f32s, f32s_mut, from_vec, writable};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// `activation::gelu(x)` (the exact, erf form), on the host while training on flex.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match Lift::of(&x) {
        Some(Lift::Tracked) => {
            let y = host_gelu(Lift::Tracked.tracked(x));
            Tensor::from_primitive::<Autodiff<Flex>>(y)
        }
        _ => activation::gelu(x),
    }
}

/// Whether [`gelu`] runs on the host for this input (for tests).
pub fn runs_on_host<const D: usize>(x: &Tensor<D>) -> bool {
    Lift::of(x) == Some(Lift::Tracked)
}

/// Each value's GELU and its derivative.
#[inline(always)]
fn value_and_slope(x: f32) -> (f32, f32) {
    let sqrt2 = core::f32::consts::SQRT_2;
    let inv_sqrt_2pi = 1.0 / (2.0 * core::f32::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + erf(x / sqrt2));
    let pdf = inv_sqrt_2pi * exp_nonpositive(-0.5 * x * x);
    (x * cdf, cdf + x * pdf)
}

fn host_gelu(
    x: burn::backend::tensor::FloatTensor<Autodiff<Flex>>,
) -> burn::backend::tensor::FloatTensor<Autodiff<Flex>> {
    let prep = GeluBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful();
    let input = contiguous(x.into_primitive());
    let shape = input.shape();
    let values = f32s(&input);
    let mut y = vec![0.0f32; values.len()];
    let mut slope = vec![0.0f32; values.len()];
    y.par_chunks_mut(CHUNK)
        .zip(slope.par_chunks_mut(CHUNK))
        .zip(values.par_chunks(CHUNK))
        .for_each(|((y, slope), x)| {
            vectorised(
                #[inline(always)]
                || {
                    for ((y, s), &x) in y.iter_mut().zip(slope.iter_mut()).zip(x) {
                        (*y, *s) = value_and_slope(x);
                    }
                },
            )
        });
    let y = from_vec(y, shape);
    match prep {
        OpsKind::Tracked(prep) => prep.finish(Arc::new(slope), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// The backward of [`host_gelu`]: the output gradient times the kept derivative.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = Arc<Vec<f32>>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(node) = node else { return };
        let slope = ops.state;
        let mut dx = writable(dy);
        f32s_mut(&mut dx)
            .par_chunks_mut(CHUNK)
            .zip(slope.par_chunks(CHUNK))
            .for_each(|(dx, s)| {
                vectorised(
                    #[inline(always)]
                    || dx.iter_mut().zip(s).for_each(|(d, &s)| *d *= s),
                )
            });
        grads.register::<Flex>(node.id, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::math::tests::grid;

    /// The value and slope against the formulas in `f64` (libm's erf): within 1.3e-6 of the
    /// value's magnitude plus one, and 1e-6 for the slope.
    #[test]
    fn value_and_slope_follow_the_formulas() {
        for x in grid().filter(|x| x.abs() < 1e6) {
            let (v, s) = value_and_slope(x);
            let x = x as f64;
            let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!(
                (v as f64 - x * cdf).abs() <= 1.3e-6 * x.abs().max(1.0),
                "{x}: {v}"
            );
            assert!((s as f64 - (cdf + x * pdf)).abs() <= 1e-6, "{x}: slope {s}");
        }
    }
}
