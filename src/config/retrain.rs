//! The experiment file's `retrain:` section: prune ratios, seeds, budget, and the selection
//! strategies every method's scores are retrained with.

use serde::{Deserialize, Serialize};

use crate::options::Problems;
use crate::select::{Amount, Strategy};

/// `retrain:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
    /// --help`): `top` (the paper's), `ccs`. Default [top]. `random` is retrained once.
    pub strategies: Vec<String>,
    /// Options of the `ccs` strategy.
    pub ccs: RawCcs,
}

/// `retrain.ccs:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCcs {
    /// Equal-width score strata. Default 50 (CCS's).
    pub bins: usize,
    /// Share of hardest samples dropped first, one per `prune_ratios` entry (CCS tabulates
    /// e.g. 0.3 at 90% pruning). Default: 0 for every ratio.
    pub cutoffs: Vec<f64>,
}

impl Default for RawCcs {
    fn default() -> Self {
        Self {
            bins: 50,
            cutoffs: Vec::new(),
        }
    }
}

impl Default for RawRetrain {
    fn default() -> Self {
        Self {
            prune_ratios: vec![0.25, 0.5],
            seeds: vec![0],
            budget: "equal_epochs".into(),
            full_data: true,
            strategies: vec!["top".into()],
            ccs: RawCcs::default(),
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
    /// `ccs` strata.
    pub ccs_bins: usize,
    /// `ccs` cutoff per prune ratio.
    pub ccs_cutoffs: Vec<(f64, f64)>,
}

impl RetrainSpec {
    /// The `ccs` cutoff at `prune_ratio` (0 when none was given).
    pub fn ccs_cutoff(&self, prune_ratio: f64) -> f64 {
        self.ccs_cutoffs
            .iter()
            .find(|(p, _)| *p == prune_ratio)
            .map_or(0.0, |(_, c)| *c)
    }
}

/// `retrain.strategies` and `retrain.ccs`, checked against the prune ratios.
fn retrain_strategies(
    r: &RawRetrain,
    class_balanced: bool,
    c: &mut Problems,
) -> Vec<&'static dyn Strategy> {
    let mut out: Vec<&'static dyn Strategy> = Vec::new();
    if r.strategies.is_empty() {
        c.fail("retrain.strategies", "empty: list at least one, e.g. [top]");
    }
    for (i, name) in r.strategies.iter().enumerate() {
        match crate::select::find(name) {
            Ok(_) if out.iter().any(|x| x.info().name == name) => {
                c.fail(
                    &format!("retrain.strategies[{i}]"),
                    format!("`{name}` appears twice"),
                );
            }
            Ok(s) => out.push(s),
            Err(e) => c.fail(&format!("retrain.strategies[{i}]"), e.to_string()),
        }
    }
    let ccs = r.strategies.iter().any(|s| s == "ccs");
    if ccs && class_balanced {
        c.fail(
            "scoring.class_balanced",
            "true with retrain.strategies ccs: ccs stratifies by score over all classes; set it to false or drop ccs",
        );
    }
    if r.ccs.bins == 0 {
        c.fail(
            "retrain.ccs.bins",
            "0: give at least 1 stratum (CCS uses 50)",
        );
    }
    if !r.ccs.cutoffs.is_empty() && r.ccs.cutoffs.len() != r.prune_ratios.len() {
        c.fail(
            "retrain.ccs.cutoffs",
            format!(
                "{} cutoffs for {} prune ratios: give one per ratio, in the same order, or none",
                r.ccs.cutoffs.len(),
                r.prune_ratios.len()
            ),
        );
    }
    for (i, (&cut, &p)) in r.ccs.cutoffs.iter().zip(&r.prune_ratios).enumerate() {
        if !(cut.is_finite() && (0.0..=p).contains(&cut)) {
            c.fail(
                &format!("retrain.ccs.cutoffs[{i}]"),
                format!("{cut} at prune ratio {p}: a cutoff is in [0, prune ratio] (what is dropped first cannot exceed what is pruned)"),
            );
        }
    }
    out
}

/// Checks `retrain:`; `class_balanced` is `scoring.class_balanced`.
pub fn validate(r: &RawRetrain, class_balanced: bool, c: &mut Problems) -> Option<RetrainSpec> {
    for (i, &p) in r.prune_ratios.iter().enumerate() {
        if let Err(e) = Amount::Prune(p).keep_fraction(&format!("prune ratio {p}")) {
            c.fail(&format!("retrain.prune_ratios[{i}]"), e.to_string());
        }
    }
    if r.seeds.is_empty() {
        c.fail("retrain.seeds", "list at least one seed, e.g. [0]");
    }
    let strategies = retrain_strategies(r, class_balanced, c);
    let budget = c.parse::<Budget>("retrain.budget", &r.budget)?;
    let mut seen = std::collections::BTreeSet::new();
    Some(RetrainSpec {
        prune_ratios: r
            .prune_ratios
            .iter()
            .copied()
            .filter(|p| seen.insert(p.to_bits()))
            .collect(),
        seeds: r.seeds.clone(),
        budget,
        full_data: r.full_data,
        strategies,
        ccs_bins: r.ccs.bins,
        ccs_cutoffs: match r.ccs.cutoffs.is_empty() {
            true => Vec::new(),
            false => r
                .prune_ratios
                .iter()
                .copied()
                .zip(r.ccs.cutoffs.iter().copied())
                .collect(),
        },
    })
}
