//! The whole experiment from one file: load data, train the scoring run while recording
//! dynamics, score every method, retrain on each pruned subset, write the results.
//!
//! Everything a run produces goes under `<output.dir>/<name>/`: `main.csv`, `main.md`,
//! `experiment.resolved.yaml` and `run_info.yaml` (kept), and `work/` (the dynamics store,
//! scores, checkpoints and finished rows; ignored by git). Every step is resumable: run the same
//! command again after an interruption and it continues from the last finished epoch or retrain.

mod epoch_eval;
mod export;
pub mod lock;
pub mod plan;
pub mod provenance;
mod retrain;
mod scoring;
pub mod shard;
mod stop;

pub use provenance::Provenance;
pub use shard::Shard;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use burn::prelude::Device;
use serde::Serialize;

use crate::config::{self, Experiment};
use crate::data::augment::Normalize;
use crate::data::{self, Splits};
use crate::report;
use crate::train::backend;

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print one line per epoch (besides the progress bars).
    pub log_epochs: bool,
    /// Stop after the scoring runs and scores (the step that stays on one machine).
    pub scores_only: bool,
    /// Train only this share of the retrains, into `shards/i-of-n/`.
    pub shard: Option<Shard>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Results folder.
    pub dir: PathBuf,
    /// Every row of `main.csv`.
    pub rows: Vec<report::MainRow>,
    /// The Markdown table.
    pub table: String,
}

/// The state shared by the steps of a run.
pub(crate) struct Ctx<'a> {
    pub exp: &'a Experiment,
    pub splits: Splits,
    pub norm: Normalize,
    pub device: Device,
    pub work: PathBuf,
    /// Where retrains keep their checkpoints and finished rows (`work/`, or the shard's).
    pub retrain_work: PathBuf,
    pub opts: RunOptions,
    /// Out-of-distribution sets, by name.
    pub ood: Vec<(String, crate::data::Images)>,
    /// ImageNet-ReaL labels, when the experiment asks for them.
    pub real: Option<crate::eval::real::RealLabels>,
    /// The fine-tuning data, when the experiment fine-tunes.
    pub finetune: Option<FinetuneData>,
    /// Devices beside `device` that every batch is split across (`devices:`).
    pub replicas: Vec<Device>,
    /// What produced this run's work folder.
    pub provenance: Provenance,
    /// The work folder predates provenance files (its experiment matched): its dynamics
    /// stores, which name no producer, are adopted.
    pub legacy: bool,
}

impl Ctx<'_> {
    /// The extra devices, with autodiff, for [`crate::train::fit::FitOptions::replicas`].
    pub fn autodiff_replicas(&self) -> Vec<Device> {
        self.replicas.iter().map(|d| d.clone().autodiff()).collect()
    }
}

/// The second dataset every retrained model is fine-tuned on (`finetune:`).
pub struct FinetuneData {
    /// Its splits.
    pub splits: Splits,
    /// Its normalisation.
    pub norm: Normalize,
    /// Its classes (the new classifier's outputs).
    pub classes: usize,
    /// `finetune.head: mapped`: the pre-trained classifier's row of each of its classes.
    pub head_rows: Option<Vec<usize>>,
    /// `finetune.real_labels`, loaded.
    pub real: Option<crate::eval::real::RealLabels>,
}

/// What was loaded, for the log: counts, shape, classes, how images are held, where from.
fn splits_line(splits: &Splits, path: &Path) -> String {
    let (channels, height, width) = splits.train.shape();
    format!(
        "{} training and {} test images of {height}x{width}x{channels}, {} classes, {}, from {}",
        splits.train.len(),
        splits.test.len(),
        splits.train.classes(),
        splits.train.describe(),
        path.display()
    ) + &match splits.test_columns.len() {
        0 => String::new(),
        n => format!(
            "; evaluated on the outputs of the {n} classes of its validation folder (matched to training classes by folder name)"
        ),
    }
}

/// Loads the fine-tuning data and checks its images have the shape the models take.
fn load_finetune(exp: &Experiment, pre: &Splits) -> Result<Option<(FinetuneData, Skipped)>> {
    let Some(ft) = &exp.finetune else {
        return Ok(None);
    };
    let train = &pre.train;
    let splits = data::load(&ft.data, exp.seed).context("finetune.data")?;
    if splits.train.shape() != train.shape() {
        let ((c, h, w), (fc, fh, fw)) = (train.shape(), splits.train.shape());
        bail!(
            "finetune.data ({}): images are {fh}x{fw}x{fc} but the models take {h}x{w}x{c}; give finetune.data.image_size {h}",
            ft.data.path.display()
        );
    }
    eprintln!("fine-tuning data: {}", splits_line(&splits, &ft.data.path));
    let skipped = splits.skipped.clone();
    Ok(Some((
        FinetuneData {
            norm: ft.data.format.normalisation(&splits),
            classes: splits.train.classes().max(splits.test.classes()),
            real: ft
                .real_labels
                .as_deref()
                .map(|path| load_real(path, &splits, "finetune.real_labels"))
                .transpose()?,
            head_rows: match ft.head {
                crate::config::FinetuneHead::Fresh => None,
                crate::config::FinetuneHead::Mapped => {
                    Some(mapped_rows(&pre.class_names, &splits.class_names)?)
                }
            },
            splits,
        },
        skipped,
    )))
}

/// For `finetune.head: mapped`: the pre-training class of each fine-tuning class, by name.
fn mapped_rows(pre: &[String], fine: &[String]) -> Result<Vec<usize>> {
    data::match_names(pre, fine).map_err(|(missing, first)| {
        anyhow::anyhow!(
            "finetune.head: mapped: {missing} of the fine-tuning data's {} classes are not among the {} pre-training classes (the first: `{first}`); classes are matched by folder name (ImageNet-1K's WordNet ids among ImageNet-21K's), so give both datasets class folders named alike, or set finetune.head: fresh",
            fine.len(),
            pre.len()
        )
    })
}

/// What `run_info.yaml` records about how a results folder was made (the fields `report` uses).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RecordedRun {
    /// The command line.
    pub command: String,
    /// The git commit.
    pub commit: String,
    /// The backend sentence.
    pub backend: String,
}

/// Reads `run_info.yaml` of a results folder, if it is there and readable.
pub fn read_run_info(dir: &Path) -> Option<RecordedRun> {
    let text = std::fs::read_to_string(dir.join("run_info.yaml")).ok()?;
    serde_saphyr::from_str(&text).ok()
}

#[derive(Serialize)]
struct RunInfo {
    experiment: String,
    dynunc_version: String,
    commit: String,
    backend: String,
    scoring_seed: u64,
    retrain_seeds: Vec<u64>,
    train_samples: usize,
    test_samples: usize,
    classes: usize,
    started_unix: u64,
    command: String,
}

/// The git commit of the working directory, with `-dirty` when tracked files outside
/// `results/` (which runs rewrite themselves) have changes.
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(out) => {
            let mut c = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if run(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)results",
            ])
            .is_some_and(|o| !o.stdout.is_empty())
            {
                c.push_str("-dirty");
            }
            c
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// Unreadable files left out, with the reason.
type Skipped = Vec<(std::path::PathBuf, String)>;

/// Loads the experiment's OOD sets (in the data's format) and checks each has the training
/// images' shape.
fn load_ood(
    exp: &Experiment,
    train: &data::Images,
) -> Result<(Vec<(String, data::Images)>, Skipped)> {
    let mut sets = Vec::new();
    let mut skipped = Vec::new();
    for (name, path) in &exp.ood_sets {
        let (set, bad) = data::load_ood(&exp.data, path, train.classes())
            .with_context(|| format!("evaluation.ood `{name}`"))?;
        skipped.extend(bad);
        let (channels, height, width) = train.shape();
        let (c, h, w) = set.shape();
        if (h, w, c) != (height, width, channels) {
            bail!(
                "evaluation.ood `{name}` ({}): images are {h}x{w}x{c} but the training images are {height}x{width}x{channels}; OOD images must have the training shape",
                path.display(),
            );
        }
        sets.push((name.clone(), set));
    }
    if exp.gaussian_noise > 0 {
        let seed =
            crate::train::seed::derive_seed(exp.seed, crate::train::seed::Stream::OodNoise, 0);
        sets.push((
            "gaussian_noise".into(),
            crate::eval::ood::gaussian_noise(train, exp.gaussian_noise, seed).into(),
        ));
    }
    Ok((sets, skipped))
}

/// Where a run writes: its folder (the shard's for a shard), the scoring run's `work/`, the
/// retrains' work folder, and the lock held on the folder while the run lasts.
struct Folders {
    main: PathBuf,
    dir: PathBuf,
    work: PathBuf,
    retrain_work: PathBuf,
    _lock: lock::Lock,
}

/// Locks the run's folder (a shard writes into its own folder and lock and only reads the
/// scores) and removes the temporaries of writes a crash interrupted.
fn open_folders(exp: &Experiment, shard: Option<Shard>) -> Result<Folders> {
    let main = exp.results_dir.clone();
    let work = main.join("work");
    let folders = match shard {
        Some(shard) => {
            let dir = shard.dir(&main);
            let lock = lock::Lock::acquire(&dir)?;
            Folders {
                retrain_work: dir.join("work"),
                dir,
                main,
                work,
                _lock: lock,
            }
        }
        None => {
            let lock = lock::Lock::acquire(&main)?;
            std::fs::create_dir_all(&work)
                .map_err(|e| crate::atomic::context("creating the folder", &work, e))?;
            Folders {
                dir: main.clone(),
                retrain_work: work.clone(),
                main,
                work,
                _lock: lock,
            }
        }
    };
    // The lock says no write is live now.
    crate::atomic::remove_leftovers(&folders.dir)?;
    Ok(folders)
}

/// Checks that every artifact to be reused was produced by exactly this experiment on these
/// data, and records what this run is; returns whether the folder predates provenance files.
fn check_provenance(
    path: &Path,
    exp: &Experiment,
    f: &Folders,
    provenance: &Provenance,
    shard: Option<Shard>,
) -> Result<bool> {
    let Some(shard) = shard else {
        let resolved_path = f.main.join("experiment.resolved.yaml");
        let legacy = provenance::check_legacy(&f.work, &resolved_path, &exp.resolved)?;
        provenance.check_or_write(&f.work, "results")?;
        let resolved = serde_saphyr::to_string(&exp.resolved)
            .context("serialising the resolved experiment")?;
        crate::atomic::write(&resolved_path, resolved.as_bytes())?;
        return Ok(legacy);
    };
    match Provenance::read(&f.work)? {
        Some(old) if old == *provenance => {}
        Some(old) => bail!(
            "shard {shard}: {} holds the scoring run of a different experiment or different data; what changed (was -> now):\n  {}\nrun the shards with the file the scoring run used",
            f.main.display(),
            provenance.differences(&old).join("\n  ")
        ),
        None => bail!(
            "shard {shard}: {} holds no finished scoring run of this experiment; run \
             `dynunc run {} --scores-only` on one machine first (the shards share its \
             results folder)",
            f.main.display(),
            path.display()
        ),
    }
    provenance.check_or_write(&f.retrain_work, "retrains")?;
    Ok(false)
}

/// Writes `run_info.yaml`: what ran, where, with which seeds and data.
fn write_run_info(exp: &Experiment, splits: &Splits, why: &str, dir: &Path) -> Result<RunInfo> {
    let info = RunInfo {
        experiment: exp.name.clone(),
        dynunc_version: env!("CARGO_PKG_VERSION").into(),
        commit: git_commit(),
        backend: why.into(),
        scoring_seed: exp.seed,
        retrain_seeds: exp.retrain.seeds.clone(),
        train_samples: splits.train.len(),
        test_samples: splits.test.len(),
        classes: splits.train.classes(),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    crate::atomic::write(
        &dir.join("run_info.yaml"),
        serde_saphyr::to_string(&info)?.as_bytes(),
    )?;
    Ok(info)
}

/// The ImageNet-ReaL labels at `path` (the key `key`), checked to cover `splits`' validation
/// images.
fn load_real(path: &Path, splits: &Splits, key: &str) -> Result<crate::eval::real::RealLabels> {
    let labels = crate::eval::real::RealLabels::load(path)?;
    let val = splits.test_name_rank.iter().max().map_or(0, |&r| r + 1);
    if labels.0.len() < val {
        bail!(
            "{key}: {} has {} label lists but the validation folder has {val} images; ReaL labels belong to the 50,000 ILSVRC-2012 validation images, in file-name order",
            path.display(),
            labels.0.len()
        );
    }
    Ok(labels)
}

/// What every trained model is evaluated on besides the test split.
struct Extras {
    ood: Vec<(String, data::Images)>,
    finetune: Option<FinetuneData>,
    real: Option<crate::eval::real::RealLabels>,
}

/// Loads the OOD sets, the fine-tuning data and the ReaL labels; lists the files left out as
/// unreadable in `skipped_images.txt`.
fn load_extras(exp: &Experiment, splits: &Splits, dir: &Path) -> Result<Extras> {
    let (ood, ood_skipped) = load_ood(exp, &splits.train)?;
    let (finetune, ft_skipped) = match load_finetune(exp, splits)? {
        Some((f, s)) => (Some(f), s),
        None => (None, Vec::new()),
    };
    let skipped: Skipped = splits
        .skipped
        .iter()
        .cloned()
        .chain(ood_skipped)
        .chain(ft_skipped)
        .collect();
    if !skipped.is_empty() {
        let list: String = skipped
            .iter()
            .map(|(p, why)| format!("{}\t{why}\n", p.display()))
            .collect();
        crate::atomic::write(&dir.join("skipped_images.txt"), list.as_bytes())?;
        eprintln!(
            "data: skipped {} unreadable image(s) (data.on_bad_image: skip), listed in {}:",
            skipped.len(),
            dir.join("skipped_images.txt").display()
        );
        for (p, why) in skipped.iter().take(10) {
            eprintln!("  {}: {why}", p.display());
        }
    }
    let real = exp
        .real_labels
        .as_deref()
        .map(|path| load_real(path, splits, "evaluation.real_labels"))
        .transpose()?;
    Ok(Extras {
        ood,
        finetune,
        real,
    })
}

/// Every model's scoring run and scores; writes the example grids, the kept subsets and
/// `archs.csv` (not from a shard, which only reads them).
fn score_models(ctx: &Ctx<'_>, dir: &Path) -> Result<Vec<scoring::Scores>> {
    let several = ctx.exp.models.len() > 1;
    let mut scores = Vec::new();
    let mut arch_rows = Vec::new();
    let mut scored_from = Vec::new();
    let main = ctx.opts.shard.is_none();
    for (m, spec) in ctx.exp.models.iter().enumerate() {
        // A model outside retrain.sources only retrains: it has no scores (and none is read).
        if !ctx.exp.retrain.scores(&spec.name) {
            scores.push(scoring::Scores::default());
            continue;
        }
        let (s, row) = scoring::scores(ctx, m)?;
        let suffix = report::folder::suffix(several, &spec.name);
        if let Some(dyn_unc) = s.get("dyn_unc")
            && main
        {
            let png = dir.join(format!("examples{suffix}.png"));
            report::folder::examples_grid(
                &ctx.splits.train,
                &ctx.splits.class_names,
                dyn_unc,
                &png,
            )?;
        }
        if main {
            export::subsets(ctx, m, &s, dir)?;
        }
        if main && ctx.exp.stability {
            let rows = scoring::stability(ctx, m)?;
            crate::atomic::write_csv(&dir.join(format!("stability{suffix}.csv")), &rows)?;
        }
        arch_rows.push(row);
        scored_from.extend(s.scored_from.iter().cloned());
        scores.push(s);
    }
    if !arch_rows.is_empty() && main {
        crate::atomic::write_csv(&dir.join("archs.csv"), &arch_rows)?;
    }
    // Written when a part of a run may hold fewer epochs than the whole.
    if (ctx.exp.stop.is_some() || !ctx.exp.prefixes.is_empty()) && main {
        crate::atomic::write_csv(&dir.join("scored_from.csv"), &scored_from)?;
    }
    Ok(scores)
}

/// Runs the experiment in `path`: open its folder, load the data, score, retrain, report.
pub fn run(path: &Path, opts: RunOptions) -> Result<Outcome> {
    let exp = config::load(path)?;
    let folders = open_folders(&exp, opts.shard)?;
    let dir = folders.dir.clone();
    let (mut devices, why) = backend::select_many(exp.backend, exp.devices)?;
    let device = devices.remove(0);
    eprintln!("backend: {why}");
    let t = Instant::now();
    let splits = data::load(&exp.data, exp.seed)?;
    eprintln!(
        "data: {} ({:.1}s)",
        splits_line(&splits, &exp.data.path),
        t.elapsed().as_secs_f64()
    );
    let provenance = Provenance::new(&exp.resolved, &splits)?;
    let legacy = check_provenance(path, &exp, &folders, &provenance, opts.shard)?;
    let info = write_run_info(&exp, &splits, &why, &dir)?;
    let norm = exp.data.format.normalisation(&splits);
    let extras = load_extras(&exp, &splits, &dir)?;
    let ctx = Ctx {
        exp: &exp,
        splits,
        norm,
        device,
        work: folders.work.clone(),
        retrain_work: folders.retrain_work.clone(),
        opts,
        ood: extras.ood,
        real: extras.real,
        finetune: extras.finetune,
        replicas: devices,
        provenance,
        legacy,
    };
    let scores = score_models(&ctx, &dir)?;
    let note = format!(
        "Produced by `dynunc {}` (commit {}, backend {}).",
        path.display(),
        info.commit,
        why
    );
    if ctx.opts.scores_only {
        report::folder::write(&dir, &note)?;
        eprintln!(
            "scores written; now run the retrains: `dynunc run {} --shard I/N` for I = 1..N, then `dynunc report {}`",
            path.display(),
            dir.display()
        );
        return Ok(Outcome {
            dir,
            rows: Vec::new(),
            table: String::new(),
        });
    }
    let (rows, ood_rows) = retrain::all(&ctx, &scores)?;
    if !ood_rows.is_empty() {
        crate::atomic::write_csv(&dir.join("ood.csv"), &ood_rows)?;
    }
    if !rows.is_empty() {
        crate::atomic::write_csv(&dir.join("main.csv"), &rows)?;
    }
    if let Some(shard) = ctx.opts.shard {
        eprintln!(
            "shard {shard}: {} rows in {}; `dynunc report {}` merges the shards",
            rows.len(),
            dir.join("main.csv").display(),
            folders.main.display()
        );
        let table = report::results_markdown(&rows);
        return Ok(Outcome { dir, rows, table });
    }
    let table = report::folder::write(&dir, &note)?;
    Ok(Outcome { dir, rows, table })
}
