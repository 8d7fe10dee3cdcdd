//! Model families: the [`Family`] trait, the registry, and the shape options and checks the
//! staged families share (`depths`, `widths`, `patch_size`, `drop_path`).
//!
//! A family owns its presets, the `model:` keys that change its shape (declared, so config
//! knows no family's keys) and what does not fit an input. Adding one is two files: the
//! family's `src/train/model/<name>.rs` and, in `model/mod.rs`, its `mod` line, its [`Arch`]
//! and [`Model`](super::Model) variants and one line each in
//! [`FAMILIES`](super::FAMILIES), [`Arch::family`] and the delegation macros.

use super::{Arch, InputShape, Preset};
use crate::options::{Declared, Opt, Options};

/// A family of networks.
pub trait Family: Sync {
    /// Name in messages (`resnet`).
    fn name(&self) -> &'static str;
    /// Its presets (`model.arch` values).
    fn presets(&self) -> &'static [Preset];
    /// The `model:` keys it reads.
    fn options(&self) -> &'static [&'static dyn Declared];
    /// Sets the given options onto `arch` (one of this family's shapes).
    fn apply(&self, arch: &mut Arch, options: &Options);
    /// What does not fit `input`: `(key under model:, problem)`.
    fn check(&self, arch: &Arch, input: InputShape) -> Vec<(&'static str, String)>;
}

/// `depths`.
pub static DEPTHS: Opt<Vec<usize>> = Opt {
    name: "depths",
    doc: "resnet/convnext/swin: blocks per stage",
    default: Vec::new,
};
/// `widths`.
pub static WIDTHS: Opt<Vec<usize>> = Opt {
    name: "widths",
    doc: "resnet/convnext/swin: width (channels) per stage",
    default: Vec::new,
};
/// `patch_size`.
pub static PATCH_SIZE: Opt<usize> = Opt {
    name: "patch_size",
    doc: "convnext/swin: side of the stem's patches",
    default: || 4,
};
/// `drop_path`.
pub static DROP_PATH: Opt<f64> = Opt {
    name: "drop_path",
    doc: "convnext/swin: stochastic-depth rate of the last block (rising linearly from 0)",
    default: || 0.0,
};

/// Sets `depths` and `widths` when given.
pub(crate) fn apply_stages(depths: &mut Vec<usize>, widths: &mut Vec<usize>, o: &Options) {
    if let Some(d) = DEPTHS.given(o) {
        *depths = d;
    }
    if let Some(w) = WIDTHS.given(o) {
        *widths = w;
    }
}

/// At least one stage, each with a block, and one positive width per stage.
pub(crate) fn check_stages(
    depths: &[usize],
    widths: &[usize],
    out: &mut Vec<(&'static str, String)>,
) {
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
}

/// A patch side between 1 and the image side.
pub(crate) fn check_patch(patch: usize, input: InputShape, out: &mut Vec<(&'static str, String)>) {
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

/// A stochastic-depth rate in [0, 1).
pub(crate) fn check_drop(rate: f64, out: &mut Vec<(&'static str, String)>) {
    if !(0.0..1.0).contains(&rate) {
        out.push(("drop_path", format!("{rate}: give a rate in [0, 1)")));
    }
}
