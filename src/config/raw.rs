//! The experiment file as written: serde structs with documented defaults, unknown keys rejected.
//!
//! Every field's default is stated on it; `dynunc` writes the fully resolved file beside the
//! results (`experiment.resolved.yaml`), so a run can always be repeated exactly.

use serde::{Deserialize, Serialize};

pub use super::retrain::RawRetrain;
pub use crate::data::section::RawData;
pub use crate::eval::section::{RawEvaluation, RawOodSet};
pub use crate::score::section::RawScoring;
pub use crate::train::model::section::RawModel;
pub use crate::train::section::{RawDynamics, RawTrain};

/// The whole experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawExperiment {
    /// Name of the experiment; results go to `<output.dir>/<name>/`. Default: the file's stem.
    pub name: Option<String>,
    /// Seed of the scoring run (data order, initialisation, augmentation). Default 0.
    pub seed: u64,
    /// `auto` (default: wgpu when built with it and a real GPU is present, else flex), `flex`
    /// or `wgpu`.
    pub backend: String,
    /// Devices training each model, data-parallel: every batch is split across them and
    /// their gradients summed (wgpu: the first N discrete GPUs; flex: N workers sharing the
    /// CPU, no faster: for testing). Default 1.
    #[serde(skip_serializing_if = "is_one")]
    pub devices: usize,
    /// Training data.
    pub data: RawData,
    /// The network (default `arch: cnn`). Give `models:` instead to compare several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<RawModel>,
    /// Several networks: each gets its own scoring run, and the subsets each one selects are
    /// retrained on every one of them (the cross-architecture table). Names must differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<RawModel>>,
    /// Training of the scoring run (and, unless overridden, of every retrain).
    pub train: RawTrain,
    /// What is recorded while training.
    pub dynamics: RawDynamics,
    /// Scoring methods and their options.
    pub scoring: RawScoring,
    /// Retraining on the pruned subsets.
    pub retrain: RawRetrain,
    /// Extra evaluation of every trained model.
    pub evaluation: RawEvaluation,
    /// Fine-tuning of every retrained model on a second dataset. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune: Option<RawFinetune>,
    /// Where results go.
    pub output: RawOutput,
}

/// `finetune:` after each retrain, the network gets a classifier for the second dataset's
/// classes and trains on it (the paper's ImageNet-21K pre-training, then ImageNet-1K
/// fine-tuning); its test accuracy is reported beside the retrain's own. The images must have
/// the shape of the experiment's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFinetune {
    /// The new classifier: `fresh` (default: newly initialised) or `mapped` (each class's row
    /// taken from the pre-trained classifier's row of the class of the same folder name, as
    /// the authors' `utils.py` maps ImageNet-21K's head to ImageNet-1K's).
    pub head: String,
    /// ImageNet-ReaL labels of the second dataset's validation images (`real.json`): the
    /// fine-tuned model's ReaL accuracy beside its top-1, as the authors' 21K -> 1K config
    /// reports it. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_labels: Option<String>,
    /// The second dataset: the keys and defaults of `data:`.
    pub data: RawData,
    /// Its training: the keys and defaults of `train:`.
    pub train: RawTrain,
}

impl Default for RawFinetune {
    fn default() -> Self {
        Self {
            head: "fresh".into(),
            real_labels: None,
            data: RawData::default(),
            train: RawTrain::default(),
        }
    }
}

impl Default for RawExperiment {
    fn default() -> Self {
        Self {
            name: None,
            seed: 0,
            backend: "auto".into(),
            devices: 1,
            data: RawData::default(),
            model: None,
            models: None,
            train: RawTrain::default(),
            dynamics: RawDynamics::default(),
            scoring: RawScoring::default(),
            retrain: RawRetrain::default(),
            evaluation: RawEvaluation::default(),
            finetune: None,
            output: RawOutput::default(),
        }
    }
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// `output:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutput {
    /// Results root. Default `results`.
    pub dir: String,
}

impl Default for RawOutput {
    fn default() -> Self {
        Self {
            dir: "results".into(),
        }
    }
}
