//! `top`: keep the first-ranked share of the samples by score (the paper's selection): one
//! global ranking, or with `class_balanced`, per class with quotas that sum to the global count
//! ([`super::class_quotas`]). Ties go to the lower index.

use super::{Input, SelectError, Strategy, StrategyInfo, class_quotas, kept_count, ranking};

/// The `top` strategy.
#[derive(Debug, Clone, Copy)]
pub struct Top;

impl Strategy for Top {
    fn info(&self) -> StrategyInfo {
        StrategyInfo {
            name: "top",
            summary: "the first-ranked share by score, globally or per class (the paper's selection)",
        }
    }

    fn describe(&self, o: &super::StrategyOptions) -> String {
        super::ranked_description("top", o)
    }

    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError> {
        let (scores, keep, n) = (input.scores, input.keep, input.scores.len());
        if !input.options.class_balanced {
            let mut order = ranking(scores, keep, 0..n);
            order.truncate(kept_count(n, input.keep_fraction));
            return Ok(order);
        }
        let labels = input.labels.ok_or(SelectError::NoLabels)?;
        let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut members = vec![Vec::new(); classes];
        for (i, &l) in labels.iter().enumerate() {
            members[l as usize].push(i);
        }
        let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
        let quotas = class_quotas(&sizes, input.keep_fraction);
        let mut kept = Vec::new();
        for (class, quota) in members.into_iter().zip(quotas) {
            kept.extend(
                ranking(scores, keep, class.into_iter())
                    .into_iter()
                    .take(quota),
            );
        }
        Ok(kept)
    }
}
