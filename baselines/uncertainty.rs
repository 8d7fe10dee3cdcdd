//! Uncertainty of the final prediction (Coleman et al. 2020, "Selection via Proxy"), with the
//! softmax p of the last epoch in which the sample was seen:
//!
//! ```text
//! entropy          U(i) = - sum_c p_c log p_c          (nats)
//! least_confidence U(i) = 1 - max_c p_c
//! margin           U(i) = 1 - (p_(1) - p_(2))           (largest minus second-largest)
//! ```
//!
//! Keep the highest (the most uncertain). Chosen with `uncertainty: entropy | least_confidence
//! | margin`; default entropy.

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::options::{Declared, Opt};
use crate::score::{
    Accumulator, Context, Keep, LastSeen, ScoreError, ScoreParams, Scorer, ScorerInfo,
};

crate::choices! {
    /// Which uncertainty measure.
    pub enum UncertaintyKind {
        /// Entropy of the softmax.
        Entropy = "entropy",
        /// One minus the largest probability.
        LeastConfidence = "least_confidence",
        /// One minus the gap between the two largest probabilities.
        Margin = "margin",
    }
}

/// `uncertainty`: which measure.
pub static UNCERTAINTY: Opt<UncertaintyKind> = Opt {
    name: "uncertainty",
    doc: "uncertainty: `entropy` (default), `least_confidence` or `margin`",
    default: || UncertaintyKind::Entropy,
};

impl UncertaintyKind {
    fn field(self) -> Field {
        match self {
            Self::Entropy => Field::Entropy,
            Self::LeastConfidence => Field::MaxProb,
            Self::Margin => Field::Top2Gap,
        }
    }
}

/// The uncertainty scorer.
#[derive(Debug, Clone, Copy)]
pub struct Uncertainty;

impl Scorer for Uncertainty {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "uncertainty",
            summary: "entropy (or least confidence, or margin) of the final prediction (Coleman et al. 2020)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::Entropy]),
            seeded: false,
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&UNCERTAINTY];
        LIST
    }

    fn needs(&self, params: &ScoreParams) -> FieldSet {
        FieldSet::of(&[params.get(&UNCERTAINTY).field()])
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let kind = ctx.params.get(&UNCERTAINTY);
        Ok(Box::new(UncertaintyPass {
            kind,
            last: LastSeen::new(kind.field(), ctx.shape.samples),
        }))
    }
}

struct UncertaintyPass {
    kind: UncertaintyKind,
    last: LastSeen,
}

impl Accumulator for UncertaintyPass {
    fn observe(&mut self, _epoch: usize, cols: &EpochColumns) {
        self.last.observe(cols);
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.last
            .into_values()
            .into_iter()
            .map(|v| match (self.kind, v.is_nan()) {
                (_, true) => 0.0,
                (UncertaintyKind::Entropy, false) => v,
                (_, false) => 1.0 - v,
            })
            .collect()
    }
}
