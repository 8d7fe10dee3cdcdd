//! The optimizer as the published recipes run it: Burn's Adam or AdamW (on flex in one
//! pass: [`HostAdam`], [`HostAdamW`]) or SGD, with the fine print
//! of the official code ([`RecipeDetails`]): Adam's epsilon, no weight decay on 1-D parameters,
//! biases and relative-position tables (the official `optimizer.py`'s `set_weight_decay`), and
//! gradients clipped by their global norm (`torch.nn.utils.clip_grad_norm_`; Burn's own clipping
//! is per parameter).

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;

use super::ops::adam::{HostAdam, HostAdamW};
use super::{Model, OptimizerSpec, TrainSpec};

/// The fine print of published recipes, each off (Burn's behaviour) by default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RecipeDetails {
    /// Adam/AdamW epsilon; `None`: Burn's 1e-5 (PyTorch's and the official code's is 1e-8).
    pub adam_eps: Option<f64>,
    /// Warm-up starts at this rate and rises linearly to the peak (timm's `warmup_lr_init`);
    /// `None`: from peak / warm-up steps.
    pub warmup_lr: Option<f64>,
    /// Gradients scaled to at most this global L2 norm before each step.
    pub clip_grad_norm: Option<f64>,
    /// Weight decay kept off 1-D parameters (biases, norm scales and shifts, layer scale) and
    /// relative-position bias tables.
    pub no_decay_on_norm_bias: bool,
}

/// Whether a parameter named `name` (its field name) of `dims` dimensions takes no weight
/// decay under `no_decay_on_norm_bias`: as the official `set_weight_decay`, every 1-D
/// parameter, every `bias`, and the relative-position bias tables (`bias_table` here,
/// `relative_position_bias_table` there).
pub fn skips_decay(name: &str, dims: usize) -> bool {
    dims == 1 || name == "bias" || name.ends_with("bias_table")
}

/// The ids of `model`'s parameters that [`skips_decay`].
struct NoDecay {
    path: Vec<String>,
    ids: Vec<ParamId>,
}

impl ModuleVisitor for NoDecay {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if skips_decay(self.path.last().map_or("", String::as_str), D) {
            self.ids.push(param.id);
        }
    }
}

/// The ids of the parameters of `model` that take no weight decay.
pub fn no_decay_ids(model: &Model) -> Vec<ParamId> {
    let mut v = NoDecay {
        path: Vec::new(),
        ids: Vec::new(),
    };
    model.visit(&mut v);
    v.ids
}

/// The optimizer of `spec` for `model`.
pub fn build(spec: &TrainSpec, model: &Model) -> ModuleOptimizer {
    let d = spec.details;
    let decay = |wd: f64| (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32));
    // Burn's Adam and AdamW, computed in one pass on flex (`ops::adam`).
    let adam = |wd: Option<WeightDecayConfig>| HostAdam::new(d.adam_eps.map(|e| e as f32), wd);
    let adamw = |wd: f64| HostAdamW::new(d.adam_eps.map(|e| e as f32), wd as f32);
    let sgd = |wd: Option<WeightDecayConfig>, momentum: f64, nesterov: bool| {
        SgdConfig::new()
            .with_weight_decay(wd)
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
                    .with_nesterov(nesterov)
            }))
    };
    let optim = match spec.optimizer {
        OptimizerSpec::Adam { weight_decay } => ModuleOptimizer::from(adam(decay(weight_decay))),
        OptimizerSpec::AdamW { weight_decay } => ModuleOptimizer::from(adamw(weight_decay)),
        OptimizerSpec::Sgd {
            momentum,
            weight_decay,
            nesterov,
        } => sgd(decay(weight_decay), momentum, nesterov).init(),
    };
    if !d.no_decay_on_norm_bias {
        return optim;
    }
    let group = ParamGroup::from_ids(no_decay_ids(model));
    match spec.optimizer {
        OptimizerSpec::Adam { .. } => optim.with_group(group, adam(None), None),
        OptimizerSpec::AdamW { .. } => optim.with_group(group, adamw(0.0), None),
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => optim.with_group(group, sgd(None, momentum, nesterov).build(), None),
    }
}

/// Visits every float parameter's gradient: first summing the squares, then scaling.
struct GlobalNorm<'a> {
    grads: &'a mut GradientsParams,
    /// `None` while summing; the factor while scaling.
    scale: Option<f32>,
    squares: Option<Tensor<1>>,
}

impl ModuleVisitor for GlobalNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.scale {
            None => {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    let s = g.powi_scalar(2).sum();
                    self.squares = Some(match self.squares.take() {
                        Some(acc) => acc + s,
                        None => s,
                    });
                }
            }
            Some(f) => {
                if let Some(g) = self.grads.remove::<D>(param.id) {
                    self.grads.register(param.id, g.mul_scalar(f));
                }
            }
        }
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`, as PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when below 1. Returns the norm before.
pub fn clip_global_norm(model: &Model, grads: &mut GradientsParams, max_norm: f64) -> f32 {
    let mut v = GlobalNorm {
        grads,
        scale: None,
        squares: None,
    };
    model.visit(&mut v);
    let norm = v
        .squares
        .take()
        .map_or(0.0, |s| s.sqrt().into_scalar::<f32>());
    let factor = max_norm as f32 / (norm + 1e-6);
    if factor < 1.0 {
        v.scale = Some(factor);
        model.visit(&mut v);
    }
    norm
}
