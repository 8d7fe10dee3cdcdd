//! The experiment file's `evaluation:` section: out-of-distribution sets, Gaussian noise,
//! ImageNet-ReaL labels, the per-epoch test evaluation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Format;
use crate::options::Problems;

/// `evaluation:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvaluation {
    /// Out-of-distribution sets, each a folder of IDX test files (`t10k-images-idx3-ubyte[.gz]`)
    /// with images the size of the training images. Default: none.
    pub ood: Vec<RawOodSet>,
    /// Also detect this many seeded Gaussian-noise images as OOD. Default 0 (none).
    pub gaussian_noise: usize,
    /// ImageNet-ReaL labels (`real.json`, Beyer et al. 2020) for the ImageNet validation set
    /// as test split: adds ReaL accuracy to every trained model. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_labels: Option<String>,
    /// Evaluate every retrained model on the test set after each epoch and report the best
    /// epoch's accuracy beside the last one's (`best_acc`, `best_epoch` in `main.csv`), as
    /// the official ImageNet code logs its `max accuracy`. Default false (one evaluation).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub every_epoch: bool,
}

/// One entry of `evaluation.ood`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOodSet {
    /// Name in the results (e.g. `mnist`).
    pub name: String,
    /// Folder of the IDX files.
    pub path: String,
}

/// `evaluation:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Out-of-distribution sets: (name, folder).
    pub ood_sets: Vec<(String, PathBuf)>,
    /// Number of Gaussian-noise OOD images (0 = none).
    pub gaussian_noise: usize,
    /// ImageNet-ReaL labels (`real.json`).
    pub real_labels: Option<PathBuf>,
    /// Test accuracy after every epoch of every retraining.
    pub every_epoch: bool,
}

/// A `real_labels` key at `at`: a file, for ImageNet-like data (`format`, when known).
pub fn check_real_labels(real: &str, format: Option<&dyn Format>, at: &str, p: &mut Problems) {
    if !Path::new(real).is_file() {
        p.missing(
            at,
            format!("{real} is not a file; give the path of ImageNet-ReaL's real.json (github.com/google-research/reassessed-imagenet), or remove the key"),
        );
    }
    if let Some(f) = format.filter(|f| !f.has_real_labels()) {
        p.fail(
            at,
            format!(
                "ReaL labels index the 50,000 ImageNet validation images, but the test split is {}; remove the key (the results README reports ReaL as n/a)",
                f.name()
            ),
        );
    }
}

/// Checks `evaluation:` for data in `format` (`None` when `data.dataset` is unknown).
pub fn validate(ev: &RawEvaluation, format: Option<&dyn Format>, p: &mut Problems) -> Evaluation {
    if let Some(real) = &ev.real_labels {
        check_real_labels(real, format, "evaluation.real_labels", p);
    }
    for (i, set) in ev.ood.iter().enumerate() {
        if set.name.is_empty()
            || set.name == "gaussian_noise"
            || ev.ood[..i].iter().any(|s| s.name == set.name)
        {
            p.fail(
                &format!("evaluation.ood[{i}].name"),
                format!(
                    "`{}` must be non-empty, unique and not `gaussian_noise`",
                    set.name
                ),
            );
        }
        if !Path::new(&set.path).is_dir() {
            p.missing(
                &format!("evaluation.ood[{i}].path"),
                format!(
                    "{} is not a folder; {}",
                    set.path,
                    format.map_or("give a folder", |f| f.ood_hint())
                ),
            );
        }
    }
    Evaluation {
        ood_sets: ev
            .ood
            .iter()
            .map(|s| (s.name.clone(), PathBuf::from(&s.path)))
            .collect(),
        gaussian_noise: ev.gaussian_noise,
        real_labels: ev.real_labels.as_ref().map(PathBuf::from),
        every_epoch: ev.every_epoch,
    }
}
