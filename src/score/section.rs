//! The experiment file's `scoring:` section: which methods, their options (each method
//! declares its own, [`Scorer::options`]) and whether selection is per class; checked here, by
//! the methods themselves, against the epochs training records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::prefix::{Prefix, RawPrefix};
use super::stop::StopRule;
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
    /// End the scoring run once a method's kept set has settled (see [`RawStop`]). Default:
    /// none, the run records every epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<RawStop>,
    /// Also score every listed method (but random) from the first K recorded epochs, each K
    /// below the run's epochs, and `stop` from where `scoring.stop` would end the run (the
    /// run then records every epoch and the rule is replayed): each retrained as
    /// `<method>@<K>` / `<method>@stop` beside the method. Default: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<RawPrefix>,
}

/// `scoring.stop:` the rule that ends a scoring run early ([`super::stop`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStop {
    /// The method whose kept set is watched; one of `scoring.methods`. Default dyn_unc.
    pub method: String,
    /// Prune ratio of the kept set watched. Default 0.5.
    pub prune_ratio: f64,
    /// Least share of the kept set that stays kept from one epoch to the next. Default 0.95.
    pub overlap: f64,
    /// Consecutive settled epochs that end the run. Default 2.
    pub patience: usize,
}

impl Default for RawStop {
    fn default() -> Self {
        Self {
            method: "dyn_unc".into(),
            prune_ratio: 0.5,
            overlap: 0.95,
            patience: 2,
        }
    }
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
            stop: None,
            prefixes: Vec::new(),
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
    /// The early-stop rule, if any.
    pub stop: Option<StopRule>,
    /// Whether the rule ends the run (false when `stop` is among the prefixes: replayed).
    pub stop_ends_run: bool,
    /// The parts of the run every method is also scored from.
    pub prefixes: Vec<Prefix>,
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
                "unknown key; scoring takes methods, class_balanced, runs, epochs_used, stability, stop, prefixes and the methods' options: {} (`dynunc methods` says which method reads which)",
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
    if raw.stop.is_some() && raw.epochs_used.is_some() {
        p.fail(
            "scoring.stop",
            "given with scoring.epochs_used: the rule decides how many epochs are recorded and scored; give one or the other",
        );
    }
    let stop = raw
        .stop
        .as_ref()
        .and_then(|s| stop(s, &methods, &params, scored, p));
    let prefixes = prefixes(&raw.prefixes, &methods, &params, scored, stop.is_some(), p);
    let scoring = Scoring {
        methods,
        params,
        class_balanced: raw.class_balanced,
        runs: raw.runs.max(1),
        stability: raw.stability,
        stop,
        stop_ends_run: !prefixes.contains(&Prefix::Stop),
        prefixes,
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

/// `scoring.stop`: a listed method that reads the dynamics, a prune ratio in (0, 1), an
/// overlap in (0, 1], a patience of at least 1, and a rule that can fire within the epochs
/// scored.
fn stop(
    raw: &RawStop,
    methods: &[&'static dyn Scorer],
    params: &ScoreParams,
    epochs: usize,
    p: &mut Problems,
) -> Option<StopRule> {
    let before = p.len();
    let method = methods
        .iter()
        .copied()
        .find(|m| m.info().name == raw.method);
    match method {
        None => p.fail(
            "scoring.stop.method",
            format!(
                "`{}` is not in scoring.methods ({}); watch one of them",
                raw.method,
                methods.iter().map(|m| m.info().name).collect::<Vec<_>>().join(", ")
            ),
        ),
        Some(m) if m.info().seeded => p.fail(
            "scoring.stop.method",
            format!("`{}` does not read the dynamics: its kept set never settles; watch a method that does, e.g. dyn_unc", raw.method),
        ),
        Some(_) => {}
    }
    if !(raw.prune_ratio > 0.0 && raw.prune_ratio < 1.0) {
        p.fail(
            "scoring.stop.prune_ratio",
            format!(
                "{}: give the share pruned, above 0 and below 1, e.g. 0.5",
                raw.prune_ratio
            ),
        );
    }
    if !(raw.overlap > 0.0 && raw.overlap <= 1.0) {
        p.fail(
            "scoring.stop.overlap",
            format!("{}: give the share of the kept set that must stay kept, above 0 and at most 1, e.g. 0.95", raw.overlap),
        );
    }
    if raw.patience == 0 {
        p.fail(
            "scoring.stop.patience",
            "0: give the number of settled epochs in a row that end the run, at least 1 (default 2)",
        );
    }
    if p.len() > before {
        return None;
    }
    let rule = StopRule {
        method: method?,
        prune_ratio: raw.prune_ratio,
        overlap: raw.overlap,
        patience: raw.patience,
    };
    match rule.first_defined(params, epochs) {
        Some(k) if k + rule.patience <= epochs => Some(rule),
        first => {
            let from = first.map_or_else(
                || format!("is not defined within {epochs} epochs under these options"),
                |k| format!("is first defined after {k} epochs, so with patience {} the rule could stop after epoch {} at the earliest", rule.patience, k + rule.patience),
            );
            p.fail(
                "scoring.stop",
                format!(
                    "{} {from}, but the run scores {epochs}: record more epochs (train.epochs), or lower scoring.stop.patience or the method's window",
                    raw.method
                ),
            );
            None
        }
    }
}

/// `scoring.prefixes`: each a number of epochs from 1 to below the epochs scored at which
/// every listed method reading the dynamics is defined, or `stop` (with `scoring.stop`);
/// none twice.
fn prefixes(
    raw: &[RawPrefix],
    methods: &[&'static dyn Scorer],
    params: &ScoreParams,
    epochs: usize,
    has_stop: bool,
    p: &mut Problems,
) -> Vec<Prefix> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let at = format!("scoring.prefixes[{i}]");
        let prefix = match r {
            RawPrefix::Word(w) if w == "stop" => {
                if !has_stop {
                    p.fail(&at, "`stop` replays scoring.stop, which is not given (or not valid); add `stop: {}` to scoring");
                    continue;
                }
                Prefix::Stop
            }
            RawPrefix::Word(w) => {
                p.fail(&at, format!("`{w}`: give a number of epochs, or `stop`"));
                continue;
            }
            RawPrefix::Epochs(k) if !(1..epochs).contains(k) => {
                p.fail(
                    &at,
                    format!("{k}: give a number of epochs from 1 to {} (below the {epochs} scored; the method itself scores from all)", epochs.saturating_sub(1)),
                );
                continue;
            }
            RawPrefix::Epochs(k) => {
                let k = *k;
                let k_params = ScoreParams {
                    epochs_used: Some(k),
                    ..params.clone()
                };
                for m in methods.iter().filter(|m| !m.info().seeded) {
                    if let Err(e) = m.check(&k_params, k) {
                        p.fail(
                            &at,
                            format!("{k} epochs: {} cannot score from them: {e}", m.info().name),
                        );
                    }
                }
                Prefix::Epochs(k)
            }
        };
        if out.contains(&prefix) {
            p.fail(&at, format!("`{}` is listed twice", &prefix.suffix()[1..]));
            continue;
        }
        out.push(prefix);
    }
    out
}
