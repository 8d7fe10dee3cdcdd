//! Experiment configuration: the YAML file is parsed into [`raw`] structs, then validated into
//! an [`Experiment`], with every problem reported at once under its YAML path.

pub mod raw;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::data::folder::BadImage;
use crate::data::loader::Streaming;
use crate::data::{DataSpec, DatasetKind, Loading};
use crate::score::{self, ScoreParams, Scorer};
use crate::select::Amount;
use crate::train::model::{Arch, BlockKind, InputShape, Stem};
use crate::train::{Augment, BackendChoice, ModelSpec, OptimizerSpec, Schedule, TrainSpec, View};
pub use raw::RawExperiment;

/// A validated experiment.
#[derive(Clone)]
pub struct Experiment {
    /// Experiment name (results folder name).
    pub name: String,
    /// Seed of the scoring run.
    pub seed: u64,
    /// Backend choice.
    pub backend: BackendChoice,
    /// Devices each model trains on (data-parallel).
    pub devices: usize,
    /// Data.
    pub data: DataSpec,
    /// Models: one, or several for the cross-architecture comparison.
    pub models: Vec<ModelSpec>,
    /// Training of the scoring run and of the retrains.
    pub train: TrainSpec,
    /// What the recorder sees.
    pub view: View,
    /// Whether `view: train` records with stochastic depth active.
    pub record_drop_path: bool,
    /// Methods to compare.
    pub methods: Vec<&'static dyn Scorer>,
    /// Scorer options.
    pub score_params: ScoreParams,
    /// Per-class quotas instead of global selection.
    pub class_balanced: bool,
    /// Retrain settings.
    pub retrain: RetrainSpec,
    /// Out-of-distribution sets: (name, IDX folder).
    pub ood_sets: Vec<(String, PathBuf)>,
    /// Number of Gaussian-noise OOD images (0 = none).
    pub gaussian_noise: usize,
    /// ImageNet-ReaL labels (`real.json`).
    pub real_labels: Option<PathBuf>,
    /// Fine-tuning of every retrained model on a second dataset.
    pub finetune: Option<Finetune>,
    /// `<output.dir>/<name>`.
    pub results_dir: PathBuf,
    /// The file as resolved, every default filled in.
    pub resolved: RawExperiment,
}

impl fmt::Debug for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experiment")
            .field("name", &self.name)
            .field("resolved", &self.resolved)
            .finish_non_exhaustive()
    }
}

/// `finetune:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Finetune {
    /// The second dataset.
    pub data: DataSpec,
    /// Its training.
    pub train: TrainSpec,
}

/// How retrains are budgeted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Every retrain runs the same number of epochs.
    EqualEpochs,
    /// Every retrain runs as many optimizer steps as the full set would.
    EqualIterations,
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
    pub strategies: Vec<&'static dyn crate::select::Strategy>,
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

/// One problem in an experiment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// YAML path, e.g. `train.lr`.
    pub path: String,
    /// What is wrong and the fix.
    pub message: String,
}

/// Problems loading an experiment file.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read experiment file {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid YAML, a wrong type, or an unknown key.
    #[error(
        "{file}: {message}\n(the keys each section accepts are listed in README.md, `Writing an experiment file`)"
    )]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Values that parse but make no sense.
    #[error("{file}: {} problem{}:\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(|p| format!("  {}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        file: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// Reads and validates an experiment file.
pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    let raw = parse(&text).map_err(|message| ConfigError::Yaml {
        file: file.clone(),
        message,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "experiment".into());
    validate(raw, &stem).map_err(|problems| ConfigError::Invalid { file, problems })
}

/// Parses YAML text into the raw structs (an empty file is all defaults).
pub fn parse(text: &str) -> Result<RawExperiment, String> {
    if text.trim().is_empty() {
        return Ok(RawExperiment::default());
    }
    serde_saphyr::from_str(text).map_err(|e| {
        // A file that does not parse as YAML at all is a syntax error, whatever the typed
        // parse tripped over first (an unclosed `{` reads as "invalid u64" otherwise).
        match serde_saphyr::from_str::<serde_json::Value>(text) {
            Err(syntax) => format!("YAML syntax error: {syntax}"),
            Ok(_) => e.to_string(),
        }
    })
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn choice<T: Copy>(&mut self, path: &str, value: &str, options: &[(&str, T)]) -> Option<T> {
        let found = options
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, v)| *v);
        if found.is_none() {
            let names: Vec<_> = options.iter().map(|(n, _)| *n).collect();
            self.fail(
                path,
                format!("`{value}` is not one of: {}", names.join(", ")),
            );
        }
        found
    }

    fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.fail(path, format!("{value} must be a positive number"));
        }
    }
}

/// `data.dataset` values.
const DATASETS: &[(&str, DatasetKind)] = &[
    ("fashion_mnist", DatasetKind::FashionMnist),
    ("mnist", DatasetKind::Mnist),
    ("idx", DatasetKind::Idx),
    ("imagefolder", DatasetKind::ImageFolder),
];

/// Whether `name` can name a folder inside another one: non-empty, letters, digits, `_`, `-`,
/// `.` only, and not `.`, `..` or other dots alone (which would climb out or stay put).
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
        && !name.chars().all(|ch| ch == '.')
}

/// `retrain.strategies` and `retrain.ccs`, checked against the prune ratios.
fn retrain_strategies(
    r: &raw::RawRetrain,
    class_balanced: bool,
    c: &mut Checker,
) -> Vec<&'static dyn crate::select::Strategy> {
    let mut out: Vec<&'static dyn crate::select::Strategy> = Vec::new();
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

/// Validates raw values; `stem` names the experiment when `name` is absent.
pub fn validate(mut raw: RawExperiment, stem: &str) -> Result<Experiment, Vec<Problem>> {
    let mut c = Checker { problems: vec![] };
    let finetune = raw
        .finetune
        .clone()
        .and_then(|ft| finetune_spec(&raw, ft, stem, &mut c));
    let name = raw.name.clone().unwrap_or_else(|| stem.to_owned());
    if !is_folder_name(&name) {
        c.fail("name", format!("`{name}` must be non-empty, use only letters, digits, `_`, `-`, `.`, and not be dots alone (it names the results folder inside output.dir)"));
    }
    raw.name = Some(name.clone());

    let backend = c.choice(
        "backend",
        &raw.backend,
        &[
            ("auto", BackendChoice::Auto),
            ("flex", BackendChoice::Flex),
            ("wgpu", BackendChoice::Wgpu),
        ],
    );

    if raw.devices == 0 {
        c.fail("devices", "0: give at least 1");
    }
    let d = &raw.data;
    let dataset = c.choice("data.dataset", &d.dataset, DATASETS);
    let on_bad_image = match &d.on_bad_image {
        None => Some(BadImage::Error),
        Some(v) => c.choice(
            "data.on_bad_image",
            v,
            &[("error", BadImage::Error), ("skip", BadImage::Skip)],
        ),
    };
    let loader = match &d.loader {
        None => Some(Loading::Auto),
        Some(v) => c.choice(
            "data.loader",
            v,
            &[
                ("auto", Loading::Auto),
                ("memory", Loading::Memory),
                ("stream", Loading::Stream),
            ],
        ),
    };
    let mut streaming = Streaming::default();
    for (key, value, field) in [
        ("workers", d.workers, &mut streaming.workers),
        ("prefetch", d.prefetch, &mut streaming.prefetch),
    ] {
        match value {
            Some(0) => c.fail(&format!("data.{key}"), "0: give at least 1"),
            Some(v) => *field = v,
            None => {}
        }
    }
    let image_size = d.image_size.unwrap_or(224);
    if dataset == Some(DatasetKind::ImageFolder) {
        if image_size < 8 {
            c.fail(
                "data.image_size",
                format!("{image_size}: give at least 8 pixels"),
            );
        }
        for (key, list) in [("train_list", &d.train_list), ("val_list", &d.val_list)] {
            if let Some(l) = list
                && !Path::new(l).is_file()
            {
                c.fail(&format!("data.{key}"), format!("{l} is not a file"));
            }
        }
    } else {
        for (key, set) in [
            ("image_size", d.image_size.is_some()),
            ("train_list", d.train_list.is_some()),
            ("val_list", d.val_list.is_some()),
            ("on_bad_image", d.on_bad_image.is_some()),
            ("loader", d.loader.is_some()),
            ("workers", d.workers.is_some()),
            ("prefetch", d.prefetch.is_some()),
        ] {
            if set {
                c.fail(
                    &format!("data.{key}"),
                    format!(
                        "applies to `dataset: imagefolder` only, not {}; remove it",
                        d.dataset
                    ),
                );
            }
        }
    }
    if d.subset == Some(0) {
        c.fail(
            "data.subset",
            "0 samples: give a positive number, or remove the key to use all",
        );
    }
    if d.test_subset == Some(0) {
        c.fail(
            "data.test_subset",
            "0 samples: give a positive number, or remove the key to use all",
        );
    }

    let input = dataset.map(|d| d.input_shape(image_size));
    let models = match (&raw.model, &raw.models) {
        (Some(_), Some(_)) => {
            c.fail("models", "give either `model:` or `models:`, not both");
            None
        }
        (_, Some(list)) if list.is_empty() => {
            c.fail("models", "empty: list at least one model");
            None
        }
        (_, Some(list)) => {
            let specs: Vec<_> = list
                .iter()
                .enumerate()
                .map(|(i, m)| model_spec(m, &format!("models[{i}]"), input, &mut c))
                .collect();
            let mut names = std::collections::BTreeSet::new();
            for (i, s) in specs.iter().enumerate() {
                if let Some(s) = s
                    && !is_folder_name(&s.name)
                {
                    c.fail(
                        &format!("models[{i}].name"),
                        format!(
                            "`{}` must be non-empty, use only letters, digits, `_`, `-`, `.`, and not be dots alone (it names a folder of work/)",
                            s.name
                        ),
                    );
                }
                if let Some(s) = s
                    && !names.insert(s.name.clone())
                {
                    c.fail(
                        &format!("models[{i}].name"),
                        format!(
                            "`{}` appears twice; give each model its own `name:`",
                            s.name
                        ),
                    );
                }
            }
            specs.into_iter().collect::<Option<Vec<_>>>()
        }
        (m, None) => {
            model_spec(&m.clone().unwrap_or_default(), "model", input, &mut c).map(|s| vec![s])
        }
    };
    let t = &raw.train;
    if let Some(min) = t.random_resized_crop
        && !(min > 0.0 && min <= 1.0)
    {
        c.fail(
            "train.random_resized_crop",
            format!("{min}: give the smallest share of the image area to crop, in (0, 1] (0.08 on ImageNet)"),
        );
    }
    if t.epochs == 0 {
        c.fail("train.epochs", "must be at least 1");
    }
    if t.batch_size == 0 {
        c.fail("train.batch_size", "must be at least 1");
    }
    c.positive("train.lr", t.lr);
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        c.fail(
            "train.weight_decay",
            format!("{} must be >= 0", t.weight_decay),
        );
    }
    if !(0.0..1.0).contains(&t.momentum) {
        c.fail(
            "train.momentum",
            format!("{} must be in [0, 1)", t.momentum),
        );
    }
    if !(0.0..1.0).contains(&t.label_smoothing) {
        c.fail(
            "train.label_smoothing",
            format!("{} must be in [0, 1)", t.label_smoothing),
        );
    }
    let optimizer = c.choice(
        "train.optimizer",
        &t.optimizer,
        &[("adam", 0), ("adamw", 1), ("sgd", 2)],
    );
    let optimizer = optimizer.map(|o| match o {
        0 => OptimizerSpec::Adam {
            weight_decay: t.weight_decay,
        },
        1 => OptimizerSpec::AdamW {
            weight_decay: t.weight_decay,
        },
        _ => OptimizerSpec::Sgd {
            momentum: t.momentum,
            weight_decay: t.weight_decay,
        },
    });
    let schedule = c.choice(
        "train.schedule",
        &t.schedule,
        &[("constant", 0), ("cosine", 1), ("step", 2)],
    );
    if t.warmup_epochs >= t.epochs.max(1) {
        c.fail(
            "train.warmup_epochs",
            format!(
                "{} warm-up epochs leave no training at the peak rate in {} epochs; use fewer",
                t.warmup_epochs, t.epochs
            ),
        );
    }
    if schedule == Some(2) {
        if t.step_epochs == 0 {
            c.fail("train.step_epochs", "must be at least 1");
        }
        if !(t.step_gamma > 0.0 && t.step_gamma <= 1.0) {
            c.fail(
                "train.step_gamma",
                format!("{} must be in (0, 1]", t.step_gamma),
            );
        }
    }
    let schedule = schedule.map(|s| match s {
        0 => Schedule::Constant,
        1 => Schedule::Cosine,
        _ => Schedule::Step {
            every_epochs: t.step_epochs,
            gamma: t.step_gamma,
        },
    });

    let view = c.choice(
        "dynamics.view",
        &raw.dynamics.view,
        &[("train", View::Train), ("clean", View::Clean)],
    );
    if raw.dynamics.drop_path && view == Some(View::Clean) {
        c.fail(
            "dynamics.drop_path",
            "true needs `view: train`: the clean view is an evaluation pass, without stochastic depth",
        );
    }

    let s = &raw.scoring;
    let mut methods = Vec::new();
    if s.methods.is_empty() {
        c.fail(
            "scoring.methods",
            format!("empty: list at least one of {}", score::names().join(", ")),
        );
    }
    for (i, name) in s.methods.iter().enumerate() {
        match score::find(name) {
            Ok(m) if methods.iter().any(|x: &&dyn Scorer| x.info().name == name) => {
                let _ = m;
                c.fail(
                    &format!("scoring.methods[{i}]"),
                    format!("`{name}` is listed twice"),
                );
            }
            Ok(m) => methods.push(m),
            Err(e) => c.fail(&format!("scoring.methods[{i}]"), e.to_string()),
        }
    }
    let windows = s
        .windows
        .parse()
        .map_err(|e: String| c.fail("scoring.windows", e))
        .ok();
    let uncertainty = s
        .uncertainty
        .parse()
        .map_err(|e: String| c.fail("scoring.uncertainty", e))
        .ok();
    if methods.iter().any(|m| m.info().name == "dyn_unc") {
        let needed = match windows {
            Some(score::WindowMode::ReleasedCode) => s.window + 1,
            _ => s.window,
        };
        if s.window < 2 {
            c.fail(
                "scoring.window",
                format!(
                    "{} is too short: a standard deviation needs at least 2 epochs",
                    s.window
                ),
            );
        } else if needed > t.epochs {
            c.fail("scoring.window", format!("window {} needs at least {needed} epochs of dynamics but train.epochs is {}; lower the window or train longer", s.window, t.epochs));
        }
    }
    if let Some(e) = s.el2n_epoch
        && (e == 0 || e > t.epochs)
    {
        c.fail(
            "scoring.el2n_epoch",
            format!("{e} is outside the training epochs 1..={}", t.epochs),
        );
    }

    let r = &raw.retrain;
    for (i, &p) in r.prune_ratios.iter().enumerate() {
        if let Err(e) = Amount::Prune(p).keep_fraction(&format!("prune ratio {p}")) {
            c.fail(&format!("retrain.prune_ratios[{i}]"), e.to_string());
        }
    }
    if r.seeds.is_empty() {
        c.fail("retrain.seeds", "list at least one seed, e.g. [0]");
    }
    let strategies = retrain_strategies(r, s.class_balanced, &mut c);
    let budget = c.choice(
        "retrain.budget",
        &r.budget,
        &[
            ("equal_epochs", Budget::EqualEpochs),
            ("equal_iterations", Budget::EqualIterations),
        ],
    );

    let ev = &raw.evaluation;
    if let Some(real) = &ev.real_labels {
        if !Path::new(real).is_file() {
            c.fail(
                "evaluation.real_labels",
                format!("{real} is not a file; give the path of real.json (a copy ships in the shared data folder, imagenet-real/)"),
            );
        }
        if matches!(
            dataset,
            Some(DatasetKind::FashionMnist | DatasetKind::Mnist | DatasetKind::Idx)
        ) {
            c.fail(
                "evaluation.real_labels",
                format!(
                    "ReaL labels index the 50,000 ImageNet validation images, but the test split is {}; remove the key (the results README reports ReaL as n/a)",
                    d.dataset
                ),
            );
        }
    }
    for (i, set) in ev.ood.iter().enumerate() {
        if set.name.is_empty()
            || set.name == "gaussian_noise"
            || ev.ood[..i].iter().any(|s| s.name == set.name)
        {
            c.fail(
                &format!("evaluation.ood[{i}].name"),
                format!(
                    "`{}` must be non-empty, unique and not `gaussian_noise`",
                    set.name
                ),
            );
        }
        if !Path::new(&set.path).is_dir() {
            c.fail(
                &format!("evaluation.ood[{i}].path"),
                match dataset {
                    Some(DatasetKind::ImageFolder) => format!(
                        "{} is not a folder; give a folder of JPEG/PNG images (any depth)",
                        set.path
                    ),
                    _ => format!(
                        "{} is not a folder; give the folder holding its t10k-images-idx3-ubyte(.gz)",
                        set.path
                    ),
                },
            );
        }
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let (
        Some(backend),
        Some(dataset),
        Some(models),
        Some(optimizer),
        Some(schedule),
        Some(view),
        Some(windows),
        Some(uncertainty),
        Some(budget),
        Some(on_bad_image),
        Some(loader),
    ) = (
        backend,
        dataset,
        models,
        optimizer,
        schedule,
        view,
        windows,
        uncertainty,
        budget,
        on_bad_image,
        loader,
    )
    else {
        unreachable!("every None above recorded a problem");
    };
    let mut seen = std::collections::BTreeSet::new();
    let prune_ratios = r
        .prune_ratios
        .iter()
        .copied()
        .filter(|p| seen.insert(p.to_bits()))
        .collect();
    Ok(Experiment {
        name: name.clone(),
        seed: raw.seed,
        backend,
        devices: raw.devices,
        data: DataSpec {
            dataset,
            path: PathBuf::from(&d.path),
            subset: d.subset,
            test_subset: d.test_subset,
            image_size,
            train_list: d.train_list.as_ref().map(PathBuf::from),
            val_list: d.val_list.as_ref().map(PathBuf::from),
            on_bad_image,
            loader,
            streaming,
        },
        models,
        train: TrainSpec {
            epochs: t.epochs,
            batch_size: t.batch_size,
            lr: t.lr,
            optimizer,
            schedule,
            warmup_epochs: t.warmup_epochs,
            label_smoothing: t.label_smoothing as f32,
            augment: Augment {
                crop_padding: t.crop_padding,
                resized_crop: t.random_resized_crop,
                flip: t.flip,
            },
            max_steps: None,
        },
        view,
        record_drop_path: raw.dynamics.drop_path,
        methods,
        score_params: ScoreParams {
            window: s.window,
            windows,
            seed: raw.seed,
            el2n_epoch: s.el2n_epoch,
            uncertainty,
        },
        class_balanced: s.class_balanced,
        retrain: RetrainSpec {
            prune_ratios,
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
        },
        ood_sets: ev
            .ood
            .iter()
            .map(|s| (s.name.clone(), PathBuf::from(&s.path)))
            .collect(),
        gaussian_noise: ev.gaussian_noise,
        real_labels: ev.real_labels.as_ref().map(PathBuf::from),
        finetune,
        results_dir: Path::new(&raw.output.dir).join(&name),
        resolved: RawExperiment {
            model: raw
                .model
                .clone()
                .or_else(|| raw.models.is_none().then(raw::RawModel::default)),
            ..raw
        },
    })
}

/// `finetune:` validated as its own experiment (its `data:` and `train:` in place of the
/// experiment's, so every rule and default is the same), its problems reported under
/// `finetune.`; the images must have the experiment's shape.
fn finetune_spec(
    raw: &RawExperiment,
    ft: raw::RawFinetune,
    stem: &str,
    c: &mut Checker,
) -> Option<Finetune> {
    let kind = |d: &raw::RawData| {
        DATASETS
            .iter()
            .find(|(name, _)| *name == d.dataset)
            .map(|(_, k)| *k)
    };
    let shape = |d: &raw::RawData| {
        kind(d).map(|k| {
            let s = k.input_shape(d.image_size.unwrap_or(224));
            (s.height, s.width, s.channels)
        })
    };
    if let (Some(a), Some(b)) = (shape(&raw.data), shape(&ft.data))
        && a != b
    {
        c.fail(
            "finetune.data",
            format!(
                "its images are {}x{}x{} but the experiment's are {}x{}x{}; fine-tuning needs the same input shape (set finetune.data.image_size, or use data of the same kind)",
                b.0, b.1, b.2, a.0, a.1, a.2
            ),
        );
        return None;
    }
    // The experiment's models (their shape must suit these images), these data and training,
    // and nothing that ties training to scoring (a method that needs no epochs).
    let sub = RawExperiment {
        name: raw.name.clone(),
        backend: raw.backend.clone(),
        model: raw.model.clone(),
        models: raw.models.clone(),
        data: ft.data,
        train: ft.train,
        scoring: raw::RawScoring {
            methods: vec!["random".into()],
            ..raw::RawScoring::default()
        },
        ..RawExperiment::default()
    };
    match validate(sub, stem) {
        Ok(e) => Some(Finetune {
            data: e.data,
            train: e.train,
        }),
        Err(problems) => {
            let own = |p: &Problem| p.path.starts_with("data") || p.path.starts_with("train");
            // The experiment's other sections report their own problems; should none of
            // finetune's own be among these, say all, so that nothing is dropped silently.
            let any_own = problems.iter().any(own);
            for p in problems.into_iter().filter(|p| own(p) || !any_own) {
                c.fail(&format!("finetune.{}", p.path), p.message);
            }
            None
        }
    }
}

/// One model section (at YAML path `at`): the preset, then each override the family
/// accepts, then the shape checked against the input (when the dataset is known).
fn model_spec(
    m: &raw::RawModel,
    at: &str,
    input: Option<InputShape>,
    c: &mut Checker,
) -> Option<ModelSpec> {
    let Some(mut spec) = ModelSpec::preset(&m.arch) else {
        let names: Vec<_> = crate::train::model::PRESETS
            .iter()
            .map(|p| p.name)
            .collect();
        c.fail(
            &format!("{at}.arch"),
            format!(
                "unknown model `{}`; available: {} (`dynunc models` lists them with their sizes)",
                m.arch,
                names.join(", ")
            ),
        );
        return None;
    };
    let family = spec.arch.family();
    let not_for = |key: &str, c: &mut Checker| {
        c.fail(
            &format!("{at}.{key}"),
            format!(
                "does not apply to {family} models (model.arch: {}); remove it",
                m.arch
            ),
        );
    };
    match &mut spec.arch {
        Arch::Mlp { hidden } | Arch::Cnn { hidden } => {
            if let Some(h) = m.hidden {
                *hidden = h;
            }
        }
        _ if m.hidden.is_some() => not_for("hidden", c),
        _ => {}
    }
    match &mut spec.arch {
        Arch::ResNet(r) => {
            if let Some(s) = &m.stem {
                let choice = c.choice(
                    &format!("{at}.stem"),
                    s,
                    &[("imagenet", Stem::ImageNet), ("small", Stem::Small)],
                );
                if let Some(s) = choice {
                    r.stem = s;
                }
            }
            if let Some(b) = &m.block {
                let choice = c.choice(
                    &format!("{at}.block"),
                    b,
                    &[
                        ("basic", BlockKind::Basic),
                        ("bottleneck", BlockKind::Bottleneck),
                    ],
                );
                if let Some(b) = choice {
                    r.block = b;
                }
            }
        }
        _ => {
            if m.stem.is_some() {
                not_for("stem", c);
            }
            if m.block.is_some() {
                not_for("block", c);
            }
        }
    }
    let stages = match &mut spec.arch {
        Arch::ResNet(r) => Some((&mut r.depths, &mut r.widths)),
        Arch::ConvNeXt(r) => Some((&mut r.depths, &mut r.widths)),
        Arch::Swin(r) => Some((&mut r.depths, &mut r.widths)),
        _ => None,
    };
    match stages {
        Some((depths, widths)) => {
            if let Some(d) = &m.depths {
                depths.clone_from(d);
            }
            if let Some(w) = &m.widths {
                widths.clone_from(w);
            }
        }
        None => {
            if m.depths.is_some() {
                not_for("depths", c);
            }
            if m.widths.is_some() {
                not_for("widths", c);
            }
        }
    }
    match &mut spec.arch {
        Arch::ConvNeXt(r) => {
            if let Some(p) = m.patch_size {
                r.patch_size = p;
            }
            if let Some(d) = m.drop_path {
                r.drop_path = d;
            }
        }
        Arch::Swin(r) => {
            if let Some(p) = m.patch_size {
                r.patch_size = p;
            }
            if let Some(d) = m.drop_path {
                r.drop_path = d;
            }
        }
        _ => {
            if m.patch_size.is_some() {
                not_for("patch_size", c);
            }
            if m.drop_path.is_some() {
                not_for("drop_path", c);
            }
        }
    }
    match &mut spec.arch {
        Arch::Swin(r) => {
            if let Some(h) = &m.heads {
                r.heads.clone_from(h);
            }
            if let Some(w) = m.window_size {
                r.window_size = w;
            }
        }
        _ => {
            if m.heads.is_some() {
                not_for("heads", c);
            }
            if m.window_size.is_some() {
                not_for("window_size", c);
            }
        }
    }
    if let Some(n) = &m.name {
        if n.is_empty() || n.contains(['/', '\\', ',']) {
            c.fail(
                &format!("{at}.name"),
                format!("`{n}`: give a non-empty name without '/', '\\' or ','"),
            );
        }
        spec.name.clone_from(n);
    }
    let before = c.problems.len();
    if let Some(input) = input {
        for (key, message) in spec.check(input) {
            c.fail(
                &format!("{at}.{key}"),
                format!(
                    "{message} (input {}x{}x{})",
                    input.channels, input.height, input.width
                ),
            );
        }
    }
    (c.problems.len() == before).then_some(spec)
}
