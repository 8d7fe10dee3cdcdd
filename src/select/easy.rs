//! `easy`: keep the last-ranked share by score, the samples a method would prune first (the
//! easiest, for scores that rank hard samples first). Sorscher, Geirhos, Shekhar, Ganguli,
//! Morcos 2022 ("Beyond neural scaling laws: beating power law scaling via data pruning",
//! NeurIPS) find keeping easy samples better when little data is kept and hard ones when much
//! is. It is `top` run on the reversed ranking, globally or with `class_balanced` per class.

use super::{Input, SelectError, Strategy, StrategyInfo, StrategyOptions, top::Top};
use crate::score::Keep;

/// The `easy` strategy.
#[derive(Debug, Clone, Copy)]
pub struct Easy;

impl Strategy for Easy {
    fn info(&self) -> StrategyInfo {
        StrategyInfo {
            name: "easy",
            summary: "the last-ranked share by score: the easiest samples (Sorscher et al. 2022), globally or per class",
        }
    }

    fn describe(&self, o: &StrategyOptions) -> String {
        super::ranked_description("easy", o)
    }

    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError> {
        let reversed = match input.keep {
            Keep::Highest => Keep::Lowest,
            Keep::Lowest => Keep::Highest,
        };
        Top.keep(&Input {
            keep: reversed,
            ..*input
        })
    }
}
