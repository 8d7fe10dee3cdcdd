//! Training events, delivered to observers (recorder, progress bar, logs) with no-op defaults.

use super::TrainError;

/// What a training run is, told to observers when it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// A short label, e.g. `scoring run` or `dyn_unc 0.5 seed 1`.
    pub label: String,
    /// Epochs in the run.
    pub epochs: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// First epoch trained (0-based; above 0 when resumed).
    pub start_epoch: usize,
    /// Samples per epoch.
    pub samples: usize,
}

/// One training batch's per-sample outputs, on the CPU.
#[derive(Debug, Clone, Copy)]
pub struct BatchOutputs<'a> {
    /// Dataset indices of the samples, in batch order.
    pub indices: &'a [usize],
    /// True labels, in batch order.
    pub labels: &'a [u32],
    /// Logits, `indices.len() x classes`, row-major.
    pub logits: &'a [f32],
    /// Number of classes.
    pub classes: usize,
}

/// Receives training events. Every method has a no-op default.
pub trait Observer {
    /// Whether this observer wants [`Observer::batch_outputs`]. When none does, logits stay on
    /// the device and no per-batch transfer happens.
    fn wants_outputs(&self) -> bool {
        false
    }
    /// A run starts (or resumes).
    fn run_start(&mut self, _info: &RunInfo) -> Result<(), TrainError> {
        Ok(())
    }
    /// An epoch (0-based) starts.
    fn epoch_start(&mut self, _epoch: usize) {}
    /// Per-sample outputs of one batch, before the optimizer step.
    fn batch_outputs(&mut self, _epoch: usize, _outputs: BatchOutputs<'_>) {}
    /// A batch finished with this mean loss.
    fn batch_end(&mut self, _epoch: usize, _batch: usize, _loss: f32, _lr: f64) {}
    /// An epoch finished, before its checkpoint is written.
    fn epoch_end(&mut self, _epoch: usize, _mean_loss: f32) -> Result<(), TrainError> {
        Ok(())
    }
    /// The run finished.
    fn run_end(&mut self) {}
}
