//! The small networks: a multi-layer perceptron and a two-layer convnet, sharing one head.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use crate::train::ops::{conv, max_pool};

use super::family::Family;
use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Opt, Options};

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

    fn map_classifier(self, f: impl FnOnce(Linear) -> Linear) -> Self {
        Self {
            out: f(self.out),
            ..self
        }
    }

    fn with_classes(self, classes: usize, device: &Device) -> Self {
        let hidden = super::blocks::linear_inputs(&self.out);
        Self {
            out: LinearConfig::new(hidden, classes).init(device),
            ..self
        }
    }
}

/// Flatten, hidden layer, ReLU, output layer.
#[derive(Module, Debug)]
pub struct Mlp {
    head: Head,
}

impl Mlp {
    /// A freshly initialised network.
    pub fn new(hidden: usize, input: InputShape, device: &Device) -> Self {
        let pixels = input.channels * input.height * input.width;
        Self {
            head: Head::new(pixels, hidden, input.classes, device),
        }
    }

    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(x.flatten(1, 3))
    }

    /// The network with a freshly initialised output layer for `classes` classes.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        Self {
            head: self.head.with_classes(classes, device),
        }
    }

    /// The network with its output layer replaced by `f` of it.
    pub fn map_classifier(self, f: impl FnOnce(Linear) -> Linear) -> Self {
        Self {
            head: self.head.map_classifier(f),
        }
    }
}

/// Conv 3x3, ReLU, 2x2 max-pool.
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
        // ReLU after the pooling: max(relu(a), relu(b)) = relu(max(a, b)), and the gradient
        // reaches the same input either way (the window's first maximum, if positive), so
        // the numbers are those of conv -> ReLU -> pool, with a quarter of the ReLU's work.
        let y = max_pool::forward(&self.pool, conv::forward(&self.conv, x));
        self.act.forward(y)
    }
}

/// conv 3x3 32, ReLU, max-pool 2; conv 3x3 64, ReLU, max-pool 2; hidden layer, ReLU, output.
#[derive(Module, Debug)]
pub struct Cnn {
    block1: ConvBlock,
    block2: ConvBlock,
    head: Head,
}

impl Cnn {
    /// A freshly initialised network.
    pub fn new(hidden: usize, input: InputShape, device: &Device) -> Self {
        let features = 64 * (input.height / 4) * (input.width / 4);
        Self {
            block1: ConvBlock::new(input.channels, 32, device),
            block2: ConvBlock::new(32, 64, device),
            head: Head::new(features, hidden, input.classes, device),
        }
    }

    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.block2.forward(self.block1.forward(x));
        self.head.forward(x.flatten(1, 3))
    }

    /// The network with a freshly initialised output layer for `classes` classes.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        Self {
            head: self.head.with_classes(classes, device),
            ..self
        }
    }

    /// The network with its output layer replaced by `f` of it.
    pub fn map_classifier(self, f: impl FnOnce(Linear) -> Linear) -> Self {
        Self {
            head: self.head.map_classifier(f),
            ..self
        }
    }
}

/// `hidden`.
pub static HIDDEN: Opt<usize> = Opt {
    name: "hidden",
    doc: "mlp/cnn: hidden width of the fully connected layer; preset default 128",
    default: || 128,
};

/// The MLP and CNN families: one option, the hidden width.
#[derive(Debug)]
pub struct Simple {
    name: &'static str,
    presets: &'static [Preset],
}

/// Flatten, hidden layer, ReLU, output layer.
pub static MLP: Simple = Simple {
    name: "mlp",
    presets: &[Preset {
        name: "mlp",
        about: "784-hidden-10 perceptron (hidden: 128)",
        arch: || Arch::Mlp { hidden: 128 },
    }],
};

/// Two conv + pool blocks (32, 64 channels), hidden layer, output layer.
pub static CNN: Simple = Simple {
    name: "cnn",
    presets: &[Preset {
        name: "cnn",
        about: "conv 32, conv 64 (3x3, max-pool), fc hidden (128), fc",
        arch: || Arch::Cnn { hidden: 128 },
    }],
};

impl Family for Simple {
    fn name(&self) -> &'static str {
        self.name
    }

    fn presets(&self) -> &'static [Preset] {
        self.presets
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&HIDDEN];
        LIST
    }

    fn apply(&self, arch: &mut Arch, o: &Options) {
        if let (Arch::Mlp { hidden } | Arch::Cnn { hidden }, Some(h)) = (arch, HIDDEN.given(o)) {
            *hidden = h;
        }
    }

    fn check(&self, arch: &Arch, input: InputShape) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Arch::Mlp { hidden } | Arch::Cnn { hidden } = arch
            && *hidden == 0
        {
            out.push(("hidden", "must be at least 1".into()));
        }
        if matches!(arch, Arch::Cnn { .. }) && (input.height < 4 || input.width < 4) {
            out.push((
                "arch",
                format!(
                    "cnn needs images of at least 4x4, not {}x{}",
                    input.height, input.width
                ),
            ));
        }
        out
    }
}
