//! Statistics over seeds: confidence intervals, paired tests, the lossless pruning ratio.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{MainRow, mean_std};

/// Mean, sample std and 95% t-interval of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// Half-width of the 95% Student-t confidence interval of the mean (`None` for one value).
    pub ci95: Option<f64>,
}

/// Summarises `values` (non-empty).
pub fn summarize(values: &[f64]) -> Summary {
    let (mean, std) = mean_std(values);
    let n = values.len();
    let ci95 = (n > 1).then(|| {
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .expect("df > 0")
            .inverse_cdf(0.975);
        t * std / (n as f64).sqrt()
    });
    Summary { n, mean, std, ci95 }
}

/// Two-sided p-value of a paired t-test of `a` against `b` (same length, paired by position);
/// `None` with fewer than two pairs. Identical differences give p = 0 (or 1 when all are zero).
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<f64> {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.len() < 2 {
        return None;
    }
    let (mean, std) = mean_std(&d);
    if std == 0.0 {
        return Some(if mean == 0.0 { 1.0 } else { 0.0 });
    }
    let t = mean / (std / (d.len() as f64).sqrt());
    let dist = StudentsT::new(0.0, 1.0, (d.len() - 1) as f64).expect("df > 0");
    Some(2.0 * (1.0 - dist.cdf(t.abs())))
}

/// Test accuracies of `method` at `ratio`, keyed by seed, in seed order.
pub fn accuracies(rows: &[MainRow], method: &str, ratio: f64) -> Vec<(u64, f64)> {
    let mut v: Vec<(u64, f64)> = rows
        .iter()
        .filter(|r| r.method == method && r.prune_ratio == ratio)
        .map(|r| (r.seed, r.test_acc))
        .collect();
    v.sort_by_key(|&(s, _)| s);
    v
}

/// The largest prune ratio at which `method`'s mean accuracy is at least the full-data mean
/// minus one full-data std (the paper's "lossless" criterion, over seeds); `None` if none is.
pub fn lossless_ratio(rows: &[MainRow], method: &str) -> Option<f64> {
    let full: Vec<f64> = accuracies(rows, "full", 0.0)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    if full.is_empty() {
        return None;
    }
    let (m, s) = mean_std(&full);
    super::prune_ratios(rows, Some(method))
        .into_iter()
        .rev()
        .find(|&p| {
            let acc: Vec<f64> = accuracies(rows, method, p)
                .into_iter()
                .map(|(_, a)| a)
                .collect();
            mean_std(&acc).0 >= m - s
        })
}
