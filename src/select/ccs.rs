//! `ccs`: coverage-centric coreset selection (Zheng, Liu, Liu, Sun, Ren 2023, "Coverage-centric
//! Coreset Selection for High Pruning Rates", ICLR; `core/data/Coreset.py` of
//! haizhongzheng/Coverage-centric-coreset-selection), for any score.
//!
//! 1. Remove the hardest `cutoff` share of all samples: floor(cutoff x N) from the score's
//!    first-ranked end (the end the method keeps: the lowest AUM or accumulated margin, the
//!    highest Dyn-Unc).
//! 2. Split the remaining scores into `bins` strata of equal width over [min, max'), where
//!    max' = max + 1e-4 |max| (CCS writes `max * 1.0001`, which equals it for max >= 0 and
//!    would drop the largest score when max < 0); all scores equal: one stratum.
//! 3. Budget: the kept count is that of every strategy, round(keep_fraction x N). Visit the
//!    strata from the smallest count up (ties: the lower stratum first); each gets
//!    min(its count, floor(budget left / strata left)).
//! 4. Within each stratum draw its budget uniformly without replacement (seeded by `seed`).
//!
//! At high pruning rates this keeps easy, medium and hard samples alike instead of only the
//! hardest, which is what makes CCS beat random where top-k collapses.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Input, SelectError, Strategy, StrategyInfo, StrategyOptions, kept_count, ranking};
use crate::options::{Declared, Opt};

/// `cutoff`: the share of all samples dropped first from the hard end.
pub static CUTOFF: Opt<f64> = Opt {
    name: "cutoff",
    doc: "share of all samples dropped first from the hard end, in [0, prune ratio] (e.g. 0.3 at 90% pruning, the CCS README's example); `ccs` and `skip_hardest`; default 0",
    default: || 0.0,
};

/// `bins`: the number of equal-width score strata.
pub static BINS: Opt<usize> = Opt {
    name: "bins",
    doc: "number of equal-width score strata; default 50, CCS's",
    default: || 50,
};

/// The `ccs` strategy.
#[derive(Debug, Clone, Copy)]
pub struct Ccs;

impl Strategy for Ccs {
    fn info(&self) -> StrategyInfo {
        StrategyInfo {
            name: "ccs",
            summary: "drop the hardest `cutoff` share, then sample evenly over `bins` score strata (Zheng et al. 2023)",
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&CUTOFF, &BINS];
        LIST
    }

    fn check(&self, o: &StrategyOptions, keep_fraction: f64) -> Result<(), SelectError> {
        check_cutoff("ccs", o, keep_fraction)?;
        if BINS.get(&o.options) == 0 {
            return Err(SelectError::BadOption {
                option: "bins",
                what: "ccs bins 0: give at least 1 stratum (CCS uses 50)".into(),
            });
        }
        Ok(())
    }

    fn describe(&self, o: &StrategyOptions) -> String {
        format!(
            "ccs, cutoff {}, {} strata, seed {}",
            CUTOFF.get(&o.options),
            BINS.get(&o.options),
            o.seed
        )
    }

    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError> {
        let o = input.options;
        let (cutoff, bins) = (CUTOFF.get(&o.options), BINS.get(&o.options));
        let n = input.scores.len();
        let budget = kept_count(n, input.keep_fraction);
        let order = ranking(input.scores, input.keep, 0..n);
        let removed = ((cutoff * n as f64).floor() as usize).min(n);
        let pool = &order[removed..];
        if pool.len() < budget {
            return Err(SelectError::BadOption {
                option: "cutoff",
                what: format!(
                    "ccs cutoff {} leaves {} samples but {budget} are to be kept; lower the cutoff to at most {:.4}",
                    cutoff,
                    pool.len(),
                    1.0 - input.keep_fraction
                ),
            });
        }
        let strata = strata(input.scores, pool, bins);
        let counts: Vec<usize> = strata.iter().map(Vec::len).collect();
        let budgets = allocate(budget, &counts);
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        let mut kept = Vec::with_capacity(budget);
        for (mut members, take) in strata.into_iter().zip(budgets) {
            members.shuffle(&mut rng);
            kept.extend_from_slice(&members[..take]);
        }
        Ok(kept)
    }
}

/// Checks `cutoff` (in [0, prune ratio]) for strategy `name`, and refuses `class_balanced`
/// (a cutoff applies to the one global ranking).
pub(crate) fn check_cutoff(
    name: &str,
    o: &StrategyOptions,
    keep_fraction: f64,
) -> Result<(), SelectError> {
    let (cutoff, prune) = (CUTOFF.get(&o.options), 1.0 - keep_fraction);
    if !(cutoff.is_finite() && cutoff >= 0.0 && cutoff <= prune + 1e-12) {
        return Err(SelectError::BadOption {
            option: "cutoff",
            what: format!(
                "{name} cutoff {cutoff} at prune ratio {prune}: a cutoff is in [0, prune ratio] (what is dropped first cannot exceed what is pruned); e.g. 0.3 at 90% pruning (the CCS README's example)"
            ),
        });
    }
    if o.class_balanced {
        return Err(SelectError::BadOption {
            option: "class_balanced",
            what: format!(
                "{name} drops its cutoff from one ranking over all classes; drop class_balanced (it applies to `top`, `easy` and `band`)"
            ),
        });
    }
    Ok(())
}

/// The samples of `pool` in `bins` equal-width strata of their scores, each in index order.
fn strata(scores: &[f32], pool: &[usize], bins: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); bins];
    let values = pool.iter().map(|&i| f64::from(scores[i]));
    let min = values.clone().fold(f64::INFINITY, f64::min);
    let max = values.fold(f64::NEG_INFINITY, f64::max);
    let upper = max + 1e-4 * max.abs();
    let step = (upper - min) / bins as f64;
    let mut sorted = pool.to_vec();
    sorted.sort_unstable();
    for i in sorted {
        let bin = match step > 0.0 {
            true => ((f64::from(scores[i]) - min) / step) as usize,
            false => 0,
        };
        out[bin.min(bins - 1)].push(i);
    }
    out
}

/// CCS's budget per stratum: strata visited from the smallest count up, each taking
/// min(count, floor(left / strata left)).
pub fn allocate(budget: usize, counts: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&b| (counts[b], b));
    let mut left = budget;
    let mut out = vec![0; counts.len()];
    for (visited, &b) in order.iter().enumerate() {
        let take = counts[b].min(left / (counts.len() - visited));
        out[b] = take;
        left -= take;
    }
    out
}
