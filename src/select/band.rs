//! `band`: keep the samples whose score is closest to the median score, a band of the ranking
//! centred on its middle. Moderate coreset (Xia, Liu, Yu, Shen, Han, Liu 2023, "Moderate
//! Coreset: A Universal Method of Data Selection for Real-world Data-efficient Deep Learning",
//! ICLR) keeps the samples of median distance to their class centre; `band` applies its rule
//! to any score:
//!
//! ```text
//! median = the median of all scores (the mean of the two middle ones for an even count)
//! keep the round(keep_fraction x N) samples with the smallest |score - median|
//! ```
//!
//! Neither the hardest nor the easiest are kept. With `class_balanced`, the same distance is
//! ranked per class with `top`'s quotas (the median stays that of all scores). Ties go to the
//! lower index.

use super::{Input, SelectError, Strategy, StrategyInfo, StrategyOptions, top::Top};
use crate::score::Keep;

/// The `band` strategy.
#[derive(Debug, Clone, Copy)]
pub struct Band;

/// The median of `values` (the mean of the two middle values for an even count; 0 when empty).
pub fn median(values: &[f32]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl Strategy for Band {
    fn info(&self) -> StrategyInfo {
        StrategyInfo {
            name: "band",
            summary: "the share whose score is closest to the median score (Moderate coreset, Xia et al. 2023), globally or per class",
        }
    }

    fn describe(&self, o: &StrategyOptions) -> String {
        super::ranked_description("band around the median", o)
    }

    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError> {
        let m = median(input.scores);
        // Closeness as a score ranked highest-first; the distance is exact in f64 and its
        // negation rounds to f32 only for the ranking (ties go to the lower index).
        let closeness: Vec<f32> = input
            .scores
            .iter()
            .map(|&s| -((f64::from(s) - m).abs()) as f32)
            .collect();
        Top.keep(&Input {
            scores: &closeness,
            keep: Keep::Highest,
            ..*input
        })
    }
}
