//! Batch norm while training on flex, as one operation: per channel the batch mean and
//! (biased) variance, the normalised output, and a backward pass from the kept normalised
//! values. Burn 0.22 composes both passes from tensor operations that swap the batch and channel
//! axes (a layout copy each) and read the activation several times; ResNet's every convolution
//! is followed by one.
//!
//! [`forward_relu`] adds the ReLU that follows batch norm in ResNet into the same operation: the
//! output clamped at zero as it is written, the output gradient masked where the output is not
//! positive (recomputed from the normalised values) as it is read, sparing the ReLU's own pass
//! over the map each way and its buffers.
//!
//! The running statistics are updated as Burn's `BatchNorm::forward` updates them (momentum,
//! biased variance), so a model trained this way evaluates as one trained by Burn's. Outputs and
//! gradients agree with Burn's within float rounding (`tests/suite/ops.rs`).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::nn::BatchNorm;
use burn::prelude::*;
use rayon::prelude::*;

use super::simd::{pair_sum, vectorised};
use super::{Lift, contiguous, f32s, f32s_mut, from_vec, writable};

/// `bn.forward(x)`, as one host operation while training on flex.
pub fn forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    match lifts(bn, &x) {
        Some(lifts) => host_forward(bn, x, lifts, false),
        None => bn.forward(x),
    }
}

/// `relu(bn.forward(x))`, as one host operation while training on flex.
pub fn forward_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    match lifts(bn, &x) {
        Some(lifts) => host_forward(bn, x, lifts, true),
        None => burn::tensor::activation::relu(bn.forward(x)),
    }
}

/// The host operation, then the running statistics updated as Burn's layer updates them.
fn host_forward(bn: &BatchNorm, x: Tensor<4>, [lx, lg, lb]: [Lift; 3], relu: bool) -> Tensor<4> {
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    let device = x.device();
    let (y, mean, variance) = host_batch_norm(
        [lx.tracked(x), lg.tracked(gamma), lb.tracked(beta)],
        bn.epsilon,
        relu,
    );
    let stat = |v: Vec<f32>| {
        let n = v.len();
        Tensor::<1>::from_data(TensorData::new(v, [n]), &device)
    };
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - m)
        .add(stat(mean).mul_scalar(m));
    let running_var = running_var
        .mul_scalar(1.0 - m)
        .add(stat(variance).mul_scalar(m));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_primitive::<Autodiff<Flex>>(y)
}

/// Whether [`forward`] runs on the host: training (autodiff, the layer not frozen), flex
/// `f32` operands, something tracked.
pub fn runs_on_host(bn: &BatchNorm, x: &Tensor<4>) -> bool {
    lifts(bn, x).is_some()
}

/// How `x`, gamma and beta reach the host operation; `None` where Burn's runs.
fn lifts(bn: &BatchNorm, x: &Tensor<4>) -> Option<[Lift; 3]> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return None;
    }
    let lifts = [
        Lift::of(x)?,
        Lift::of(&bn.gamma.val())?,
        Lift::of(&bn.beta.val())?,
    ];
    lifts.contains(&Lift::Tracked).then_some(lifts)
}

/// Per channel of `[n, c, h, w]` values: the mean and biased variance (two passes, `f64` sums).
fn statistics(x: &[f32], [n, c, hw]: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
    let count = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || {
                (0..n)
                    .map(move |s| &x[(s * c + ch) * hw..][..hw])
                    .map(|p| (p, p))
            };
            let mean = planes_sum(planes(), |v, _| f64::from(v)) / count;
            let sq = planes_sum(planes(), |v, _| (f64::from(v) - mean).powi(2));
            (mean as f32, (sq / count) as f32)
        })
        .unzip()
}

/// `Σ f(v, w)` in `f64` over pairs of planes: each plane's in lanes ([`pair_sum`]), the
/// planes' in order.
fn planes_sum<'a>(
    planes: impl Iterator<Item = (&'a [f32], &'a [f32])>,
    f: impl Fn(f32, f32) -> f64,
) -> f64 {
    let plane = |(v, w): (&[f32], &[f32])| {
        vectorised(
            #[inline(always)]
            || pair_sum(v, w, &f),
        )
    };
    planes.map(plane).sum()
}

/// The forward pass (clamped at zero if `relu`): output, batch mean, batch variance.
fn host_batch_norm(
    [x, gamma, beta]: [FloatTensor<Autodiff<Flex>>; 3],
    epsilon: f64,
    relu: bool,
) -> (FloatTensor<Autodiff<Flex>>, Vec<f32>, Vec<f32>) {
    let prep = NormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful();
    let input = contiguous(x.into_primitive());
    let gamma = contiguous(gamma.into_primitive());
    let beta = contiguous(beta.into_primitive());
    let shape = input.shape();
    let [n, c, h, w] = shape.dims::<4>();
    let hw = h * w;
    let (mean, variance) = statistics(f32s(&input), [n, c, hw]);
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| 1.0 / (v + epsilon as f32).sqrt())
        .collect();
    let (g, b) = (f32s(&gamma), f32s(&beta));
    // The normalised values over the input's own buffer (a copy where something else holds
    // it; a convolution keeps its input, not its output), so one fresh buffer, the output's.
    let mut normalised = writable(input);
    let mut y = vec![0.0f32; shape.num_elements()];
    f32s_mut(&mut normalised)
        .par_chunks_mut(hw)
        .zip(y.par_chunks_mut(hw))
        .enumerate()
        .for_each(|(plane, (xh, y))| {
            let ch = plane % c;
            let (m, s, affine) = (mean[ch], inv_std[ch], Affine::new(g[ch], b[ch], relu));
            vectorised(
                #[inline(always)]
                move || {
                    for (xh, y) in xh.iter_mut().zip(y.iter_mut()) {
                        *xh = (*xh - m) * s;
                        *y = affine.output(*xh);
                    }
                },
            );
        });
    let y = from_vec(y, shape);
    let out = match prep {
        OpsKind::Tracked(prep) => {
            let state = Kept {
                normalised,
                inv_std: Arc::new(inv_std),
                gamma: Arc::new(g.to_vec()),
                beta: Arc::new(b.to_vec()),
                relu,
                dims: [n, c, hw],
            };
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (out, mean, variance)
}

/// What the backward pass needs from the forward.
#[derive(Debug, Clone)]
struct Kept {
    normalised: FlexTensor,
    inv_std: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
    beta: Arc<Vec<f32>>,
    relu: bool,
    dims: [usize; 3],
}

/// One channel's `γ x̂ + β`, clamped at zero if `relu` as Burn's ReLU clamps (`y <= 0` to zero,
/// so NaN passes), and the output gradient through the clamp.
#[derive(Debug, Clone, Copy)]
struct Affine {
    gamma: f32,
    beta: f32,
    relu: bool,
}

impl Affine {
    fn new(gamma: f32, beta: f32, relu: bool) -> Self {
        Self { gamma, beta, relu }
    }

    #[inline(always)]
    fn output(self, xh: f32) -> f32 {
        let y = xh * self.gamma + self.beta;
        if self.relu && y <= 0.0 { 0.0 } else { y }
    }

    /// The gradient reaching `γ x̂ + β` from `dy` at the output: zero where the clamp holds the
    /// output at zero (Burn's ReLU backward masks where its output is `<= 0`).
    #[inline(always)]
    fn through(self, xh: f32, dy: f32) -> f32 {
        if self.relu && xh * self.gamma + self.beta <= 0.0 {
            0.0
        } else {
            dy
        }
    }
}

/// The backward of [`host_batch_norm`]: per channel `dβ = Σ dy`, `dγ = Σ dy x̂`, and
/// `dx = γ / σ (dy - (Σ dy + x̂ Σ dy x̂) / m)` over the channel's `m` values, `dy` being the
/// gradient through the ReLU where there is one ([`Affine::through`]).
#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = Kept;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let k = ops.state;
        let [n, c, hw] = k.dims;
        let normalised = f32s(&k.normalised);
        let dy_values = f32s(&dy);
        let (sum_dy, sum_dy_xh): (Vec<f32>, Vec<f32>) = (0..c)
            .into_par_iter()
            .map(|ch| {
                let affine = Affine::new(k.gamma[ch], k.beta[ch], k.relu);
                let planes = || {
                    (0..n).map(|s| {
                        let at = (s * c + ch) * hw;
                        (&dy_values[at..at + hw], &normalised[at..at + hw])
                    })
                };
                // Two passes over each plane pair (in cache after the first): one sum a loop.
                let a = planes_sum(planes(), |d, xh| f64::from(affine.through(xh, d)));
                let b = planes_sum(planes(), |d, xh| f64::from(affine.through(xh, d) * xh));
                (a as f32, b as f32)
            })
            .unzip();
        if let Some(node) = node_x {
            let m = (n * hw) as f32;
            // dx over the output gradient's own buffer, each value read before it is written.
            let mut dx = writable(dy);
            f32s_mut(&mut dx)
                .par_chunks_mut(hw)
                .zip(normalised.par_chunks(hw))
                .enumerate()
                .for_each(|(plane, (dx, xh))| {
                    let ch = plane % c;
                    let affine = Affine::new(k.gamma[ch], k.beta[ch], k.relu);
                    let scale = k.gamma[ch] * k.inv_std[ch];
                    let (a, b) = (sum_dy[ch] / m, sum_dy_xh[ch] / m);
                    // `move`: the closure holds its own copies of the scalars. Captured by
                    // reference, they were reloaded after every store to `dx` (which could
                    // alias them for all the compiler knew) and the loop stayed scalar.
                    vectorised(
                        #[inline(always)]
                        move || {
                            for (dx, &xh) in dx.iter_mut().zip(xh) {
                                *dx = scale * (affine.through(xh, *dx) - a - xh * b);
                            }
                        },
                    );
                });
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, from_vec(sum_dy_xh, [c].into()));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, from_vec(sum_dy, [c].into()));
        }
    }
}
