//! The accumulated margin of Coverage-centric Coreset Selection (Zheng, Liu, Liu, Sun, Ren
//! 2023, "Coverage-centric Coreset Selection for High Pruning Rates", ICLR; the score CCS
//! stratifies by).
//!
//! With `p[t]` sample i's softmax after epoch t and y its label:
//!
//! ```text
//! A(i) = sum over the epochs in which i was seen of  p[t]_y - max_{k != y} p[t]_k   keep the lowest
//! ```
//!
//! The probability margin comes from recorded fields, exactly: with the logit margin
//! m = z_y - max_{k != y} z_k, where m >= 0 the class y is the arg-max and
//! max_{k != y} p_k = p_y e^{-m}, so the margin is p_y (1 - e^{-m}); where m < 0 the arg-max is
//! another class and the margin is p_y - max_k p_k. Low means hard.

use super::aum::MeanPass;
use crate::dynamics::{Field, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The accumulated-margin scorer.
#[derive(Debug, Clone, Copy)]
pub struct AccMargin;

impl Scorer for AccMargin {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "acc_margin",
            summary: "sum over epochs of the probability margin p_y - max other p (CCS, Zheng et al. 2023); low = hard",
            keep: Keep::Lowest,
            needs: FieldSet::of(&[Field::PTrue, Field::Margin, Field::MaxProb]),
            seeded: false,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        Ok(Box::new(MeanPass::sum(ctx.shape.samples, |cols, i| {
            let (p, m) = (f64::from(cols.p_true[i]), f64::from(cols.margin[i]));
            if m >= 0.0 {
                // p (1 - e^{-m}), without cancellation for small m.
                -p * (-m).exp_m1()
            } else {
                p - f64::from(cols.max_prob[i])
            }
        })))
    }
}
