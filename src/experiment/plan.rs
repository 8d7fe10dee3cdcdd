//! `--dry-run`: what an experiment file would do, without doing it. Validates the file, reads
//! the data (images and classes counted), lists the runs and their optimizer steps, the size
//! of each dynamics store, and estimates the time from a short measured probe per model.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;

use crate::config::{Budget, Experiment};
use crate::data;
use crate::dynamics::Field;
use crate::dynamics::store::store_size;
use crate::train::Observer;
use crate::train::backend;
use crate::train::fit::{FitOptions, fit};
use crate::train::model::{InputShape, Model};

/// Training steps timed per model (after one untimed warm-up step).
const PROBE_STEPS: usize = 3;

/// The plan of `exp` (loaded from `path`) as text.
pub fn dry_run(path: &Path, exp: &Experiment) -> Result<String> {
    let mut out = String::new();
    let (device, why) = backend::select(exp.backend)?;
    let t = Instant::now();
    let (n, n_test, input) = data::describe(&exp.data, exp.seed)?;
    let _ = writeln!(
        out,
        "{}: valid experiment `{}`\nbackend: {why}\ndata: {} training and {} test images of {}x{}x{}, {} classes in {} ({:.1}s to read)",
        path.display(),
        exp.name,
        n,
        n_test,
        input.height,
        input.width,
        input.channels,
        input.classes,
        exp.data.path.display(),
        t.elapsed().as_secs_f64()
    );
    if let Some(size) = exp.data.format.published_size(&exp.data.options)
        && (size.train, size.classes) != (n, input.classes)
    {
        let _ = writeln!(
            out,
            "note: the published dataset has {} training images of {} classes; this copy differs (a subset, or an incomplete copy?)",
            size.train, size.classes
        );
    }
    if let Some(line) = exp.data.format.holding(&exp.data, n + n_test)? {
        let _ = writeln!(out, "{line}");
    }
    let finetune = finetune_plan(exp, &mut out)?;
    plan_runs(exp, (n, input), finetune, (&device, true), &mut out)?;
    Ok(out)
}

/// The plan of `exp` on a machine without (some of) the files it reads, `missing` naming
/// them: every part that does not need them, sized by the published dataset's size.
pub fn dry_run_offline(
    path: &Path,
    exp: &Experiment,
    missing: &[crate::options::Problem],
) -> Result<String> {
    let mut out = String::new();
    let (device, why) = backend::select(exp.backend)?;
    let mut absent: Vec<(String, String)> = Vec::new();
    for (at, spec) in std::iter::once(("data.path", &exp.data)).chain(
        exp.finetune
            .iter()
            .map(|ft| ("finetune.data.path", &ft.data)),
    ) {
        if !spec.path.is_dir() {
            absent.push((
                at.into(),
                format!(
                    "{} is not a folder; {}",
                    spec.path.display(),
                    spec.format.install_hint()
                ),
            ));
        }
    }
    absent.extend(missing.iter().map(|m| (m.path.clone(), m.message.clone())));
    let _ = writeln!(
        out,
        "{}: valid experiment `{}`, planned without its data: {} file(s) it reads are not on this machine (a run needs them):",
        path.display(),
        exp.name,
        absent.len()
    );
    for (at, message) in &absent {
        let _ = writeln!(out, "  {at}: {message}");
    }
    let _ = writeln!(out, "backend: {why}");
    let shape = exp.data.input_shape();
    let Some(size) = exp.data.format.published_size(&exp.data.options) else {
        let _ = writeln!(
            out,
            "data: the size of the {} data in {} is unknown without it; give data.expected_images and data.expected_classes (the published dataset's) to plan the steps, stores and time",
            exp.data.format.name(),
            exp.data.path.display()
        );
        return Ok(out);
    };
    let n = exp.data.subset.unwrap_or(size.train).min(size.train);
    let _ = writeln!(
        out,
        "data: planned at the published size of {}: {n} training images{} of {}x{}x{}, {} classes (not on this machine: {})",
        exp.data.format.name(),
        size.test
            .map_or(String::new(), |t| format!(" and {t} test images")),
        shape.height,
        shape.width,
        shape.channels,
        size.classes,
        exp.data.path.display()
    );
    let finetune = match &exp.finetune {
        Some(ft) if !ft.data.path.is_dir() => {
            let _ = writeln!(
                out,
                "fine-tuning: its data ({}) is not on this machine; not planned",
                ft.data.path.display()
            );
            None
        }
        _ => finetune_plan(exp, &mut out)?,
    };
    let input = InputShape {
        classes: size.classes,
        ..shape
    };
    plan_runs(exp, (n, input), finetune, (&device, false), &mut out)?;
    Ok(out)
}

/// The runs of `exp` on `n` training images of shape `input`: per model the probe, steps,
/// store and time, then the totals and the cost in sample passes.
/// Without `timed` (no data here: this is likely not the machine that trains), no probe runs
/// and no time is estimated.
fn plan_runs(
    exp: &Experiment,
    (n, input): (usize, InputShape),
    finetune: Option<(usize, usize)>,
    (device, timed): (&Device, bool),
    out: &mut String,
) -> Result<()> {
    let jobs = super::retrain::jobs(exp);
    let mut total_seconds = 0.0;
    let mut total_store = 0u64;
    let _ = match timed {
        true => writeln!(
            out,
            "\nper model (probe: {PROBE_STEPS} training steps of its batch on this machine):"
        ),
        false => writeln!(
            out,
            "\nper model (not timed: the probe runs where the data is):"
        ),
    };
    for m in 0..exp.models.len() {
        let (seconds, store) =
            plan_model(exp, m, (n, input), finetune, (device, timed), &jobs, out)?;
        total_seconds += seconds;
        total_store += store;
    }
    let shards = jobs.len();
    let scoring_models = exp
        .models
        .iter()
        .filter(|m| exp.retrain.scores(&m.name))
        .count();
    let _ = writeln!(
        out,
        "\ntotal: {} scoring run(s) and {} retrains ({} methods x {} ratios x {} seeds{}{}), dynamics stores {}, {}\nresults: {}\nsplit the retrains across machines with --scores-only, then --shard I/N (up to {shards} shards), then `dynunc report`",
        scoring_models * exp.scoring_runs,
        jobs.len(),
        super::retrain::variants(exp).len(),
        exp.retrain.prune_ratios.len(),
        exp.retrain.seeds.len(),
        if exp.retrain.full_data {
            " + full data"
        } else {
            ""
        },
        if exp.models.len() > 1 {
            ", per source x target model"
        } else {
            ""
        },
        data::size_text(total_store),
        match timed {
            true => format!(
                "about {} of training on this machine (evaluation passes not included)",
                duration(total_seconds)
            ),
            false => "training time not estimated".to_string(),
        },
        exp.results_dir.display()
    );
    cost_lines(exp, n, out);
    Ok(())
}

/// Model `m`'s line of the plan (its probe, scoring run(s), store, retrains); its estimated
/// seconds and dynamics store bytes.
fn plan_model(
    exp: &Experiment,
    m: usize,
    (n, input): (usize, InputShape),
    finetune: Option<(usize, usize)>,
    (device, timed): (&Device, bool),
    jobs: &[super::retrain::Job],
    out: &mut String,
) -> Result<(f64, u64)> {
    let spec = &exp.models[m];
    let train = exp.train_of(m);
    let full_batches = n.div_ceil(train.batch_size);
    let runs = match exp.retrain.scores(&spec.name) {
        true => exp.scoring_runs,
        false => 0,
    };
    let scoring_steps = runs * train.epochs * full_batches;
    let retrain_steps = retrain_steps(exp, jobs, m, n);
    let retrains = jobs.iter().filter(|j| j.target == m).count();
    let fields = super::scoring::recorded_fields(exp);
    let store = runs as u64 * store_size(n as u64, train.epochs as u64, fields);
    if fields.contains(Field::Drift) && runs > 0 {
        let _ = writeln!(
            out,
            "  {:<14} recording `drift` (tdds) keeps every sample's previous softmax: {} in memory, and that much again on disk beside the store while the run lasts",
            spec.name,
            data::size_text(crate::train::drift::memory(n, input.classes))
        );
    }
    let (params, step) = match timed {
        true => probe(spec, input, train, device)?,
        false => {
            let model = Model::new(spec, input, &device.clone().autodiff());
            (model.trainable_params(), 0.0)
        }
    };
    // A fine-tuning step costs about its batch's share of a probed step.
    let finetune_seconds = finetune.map_or(0.0, |(steps, b)| {
        retrains as f64 * steps as f64 * step * b as f64 / train.batch_size as f64
    });
    let seconds = step * (scoring_steps + retrain_steps) as f64 + finetune_seconds;
    let _ = writeln!(
        out,
        "  {:<14} {:>11} parameters{}; {}; {} retrains, {} steps of batch {}{}",
        spec.name,
        params,
        match timed {
            true => format!(", {:.1} ms/step", 1e3 * step),
            false => String::new(),
        },
        match runs {
            0 => "no scoring run (not in retrain.sources)".to_string(),
            r => format!(
                "{} {} epochs x {full_batches} batches = {scoring_steps} steps, dynamics store{} {}",
                match r {
                    1 => "scoring run".to_string(),
                    k => format!("{k} scoring runs x"),
                },
                train.epochs,
                if r > 1 { "s" } else { "" },
                data::size_text(store),
            ),
        },
        retrains,
        retrain_steps,
        train.batch_size,
        match timed {
            true => format!("; about {}", duration(seconds)),
            false => String::new(),
        }
    );
    Ok((seconds, store))
}

/// What pruning costs and saves, in sample passes (samples x epochs), as the results README's
/// cost section states it after the run: the scoring run(s) and, per prune ratio, scoring plus
/// one pruned training against one training on the full data.
fn cost_lines(exp: &Experiment, n: usize, out: &mut String) {
    let full = (n * exp.train.epochs) as f64;
    let scoring = full * exp.scoring_runs as f64;
    let _ = writeln!(
        out,
        "
cost in sample passes: one full-data training {full:.0}; the scoring run(s) of each model {scoring:.0} ({:.2} full-data trainings)",
        scoring / full
    );
    if let Some(rule) = &exp.stop {
        let earliest = rule.earliest(&exp.score_params, exp.train.epochs);
        let _ = writeln!(
            out,
            "  scoring.stop watches {} at {:.0}% pruning and {}, from epoch {} at the earliest (the estimates above assume every epoch)",
            rule.method.info().name,
            100.0 * rule.prune_ratio,
            match exp.stop_ends_run {
                true => "may end each scoring run early",
                false => "is replayed on the full run for the `@stop` prefix",
            },
            earliest.unwrap_or(exp.train.epochs)
        );
    }
    for &p in &exp.retrain.prune_ratios {
        let one = match exp.retrain.budget {
            Budget::EqualEpochs => {
                crate::select::kept_count(n, 1.0 - p) as f64 * exp.train.epochs as f64
            }
            Budget::EqualIterations => full,
        };
        let saved = full - one;
        let _ = writeln!(
            out,
            "  at {:.0}% pruning: one pruned training {one:.0}; scoring + one pruned training = {:.2} full-data trainings; {}",
            100.0 * p,
            (scoring + one) / full,
            match saved > 0.0 {
                true => format!(
                    "{:.1} pruned trainings pay for the scoring",
                    scoring / saved
                ),
                false => "never pays for the scoring (no fewer passes)".into(),
            }
        );
    }
}

/// The optimizer steps of model number `m`'s retrains among `jobs`, for `n` training samples.
fn retrain_steps(exp: &Experiment, jobs: &[super::retrain::Job], m: usize, n: usize) -> usize {
    let train = exp.train_of(m);
    let batch = train.batch_size;
    jobs.iter()
        .filter(|j| j.target == m)
        .map(|j| {
            let kept = crate::select::kept_count(n, 1.0 - j.prune_ratio);
            match exp.retrain.budget {
                Budget::EqualEpochs => train.epochs * kept.div_ceil(batch),
                Budget::EqualIterations => train.epochs * n.div_ceil(batch),
            }
        })
        .sum()
}

/// Fine-tuning's line of the plan, and its (steps per retrain, batch), from its data's size.
fn finetune_plan(exp: &Experiment, out: &mut String) -> Result<Option<(usize, usize)>> {
    let Some(ft) = &exp.finetune else {
        return Ok(None);
    };
    let (ft_n, ft_test, ft_input) = data::describe(&ft.data, exp.seed)?;
    let steps = ft.train.epochs * ft_n.div_ceil(ft.train.batch_size);
    let _ = writeln!(
        out,
        "fine-tuning: after every retrain, {} and {} epoch(s) on {} ({} training, {} test images): {} steps of batch {}",
        match ft.head {
            crate::config::FinetuneHead::Fresh =>
                format!("a new {}-class classifier", ft_input.classes),
            crate::config::FinetuneHead::Mapped => format!(
                "a {}-class classifier of the pre-trained rows of its classes (by name)",
                ft_input.classes
            ),
        },
        ft.train.epochs,
        ft.data.path.display(),
        ft_n,
        ft_test,
        steps,
        ft.train.batch_size
    );
    Ok(Some((steps, ft.train.batch_size)))
}

/// Trainable parameters of a fresh `spec`, and the measured seconds per training step: the
/// experiment's own training loop and optimizer on batches of seeded random images of the
/// data's shape (the first step, which warms up, is not counted).
fn probe(
    spec: &crate::train::ModelSpec,
    input: InputShape,
    train: &crate::train::TrainSpec,
    device: &Device,
) -> Result<(usize, f64)> {
    use rand::{Rng, SeedableRng};
    let device = device.clone().autodiff();
    device.seed(0);
    let model = Model::new(spec, input, &device);
    let params = model.trainable_params();
    let batch = train.batch_size;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let pixels = batch * input.channels * input.height * input.width;
    let set = data::ImageSet {
        pixels: (0..pixels).map(|_| rng.random()).collect(),
        labels: (0..batch)
            .map(|i| (i % input.classes.max(1)) as u32)
            .collect(),
        height: input.height,
        width: input.width,
        channels: input.channels,
        classes: input.classes,
    };
    let steps = PROBE_STEPS + 1;
    let spec = crate::train::TrainSpec {
        epochs: steps,
        max_steps: Some(steps),
        warmup_epochs: 0,
        ..train.clone()
    };
    let opts = FitOptions::new(&spec, crate::data::augment::Normalize::IMAGENET, "probe");
    let mut clock = StepClock::default();
    fit(model, &set.into(), &opts, &device, &mut [&mut clock])?;
    // From the end of the warm-up step to the end of the last.
    let ends = &clock.ends;
    let seconds = match (ends.first(), ends.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    Ok((params, seconds / (ends.len().max(2) - 1) as f64))
}

/// Notes when every training step ends.
#[derive(Default)]
struct StepClock {
    ends: Vec<Instant>,
}

impl Observer for StepClock {
    fn batch_end(&mut self, _epoch: usize, _batch: usize, _loss: f32, _lr: f64) {
        self.ends.push(Instant::now());
    }
}

fn duration(s: f64) -> String {
    match s {
        s if s >= 86400.0 => format!("{:.1} days", s / 86400.0),
        s if s >= 3600.0 => format!("{:.1} hours", s / 3600.0),
        s if s >= 60.0 => format!("{:.0} minutes", s / 60.0),
        s => format!("{s:.0} seconds"),
    }
}
