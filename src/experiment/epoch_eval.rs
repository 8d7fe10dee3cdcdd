//! `evaluation.every_epoch`: a retraining's test accuracy after every epoch, kept in a file
//! beside its checkpoint (so a resumed training knows the epochs before the resume), and the
//! best of them, as the official ImageNet code logs it (`max accuracy` over epochs).

use std::path::{Path, PathBuf};

use burn::module::Module as _;
use burn::prelude::Device;

use crate::data::Images;
use crate::data::augment::Normalize;
use crate::train::{Model, Observer, RunInfo, TrainError, evaluate};

/// Evaluates the model on the test set after each epoch (an observer of the retraining).
pub(crate) struct EpochEval<'a> {
    test: &'a Images,
    /// [`crate::data::Splits::test_columns`].
    columns: &'a [u32],
    norm: Normalize,
    device: &'a Device,
    /// `epoch,test_acc` per line, epochs from 1.
    path: PathBuf,
    /// Accuracy after epoch `i + 1`.
    accuracies: Vec<f64>,
}

impl<'a> EpochEval<'a> {
    /// Keeps its history at `path`.
    pub(crate) fn new(
        test: &'a Images,
        columns: &'a [u32],
        norm: Normalize,
        device: &'a Device,
        path: PathBuf,
    ) -> Self {
        Self {
            test,
            columns,
            norm,
            device,
            path,
            accuracies: Vec::new(),
        }
    }

    /// The best accuracy and its epoch (from 1; the first of equals).
    pub(crate) fn best(&self) -> Option<(f64, usize)> {
        let mut best: Option<(f64, usize)> = None;
        for (i, &acc) in self.accuracies.iter().enumerate() {
            if best.is_none_or(|(b, _)| acc > b) {
                best = Some((acc, i + 1));
            }
        }
        best
    }

    fn err(&self, what: impl ToString) -> TrainError {
        TrainError::History {
            path: self.path.display().to_string(),
            what: what.to_string(),
        }
    }
}

/// Reads a history file: `epoch,test_acc` then one line per epoch, in order from 1.
fn read(path: &Path) -> Result<Option<Vec<f64>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut accuracies = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let parsed = line
            .split_once(',')
            .and_then(|(e, a)| Some((e.parse::<usize>().ok()?, a.parse::<f64>().ok()?)));
        match parsed {
            Some((epoch, acc)) if epoch == i && acc.is_finite() => accuracies.push(acc),
            _ => {
                return Err(format!(
                    "line {} `{line}` is not `epoch,test_acc` in order",
                    i + 1
                ));
            }
        }
    }
    Ok(Some(accuracies))
}

impl Observer for EpochEval<'_> {
    fn run_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        self.accuracies = read(&self.path)
            .map_err(|e| self.err(e))?
            .unwrap_or_default();
        if self.accuracies.len() < info.start_epoch {
            return Err(self.err(format!(
                "holds {} epochs, but the checkpoint resumes after {}",
                self.accuracies.len(),
                info.start_epoch
            )));
        }
        self.accuracies.truncate(info.start_epoch);
        Ok(())
    }

    fn epoch_model(&mut self, epoch: usize, model: &Model) -> Result<(), TrainError> {
        let (acc, _) = evaluate(
            &model.clone().valid(),
            self.test,
            self.columns,
            self.norm,
            self.device,
        )?;
        self.accuracies.truncate(epoch);
        self.accuracies.push(acc);
        let mut text = String::from("epoch,test_acc\n");
        for (i, a) in self.accuracies.iter().enumerate() {
            text.push_str(&format!("{},{a}\n", i + 1));
        }
        crate::atomic::write(&self.path, text.as_bytes()).map_err(|e| self.err(e))
    }
}
