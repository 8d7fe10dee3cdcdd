//! Selection: from scores to the kept and pruned samples, globally or with per-class quotas.

use thiserror::Error;

use crate::score::Keep;

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

/// Keeps the best `keep_fraction` of samples: globally (the paper's default), or with
/// `labels` given, per class with the quotas of [`class_quotas`] (summing to the global
/// count).
pub fn select(
    scores: &[f32],
    keep_fraction: f64,
    keep: Keep,
    labels: Option<&[u32]>,
) -> Result<Selection, SelectError> {
    if let Some(index) = scores.iter().position(|s| s.is_nan()) {
        return Err(SelectError::NanScore { index });
    }
    let n = scores.len();
    let mut is_kept = vec![false; n];
    match labels {
        None => {
            for &i in ranking(scores, keep, 0..n)
                .iter()
                .take(kept_count(n, keep_fraction))
            {
                is_kept[i] = true;
            }
        }
        Some(labels) => {
            let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
            let mut members = vec![Vec::new(); classes];
            for (i, &l) in labels.iter().enumerate() {
                members[l as usize].push(i);
            }
            let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
            let quotas = class_quotas(&sizes, keep_fraction);
            for (class, quota) in members.into_iter().zip(quotas) {
                for &i in ranking(scores, keep, class.into_iter()).iter().take(quota) {
                    is_kept[i] = true;
                }
            }
        }
    }
    let (kept, pruned) = (0..n).partition(|&i| is_kept[i]);
    Ok(Selection { kept, pruned })
}
