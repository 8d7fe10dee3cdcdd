//! Training dynamics: what is recorded per sample and epoch, and the sources scorers read it from.
//!
//! One epoch of dynamics is a set of columns, one value per training sample
//! ([`EpochColumns`]). Sources ([`EpochSource`]) hand epochs out one at a time, so scoring a
//! store never holds more than the epochs a scorer keeps itself.

mod columns;
pub mod npy;
pub mod store;

pub use columns::{EpochColumns, Field, FieldSet, SampleStats, drift, flags, softmax_into};

use thiserror::Error;

/// The size of a set of recorded dynamics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of training samples.
    pub samples: usize,
    /// Number of classes (0 when unknown, e.g. an imported `.npy`).
    pub classes: usize,
    /// Number of epochs available.
    pub epochs: usize,
}

/// Anything that yields recorded dynamics epoch by epoch.
pub trait EpochSource {
    /// Samples, classes and epochs available.
    fn shape(&self) -> Shape;
    /// Which fields this source can provide.
    fn fields(&self) -> FieldSet;
    /// True labels, when known.
    fn labels(&self) -> Option<&[u32]>;
    /// Reads epoch `epoch` (0-based) into `out`, filling at least the fields in `want`.
    fn read_epoch(
        &mut self,
        epoch: usize,
        want: FieldSet,
        out: &mut EpochColumns,
    ) -> Result<(), DynamicsError>;
}

/// Dynamics held in memory: the form tests and small imports use.
#[derive(Debug, Clone)]
pub struct InMemory {
    /// Classes (0 when unknown).
    pub classes: usize,
    /// Labels, when known.
    pub labels: Option<Vec<u32>>,
    /// One entry per epoch.
    pub epochs: Vec<EpochColumns>,
}

impl InMemory {
    /// Dynamics from true-class probabilities alone, `p[epoch][sample]`, every sample seen.
    pub fn from_probabilities(p: Vec<Vec<f32>>) -> Self {
        let epochs = p.into_iter().map(EpochColumns::from_p_true).collect();
        Self {
            classes: 0,
            labels: None,
            epochs,
        }
    }
}

impl EpochSource for InMemory {
    fn shape(&self) -> Shape {
        Shape {
            samples: self.epochs.first().map_or(0, EpochColumns::len),
            classes: self.classes,
            epochs: self.epochs.len(),
        }
    }

    fn fields(&self) -> FieldSet {
        self.epochs
            .iter()
            .map(EpochColumns::present)
            .reduce(FieldSet::intersect)
            .unwrap_or(FieldSet::ALL)
    }

    fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    fn read_epoch(
        &mut self,
        epoch: usize,
        _want: FieldSet,
        out: &mut EpochColumns,
    ) -> Result<(), DynamicsError> {
        let cols = self
            .epochs
            .get(epoch)
            .ok_or(DynamicsError::EpochOutOfRange {
                epoch,
                epochs: self.epochs.len(),
            })?;
        out.clone_from(cols);
        Ok(())
    }
}

/// Problems reading or writing dynamics.
#[derive(Debug, Error)]
pub enum DynamicsError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a dynamics store, or not one this version reads.
    #[error(
        "{path}: {what}; expected a dynunc dynamics store (.dyn) written by `dynunc run`, or import a .npy with `--dynamics FILE.npy`"
    )]
    Foreign {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// The store is damaged.
    #[error("{path}: {what}; the file is damaged: delete it and record the dynamics again")]
    Corrupt {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// A `.npy` that is not an N x T float32 matrix.
    #[error(
        "{path}: {what}; expected a 2-D float32 .npy of shape (samples, epochs), e.g. np.save(path, p.astype(np.float32))"
    )]
    BadNpy {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// A scorer asked for a field the source does not have.
    #[error(
        "the dynamics do not contain field `{field}` (they have: {have}); record them with `dynunc run`, which stores every field"
    )]
    MissingField {
        /// The missing field.
        field: &'static str,
        /// The fields present.
        have: String,
    },
    /// A value that cannot be a probability, loss or margin.
    #[error(
        "non-finite value {value} in field `{field}` at epoch {epoch}, sample {sample}: the run that recorded it diverged; re-record with a lower learning rate"
    )]
    NonFinite {
        /// Field name.
        field: &'static str,
        /// 1-based epoch.
        epoch: usize,
        /// Sample index.
        sample: usize,
        /// The value.
        value: f32,
    },
    /// An epoch past the end.
    #[error("epoch {epoch} requested but only {epochs} are recorded")]
    EpochOutOfRange {
        /// 0-based epoch asked for.
        epoch: usize,
        /// Epochs present.
        epochs: usize,
    },
    /// Appending an epoch whose length or labels do not match the store.
    #[error("{what}")]
    Mismatch {
        /// What does not match.
        what: String,
    },
}

impl DynamicsError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
