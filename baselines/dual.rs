//! DUAL, the difficulty and uncertainty-aware lightweight score (Cho, Kim, Kim, Lee, Yun 2025,
//! "Lightweight Dataset Pruning without Full Training via Example Difficulty and Prediction
//! Uncertainty", ICML; `exp_cifar/importance_evaluation.py` of behaapyy/dual-pruning).
//!
//! With `p[k][i]` sample i's true-class probability after epoch k, K epochs, windows of J:
//!
//! ```text
//! D_k(i) = std( p[k..k+J][i] ) * (1 - mean( p[k..k+J][i] ))     std with ddof = 1
//! DUAL(i) = 1/(K-J+1) * sum_{k=0}^{K-J} D_k(i)                     keep the highest
//! ```
//!
//! A sample that moves (high std) while still poorly predicted (low mean) scores high: the
//! uncertainty of Dyn-Unc weighted by difficulty. The windows are Dyn-Unc's `paper` windows
//! (`scoring.window` is J; a window counts with at least two seen values). The reference code
//! multiplies every std by 10, a constant factor that changes no ranking; dynunc leaves it
//! out. DUAL scores from the first 30 of 200 epochs on CIFAR: record that many, or score a
//! store whose run was that short.

use crate::dynamics::{Field, FieldSet};
use crate::options::Declared;
use crate::score::dyn_unc::{WINDOW, WindowMode};
use crate::score::window::{WindowPass, check_window};
use crate::score::{Accumulator, Context, Keep, ScoreError, ScoreParams, Scorer, ScorerInfo};

/// The DUAL scorer.
#[derive(Debug, Clone, Copy)]
pub struct Dual;

impl Scorer for Dual {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "dual",
            summary: "mean over windows of J epochs of std(p_true) x (1 - mean(p_true)): uncertainty weighted by difficulty (Cho et al. 2025)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::PTrue]),
            seeded: false,
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&WINDOW];
        LIST
    }

    fn check(&self, params: &ScoreParams, epochs: usize) -> Result<(), ScoreError> {
        check_window("dual", params.get(&WINDOW), epochs, WindowMode::Paper)
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let (j, k) = (ctx.params.get(&WINDOW), ctx.shape.epochs);
        Ok(Box::new(WindowPass::new(
            WindowMode::Paper,
            j,
            k,
            ctx.shape.samples,
            |mean, std| std * (1.0 - mean),
            1.0,
        )))
    }
}
