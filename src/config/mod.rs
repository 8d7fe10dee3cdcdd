//! Experiment configuration: the YAML file is parsed into [`raw`] structs, then validated into
//! an [`Experiment`], with every problem reported at once under its YAML path.
//!
//! Each section is checked by the component it configures (`data::section`,
//! `train::model::section`, `train::section`, `score::section`, `eval::section`); the
//! experiment's own `retrain:` is [`retrain`]. [`validate`] only calls them in order and joins
//! what they give.

pub mod raw;
pub mod retrain;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::data::{DataSpec, section as data_section};
use crate::eval::section as eval_section;
use crate::options::Problems;
pub use crate::options::{Problem, is_folder_name};
use crate::score::{ScoreParams, Scorer, section as score_section};
use crate::train::model::section as model_section;
use crate::train::section as train_section;
use crate::train::{BackendChoice, ModelSpec, TrainSpec, View};
pub use raw::RawExperiment;
pub use retrain::{Budget, RetrainSpec};

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
    /// Each model's training (of `models`, in order): its own `train:` over the experiment's.
    pub model_train: Vec<TrainSpec>,
    /// What the recorder sees.
    pub view: View,
    /// Whether the recorded pass is the training-mode one (`dynamics.mode: train`).
    pub record_train_mode: bool,
    /// Methods to compare.
    pub methods: Vec<&'static dyn Scorer>,
    /// Scorer options.
    pub score_params: ScoreParams,
    /// Per-class quotas instead of global selection.
    pub class_balanced: bool,
    /// Scoring runs per model, their scores averaged (`scoring.runs`).
    pub scoring_runs: usize,
    /// Whether ranking stability is written (`scoring.stability`).
    pub stability: bool,
    /// The rule that may end a scoring run early (`scoring.stop`).
    pub stop: Option<crate::score::stop::StopRule>,
    /// Whether that rule ends the run (it is replayed instead when `stop` is a prefix).
    pub stop_ends_run: bool,
    /// The parts of the run every method is also scored from (`scoring.prefixes`).
    pub prefixes: Vec<crate::score::prefix::Prefix>,
    /// Retrain settings.
    pub retrain: RetrainSpec,
    /// Out-of-distribution sets: (name, folder).
    pub ood_sets: Vec<(String, PathBuf)>,
    /// Number of Gaussian-noise OOD images (0 = none).
    pub gaussian_noise: usize,
    /// ImageNet-ReaL labels (`real.json`).
    pub real_labels: Option<PathBuf>,
    /// Test accuracy after every epoch of every retraining (`evaluation.every_epoch`).
    pub eval_every_epoch: bool,
    /// Fine-tuning of every retrained model on a second dataset.
    pub finetune: Option<Finetune>,
    /// `<output.dir>/<name>`.
    pub results_dir: PathBuf,
    /// The file as resolved, every default filled in.
    pub resolved: RawExperiment,
}

impl Experiment {
    /// The training of model `m` (of `models`): its own `train:` over the experiment's.
    pub fn train_of(&self, m: usize) -> &TrainSpec {
        &self.model_train[m]
    }
}

impl fmt::Debug for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experiment")
            .field("name", &self.name)
            .field("resolved", &self.resolved)
            .finish_non_exhaustive()
    }
}

crate::choices! {
    /// The classifier a fine-tuned model starts with.
    pub enum FinetuneHead {
        /// Newly initialised for the second dataset's classes.
        Fresh = "fresh",
        /// Each class's row copied from the pre-trained classifier's row of the class with the
        /// same name (ImageNet-21K -> 1K by WordNet id).
        Mapped = "mapped",
    }
}

/// `finetune:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Finetune {
    /// The new classifier.
    pub head: FinetuneHead,
    /// ImageNet-ReaL labels of its validation images.
    pub real_labels: Option<PathBuf>,
    /// The second dataset.
    pub data: DataSpec,
    /// Its training.
    pub train: TrainSpec,
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

/// Reads and validates an experiment file on a machine without its data (`dynunc config`): the
/// files and folders it reads that are not here come back as notes.
pub fn load_offline(path: &Path) -> Result<(Experiment, Vec<Problem>), ConfigError> {
    let (raw, file) = read(path)?;
    validate_offline(raw, &stem(path)).map_err(|problems| ConfigError::Invalid { file, problems })
}

/// The file at `path` parsed, and its name for messages.
fn read(path: &Path) -> Result<(RawExperiment, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    let raw = parse(&text).map_err(|message| ConfigError::Yaml {
        file: file.clone(),
        message,
    })?;
    Ok((raw, file))
}

/// The file's stem, which names an experiment without `name:`.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "experiment".into())
}

/// Reads and validates an experiment file.
pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
    let (raw, file) = read(path)?;
    validate(raw, &stem(path)).map_err(|problems| ConfigError::Invalid { file, problems })
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

/// Validates raw values; `stem` names the experiment when `name` is absent.
pub fn validate(raw: RawExperiment, stem: &str) -> Result<Experiment, Vec<Problem>> {
    validate_in(raw, stem, Problems::default()).map(|(exp, _)| exp)
}

/// As [`validate`], on a machine without the experiment's files: a file or folder it reads
/// that is not here is returned as a note beside the experiment, not a problem.
pub fn validate_offline(
    raw: RawExperiment,
    stem: &str,
) -> Result<(Experiment, Vec<Problem>), Vec<Problem>> {
    validate_in(raw, stem, Problems::offline())
}

fn validate_in(
    mut raw: RawExperiment,
    stem: &str,
    mut p: Problems,
) -> Result<(Experiment, Vec<Problem>), Vec<Problem>> {
    let name = raw.name.clone().unwrap_or_else(|| stem.to_owned());
    if !is_folder_name(&name) {
        p.fail("name", format!("`{name}` must be non-empty, use only letters, digits, `_`, `-`, `.`, and not be dots alone (it names the results folder inside output.dir)"));
    }
    raw.name = Some(name.clone());
    let backend = p.parse::<BackendChoice>("backend", &raw.backend);
    if raw.devices == 0 {
        p.fail("devices", "0: give at least 1");
    }
    let data = data_section::validate(&raw.data, "data", &mut p);
    let input = data.as_ref().map(|(d, _)| d.input_shape());
    let models =
        model_section::validate_all(raw.model.as_ref(), raw.models.as_deref(), input, &mut p);
    let train = train_section::validate_train(&raw.train, "train", &mut p);
    if let (Some((d, _)), Some(t)) = (&data, &train) {
        train_section::check_crop_from(t, d, "train", &mut p);
    }
    let dynamics = train_section::validate_dynamics(&raw.dynamics, &mut p);
    let (scoring, resolved_scoring) =
        score_section::validate(&raw.scoring, raw.train.epochs, raw.seed, &mut p);
    let retrain = retrain::validate(&raw.retrain, raw.scoring.class_balanced, &mut p);
    if let Some(models) = &models {
        across_sections(models, dynamics, &raw.retrain, &mut p);
    }
    let model_train = match (&models, &train, &data) {
        (Some(m), Some(t), Some((d, _))) => model_trains(&raw, m, t, d, &mut p),
        _ => None,
    };
    let format = data.as_ref().map(|(d, _)| d.format);
    let evaluation = eval_section::validate(&raw.evaluation, format, &mut p);
    let finetune = raw
        .finetune
        .as_ref()
        .and_then(|ft| finetune(ft, input, &mut p));
    let (finetune, resolved_finetune) = finetune.unzip();
    let (
        Some(backend),
        Some((data, resolved_data)),
        Some(models),
        Some(train),
        Some(model_train),
        Some((view, record_train_mode)),
        Some(retrain),
        true,
    ) = (
        backend,
        data,
        models,
        train,
        model_train,
        dynamics,
        retrain,
        p.is_empty(),
    )
    else {
        return Err(p.into_vec());
    };
    let resolved = RawExperiment {
        model: raw
            .model
            .clone()
            .or_else(|| raw.models.is_none().then(raw::RawModel::default)),
        data: resolved_data,
        scoring: resolved_scoring,
        finetune: resolved_finetune,
        ..raw
    };
    let missing = p.missing_files().to_vec();
    let exp = Experiment {
        name: name.clone(),
        seed: resolved.seed,
        backend,
        devices: resolved.devices,
        data,
        models,
        train,
        model_train,
        view,
        record_train_mode,
        methods: scoring.methods,
        score_params: scoring.params,
        class_balanced: scoring.class_balanced,
        scoring_runs: scoring.runs,
        stability: scoring.stability,
        stop: scoring.stop,
        stop_ends_run: scoring.stop_ends_run,
        prefixes: scoring.prefixes,
        retrain,
        ood_sets: evaluation.ood_sets,
        gaussian_noise: evaluation.gaussian_noise,
        real_labels: evaluation.real_labels,
        eval_every_epoch: evaluation.every_epoch,
        finetune,
        results_dir: Path::new(&resolved.output.dir).join(&name),
        resolved,
    };
    Ok((exp, missing))
}

/// The checks that need two sections: `dynamics.mode` against the models' layers, and
/// `retrain.targets` against the models' names.
fn across_sections(
    models: &[ModelSpec],
    dynamics: Option<(View, bool)>,
    retrain: &retrain::RawRetrain,
    p: &mut Problems,
) {
    if dynamics == Some((View::Clean, true)) {
        let scoring = models.iter().enumerate();
        for (i, m) in scoring.filter(|(_, m)| retrain::selects(&retrain.sources, &m.name)) {
            if matches!(m.arch, crate::train::Arch::ResNet(_)) {
                p.fail(
                "dynamics.mode",
                format!(
                    "train with `view: clean` runs the clean batch through the model in training mode, but {} (model {}) has batch norm, whose running statistics that pass would update; record it with `mode: eval`, as the official code records ResNet",
                    m.name,
                    i + 1
                ),
            );
            }
        }
    }
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    retrain::check_names("targets", &retrain.targets, &names, p);
    retrain::check_names("sources", &retrain.sources, &names, p);
}

/// Each model's training: the experiment's `train:` with the keys of the model's own `train:`
/// replacing its own, validated under the model's path. A model that scores keeps the
/// experiment's epochs (its dynamics and the scorers' windows are laid out over them).
fn model_trains(
    raw: &RawExperiment,
    models: &[ModelSpec],
    train: &TrainSpec,
    data: &DataSpec,
    p: &mut Problems,
) -> Option<Vec<TrainSpec>> {
    let raws: Vec<(String, Option<&raw::RawModel>)> = match (&raw.model, &raw.models) {
        (_, Some(list)) => list
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("models[{i}]"), Some(m)))
            .collect(),
        (m, None) => vec![("model".into(), m.as_ref())],
    };
    let mut out = Vec::new();
    for ((at, m), spec) in raws.into_iter().zip(models) {
        let Some(own) = m.and_then(|m| m.train.as_ref()) else {
            out.push(train.clone());
            continue;
        };
        let at = format!("{at}.train");
        let Some(keys) = own.as_object() else {
            p.fail(&at, "give a section of `train:` keys");
            return None;
        };
        let mut merged = serde_json::to_value(&raw.train).expect("a train section serialises");
        for (k, v) in keys {
            merged[k] = v.clone();
        }
        let t: train_section::RawTrain = match serde_json::from_value(merged) {
            Ok(t) => t,
            Err(e) => {
                p.fail(&at, format!("{e}; it takes the keys of `train:`"));
                return None;
            }
        };
        let t = train_section::validate_train(&t, &at, p)?;
        train_section::check_crop_from(&t, data, &at, p);
        if t.epochs != train.epochs && retrain::selects(&raw.retrain.sources, &spec.name) {
            p.fail(
                &format!("{at}.epochs"),
                format!(
                    "{} against train.epochs {}: a model that scores records its dynamics over the experiment's epochs; list the scoring models in retrain.sources to train {} only on their subsets with its own epochs",
                    t.epochs, train.epochs, spec.name
                ),
            );
        }
        out.push(t);
    }
    Some(out)
}

/// `finetune:`: its `data:` and `train:` checked as the experiment's are, under `finetune.`;
/// its images must have the shape of the experiment's (`input`, when known). Returns it and
/// the section as resolved.
fn finetune(
    ft: &raw::RawFinetune,
    input: Option<crate::data::InputShape>,
    p: &mut Problems,
) -> Option<(Finetune, raw::RawFinetune)> {
    let head = p.parse::<FinetuneHead>("finetune.head", &ft.head);
    let (data, resolved_data) = data_section::validate(&ft.data, "finetune.data", p)?;
    let head = head?;
    if let Some(real) = &ft.real_labels {
        crate::eval::section::check_real_labels(real, Some(data.format), "finetune.real_labels", p);
    }
    let train = train_section::validate_train(&ft.train, "finetune.train", p)?;
    train_section::check_crop_from(&train, &data, "finetune.train", p);
    let shape = |s: crate::data::InputShape| (s.height, s.width, s.channels);
    if let Some(a) = input.map(shape)
        && shape(data.input_shape()) != a
    {
        let b = shape(data.input_shape());
        p.fail(
            "finetune.data",
            format!(
                "its images are {}x{}x{} but the experiment's are {}x{}x{}; fine-tuning needs the same input shape (set finetune.data.image_size, or use data of the same kind)",
                b.0, b.1, b.2, a.0, a.1, a.2
            ),
        );
        return None;
    }
    let resolved = raw::RawFinetune {
        head: ft.head.clone(),
        real_labels: ft.real_labels.clone(),
        data: resolved_data,
        train: ft.train.clone(),
    };
    let real_labels = ft.real_labels.as_ref().map(PathBuf::from);
    Some((
        Finetune {
            head,
            real_labels,
            data,
            train,
        },
        resolved,
    ))
}
