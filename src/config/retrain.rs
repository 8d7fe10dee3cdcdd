//! The experiment file's `retrain:` section: prune ratios, seeds, budget, and the selection
//! strategies every method's scores are retrained with, each with its options in a section of
//! its own name (`retrain.ccs:`), declared and checked by the strategy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::options::{self, Json, Options, Problems};
use crate::select::{self, Amount, Strategy, StrategyOptions};

/// `retrain:` as written. Besides the keys below, one section per listed strategy with
/// options, named after it (`ccs: {bins: 50, cutoff: [0.2, 0.3]}`): each option one value for
/// every prune ratio, or a list of one value per ratio, in `prune_ratios`' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawRetrain {
    /// Prune ratios (share removed). Default [0.25, 0.5].
    pub prune_ratios: Vec<f64>,
    /// Seeds of the retrains (init, order, augmentation and the random method). Default [0].
    pub seeds: Vec<u64>,
    /// `equal_epochs` (default: every retrain runs `train.epochs`) or `equal_iterations` (a
    /// pruned subset trains as many steps as the full set would).
    pub budget: String,
    /// Train a full-data model per seed as the 0% row. Default true.
    pub full_data: bool,
    /// Selection strategies every method's scores are retrained with (`dynunc select
    /// --help`): `top` (the paper's), `ccs`, `dual_beta`, `easy`, `band`, `skip_hardest`. Default
    /// [top]. `random` is retrained once.
    pub strategies: Vec<String>,
    /// The models retrained on, by name (`models:`): default every model. A model left out
    /// only scores: its subsets are retrained on the others (a small proxy scoring for a
    /// large model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The models that score, by name: default every model. A model left out only retrains
    /// on the others' subsets (the paper's cross-architecture table: Swin-T's scores
    /// retrained on ConvNeXt-T and ResNet-50).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// The strategies' option sections, by strategy name.
    #[serde(flatten)]
    pub options: BTreeMap<String, Json>,
}

impl Default for RawRetrain {
    fn default() -> Self {
        Self {
            prune_ratios: vec![0.25, 0.5],
            seeds: vec![0],
            budget: "equal_epochs".into(),
            full_data: true,
            strategies: vec!["top".into()],
            targets: Vec::new(),
            sources: Vec::new(),
            options: BTreeMap::new(),
        }
    }
}

crate::choices! {
    /// How retrains are budgeted.
    pub enum Budget {
        /// Every retrain runs the same number of epochs.
        EqualEpochs = "equal_epochs",
        /// Every retrain runs as many optimizer steps as the full set would.
        EqualIterations = "equal_iterations",
    }
}

/// `retrain:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainSpec {
    /// Prune ratios, each in [0, 1).
    pub prune_ratios: Vec<f64>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Budget.
    pub budget: Budget,
    /// Whether full-data rows are trained.
    pub full_data: bool,
    /// Selection strategies, each retrained with every method.
    pub strategies: Vec<&'static dyn Strategy>,
    /// Each strategy's options at each prune ratio (the ratio's bits), given or default.
    pub options: Vec<(&'static str, Vec<(u64, Options)>)>,
    /// Names of the models retrained on; empty: every model.
    pub targets: Vec<String>,
    /// Names of the models that score; empty: every model.
    pub sources: Vec<String>,
}

impl RetrainSpec {
    /// Whether the model named `name` scores (`retrain.sources`).
    pub fn scores(&self, name: &str) -> bool {
        selects(&self.sources, name)
    }

    /// Whether the model named `name` is retrained on (`retrain.targets`).
    pub fn retrains(&self, name: &str) -> bool {
        selects(&self.targets, name)
    }

    /// The options of `strategy` at `prune_ratio` (its defaults when none were given).
    pub fn options(&self, strategy: &dyn Strategy, prune_ratio: f64) -> Options {
        self.options
            .iter()
            .find(|(name, _)| *name == strategy.info().name)
            .and_then(|(_, per)| per.iter().find(|(p, _)| *p == prune_ratio.to_bits()))
            .map_or_else(
                || Options::default().with_defaults(strategy.options()),
                |(_, o)| o.clone(),
            )
    }
}

/// `retrain.strategies`: registered, each once, at least one.
fn strategies(r: &RawRetrain, p: &mut Problems) -> Vec<&'static dyn Strategy> {
    let mut out: Vec<&'static dyn Strategy> = Vec::new();
    if r.strategies.is_empty() {
        p.fail("retrain.strategies", "empty: list at least one, e.g. [top]");
    }
    for (i, name) in r.strategies.iter().enumerate() {
        match select::find(name) {
            Ok(_) if out.iter().any(|x| x.info().name == name) => p.fail(
                &format!("retrain.strategies[{i}]"),
                format!("`{name}` appears twice"),
            ),
            Ok(s) => out.push(s),
            Err(e) => p.fail(&format!("retrain.strategies[{i}]"), e.to_string()),
        }
    }
    out
}

/// `retrain.<strategy>:` of a listed strategy: its options at every prune ratio, each checked
/// by the strategy; `per_ratio` says which keys were given as lists.
fn strategy_section(
    s: &'static dyn Strategy,
    section: &Json,
    ratios: &[f64],
    p: &mut Problems,
) -> Vec<(u64, Options)> {
    let name = s.info().name;
    let at = format!("retrain.{name}");
    let Some(map) = section.as_object() else {
        p.fail(&at, "give a map of its options, e.g. `ccs: {bins: 50}`");
        return Vec::new();
    };
    let own = s.options();
    let given: BTreeMap<String, Json> = map.clone().into_iter().collect();
    for key in options::undeclared(own, &given) {
        let keys: Vec<_> = own.iter().map(|d| d.name()).collect();
        p.fail(
            &format!("{at}.{key}"),
            format!("unknown option of `{name}`; it takes: {}", keys.join(", ")),
        );
    }
    // A list that is not itself a value of the option gives one value per ratio.
    let per_ratio = |key: &str, v: &Json| {
        own.iter()
            .find(|d| d.name() == key)
            .is_some_and(|d| !d.accepts(v))
            && v.is_array()
    };
    for (key, v) in &given {
        if per_ratio(key, v) && v.as_array().map(Vec::len) != Some(ratios.len()) {
            p.fail(
                &format!("{at}.{key}"),
                format!(
                    "{} values for {} prune ratios: give one per ratio, in the same order, or one for all",
                    v.as_array().map_or(0, Vec::len),
                    ratios.len()
                ),
            );
            return Vec::new();
        }
    }
    let mut out = Vec::new();
    for (i, &ratio) in ratios.iter().enumerate() {
        let at_ratio: BTreeMap<String, Json> = given
            .iter()
            .map(|(k, v)| match per_ratio(k, v) {
                true => (k.clone(), v[i].clone()),
                false => (k.clone(), v.clone()),
            })
            .collect();
        let before = p.len();
        let o = Options::given(own, &at_ratio, &at, p).with_defaults(own);
        if p.len() == before {
            let probe = StrategyOptions {
                options: o.clone(),
                ..StrategyOptions::default()
            };
            if let Err(select::SelectError::BadOption { option, what }) =
                s.check(&probe, 1.0 - ratio)
            {
                let list = given.get(option).is_some_and(|v| per_ratio(option, v));
                let path = match list {
                    true => format!("{at}.{option}[{i}]"),
                    false => format!("{at}.{option}"),
                };
                p.fail(&path, what);
            }
        }
        out.push((ratio.to_bits(), o));
    }
    out
}

/// Checks `retrain:`; `class_balanced` is `scoring.class_balanced`.
pub fn validate(r: &RawRetrain, class_balanced: bool, p: &mut Problems) -> Option<RetrainSpec> {
    for (i, &ratio) in r.prune_ratios.iter().enumerate() {
        if let Err(e) = Amount::Prune(ratio).keep_fraction(&format!("prune ratio {ratio}")) {
            p.fail(&format!("retrain.prune_ratios[{i}]"), e.to_string());
        }
    }
    if r.seeds.is_empty() {
        p.fail("retrain.seeds", "list at least one seed, e.g. [0]");
    }
    let strategies = strategies(r, p);
    let mut options = Vec::new();
    for (key, section) in &r.options {
        match strategies.iter().find(|s| s.info().name == key) {
            Some(&s) => options.push((s.info().name, strategy_section(s, section, &r.prune_ratios, p))),
            None if select::find(key).is_ok() => p.fail(
                &format!("retrain.{key}"),
                format!("options of the `{key}` strategy, which retrain.strategies does not list; add it there or remove the section"),
            ),
            None => p.fail(
                &format!("retrain.{key}"),
                "unknown key; retrain takes prune_ratios, seeds, budget, full_data, strategies, targets, sources and a section of options per listed strategy (`dynunc select --help` lists them)",
            ),
        }
    }
    for s in &strategies {
        let common = StrategyOptions {
            class_balanced,
            options: Options::default().with_defaults(s.options()),
            ..StrategyOptions::default()
        };
        if let Err(select::SelectError::BadOption {
            option: "class_balanced",
            what,
        }) = s.check(&common, 1.0)
        {
            p.fail(
                "scoring.class_balanced",
                format!("true with retrain.strategies {}: {what}", s.info().name),
            );
        }
    }
    let budget = p.parse::<Budget>("retrain.budget", &r.budget)?;
    let mut seen = std::collections::BTreeSet::new();
    Some(RetrainSpec {
        prune_ratios: r
            .prune_ratios
            .iter()
            .copied()
            .filter(|ratio| seen.insert(ratio.to_bits()))
            .collect(),
        seeds: r.seeds.clone(),
        budget,
        full_data: r.full_data,
        strategies,
        options,
        targets: r.targets.clone(),
        sources: r.sources.clone(),
    })
}

/// Whether a list of model names (`retrain.sources`, `retrain.targets`) selects the model
/// `name`: an empty list selects every model.
pub fn selects(list: &[String], name: &str) -> bool {
    list.is_empty() || list.iter().any(|s| s == name)
}

/// `retrain.targets` or `retrain.sources` (`key`): each the name of one of `models`, none
/// twice.
pub fn check_names(key: &str, targets: &[String], models: &[String], p: &mut Problems) {
    for (i, t) in targets.iter().enumerate() {
        if !models.contains(t) {
            p.fail(
                &format!("retrain.{key}[{i}]"),
                format!(
                    "`{t}` names no model; the models are: {}",
                    models.join(", ")
                ),
            );
        } else if targets[..i].contains(t) {
            p.fail(
                &format!("retrain.{key}[{i}]"),
                format!("`{t}` is listed twice"),
            );
        }
    }
}
