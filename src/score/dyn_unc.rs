//! Dyn-Unc, the dynamic uncertainty score (He, Yang, Huang, Zhao 2023, "Large-scale Dataset
//! Pruning with Dynamic Uncertainty", eq. 2-3).
//!
//! With `p[k][i]` the softmax probability of sample i's true class after epoch k, K epochs and a
//! window of J epochs:
//!
//! ```text
//! U_k(i) = std( p[k][i], p[k+1][i], ..., p[k+J-1][i] )      sample std, ddof = 1
//! U(i)   = 1/(K-J+1) * sum_{k=0}^{K-J} U_k(i)               keep the highest
//! ```
//!
//! Two conventions, chosen with `windows:`
//! - `paper` (default): the K - J + 1 windows above. A window takes the std of the values seen
//!   in it (at least 2, else the window is not counted); the score averages the counted
//!   windows, and is 0 for a sample with none.
//! - `released_code`: as the authors' released code does it. Each sample keeps a window of its
//!   last J *seen* values, so an epoch where it was not seen leaves the window unshifted. The
//!   window's std (of the values it holds, when at least 2) is added after every epoch
//!   k = J..K-1 (1-based: the window ending at the last epoch is never added), and the sum is
//!   divided by K - J. Needs K > J.
//!
//! When every sample is seen every epoch, `released_code` equals `paper` with the last window
//! dropped. Memory is N x J values; each epoch costs O(N x J).

use rayon::prelude::*;

use super::{Accumulator, Context, Keep, ScoreError, Scorer, ScorerInfo};
use crate::dynamics::{EpochColumns, Field, FieldSet};

/// Which windows Dyn-Unc averages; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// K - J + 1 windows over epochs, as in the paper.
    #[default]
    Paper,
    /// K - J windows over each sample's seen values, as in the authors' released code.
    ReleasedCode,
}

impl std::str::FromStr for WindowMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Self::Paper),
            "released_code" => Ok(Self::ReleasedCode),
            other => Err(format!(
                "unknown window convention `{other}`; expected `paper` or `released_code`"
            )),
        }
    }
}

/// The Dyn-Unc scorer.
#[derive(Debug, Clone, Copy)]
pub struct DynUnc;

impl Scorer for DynUnc {
    fn info(&self) -> ScorerInfo {
        ScorerInfo {
            name: "dyn_unc",
            summary: "mean over sliding windows of J epochs of the std of the true-class probability (He et al. 2023)",
            keep: Keep::Highest,
            needs: FieldSet::of(&[Field::PTrue]),
        }
    }

    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError> {
        let (j, k) = (ctx.params.window, ctx.shape.epochs);
        if j < 2 {
            return Err(ScoreError::BadParam {
                what: format!(
                    "dyn_unc window {j} is too short: a standard deviation needs at least 2 epochs; use window >= 2 (the paper uses 10)"
                ),
            });
        }
        let mode = ctx.params.windows;
        let min_epochs = match mode {
            WindowMode::Paper => j,
            WindowMode::ReleasedCode => j + 1,
        };
        if k < min_epochs {
            return Err(ScoreError::BadParam {
                what: format!(
                    "dyn_unc window {j} needs at least {min_epochs} recorded epochs with windows: {}, but the dynamics hold {k}; lower `window` to at most {} or record more epochs",
                    match mode {
                        WindowMode::Paper => "paper",
                        WindowMode::ReleasedCode => "released_code",
                    },
                    match mode {
                        WindowMode::Paper => k,
                        WindowMode::ReleasedCode => k.saturating_sub(1),
                    }
                ),
            });
        }
        let n = ctx.shape.samples;
        Ok(Box::new(DynUncPass {
            mode,
            j,
            epochs: k,
            ring: vec![f32::NAN; n * j],
            seen: vec![0; n],
            sum: vec![0.0; n],
            windows: vec![0; n],
        }))
    }
}

struct DynUncPass {
    mode: WindowMode,
    j: usize,
    epochs: usize,
    /// Sample-major ring of the last J values (NaN = no value).
    ring: Vec<f32>,
    /// Per sample: number of values seen so far.
    seen: Vec<u32>,
    /// Per sample: sum of window stds.
    sum: Vec<f64>,
    /// Per sample: number of windows with a std (the paper's divisor).
    windows: Vec<u32>,
}

/// Sample standard deviation (ddof = 1) of the non-NaN values; `None` with fewer than two.
fn window_std(values: &[f32]) -> Option<f64> {
    let (mut n, mut total) = (0u32, 0.0f64);
    for &v in values.iter().filter(|v| !v.is_nan()) {
        n += 1;
        total += f64::from(v);
    }
    if n < 2 {
        return None;
    }
    let mean = total / f64::from(n);
    let ss: f64 = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum();
    Some((ss / f64::from(n - 1)).sqrt())
}

const CHUNK: usize = 4096;

impl Accumulator for DynUncPass {
    fn observe(&mut self, epoch: usize, cols: &EpochColumns) {
        let (j, mode) = (self.j, self.mode);
        let count_window = match mode {
            WindowMode::Paper => epoch + 1 >= j,
            WindowMode::ReleasedCode => epoch + 1 >= j && epoch + 1 < self.epochs,
        };
        self.ring
            .par_chunks_mut(CHUNK * j)
            .zip(self.seen.par_chunks_mut(CHUNK))
            .zip(self.sum.par_chunks_mut(CHUNK))
            .zip(self.windows.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (((ring, seen), sum), windows))| {
                let base = c * CHUNK;
                for (i, seen) in seen.iter_mut().enumerate() {
                    let s = base + i;
                    let slots = &mut ring[i * j..(i + 1) * j];
                    let was_seen = cols.seen(s);
                    match mode {
                        WindowMode::Paper => {
                            slots[epoch % j] = if was_seen { cols.p_true[s] } else { f32::NAN };
                        }
                        WindowMode::ReleasedCode => {
                            if was_seen {
                                slots[*seen as usize % j] = cols.p_true[s];
                            }
                        }
                    }
                    if was_seen {
                        *seen += 1;
                    }
                    if count_window && let Some(sd) = window_std(slots) {
                        sum[i] += sd;
                        windows[i] += 1;
                    }
                }
            });
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        let released_windows = self.epochs.saturating_sub(self.j) as f64;
        self.sum
            .iter()
            .zip(&self.windows)
            .map(|(&s, &w)| match self.mode {
                WindowMode::Paper if w > 0 => (s / f64::from(w)) as f32,
                WindowMode::Paper => 0.0,
                WindowMode::ReleasedCode => (s / released_windows) as f32,
            })
            .collect()
    }
}
