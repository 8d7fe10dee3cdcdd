//! Random pruning: every sample gets a score drawn uniformly from [0, 1) with a seeded
//! ChaCha8 generator (`seed:`), so the kept subset is a uniform random sample that the same
//! seed reproduces on any machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dynamics::{EpochColumns, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The random scorer.
#[derive(Debug, Clone, Copy)]
pub struct Random;

impl Scorer for Random {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "random",
            summary: "uniform random scores from a seeded generator",
            keep: Keep::Highest,
            needs: FieldSet::EMPTY,
            seeded: true,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.params.seed);
        let scores = (0..ctx.shape.samples)
            .map(|_| rng.random::<f32>())
            .collect();
        Ok(Box::new(Fixed(scores)))
    }
}

/// Scores known before any epoch is seen.
struct Fixed(Vec<f32>);

impl Accumulator for Fixed {
    fn observe(&mut self, _epoch: usize, _cols: &EpochColumns) {}

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.0
    }
}
