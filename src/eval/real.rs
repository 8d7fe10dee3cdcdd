//! ImageNet-ReaL accuracy (Beyer et al. 2020, "Are we done with ImageNet?").
//!
//! `real.json` is a list of 50,000 label lists, one per ILSVRC-2012 validation image in
//! file-name order. A prediction is correct when it is in the image's list; images whose list is
//! empty have no clear label and are left out.

use std::path::Path;

use thiserror::Error;

/// The reassessed labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealLabels(pub Vec<Vec<u32>>);

/// A ReaL label file that cannot be used.
#[derive(Debug, Error)]
#[error(
    "{path}: {what}; expected real.json from google-research/reassessed-imagenet (a JSON list of label lists)"
)]
pub struct RealError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub what: String,
}

impl RealLabels {
    /// Reads `real.json`.
    pub fn load(path: &Path) -> Result<Self, RealError> {
        let err = |what: String| RealError {
            path: path.display().to_string(),
            what,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text)
            .map(RealLabels)
            .map_err(|e| err(e.to_string()))
    }

    /// ReaL accuracy of `(index into real.json, predicted class)` pairs (a subset of the
    /// validation set, in any order) and the number of images counted (non-empty lists).
    pub fn accuracy_of(&self, predictions: &[(usize, u32)]) -> (f64, usize) {
        let (mut counted, mut correct) = (0usize, 0usize);
        for &(i, p) in predictions {
            if let Some(labels) = self.0.get(i).filter(|l| !l.is_empty()) {
                counted += 1;
                correct += usize::from(labels.contains(&p));
            }
        }
        (correct as f64 / counted.max(1) as f64, counted)
    }

    /// ReaL accuracy of `predictions` (one class per image, in the same order) and the number of
    /// images counted; `None` when the lengths differ.
    pub fn accuracy(&self, predictions: &[u32]) -> Option<(f64, usize)> {
        if predictions.len() != self.0.len() {
            return None;
        }
        let (mut counted, mut correct) = (0usize, 0usize);
        for (labels, p) in self.0.iter().zip(predictions) {
            if !labels.is_empty() {
                counted += 1;
                correct += usize::from(labels.contains(p));
            }
        }
        Some((correct as f64 / counted.max(1) as f64, counted))
    }
}
