//! EL2N, the error L2-norm (Paul, Ganguli, Dziugaite 2021, "Deep Learning on a Data Diet").
//!
//! ```text
//! EL2N(i) = || softmax(f(x_i)) - onehot(y_i) ||_2   at epoch e      keep the highest
//! ```
//!
//! computed early in training: `el2n_epoch` (1-based), by default 10% into training, i.e.
//! epoch ceil(K / 10). Paul et al. average the norm over several independent runs; dynunc
//! scores one recorded run, so the score is that run's value. A sample not seen at epoch e
//! takes its value from the latest earlier epoch it was seen in, else from the first later one.

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::options::{Declared, Opt};
use crate::score::{Accumulator, Context, Keep, ScoreError, ScoreParams, Scorer, ScorerInfo};

/// `el2n_epoch`: the epoch (1-based) whose EL2N is the score.
pub static EL2N_EPOCH: Opt<Option<usize>> = Opt {
    name: "el2n_epoch",
    doc: "el2n: the epoch (1-based) whose error norm is the score; default 10% into training",
    default: || None,
};

/// The EL2N scorer.
#[derive(Debug, Clone, Copy)]
pub struct El2n;

/// The default EL2N epoch (1-based) for a run of `epochs` epochs: 10% into training.
pub fn default_epoch(epochs: usize) -> usize {
    epochs.div_ceil(10).max(1)
}

impl Scorer for El2n {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "el2n",
            summary: "L2 norm of softmax minus one-hot label, early in training (Paul et al. 2021)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::El2n]),
            seeded: false,
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&EL2N_EPOCH];
        LIST
    }

    fn check(&self, params: &ScoreParams, epochs: usize) -> Result<(), ScoreError> {
        let at = params.get(&EL2N_EPOCH).unwrap_or(default_epoch(epochs));
        if at == 0 || at > epochs {
            return Err(ScoreError::BadParam {
                option: "el2n_epoch",
                what: format!(
                    "el2n_epoch {at} is outside the recorded epochs 1..={epochs}; choose an epoch in that range (default: {})",
                    default_epoch(epochs)
                ),
            });
        }
        Ok(())
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let epochs = ctx.shape.epochs;
        let at = ctx.params.get(&EL2N_EPOCH).unwrap_or(default_epoch(epochs));
        let n = ctx.shape.samples;
        Ok(Box::new(El2nPass {
            at: at - 1,
            value: vec![f32::NAN; n],
        }))
    }
}

struct El2nPass {
    at: usize,
    value: Vec<f32>,
}

impl Accumulator for El2nPass {
    fn observe(&mut self, epoch: usize, cols: &EpochColumns) {
        for (i, v) in self.value.iter_mut().enumerate() {
            // Up to epoch `at`, the latest seen value wins; after it, only a still-missing one
            // is filled, by the first later epoch that saw the sample.
            if cols.seen(i) && (epoch <= self.at || v.is_nan()) {
                *v = cols.el2n[i];
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.value
            .into_iter()
            .map(|v| if v.is_nan() { 0.0 } else { v })
            .collect()
    }
}
