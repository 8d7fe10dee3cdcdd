//! Step 3 of an experiment: for every method x prune ratio x seed, select the subset, train a
//! fresh model on it and measure its test accuracy; the full-data model is the 0% row. With
//! several models, the subsets chosen from each model's dynamics are retrained on every model.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use burn::module::Module as _;

use super::Ctx;
use super::epoch_eval::EpochEval;
use super::scoring::{Scores, new_model, seeded};
use crate::config::{Budget, Experiment};
use crate::eval::ood::{self, OodScore};
use crate::report::{MainRow, OodRow, read_ood_rows, read_rows};
use crate::score::prefix::Variant;
use crate::score::{self, ScoreParams};
use crate::select::{self, Amount, Strategy, StrategyOptions};
use crate::train::fit::FitOptions;
use crate::train::progress::Progress;
use crate::train::seed::{Stream, derive_seed};
use crate::train::{Checkpoint, Observer, evaluate, fit};

/// One model to train.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    method: Option<Variant>,
    /// How the method's scores become the subset (`top` for the full-data and random rows).
    strategy: &'static dyn Strategy,
    pub(crate) prune_ratio: f64,
    seed: u64,
    /// Model whose dynamics chose the subset.
    pub(crate) source: usize,
    /// Model trained.
    pub(crate) target: usize,
    /// Names of the two (equal to each other for a single-model experiment).
    names: (String, String),
}

impl Job {
    fn method_name(&self) -> String {
        self.method.map_or_else(|| "full".into(), |m| m.name())
    }

    fn strategy_name(&self) -> &'static str {
        self.strategy.info().name
    }

    /// Checkpoint folder name; a single-model `top` experiment keeps the names it always had.
    pub(crate) fn key(&self, several: bool) -> String {
        let strategy = match self.strategy_name() {
            "top" => String::new(),
            s => format!("-{s}"),
        };
        let base = format!(
            "{}{strategy}-p{}-s{}",
            self.method_name(),
            self.prune_ratio,
            self.seed
        );
        match several {
            false => base,
            true => format!("{}-to-{}-{base}", self.names.0, self.names.1),
        }
    }

    fn same_run(
        &self,
        method: (&str, &str),
        ratio: f64,
        seed: u64,
        arch: &str,
        source: &str,
    ) -> bool {
        let src = if source.is_empty() { arch } else { source };
        method == (self.method_name().as_str(), self.strategy_name())
            && ratio == self.prune_ratio
            && seed == self.seed
            && arch == self.names.1
            && src == self.names.0
    }

    pub(crate) fn matches(&self, row: &MainRow) -> bool {
        self.same_run(
            (&row.method, &row.strategy),
            row.prune_ratio,
            row.seed,
            &row.arch,
            &row.source_arch,
        )
    }

    pub(crate) fn matches_ood(&self, row: &OodRow) -> bool {
        let arch = if row.arch.is_empty() {
            &self.names.1
        } else {
            &row.arch
        };
        self.same_run(
            (&row.method, &row.strategy),
            row.prune_ratio,
            row.seed,
            arch,
            &row.source_arch,
        )
    }
}

/// Every method's variants: the method from every epoch, then from each of
/// `scoring.prefixes` (a seeded method has none: it reads no epoch).
pub(crate) fn variants(exp: &Experiment) -> Vec<Variant> {
    let mut out = Vec::new();
    for &m in &exp.methods {
        out.push(Variant::whole(m));
        if !seeded(m) {
            out.extend(exp.prefixes.iter().map(|&p| Variant {
                scorer: m,
                prefix: Some(p),
            }));
        }
    }
    out
}

/// Every retrain: per target model (`retrain.targets`, default all), the full-data runs, then
/// per ratio, method variant and source model (a seeded method such as random is trained with
/// its own target as source only: it reads no dynamics), each seed.
pub(crate) fn jobs(exp: &Experiment) -> Vec<Job> {
    let r = &exp.retrain;
    let models = &exp.models;
    let job = |method, strategy, prune_ratio, seed, source: usize, target: usize| Job {
        method,
        strategy,
        prune_ratio,
        seed,
        source,
        target,
        names: (models[source].name.clone(), models[target].name.clone()),
    };
    let mut jobs = Vec::new();
    let targets = (0..models.len()).filter(|&t| r.retrains(&models[t].name));
    for target in targets {
        if r.full_data {
            jobs.extend(
                r.seeds
                    .iter()
                    .map(|&seed| job(None, top(), 0.0, seed, target, target)),
            );
        }
        for &prune_ratio in &r.prune_ratios {
            for method in variants(exp) {
                // A seeded method reads no scores: one strategy (top) is all it has.
                let strategies = match seeded(method.scorer) {
                    true => vec![top()],
                    false => r.strategies.clone(),
                };
                for strategy in strategies {
                    for (source, model) in models.iter().enumerate() {
                        // A model outside retrain.sources has no scores to give.
                        let skip = match seeded(method.scorer) {
                            true => source != target,
                            false => !r.scores(&model.name),
                        };
                        if skip {
                            continue;
                        }
                        for &seed in &r.seeds {
                            jobs.push(job(
                                Some(method),
                                strategy,
                                prune_ratio,
                                seed,
                                source,
                                target,
                            ));
                        }
                    }
                }
            }
        }
    }
    jobs
}

/// The kept training indices of a job (`scores`: of each model, in order).
fn subset(ctx: &Ctx<'_>, scores: &[Scores], job: &Job) -> Result<Vec<usize>> {
    let train = &ctx.splits.train;
    let Some(method) = job.method else {
        return Ok((0..train.len()).collect());
    };
    let owned;
    let s = if seeded(method.scorer) {
        let params = ScoreParams {
            seed: derive_seed(job.seed, Stream::RandomScores, 0),
            ..ctx.exp.score_params.clone()
        };
        // A seeded method reads no epoch: it starts and finishes on the shape alone.
        let ctx = score::Context {
            shape: crate::dynamics::Shape {
                samples: train.len(),
                classes: train.classes(),
                epochs: 0,
            },
            labels: Some(train.labels()),
            params: &params,
        };
        owned = method.scorer.begin(&ctx)?.finish();
        &owned[..]
    } else {
        scores[job.source]
            .get(&method.name())
            .context("scores of a listed method are missing")?
    };
    let fraction = Amount::Prune(job.prune_ratio).keep_fraction("retrain.prune_ratios")?;
    let r = &ctx.exp.retrain;
    let options = StrategyOptions {
        class_balanced: ctx.exp.class_balanced,
        seed: derive_seed(job.seed, Stream::Strategy, 0),
        options: r.options(job.strategy, job.prune_ratio),
    };
    let confidence = match job.strategy.needs_confidence() {
        true => scores[job.source].get("confidence"),
        false => None,
    };
    let input = select::Input {
        scores: s,
        keep: method.scorer.info().keep,
        keep_fraction: fraction,
        labels: Some(train.labels()),
        confidence,
        options: &options,
    };
    Ok(select::apply(job.strategy, &input)?.kept)
}

/// The `top` strategy (the full-data and seeded rows', and the default).
fn top() -> &'static dyn Strategy {
    &select::top::Top
}

/// Where a job's retraining (`suffix` "") or fine-tuning (`suffix` "-finetune") keeps its
/// checkpoint.
fn checkpoint(ctx: &Ctx<'_>, job: &Job, suffix: &str) -> Checkpoint {
    Checkpoint::new(checkpoint_path(ctx, job, suffix))
}

/// `checkpoints/<job key><suffix>` in the retrain work folder: a job's checkpoint folders and
/// its per-epoch accuracies (`.accuracy.csv`).
fn checkpoint_path(ctx: &Ctx<'_>, job: &Job, suffix: &str) -> std::path::PathBuf {
    let several = ctx.exp.models.len() > 1;
    ctx.retrain_work
        .join("checkpoints")
        .join(format!("{}{suffix}", job.key(several)))
}

/// Removes a finished job's checkpoints and per-epoch accuracies.
fn remove_checkpoints(ctx: &Ctx<'_>, job: &Job) -> Result<()> {
    checkpoint(ctx, job, "").remove()?;
    checkpoint(ctx, job, "-finetune").remove()?;
    crate::atomic::remove_file(&checkpoint_path(ctx, job, ".accuracy.csv"))?;
    Ok(())
}

/// Gives the retrained `model` a classifier for the fine-tuning data's classes (new, or its
/// own rows of those classes), trains it on that data and returns its test accuracy there
/// (and its ReaL accuracy, with `finetune.real_labels`).
fn finetune(
    ctx: &Ctx<'_>,
    ft: &super::FinetuneData,
    model: crate::train::Model,
    job: &Job,
    label: &str,
) -> Result<(f64, Option<f64>)> {
    let spec = &ctx
        .exp
        .finetune
        .as_ref()
        .expect("fine-tuning data implies its spec")
        .train;
    let device = ctx.device.clone().autodiff();
    let model = match &ft.head_rows {
        Some(rows) => model.with_class_rows(rows),
        None => {
            let head_seed = derive_seed(job.seed, Stream::FinetuneHead, 0);
            model.with_classes_seeded(ft.classes, head_seed, &device)
        }
    };
    let opts = FitOptions::new(spec, ft.norm, format!("{label} fine-tune"))
        .seed(job.seed)
        .recording(ctx.exp.view, ctx.exp.record_train_mode)
        .checkpoint(checkpoint(ctx, job, "-finetune"))
        .replicas(ctx.autodiff_replicas());
    let mut progress = Progress::new(ctx.opts.log_epochs);
    let model = fit(
        model,
        &ft.splits.train,
        &opts,
        &device,
        &mut [&mut progress],
    )
    .context("fine-tuning")?;
    let (acc, logits) = evaluate(
        &model.valid(),
        &ft.splits.test,
        &ft.splits.test_columns,
        ft.norm,
        &ctx.device,
    )?;
    Ok((
        acc,
        ft.real.as_ref().map(|r| real_acc(r, &logits, &ft.splits)),
    ))
}

fn train_one(ctx: &Ctx<'_>, scores: &[Scores], job: &Job) -> Result<(MainRow, Vec<OodRow>)> {
    let exp = ctx.exp;
    let started = Instant::now();
    let kept = subset(ctx, scores, job)?;
    let data = ctx.splits.train.take(&kept);
    let mut spec = exp.train_of(job.target).clone();
    let full_batches = ctx.splits.train.len().div_ceil(spec.batch_size);
    if exp.retrain.budget == Budget::EqualIterations {
        spec.max_steps = Some(spec.epochs * full_batches);
    }
    let batches = data.len().div_ceil(spec.batch_size);
    let steps = spec.max_steps.unwrap_or(spec.epochs * batches);
    let several = exp.models.len() > 1;
    let label = format!(
        "{}{} {:.0}% s{}",
        if several {
            format!("{}->{} ", job.names.0, job.names.1)
        } else {
            String::new()
        },
        crate::report::shown_method(&job.method_name(), job.strategy_name()),
        100.0 * job.prune_ratio,
        job.seed
    );
    let opts = FitOptions::new(&spec, ctx.norm, label)
        .seed(job.seed)
        .recording(exp.view, exp.record_train_mode)
        .checkpoint(checkpoint(ctx, job, ""))
        .replicas(ctx.autodiff_replicas());
    let mut progress = Progress::new(ctx.opts.log_epochs);
    let history = checkpoint_path(ctx, job, ".accuracy.csv");
    let mut epochs = EpochEval::new(
        &ctx.splits.test,
        &ctx.splits.test_columns,
        ctx.norm,
        &ctx.device,
        history,
    );
    let observers: &mut [&mut dyn Observer] = match ctx.exp.eval_every_epoch {
        true => &mut [&mut progress, &mut epochs],
        false => &mut [&mut progress],
    };
    let model = fit(
        new_model(ctx, job.target, job.seed),
        &data,
        &opts,
        &ctx.device.clone().autodiff(),
        observers,
    )?;
    let finetune_acc = match &ctx.finetune {
        Some(ft) => Some(finetune(ctx, ft, model.clone(), job, &opts.label)?),
        None => None,
    };
    let model = model.valid();
    let (acc, test_logits) = evaluate(
        &model,
        &ctx.splits.test,
        &ctx.splits.test_columns,
        ctx.norm,
        &ctx.device,
    )?;
    let classes = test_logits.len() / ctx.splits.test.len().max(1);
    let ood_rows = ood_rows(ctx, job, &model, &test_logits, classes)?;
    let best = ctx.exp.eval_every_epoch.then(|| epochs.best()).flatten();
    let row = MainRow {
        experiment: exp.name.clone(),
        method: job.method_name(),
        strategy: job.strategy_name().into(),
        prune_ratio: job.prune_ratio,
        keep_fraction: kept.len() as f64 / ctx.splits.train.len() as f64,
        kept: kept.len(),
        class_balanced: exp.class_balanced && job.method.is_some(),
        seed: job.seed,
        arch: job.names.1.clone(),
        source_arch: job.names.0.clone(),
        epochs: steps.div_ceil(batches.max(1)),
        steps,
        test_acc: acc,
        real_acc: ctx
            .real
            .as_ref()
            .map(|real| real_acc(real, &test_logits, &ctx.splits)),
        finetune_acc: finetune_acc.map(|f| f.0),
        finetune_real_acc: finetune_acc.and_then(|f| f.1),
        best_acc: best.map(|b| b.0),
        best_epoch: best.map(|b| b.1),
        wall_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    };
    Ok((row, ood_rows))
}

/// ImageNet-ReaL accuracy of the test `logits` of `splits` (row-major).
fn real_acc(
    real: &crate::eval::real::RealLabels,
    logits: &[f32],
    splits: &crate::data::Splits,
) -> f64 {
    let classes = logits.len() / splits.test.len().max(1);
    let predictions: Vec<(usize, u32)> = logits
        .chunks_exact(classes.max(1))
        .zip(&splits.test_name_rank)
        .map(|(row, &rank)| (rank, crate::eval::argmax(row)))
        .collect();
    real.accuracy_of(&predictions).0
}

/// The OOD rows of `model` (its test logits given): MSP and energy against each OOD set.
fn ood_rows(
    ctx: &Ctx<'_>,
    job: &Job,
    model: &crate::train::Model,
    test_logits: &[f32],
    classes: usize,
) -> Result<Vec<OodRow>> {
    let mut rows = Vec::new();
    for (name, set) in &ctx.ood {
        let (_, logits) = evaluate(model, set, &ctx.splits.test_columns, ctx.norm, &ctx.device)?;
        for score in [OodScore::Msp, OodScore::Energy] {
            let m = ood::metrics(
                &score.scores(test_logits, classes),
                &score.scores(&logits, classes),
            );
            rows.push(OodRow {
                experiment: ctx.exp.name.clone(),
                method: job.method_name(),
                strategy: job.strategy_name().into(),
                prune_ratio: job.prune_ratio,
                seed: job.seed,
                arch: job.names.1.clone(),
                source_arch: job.names.0.clone(),
                ood_set: name.clone(),
                score: score.name().into(),
                auroc: m.auroc,
                fpr_at_95_tpr: m.fpr_at_95_tpr,
                aupr_in: m.aupr_in,
            });
        }
    }
    Ok(rows)
}

/// Trains every job not already finished; returns all rows (accuracy, OOD) in job order.
pub(crate) fn all(ctx: &Ctx<'_>, scores: &[Scores]) -> Result<(Vec<MainRow>, Vec<OodRow>)> {
    std::fs::create_dir_all(&ctx.retrain_work)
        .with_context(|| format!("creating {}", ctx.retrain_work.display()))?;
    let done_path = ctx.retrain_work.join("finished.csv");
    let ood_path = ctx.retrain_work.join("finished_ood.csv");
    let mut done: Vec<MainRow> = if Path::new(&done_path).exists() {
        read_rows(&done_path).with_context(|| format!("reading {}", done_path.display()))?
    } else {
        Vec::new()
    };
    if let Some(r) = done.iter().find(|r| r.experiment != ctx.exp.name) {
        anyhow::bail!(
            "{}: holds a row of experiment `{}`, not `{}`; delete {} to retrain from scratch",
            done_path.display(),
            r.experiment,
            ctx.exp.name,
            ctx.retrain_work.display()
        );
    }
    let mut ood_done: Vec<OodRow> = if Path::new(&ood_path).exists() {
        read_ood_rows(&ood_path).with_context(|| format!("reading {}", ood_path.display()))?
    } else {
        Vec::new()
    };
    // A shard trains and reports its own share only.
    let jobs: Vec<Job> = jobs(ctx.exp)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| ctx.opts.shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, j)| j)
        .collect();
    let total = jobs.len();
    for (i, job) in jobs.iter().enumerate() {
        if done.iter().any(|r| job.matches(r)) {
            // A kill between its row and this removal leaves the finished job's checkpoints.
            remove_checkpoints(ctx, job)?;
            continue;
        }
        let several = ctx.exp.models.len() > 1;
        let (row, ood_rows) = train_one(ctx, scores, job)
            .with_context(|| format!("retraining {}", job.key(several)))?;
        eprintln!(
            "[{}/{total}] {}{:<12} prune {:>4.0}% seed {}: {} samples, test accuracy {:.2}%{} ({:.1}s)",
            i + 1,
            if several {
                format!("{} -> {} ", job.names.0, job.names.1)
            } else {
                String::new()
            },
            crate::report::shown_method(&row.method, &row.strategy),
            100.0 * row.prune_ratio,
            row.seed,
            row.kept,
            100.0 * row.test_acc,
            row.finetune_acc
                .map_or(String::new(), |a| format!(", fine-tuned {:.2}%", 100.0 * a)),
            row.wall_seconds
        );
        // OOD rows first: finished.csv is what marks the job as done.
        ood_done.retain(|r| !job.matches_ood(r));
        ood_done.extend(ood_rows);
        crate::atomic::write_csv(&ood_path, &ood_done)?;
        done.push(row);
        crate::atomic::write_csv(&done_path, &done)?;
        remove_checkpoints(ctx, job)?;
    }
    let rows = jobs
        .iter()
        .filter_map(|j| done.iter().find(|r| j.matches(r)).cloned())
        .collect();
    let ood_rows = jobs
        .iter()
        .flat_map(|j| {
            ood_done
                .iter()
                .filter(|r| j.matches_ood(r))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    Ok((rows, ood_rows))
}
