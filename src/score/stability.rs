//! Ranking stability: how early a method's scores settle. For every method and every number
//! of scoring epochs k (from the first k at which the method is defined), its scores from
//! epochs 1..k against its scores from every epoch:
//!
//! - `spearman`: Spearman's rank correlation (average ranks for ties; NaN where either
//!   ranking is constant, as at an epoch where no sample was yet forgotten);
//! - `kept_overlap`: at each prune ratio, the share of the final kept set (global `top`
//!   selection) that the epoch-k kept set already holds.
//!
//! A method's score from k epochs is the method run on a k-epoch recording (its windows,
//! default epochs and weights are those of a k-epoch run), so each k is its own pass over the
//! first k epochs: about T²/2 epoch reads for T epochs, every method sharing each pass (a
//! second on 60,000 samples x 30 epochs). Beyond 60 epochs, 30 evenly spaced k are taken.

use serde::{Deserialize, Serialize};

use super::{ScoreError, ScoreParams, Scorer, score_all, used_epochs};
use crate::dynamics::EpochSource;
use crate::select::{self, Amount};

/// One row of `stability.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityRow {
    /// Scoring method.
    pub method: String,
    /// Scoring epochs the scores came from (the first k).
    pub epochs_used: usize,
    /// Prune ratio of the kept sets compared.
    pub prune_ratio: f64,
    /// Spearman correlation with the scores from every epoch.
    pub spearman: f64,
    /// Share of the final kept set already kept at `epochs_used`.
    pub kept_overlap: f64,
}

/// The numbers of epochs whose scores are compared for a run of `epochs` epochs.
pub fn grid(epochs: usize) -> Vec<usize> {
    if epochs <= 60 {
        return (1..=epochs).collect();
    }
    let mut ks: Vec<usize> = (1..=30).map(|i| (i * epochs).div_ceil(30)).collect();
    ks.dedup();
    ks
}

/// Ranks of `v` (0-based, ties share their average rank).
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for &o in &order[i..=j] {
            r[o] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `a` and `b` (Pearson's on their average ranks).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// The rows for `scorers` (seeded ones are left out: their scores do not come from the
/// dynamics) at `prune_ratios`, scoring from the first `params.epochs_used` epochs (or all).
pub fn stability(
    source: &mut dyn EpochSource,
    scorers: &[&dyn Scorer],
    params: &ScoreParams,
    prune_ratios: &[f64],
) -> Result<Vec<StabilityRow>, ScoreError> {
    let scorers: Vec<&dyn Scorer> = scorers
        .iter()
        .copied()
        .filter(|s| !s.info().seeded)
        .collect();
    let last = used_epochs(params.epochs_used, source.shape().epochs)?;
    let at = |k| ScoreParams {
        epochs_used: Some(k),
        ..params.clone()
    };
    let finals = score_all(source, &scorers, &at(last))?;
    let mut keeps = Vec::new();
    for &ratio in prune_ratios {
        let fraction = Amount::Prune(ratio)
            .keep_fraction("prune ratio")
            .map_err(|e| ScoreError::BadParam {
                option: "prune_ratio",
                what: e.to_string(),
            })?;
        keeps.push((ratio, fraction));
    }
    let kept = |s: &[f32], scorer: &dyn Scorer, fraction: f64| -> Vec<bool> {
        let sel = select::select(s, fraction, scorer.info().keep, None).map(|s| s.kept);
        let mut mask = vec![false; s.len()];
        for i in sel.unwrap_or_default() {
            mask[i] = true;
        }
        mask
    };
    let mut rows = Vec::new();
    for k in grid(last) {
        let defined: Vec<usize> = (0..scorers.len())
            .filter(|&m| scorers[m].check(&at(k), k).is_ok())
            .collect();
        if defined.is_empty() {
            continue;
        }
        let some: Vec<&dyn Scorer> = defined.iter().map(|&m| scorers[m]).collect();
        let scores = score_all(source, &some, &at(k))?;
        for (&m, s) in defined.iter().zip(&scores) {
            let rho = spearman(s, &finals[m]);
            for &(ratio, fraction) in &keeps {
                let (now, end) = (
                    kept(s, scorers[m], fraction),
                    kept(&finals[m], scorers[m], fraction),
                );
                let total = end.iter().filter(|&&x| x).count();
                let both = now.iter().zip(&end).filter(|(a, b)| **a && **b).count();
                rows.push(StabilityRow {
                    method: scorers[m].info().name.to_string(),
                    epochs_used: k,
                    prune_ratio: ratio,
                    spearman: rho,
                    kept_overlap: both as f64 / total.max(1) as f64,
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        let pos = |r: &StabilityRow| scorers.iter().position(|s| s.info().name == r.method);
        pos(a)
            .cmp(&pos(b))
            .then(a.epochs_used.cmp(&b.epochs_used))
            .then(a.prune_ratio.total_cmp(&b.prune_ratio))
    });
    Ok(rows)
}
