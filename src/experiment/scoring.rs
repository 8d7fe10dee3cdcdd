//! Step 1-2 of an experiment: the scoring run (training on the full set while recording
//! dynamics) and the scores of every method.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::dynamics::EpochSource;
use crate::dynamics::store::StoreReader;
use crate::report::{ArchRow, read_arch_rows};
use crate::score::rows::ScoreRow;
use crate::score::{self, Scorer};
use crate::train::fit::FitOptions;
use crate::train::model::InputShape;
use crate::train::progress::Progress;
use crate::train::recorder::Recorder;
use crate::train::seed::{Stream, derive_seed};
use crate::train::{Checkpoint, Model, Observer, evaluate, fit};

/// The scores of each method that does not depend on the retrain seed.
pub(crate) struct Scores {
    /// `(method, one score per training sample)`.
    pub by_method: Vec<(&'static dyn Scorer, Vec<f32>)>,
}

impl Scores {
    pub(crate) fn get(&self, name: &str) -> Option<&[f32]> {
        self.by_method
            .iter()
            .find(|(s, _)| s.info().name == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Methods whose scores depend on the retrain seed and are computed per retrain.
pub(crate) fn seeded(method: &dyn Scorer) -> bool {
    method.info().seeded
}

pub(crate) fn input_shape(ctx: &Ctx<'_>) -> InputShape {
    let (channels, height, width) = ctx.splits.train.shape();
    InputShape {
        channels,
        height,
        width,
        classes: ctx.splits.train.classes().max(ctx.splits.test.classes()),
    }
}

/// A freshly initialised model number `model` of the experiment for `seed`, on the
/// autodiff device (drawn on the host, so a seed gives the same weights on every backend).
pub(crate) fn new_model(ctx: &Ctx<'_>, model: usize, seed: u64) -> Model {
    Model::seeded(
        &ctx.exp.models[model],
        input_shape(ctx),
        derive_seed(seed, Stream::Init, 0),
        &ctx.device.clone().autodiff(),
    )
}

/// Where the scoring run of model number `model` keeps its store, scores and checkpoint:
/// `work/` itself for a single model, `work/<name>/` for several.
pub(crate) fn model_work(ctx: &Ctx<'_>, model: usize) -> PathBuf {
    match ctx.exp.models.len() {
        1 => ctx.work.clone(),
        _ => ctx.work.join(&ctx.exp.models[model].name),
    }
}

/// The producer fingerprint of model number `model`'s dynamics store (what decides the
/// recording: data, model, training, seed, dynamics view; see [`crate::experiment::Provenance::recording`]).
pub(crate) fn producer(ctx: &Ctx<'_>, model: usize) -> u64 {
    ctx.provenance
        .recording()
        .fingerprint(&format!("dynamics of {}", ctx.exp.models[model].name))
}

/// Fails unless the store at `path` holds the dynamics of this training set, recorded by this
/// experiment (a copy from another folder, or one left before the data changed, is refused).
fn check_store(ctx: &Ctx<'_>, model: usize, path: &std::path::Path) -> Result<Option<usize>> {
    let reader = match StoreReader::open(path) {
        Ok(r) => r,
        Err(crate::dynamics::DynamicsError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let train = &ctx.splits.train;
    let shape = reader.shape();
    let want = producer(ctx, model);
    let fix = "delete the results folder's work/ to record it anew";
    if shape.samples != train.len() || reader.labels() != Some(train.labels()) {
        anyhow::bail!(
            "{}: holds the dynamics of {} samples with other labels than this run's {} training samples: it belongs to another dataset or subset; {fix}",
            path.display(),
            shape.samples,
            train.len()
        );
    }
    if reader.producer() != want && !(ctx.legacy && reader.producer() == 0) {
        anyhow::bail!(
            "{}: was recorded by another experiment (producer fingerprint {:016x}, this experiment {want:016x}); {fix}",
            path.display(),
            reader.producer()
        );
    }
    Ok(Some(shape.epochs))
}

/// Trains model number `model` on the full set while recording its dynamics (unless the
/// scoring run is finished: its row written, its store complete); its row of `archs.csv`.
fn record(ctx: &Ctx<'_>, model: usize) -> Result<Option<ArchRow>> {
    let exp = ctx.exp;
    let work = model_work(ctx, model);
    let spec = &exp.models[model];
    let store = work.join("dynamics.dyn");
    let row_path = work.join("scoring_run.csv");
    let checkpoint = Checkpoint::new(work.join("checkpoint-scoring"));
    let recorded = check_store(ctx, model, &store)?;
    // The row is written last: with it and a complete store the run is finished.
    let row = read_arch_rows(&row_path)
        .ok()
        .and_then(|r| r.into_iter().next());
    if recorded == Some(exp.train.epochs)
        && let Some(row) = row
    {
        eprintln!(
            "scoring run {}: {} epochs of dynamics already recorded in {}",
            spec.name,
            exp.train.epochs,
            store.display()
        );
        checkpoint
            .remove()
            .context("removing the scoring run's checkpoint")?;
        return Ok(Some(row));
    }
    if let Some(shard) = ctx.opts.shard {
        anyhow::bail!(
            "shard {shard}: the scoring run of {} is not finished in {}; run the experiment with \
             --scores-only on one machine first",
            spec.name,
            work.display()
        );
    }
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let train = &ctx.splits.train;
    let producer = match recorded {
        Some(_) if ctx.legacy => StoreReader::open(&store)?.producer(),
        _ => producer(ctx, model),
    };
    let mut recorder =
        Recorder::open_for(&store, train.labels(), input_shape(ctx).classes, producer)?;
    let mut progress = Progress::new(ctx.opts.log_epochs);
    let start_epoch = checkpoint.epochs_done()?.unwrap_or(0);
    let label = match exp.models.len() {
        1 => "scoring run".into(),
        _ => format!("scoring run {}", spec.name),
    };
    let opts = FitOptions::new(&exp.train, ctx.norm, label)
        .seed(exp.seed)
        .recording(exp.view, exp.record_drop_path)
        .checkpoint(checkpoint.clone())
        .replicas(ctx.autodiff_replicas());
    let started = std::time::Instant::now();
    let observers: &mut [&mut dyn Observer] = &mut [&mut recorder, &mut progress];
    let net = fit(
        new_model(ctx, model, exp.seed),
        train,
        &opts,
        &ctx.device.clone().autodiff(),
        observers,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let (acc, _) = evaluate(
        &burn::module::Module::valid(&net),
        &ctx.splits.test,
        ctx.norm,
        &ctx.device,
    )?;
    eprintln!(
        "scoring run {}: {} epochs recorded for {} samples in {:.1}s; its test accuracy {:.2}%",
        spec.name,
        recorder.epochs(),
        train.len(),
        started.elapsed().as_secs_f64(),
        100.0 * acc
    );
    let row = ArchRow {
        experiment: exp.name.clone(),
        arch: spec.name.clone(),
        preset: spec.preset.clone(),
        params: net.trainable_params(),
        samples: train.len(),
        epochs: exp.train.epochs,
        seconds_per_epoch: seconds / (exp.train.epochs - start_epoch).max(1) as f64,
        test_acc: acc,
    };
    crate::atomic::write_csv(&row_path, std::slice::from_ref(&row))?;
    checkpoint
        .remove()
        .context("removing the scoring run's checkpoint")?;
    Ok(Some(row))
}

/// Records the dynamics of model number `model` (unless already recorded) and scores every
/// non-seeded method (unless already scored), in one pass over the store.
pub(crate) fn scores(ctx: &Ctx<'_>, model: usize) -> Result<(Scores, Option<ArchRow>)> {
    let arch_row = record(ctx, model)?;
    let work = model_work(ctx, model);
    let dir = work.join("scores");
    let n = ctx.splits.train.len();
    let methods: Vec<&'static dyn Scorer> = ctx
        .exp
        .methods
        .iter()
        .copied()
        .filter(|m| !seeded(*m))
        .collect();
    let path = |m: &dyn Scorer| dir.join(format!("{}.csv", m.info().name));
    // Scores are always computed from the (checked) store, never read back: a scores file
    // cannot say what produced it, and one pass over the store is cheap beside training.
    let mut by_method = Vec::new();
    if !methods.is_empty() {
        let store = work.join("dynamics.dyn");
        let mut reader = StoreReader::open(&store)?;
        let started = std::time::Instant::now();
        let scores = score::score_all(&mut reader, &methods, &ctx.exp.score_params)
            .with_context(|| format!("scoring {}", store.display()))?;
        let labels = ctx.splits.train.labels();
        for (m, s) in methods.iter().zip(scores) {
            let rows: Vec<ScoreRow> = s
                .iter()
                .enumerate()
                .map(|(index, &score)| ScoreRow {
                    index,
                    label: Some(labels[index]),
                    score,
                })
                .collect();
            if ctx.opts.shard.is_none() {
                crate::atomic::write_csv(&path(*m), &rows)?;
            }
            by_method.push((*m, s));
        }
        let names: Vec<_> = methods.iter().map(|m| m.info().name).collect();
        eprintln!(
            "scored {n} samples with {} in {:.2}s -> {}",
            names.join(", "),
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok((Scores { by_method }, arch_row))
}
