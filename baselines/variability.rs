//! Variability, the spread axis of dataset cartography (Swayamdipta, Schwartz, Lourie, Wang,
//! Hajishirzi, Smith, Choi 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with
//! Training Dynamics", eq. 2): with `p[t]` sample i's true-class probability after epoch t
//! and E the epochs in which i was seen,
//!
//! ```text
//! mean(i)        = 1/|E| sum_{t in E} p[t]
//! variability(i) = sqrt( 1/|E| sum_{t in E} (p[t] - mean(i))^2 )      population std; keep the highest
//! ```
//!
//! The "ambiguous" samples, whose prediction swings over the whole run, score highest; it is
//! Dyn-Unc with one window spanning every epoch (and the population, not the sample, std). A
//! sample seen in no epoch scores 0. Computed in one pass in f64 (Welford's update), so memory
//! is three numbers per sample.

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The variability scorer.
#[derive(Debug, Clone, Copy)]
pub struct Variability;

impl Scorer for Variability {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "variability",
            summary: "std over all epochs of the true-class probability (dataset cartography, Swayamdipta et al. 2020)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::PTrue]),
            seeded: false,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        Ok(Box::new(Welford::new(ctx.shape.samples, |n, _, m2| {
            (m2 / f64::from(n)).sqrt()
        })))
    }
}

/// Per sample: values seen, their running mean, and the running sum of squared deviations;
/// the score of a sample seen `n > 0` times is `output(n, mean, m2)`, of one never seen 0.
pub(crate) struct Welford {
    state: Vec<(u32, f64, f64)>,
    output: fn(u32, f64, f64) -> f64,
}

impl Welford {
    /// Nothing seen yet for `samples` samples.
    pub(crate) fn new(samples: usize, output: fn(u32, f64, f64) -> f64) -> Self {
        Welford {
            state: vec![(0, 0.0, 0.0); samples],
            output,
        }
    }
}

impl Accumulator for Welford {
    fn observe(&mut self, _epoch: usize, cols: &EpochColumns) {
        for (i, (n, mean, m2)) in self.state.iter_mut().enumerate() {
            if cols.seen(i) {
                let x = f64::from(cols.p_true[i]);
                *n += 1;
                let delta = x - *mean;
                *mean += delta / f64::from(*n);
                *m2 += delta * (x - *mean);
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.state
            .iter()
            .map(|&(n, mean, m2)| match n {
                0 => 0.0,
                n => (self.output)(n, mean, m2) as f32,
            })
            .collect()
    }
}
