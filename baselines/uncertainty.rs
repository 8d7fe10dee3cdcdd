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
use crate::score::{
    Accumulator, Context, Keep, LastSeen, ScoreError, ScoreParams, Scorer, ScorerInfo,
};

/// Which uncertainty measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncertaintyKind {
    /// Entropy of the softmax.
    #[default]
    Entropy,
    /// One minus the largest probability.
    LeastConfidence,
    /// One minus the gap between the two largest probabilities.
    Margin,
}

impl UncertaintyKind {
    fn field(self) -> Field {
        match self {
            Self::Entropy => Field::Entropy,
            Self::LeastConfidence => Field::MaxProb,
            Self::Margin => Field::Top2Gap,
        }
    }
}

impl std::str::FromStr for UncertaintyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "entropy" => Ok(Self::Entropy),
            "least_confidence" => Ok(Self::LeastConfidence),
            "margin" => Ok(Self::Margin),
            other => Err(format!(
                "unknown uncertainty `{other}`; expected entropy, least_confidence or margin"
            )),
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
        }
    }

    fn needs(&self, params: &ScoreParams) -> FieldSet {
        FieldSet::of(&[params.uncertainty.field()])
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let kind = ctx.params.uncertainty;
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
