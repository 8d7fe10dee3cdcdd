//! The experiment file's `scoring:` section: which methods, their options (each method
//! declares its own, [`Scorer::options`]) and whether selection is per class; checked here, by
//! the methods themselves, against the epochs training records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ScoreParams, Scorer};
use crate::options::{self, Json, Options, Problems};

/// `scoring:` as written. Besides `methods` and `class_balanced` it takes the options the
/// listed methods declare (`dynunc methods` lists them): `window` (default 10) and `windows`
/// (`paper`, or `released_code`) of dyn_unc and dual, `el2n_epoch` (default 10% into
/// training) of el2n, `uncertainty` (`entropy`, `least_confidence`, `margin`) of uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawScoring {
    /// Methods to compare. Default: the paper's comparison, `[dyn_unc, random, forgetting,
    /// el2n, uncertainty]`; `dynunc methods` lists them all (also `aum`, `acc_margin`, `dual`).
    pub methods: Vec<String>,
    /// The methods' options, by key (checked against their declarations).
    #[serde(flatten)]
    pub options: BTreeMap<String, Json>,
    /// Keep the same fraction of every class. Default false (global, as the paper).
    pub class_balanced: bool,
    /// Scoring runs per model, each with its own seed and store; every method's score is
    /// the mean over them (Paul et al. average EL2N over 10). Default 1 (not written to the
    /// resolved file when 1).
    #[serde(skip_serializing_if = "is_one")]
    pub runs: usize,
    /// Score from the first K recorded epochs only (DUAL scores from the first 30 of 200 on
    /// CIFAR); default every epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs_used: Option<usize>,
    /// Write `stability.csv`: how early each method's kept sets settle. Default false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stability: bool,
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl Default for RawScoring {
    fn default() -> Self {
        Self {
            methods: super::PAPER_METHODS.iter().map(|s| s.to_string()).collect(),
            options: BTreeMap::new(),
            class_balanced: false,
            runs: 1,
            epochs_used: None,
            stability: false,
        }
    }
}

/// `scoring:`, validated.
#[derive(Debug, Clone)]
pub struct Scoring {
    /// Methods to compare, in the file's order.
    pub methods: Vec<&'static dyn Scorer>,
    /// Their options (given or default) and the scoring run's seed.
    pub params: ScoreParams,
    /// Per-class quotas instead of global selection.
    pub class_balanced: bool,
    /// Scoring runs per model (scores averaged over them).
    pub runs: usize,
    /// Whether `stability.csv` is written.
    pub stability: bool,
}

/// Checks `scoring:` for a run recording `epochs` epochs with seed `seed`; problems go under
/// `scoring.`. Returns the section and its resolved form (every listed method's options, given
/// or default, for the resolved experiment).
pub fn validate(
    raw: &RawScoring,
    epochs: usize,
    seed: u64,
    p: &mut Problems,
) -> (Scoring, RawScoring) {
    let methods = methods(&raw.methods, p);
    let declared = super::all_options();
    let listed = options::union(methods.iter().map(|m| m.options()));
    for key in options::undeclared(&declared, &raw.options) {
        p.fail(
            &format!("scoring.{key}"),
            format!(
                "unknown key; scoring takes methods, class_balanced, runs, epochs_used, stability and the methods' options: {} (`dynunc methods` says which method reads which)",
                declared.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    for key in raw.options.keys() {
        let owners = super::readers(key);
        if !owners.is_empty() && !listed.iter().any(|d| d.name() == key) {
            p.fail(
                &format!("scoring.{key}"),
                format!(
                    "applies to {}, which scoring.methods does not list; add it there or remove the key",
                    owners.join(", ")
                ),
            );
        }
    }
    let before = p.len();
    let given = Options::given(&listed, &raw.options, "scoring", p);
    let params = ScoreParams {
        options: given.with_defaults(&listed),
        seed,
        epochs_used: raw.epochs_used,
    };
    let scored = match super::used_epochs(raw.epochs_used, epochs) {
        Ok(k) => k,
        Err(e) => {
            p.fail("scoring.epochs_used", format!("{e} (train.epochs)"));
            epochs
        }
    };
    if p.len() == before {
        for m in &methods {
            if let Err(super::ScoreError::BadParam { option, what }) = m.check(&params, scored) {
                let whence = match raw.epochs_used {
                    Some(k) => format!("scoring.epochs_used scores {k} of them"),
                    None => format!("train.epochs records {epochs}"),
                };
                p.fail(&format!("scoring.{option}"), format!("{what} ({whence})"));
            }
        }
    }
    let resolved = RawScoring {
        options: params.options.to_map(),
        ..raw.clone()
    };
    if raw.runs == 0 {
        p.fail(
            "scoring.runs",
            "0: give the number of scoring runs to average, at least 1 (the default)",
        );
    }
    let scoring = Scoring {
        methods,
        params,
        class_balanced: raw.class_balanced,
        runs: raw.runs.max(1),
        stability: raw.stability,
    };
    (scoring, resolved)
}

/// `scoring.methods`: each a registered method, none twice, at least one.
fn methods(names: &[String], p: &mut Problems) -> Vec<&'static dyn Scorer> {
    let mut out: Vec<&'static dyn Scorer> = Vec::new();
    if names.is_empty() {
        p.fail(
            "scoring.methods",
            format!("empty: list at least one of {}", super::names().join(", ")),
        );
    }
    for (i, name) in names.iter().enumerate() {
        match super::find(name) {
            Ok(_) if out.iter().any(|x| x.info().name == name) => p.fail(
                &format!("scoring.methods[{i}]"),
                format!("`{name}` is listed twice"),
            ),
            Ok(m) => out.push(m),
            Err(e) => p.fail(&format!("scoring.methods[{i}]"), e.to_string()),
        }
    }
    out
}
