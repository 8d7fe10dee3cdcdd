//! Training with Burn: the model zoo, the optimizer and schedule, the training loop and the
//! observers that watch it (dynamics recorder, progress bars).

pub mod backend;
pub mod checkpoint;
pub mod drift;
pub mod fit;
pub mod memory;
pub mod model;
pub mod observer;
pub mod ops;
pub mod optim;
pub mod parallel;
pub mod pending;
pub mod progress;
pub mod recorder;
pub mod schedule;
pub mod section;
pub mod seed;
pub mod stats;
pub mod upload;

use thiserror::Error;

pub use crate::data::augment::Augment;
pub use backend::BackendChoice;
pub use checkpoint::Checkpoint;
pub use fit::{evaluate, fit};
pub use model::{Arch, Model, ModelSpec};
pub use observer::{Observer, RunInfo};
pub use schedule::Schedule;

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerSpec {
    /// Adam with L2 weight decay.
    Adam {
        /// L2 penalty.
        weight_decay: f64,
    },
    /// AdamW (decoupled weight decay).
    AdamW {
        /// Decoupled decay.
        weight_decay: f64,
    },
    /// SGD with momentum.
    Sgd {
        /// Momentum.
        momentum: f64,
        /// L2 penalty.
        weight_decay: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

crate::choices! {
    /// Which forward pass the dynamics are recorded from.
    pub enum View {
        /// The training forward pass (augmented input, training mode), at no extra cost.
        Train = "train",
        /// An extra forward pass on the un-augmented batch before the optimizer step.
        Clean = "clean",
    }
}

/// How one model is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Optimizer.
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Linear warm-up epochs.
    pub warmup_epochs: usize,
    /// Label smoothing.
    pub label_smoothing: f32,
    /// Augmentation.
    pub augment: Augment,
    /// Stop after this many optimizer steps (the `equal_iterations` budget).
    pub max_steps: Option<usize>,
    /// The published recipes' fine print (epsilon, warm-up start, clipping, decay exclusions).
    pub details: optim::RecipeDetails,
}

/// Problems while training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    #[error(
        "the loss is {loss} at epoch {epoch}, batch {batch} (learning rate {lr:.3e}): training diverged (a loss that is not finite or above 100 x ln(classes)); lower train.lr, add warm-up (train.warmup_epochs) or check the data"
    )]
    NonFiniteLoss {
        /// Loss value.
        loss: f32,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch.
        batch: usize,
        /// Learning rate at that step.
        lr: f64,
    },
    /// Saving or loading a checkpoint failed.
    #[error("checkpoint {path}: {what}; delete the folder to start that training from scratch")]
    Checkpoint {
        /// Folder.
        path: String,
        /// What failed.
        what: String,
    },
    /// The recorder failed.
    #[error(transparent)]
    Dynamics(#[from] crate::dynamics::DynamicsError),
    /// Reading a batch of images failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The backend cannot be used.
    #[error("{0}")]
    Backend(String),
    /// The per-epoch test accuracies of a training (`evaluation.every_epoch`) could not be
    /// kept.
    #[error(
        "{path}: {what}; delete it and the checkpoint folder beside it to start that training from scratch"
    )]
    History {
        /// File.
        path: String,
        /// What failed.
        what: String,
    },
    /// An observer that may end the run early (`scoring.stop`) failed.
    #[error("scoring.stop: {0}")]
    Stop(String),
}
