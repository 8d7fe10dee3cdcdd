//! The dynamics recorder: an observer that keeps each batch's per-sample fields and appends
//! one epoch to the store at each epoch end.

use std::path::Path;

use super::TrainError;
use super::observer::{BatchOutputs, Observer, RunInfo};
use crate::dynamics::store::StoreWriter;
use crate::dynamics::{DynamicsError, EpochColumns, FieldSet};

/// Records the dynamics of every sample, every epoch. Memory: one epoch's columns.
#[derive(Debug)]
pub struct Recorder {
    writer: StoreWriter,
    epoch: EpochColumns,
    samples: usize,
}

impl Recorder {
    /// Opens (or resumes) the store at `path` for a training set with these labels.
    pub fn open(path: &Path, labels: &[u32], classes: usize) -> Result<Self, DynamicsError> {
        Self::open_for(path, labels, classes, 0)
    }

    /// As [`Recorder::open`], for a store recorded by `producer` (see
    /// [`StoreWriter::open_for`]).
    pub fn open_for(
        path: &Path,
        labels: &[u32],
        classes: usize,
        producer: u64,
    ) -> Result<Self, DynamicsError> {
        Ok(Self {
            writer: StoreWriter::open_for(path, labels, classes, FieldSet::ALL, producer)?,
            epoch: EpochColumns::unseen(labels.len()),
            samples: labels.len(),
        })
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
        Ok(())
    }

    fn epoch_start(&mut self, _epoch: usize) {
        self.epoch = EpochColumns::unseen(self.samples);
    }

    fn batch_outputs(&mut self, _epoch: usize, out: BatchOutputs<'_>) {
        for (&i, stats) in out.indices.iter().zip(out.stats) {
            self.epoch.set(i, stats);
        }
    }

    fn epoch_end(&mut self, _epoch: usize, _mean_loss: f32) -> Result<(), TrainError> {
        self.writer.append(&self.epoch)?;
        Ok(())
    }
}
