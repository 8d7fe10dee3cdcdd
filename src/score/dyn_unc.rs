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
//! dropped. Memory is N x J values plus a few numbers per sample; each epoch costs O(N).

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
            state: vec![SampleState::default(); n],
        }))
    }
}

struct DynUncPass {
    mode: WindowMode,
    j: usize,
    epochs: usize,
    /// Sample-major ring of the last J values (NaN = no value).
    ring: Vec<f32>,
    state: Vec<SampleState>,
}

/// One sample's running window and score.
#[derive(Debug, Clone, Copy, Default)]
struct SampleState {
    /// Sum and sum of squares of the values in the ring, and how many there are.
    sum: f64,
    sq: f64,
    n: u32,
    /// Values seen so far (the released-code ring position).
    seen: u32,
    /// Sum of window stds, and the number of windows with a std (the paper's divisor).
    total: f64,
    windows: u32,
}

impl SampleState {
    /// Replaces `*slot` by `value` (NaN = none), keeping the window sums current.
    fn put(&mut self, slot: &mut f32, value: f32) {
        if !slot.is_nan() {
            let old = f64::from(*slot);
            self.sum -= old;
            self.sq -= old * old;
            self.n -= 1;
        }
        if !value.is_nan() {
            let v = f64::from(value);
            self.sum += v;
            self.sq += v * v;
            self.n += 1;
        }
        *slot = value;
    }

    /// Sample standard deviation (ddof = 1) of the window; `None` with fewer than two values.
    fn std(&self) -> Option<f64> {
        (self.n >= 2).then(|| {
            let n = f64::from(self.n);
            ((self.sq - self.sum * self.sum / n) / (n - 1.0))
                .max(0.0)
                .sqrt()
        })
    }
}

const CHUNK: usize = 4096;

impl Accumulator for DynUncPass {
    /// O(1) per sample: the window's sums are updated by the value entering and the one leaving
    /// (in f64; p is in [0, 1], so the cancellation error is around 1e-15, far below any score).
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
                            let v = if was_seen { cols.p_true[s] } else { f32::NAN };
                            st.put(&mut slots[epoch % j], v);
                        }
                        WindowMode::ReleasedCode if was_seen => {
                            st.put(&mut slots[st.seen as usize % j], cols.p_true[s]);
                        }
                        WindowMode::ReleasedCode => {}
                    }
                    st.seen += u32::from(was_seen);
                    if count_window && let Some(sd) = st.std() {
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
                WindowMode::ReleasedCode => (st.total / released_windows) as f32,
            })
            .collect()
    }
}
