//! The model zoo: the paper's architectures (ResNet, ConvNeXt, Swin) at ImageNet size, small
//! presets of each that train on 28x28 images on a CPU, and an MLP and a small convnet.
//!
//! A model is a named preset (each family lists its own; `dynunc models` lists all) whose shape the
//! experiment file may override key by key; [`ModelSpec::check`] says what does not fit the
//! input.

pub mod blocks;
pub mod convnext;
pub mod family;
pub mod resnet;
pub mod section;
pub mod simple;
pub mod swin;
pub mod vit;

use burn::prelude::*;

pub use crate::data::InputShape;

use super::backend::is_host;
pub use convnext::{ConvNeXt, ConvNeXtSpec};
pub use family::Family;
pub use resnet::{BlockKind, ResNet, ResNetSpec, Stem};
pub use simple::{Cnn, Mlp};
pub use swin::{Swin, SwinSpec};
pub use vit::{Vit, VitSpec};

/// Every family, in the order `dynunc models` lists their presets.
pub static FAMILIES: &[&dyn Family] = &[
    &simple::MLP,
    &simple::CNN,
    &resnet::RESNET,
    &convnext::CONVNEXT,
    &swin::SWIN,
    &vit::VIT,
];

/// A network's family and shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    /// Flatten, hidden layer, ReLU, output layer.
    Mlp {
        /// Hidden width.
        hidden: usize,
    },
    /// Two conv + pool blocks (32, 64 channels), hidden layer, output layer.
    Cnn {
        /// Hidden width.
        hidden: usize,
    },
    /// ResNet.
    ResNet(ResNetSpec),
    /// ConvNeXt.
    ConvNeXt(ConvNeXtSpec),
    /// Swin Transformer.
    Swin(SwinSpec),
    /// Vision Transformer.
    Vit(VitSpec),
}

impl Arch {
    /// The family the shape belongs to.
    pub fn family(&self) -> &'static dyn Family {
        match self {
            Arch::Mlp { .. } => &simple::MLP,
            Arch::Cnn { .. } => &simple::CNN,
            Arch::ResNet(_) => &resnet::RESNET,
            Arch::ConvNeXt(_) => &convnext::CONVNEXT,
            Arch::Swin(_) => &swin::SWIN,
            Arch::Vit(_) => &vit::VIT,
        }
    }
}

/// A named starting point for `model.arch`.
#[derive(Debug)]
pub struct Preset {
    /// Name in experiment files.
    pub name: &'static str,
    /// One line for `dynunc models`.
    pub about: &'static str,
    /// Its shape.
    pub arch: fn() -> Arch,
}

/// Every preset, in the order `dynunc models` lists them (family by family).
pub fn presets() -> impl Iterator<Item = &'static Preset> {
    FAMILIES.iter().flat_map(|f| f.presets())
}

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    presets().find(|p| p.name == name)
}

/// `model:`, validated: the preset's name and the resulting shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Name in results: the file's `name:`, else the preset's.
    pub name: String,
    /// Preset named by `arch:`.
    pub preset: String,
    /// Shape after the file's overrides.
    pub arch: Arch,
}

impl ModelSpec {
    /// The preset as it is.
    pub fn preset(name: &str) -> Option<Self> {
        preset(name).map(|p| Self {
            name: p.name.to_string(),
            preset: p.name.to_string(),
            arch: (p.arch)(),
        })
    }

    /// What does not fit `input`: `(key under model:, problem)`.
    pub fn check(&self, input: InputShape) -> Vec<(&'static str, String)> {
        self.arch.family().check(&self.arch, input)
    }
}

/// `$body` with `$m` bound to the network inside each [`Model`] variant.
macro_rules! each_model {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            Model::Mlp($m) => $body,
            Model::Cnn($m) => $body,
            Model::ResNet($m) => $body,
            Model::ConvNeXt($m) => $body,
            Model::Swin($m) => $body,
            Model::Vit($m) => $body,
        }
    };
}

/// A network of any architecture.
// The variants hold tensor handles, not weights: moving the larger one per step costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model {
    /// See [`Arch::Mlp`].
    Mlp(Mlp),
    /// See [`Arch::Cnn`].
    Cnn(Cnn),
    /// See [`Arch::ResNet`].
    ResNet(ResNet),
    /// See [`Arch::ConvNeXt`].
    ConvNeXt(ConvNeXt),
    /// See [`Arch::Swin`].
    Swin(Swin),
    /// See [`Arch::Vit`].
    Vit(Vit),
}

impl Model {
    /// A freshly initialised network (seed the device first for reproducible weights).
    /// `spec` must have passed [`ModelSpec::check`] for `input`.
    pub fn new(spec: &ModelSpec, input: InputShape, device: &Device) -> Self {
        match &spec.arch {
            Arch::Mlp { hidden } => Model::Mlp(Mlp::new(*hidden, input, device)),
            Arch::Cnn { hidden } => Model::Cnn(Cnn::new(*hidden, input, device)),
            Arch::ResNet(s) => Model::ResNet(ResNet::new(s, input, device)),
            Arch::ConvNeXt(s) => Model::ConvNeXt(ConvNeXt::new(s, input, device)),
            Arch::Swin(s) => Model::Swin(Swin::new(s, input, device)),
            Arch::Vit(s) => Model::Vit(Vit::new(s, input, device)),
        }
    }

    /// A network initialised from `seed` on the host (Burn's flex generator), then moved to
    /// `device`: one seed gives the same initial weights on every backend. (Burn draws a
    /// parameter lazily, at its first use, from the generator of the device it is on by then,
    /// so building on a device and moving it drew each backend's own numbers.) Every parameter
    /// is drawn at once, in the order the model visits them, while no other seeded build can
    /// draw (the flex generator is one per process).
    pub fn seeded(spec: &ModelSpec, input: InputShape, seed: u64, device: &Device) -> Self {
        on_host(device, seed, |host| Model::new(spec, input, host))
    }

    /// The network with a freshly initialised classifier for `classes` classes (fine-tuning
    /// on another dataset), drawn from `seed` on the host as in [`Model::seeded`]; every other
    /// weight is kept.
    pub fn with_classes_seeded(self, classes: usize, seed: u64, device: &Device) -> Self {
        on_host(device, seed, |host| {
            self.fork(host).with_classes(classes, host)
        })
    }

    /// Trainable parameters (what the reference implementations count): Burn also visits
    /// batch norm's running statistics as float tensors, but those are buffers that never
    /// require a gradient. Build the model on an autodiff device for this count.
    pub fn trainable_params(&self) -> usize {
        struct Count(usize);
        impl burn::module::ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                if p.val().is_require_grad() {
                    self.0 += p.lazy_shape().num_elements();
                }
            }
        }
        let mut count = Count(0);
        self.visit(&mut count);
        count.0
    }

    /// Whether a forward pass in training differs from one in evaluation: batch norm
    /// (batch statistics) or stochastic depth.
    pub fn has_train_only_layers(&self) -> bool {
        matches!(self, Model::ResNet(_)) || self.has_drop_path()
    }

    /// Whether some block drops its residual branch during training.
    pub fn has_drop_path(&self) -> bool {
        match self {
            Model::ConvNeXt(m) => m.has_drop_path(),
            Model::Swin(m) => m.has_drop_path(),
            Model::Vit(m) => m.has_drop_path(),
            Model::Mlp(_) | Model::Cnn(_) | Model::ResNet(_) => false,
        }
    }

    /// The network with a freshly initialised classifier for `classes` classes (fine-tuning
    /// on another dataset); every other weight is kept. Seed the device first, or use
    /// [`Model::with_classes_seeded`] for the same head on every backend.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        each_model!(self, m => m.with_classes(classes, device).into())
    }

    /// The network whose classifier keeps only the outputs `rows`, in that order
    /// (`finetune.head: mapped`: each fine-tuning class starts from the pre-trained row of
    /// the class of the same name); every other weight is kept.
    pub fn with_class_rows(self, rows: &[usize]) -> Self {
        each_model!(self, m => m
            .map_classifier(|l| blocks::select_outputs(l, rows))
            .into())
    }

    /// Logits for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        each_model!(self, m => m.forward(x))
    }
}

/// The host device, with autodiff when `like` has it.
fn host_device(like: &Device) -> Device {
    if like.is_autodiff() {
        Device::flex().autodiff()
    } else {
        Device::flex()
    }
}

/// `build` run on the host device seeded with `seed`, every parameter drawn before anything
/// else can draw from the host generator, the result moved to `device`.
fn on_host(device: &Device, seed: u64, build: impl FnOnce(&Device) -> Model) -> Model {
    static HOST_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let host = host_device(device);
    let model = {
        let _only_us = HOST_GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
        host.seed(seed);
        let model = build(&host);
        model.visit(&mut Draw);
        model
    };
    if is_host(device) {
        model
    } else {
        model.fork(device)
    }
}

/// Draws every parameter that is not drawn yet.
struct Draw;

impl burn::module::ModuleVisitor for Draw {
    fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
        if !p.is_initialized() {
            let _ = p.val();
        }
    }
}

macro_rules! from_network {
    ($($variant:ident),+) => {
        $(impl From<$variant> for Model {
            fn from(m: $variant) -> Model {
                Model::$variant(m)
            }
        })+
    };
}
from_network!(Mlp, Cnn, ResNet, ConvNeXt, Swin, Vit);
