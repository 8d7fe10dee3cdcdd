//! Confidence, the other axis of dataset cartography (Swayamdipta, Schwartz, Lourie, Wang,
//! Hajishirzi, Smith, Choi 2020, "Dataset Cartography", eq. 1): with `p[t]` sample i's
//! true-class probability after epoch t and E the epochs in which i was seen,
//!
//! ```text
//! confidence(i) = 1/|E| sum_{t in E} p[t]          keep the lowest (the hard-to-learn first)
//! ```
//!
//! Also what DUAL's β-sampling (`dual_beta`) weighs samples by: an experiment with that
//! strategy computes it in the same pass even when it is not a listed method. A sample seen in
//! no epoch scores 0. Computed with [`Welford`]'s running mean in f64.

use super::variability::Welford;
use crate::dynamics::{Field, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The confidence scorer.
#[derive(Debug, Clone, Copy)]
pub struct Confidence;

impl Scorer for Confidence {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "confidence",
            summary: "mean over all epochs of the true-class probability (dataset cartography, Swayamdipta et al. 2020); the lowest kept",
            keep: Keep::Lowest,
            needs: FieldSet::of(&[Field::PTrue]),
            seeded: false,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        Ok(Box::new(Welford::new(ctx.shape.samples, |_, mean, _| mean)))
    }
}
