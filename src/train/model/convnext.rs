//! ConvNeXt (Liu et al. 2022): patchify stem, stages of depthwise 7x7 + layer norm + inverted
//! bottleneck blocks with layer scale and stochastic depth, layer norm + 2x2 stride-2
//! convolutions between stages.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::train::ops::conv;

use super::blocks::{
    ChannelNorm, DropPath, FeedForward, LayerScale, Norm, PatchEmbed, conv, drop_path_rates,
    global_avg_pool_channels_last, layer_norm, linear, square, trunc_normal,
};
use super::family::{
    DEPTHS, DROP_PATH, Family, PATCH_SIZE, WIDTHS, apply_stages, check_drop, check_patch,
    check_stages,
};
use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Options};

/// A ConvNeXt's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNeXtSpec {
    /// Side of the stem's non-overlapping patches (4 on ImageNet).
    pub patch_size: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Channels per stage.
    pub widths: Vec<usize>,
    /// Largest stochastic-depth rate (reached by the last block).
    pub drop_path: f64,
}

/// Depthwise 7x7, layer norm, feed-forward x4, layer scale, then the residual.
#[derive(Module, Debug)]
pub struct Block {
    dw: Conv2d,
    norm: Norm,
    ffn: FeedForward,
    scale: LayerScale,
    drop: DropPath,
}

impl Block {
    fn new(dim: usize, drop: f64, device: &Device) -> Self {
        Self {
            dw: conv(
                square([dim, dim], 7, 1, 3)
                    .with_groups(dim)
                    .with_initializer(trunc_normal()),
                device,
            ),
            norm: layer_norm(dim, 1e-6, device),
            ffn: FeedForward::new(dim, 4, device),
            scale: LayerScale::new(dim, 1e-6, device),
            drop: DropPath::new(drop),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv::depthwise_channels_last(&self.dw, x.clone());
        let y = self.scale.forward(self.ffn.forward(self.norm.forward(y)));
        x + self.drop.forward(y)
    }
}

/// Layer norm, then a 2x2 stride-2 convolution.
#[derive(Module, Debug)]
pub struct Downsample {
    norm: ChannelNorm,
    conv: Conv2d,
}

/// One stage: optional downsampling, then blocks.
#[derive(Module, Debug)]
pub struct Stage {
    down: Option<Downsample>,
    blocks: Vec<Block>,
}

/// A ConvNeXt.
#[derive(Module, Debug)]
pub struct ConvNeXt {
    stem: PatchEmbed,
    stages: Vec<Stage>,
    norm: Norm,
    head: Linear,
    /// Largest stochastic-depth rate.
    drop_path: f64,
}

impl ConvNeXt {
    /// A freshly initialised network.
    pub fn new(spec: &ConvNeXtSpec, input: InputShape, device: &Device) -> Self {
        let total = spec.depths.iter().sum();
        let mut rates = drop_path_rates(spec.drop_path, total).into_iter();
        let mut stages = Vec::new();
        let mut prev = spec.widths[0];
        for (i, (&depth, &dim)) in spec.depths.iter().zip(&spec.widths).enumerate() {
            let down = (i > 0).then(|| Downsample {
                norm: ChannelNorm::layer(prev, device),
                conv: conv(
                    square([prev, dim], 2, 2, 0).with_initializer(trunc_normal()),
                    device,
                ),
            });
            let blocks = (0..depth)
                .map(|_| Block::new(dim, rates.next().unwrap_or(0.0), device))
                .collect();
            stages.push(Stage { down, blocks });
            prev = dim;
        }
        Self {
            stem: PatchEmbed::new(
                input.channels,
                spec.widths[0],
                spec.patch_size,
                1e-6,
                device,
            ),
            stages,
            norm: layer_norm(prev, 1e-6, device),
            head: linear(prev, input.classes, true, device),
            drop_path: spec.drop_path,
        }
    }

    /// The network with its classifier replaced by `f` of it.
    pub fn map_classifier(self, f: impl FnOnce(Linear) -> Linear) -> Self {
        Self {
            head: f(self.head),
            ..self
        }
    }

    /// The network with a freshly initialised classifier for `classes` classes.
    pub fn with_classes(self, classes: usize, device: &Device) -> Self {
        Self {
            head: super::blocks::new_classifier(&self.head, classes, device),
            ..self
        }
    }

    /// Whether some block drops its residual branch during training.
    pub fn has_drop_path(&self) -> bool {
        self.drop_path > 0.0
    }

    /// Logits of `[batch, C, H, W]` images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        // The trunk runs channels last, `[batch, H, W, C]`: the layer norms and feed-forwards
        // work on the channels of each position, and the depthwise convolutions take it as it
        // is; only the downsampling convolutions see the map channels first.
        let mut x = self.stem.forward_channels_last(x);
        for s in &self.stages {
            if let Some(d) = &s.down {
                let y = d.norm.forward_channels_last(x).permute([0, 3, 1, 2]);
                x = conv::forward(&d.conv, y).permute([0, 2, 3, 1]);
            }
            for b in &s.blocks {
                x = b.forward(x);
            }
        }
        self.head
            .forward(self.norm.forward(global_avg_pool_channels_last(x)))
    }
}

/// The ConvNeXt family.
#[derive(Debug)]
pub struct ConvNeXtFamily;

/// The ConvNeXt family's registry entry.
pub static CONVNEXT: ConvNeXtFamily = ConvNeXtFamily;

impl Family for ConvNeXtFamily {
    fn name(&self) -> &'static str {
        "convnext"
    }

    fn presets(&self) -> &'static [Preset] {
        &[
            Preset {
                name: "convnext_tiny",
                about: "ConvNeXt-T (Liu et al. 2022), drop path 0.1",
                arch: || {
                    Arch::ConvNeXt(ConvNeXtSpec {
                        patch_size: 4,
                        depths: vec![3, 3, 9, 3],
                        widths: vec![96, 192, 384, 768],
                        drop_path: 0.1,
                    })
                },
            },
            Preset {
                name: "convnext_mini",
                about: "ConvNeXt for 28x28: 2x2 patches, 2 stages of 2 blocks, 32-64",
                arch: || {
                    Arch::ConvNeXt(ConvNeXtSpec {
                        patch_size: 2,
                        depths: vec![2, 2],
                        widths: vec![32, 64],
                        drop_path: 0.0,
                    })
                },
            },
        ]
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&DEPTHS, &WIDTHS, &PATCH_SIZE, &DROP_PATH];
        LIST
    }

    fn apply(&self, arch: &mut Arch, o: &Options) {
        if let Arch::ConvNeXt(r) = arch {
            apply_stages(&mut r.depths, &mut r.widths, o);
            r.patch_size = PATCH_SIZE.given(o).unwrap_or(r.patch_size);
            r.drop_path = DROP_PATH.given(o).unwrap_or(r.drop_path);
        }
    }

    fn check(&self, arch: &Arch, input: InputShape) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let Arch::ConvNeXt(s) = arch else {
            return out;
        };
        check_stages(&s.depths, &s.widths, &mut out);
        check_patch(s.patch_size, input, &mut out);
        let side = input.height.min(input.width) / s.patch_size.max(1);
        if s.depths.len() > 1 && side >> (s.depths.len() - 1) == 0 {
            out.push(("depths", format!("{} stages halve a {side}x{side} patch grid to nothing; use fewer stages or a smaller patch_size", s.depths.len())));
        }
        check_drop(s.drop_path, &mut out);
        out
    }
}
