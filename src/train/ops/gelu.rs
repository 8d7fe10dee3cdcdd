//! GELU on flex while training: the forward pass computes each element's derivative beside its
//! value (one `erf` and one `exp` per element, in parallel) and keeps it for the backward pass,
//! which is then one multiplication. Burn 0.22's flex backend computes `erf` again in the
//! backward pass, on one thread; GELU is ConvNeXt's and Swin's only activation.
//!
//! The formulas are flex's own, term for term: the value `0.5 x (1 + erf(x / √2))` and the
//! derivative `0.5 (1 + erf(x / √2)) + x e^(-x²/2) / √(2π)`, so outputs and gradients are
//! bit-equal to Burn's (`tests/suite/ops.rs`).

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

use super::{Lift, contiguous, f32s, from_vec};

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

/// Each value's GELU and its derivative, flex's formulas.
fn value_and_slope(x: f32) -> (f32, f32) {
    let sqrt2 = core::f32::consts::SQRT_2;
    let inv_sqrt_2pi = 1.0 / (2.0 * core::f32::consts::PI).sqrt();
    let erf = libm::erff(x / sqrt2);
    let value = 0.5 * x * (1.0 + erf);
    let cdf = 0.5 * (1.0 + erf);
    let pdf = inv_sqrt_2pi * (-0.5 * x * x).exp();
    (value, cdf + x * pdf)
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
            for ((y, s), &x) in y.iter_mut().zip(slope.iter_mut()).zip(x) {
                (*y, *s) = value_and_slope(x);
            }
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
        let mut dx = f32s(&dy).to_vec();
        dx.par_chunks_mut(CHUNK)
            .zip(slope.par_chunks(CHUNK))
            .for_each(|(dx, s)| dx.iter_mut().zip(s).for_each(|(d, &s)| *d *= s));
        grads.register::<Flex>(node.id, from_vec(dx, dy.shape()));
    }
}
