//! The typed rows of the results CSVs (`main.csv`, `ood.csv`, `archs.csv`): reading them,
//! checking what was read, and how a row names its method in tables.

use std::path::Path;

use serde::{Deserialize, Serialize};

fn top() -> String {
    "top".into()
}

/// The name tables and figures show for a method retrained with `strategy`: the method alone
/// for `top` (the paper's selection), `method+strategy` otherwise.
pub fn shown_method(method: &str, strategy: &str) -> String {
    match strategy {
        "top" | "" => method.to_owned(),
        s => format!("{method}+{s}"),
    }
}

/// Rows as tables and figures show them: each method named with its strategy
/// ([`shown_method`]), so every method x strategy is its own line.
pub fn shown_rows(rows: &[MainRow]) -> Vec<MainRow> {
    rows.iter()
        .map(|r| MainRow {
            method: shown_method(&r.method, &r.strategy),
            ..r.clone()
        })
        .collect()
}

/// One trained model: a row of `main.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MainRow {
    /// Experiment name.
    pub experiment: String,
    /// Scoring method, or `full` for the full-data model.
    pub method: String,
    /// Selection strategy (`top` in files written before strategies existed).
    #[serde(default = "top")]
    pub strategy: String,
    /// Share of the training set removed.
    pub prune_ratio: f64,
    /// Share kept.
    pub keep_fraction: f64,
    /// Samples trained on.
    pub kept: usize,
    /// Class-balanced selection.
    pub class_balanced: bool,
    /// Seed of this training run.
    pub seed: u64,
    /// Network trained on the subset.
    pub arch: String,
    /// Network whose dynamics chose the subset (differs from `arch` in the cross-architecture
    /// rows; empty in files written before the column existed, meaning `arch`).
    #[serde(default)]
    pub source_arch: String,
    /// Epochs trained.
    pub epochs: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Top-1 accuracy on the test set.
    pub test_acc: f64,
    /// ImageNet-ReaL accuracy (empty without `evaluation.real_labels`).
    #[serde(default)]
    pub real_acc: Option<f64>,
    /// Test accuracy after fine-tuning on `finetune.data` (empty without `finetune:`).
    #[serde(default)]
    pub finetune_acc: Option<f64>,
    /// ImageNet-ReaL accuracy after fine-tuning (`finetune.real_labels`; empty without it).
    #[serde(default)]
    pub finetune_real_acc: Option<f64>,
    /// The best test accuracy over the epochs (`evaluation.every_epoch`; empty without it).
    #[serde(default)]
    pub best_acc: Option<f64>,
    /// The epoch (from 1) of `best_acc`.
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Wall-clock seconds of training and evaluation (the one column that differs between
    /// identical runs).
    pub wall_seconds: f64,
}

/// Out-of-distribution detection of one trained model: a row of `ood.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodRow {
    /// Experiment name.
    pub experiment: String,
    /// Scoring method, or `full`.
    pub method: String,
    /// Selection strategy (`top` in files written before strategies existed).
    #[serde(default = "top")]
    pub strategy: String,
    /// Share of the training set removed.
    pub prune_ratio: f64,
    /// Seed of the training run.
    pub seed: u64,
    /// Network trained on the subset (empty in files from before the column).
    #[serde(default)]
    pub arch: String,
    /// Network whose dynamics chose the subset (empty: `arch`).
    #[serde(default)]
    pub source_arch: String,
    /// OOD set.
    pub ood_set: String,
    /// Confidence score (`msp` or `energy`).
    pub score: String,
    /// Area under the ROC curve.
    pub auroc: f64,
    /// False-positive rate at 95% true-positive rate.
    pub fpr_at_95_tpr: f64,
    /// Average precision, in-distribution positive.
    pub aupr_in: f64,
}

impl MainRow {
    /// The network whose dynamics chose the subset.
    pub fn source(&self) -> &str {
        if self.source_arch.is_empty() {
            &self.arch
        } else {
            &self.source_arch
        }
    }
}

/// One scoring run (full data, dynamics recorded): a row of `archs.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchRow {
    /// Experiment name.
    pub experiment: String,
    /// Network (name in the experiment).
    pub arch: String,
    /// Preset it starts from.
    pub preset: String,
    /// Trainable parameters.
    pub params: usize,
    /// Training samples.
    pub samples: usize,
    /// Epochs.
    pub epochs: usize,
    /// Mean wall-clock seconds per training epoch (recording included), over the epochs this
    /// process trained.
    pub seconds_per_epoch: f64,
    /// Top-1 test accuracy after the last epoch.
    pub test_acc: f64,
}

/// The epochs a model's scores came from: a row of `scored_from.csv` per model, scoring run
/// and part of the run (`all`, each of `scoring.prefixes`), written when `scoring.stop` or
/// `scoring.prefixes` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredFromRow {
    /// Network (name in the experiment).
    pub arch: String,
    /// Scoring run, from 1.
    pub run: usize,
    /// `all` (the method's own name), a number of epochs, or `stop`.
    pub part: String,
    /// Epochs the scores came from.
    pub epochs_used: usize,
    /// Epochs the experiment's training runs (`train.epochs`).
    pub epochs_planned: usize,
    /// Why the stop rule fired (or that it did not), for `stop` and for `all` when the rule
    /// ended the run; empty otherwise.
    pub stop: String,
}

/// Reads `scored_from.csv`.
pub fn read_scored_from_rows(path: &Path) -> Result<Vec<ScoredFromRow>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

/// Reads `archs.csv`.
pub fn read_arch_rows(path: &Path) -> Result<Vec<ArchRow>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

/// Reads `ood.csv`.
pub fn read_ood_rows(path: &Path) -> Result<Vec<OodRow>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

/// Reads `main.csv`.
pub fn read_rows(path: &Path) -> Result<Vec<MainRow>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

/// Checks rows read from `path` before any table or figure is drawn from them: at least one
/// row, every number finite and in its range, no run twice. A `main.csv` edited by hand or
/// damaged would otherwise give NaN tables (or a panic inside the statistics).
pub fn check_rows(rows: &[MainRow], path: &Path) -> Result<(), String> {
    let at = |i: usize, what: String| {
        format!(
            "{}: row {}: {what}; fix or delete the row, or re-run the experiment to rewrite the file",
            path.display(),
            i + 2
        )
    };
    if rows.is_empty() {
        return Err(format!(
            "{}: holds no rows; re-run the experiment to write it (the README and tables are left as they were)",
            path.display()
        ));
    }
    let unit = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let bad = [
            (
                "prune_ratio",
                r.prune_ratio,
                r.prune_ratio.is_finite() && (0.0..1.0).contains(&r.prune_ratio),
            ),
            (
                "keep_fraction",
                r.keep_fraction,
                r.keep_fraction.is_finite() && r.keep_fraction > 0.0 && r.keep_fraction <= 1.0,
            ),
            ("test_acc", r.test_acc, unit(r.test_acc)),
            (
                "real_acc",
                r.real_acc.unwrap_or(0.0),
                r.real_acc.is_none_or(unit),
            ),
            (
                "finetune_acc",
                r.finetune_acc.unwrap_or(0.0),
                r.finetune_acc.is_none_or(unit),
            ),
            (
                "finetune_real_acc",
                r.finetune_real_acc.unwrap_or(0.0),
                r.finetune_real_acc.is_none_or(unit),
            ),
            (
                "best_acc",
                r.best_acc.unwrap_or(0.0),
                r.best_acc.is_none_or(unit),
            ),
        ]
        .into_iter()
        .find(|(_, _, ok)| !ok);
        if let Some((name, value, _)) = bad {
            return Err(at(
                i,
                format!("{name} {value} is not a finite value in its range"),
            ));
        }
        if r.method.is_empty() || r.arch.is_empty() {
            return Err(at(i, "the method or arch column is empty".into()));
        }
        let key = (
            shown_method(&r.method, &r.strategy),
            r.prune_ratio.to_bits(),
            r.seed,
            r.arch.clone(),
            r.source().to_owned(),
        );
        if !seen.insert(key) {
            return Err(at(
                i,
                format!(
                    "method {} at prune ratio {} seed {} on {} appears twice",
                    shown_method(&r.method, &r.strategy),
                    r.prune_ratio,
                    r.seed,
                    r.arch
                ),
            ));
        }
    }
    Ok(())
}

/// Checks OOD rows read from `path`: every metric finite and in [0, 1].
pub fn check_ood_rows(rows: &[OodRow], path: &Path) -> Result<(), String> {
    for (i, r) in rows.iter().enumerate() {
        for (name, v) in [
            ("auroc", r.auroc),
            ("fpr_at_95_tpr", r.fpr_at_95_tpr),
            ("aupr_in", r.aupr_in),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(format!(
                    "{}: row {}: {name} {v} is not a finite value in [0, 1]; fix or delete the row, or re-run the experiment",
                    path.display(),
                    i + 2
                ));
            }
        }
    }
    Ok(())
}
