//! Out-of-distribution detection from a classifier's logits.
//!
//! Each input gets a confidence score, higher meaning "in-distribution":
//! - maximum softmax probability, MSP (Hendrycks & Gimpel 2017): `max_c softmax(z)_c`;
//! - energy (Liu et al. 2020): `T log sum_c exp(z_c / T)` with T = 1 (the negative energy).
//!
//! In-distribution inputs are the positives. Metrics, all with ties counted exactly:
//! - AUROC: P(score_in > score_out) + P(tie) / 2 (the Mann-Whitney statistic);
//! - FPR at 95% TPR: the share of OOD inputs scoring at least the highest threshold that still
//!   accepts 95% of in-distribution inputs;
//! - AUPR-in: average precision with in-distribution as positives, one step per distinct score.

/// Which confidence score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OodScore {
    /// Maximum softmax probability.
    Msp,
    /// Negative energy, T = 1.
    Energy,
}

impl OodScore {
    /// Name in result tables.
    pub fn name(self) -> &'static str {
        match self {
            OodScore::Msp => "msp",
            OodScore::Energy => "energy",
        }
    }

    /// The score of each row of `logits` (`classes` per row).
    pub fn scores(self, logits: &[f32], classes: usize) -> Vec<f64> {
        logits
            .chunks_exact(classes)
            .map(|z| {
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let lse = f64::from(max)
                    + z.iter()
                        .map(|&v| f64::from(v - max).exp())
                        .sum::<f64>()
                        .ln();
                match self {
                    OodScore::Msp => (f64::from(max) - lse).exp(),
                    OodScore::Energy => lse,
                }
            })
            .collect()
    }
}

/// Detection metrics of one score on one in/out pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OodMetrics {
    /// Area under the ROC curve.
    pub auroc: f64,
    /// False-positive rate at 95% true-positive rate.
    pub fpr_at_95_tpr: f64,
    /// Area under the precision-recall curve, in-distribution positive (average precision).
    pub aupr_in: f64,
}

/// Computes the metrics; `inside` and `outside` must both be non-empty.
pub fn metrics(inside: &[f64], outside: &[f64]) -> OodMetrics {
    assert!(
        !inside.is_empty() && !outside.is_empty(),
        "OOD metrics need both sets"
    );
    // Every score with its class, highest first; equal scores form one threshold step.
    let mut all: Vec<(f64, bool)> = inside
        .iter()
        .map(|&s| (s, true))
        .chain(outside.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (n_in, n_out) = (inside.len() as f64, outside.len() as f64);
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let (mut auc, mut ap) = (0.0f64, 0.0f64);
    let mut fpr95 = None;
    let mut i = 0;
    while i < all.len() {
        let (mut step_tp, mut step_fp) = (0.0, 0.0);
        let score = all[i].0;
        while i < all.len() && all[i].0 == score {
            if all[i].1 {
                step_tp += 1.0;
            } else {
                step_fp += 1.0;
            }
            i += 1;
        }
        // Positives in this step beat every negative already passed and tie with this step's.
        auc += step_tp * (fp + 0.5 * step_fp);
        tp += step_tp;
        fp += step_fp;
        if step_tp > 0.0 {
            ap += step_tp * (tp / (tp + fp));
        }
        if fpr95.is_none() && tp / n_in >= 0.95 {
            fpr95 = Some(fp / n_out);
        }
    }
    // Sums of fractions can round a hair past 1; the quantities cannot.
    OodMetrics {
        auroc: (1.0 - auc / (n_in * n_out)).clamp(0.0, 1.0),
        fpr_at_95_tpr: fpr95.unwrap_or(1.0),
        aupr_in: (ap / n_in).min(1.0),
    }
}

/// A seeded set of Gaussian-noise images (mean 0.5, std 0.25 in [0, 1] pixel units, clipped),
/// the shape of `like`: a synthetic out-of-distribution set.
pub fn gaussian_noise(like: &crate::data::Images, n: usize, seed: u64) -> crate::data::ImageSet {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let normal = rand_distr::Normal::new(127.5f32, 63.75).expect("valid normal");
    let (channels, height, width) = like.shape();
    let pixels = (0..n * channels * height * width)
        .map(|_| normal.sample(&mut rng).clamp(0.0, 255.0) as u8)
        .collect();
    crate::data::ImageSet {
        pixels,
        labels: vec![0; n],
        height,
        width,
        channels,
        classes: like.classes(),
    }
}
