//! ResNet (He et al. 2016), torchvision's layout: basic or bottleneck blocks, the stride on
//! the 3x3 convolution, a 1x1 convolution + batch norm on the shortcut when the shape changes.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::train::ops::{conv, max_pool};
use burn::tensor::activation::relu;

use super::blocks::{ChannelNorm, conv, global_avg_pool, square};
use super::family::{DEPTHS, Family, WIDTHS, apply_stages, check_stages};
use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Opt, Options};

crate::choices! {
    /// Which residual block.
    pub enum BlockKind {
        /// Two 3x3 convolutions (ResNet-18/34).
        Basic = "basic",
        /// 1x1 down, 3x3, 1x1 up to 4x the width (ResNet-50 and deeper).
        Bottleneck = "bottleneck",
    }
}

impl BlockKind {
    /// Output channels per unit of stage width.
    pub fn expansion(self) -> usize {
        match self {
            Self::Basic => 1,
            Self::Bottleneck => 4,
        }
    }
}

crate::choices! {
    /// The first layer.
    pub enum Stem {
        /// 7x7 stride-2 convolution, then a 3x3 stride-2 max-pool (ImageNet inputs).
        ImageNet = "imagenet",
        /// 3x3 stride-1 convolution, no pool (small inputs such as 28x28 or 32x32).
        Small = "small",
    }
}

/// A ResNet's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResNetSpec {
    /// Block kind.
    pub block: BlockKind,
    /// Stem.
    pub stem: Stem,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Base width of each stage (the stem has the first one); stage outputs are
    /// `width * expansion`. Every stage after the first halves the resolution.
    pub widths: Vec<usize>,
}

fn kaiming() -> Initializer {
    // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu")
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}

/// Convolution without bias followed by batch norm.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: ChannelNorm,
}

impl ConvBn {
    fn new(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(
                square(channels, kernel, stride, kernel / 2)
                    .with_bias(false)
                    .with_initializer(kaiming()),
                device,
            ),
            bn: ChannelNorm::batch(channels[1], device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(conv::forward(&self.conv, x))
    }

    /// `relu(self.forward(x))`, the ReLU inside batch norm's operation on flex.
    fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward_relu(conv::forward(&self.conv, x))
    }
}

/// One residual block of either kind: `convs` in order, ReLU between them, the shortcut
/// added before the last ReLU.
#[derive(Module, Debug)]
pub struct ResBlock {
    convs: Vec<ConvBn>,
    shortcut: Option<ConvBn>,
}

impl ResBlock {
    fn new(kind: BlockKind, inputs: usize, width: usize, stride: usize, device: &Device) -> Self {
        let outputs = width * kind.expansion();
        let convs = match kind {
            BlockKind::Basic => vec![
                ConvBn::new([inputs, width], 3, stride, device),
                ConvBn::new([width, width], 3, 1, device),
            ],
            BlockKind::Bottleneck => vec![
                ConvBn::new([inputs, width], 1, 1, device),
                ConvBn::new([width, width], 3, stride, device),
                ConvBn::new([width, outputs], 1, 1, device),
            ],
        };
        let shortcut = (stride != 1 || inputs != outputs)
            .then(|| ConvBn::new([inputs, outputs], 1, stride, device));
        Self { convs, shortcut }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.shortcut {
            Some(s) => s.forward(x.clone()),
            None => x.clone(),
        };
        let (last, inner) = self.convs.split_last().expect("a block has convolutions");
        let y = inner.iter().fold(x, |y, c| c.forward_relu(y));
        relu(last.forward(y) + identity)
    }
}

/// A ResNet.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: ConvBn,
    pool: Option<MaxPool2d>,
    blocks: Vec<ResBlock>,
    fc: Linear,
}

impl ResNet {
    /// A freshly initialised network.
    pub fn new(spec: &ResNetSpec, input: InputShape, device: &Device) -> Self {
        let stem_width = spec.widths[0];
        let (stem, pool) = match spec.stem {
            Stem::ImageNet => (
                ConvBn::new([input.channels, stem_width], 7, 2, device),
                Some(
                    MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                ),
            ),
            Stem::Small => (
                ConvBn::new([input.channels, stem_width], 3, 1, device),
                None,
            ),
        };
        let mut blocks = Vec::new();
        let mut channels = stem_width;
        for (stage, (&depth, &width)) in spec.depths.iter().zip(&spec.widths).enumerate() {
            for b in 0..depth {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(ResBlock::new(spec.block, channels, width, stride, device));
                channels = width * spec.block.expansion();
            }
        }
        Self {
            stem,
            pool,
            blocks,
            fc: LinearConfig::new(channels, input.classes).init(device),
        }
    }

    /// Logits of `[batch, C, H, W]` images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward_relu(x);
        if let Some(p) = &self.pool {
            x = max_pool::forward(p, x);
        }
        for b in &self.blocks {
            x = b.forward(x);
        }
        self.fc.forward(global_avg_pool(x))
    }

    /// The network with its classifier replaced by `f` of it.
    pub fn map_classifier(self, f: impl FnOnce(Linear) -> Linear) -> Self {
        Self {
            fc: f(self.fc),
            ..self
        }
    }

    /// The network with a freshly initialised classifier for `classes` classes.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        let inputs = super::blocks::linear_inputs(&self.fc);
        Self {
            fc: LinearConfig::new(inputs, classes).init(device),
            ..self
        }
    }
}

/// `stem`.
pub static STEM: Opt<Stem> = Opt {
    name: "stem",
    doc: "resnet: `imagenet` (7x7 stride 2 + max-pool) or `small` (3x3 stride 1, no pool)",
    default: || Stem::ImageNet,
};
/// `block`.
pub static BLOCK: Opt<BlockKind> = Opt {
    name: "block",
    doc: "resnet: `basic` or `bottleneck` blocks",
    default: || BlockKind::Basic,
};

/// The ResNet family.
#[derive(Debug)]
pub struct ResNetFamily;

/// The ResNet family's registry entry.
pub static RESNET: ResNetFamily = ResNetFamily;

impl Family for ResNetFamily {
    fn name(&self) -> &'static str {
        "resnet"
    }

    fn presets(&self) -> &'static [Preset] {
        &[
            Preset {
                name: "resnet18",
                about: "ResNet-18 (He et al. 2016), torchvision layout",
                arch: || {
                    Arch::ResNet(ResNetSpec {
                        block: BlockKind::Basic,
                        stem: Stem::ImageNet,
                        depths: vec![2, 2, 2, 2],
                        widths: vec![64, 128, 256, 512],
                    })
                },
            },
            Preset {
                name: "resnet18_cifar",
                about: "ResNet-18 for 32x32 (CCS, TDDS, DUAL): 3x3 stride-1 stem, no max-pool",
                arch: || {
                    Arch::ResNet(ResNetSpec {
                        block: BlockKind::Basic,
                        stem: Stem::Small,
                        depths: vec![2, 2, 2, 2],
                        widths: vec![64, 128, 256, 512],
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
                        depths: vec![3, 4, 6, 3],
                        widths: vec![64, 128, 256, 512],
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
                        depths: vec![1, 1, 1],
                        widths: vec![16, 32, 64],
                    })
                },
            },
        ]
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&STEM, &BLOCK, &DEPTHS, &WIDTHS];
        LIST
    }

    fn apply(&self, arch: &mut Arch, o: &Options) {
        if let Arch::ResNet(r) = arch {
            r.stem = STEM.given(o).unwrap_or(r.stem);
            r.block = BLOCK.given(o).unwrap_or(r.block);
            apply_stages(&mut r.depths, &mut r.widths, o);
        }
    }

    fn check(&self, arch: &Arch, _input: InputShape) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Arch::ResNet(s) = arch {
            check_stages(&s.depths, &s.widths, &mut out);
        }
        out
    }
}
