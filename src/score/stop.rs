//! Early stop of a scoring run (`scoring.stop`): the run ends once one method's kept set at one
//! prune ratio has settled, and the same rule replayed on a finished store (`scoring.prefixes:
//! [stop]`) says where it would have ended.
//!
//! After epoch k (from the first k at which the method is defined, as
//! [`super::stability`] takes it: the method run on a k-epoch recording), the kept set
//! `K_k` is the `top` selection at the prune ratio, global. The overlap with the previous
//! epoch's is `|K_k ∩ K_{k-1}| / |K_k|`; the run stops after `patience` consecutive epochs
//! with an overlap of at least `overlap`. Each epoch is one pass over the k epochs recorded so
//! far (for the method's fields only): T²/2 epoch reads over a T-epoch run, a second in all on
//! 60,000 samples x 30 epochs; on ImageNet's 1.28M samples about 36 MB an epoch read.

use super::{ScoreError, ScoreParams, Scorer, score_one};
use crate::dynamics::EpochSource;
use crate::select::{self, Amount};

/// `scoring.stop`, validated.
#[derive(Debug, Clone, Copy)]
pub struct StopRule {
    /// The method whose kept set is watched.
    pub method: &'static dyn Scorer,
    /// The prune ratio of the kept set.
    pub prune_ratio: f64,
    /// The least share of the kept set that must stay kept from one epoch to the next.
    pub overlap: f64,
    /// How many consecutive settled epochs end the run.
    pub patience: usize,
}

impl StopRule {
    /// The first number of epochs at which the method is defined under `params` (within
    /// `epochs`), if any.
    pub fn first_defined(&self, params: &ScoreParams, epochs: usize) -> Option<usize> {
        (1..=epochs).find(|&k| self.method.check(&at(params, k), k).is_ok())
    }

    /// The earliest epoch count at which the rule can stop: `patience` comparisons after the
    /// method is first defined.
    pub fn earliest(&self, params: &ScoreParams, epochs: usize) -> Option<usize> {
        self.first_defined(params, epochs)
            .map(|k| k + self.patience)
    }
}

fn at(params: &ScoreParams, k: usize) -> ScoreParams {
    ScoreParams {
        epochs_used: Some(k),
        ..params.clone()
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// Epochs recorded when the rule fired.
    pub epochs: usize,
    /// The overlaps of the last `patience` epochs, oldest first.
    pub overlaps: Vec<f64>,
}

impl Fired {
    /// One sentence for logs and the results.
    pub fn reason(&self, rule: &StopRule) -> String {
        let overlaps: Vec<String> = self
            .overlaps
            .iter()
            .map(|o| format!("{:.2}%", 100.0 * o))
            .collect();
        format!(
            "after epoch {}: {}'s kept set at {:.0}% pruning kept at least {:.2}% of itself from one epoch to the next for {} epoch(s) ({})",
            self.epochs,
            rule.method.info().name,
            100.0 * rule.prune_ratio,
            100.0 * rule.overlap,
            rule.patience,
            overlaps.join(", ")
        )
    }
}

/// The rule's state over a run, fed one epoch count at a time.
pub struct Stopper {
    rule: StopRule,
    params: ScoreParams,
    previous: Option<Vec<bool>>,
    recent: Vec<f64>,
    fired: Option<Fired>,
}

impl Stopper {
    /// A fresh state for `rule`, scoring with `params` (the experiment's options).
    pub fn new(rule: StopRule, params: &ScoreParams) -> Self {
        Self {
            rule,
            params: params.clone(),
            previous: None,
            recent: Vec::new(),
            fired: None,
        }
    }

    /// Whether (and why) the rule has fired.
    pub fn fired(&self) -> Option<&Fired> {
        self.fired.as_ref()
    }

    /// Sees the first `k` epochs of `source` (called with k = 1, 2, ... in turn); returns
    /// whether the rule has fired.
    pub fn observe(&mut self, source: &mut dyn EpochSource, k: usize) -> Result<bool, ScoreError> {
        if self.fired.is_some() {
            return Ok(true);
        }
        let params = at(&self.params, k);
        if self.rule.method.check(&params, k).is_err() {
            return Ok(false);
        }
        let scores = score_one(source, self.rule.method, &params)?;
        let fraction = Amount::Prune(self.rule.prune_ratio)
            .keep_fraction("scoring.stop.prune_ratio")
            .map_err(|e| ScoreError::BadParam {
                option: "stop",
                what: e.to_string(),
            })?;
        let kept = select::select(&scores, fraction, self.rule.method.info().keep, None)
            .map_err(|e| ScoreError::BadParam {
                option: "stop",
                what: e.to_string(),
            })?
            .kept;
        let mut mask = vec![false; scores.len()];
        for i in &kept {
            mask[*i] = true;
        }
        if let Some(prev) = &self.previous {
            let both = mask.iter().zip(prev).filter(|(a, b)| **a && **b).count();
            let overlap = both as f64 / kept.len().max(1) as f64;
            match overlap >= self.rule.overlap {
                true => self.recent.push(overlap),
                false => self.recent.clear(),
            }
        }
        self.previous = Some(mask);
        if self.recent.len() >= self.rule.patience {
            self.fired = Some(Fired {
                epochs: k,
                overlaps: self.recent.clone(),
            });
        }
        Ok(self.fired.is_some())
    }
}

/// Where the rule fires on the epochs `source` holds (the first `epochs_used` when given):
/// `None` when it never does.
pub fn replay(
    source: &mut dyn EpochSource,
    rule: StopRule,
    params: &ScoreParams,
) -> Result<Option<Fired>, ScoreError> {
    let last = super::used_epochs(params.epochs_used, source.shape().epochs)?;
    let mut stopper = Stopper::new(rule, params);
    for k in 1..=last {
        if stopper.observe(source, k)? {
            break;
        }
    }
    Ok(stopper.fired)
}
