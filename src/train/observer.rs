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

/// One training batch's recorded per-sample fields, on the CPU.
#[derive(Debug, Clone, Copy)]
pub struct BatchOutputs<'a> {
    /// Dataset indices of the samples, in batch order.
    pub indices: &'a [usize],
    /// True labels, in batch order.
    pub labels: &'a [u32],
    /// The recorded fields of each sample, in batch order (computed from its logits where
    /// they are: on the host by [`crate::dynamics::SampleStats::from_logits`], on a GPU by
    /// [`crate::train::stats::fields`]).
    pub stats: &'a [crate::dynamics::SampleStats],
    /// Each sample's softmax, row-major (`classes` values a sample, in batch order), when an
    /// observer wants them ([`Observer::wants_probabilities`]); empty otherwise.
    pub probabilities: &'a [f32],
}

/// Receives training events. Every method has a no-op default.
pub trait Observer {
    /// Whether this observer wants [`Observer::batch_outputs`]. When none does, nothing is
    /// recorded and only the losses are read from the device.
    fn wants_outputs(&self) -> bool {
        false
    }
    /// Whether this observer also wants each sample's whole softmax in
    /// [`BatchOutputs::probabilities`] (the recorder, for [`crate::dynamics::Field::Drift`]).
    fn wants_probabilities(&self) -> bool {
        false
    }
    /// A run starts (or resumes).
    fn run_start(&mut self, _info: &RunInfo) -> Result<(), TrainError> {
        Ok(())
    }
    /// An epoch (0-based) starts.
    fn epoch_start(&mut self, _epoch: usize) {}
    /// Per-sample outputs of one batch (from the forward pass before its optimizer step),
    /// given when the batch is read: at once on the host backend, in groups of up to
    /// [`crate::train::pending::DEVICE_READ_EVERY`] batches on a GPU, always before
    /// [`Observer::batch_end`] of the same batch and before the epoch ends.
    fn batch_outputs(&mut self, _epoch: usize, _outputs: BatchOutputs<'_>) {}
    /// A batch finished with this mean loss (told when it is read, as above).
    fn batch_end(&mut self, _epoch: usize, _batch: usize, _loss: f32, _lr: f64) {}
    /// An epoch finished, before its checkpoint is written.
    fn epoch_end(&mut self, _epoch: usize, _mean_loss: f32) -> Result<(), TrainError> {
        Ok(())
    }
    /// The model after an epoch (0-based), after [`Observer::epoch_end`] and before the
    /// epoch's checkpoint is written (the per-epoch test evaluation).
    fn epoch_model(&mut self, _epoch: usize, _model: &super::Model) -> Result<(), TrainError> {
        Ok(())
    }
    /// Whether training should end now, before the next epoch (the scoring run's early stop):
    /// asked after [`Observer::run_start`] and after each epoch's checkpoint.
    fn stop_requested(&self) -> bool {
        false
    }
    /// The run finished.
    fn run_end(&mut self) {}
}
