//! Swin Transformer (Liu et al. 2021): patch embedding, stages of window attention blocks
//! that alternate regular and shifted windows (with the attention mask of the cyclic shift),
//! relative position bias, patch merging between stages, stochastic depth.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::blocks::{
    DropPath, FeedForward, Norm, PatchEmbed, drop_path_rates, layer_norm, linear, on_rows,
    self_attention,
};
use super::family::{
    DEPTHS, DROP_PATH, Family, PATCH_SIZE, WIDTHS, apply_stages, check_drop, check_patch,
    check_stages,
};
use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Opt, Options};

/// A Swin Transformer's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SwinSpec {
    /// Side of the non-overlapping patches of the embedding (4 on ImageNet).
    pub patch_size: usize,
    /// Side of the attention windows (7 on ImageNet).
    pub window_size: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Channels per stage (doubling in the originals: patch merging maps 4C to the next).
    pub widths: Vec<usize>,
    /// Attention heads per stage.
    pub heads: Vec<usize>,
    /// Largest stochastic-depth rate (reached by the last block).
    pub drop_path: f64,
}

impl SwinSpec {
    /// Token grid of each stage for `input`, and the window and shift used there: the
    /// original shrinks the window to the grid (and drops the shift) when the grid is no
    /// larger than a window.
    pub fn geometry(&self, input: InputShape) -> Vec<StageGeometry> {
        let mut h = input.height / self.patch_size;
        let mut w = input.width / self.patch_size;
        let mut out = Vec::new();
        for i in 0..self.depths.len() {
            if i > 0 {
                h /= 2;
                w /= 2;
            }
            let (window, shift) = if h.min(w) <= self.window_size {
                (h.min(w), 0)
            } else {
                (self.window_size, self.window_size / 2)
            };
            out.push(StageGeometry {
                height: h,
                width: w,
                window,
                shift,
            });
        }
        out
    }
}

/// Token grid and windows of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageGeometry {
    /// Token rows.
    pub height: usize,
    /// Token columns.
    pub width: usize,
    /// Window side.
    pub window: usize,
    /// Shift of the odd blocks.
    pub shift: usize,
}

/// Index into the relative-position bias table for every (query, key) pair of a
/// `window x window` window, row-major: `(dy + w - 1) * (2w - 1) + (dx + w - 1)`.
pub fn relative_position_index(window: usize) -> Vec<i64> {
    let w = window as i64;
    let n = window * window;
    let mut out = Vec::with_capacity(n * n);
    for i in 0..n as i64 {
        for j in 0..n as i64 {
            let (dy, dx) = (i / w - j / w, i % w - j % w);
            out.push((dy + w - 1) * (2 * w - 1) + (dx + w - 1));
        }
    }
    out
}

/// The additive attention mask of the shifted windows of an `height x width` grid:
/// `[windows, n, n]` row-major with `n = window²`, 0 where query and key come from the same
/// region of the cyclically shifted image and -100 where they do not (the original's value).
/// Windows are numbered row-major over the grid, tokens row-major within a window.
pub fn shift_mask(height: usize, width: usize, window: usize, shift: usize) -> Vec<f32> {
    // Region of each coordinate along one axis: [0, L-w), [L-w, L-s), [L-s, L).
    let region = |x: usize, len: usize| -> usize {
        if x < len - window {
            0
        } else if x < len - shift {
            1
        } else {
            2
        }
    };
    let n = window * window;
    let (wh, ww) = (height / window, width / window);
    let mut out = Vec::with_capacity(wh * ww * n * n);
    for by in 0..wh {
        for bx in 0..ww {
            let ids: Vec<usize> = (0..n)
                .map(|t| {
                    let (y, x) = (by * window + t / window, bx * window + t % window);
                    region(y, height) * 3 + region(x, width)
                })
                .collect();
            for &a in &ids {
                for &b in &ids {
                    out.push(if a == b { 0.0 } else { -100.0 });
                }
            }
        }
    }
    out
}

/// Multi-head self-attention inside windows, with a learned relative position bias.
#[derive(Module, Debug)]
pub struct WindowAttention {
    qkv: Linear,
    proj: Linear,
    bias_table: Param<Tensor<2>>,
    /// Row of the bias table for each (query, key) pair of a window: a constant on the
    /// model's device, moved with it, not a parameter and not saved.
    index: Tensor<1, Int>,
    heads: usize,
}

impl WindowAttention {
    fn new(dim: usize, heads: usize, window: usize, device: &Device) -> Self {
        let side = 2 * window - 1;
        Self {
            qkv: linear(dim, 3 * dim, true, device),
            proj: linear(dim, dim, true, device),
            bias_table: Param::from_tensor(Tensor::random(
                [side * side, heads],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            index: {
                let index = relative_position_index(window);
                let n = index.len();
                Tensor::from_data(TensorData::new(index, [n]), device)
            },
            heads,
        }
    }

    /// `x`: `[windows * batch, n, C]`; `mask`: `[windows, n, n]` for shifted windows.
    fn forward(&self, x: Tensor<3>, mask: Option<Tensor<3>>) -> Tensor<3> {
        let n = x.dims()[1];
        let bias = self
            .bias_table
            .val()
            .select(0, self.index.clone())
            .reshape([n, n, self.heads])
            .permute([2, 0, 1]);
        let out = self_attention(&self.qkv, x, self.heads, Some(bias), mask);
        on_rows(&self.proj, out)
    }
}

/// Pre-norm window attention and feed-forward, each with a residual and stochastic depth.
#[derive(Module, Debug)]
pub struct SwinBlock {
    norm1: Norm,
    attn: WindowAttention,
    norm2: Norm,
    ffn: FeedForward,
    drop: DropPath,
    #[module(skip)]
    geometry: [usize; 4],
    /// Shifted windows: `[windows, n, n]`, -100 between tokens from different regions; a
    /// constant on the model's device, not a parameter and not saved.
    mask: Option<Tensor<3>>,
}

impl SwinBlock {
    fn new(
        dim: usize,
        heads: usize,
        g: StageGeometry,
        shifted: bool,
        drop: f64,
        device: &Device,
    ) -> Self {
        let shift = if shifted { g.shift } else { 0 };
        Self {
            norm1: layer_norm(dim, 1e-5, device),
            attn: WindowAttention::new(dim, heads, g.window, device),
            norm2: layer_norm(dim, 1e-5, device),
            ffn: FeedForward::new(dim, 4, device),
            drop: DropPath::new(drop),
            geometry: [g.height, g.width, g.window, shift],
            mask: (shift > 0).then(|| {
                let windows = (g.height / g.window) * (g.width / g.window);
                let n = g.window * g.window;
                let mask = shift_mask(g.height, g.width, g.window, shift);
                Tensor::from_data(TensorData::new(mask, [windows, n, n]), device)
            }),
        }
    }

    /// `x`: `[batch, H * W, C]` tokens, row-major.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, _, c] = x.dims();
        let [h, w, win, shift] = self.geometry;
        let (nh, nw) = (h / win, w / win);
        let mut y = self.norm1.forward(x.clone()).reshape([b, h, w, c]);
        if shift > 0 {
            let s = -(shift as i64);
            y = y.roll(&[s, s], &[1, 2]);
        }
        let windows = y
            .reshape([b, nh, win, nw, win, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([b * nh * nw, win * win, c]);
        let mut y = self
            .attn
            .forward(windows, self.mask.clone())
            .reshape([b, nh, nw, win, win, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([b, h, w, c]);
        if shift > 0 {
            let s = shift as i64;
            y = y.roll(&[s, s], &[1, 2]);
        }
        let x = x + self.drop.forward(y.reshape([b, h * w, c]));
        x.clone() + self.drop.forward(self.ffn.forward(self.norm2.forward(x)))
    }
}

/// Concatenates each 2x2 group of tokens (4C channels), layer norm, linear to the next width.
#[derive(Module, Debug)]
pub struct PatchMerging {
    norm: Norm,
    reduction: Linear,
    #[module(skip)]
    grid: [usize; 2],
}

impl PatchMerging {
    /// `[batch, H * W, C]` to `[batch, H/2 * W/2, outputs]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, _, c] = x.dims();
        let [h, w] = self.grid;
        // [b, h/2, dy, w/2, dx, c] -> [b, h/2, w/2, dx, dy, c]: the original's order
        // x0 (even row, even col), x1 (odd row, even col), x2 (even row, odd col), x3.
        let x = x
            .reshape([b, h / 2, 2, w / 2, 2, c])
            .permute([0, 1, 3, 4, 2, 5])
            .reshape([b, (h / 2) * (w / 2), 4 * c]);
        on_rows(&self.reduction, self.norm.forward(x))
    }
}

/// One stage: optional patch merging, then blocks alternating regular and shifted windows.
#[derive(Module, Debug)]
pub struct SwinStage {
    merge: Option<PatchMerging>,
    blocks: Vec<SwinBlock>,
}

/// A Swin Transformer.
#[derive(Module, Debug)]
pub struct Swin {
    embed: PatchEmbed,
    stages: Vec<SwinStage>,
    norm: Norm,
    head: Linear,
    /// Largest stochastic-depth rate.
    drop_path: f64,
}

impl Swin {
    /// A freshly initialised network.
    pub fn new(spec: &SwinSpec, input: InputShape, device: &Device) -> Self {
        let total = spec.depths.iter().sum();
        let mut rates = drop_path_rates(spec.drop_path, total).into_iter();
        let geometry = spec.geometry(input);
        let mut stages = Vec::new();
        let mut prev: Option<(usize, StageGeometry)> = None;
        for (i, g) in geometry.iter().enumerate() {
            let dim = spec.widths[i];
            let merge = prev.map(|(p, pg)| PatchMerging {
                norm: layer_norm(4 * p, 1e-5, device),
                reduction: linear(4 * p, dim, false, device),
                grid: [pg.height, pg.width],
            });
            let blocks = (0..spec.depths[i])
                .map(|b| {
                    let rate = rates.next().unwrap_or(0.0);
                    SwinBlock::new(dim, spec.heads[i], *g, b % 2 == 1, rate, device)
                })
                .collect();
            stages.push(SwinStage { merge, blocks });
            prev = Some((dim, *g));
        }
        let last = *spec.widths.last().expect("at least one stage");
        Self {
            embed: PatchEmbed::new(
                input.channels,
                spec.widths[0],
                spec.patch_size,
                1e-5,
                device,
            ),
            stages,
            norm: layer_norm(last, 1e-5, device),
            head: linear(last, input.classes, true, device),
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
        let x = self.embed.forward(x);
        let [b, c, h, w] = x.dims();
        let mut x = x.reshape([b, c, h * w]).swap_dims(1, 2);
        for s in &self.stages {
            if let Some(m) = &s.merge {
                x = m.forward(x);
            }
            for blk in &s.blocks {
                x = blk.forward(x);
            }
        }
        let x = self.norm.forward(x).mean_dim(1);
        let [b, _, c] = x.dims();
        self.head.forward(x.reshape([b, c]))
    }
}

/// `heads`.
pub static HEADS: Opt<Vec<usize>> = Opt {
    name: "heads",
    doc: "swin: attention heads per stage",
    default: Vec::new,
};
/// `window_size`.
pub static WINDOW_SIZE: Opt<usize> = Opt {
    name: "window_size",
    doc: "swin: side of the attention windows",
    default: || 7,
};

/// The Swin family.
#[derive(Debug)]
pub struct SwinFamily;

/// The Swin family's registry entry.
pub static SWIN: SwinFamily = SwinFamily;

impl Family for SwinFamily {
    fn name(&self) -> &'static str {
        "swin"
    }

    fn presets(&self) -> &'static [Preset] {
        &[
            Preset {
                name: "swin_tiny",
                about: "Swin-T (Liu et al. 2021), patch 4, window 7, drop path 0.2",
                arch: || {
                    Arch::Swin(SwinSpec {
                        patch_size: 4,
                        window_size: 7,
                        depths: vec![2, 2, 6, 2],
                        widths: vec![96, 192, 384, 768],
                        heads: vec![3, 6, 12, 24],
                        drop_path: 0.2,
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
                        depths: vec![2, 2],
                        widths: vec![32, 64],
                        heads: vec![2, 4],
                        drop_path: 0.0,
                    })
                },
            },
        ]
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[
            &DEPTHS,
            &WIDTHS,
            &HEADS,
            &PATCH_SIZE,
            &WINDOW_SIZE,
            &DROP_PATH,
        ];
        LIST
    }

    fn apply(&self, arch: &mut Arch, o: &Options) {
        if let Arch::Swin(r) = arch {
            apply_stages(&mut r.depths, &mut r.widths, o);
            r.heads = HEADS.given(o).unwrap_or(std::mem::take(&mut r.heads));
            r.patch_size = PATCH_SIZE.given(o).unwrap_or(r.patch_size);
            r.window_size = WINDOW_SIZE.given(o).unwrap_or(r.window_size);
            r.drop_path = DROP_PATH.given(o).unwrap_or(r.drop_path);
        }
    }

    fn check(&self, arch: &Arch, input: InputShape) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let Arch::Swin(s) = arch else {
            return out;
        };
        check_stages(&s.depths, &s.widths, &mut out);
        check_patch(s.patch_size, input, &mut out);
        if s.window_size == 0 {
            out.push(("window_size", "must be at least 1".into()));
        }
        if out.is_empty() {
            check_grid(s, input, &mut out);
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
        check_drop(s.drop_path, &mut out);
        out
    }
}

/// The patches tile the input, every stage's grid halves and its windows tile it.
fn check_grid(s: &SwinSpec, input: InputShape, out: &mut Vec<(&'static str, String)>) {
    if !input.height.is_multiple_of(s.patch_size) || !input.width.is_multiple_of(s.patch_size) {
        out.push((
            "patch_size",
            format!(
                "{} does not divide the {}x{} input",
                s.patch_size, input.height, input.width
            ),
        ));
        return;
    }
    let geometry = s.geometry(input);
    for (i, g) in geometry.iter().enumerate() {
        if i + 1 < geometry.len() && (g.height % 2 != 0 || g.width % 2 != 0) {
            out.push(("depths", format!("stage {} has a {}x{} token grid, which patch merging cannot halve; use fewer stages or another patch_size", i + 1, g.height, g.width)));
            return;
        }
        if g.window == 0 || g.height % g.window != 0 || g.width % g.window != 0 {
            out.push(("window_size", format!("stage {} has a {}x{} token grid that {}x{} windows do not tile; choose a window_size dividing it", i + 1, g.height, g.width, g.window, g.window)));
            return;
        }
    }
}
