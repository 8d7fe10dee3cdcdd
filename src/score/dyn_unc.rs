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
//! - `released_code`: exactly the authors' `ImageNet/get_coreset.py` (BAAI-DCAI/Dataset-Pruning).
//!   Each sample has a window of J values, zero-filled at the start; after every epoch in which
//!   the sample was seen its value shifts in (the oldest drops out), an unseen epoch leaves the
//!   window as it is. After epochs k = J-1 .. K-2 (0-based: the window ending at the last epoch
//!   is never added) the std (ddof 1) of all J values, zeros included, times 10, is added; the
//!   score is the sum divided by K - J. Needs K > J. (Their probability files mark "not seen" by
//!   a probability of exactly 0; dynunc uses the recorded seen flag.)
//!
//! When every sample is seen every epoch, `released_code` is 10 times `paper` with the last
//! window dropped. Every window's std is computed in two passes over its values in f64 (mean,
//! then squared deviations), so near-constant windows (p = 1 - 1e-6, one-ulp steps) keep their
//! precision; memory is N x J values plus a few numbers per sample; each epoch costs O(N J).

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
            ring: vec![
                match mode {
                    WindowMode::Paper => f32::NAN,
                    WindowMode::ReleasedCode => 0.0,
                };
                n * j
            ],
            state: vec![SampleState::default(); n],
        }))
    }
}

struct DynUncPass {
    mode: WindowMode,
    j: usize,
    epochs: usize,
    /// Sample-major ring of the last J values (NaN = no value; `released_code` starts at 0).
    ring: Vec<f32>,
    state: Vec<SampleState>,
}

/// One sample's window position and running score.
#[derive(Debug, Clone, Copy, Default)]
struct SampleState {
    /// Values seen so far (the released-code ring position).
    seen: u32,
    /// Sum of window stds, and the number of windows with a std (the paper's divisor).
    total: f64,
    windows: u32,
}

/// Sample standard deviation (ddof = 1) of the values in `slots` that are not NaN, in two
/// passes in f64; `None` with fewer than two values.
fn window_std(slots: &[f32]) -> Option<f64> {
    let values = || slots.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v));
    let n = values().count();
    if n < 2 {
        return None;
    }
    let mean = values().sum::<f64>() / n as f64;
    let squares: f64 = values().map(|v| (v - mean) * (v - mean)).sum();
    Some((squares / (n - 1) as f64).sqrt())
}

const CHUNK: usize = 4096;

impl Accumulator for DynUncPass {
    /// O(J) per sample: the new value enters the ring and a counted window's std is taken
    /// over the ring in two passes.
    fn observe(&mut self, epoch: usize, cols: &EpochColumns) {
        let (j, mode) = (self.j, self.mode);
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
                    if count_window && let Some(sd) = window_std(slots) {
                        st.total += sd;
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
                WindowMode::Paper if st.windows > 0 => (st.total / f64::from(st.windows)) as f32,
                WindowMode::Paper => 0.0,
                WindowMode::ReleasedCode => (10.0 * st.total / released_windows) as f32,
            })
            .collect()
    }
}
