//! The dynamics recorder: an observer that keeps each batch's per-sample fields and appends
//! one epoch to the store at each epoch end.

use std::path::Path;

use super::TrainError;
use super::drift::DriftState;
use super::observer::{BatchOutputs, Observer, RunInfo};
use crate::dynamics::store::StoreWriter;
use crate::dynamics::{DynamicsError, EpochColumns, Field, FieldSet};

/// Records the dynamics of every sample, every epoch. Memory: one epoch's columns, and with
/// [`Field::Drift`] every sample's previous softmax ([`DriftState`]).
#[derive(Debug)]
pub struct Recorder {
    writer: StoreWriter,
    epoch: EpochColumns,
    samples: usize,
    drift: Option<DriftState>,
}

impl Recorder {
    /// Opens (or resumes) the store at `path` for a training set with these labels, recording
    /// the [`FieldSet::STANDARD`] fields.
    pub fn open(path: &Path, labels: &[u32], classes: usize) -> Result<Self, DynamicsError> {
        Self::open_for(path, labels, classes, FieldSet::STANDARD, 0)
    }

    /// As [`Recorder::open`], recording `fields` (at least the standard ones) for a store
    /// recorded by `producer` (see [`StoreWriter::open_for`]).
    pub fn open_for(
        path: &Path,
        labels: &[u32],
        classes: usize,
        fields: FieldSet,
        producer: u64,
    ) -> Result<Self, DynamicsError> {
        let fields = fields.union(FieldSet::STANDARD);
        let drift = match fields.contains(Field::Drift) {
            true => Some(DriftState::new(path, labels.len(), classes)?),
            false => None,
        };
        Ok(Self {
            writer: StoreWriter::open_for(path, labels, classes, fields, producer)?,
            epoch: EpochColumns::unseen(labels.len()),
            samples: labels.len(),
            drift,
        })
    }

    /// Records without saving the drift state beside the store at each epoch's end: for a
    /// recording that is never resumed (an import in one pass).
    pub fn without_resume_state(mut self) -> Self {
        if let Some(d) = &mut self.drift {
            d.in_memory_only();
        }
        self
    }

    /// Epochs in the store.
    pub fn epochs(&self) -> usize {
        self.writer.epochs()
    }
}

impl Observer for Recorder {
    fn wants_outputs(&self) -> bool {
        true
    }

    fn wants_probabilities(&self) -> bool {
        self.drift.is_some()
    }

    fn run_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        // The checkpoint is written after the store's epoch, so the store can be one epoch
        // ahead of a resumed run, never behind.
        let have = self.writer.epochs();
        if have < info.start_epoch {
            return Err(DynamicsError::Mismatch {
                what: format!(
                    "the dynamics store holds {have} epochs but training resumes after epoch {}; the store was replaced or truncated: delete the results folder's work/ to record from scratch",
                    info.start_epoch
                ),
            }
            .into());
        }
        self.writer.truncate(info.start_epoch)?;
        if let Some(d) = &mut self.drift
            && info.start_epoch > 0
            && info.start_epoch < info.epochs
        {
            d.load(info.start_epoch)?;
        }
        Ok(())
    }

    fn epoch_start(&mut self, _epoch: usize) {
        self.epoch = EpochColumns::unseen(self.samples);
    }

    fn batch_outputs(&mut self, _epoch: usize, out: BatchOutputs<'_>) {
        for (&i, stats) in out.indices.iter().zip(out.stats) {
            self.epoch.set(i, stats);
        }
        if let Some(d) = &mut self.drift {
            let classes = out.probabilities.len() / out.indices.len().max(1);
            for (&i, p) in out
                .indices
                .iter()
                .zip(out.probabilities.chunks_exact(classes.max(1)))
            {
                self.epoch.drift[i] = d.observe(i, p);
            }
        }
    }

    fn epoch_end(&mut self, epoch: usize, _mean_loss: f32) -> Result<(), TrainError> {
        self.writer.append(&self.epoch)?;
        if let Some(d) = &self.drift {
            d.save(epoch + 1)?;
        }
        Ok(())
    }

    fn run_end(&mut self) {
        // The states are only for resuming inside the run; a failure to remove one leaves a
        // file that the next run overwrites.
        if let Some(d) = &self.drift {
            let done = self.writer.epochs();
            let _ = d.remove(done.saturating_sub(1));
            let _ = d.remove(done);
        }
    }
}
