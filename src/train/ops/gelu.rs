//! GELU on flex while training: the forward pass computes each element's derivative beside its
//! value and keeps it for the backward pass, which is then one multiplication. Burn 0.22's flex
//! backend computes `erf` again in the backward pass, on one thread, and calls libm's scalar
//! `erff` and `expf` per element; GELU is ConvNeXt's and Swin's only activation, applied to
//! their widest tensors.
//!
//! The formulas are flex's: the value `0.5 x (1 + erf(x / √2))` and the derivative
//! `0.5 (1 + erf(x / √2)) + x e^(-x²/2) / √(2π)`, with `erf` and `e^t` written branch-free
//! ([`erf`], [`exp_nonpositive`]) so that the loop over a slice vectorises. They are not libm's
//! to the bit: outputs within 1.3e-6 of Burn's, gradients within 1e-6 (`tests/suite/ops.rs`).
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

/// Each value's GELU and its derivative.
#[inline(always)]
fn value_and_slope(x: f32) -> (f32, f32) {
    let sqrt2 = core::f32::consts::SQRT_2;
    let inv_sqrt_2pi = 1.0 / (2.0 * core::f32::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + erf(x / sqrt2));
    let pdf = inv_sqrt_2pi * exp_nonpositive(-0.5 * x * x);
    (x * cdf, cdf + x * pdf)
}

/// erf(x) in `f32`, branch-free: the rational approximation XLA and Eigen vectorise (an odd
/// degree-13 polynomial over an even degree-8 one) on `x` clamped to [-4, 4], beyond which erf
/// is ±1 in `f32`. Within 4.5e-7 of erf (tested against libm's `f64` erf).
#[inline(always)]
fn erf(x: f32) -> f32 {
    const NUMERATOR: [f64; 7] = [
        -2.726_142_258_013_06e-10,
        2.770_681_424_959_02e-8,
        -2.101_024_020_825_08e-6,
        -5.692_506_394_623_46e-5,
        -7.349_906_303_268_55e-4,
        -2.954_599_808_540_25e-3,
        -1.609_603_332_624_15e-2,
    ];
    const DENOMINATOR: [f64; 5] = [
        -1.456_607_184_649_96e-5,
        -2.133_740_552_789_05e-4,
        -1.682_826_974_382_03e-3,
        -7.373_329_167_204_68e-3,
        -1.426_473_905_141_89e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = NUMERATOR.iter().fold(0.0, |p, &c| p * x2 + c as f32);
    let q = DENOMINATOR.iter().fold(0.0, |q, &c| q * x2 + c as f32);
    x * p / q
}

/// e^t for t <= 0 in `f32`, branch-free: t = n ln 2 + r with |r| <= ln 2 / 2 (n rounded by
/// adding 1.5 * 2^23), e^r by its Taylor series to degree 7 (truncation below 1e-8), times 2^n
/// written into the exponent bits. Arguments below -87 give e^-87 (where `f32`'s normal range
/// ends; GELU multiplies it by x, so it stands for 0 within 1e-36). Within 2 ulp of e^t
/// (tested).
#[inline(always)]
fn exp_nonpositive(t: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LOW: f32 = f32::from_bits(0x35bf_be8e);
    let t = t.max(-87.0);
    let shifted = t * core::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (t - n * LN2_HIGH) - n * LN2_LOW;
    let taylor = (1..=7)
        .rev()
        .fold(1.0, |acc, k| 1.0 + acc * r * (1.0 / k as f32));
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    taylor * f32::from_bits(exponent as u32)
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
        let mut dy = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(node) = node else { return };
        let slope = ops.state;
        let times_slope = |dx: &mut [f32]| {
            dx.par_chunks_mut(CHUNK)
                .zip(slope.par_chunks(CHUNK))
                .for_each(|(dx, s)| dx.iter_mut().zip(s).for_each(|(d, &s)| *d *= s));
        };
        // The output gradient's own buffer where nothing else holds it (the usual case), a
        // copy otherwise.
        let n = slope.len();
        let dx = match dy.try_storage_mut::<f32>().filter(|all| all.len() == n) {
            Some(all) => {
                times_slope(all);
                dy
            }
            None => {
                let mut dx = f32s(&dy).to_vec();
                times_slope(&mut dx);
                from_vec(dx, dy.shape())
            }
        };
        grads.register::<Flex>(node.id, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments every 1e-5 over [-7, 7] and the extremes.
    fn grid() -> impl Iterator<Item = f32> {
        let extremes = [
            0.0, -0.0, 1e-30, -1e-30, 12.0, -12.0, 40.0, -40.0, 1e30, -1e30,
        ];
        (-700_000..=700_000)
            .map(|i| i as f32 * 1e-5)
            .chain(extremes)
    }

    #[test]
    fn erf_is_within_4_5e_7_of_erf() {
        let worst = grid()
            .map(|x| (erf(x) as f64 - libm::erf(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 4.5e-7, "{worst:e}");
        assert_eq!((erf(0.0), erf(40.0), erf(-40.0)), (0.0, 1.0, -1.0));
    }

    #[test]
    fn exp_nonpositive_is_within_2_ulp_of_exp() {
        for t in (0..=8_700_000).map(|i| i as f32 * -1e-5) {
            let (got, want) = (exp_nonpositive(t) as f64, (t as f64).exp());
            assert!(
                (got - want).abs() <= 2.0 * f32::EPSILON as f64 * want,
                "e^{t}: {got:e}, want {want:e}"
            );
        }
        let floor = exp_nonpositive(-87.0);
        assert_eq!(exp_nonpositive(-1e30), floor);
        assert!(floor > 0.0 && floor < 2e-38, "{floor:e}");
    }

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
