//! `skip_hardest`: drop the hardest `cutoff` share of all samples, then keep the next-ranked
//! share in order. This is the hard-cutoff-then-rank selection ELFS compares against (Zheng,
//! Tsai, Liu, Sun, Ren 2025, "ELFS: Label-Free Coreset Selection with Proxy Training
//! Dynamics", ICLR), called `budget` in the issue that asked for it; renamed because
//! `retrain.budget` already names the retrain budget (`equal_epochs`):
//!
//! ```text
//! order   = the samples ranked by score, first the ones the method keeps (the hardest)
//! dropped = the first floor(cutoff x N) of order
//! kept    = the next round(keep_fraction x N) of order
//! ```
//!
//! With cutoff 0 it is `top`. The cutoff option is `ccs`'s (same name, same range check:
//! [0, prune ratio]); class-balanced selection is refused as for `ccs`.

use super::ccs::{CUTOFF, check_cutoff};
use super::{Input, SelectError, Strategy, StrategyInfo, StrategyOptions, kept_count, ranking};
use crate::options::Declared;

/// The `skip_hardest` strategy.
#[derive(Debug, Clone, Copy)]
pub struct SkipHardest;

impl Strategy for SkipHardest {
    fn info(&self) -> StrategyInfo {
        StrategyInfo {
            name: "skip_hardest",
            summary: "drop the hardest `cutoff` share, then keep the next-ranked share (ELFS's hard cutoff, Zheng et al. 2025)",
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&CUTOFF];
        LIST
    }

    fn check(&self, o: &StrategyOptions, keep_fraction: f64) -> Result<(), SelectError> {
        check_cutoff("skip_hardest", o, keep_fraction)
    }

    fn describe(&self, o: &StrategyOptions) -> String {
        format!("skip_hardest, cutoff {}", CUTOFF.get(&o.options))
    }

    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError> {
        let n = input.scores.len();
        let cutoff = CUTOFF.get(&input.options.options);
        let removed = ((cutoff * n as f64).floor() as usize).min(n);
        let budget = kept_count(n, input.keep_fraction);
        let order = ranking(input.scores, input.keep, 0..n);
        if n - removed < budget {
            return Err(SelectError::BadOption {
                option: "cutoff",
                what: format!(
                    "skip_hardest cutoff {cutoff} leaves {} samples but {budget} are to be kept; lower the cutoff to at most {:.4}",
                    n - removed,
                    1.0 - input.keep_fraction
                ),
            });
        }
        Ok(order[removed..removed + budget].to_vec())
    }
}
