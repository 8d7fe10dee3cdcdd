//! AUM, the area under the margin (Pleiss, Zhang, Elenberg, Weinberger 2020, "Identifying
//! Mislabeled Data using the Area Under the Margin Ranking").
//!
//! With `z[t]` sample i's logits after epoch t and y its label:
//!
//! ```text
//! M_t(i) = z[t]_y - max_{k != y} z[t]_k          the logit margin, recorded each epoch
//! AUM(i) = mean over the epochs in which i was seen of M_t(i)          keep the lowest
//! ```
//!
//! A low (negative) AUM marks a sample the model keeps getting wrong: hard or mislabelled. A
//! sample never seen scores 0.

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The AUM scorer.
#[derive(Debug, Clone, Copy)]
pub struct Aum;

impl Scorer for Aum {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "aum",
            summary: "mean over epochs of the logit margin z_y - max other z (Pleiss et al. 2020); low = hard",
            keep: Keep::Lowest,
            needs: FieldSet::of(&[Field::Margin]),
            seeded: false,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        Ok(Box::new(MeanPass::new(ctx.shape.samples, |cols, i| {
            f64::from(cols.margin[i])
        })))
    }
}

/// The per-sample sum and count of a value over the epochs each sample was seen in.
pub(crate) struct MeanPass {
    sum: Vec<f64>,
    seen: Vec<u32>,
    value: fn(&EpochColumns, usize) -> f64,
    /// Divide by the number of epochs seen (a mean) or not (a sum).
    mean: bool,
}

impl MeanPass {
    /// The mean of `value` over the epochs each sample was seen in.
    pub(crate) fn new(samples: usize, value: fn(&EpochColumns, usize) -> f64) -> Self {
        Self {
            sum: vec![0.0; samples],
            seen: vec![0; samples],
            value,
            mean: true,
        }
    }

    /// The sum of `value` over the epochs each sample was seen in.
    pub(crate) fn sum(samples: usize, value: fn(&EpochColumns, usize) -> f64) -> Self {
        Self {
            mean: false,
            ..Self::new(samples, value)
        }
    }
}

impl Accumulator for MeanPass {
    fn observe(&mut self, _epoch: usize, cols: &EpochColumns) {
        for (i, (sum, seen)) in self.sum.iter_mut().zip(&mut self.seen).enumerate() {
            if cols.seen(i) {
                *sum += (self.value)(cols, i);
                *seen += 1;
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.sum
            .iter()
            .zip(&self.seen)
            .map(|(&s, &n)| match (self.mean, n) {
                (true, 0) => 0.0,
                (true, n) => (s / f64::from(n)) as f32,
                (false, _) => s as f32,
            })
            .collect()
    }
}
