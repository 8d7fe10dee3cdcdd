//! Vision Transformer (Dosovitskiy et al. 2021; the DeiT sizes of Touvron et al. 2021): a
//! `patch x patch` stride-`patch` convolution to tokens, learned position embeddings, pre-norm
//! blocks of global multi-head self-attention and a 4x feed-forward, each with a residual and
//! stochastic depth, a final layer norm, and the classifier on the mean of the tokens (global
//! average pooling, the `gap` classifier of the big_vision ViTs, instead of a class token).
//!
//! One stage: `depths`, `widths` and `heads` each hold one entry, as the staged families'
//! keys with a single stage.

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::blocks::{
    DropPath, FeedForward, Norm, conv, drop_path_rates, layer_norm, linear, on_rows,
    self_attention, square, trunc_normal,
};
use super::family::{
    DEPTHS, DROP_PATH, Family, PATCH_SIZE, WIDTHS, apply_stages, check_drop, check_patch,
    check_stages,
};
use super::swin::HEADS;
use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Options};
use crate::train::ops::conv as conv_op;

/// A ViT's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct VitSpec {
    /// Side of the non-overlapping patches (16 on ImageNet).
    pub patch_size: usize,
    /// Blocks (one entry).
    pub depths: Vec<usize>,
    /// Token width (one entry).
    pub widths: Vec<usize>,
    /// Attention heads (one entry).
    pub heads: Vec<usize>,
    /// Largest stochastic-depth rate (reached by the last block).
    pub drop_path: f64,
}

/// Pre-norm global attention and feed-forward, each with a residual and stochastic depth.
#[derive(Module, Debug)]
pub struct VitBlock {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    norm2: Norm,
    mlp: FeedForward,
    drop: DropPath,
    heads: usize,
}

impl VitBlock {
    fn new(dim: usize, heads: usize, rate: f64, device: &Device) -> Self {
        Self {
            norm1: layer_norm(dim, 1e-6, device),
            qkv: linear(dim, 3 * dim, true, device),
            proj: linear(dim, dim, true, device),
            norm2: layer_norm(dim, 1e-6, device),
            mlp: FeedForward::new(dim, 4, device),
            drop: DropPath::new(rate),
            heads,
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let attn = self_attention(
            &self.qkv,
            self.norm1.forward(x.clone()),
            self.heads,
            None,
            None,
        );
        let x = x + self.drop.forward(on_rows(&self.proj, attn));
        let mlp = self.mlp.forward(self.norm2.forward(x.clone()));
        x + self.drop.forward(mlp)
    }
}

/// A Vision Transformer.
#[derive(Module, Debug)]
pub struct Vit {
    embed: Conv2d,
    position: Param<Tensor<3>>,
    blocks: Vec<VitBlock>,
    norm: Norm,
    head: Linear,
    /// Largest stochastic-depth rate.
    drop_path: f64,
}

impl Vit {
    /// A freshly initialised network (`spec` checked for `input`).
    pub fn new(spec: &VitSpec, input: InputShape, device: &Device) -> Self {
        let (dim, p) = (spec.widths[0], spec.patch_size);
        let tokens = (input.height / p) * (input.width / p);
        let blocks = drop_path_rates(spec.drop_path, spec.depths[0])
            .into_iter()
            .map(|rate| VitBlock::new(dim, spec.heads[0], rate, device))
            .collect();
        Self {
            embed: conv(
                square([input.channels, dim], p, p, 0).with_initializer(trunc_normal()),
                device,
            ),
            position: Param::from_tensor(Tensor::random(
                [1, tokens, dim],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            blocks,
            norm: layer_norm(dim, 1e-6, device),
            head: linear(dim, input.classes, true, device),
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
        let x = conv_op::forward(&self.embed, x);
        let [b, c, h, w] = x.dims();
        let mut x = x.reshape([b, c, h * w]).swap_dims(1, 2) + self.position.val();
        for blk in &self.blocks {
            x = blk.forward(x);
        }
        let x = self.norm.forward(x).mean_dim(1);
        self.head.forward(x.reshape([b, c]))
    }
}

/// The ViT family.
#[derive(Debug)]
pub struct VitFamily;

/// The ViT family's registry entry.
pub static VIT: VitFamily = VitFamily;

impl Family for VitFamily {
    fn name(&self) -> &'static str {
        "vit"
    }

    fn presets(&self) -> &'static [Preset] {
        &[
            Preset {
                name: "vit_tiny",
                about: "ViT-Ti/16 (DeiT-Ti, Touvron et al. 2021): patch 16, width 192, 12 blocks, 3 heads, drop path 0.1; mean-pooled tokens",
                arch: || {
                    Arch::Vit(VitSpec {
                        patch_size: 16,
                        depths: vec![12],
                        widths: vec![192],
                        heads: vec![3],
                        drop_path: 0.1,
                    })
                },
            },
            Preset {
                name: "vit_mini",
                about: "ViT for 28x28: 4x4 patches (49 tokens), width 64, 4 blocks, 4 heads",
                arch: || {
                    Arch::Vit(VitSpec {
                        patch_size: 4,
                        depths: vec![4],
                        widths: vec![64],
                        heads: vec![4],
                        drop_path: 0.0,
                    })
                },
            },
        ]
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&DEPTHS, &WIDTHS, &HEADS, &PATCH_SIZE, &DROP_PATH];
        LIST
    }

    fn apply(&self, arch: &mut Arch, o: &Options) {
        if let Arch::Vit(r) = arch {
            apply_stages(&mut r.depths, &mut r.widths, o);
            r.heads = HEADS.given(o).unwrap_or(std::mem::take(&mut r.heads));
            r.patch_size = PATCH_SIZE.given(o).unwrap_or(r.patch_size);
            r.drop_path = DROP_PATH.given(o).unwrap_or(r.drop_path);
        }
    }

    fn check(&self, arch: &Arch, input: InputShape) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let Arch::Vit(s) = arch else {
            return out;
        };
        check_stages(&s.depths, &s.widths, &mut out);
        if s.depths.len() != 1 {
            out.push((
                "depths",
                format!(
                    "{:?}: a ViT has one stage; give one block count, e.g. [12]",
                    s.depths
                ),
            ));
        }
        check_patch(s.patch_size, input, &mut out);
        if out.is_empty()
            && (!input.height.is_multiple_of(s.patch_size)
                || !input.width.is_multiple_of(s.patch_size))
        {
            out.push((
                "patch_size",
                format!(
                    "{} does not divide the {}x{} input",
                    s.patch_size, input.height, input.width
                ),
            ));
        }
        match (s.heads.as_slice(), s.widths.first()) {
            ([h], Some(w)) if *h > 0 && w % h == 0 => {}
            _ => out.push((
                "heads",
                format!(
                    "{:?}: give one head count dividing the width {:?}",
                    s.heads, s.widths
                ),
            )),
        }
        check_drop(s.drop_path, &mut out);
        out
    }
}
