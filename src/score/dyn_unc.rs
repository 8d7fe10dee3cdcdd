//! Dyn-Unc, the dynamic uncertainty score (He, Yang, Huang, Zhao 2023, "Large-scale Dataset
//! Pruning with Dynamic Uncertainty", eq. 2-3).
//!
//! With `p[k][i]` the softmax probability of sample i's true class after epoch k, K epochs and a
//! window of J epochs:
//!
//! ```text
//! U_k(i) = std( p[k][i], p[k+1][i], ..., p[k+J-1][i] )      sample std, ddof = 1
//! U(i)   = 1/(K-J+1) * sum_{k=0}^{K-J} U_k(i)               keep the highest
//! ```
//!
//! Two conventions, chosen with `windows:`
//! - `paper` (default): the K - J + 1 windows above. A window takes the std of the values seen
//!   in it (at least 2, else the window is not counted); the score averages the counted
//!   windows, and is 0 for a sample with none.
//! - `released_code`: exactly the authors' `ImageNet/get_coreset.py` (BAAI-DCAI/Dataset-Pruning).
//!   Each sample has a window of J values, zero-filled at the start; after every epoch in which
//!   the sample was seen its value shifts in (the oldest drops out), an unseen epoch leaves the
//!   window as it is. After epochs k = J-1 .. K-2 (0-based: the window ending at the last epoch
//!   is never added) the std (ddof 1) of all J values, zeros included, times 10, is added; the
//!   score is the sum divided by K - J. Needs K > J. (Their probability files mark "not seen" by
//!   a probability of exactly 0; dynunc uses the recorded seen flag.)
//!
//! When every sample is seen every epoch, `released_code` is 10 times `paper` with the last
//! window dropped. Every window's std is computed in two passes over its values in f64 (mean,
//! then squared deviations), so near-constant windows (p = 1 - 1e-6, one-ulp steps) keep their
//! precision; memory is N x J values plus a few numbers per sample; each epoch costs O(N J).

use super::window::{WindowPass, check_window};
use super::{Accumulator, Context, Keep, ScoreError, ScoreParams, Scorer, ScorerInfo};
use crate::dynamics::{Field, FieldSet};
use crate::options::{Declared, Opt};

crate::choices! {
    /// Which windows Dyn-Unc averages; see the module docs.
    pub enum WindowMode {
        /// K - J + 1 windows over epochs, as in the paper.
        Paper = "paper",
        /// K - J windows over each sample's seen values, as in the authors' released code.
        ReleasedCode = "released_code",
    }
}

/// `window`: the window J, in epochs (Dyn-Unc and DUAL).
pub static WINDOW: Opt<usize> = Opt {
    name: "window",
    doc: "window J in epochs (dyn_unc, dual, tdds); default 10, as the paper (and TDDS)",
    default: || 10,
};

/// `windows`: the window convention.
pub static WINDOWS: Opt<WindowMode> = Opt {
    name: "windows",
    doc: "dyn_unc windows: `paper` (default: the K-J+1 windows of the paper) or `released_code` (exactly the authors' get_coreset.py: zero-filled windows of seen values, K-J of them, each std times 10)",
    default: || WindowMode::Paper,
};

/// The Dyn-Unc scorer.
#[derive(Debug, Clone, Copy)]
pub struct DynUnc;

impl Scorer for DynUnc {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "dyn_unc",
            summary: "mean over sliding windows of J epochs of the std of the true-class probability (He et al. 2023)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::PTrue]),
            seeded: false,
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&WINDOW, &WINDOWS];
        LIST
    }

    fn check(&self, params: &ScoreParams, epochs: usize) -> Result<(), ScoreError> {
        check_window("dyn_unc", params.get(&WINDOW), epochs, params.get(&WINDOWS))
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let (j, k, mode) = (
            ctx.params.get(&WINDOW),
            ctx.shape.epochs,
            ctx.params.get(&WINDOWS),
        );
        let scale = match mode {
            WindowMode::Paper => 1.0,
            // get_coreset.py: `torch.std(pred_prob_his, dim=1) * 10`.
            WindowMode::ReleasedCode => 10.0,
        };
        Ok(Box::new(WindowPass::new(
            mode,
            j,
            k,
            ctx.shape.samples,
            |_, std| std,
            scale,
        )))
    }
}
