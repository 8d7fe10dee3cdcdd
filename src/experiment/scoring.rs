//! Step 1-2 of an experiment: the scoring run (training on the full set while recording
//! dynamics) and the scores of every method.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::dynamics::EpochSource;
use crate::dynamics::store::StoreReader;
use crate::report::{ArchRow, ScoredFromRow, read_arch_rows};
use crate::score::prefix::{Prefix, Variant};
use crate::score::rows::ScoreRow;
use crate::score::{self, ScoreParams, Scorer};
use crate::train::fit::FitOptions;
use crate::train::model::InputShape;
use crate::train::progress::Progress;
use crate::train::recorder::Recorder;
use crate::train::seed::{Stream, derive_seed};
use crate::train::{Checkpoint, Model, Observer, evaluate, fit};

/// The scores of each method (and each of its prefixes) that does not depend on the retrain
/// seed.
#[derive(Default)]
pub(crate) struct Scores {
    /// `(method variant, one score per training sample)`.
    pub by_method: Vec<(Variant, Vec<f32>)>,
    /// The epochs each part of each scoring run was scored from.
    pub scored_from: Vec<ScoredFromRow>,
}

impl Scores {
    /// The scores of the variant named `name` (`dyn_unc`, `dyn_unc@8`).
    pub(crate) fn get(&self, name: &str) -> Option<&[f32]> {
        self.by_method
            .iter()
            .find(|(s, _)| s.name() == name)
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

/// One scoring run of a model (`scoring.runs` of them, numbered from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// The model's number in the experiment.
    pub model: usize,
    /// The run's number.
    pub run: usize,
}

impl Run {
    /// The run's seed: the experiment's for the first, derived from it for the others.
    pub(crate) fn seed(self, ctx: &Ctx<'_>) -> u64 {
        match self.run {
            0 => ctx.exp.seed,
            r => derive_seed(ctx.exp.seed, Stream::ScoringRun, r as u64),
        }
    }

    /// Where the run keeps its store, row and checkpoint: the model's folder for a single
    /// run, `run-<r>/` in it (from 1) for several.
    pub(crate) fn work(self, ctx: &Ctx<'_>) -> PathBuf {
        match ctx.exp.scoring_runs {
            1 => model_work(ctx, self.model),
            _ => model_work(ctx, self.model).join(format!("run-{}", self.run + 1)),
        }
    }

    /// How logs name it: `scoring run`, with the model's name among several models and the
    /// run's number among several runs.
    fn label(self, ctx: &Ctx<'_>) -> String {
        let mut label = "scoring run".to_string();
        if ctx.exp.scoring_runs > 1 {
            label.push_str(&format!(" {}/{}", self.run + 1, ctx.exp.scoring_runs));
        }
        if ctx.exp.models.len() > 1 {
            label.push_str(&format!(" {}", ctx.exp.models[self.model].name));
        }
        label
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

/// The producer fingerprint of a scoring run's dynamics store (what decides the recording:
/// data, model, training, seed, dynamics view, the run's number; see
/// [`crate::experiment::Provenance::recording`]).
pub(crate) fn producer(ctx: &Ctx<'_>, run: Run) -> u64 {
    let name = &ctx.exp.models[run.model].name;
    let salt = match run.run {
        0 => format!("dynamics of {name}"),
        r => format!("dynamics of {name}, scoring run {}", r + 1),
    };
    ctx.provenance.recording().fingerprint(&salt)
}

/// The fields a scoring run records: the standard ones, and any other a listed method needs
/// ([`crate::dynamics::Field::Drift`] for tdds).
pub(crate) fn recorded_fields(exp: &crate::config::Experiment) -> crate::dynamics::FieldSet {
    exp.methods
        .iter()
        .fold(crate::dynamics::FieldSet::STANDARD, |set, m| {
            set.union(m.info().needs)
        })
}

/// Fails unless the store at `path` holds the dynamics of this training set, recorded by this
/// experiment (a copy from another folder, or one left before the data changed, is refused).
fn check_store(ctx: &Ctx<'_>, run: Run, path: &std::path::Path) -> Result<Option<usize>> {
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
    let want = producer(ctx, run);
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

/// Trains the run's model on the full set while recording its dynamics (unless the scoring
/// run is finished: its row written, its store complete); its row of `archs.csv`.
fn record(ctx: &Ctx<'_>, run: Run) -> Result<ArchRow> {
    let exp = ctx.exp;
    let work = run.work(ctx);
    let spec = &exp.models[run.model];
    let label = run.label(ctx);
    let store = work.join("dynamics.dyn");
    let row_path = work.join("scoring_run.csv");
    let checkpoint = Checkpoint::new(work.join("checkpoint-scoring"));
    let recorded = check_store(ctx, run, &store)?;
    // The row is written last: with it and a complete store the run is finished.
    let row = read_arch_rows(&row_path)
        .ok()
        .and_then(|r| r.into_iter().next());
    // A run the stop rule ended holds fewer epochs than planned; its row says how many.
    if let Some(row) = row
        && recorded == Some(row.epochs)
    {
        eprintln!(
            "{label}: {} epochs of dynamics already recorded in {}",
            row.epochs,
            store.display()
        );
        checkpoint
            .remove()
            .context("removing the scoring run's checkpoint")?;
        return Ok(row);
    }
    if let Some(shard) = ctx.opts.shard {
        anyhow::bail!(
            "shard {shard}: the {label} of {} is not finished in {}; run the experiment with \
             --scores-only on one machine first",
            spec.name,
            work.display()
        );
    }
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let train = &ctx.splits.train;
    let producer = match recorded {
        Some(_) if ctx.legacy => StoreReader::open(&store)?.producer(),
        _ => producer(ctx, run),
    };
    let mut recorder = Recorder::open_for(
        &store,
        train.labels(),
        input_shape(ctx).classes,
        recorded_fields(ctx.exp),
        producer,
    )?;
    let mut progress = Progress::new(ctx.opts.log_epochs);
    let start_epoch = checkpoint.epochs_done()?.unwrap_or(0);
    let seed = run.seed(ctx);
    let opts = FitOptions::new(exp.train_of(run.model), ctx.norm, label.clone())
        .seed(seed)
        .recording(exp.view, exp.record_train_mode)
        .checkpoint(checkpoint.clone())
        .replicas(ctx.autodiff_replicas());
    let started = std::time::Instant::now();
    let mut watch = exp
        .stop
        .filter(|_| exp.stop_ends_run)
        .map(|rule| super::stop::StopWatch::new(rule, &exp.score_params, store.clone()));
    let mut observers: Vec<&mut dyn Observer> = vec![&mut recorder, &mut progress];
    if let Some(w) = &mut watch {
        observers.push(w);
    }
    let net = fit(
        new_model(ctx, run.model, seed),
        train,
        &opts,
        &ctx.device.clone().autodiff(),
        &mut observers,
    )?;
    drop(observers);
    let seconds = started.elapsed().as_secs_f64();
    let epochs = recorder.epochs();
    let (acc, _) = evaluate(
        &burn::module::Module::valid(&net),
        &ctx.splits.test,
        &ctx.splits.test_columns,
        ctx.norm,
        &ctx.device,
    )?;
    eprintln!(
        "{label}: {epochs} epochs recorded for {} samples in {:.1}s; its test accuracy {:.2}%",
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
        epochs,
        seconds_per_epoch: seconds / epochs.saturating_sub(start_epoch).max(1) as f64,
        test_acc: acc,
    };
    crate::atomic::write_csv(&row_path, std::slice::from_ref(&row))?;
    checkpoint
        .remove()
        .context("removing the scoring run's checkpoint")?;
    Ok(row)
}

/// Records the dynamics of model number `model` in each of its scoring runs (unless already
/// recorded) and scores every non-seeded method (computed afresh from the stores, one pass
/// each); with several runs each score is the mean over them, and the model's row of
/// `archs.csv` gives the mean test accuracy and seconds per epoch.
pub(crate) fn scores(ctx: &Ctx<'_>, model: usize) -> Result<(Scores, ArchRow)> {
    let runs: Vec<Run> = (0..ctx.exp.scoring_runs)
        .map(|run| Run { model, run })
        .collect();
    let mut rows = Vec::new();
    for &run in &runs {
        rows.push(record(ctx, run)?);
    }
    let row = mean_row(rows);
    let dir = model_work(ctx, model).join("scores");
    let n = ctx.splits.train.len();
    let mut methods: Vec<&'static dyn Scorer> = ctx
        .exp
        .methods
        .iter()
        .copied()
        .filter(|m| !seeded(*m))
        .collect();
    // A strategy that weighs samples by their confidence (dual_beta) reads it from this pass.
    let confidence: &'static dyn Scorer = &score::baselines::confidence::Confidence;
    if ctx
        .exp
        .retrain
        .strategies
        .iter()
        .any(|s| s.needs_confidence())
        && !methods
            .iter()
            .any(|m| m.info().name == confidence.info().name)
    {
        methods.push(confidence);
    }
    if methods.is_empty() {
        return Ok((
            Scores {
                by_method: Vec::new(),
                scored_from: Vec::new(),
            },
            row,
        ));
    }
    // Scores are always computed from the (checked) stores, never read back: a scores file
    // cannot say what produced it, and one pass over a store is cheap beside training.
    let started = std::time::Instant::now();
    let mut parts: Vec<Option<Prefix>> = vec![None];
    parts.extend(ctx.exp.prefixes.iter().map(|&p| Some(p)));
    let mut by_method = Vec::new();
    let mut scored_from = Vec::new();
    for part in parts {
        // The prefixes score the methods that read the dynamics (not the confidence helper).
        let some: Vec<&'static dyn Scorer> = match part {
            None => methods.clone(),
            Some(_) => ctx
                .exp
                .methods
                .iter()
                .copied()
                .filter(|m| !seeded(*m))
                .collect(),
        };
        let (means, rows) = mean_scores(ctx, &runs, &some, part)?;
        scored_from.extend(rows);
        for (m, s) in some.into_iter().zip(means) {
            let variant = Variant {
                scorer: m,
                prefix: part,
            };
            if ctx.opts.shard.is_none() {
                write_scores(&dir.join(format!("{}.csv", variant.name())), &s, ctx)?;
            }
            by_method.push((variant, s));
        }
    }
    let names: Vec<_> = by_method.iter().map(|(v, _)| v.name()).collect();
    eprintln!(
        "scored {n} samples with {}{} in {:.2}s -> {}",
        names.join(", "),
        match runs.len() {
            1 => String::new(),
            k => format!(" (mean over {k} scoring runs)"),
        },
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok((
        Scores {
            by_method,
            scored_from,
        },
        row,
    ))
}

/// Each of `methods` scored from `part` of every run (every epoch for `None`), averaged over
/// the runs; with the rows saying how many epochs each run's part held.
fn mean_scores(
    ctx: &Ctx<'_>,
    runs: &[Run],
    methods: &[&'static dyn Scorer],
    part: Option<Prefix>,
) -> Result<(Vec<Vec<f32>>, Vec<ScoredFromRow>)> {
    let n = ctx.splits.train.len();
    let mut sums = vec![vec![0f64; n]; methods.len()];
    let mut rows = Vec::new();
    for &run in runs {
        let store = run.work(ctx).join("dynamics.dyn");
        let mut reader = StoreReader::open(&store)?;
        let recorded = reader.shape().epochs;
        // Why the stop rule fired, replayed on the store (the same rule and epochs as when it
        // ended the run, if it did).
        let replay = match part {
            Some(Prefix::Stop) => true,
            None => ctx.exp.stop_ends_run,
            Some(Prefix::Epochs(_)) => false,
        };
        let fired = match &ctx.exp.stop {
            Some(rule) if replay => score::stop::replay(&mut reader, *rule, &ctx.exp.score_params)
                .with_context(|| format!("replaying scoring.stop on {}", store.display()))?
                .map(|f| (f.epochs, f.reason(rule))),
            _ => None,
        };
        let (epochs_used, why) = match part {
            None => (
                ctx.exp.score_params.epochs_used.unwrap_or(recorded),
                match ctx.exp.stop_ends_run {
                    true => fired
                        .map(|f| f.1)
                        .unwrap_or_else(|| "never fired: every epoch recorded".into()),
                    false => String::new(),
                },
            ),
            Some(Prefix::Epochs(k)) => (k, String::new()),
            Some(Prefix::Stop) => match fired {
                Some((k, why)) => (k, why),
                None => (recorded, "never fired: scored from every epoch".into()),
            },
        };
        let params = ScoreParams {
            epochs_used: Some(epochs_used),
            ..ctx.exp.score_params.clone()
        };
        let scores = score::score_all(&mut reader, methods, &params)
            .with_context(|| format!("scoring {}", store.display()))?;
        for (sum, s) in sums.iter_mut().zip(scores) {
            for (a, b) in sum.iter_mut().zip(s) {
                *a += f64::from(b);
            }
        }
        rows.push(ScoredFromRow {
            arch: ctx.exp.models[run.model].name.clone(),
            run: run.run + 1,
            part: match part {
                None => "all".into(),
                Some(p) => p.suffix()[1..].to_string(),
            },
            epochs_used,
            epochs_planned: ctx.exp.train_of(run.model).epochs,
            stop: why,
        });
    }
    // One run: the scores as computed (the division by 1 is exact).
    let means = sums
        .into_iter()
        .map(|sum| sum.iter().map(|v| (v / runs.len() as f64) as f32).collect())
        .collect();
    Ok((means, rows))
}

/// Writes one method's scores as `scores/<name>.csv`.
fn write_scores(path: &std::path::Path, scores: &[f32], ctx: &Ctx<'_>) -> Result<()> {
    let labels = ctx.splits.train.labels();
    let rows: Vec<ScoreRow> = scores
        .iter()
        .enumerate()
        .map(|(index, &score)| ScoreRow {
            index,
            label: Some(labels[index]),
            score,
        })
        .collect();
    crate::atomic::write_csv(path, &rows)?;
    Ok(())
}

/// How early model number `model`'s scores settle (its first scoring run's store), at the
/// experiment's prune ratios; see [`crate::score::stability`].
pub(crate) fn stability(
    ctx: &Ctx<'_>,
    model: usize,
) -> Result<Vec<crate::score::stability::StabilityRow>> {
    let store = Run { model, run: 0 }.work(ctx).join("dynamics.dyn");
    let mut reader = StoreReader::open(&store)?;
    let started = std::time::Instant::now();
    let rows = score::stability::stability(
        &mut reader,
        &ctx.exp.methods,
        &ctx.exp.score_params,
        &ctx.exp.retrain.prune_ratios,
    )
    .with_context(|| format!("ranking stability of {}", store.display()))?;
    eprintln!(
        "ranking stability of {} from {} in {:.1}s",
        ctx.exp.models[model].name,
        store.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(rows)
}

/// The model's row of `archs.csv` from its runs' rows: the first run's, with the test
/// accuracy and seconds per epoch averaged over the runs.
fn mean_row(rows: Vec<ArchRow>) -> ArchRow {
    let k = rows.len() as f64;
    let acc = rows.iter().map(|r| r.test_acc).sum::<f64>() / k;
    let seconds = rows.iter().map(|r| r.seconds_per_epoch).sum::<f64>() / k;
    let first = rows.into_iter().next().expect("at least one scoring run");
    match k {
        1.0 => first,
        _ => ArchRow {
            test_acc: acc,
            seconds_per_epoch: seconds,
            ..first
        },
    }
}
