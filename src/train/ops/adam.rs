//! Adam's update as one pass on the host, for flex: Burn's `Adam` composes it from eleven
//! tensor operations per parameter (each a fresh buffer and a pass over memory), 7% of a
//! ResNet-18 step at 28x28 (11M parameters; `perf`, `burn_flex::ops::binary::scalar_op`
//! and company). [`HostAdam`] computes the same values in the same order, element by element,
//! over the parameter's, the gradient's and the moments' own buffers, and keeps Burn's state
//! type ([`AdamState`]), so checkpoints read and write the same records. Anything that is not
//! an `f32` flex tensor takes Burn's `Adam`.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer,
    decay::WeightDecayConfig,
};
use burn::prelude::*;
use rayon::prelude::*;

use super::simd::vectorised;
use super::{Lift, contiguous, f32s, f32s_mut, plain, writable};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// Adam (Kingma & Ba), with an L2 penalty added to the gradient as Burn's `Adam` adds it;
/// bit-equal to Burn's `Adam` on the same configuration (tested).
#[derive(Clone)]
pub struct HostAdam {
    burn: Adam,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    penalty: Option<f32>,
}

impl HostAdam {
    /// Burn's defaults (betas 0.9 and 0.999, epsilon 1e-5) with `epsilon` and `weight_decay`
    /// where given; no AMSGrad.
    pub fn new(epsilon: Option<f32>, weight_decay: Option<WeightDecayConfig>) -> Self {
        let (beta_1, beta_2) = (0.9, 0.999);
        let epsilon = epsilon.unwrap_or(1e-5);
        let penalty = weight_decay.as_ref().map(|w| w.penalty);
        let config = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay);
        Self {
            burn: config.build(),
            beta_1,
            beta_2,
            epsilon,
            penalty,
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
        let host = |t: &Tensor<D>| Lift::of(t) == Some(Lift::Constant);
        let on_host = host(&tensor)
            && host(&grad)
            && state.as_ref().is_none_or(|s| {
                let m = &s.momentum;
                m.max_moment_2.is_none() && host(&m.moment_1) && host(&m.moment_2)
            });
        if !on_host {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (tensor, momentum) = self.update(lr, tensor, grad, state.map(|s| s.momentum));
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

impl HostAdam {
    /// The update on flex tensors (checked by the caller): Burn's `Adam::step` and
    /// `AdaptiveMomentum::transform`, one element at a time.
    fn update<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        momentum: Option<AdaptiveMomentumState<D>>,
    ) -> (Tensor<D>, AdaptiveMomentumState<D>) {
        let shape = tensor.shape();
        let mut p = writable(contiguous(plain(tensor)));
        let g = contiguous(plain(grad));
        let (time, mut m1, mut m2) = match momentum {
            Some(m) => (
                m.time + 1,
                Some(writable(contiguous(plain(m.moment_1)))),
                Some(writable(contiguous(plain(m.moment_2)))),
            ),
            None => (1, None, None),
        };
        let first = m1.is_none();
        let zeros = || super::from_vec(vec![0.0; shape.num_elements()], shape.clone());
        let (mut m1, mut m2) = (
            m1.take().unwrap_or_else(zeros),
            m2.take().unwrap_or_else(zeros),
        );
        let k = Constants::new(self, time, lr);
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
                            k.element(p, g, m1, m2, first);
                        }
                    },
                )
            });
        let tensor = |t| Tensor::from_primitive::<burn::backend::flex::Flex>(t);
        let momentum = AdaptiveMomentumState::new(time, tensor(m1), tensor(m2));
        (tensor(p), momentum)
    }
}

/// One step's scalars, as Burn computes them (in `f32`).
#[derive(Clone, Copy)]
struct Constants {
    beta_1: f32,
    beta_2: f32,
    /// `1 - β1`, `1 - β2`.
    rest_1: f32,
    rest_2: f32,
    /// `√(1 - β2^t) / (1 - β1^t)`.
    combined: f32,
    /// `ε √(1 - β2^t)`.
    epsilon: f32,
    penalty: Option<f32>,
    lr: f32,
}

impl Constants {
    fn new(adam: &HostAdam, time: usize, lr: LearningRate) -> Self {
        let t = time as i32;
        let correction_2 = (1.0 - adam.beta_2.powi(t)).sqrt();
        Self {
            beta_1: adam.beta_1,
            beta_2: adam.beta_2,
            rest_1: 1.0 - adam.beta_1,
            rest_2: 1.0 - adam.beta_2,
            combined: correction_2 / (1.0 - adam.beta_1.powi(t)),
            epsilon: adam.epsilon * correction_2,
            penalty: adam.penalty,
            lr: lr as f32,
        }
    }

    /// One parameter `p` with its gradient `g` and moments; `first`: no moments yet (they hold
    /// zeros, unread).
    #[inline(always)]
    fn element(self, p: &mut f32, g: f32, m1: &mut f32, m2: &mut f32, first: bool) {
        let g = match self.penalty {
            Some(penalty) => *p * penalty + g,
            None => g,
        };
        if first {
            *m1 = g * self.rest_1;
            *m2 = g * g * self.rest_2;
        } else {
            *m1 = *m1 * self.beta_1 + g * self.rest_1;
            *m2 = *m2 * self.beta_2 + g * g * self.rest_2;
        }
        let update = *m1 * self.combined / (m2.sqrt() + self.epsilon);
        *p -= update * self.lr;
    }
}
