//! Selection: from scores to the kept and pruned samples. Each strategy is a [`Strategy`] in
//! its own file, listed once in [`STRATEGIES`]; any score works with any strategy.
//!
//! Adding a strategy is two files: `src/select/<name>.rs` with a unit struct implementing
//! [`Strategy`] (its `//!` doc holds the rule and its source; its options declared with
//! [`Strategy::options`] and checked in [`Strategy::check`]), and here the module and one line
//! in [`STRATEGIES`]. `dynunc select`'s flags and the experiment file's `retrain.<name>:`
//! sections are built from the declarations.

pub mod band;
pub mod ccs;
pub mod dual_beta;
pub mod easy;
pub mod skip_hardest;
pub mod top;

use thiserror::Error;

use crate::options::{Declared, Options};
use crate::score::Keep;

/// Every strategy, in the order help lists them.
pub static STRATEGIES: &[&dyn Strategy] = &[
    &top::Top,
    &ccs::Ccs,
    &dual_beta::DualBeta,
    &easy::Easy,
    &band::Band,
    &skip_hardest::SkipHardest,
];

/// How much to keep, as given by the user: a keep fraction or a prune ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// Fraction of samples kept, in (0, 1].
    Keep(f64),
    /// Fraction of samples removed, in [0, 1).
    Prune(f64),
}

impl Amount {
    /// Checks the range and returns the keep fraction. `origin` names where the value came from.
    pub fn keep_fraction(self, origin: &str) -> Result<f64, SelectError> {
        match self {
            Amount::Keep(f) if f > 0.0 && f <= 1.0 => Ok(f),
            Amount::Prune(p) if (0.0..1.0).contains(&p) => Ok(1.0 - p),
            Amount::Keep(f) => Err(SelectError::Range {
                what: format!(
                    "{origin}: keep fraction {f} is outside (0, 1]; give the share of samples to keep, e.g. 0.75 (the same as prune ratio 0.25)"
                ),
            }),
            Amount::Prune(p) => Err(SelectError::Range {
                what: format!(
                    "{origin}: prune ratio {p} is outside [0, 1); give the share of samples to remove, e.g. 0.25 (the same as keep fraction 0.75)"
                ),
            }),
        }
    }
}

/// Problems selecting.
#[derive(Debug, Error)]
pub enum SelectError {
    /// A fraction out of range.
    #[error("{what}")]
    Range {
        /// What and the fix.
        what: String,
    },
    /// A NaN score.
    #[error(
        "score of sample {index} is NaN; rescore the dynamics (a NaN score means the dynamics held non-finite values)"
    )]
    NanScore {
        /// Sample index.
        index: usize,
    },
    /// An option a strategy cannot use.
    #[error("{what}")]
    BadOption {
        /// The option at fault (`class_balanced` for the common flag).
        option: &'static str,
        /// What is wrong and the fix.
        what: String,
    },
    /// A strategy name not in the registry.
    #[error("unknown selection strategy `{name}`; known strategies: {known}")]
    UnknownStrategy {
        /// What was asked for.
        name: String,
        /// The registry's names.
        known: String,
    },
    /// A strategy that reads each sample's mean confidence, given none.
    #[error(
        "{strategy} weighs samples by their mean true-class probability over the scoring epochs, and none was given; in an experiment it comes from the store, for `dynunc select` pass `--confidence FILE.csv` (written by `dynunc score --method confidence`)"
    )]
    NoConfidence {
        /// The strategy.
        strategy: &'static str,
    },
    /// Class-balanced selection without labels.
    #[error(
        "class-balanced selection needs labels, but the scores have none; pass labels (`--labels FILE.npy` when scoring an imported .npy) or drop --class-balanced"
    )]
    NoLabels,
}

/// The outcome of a selection: indices in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Samples kept.
    pub kept: Vec<usize>,
    /// Samples pruned.
    pub pruned: Vec<usize>,
}

/// Number kept out of `n` at fraction `f`: rounded to nearest, at least one when `n > 0`.
pub fn kept_count(n: usize, f: f64) -> usize {
    if n == 0 {
        return 0;
    }
    ((n as f64 * f).round() as usize).clamp(1, n)
}

/// Order of samples from most to least worth keeping; ties go to the lower index.
pub fn ranking(scores: &[f32], keep: Keep, among: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut order: Vec<usize> = among.collect();
    order.sort_by(|&a, &b| {
        let by_score = match keep {
            Keep::Highest => scores[b].total_cmp(&scores[a]),
            Keep::Lowest => scores[a].total_cmp(&scores[b]),
        };
        by_score.then(a.cmp(&b))
    });
    order
}

/// Per-class quotas that sum to exactly [`kept_count`]`(n, keep_fraction)` (the largest
/// remainder method): each class first gets floor(fraction x its size), then the samples still
/// to place go one each to the classes with the largest fractional parts, ties to the lower
/// class. A class can get 0 when the global count is smaller than the number of classes.
pub fn class_quotas(sizes: &[usize], keep_fraction: f64) -> Vec<usize> {
    let total = kept_count(sizes.iter().sum(), keep_fraction);
    let ideal: Vec<f64> = sizes.iter().map(|&n| n as f64 * keep_fraction).collect();
    let mut quotas: Vec<usize> = ideal
        .iter()
        .zip(sizes)
        .map(|(q, &n)| (q.floor() as usize).min(n))
        .collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (ideal[a] - ideal[a].floor(), ideal[b] - ideal[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut missing = total.saturating_sub(quotas.iter().sum());
    // One pass by remainder; a further pass (only needed where rounding left a class full)
    // fills any class with room, in the same order.
    while missing > 0 {
        let before = missing;
        for &c in &order {
            if missing > 0 && quotas[c] < sizes[c] {
                quotas[c] += 1;
                missing -= 1;
            }
        }
        if missing == before {
            break;
        }
    }
    quotas
}

/// What a strategy says about itself.
#[derive(Debug, Clone, Copy)]
pub struct StrategyInfo {
    /// Name used on the command line (`--strategy`).
    pub name: &'static str,
    /// One line: the rule.
    pub summary: &'static str,
}

/// The options strategies read: the common ones, and each strategy's declared ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StrategyOptions {
    /// `top`: per-class quotas instead of one global ranking.
    pub class_balanced: bool,
    /// Seed of the strategies that sample.
    pub seed: u64,
    /// The strategy's declared options, given or default.
    pub options: Options,
}

/// What a strategy selects from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// One score per sample, none NaN.
    pub scores: &'a [f32],
    /// Which end of the scores the method keeps (its "informative" end: the hard samples).
    pub keep: Keep,
    /// Share of samples to keep, in (0, 1].
    pub keep_fraction: f64,
    /// Labels, when known.
    pub labels: Option<&'a [u32]>,
    /// Each sample's mean true-class probability over the scoring epochs (the `confidence`
    /// scorer), for the strategies that read it ([`Strategy::needs_confidence`]).
    pub confidence: Option<&'a [f32]>,
    /// Options.
    pub options: &'a StrategyOptions,
}

/// A selection strategy: from scores to the kept samples.
pub trait Strategy: Sync {
    /// Name and rule.
    fn info(&self) -> StrategyInfo;
    /// The options it reads beyond the common ones.
    fn options(&self) -> &'static [&'static dyn Declared] {
        &[]
    }
    /// Whether it reads [`Input::confidence`] (the caller then computes it from the dynamics).
    fn needs_confidence(&self) -> bool {
        false
    }
    /// Checks the options for keeping `keep_fraction` of the samples (the config calls it for
    /// every prune ratio, [`apply`] before selecting).
    fn check(&self, _options: &StrategyOptions, _keep_fraction: f64) -> Result<(), SelectError> {
        Ok(())
    }
    /// The kept sample indices (any order; [`apply`] sorts them and derives the pruned ones).
    fn keep(&self, input: &Input<'_>) -> Result<Vec<usize>, SelectError>;
    /// A few words on the selection made with `options`, for logs: the name and what was used.
    fn describe(&self, options: &StrategyOptions) -> String {
        let mut out = self.info().name.to_string();
        for (k, v) in options.options.to_map() {
            out.push_str(&format!(", {k} {v}"));
        }
        out
    }
}

/// How a ranking strategy (`top`, `easy`) selected: `name, global` or `name, per-class quotas`.
pub(crate) fn ranked_description(name: &str, o: &StrategyOptions) -> String {
    match o.class_balanced {
        true => format!("{name}, per-class quotas"),
        false => format!("{name}, global"),
    }
}

/// The names of the strategies that read option `key`.
pub fn readers(key: &str) -> Vec<&'static str> {
    STRATEGIES
        .iter()
        .filter(|s| s.options().iter().any(|d| d.name() == key))
        .map(|s| s.info().name)
        .collect()
}

/// The options of every strategy, each key once.
pub fn all_options() -> Vec<&'static dyn Declared> {
    crate::options::union(STRATEGIES.iter().map(|s| s.options()))
}

impl PartialEq for dyn Strategy {
    fn eq(&self, other: &Self) -> bool {
        self.info().name == other.info().name
    }
}

impl std::fmt::Debug for dyn Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.info().name)
    }
}

/// Looks a strategy up by name.
pub fn find(name: &str) -> Result<&'static dyn Strategy, SelectError> {
    STRATEGIES
        .iter()
        .copied()
        .find(|s| s.info().name == name)
        .ok_or_else(|| SelectError::UnknownStrategy {
            name: name.to_owned(),
            known: STRATEGIES
                .iter()
                .map(|s| s.info().name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Runs `strategy` on `input`: checks the scores, selects, and splits the samples into kept
/// and pruned, each in ascending order.
pub fn apply(strategy: &dyn Strategy, input: &Input<'_>) -> Result<Selection, SelectError> {
    if let Some(index) = input.scores.iter().position(|s| s.is_nan()) {
        return Err(SelectError::NanScore { index });
    }
    if let Some(c) = input.confidence
        && c.len() != input.scores.len()
    {
        return Err(SelectError::Range {
            what: format!(
                "{} confidences for {} scores: both must come from the same training set",
                c.len(),
                input.scores.len()
            ),
        });
    }
    strategy.check(input.options, input.keep_fraction)?;
    let n = input.scores.len();
    let mut is_kept = vec![false; n];
    for i in strategy.keep(input)? {
        is_kept[i] = true;
    }
    let (kept, pruned) = (0..n).partition(|&i| is_kept[i]);
    Ok(Selection { kept, pruned })
}

/// Keeps the best `keep_fraction` of samples with the `top` strategy: globally (the paper's
/// default), or with `labels` given, per class with the quotas of [`class_quotas`].
pub fn select(
    scores: &[f32],
    keep_fraction: f64,
    keep: Keep,
    labels: Option<&[u32]>,
) -> Result<Selection, SelectError> {
    let options = StrategyOptions {
        class_balanced: labels.is_some(),
        ..StrategyOptions::default()
    };
    apply(
        &top::Top,
        &Input {
            scores,
            keep,
            keep_fraction,
            labels,
            confidence: None,
            options: &options,
        },
    )
}
