//! Adam's and AdamW's updates as one pass on the host, for flex: Burn's `Adam` composes its
//! update from eleven tensor operations per parameter (each a fresh buffer and a pass over
//! memory), 7% of a ResNet-18 step at 28x28 (11M parameters; `perf`,
//! `burn_flex::ops::binary::scalar_op` and company), and `AdamW` from as many. [`HostAdam`] and
//! [`HostAdamW`] compute the same values in the same order, element by element, over the
//! parameter's, the gradient's and the moments' own buffers, and keep Burn's state types
//! ([`AdamState`], [`AdamWState`]), so checkpoints read and write the same records. Anything
//! that is not an `f32` flex tensor, AMSGrad and AdamW's cautious decay take Burn's optimizers.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, Optimizer, decay::WeightDecayConfig,
};
use burn::prelude::*;
use rayon::prelude::*;

use super::simd::vectorised;
use super::{Lift, contiguous, f32s, f32s_mut, from_vec, plain, writable};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// Burn's defaults: the moments' decay rates and epsilon.
const BETAS: (f32, f32) = (0.9, 0.999);
const EPSILON: f32 = 1e-5;

/// Adam (Kingma & Ba), an L2 penalty added to the gradient as Burn's `Adam` adds it;
/// bit-equal to Burn's `Adam` of the same configuration (tested).
#[derive(Clone)]
pub struct HostAdam {
    burn: Adam,
    epsilon: f32,
    penalty: Option<f32>,
}

impl HostAdam {
    /// Burn's defaults with `epsilon` and `weight_decay` where given; no AMSGrad.
    pub fn new(epsilon: Option<f32>, weight_decay: Option<WeightDecayConfig>) -> Self {
        let epsilon = epsilon.unwrap_or(EPSILON);
        let penalty = weight_decay.as_ref().map(|w| w.penalty);
        let config = AdamConfig::new()
            .with_beta_1(BETAS.0)
            .with_beta_2(BETAS.1)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay);
        Self {
            burn: config.build(),
            epsilon,
            penalty,
        }
    }
}

/// AdamW (Loshchilov & Hutter): the decay applied to the parameter, apart from the moments;
/// bit-equal to Burn's `AdamW` of the same configuration (tested).
#[derive(Clone)]
pub struct HostAdamW {
    burn: AdamW,
    epsilon: f32,
    weight_decay: f32,
}

impl HostAdamW {
    /// Burn's defaults with `epsilon` where given and `weight_decay`; no AMSGrad, no cautious
    /// decay.
    pub fn new(epsilon: Option<f32>, weight_decay: f32) -> Self {
        let epsilon = epsilon.unwrap_or(EPSILON);
        let config = AdamWConfig::new()
            .with_beta_1(BETAS.0)
            .with_beta_2(BETAS.1)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay);
        Self {
            burn: config.build(),
            epsilon,
            weight_decay,
        }
    }
}

impl Optimizer for HostAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        host_or_burn(&self.burn, [tensor, grad], state, lr, |time| {
            Coupled::new(self, time, lr)
        })
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

impl Optimizer for HostAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        host_or_burn(&self.burn, [tensor, grad], state, lr, |time| {
            Decoupled::new(self, time, lr)
        })
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

/// Burn's state of Adam or AdamW: the moments, wrapped.
trait Momentum<const D: usize>: Sized {
    fn momentum(&self) -> &AdaptiveMomentumState<D>;
    fn into_momentum(self) -> AdaptiveMomentumState<D>;
    fn from_momentum(momentum: AdaptiveMomentumState<D>) -> Self;
}

impl<const D: usize> Momentum<D> for AdamState<D> {
    fn momentum(&self) -> &AdaptiveMomentumState<D> {
        &self.momentum
    }
    fn into_momentum(self) -> AdaptiveMomentumState<D> {
        self.momentum
    }
    fn from_momentum(momentum: AdaptiveMomentumState<D>) -> Self {
        Self::new(momentum)
    }
}

impl<const D: usize> Momentum<D> for AdamWState<D> {
    fn momentum(&self) -> &AdaptiveMomentumState<D> {
        &self.momentum
    }
    fn into_momentum(self) -> AdaptiveMomentumState<D> {
        self.momentum
    }
    fn from_momentum(momentum: AdaptiveMomentumState<D>) -> Self {
        Self::new(momentum)
    }
}

/// One step: on the host under the rule `rule_at(t)` for step `t` where [`on_host`] holds,
/// else Burn's optimizer `burn` (whose state type the host keeps).
fn host_or_burn<O, R, const D: usize>(
    burn: &O,
    [tensor, grad]: [Tensor<D>; 2],
    state: Option<O::State<D>>,
    lr: LearningRate,
    rule_at: impl FnOnce(usize) -> R,
) -> (Tensor<D>, Option<O::State<D>>)
where
    O: Optimizer,
    O::State<D>: Momentum<D>,
    R: Rule,
{
    if !on_host(&tensor, &grad, state.as_ref().map(Momentum::momentum)) {
        return burn.step(lr, tensor, grad, state);
    }
    let (tensor, momentum) = update(rule_at, tensor, grad, state.map(Momentum::into_momentum));
    (tensor, Some(O::State::<D>::from_momentum(momentum)))
}

/// Whether the parameter, its gradient and its moments are plain `f32` flex tensors (and no
/// AMSGrad maximum is kept): the host update applies.
fn on_host<const D: usize>(
    tensor: &Tensor<D>,
    grad: &Tensor<D>,
    momentum: Option<&AdaptiveMomentumState<D>>,
) -> bool {
    let host = |t: &Tensor<D>| Lift::of(t) == Some(Lift::Constant);
    host(tensor)
        && host(grad)
        && momentum
            .is_none_or(|m| m.max_moment_2.is_none() && host(&m.moment_1) && host(&m.moment_2))
}

/// One element's update under a rule: Adam's or AdamW's, with the step's scalars.
trait Rule: Copy + Send + Sync {
    /// The parameter `p` with its gradient `g` and moments; `first`: no moments yet (they
    /// hold zeros, unread).
    fn element(self, p: &mut f32, g: f32, m1: &mut f32, m2: &mut f32, first: bool);
}

/// The moments' update, as Burn's `AdaptiveMomentum(W)::transform` computes it.
#[inline(always)]
fn moments(g: f32, m1: &mut f32, m2: &mut f32, first: bool) {
    let (rest_1, rest_2) = (1.0 - BETAS.0, 1.0 - BETAS.1);
    if first {
        *m1 = g * rest_1;
        *m2 = g * g * rest_2;
    } else {
        *m1 = *m1 * BETAS.0 + g * rest_1;
        *m2 = *m2 * BETAS.1 + g * g * rest_2;
    }
}

/// The update on flex tensors (checked by [`on_host`]) under the rule of its step number,
/// `rule_at(t)`, over the parameter's and moments' own buffers; the moments start at zero on
/// the first step.
fn update<R: Rule, const D: usize>(
    rule_at: impl FnOnce(usize) -> R,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let shape = tensor.shape();
    let mut p = writable(contiguous(plain(tensor)));
    let g = contiguous(plain(grad));
    let own = |t: Tensor<D>| writable(contiguous(plain(t)));
    let zeros = || from_vec(vec![0.0; shape.num_elements()], shape.clone());
    let (time, mut m1, mut m2) = match momentum {
        Some(m) => (m.time + 1, own(m.moment_1), own(m.moment_2)),
        None => (1, zeros(), zeros()),
    };
    let (rule, first) = (rule_at(time), time == 1);
    (f32s_mut(&mut p).par_chunks_mut(CHUNK))
        .zip(f32s(&g).par_chunks(CHUNK))
        .zip(f32s_mut(&mut m1).par_chunks_mut(CHUNK))
        .zip(f32s_mut(&mut m2).par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m1), m2)| {
            vectorised(
                #[inline(always)]
                move || {
                    let values = p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut());
                    for (((p, &g), m1), m2) in values {
                        rule.element(p, g, m1, m2, first);
                    }
                },
            )
        });
    let tensor = |t| Tensor::from_primitive::<burn::backend::flex::Flex>(t);
    let momentum = AdaptiveMomentumState::new(time, tensor(m1), tensor(m2));
    (tensor(p), momentum)
}

/// Adam's step `t`, as Burn's `Adam::step` computes it (in `f32`).
#[derive(Clone, Copy)]
struct Coupled {
    /// `√(1 - β2^t) / (1 - β1^t)`.
    combined: f32,
    /// `ε √(1 - β2^t)`.
    epsilon: f32,
    penalty: Option<f32>,
    lr: f32,
}

impl Coupled {
    fn new(adam: &HostAdam, time: usize, lr: LearningRate) -> Self {
        let t = time as i32;
        let correction_2 = (1.0 - BETAS.1.powi(t)).sqrt();
        Self {
            combined: correction_2 / (1.0 - BETAS.0.powi(t)),
            epsilon: adam.epsilon * correction_2,
            penalty: adam.penalty,
            lr: lr as f32,
        }
    }
}

impl Rule for Coupled {
    #[inline(always)]
    fn element(self, p: &mut f32, g: f32, m1: &mut f32, m2: &mut f32, first: bool) {
        let g = match self.penalty {
            Some(penalty) => *p * penalty + g,
            None => g,
        };
        moments(g, m1, m2, first);
        let update = *m1 * self.combined / (m2.sqrt() + self.epsilon);
        *p -= update * self.lr;
    }
}

/// AdamW's step `t`, as Burn's `AdamW::step` computes it (in `f32`; the decay's factor in
/// `f64`, then rounded).
#[derive(Clone, Copy)]
struct Decoupled {
    /// `1 - β1^t`, `1 - β2^t`.
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 - lr λ`, or `None` where `lr λ` is zero (the parameter is left as it is).
    keep: Option<f32>,
    lr: f32,
}

impl Decoupled {
    fn new(adam: &HostAdamW, time: usize, lr: LearningRate) -> Self {
        let t = time as i32;
        let decay = lr * f64::from(adam.weight_decay);
        Self {
            correction_1: 1.0 - BETAS.0.powi(t),
            correction_2: 1.0 - BETAS.1.powi(t),
            epsilon: adam.epsilon,
            keep: (decay != 0.0).then_some((1.0 - decay) as f32),
            lr: lr as f32,
        }
    }
}

impl Rule for Decoupled {
    #[inline(always)]
    fn element(self, p: &mut f32, g: f32, m1: &mut f32, m2: &mut f32, first: bool) {
        moments(g, m1, m2, first);
        let corrected_1 = *m1 / self.correction_1;
        let corrected_2 = *m2 / self.correction_2;
        let update = corrected_1 / (corrected_2.sqrt() + self.epsilon);
        if let Some(keep) = self.keep {
            *p *= keep;
        }
        *p -= update * self.lr;
    }
}
