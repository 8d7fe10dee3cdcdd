//! Forgetting events (Toneva et al. 2019, "An Empirical Study of Example Forgetting during Deep
//! Neural Network Learning").
//!
//! A forgetting event is a transition from correct to incorrect between two consecutive epochs
//! in which the sample was seen:
//!
//! ```text
//! F(i) = #{ k : correct[k-1][i] = 1 and correct[k][i] = 0 }      keep the highest
//! ```
//!
//! A sample never classified correctly counts as forgotten the most (Toneva et al. treat it as
//! infinitely forgotten): its score is K, the number of epochs, above any possible count of
//! events (at most K/2). Ties, which are common, are broken by the selection's index order.

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::score::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};

/// The forgetting scorer.
#[derive(Debug, Clone, Copy)]
pub struct Forgetting;

impl Scorer for Forgetting {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "forgetting",
            summary: "count of correct -> incorrect transitions; never-learned samples rank first (Toneva et al. 2019)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::Flags]),
            seeded: false,
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let n = ctx.shape.samples;
        Ok(Box::new(ForgettingPass {
            epochs: ctx.shape.epochs,
            last: vec![State::Unknown; n],
            learned: vec![false; n],
            events: vec![0; n],
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    Correct,
    Incorrect,
}

struct ForgettingPass {
    epochs: usize,
    last: Vec<State>,
    learned: Vec<bool>,
    events: Vec<u32>,
}

impl Accumulator for ForgettingPass {
    fn observe(&mut self, _epoch: usize, cols: &EpochColumns) {
        for i in 0..self.last.len() {
            if !cols.seen(i) {
                continue;
            }
            let now = if cols.correct(i) {
                State::Correct
            } else {
                State::Incorrect
            };
            if self.last[i] == State::Correct && now == State::Incorrect {
                self.events[i] += 1;
            }
            self.learned[i] |= now == State::Correct;
            self.last[i] = now;
        }
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.events
            .iter()
            .zip(&self.learned)
            .map(|(&e, &learned)| {
                if learned {
                    e as f32
                } else {
                    self.epochs as f32
                }
            })
            .collect()
    }
}
