//! The networks: a multi-layer perceptron and a small convnet, sharing one classifier head.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Flatten, hidden layer, ReLU, output layer.
    Mlp,
    /// conv 3x3 32, ReLU, max-pool 2; conv 3x3 64, ReLU, max-pool 2; hidden layer, ReLU, output.
    Cnn,
}

impl Arch {
    /// Name as written in experiment files.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
        }
    }
}

/// `model:`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Network.
    pub arch: Arch,
    /// Hidden width of the classifier head.
    pub hidden: usize,
}

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

/// Fully connected classifier head: linear, ReLU, linear.
#[derive(Module, Debug)]
pub struct Head {
    hidden: Linear,
    act: Relu,
    out: Linear,
}

impl Head {
    fn new(inputs: usize, hidden: usize, classes: usize, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(inputs, hidden).init(device),
            act: Relu::new(),
            out: LinearConfig::new(hidden, classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.act.forward(self.hidden.forward(x)))
    }
}

/// Multi-layer perceptron.
#[derive(Module, Debug)]
pub struct Mlp {
    head: Head,
}

/// Conv, ReLU, 2x2 max-pool.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    act: Relu,
    pool: MaxPool2d,
}

impl ConvBlock {
    fn new(inputs: usize, outputs: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([inputs, outputs], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            act: Relu::new(),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool.forward(self.act.forward(self.conv.forward(x)))
    }
}

/// Small convnet.
#[derive(Module, Debug)]
pub struct Cnn {
    block1: ConvBlock,
    block2: ConvBlock,
    head: Head,
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
}

impl Model {
    /// A freshly initialised network (seed the device first for reproducible weights).
    pub fn new(spec: ModelSpec, input: InputShape, device: &Device) -> Self {
        let InputShape {
            channels,
            height,
            width,
            classes,
        } = input;
        match spec.arch {
            Arch::Mlp => Model::Mlp(Mlp {
                head: Head::new(channels * height * width, spec.hidden, classes, device),
            }),
            Arch::Cnn => Model::Cnn(Cnn {
                block1: ConvBlock::new(channels, 32, device),
                block2: ConvBlock::new(32, 64, device),
                head: Head::new(
                    64 * (height / 4) * (width / 4),
                    spec.hidden,
                    classes,
                    device,
                ),
            }),
        }
    }

    /// Logits for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.head.forward(x.flatten(1, 3)),
            Model::Cnn(m) => {
                let x = m.block2.forward(m.block1.forward(x));
                m.head.forward(x.flatten(1, 3))
            }
        }
    }
}
