//! TDDS, temporal dual-depth scoring (Zhang, Du, Li, Xie, Zhou 2024, "Spanning Training
//! Progress: Temporal Dual-Depth Scoring (TDDS) for Enhanced Dataset Pruning", CVPR;
//! `importance_evaluation.py` of zhangxin-xd/Dataset-Pruning-TDDS). With `p_t` sample i's
//! softmax after epoch t (0-based), T epochs, a window of K epochs and decay β:
//!
//! ```text
//! e_t = sum_c | p_{t+1,c} (ln(p_{t+1,c} + 1e-8) - ln(p_{t,c} + 1e-8)) |      t = 0 .. T-2
//! R_k = sqrt( sum_{t=k}^{k+K-2} (e_t - mean(e_k .. e_{k+K-2}))^2 )          k = 0 .. T-K
//! TDDS(i) = sum_{k=0}^{T-K} β (1 - β)^(T-K-k) R_k                           keep the highest
//! ```
//!
//! e_t is the recorded [`Field::Drift`] of epoch t + 1 (so the scoring run records it when
//! tdds is listed). R_k is the norm, not the std, of the K - 1 deviations, as the reference
//! code (`LA.norm`); the latest windows weigh most. K is `scoring.window` (TDDS's default is
//! also 10), β is `tdds_decay` (0.9). A window takes the values of the epochs in which the
//! sample was seen (an unseen epoch has no drift; a sample's first seen epoch has drift 0).

use crate::dynamics::{EpochColumns, Field, FieldSet};
use crate::options::{Declared, Opt};
use crate::score::dyn_unc::WINDOW;
use crate::score::{Accumulator, Context, Keep, ScoreError, ScoreParams, Scorer, ScorerInfo};

/// `tdds_decay`: β, the weight of the latest window.
pub static TDDS_DECAY: Opt<f64> = Opt {
    name: "tdds_decay",
    doc: "tdds: decay β of the moving average over windows, in (0, 1]; default 0.9, as TDDS",
    default: || 0.9,
};

/// The TDDS scorer.
#[derive(Debug, Clone, Copy)]
pub struct Tdds;

impl Scorer for Tdds {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "tdds",
            summary: "decayed sum over windows of K epochs of the spread of the per-epoch softmax drift (Zhang et al. 2024)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::Drift]),
            seeded: false,
        }
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[&WINDOW, &TDDS_DECAY];
        LIST
    }

    fn check(&self, params: &ScoreParams, epochs: usize) -> Result<(), ScoreError> {
        let (k, beta) = (params.get(&WINDOW), params.get(&TDDS_DECAY));
        if !(beta > 0.0 && beta <= 1.0) {
            return Err(ScoreError::BadParam {
                option: "tdds_decay",
                what: format!("tdds_decay {beta} is outside (0, 1]; TDDS uses 0.9"),
            });
        }
        if k < 3 {
            return Err(ScoreError::BadParam {
                option: "window",
                what: format!(
                    "tdds window {k} is too short: a window of K epochs holds K - 1 drifts and their spread needs two; use window >= 3 (TDDS uses 10)"
                ),
            });
        }
        if k > epochs {
            return Err(ScoreError::BadParam {
                option: "window",
                what: format!(
                    "tdds window {k} is longer than the {epochs} recorded epochs; lower `window` to at most {epochs} or record more epochs"
                ),
            });
        }
        Ok(())
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let k = ctx.params.get(&WINDOW);
        Ok(Box::new(TddsPass {
            slots: k - 1,
            epochs: ctx.shape.epochs,
            decay: ctx.params.get(&TDDS_DECAY),
            ring: vec![f32::NAN; ctx.shape.samples * (k - 1)],
            total: vec![0.0; ctx.shape.samples],
        }))
    }
}

/// Per sample: the last K - 1 drifts (NaN = none) and the running weighted sum.
struct TddsPass {
    slots: usize,
    epochs: usize,
    decay: f64,
    ring: Vec<f32>,
    total: Vec<f64>,
}

/// The L2 norm of the deviations from their mean of the values in `slots` that are not NaN.
fn deviation_norm(slots: &[f32]) -> f64 {
    let values = || slots.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v));
    let n = values().count();
    if n == 0 {
        return 0.0;
    }
    let mean = values().sum::<f64>() / n as f64;
    values()
        .map(|v| (v - mean) * (v - mean))
        .sum::<f64>()
        .sqrt()
}

impl Accumulator for TddsPass {
    fn observe(&mut self, epoch: usize, cols: &EpochColumns) {
        let m = self.slots;
        if epoch == 0 {
            return; // e_t starts with the drift of epoch 1
        }
        // The window k = epoch - (K - 1) ends with this epoch's drift.
        let weight = (epoch >= m).then(|| {
            let k = epoch - m;
            let exponent = (self.epochs - (m + 1) - k) as i32;
            self.decay * (1.0 - self.decay).powi(exponent)
        });
        for (s, (slots, total)) in self
            .ring
            .chunks_exact_mut(m)
            .zip(&mut self.total)
            .enumerate()
        {
            slots[(epoch - 1) % m] = if cols.seen(s) {
                cols.drift[s]
            } else {
                f32::NAN
            };
            if let Some(w) = weight {
                *total += w * deviation_norm(slots);
            }
        }
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        self.total.into_iter().map(|t| t as f32).collect()
    }
}
