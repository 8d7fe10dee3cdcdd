//! Scoring: the [`Scorer`] trait, the registry of every method, and the pass that streams
//! recorded dynamics through scorers.
//!
//! A scorer is a pure function from dynamics to one `f32` per sample. It never touches files,
//! Burn or the command line: [`score_all`] reads the epochs from any [`EpochSource`] and hands
//! them to each scorer's [`Accumulator`] in order, so one pass over a store feeds every method
//! and memory stays at what the scorers themselves keep.
//!
//! Adding a method is two files: `baselines/<name>.rs`, a type implementing [`Scorer`] with its
//! options ([`Scorer::options`]) and their checks ([`Scorer::check`]), and here its `mod` line
//! and one line in [`REGISTRY`]. The experiment file's `scoring:` keys, `dynunc score`'s flags
//! and `dynunc methods` are built from the registry.
//!
//! The baselines live in the top-level `baselines/` folder (where the mission puts them, beside
//! `src/`), but are this module's child, as [`dyn_unc`] is: they use its trait, it lists them.

/// The baseline scoring methods, one file each in the top-level `baselines/` folder.
#[path = "../../baselines"]
pub mod baselines {
    pub mod acc_margin;
    pub mod aum;
    pub mod confidence;
    pub mod dual;
    pub mod el2n;
    pub mod forgetting;
    pub mod random;
    pub mod tdds;
    pub mod uncertainty;
    pub mod variability;
}
pub mod dyn_unc;
pub mod prefix;
pub mod rows;
pub mod section;
pub mod stability;
pub mod stop;
pub(crate) mod window;

use thiserror::Error;

use crate::dynamics::{DynamicsError, EpochColumns, EpochSource, Field, FieldSet, Shape};
use crate::options::{Declared, Opt, OptType, Options};

pub use baselines::uncertainty::UncertaintyKind;
pub use dyn_unc::WindowMode;

/// Every scoring method dynunc knows, in the order they are listed in help and tables.
pub static REGISTRY: &[&dyn Scorer] = &[
    &dyn_unc::DynUnc,
    &baselines::random::Random,
    &baselines::forgetting::Forgetting,
    &baselines::el2n::El2n,
    &baselines::uncertainty::Uncertainty,
    &baselines::aum::Aum,
    &baselines::acc_margin::AccMargin,
    &baselines::dual::Dual,
    &baselines::tdds::Tdds,
    &baselines::variability::Variability,
    &baselines::confidence::Confidence,
];

/// The methods an experiment compares when `scoring.methods` is not given: the paper's
/// comparison (Dyn-Unc and the baselines of its tables). `dynunc methods` lists every one.
pub const PAPER_METHODS: &[&str] = &["dyn_unc", "random", "forgetting", "el2n", "uncertainty"];

impl std::fmt::Debug for dyn Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.info().name)
    }
}

crate::choices! {
    /// Which end of the score range is kept when pruning.
    pub enum Keep {
        /// Keep the samples with the highest scores.
        Highest = "highest",
        /// Keep the samples with the lowest scores.
        Lowest = "lowest",
    }
}

/// What a scorer says about itself.
#[derive(Debug, Clone, Copy)]
pub struct ScorerInfo {
    /// Name used in experiment files, the CLI and result tables.
    pub name: &'static str,
    /// One line: what the score measures.
    pub summary: &'static str,
    /// Which samples are kept.
    pub keep: Keep,
    /// The recorded fields the score is computed from.
    pub needs: FieldSet,
    /// Whether the score draws from [`ScoreParams::seed`] (retrains then score once per seed).
    pub seeded: bool,
}

/// Options of the scorers (each reads the ones it declares) and the seed of the seeded ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreParams {
    /// Values of the declared options; an option not set has its default.
    pub options: Options,
    /// Seed of the seeded scorers (`random`).
    pub seed: u64,
    /// Score from the first this many recorded epochs only (every method sees a run of that
    /// length); `None`: every recorded epoch.
    pub epochs_used: Option<usize>,
}

impl ScoreParams {
    /// The value of `opt`.
    pub fn get<T: OptType>(&self, opt: &Opt<T>) -> T {
        opt.get(&self.options)
    }

    /// These parameters with `opt` set to `value`.
    pub fn with<T: OptType>(mut self, opt: &Opt<T>, value: T) -> Self {
        self.options = self.options.with(opt, value);
        self
    }
}

/// What a scorer knows when it starts.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Samples, classes, epochs.
    pub shape: Shape,
    /// Labels, when known.
    pub labels: Option<&'a [u32]>,
    /// Options.
    pub params: &'a ScoreParams,
}

/// A scoring method.
pub trait Scorer: Sync {
    /// Name, summary, direction and fields.
    fn info(&self) -> ScorerInfo;

    /// Fields needed under these options (default: [`ScorerInfo::needs`]).
    fn needs(&self, _params: &ScoreParams) -> FieldSet {
        self.info().needs
    }

    /// The options it reads, each declared once (a key two methods share is declared by one
    /// and listed by both, as `window`).
    fn options(&self) -> &'static [&'static dyn Declared] {
        &[]
    }

    /// Checks the options against `epochs` recorded epochs (the config calls it with
    /// `train.epochs`, every pass with the dynamics' own).
    fn check(&self, _params: &ScoreParams, _epochs: usize) -> Result<(), ScoreError> {
        Ok(())
    }

    /// Starts a pass (after [`Scorer::check`] passed).
    fn begin(&self, ctx: &Context<'_>) -> Result<Box<dyn Accumulator>, ScoreError>;
}

/// The state of one scorer during a pass over the epochs.
pub trait Accumulator {
    /// Sees epoch `epoch` (0-based); epochs arrive in order, each once.
    fn observe(&mut self, epoch: usize, cols: &EpochColumns);
    /// One score per sample.
    fn finish(self: Box<Self>) -> Vec<f32>;
}

/// Problems scoring.
#[derive(Debug, Error)]
pub enum ScoreError {
    /// A method name not in the registry.
    #[error("unknown scoring method `{name}`; known methods: {known}")]
    UnknownMethod {
        /// What was asked for.
        name: String,
        /// The registry's names.
        known: String,
    },
    /// An option that does not fit the dynamics.
    #[error("{what}")]
    BadParam {
        /// The option at fault.
        option: &'static str,
        /// What is wrong and the fix.
        what: String,
    },
    /// Reading the dynamics failed.
    #[error(transparent)]
    Dynamics(#[from] DynamicsError),
}

/// Looks a scorer up by name.
pub fn find(name: &str) -> Result<&'static dyn Scorer, ScoreError> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.info().name == name)
        .ok_or_else(|| ScoreError::UnknownMethod {
            name: name.to_owned(),
            known: names().join(", "),
        })
}

/// The options of every registered scorer, each key once.
pub fn all_options() -> Vec<&'static dyn Declared> {
    crate::options::union(REGISTRY.iter().map(|s| s.options()))
}

/// The names of the scorers that read option `key`.
pub fn readers(key: &str) -> Vec<&'static str> {
    REGISTRY
        .iter()
        .filter(|s| s.options().iter().any(|d| d.name() == key))
        .map(|s| s.info().name)
        .collect()
}

/// The names of every registered scorer.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.info().name).collect()
}

/// Streams every epoch of `source` through `scorers` once; returns one score vector per scorer.
///
/// Only the fields the scorers need are read (plus the seen/correct flags), and every value
/// read is checked to be finite.
pub fn score_all(
    source: &mut dyn EpochSource,
    scorers: &[&dyn Scorer],
    params: &ScoreParams,
) -> Result<Vec<Vec<f32>>, ScoreError> {
    let recorded = source.shape();
    let shape = Shape {
        epochs: used_epochs(params.epochs_used, recorded.epochs)?,
        ..recorded
    };
    let have = source.fields();
    let needed = scorers
        .iter()
        .fold(FieldSet::EMPTY, |acc, s| acc.union(s.needs(params)));
    if let Some(field) = needed.first_missing(have) {
        return Err(DynamicsError::MissingField {
            field: field.name(),
            have: have.to_string(),
        }
        .into());
    }
    let want = needed.union(have.intersect(FieldSet::of(&[Field::Flags])));
    let labels = source.labels().map(<[u32]>::to_vec);
    let ctx = Context {
        shape,
        labels: labels.as_deref(),
        params,
    };
    for s in scorers {
        s.check(params, shape.epochs)?;
    }
    let mut accs = scorers
        .iter()
        .map(|s| s.begin(&ctx))
        .collect::<Result<Vec<_>, _>>()?;
    if needed != FieldSet::EMPTY {
        let mut cols = EpochColumns::default();
        for epoch in 0..shape.epochs {
            source.read_epoch(epoch, want, &mut cols)?;
            if !have.contains(Field::Flags) {
                cols.flags = vec![crate::dynamics::flags::SEEN; shape.samples];
            }
            cols.check_finite(epoch)?;
            for acc in &mut accs {
                acc.observe(epoch, &cols);
            }
        }
    }
    Ok(accs.into_iter().map(|a| a.finish()).collect())
}

/// The epochs scored out of `recorded` when `epochs_used` is asked for: all, or the first
/// `epochs_used` (refused when above the recorded count or 0).
pub fn used_epochs(epochs_used: Option<usize>, recorded: usize) -> Result<usize, ScoreError> {
    match epochs_used {
        None => Ok(recorded),
        Some(k) if (1..=recorded).contains(&k) => Ok(k),
        Some(k) => Err(ScoreError::BadParam {
            option: "epochs_used",
            what: format!(
                "epochs_used {k}: the dynamics hold {recorded} epochs; score from 1 to {recorded} of them, or leave epochs_used out to use all"
            ),
        }),
    }
}

/// Scores one method; see [`score_all`].
pub fn score_one(
    source: &mut dyn EpochSource,
    scorer: &dyn Scorer,
    params: &ScoreParams,
) -> Result<Vec<f32>, ScoreError> {
    Ok(score_all(source, &[scorer], params)?.remove(0))
}

/// For each sample, the most recent value of one column among the epochs it was seen in.
///
/// The shared piece of the scorers that read "the last epoch's" value.
#[derive(Debug, Clone)]
pub(crate) struct LastSeen {
    field: Field,
    values: Vec<f32>,
}

impl LastSeen {
    pub(crate) fn new(field: Field, samples: usize) -> Self {
        Self {
            field,
            values: vec![f32::NAN; samples],
        }
    }

    pub(crate) fn observe(&mut self, cols: &EpochColumns) {
        for (i, &v) in cols.floats(self.field).iter().enumerate() {
            if cols.seen(i) {
                self.values[i] = v;
            }
        }
    }

    /// The values; NaN for a sample never seen.
    pub(crate) fn into_values(self) -> Vec<f32> {
        self.values
    }
}
