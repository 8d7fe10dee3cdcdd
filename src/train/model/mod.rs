//! The model zoo: the paper's architectures (ResNet, ConvNeXt, Swin) at ImageNet size, small
//! presets of each that train on 28x28 images on a CPU, and an MLP and a small convnet.
//!
//! A model is a named preset (`PRESETS`, listed by `dynunc models`) whose shape the
//! experiment file may override key by key; [`ModelSpec::check`] says what does not fit the
//! input.

pub mod blocks;
pub mod convnext;
pub mod resnet;
pub mod simple;
pub mod swin;

use burn::prelude::*;

pub use convnext::{ConvNeXt, ConvNeXtSpec};
pub use resnet::{BlockKind, ResNet, ResNetSpec, Stem};
pub use simple::{Cnn, Mlp};
pub use swin::{Swin, SwinSpec};

/// Input geometry and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Classes.
    pub classes: usize,
}

impl InputShape {
    /// 224x224 RGB, 1000 classes: where the reference parameter counts are taken.
    pub const IMAGENET: InputShape = InputShape {
        channels: 3,
        height: 224,
        width: 224,
        classes: 1000,
    };
    /// 28x28 grey, 10 classes (Fashion-MNIST, MNIST).
    pub const MNIST: InputShape = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
}

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
}

impl Arch {
    /// Family name.
    pub fn family(&self) -> &'static str {
        match self {
            Arch::Mlp { .. } => "mlp",
            Arch::Cnn { .. } => "cnn",
            Arch::ResNet(_) => "resnet",
            Arch::ConvNeXt(_) => "convnext",
            Arch::Swin(_) => "swin",
        }
    }

    /// Largest stochastic-depth rate (0 for families without it).
    pub fn drop_path(&self) -> f64 {
        match self {
            Arch::ConvNeXt(s) => s.drop_path,
            Arch::Swin(s) => s.drop_path,
            _ => 0.0,
        }
    }

    /// Whether a forward pass on the training device differs from one in evaluation (batch
    /// norm, stochastic depth).
    pub fn has_train_only_layers(&self) -> bool {
        matches!(self, Arch::ResNet(_)) || self.drop_path() > 0.0
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

fn widths(w: &[usize]) -> Vec<usize> {
    w.to_vec()
}

/// Every preset, in the order `dynunc models` lists them.
pub static PRESETS: &[Preset] = &[
    Preset {
        name: "mlp",
        about: "784-hidden-10 perceptron (hidden: 128)",
        arch: || Arch::Mlp { hidden: 128 },
    },
    Preset {
        name: "cnn",
        about: "conv 32, conv 64 (3x3, max-pool), fc hidden (128), fc",
        arch: || Arch::Cnn { hidden: 128 },
    },
    Preset {
        name: "resnet18",
        about: "ResNet-18 (He et al. 2016), torchvision layout",
        arch: || {
            Arch::ResNet(ResNetSpec {
                block: BlockKind::Basic,
                stem: Stem::ImageNet,
                depths: widths(&[2, 2, 2, 2]),
                widths: widths(&[64, 128, 256, 512]),
            })
        },
    },
    Preset {
        name: "resnet50",
        about: "ResNet-50 (He et al. 2016), torchvision layout (stride on the 3x3)",
        arch: || {
            Arch::ResNet(ResNetSpec {
                block: BlockKind::Bottleneck,
                stem: Stem::ImageNet,
                depths: widths(&[3, 4, 6, 3]),
                widths: widths(&[64, 128, 256, 512]),
            })
        },
    },
    Preset {
        name: "convnext_tiny",
        about: "ConvNeXt-T (Liu et al. 2022), drop path 0.1",
        arch: || {
            Arch::ConvNeXt(ConvNeXtSpec {
                patch_size: 4,
                depths: widths(&[3, 3, 9, 3]),
                widths: widths(&[96, 192, 384, 768]),
                drop_path: 0.1,
            })
        },
    },
    Preset {
        name: "swin_tiny",
        about: "Swin-T (Liu et al. 2021), patch 4, window 7, drop path 0.2",
        arch: || {
            Arch::Swin(SwinSpec {
                patch_size: 4,
                window_size: 7,
                depths: widths(&[2, 2, 6, 2]),
                widths: widths(&[96, 192, 384, 768]),
                heads: widths(&[3, 6, 12, 24]),
                drop_path: 0.2,
            })
        },
    },
    Preset {
        name: "resnet_mini",
        about: "ResNet for 28x28: 3x3 stem, no pool, 3 stages of 1 basic block, 16-32-64",
        arch: || {
            Arch::ResNet(ResNetSpec {
                block: BlockKind::Basic,
                stem: Stem::Small,
                depths: widths(&[1, 1, 1]),
                widths: widths(&[16, 32, 64]),
            })
        },
    },
    Preset {
        name: "convnext_mini",
        about: "ConvNeXt for 28x28: 2x2 patches, 2 stages of 2 blocks, 32-64",
        arch: || {
            Arch::ConvNeXt(ConvNeXtSpec {
                patch_size: 2,
                depths: widths(&[2, 2]),
                widths: widths(&[32, 64]),
                drop_path: 0.0,
            })
        },
    },
    Preset {
        name: "swin_mini",
        about: "Swin for 28x28: 2x2 patches, window 7 (shifted at 14x14), 2 stages of 2 blocks, 32-64, heads 2-4",
        arch: || {
            Arch::Swin(SwinSpec {
                patch_size: 2,
                window_size: 7,
                depths: widths(&[2, 2]),
                widths: widths(&[32, 64]),
                heads: widths(&[2, 4]),
                drop_path: 0.0,
            })
        },
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
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
        let mut out = Vec::new();
        let stages = |depths: &[usize], widths: &[usize], out: &mut Vec<(&'static str, String)>| {
            if depths.is_empty() || depths.contains(&0) {
                out.push((
                    "depths",
                    format!("{depths:?}: give at least one stage, each with at least one block"),
                ));
            }
            if widths.len() != depths.len() || widths.contains(&0) {
                out.push((
                    "widths",
                    format!(
                        "{widths:?}: give one positive width per stage ({} stages in depths)",
                        depths.len()
                    ),
                ));
            }
        };
        match &self.arch {
            Arch::Mlp { hidden } | Arch::Cnn { hidden } => {
                if *hidden == 0 {
                    out.push(("hidden", "must be at least 1".into()));
                }
                if matches!(self.arch, Arch::Cnn { .. }) && (input.height < 4 || input.width < 4) {
                    out.push((
                        "arch",
                        format!(
                            "cnn needs images of at least 4x4, not {}x{}",
                            input.height, input.width
                        ),
                    ));
                }
            }
            Arch::ResNet(s) => stages(&s.depths, &s.widths, &mut out),
            Arch::ConvNeXt(s) => {
                stages(&s.depths, &s.widths, &mut out);
                patch_check(s.patch_size, input, &mut out);
                let side = input.height.min(input.width) / s.patch_size.max(1);
                if s.depths.len() > 1 && side >> (s.depths.len() - 1) == 0 {
                    out.push(("depths", format!("{} stages halve a {side}x{side} patch grid to nothing; use fewer stages or a smaller patch_size", s.depths.len())));
                }
                drop_check(s.drop_path, &mut out);
            }
            Arch::Swin(s) => {
                stages(&s.depths, &s.widths, &mut out);
                patch_check(s.patch_size, input, &mut out);
                if s.window_size == 0 {
                    out.push(("window_size", "must be at least 1".into()));
                }
                if out.is_empty() {
                    if !input.height.is_multiple_of(s.patch_size)
                        || !input.width.is_multiple_of(s.patch_size)
                    {
                        out.push((
                            "patch_size",
                            format!(
                                "{} does not divide the {}x{} input",
                                s.patch_size, input.height, input.width
                            ),
                        ));
                    } else {
                        let geometry = s.geometry(input);
                        for (i, g) in geometry.iter().enumerate() {
                            if i + 1 < geometry.len() && (g.height % 2 != 0 || g.width % 2 != 0) {
                                out.push(("depths", format!("stage {} has a {}x{} token grid, which patch merging cannot halve; use fewer stages or another patch_size", i + 1, g.height, g.width)));
                                break;
                            }
                            if g.window == 0 || g.height % g.window != 0 || g.width % g.window != 0
                            {
                                out.push(("window_size", format!("stage {} has a {}x{} token grid that {}x{} windows do not tile; choose a window_size dividing it", i + 1, g.height, g.width, g.window, g.window)));
                                break;
                            }
                        }
                    }
                }
                if s.heads.len() != s.depths.len() {
                    out.push((
                        "heads",
                        format!(
                            "{:?}: give one head count per stage ({} stages)",
                            s.heads,
                            s.depths.len()
                        ),
                    ));
                } else {
                    for (h, w) in s.heads.iter().zip(&s.widths) {
                        if *h == 0 || w % h != 0 {
                            out.push(("heads", format!("{h} heads do not divide width {w}; each stage's width must be a multiple of its heads")));
                        }
                    }
                }
                drop_check(s.drop_path, &mut out);
            }
        }
        out
    }
}

fn patch_check(patch: usize, input: InputShape, out: &mut Vec<(&'static str, String)>) {
    if patch == 0 || patch > input.height.min(input.width) {
        out.push((
            "patch_size",
            format!(
                "{patch}: give a patch side between 1 and the image side ({})",
                input.height.min(input.width)
            ),
        ));
    }
}

fn drop_check(rate: f64, out: &mut Vec<(&'static str, String)>) {
    if !(0.0..1.0).contains(&rate) {
        out.push(("drop_path", format!("{rate}: give a rate in [0, 1)")));
    }
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
        }
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
            _ => false,
        }
    }

    /// The network with a freshly initialised classifier for `classes` classes (fine-tuning
    /// on another dataset); every other weight is kept. Seed the device first.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        match self {
            Model::Mlp(m) => Model::Mlp(m.with_classes(classes, device)),
            Model::Cnn(m) => Model::Cnn(m.with_classes(classes, device)),
            Model::ResNet(m) => Model::ResNet(m.with_classes(classes, device)),
            Model::ConvNeXt(m) => Model::ConvNeXt(m.with_classes(classes, device)),
            Model::Swin(m) => Model::Swin(m.with_classes(classes, device)),
        }
    }

    /// Logits for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward(x),
            Model::Cnn(m) => m.forward(x),
            Model::ResNet(m) => m.forward(x),
            Model::ConvNeXt(m) => m.forward(x),
            Model::Swin(m) => m.forward(x),
        }
    }
}
