//! The sliding windows of J epochs over a sample's true-class probability that Dyn-Unc and
//! DUAL average a statistic of (the window's std; its std times one minus its mean).
//!
//! Two conventions ([`WindowMode`]): `paper`, the K - J + 1 windows over epochs, a window
//! counted when it holds at least two seen values, the score the mean over counted windows (0
//! with none); `released_code`, the authors' `get_coreset.py`: a zero-filled window of the last
//! J *seen* values, taken after epochs J-1 .. K-2, the sum divided by K - J. Each window's
//! mean and std (ddof 1) are computed in two passes over its values in f64, so near-constant
//! windows keep their precision. Memory: N x J values and a few numbers per sample; each epoch
//! costs O(N J), in parallel over chunks of samples.

use rayon::prelude::*;

use super::dyn_unc::WindowMode;
use super::{Accumulator, ScoreError};
use crate::dynamics::EpochColumns;

/// A window's statistic from its mean and sample standard deviation.
pub(crate) type WindowStat = fn(mean: f64, std: f64) -> f64;

/// The pass: a ring of the last J values per sample and each sample's running sum.
pub(crate) struct WindowPass {
    mode: WindowMode,
    j: usize,
    epochs: usize,
    stat: WindowStat,
    /// Every window's statistic is multiplied by this (10 in the released code).
    scale: f64,
    /// Sample-major ring of the last J values (NaN = no value; `released_code` starts at 0).
    ring: Vec<f32>,
    state: Vec<SampleState>,
}

/// One sample's window position and running score.
#[derive(Debug, Clone, Copy, Default)]
struct SampleState {
    /// Values seen so far (the released-code ring position).
    seen: u32,
    /// Sum of window statistics, and the number of windows counted (the paper's divisor).
    total: f64,
    windows: u32,
}

/// Mean and sample standard deviation (ddof = 1) of the values in `slots` that are not NaN,
/// in two passes in f64; `None` with fewer than two values.
pub(crate) fn mean_std(slots: &[f32]) -> Option<(f64, f64)> {
    let values = || slots.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v));
    let n = values().count();
    if n < 2 {
        return None;
    }
    let mean = values().sum::<f64>() / n as f64;
    let squares: f64 = values().map(|v| (v - mean) * (v - mean)).sum();
    Some((mean, (squares / (n - 1) as f64).sqrt()))
}

/// Checks a window of `j` epochs against `k` recorded epochs under `mode`, for `method`.
pub(crate) fn check_window(
    method: &str,
    j: usize,
    k: usize,
    mode: WindowMode,
) -> Result<(), ScoreError> {
    if j < 2 {
        return Err(ScoreError::BadParam {
            option: "window",
            what: format!(
                "{method} window {j} is too short: a standard deviation needs at least 2 epochs; use window >= 2 (the paper uses 10)"
            ),
        });
    }
    let (name, min_epochs) = match mode {
        WindowMode::Paper => ("paper", j),
        WindowMode::ReleasedCode => ("released_code", j + 1),
    };
    if k < min_epochs {
        return Err(ScoreError::BadParam {
            option: "window",
            what: format!(
                "{method} window {j} needs at least {min_epochs} recorded epochs with windows: {name}, but the dynamics hold {k}; lower `window` to at most {} or record more epochs",
                k + j - min_epochs
            ),
        });
    }
    Ok(())
}

const CHUNK: usize = 4096;

impl WindowPass {
    /// A pass over `epochs` epochs of `samples` samples with windows of `j` epochs.
    pub(crate) fn new(
        mode: WindowMode,
        j: usize,
        epochs: usize,
        samples: usize,
        stat: WindowStat,
        scale: f64,
    ) -> WindowPass {
        let empty = match mode {
            WindowMode::Paper => f32::NAN,
            WindowMode::ReleasedCode => 0.0,
        };
        WindowPass {
            mode,
            j,
            epochs,
            stat,
            scale,
            ring: vec![empty; samples * j],
            state: vec![SampleState::default(); samples],
        }
    }
}

impl Accumulator for WindowPass {
    fn observe(&mut self, epoch: usize, cols: &EpochColumns) {
        let (j, mode, stat) = (self.j, self.mode, self.stat);
        let count_window = match mode {
            WindowMode::Paper => epoch + 1 >= j,
            WindowMode::ReleasedCode => epoch + 1 >= j && epoch + 1 < self.epochs,
        };
        self.ring
            .par_chunks_mut(CHUNK * j)
            .zip(self.state.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (ring, state))| {
                let base = c * CHUNK;
                for (i, st) in state.iter_mut().enumerate() {
                    let s = base + i;
                    let slots = &mut ring[i * j..(i + 1) * j];
                    let was_seen = cols.seen(s);
                    match mode {
                        WindowMode::Paper => {
                            slots[epoch % j] = if was_seen { cols.p_true[s] } else { f32::NAN };
                        }
                        WindowMode::ReleasedCode if was_seen => {
                            slots[st.seen as usize % j] = cols.p_true[s];
                        }
                        WindowMode::ReleasedCode => {}
                    }
                    st.seen += u32::from(was_seen);
                    if count_window && let Some((mean, std)) = mean_std(slots) {
                        st.total += stat(mean, std);
                        st.windows += 1;
                    }
                }
            });
    }

    fn finish(self: Box<Self>) -> Vec<f32> {
        let released_windows = self.epochs.saturating_sub(self.j) as f64;
        self.state
            .iter()
            .map(|st| match self.mode {
                WindowMode::Paper if st.windows > 0 => {
                    (self.scale * st.total / f64::from(st.windows)) as f32
                }
                WindowMode::Paper => 0.0,
                WindowMode::ReleasedCode => (self.scale * st.total / released_windows) as f32,
            })
            .collect()
    }
}
