//! The experiment file's `train:` and `dynamics:` sections: how a model trains and what the
//! recorder sees, checked into a [`TrainSpec`] and a [`View`].

use serde::{Deserialize, Serialize};

use super::{Augment, OptimizerSpec, Schedule, TrainSpec, View};
use crate::data::augment::{AutoAugment, CropFrom};
use crate::options::Problems;

crate::choices! {
    /// `train.optimizer`.
    pub enum OptimizerName {
        /// Adam with L2 weight decay.
        Adam = "adam",
        /// AdamW (decoupled weight decay).
        AdamW = "adamw",
        /// SGD with momentum.
        Sgd = "sgd",
    }
}

crate::choices! {
    /// `train.crop_padding_mode`.
    pub enum PaddingMode {
        /// Black pixels.
        Zeros = "zeros",
        /// The image mirrored at its edge (the edge pixel not repeated).
        Reflect = "reflect",
    }
}

crate::choices! {
    /// `train.schedule`.
    pub enum ScheduleName {
        /// The peak rate throughout.
        Constant = "constant",
        /// Half a cosine down to 0.
        Cosine = "cosine",
        /// Multiply by `step_gamma` every `step_epochs`.
        Step = "step",
    }
}

/// `train:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTrain {
    /// Epochs. Default 10.
    pub epochs: usize,
    /// Mini-batch size. Default 128.
    pub batch_size: usize,
    /// `adam` (default), `adamw` or `sgd`.
    pub optimizer: String,
    /// Peak learning rate. Default 1e-3.
    pub lr: f64,
    /// Weight decay (L2 for adam/sgd, decoupled for adamw). Default 0.
    pub weight_decay: f64,
    /// SGD momentum. Default 0.9.
    pub momentum: f64,
    /// SGD: Nesterov momentum (as CCS's CIFAR recipe). Default false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nesterov: bool,
    /// `constant` (default), `cosine` or `step`.
    pub schedule: String,
    /// `cosine` schedule: the rate it ends at (PyTorch's `eta_min`). Default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
    /// Linear warm-up from 0, in epochs. Default 0.
    pub warmup_epochs: usize,
    /// `step` schedule: multiply the rate by `step_gamma` every `step_epochs`. Default 30.
    pub step_epochs: usize,
    /// `step` schedule factor. Default 0.1.
    pub step_gamma: f64,
    /// Label smoothing of the cross-entropy. Default 0.
    pub label_smoothing: f64,
    /// Random-crop padding in pixels (0 = no crop). Default 0.
    pub crop_padding: usize,
    /// What the crop's padding holds: `zeros` (default) or `reflect` (the image mirrored at
    /// its edge, torchvision's `padding_mode="reflect"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_padding_mode: Option<String>,
    /// Random horizontal flip. Default false.
    pub flip: bool,
    /// Random-resized crop with this smallest share of the area (0.08 on ImageNet), aspect
    /// 3/4 to 4/3, resized back to the image size. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<f64>,
    /// An automatic augmentation policy after the crop and flip: `none` (default) or
    /// `imagenet` (AutoAugment's ImageNet policy as DALI runs it, the official code's
    /// `AUTO_AUGMENT: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_augment: Option<String>,
    /// What `random_resized_crop` crops: `stored` (default: the stored square, short side
    /// resized to the image size) or `file` (the whole decoded file, as the official ImageNet
    /// pipeline; streamed ImageFolder data, `data.loader: stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_from: Option<String>,
    /// Adam/AdamW epsilon. Default: Burn's 1e-5 (PyTorch's and the official code's: 1e-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adam_eps: Option<f64>,
    /// Warm-up starts at this rate (timm's `warmup_lr_init`; official Swin 1e-6). Default:
    /// peak / warm-up steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_lr: Option<f64>,
    /// Clip the gradients to this global L2 norm before each step (torch's `clip_grad_norm_`;
    /// official Swin 5.0). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Weight decay on 1-D parameters (biases, norm scales and shifts, layer scale) and
    /// relative-position tables too. Default true; the official code: false.
    pub weight_decay_on_norm_bias: bool,
}

impl Default for RawTrain {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            optimizer: "adam".into(),
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: 0.9,
            nesterov: false,
            min_lr: None,
            schedule: "constant".into(),
            warmup_epochs: 0,
            step_epochs: 30,
            step_gamma: 0.1,
            label_smoothing: 0.0,
            crop_padding: 0,
            crop_padding_mode: None,
            flip: false,
            random_resized_crop: None,
            auto_augment: None,
            crop_from: None,
            adam_eps: None,
            warmup_lr: None,
            clip_grad_norm: None,
            weight_decay_on_norm_bias: true,
        }
    }
}

crate::choices! {
    /// `dynamics.mode`: which forward pass of the model the recorded logits come from.
    pub enum RecordMode {
        /// Without stochastic depth: an evaluation-mode pass (batch norm with its running
        /// statistics) on the clean view; on the training view, the training pass itself, or a
        /// second pass without stochastic depth on the same input when the model has it.
        Eval = "eval",
        /// The training-mode forward pass (stochastic depth active): on the training view the
        /// training pass itself; on the clean view, a training-mode pass on the un-augmented
        /// batch, as the official code records Swin and ConvNeXt (refused for batch-norm
        /// models, whose running statistics it would update; the official code records
        /// ResNet in eval mode).
        Train = "train",
    }
}

/// `dynamics:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDynamics {
    /// `train` (default): record from the training forward pass, free. `clean`: an extra forward
    /// pass on the un-augmented batch before the optimizer step, as the authors' code does.
    pub view: String,
    /// `eval` (default) or `train`: which forward pass ([`RecordMode`]).
    pub mode: String,
}

impl Default for RawDynamics {
    fn default() -> Self {
        Self {
            view: "train".into(),
            mode: "eval".into(),
        }
    }
}

/// Checks a `train:` section at YAML path `at`.
pub fn validate_train(t: &RawTrain, at: &str, p: &mut Problems) -> Option<TrainSpec> {
    let path = |key: &str| format!("{at}.{key}");
    if let Some(min) = t.random_resized_crop
        && !(min > 0.0 && min <= 1.0)
    {
        p.fail(
            &path("random_resized_crop"),
            format!("{min}: give the smallest share of the image area to crop, in (0, 1] (0.08 on ImageNet)"),
        );
    }
    if t.epochs == 0 {
        p.fail(&path("epochs"), "must be at least 1");
    }
    if t.batch_size == 0 {
        p.fail(&path("batch_size"), "must be at least 1");
    }
    p.positive(&path("lr"), t.lr);
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        p.fail(
            &path("weight_decay"),
            format!("{} must be >= 0", t.weight_decay),
        );
    }
    for (key, v) in [
        ("momentum", t.momentum),
        ("label_smoothing", t.label_smoothing),
    ] {
        if !(0.0..1.0).contains(&v) {
            p.fail(&path(key), format!("{v} must be in [0, 1)"));
        }
    }
    if t.warmup_epochs >= t.epochs.max(1) {
        p.fail(
            &path("warmup_epochs"),
            format!(
                "{} warm-up epochs leave no training at the peak rate in {} epochs; use fewer",
                t.warmup_epochs, t.epochs
            ),
        );
    }
    let optimizer = p.parse::<OptimizerName>(&path("optimizer"), &t.optimizer);
    let schedule = p.parse::<ScheduleName>(&path("schedule"), &t.schedule);
    if schedule == Some(ScheduleName::Step) {
        if t.step_epochs == 0 {
            p.fail(&path("step_epochs"), "must be at least 1");
        }
        if !(t.step_gamma > 0.0 && t.step_gamma <= 1.0) {
            p.fail(
                &path("step_gamma"),
                format!("{} must be in (0, 1]", t.step_gamma),
            );
        }
    }
    let padding = check_recipe(t, &path, optimizer, schedule, p);
    let augment = augment(t, &path, padding, p);
    let weight_decay = t.weight_decay;
    Some(TrainSpec {
        epochs: t.epochs,
        batch_size: t.batch_size,
        lr: t.lr,
        optimizer: match optimizer? {
            OptimizerName::Adam => OptimizerSpec::Adam { weight_decay },
            OptimizerName::AdamW => OptimizerSpec::AdamW { weight_decay },
            OptimizerName::Sgd => OptimizerSpec::Sgd {
                momentum: t.momentum,
                weight_decay,
                nesterov: t.nesterov,
            },
        },
        schedule: match schedule? {
            ScheduleName::Constant => Schedule::Constant,
            ScheduleName::Cosine => Schedule::Cosine {
                min_lr: t.min_lr.unwrap_or(0.0),
            },
            ScheduleName::Step => Schedule::Step {
                every_epochs: t.step_epochs,
                gamma: t.step_gamma,
            },
        },
        warmup_epochs: t.warmup_epochs,
        label_smoothing: t.label_smoothing as f32,
        augment: augment?,
        max_steps: None,
        details: super::optim::RecipeDetails {
            adam_eps: t.adam_eps,
            warmup_lr: t.warmup_lr,
            clip_grad_norm: t.clip_grad_norm,
            no_decay_on_norm_bias: !t.weight_decay_on_norm_bias,
        },
    })
}

/// The augmentation keys: crops, flip, `auto_augment`, `crop_from` (with a resized crop).
fn augment(
    t: &RawTrain,
    path: &dyn Fn(&str) -> String,
    padding: Option<PaddingMode>,
    p: &mut Problems,
) -> Option<Augment> {
    let auto_augment = match &t.auto_augment {
        None => Some(AutoAugment::None),
        Some(name) => p.parse::<AutoAugment>(&path("auto_augment"), name),
    };
    let crop_from = match &t.crop_from {
        None => Some(CropFrom::Stored),
        Some(name) => p.parse::<CropFrom>(&path("crop_from"), name),
    };
    if crop_from == Some(CropFrom::File) && t.random_resized_crop.is_none() {
        p.fail(
            &path("crop_from"),
            "`file` says where random_resized_crop crops from; set random_resized_crop (0.08 on ImageNet) or remove crop_from",
        );
    }
    Some(Augment {
        crop_padding: t.crop_padding,
        crop_reflect: padding? == PaddingMode::Reflect,
        resized_crop: t.random_resized_crop,
        flip: t.flip,
        auto_augment: auto_augment?,
        crop_from: crop_from?,
    })
}

/// `crop_from: file` needs training images decoded from their files as each batch is read:
/// ImageFolder data with `loader: stream` (the training section at YAML path `at`).
pub fn check_crop_from(t: &TrainSpec, data: &crate::data::DataSpec, at: &str, p: &mut Problems) {
    if t.augment.crop_from == CropFrom::File && !data.format.streams(&data.options) {
        p.fail(
            &format!("{at}.crop_from"),
            format!(
                "`file` crops each training image from its file as it is decoded, which needs imagefolder data with `loader: stream` (this data: {}); set the data section's loader: stream, or remove crop_from",
                data.format.name()
            ),
        );
    }
}

/// The keys of the published recipes that apply to one optimizer, schedule or crop only:
/// `nesterov` (sgd), `min_lr` (cosine), `crop_padding_mode` (with a crop); returns the padding.
fn check_recipe(
    t: &RawTrain,
    path: &dyn Fn(&str) -> String,
    optimizer: Option<OptimizerName>,
    schedule: Option<ScheduleName>,
    p: &mut Problems,
) -> Option<PaddingMode> {
    if t.nesterov && (optimizer != Some(OptimizerName::Sgd) || t.momentum <= 0.0) {
        p.fail(
            &path("nesterov"),
            "true needs `optimizer: sgd` with a positive momentum; remove it or switch to sgd",
        );
    }
    if let Some(min) = t.min_lr {
        if schedule != Some(ScheduleName::Cosine) {
            p.fail(
                &path("min_lr"),
                "applies to `schedule: cosine` only; remove it",
            );
        } else if !(min.is_finite() && (0.0..t.lr).contains(&min)) {
            p.fail(
                &path("min_lr"),
                format!("{min} must be in [0, lr = {})", t.lr),
            );
        }
    }
    check_details(t, path, optimizer, p);
    let padding = match &t.crop_padding_mode {
        None => Some(PaddingMode::Zeros),
        Some(m) => p.parse::<PaddingMode>(&path("crop_padding_mode"), m),
    };
    if t.crop_padding_mode.is_some() && t.crop_padding == 0 {
        p.fail(
            &path("crop_padding_mode"),
            "applies with crop_padding > 0 only; set crop_padding or remove it",
        );
    }
    padding
}

/// The optimizer's fine print: `adam_eps` (adam/adamw, positive), `warmup_lr` (with warm-up,
/// in [0, lr)), `clip_grad_norm` (positive), `weight_decay_on_norm_bias: false` (with decay).
fn check_details(
    t: &RawTrain,
    path: &dyn Fn(&str) -> String,
    optimizer: Option<OptimizerName>,
    p: &mut Problems,
) {
    if let Some(eps) = t.adam_eps {
        if optimizer == Some(OptimizerName::Sgd) {
            p.fail(
                &path("adam_eps"),
                "applies to adam and adamw only; remove it",
            );
        } else {
            p.positive(&path("adam_eps"), eps);
        }
    }
    if let Some(w) = t.warmup_lr {
        if t.warmup_epochs == 0 {
            p.fail(
                &path("warmup_lr"),
                "the rate warm-up starts at, but warmup_epochs is 0; set warmup_epochs or remove it",
            );
        } else if !(w.is_finite() && (0.0..t.lr).contains(&w)) {
            p.fail(
                &path("warmup_lr"),
                format!("{w} must be in [0, lr = {})", t.lr),
            );
        }
    }
    if let Some(c) = t.clip_grad_norm {
        p.positive(&path("clip_grad_norm"), c);
    }
    if !t.weight_decay_on_norm_bias && t.weight_decay == 0.0 {
        p.fail(
            &path("weight_decay_on_norm_bias"),
            "false keeps weight decay off some parameters, but weight_decay is 0; set weight_decay or remove it",
        );
    }
}

/// Checks `dynamics:`: the view, and whether the recorded pass is the training-mode one.
pub fn validate_dynamics(d: &RawDynamics, p: &mut Problems) -> Option<(View, bool)> {
    let view = p.parse::<View>("dynamics.view", &d.view);
    let mode = p.parse::<RecordMode>("dynamics.mode", &d.mode);
    Some((view?, mode? == RecordMode::Train))
}
