//! Step 3 of an experiment: for every method x prune ratio x seed, select the subset, train a
//! fresh model on it and measure its test accuracy; the full-data model is the 0% row.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use burn::module::Module as _;

use super::Ctx;
use super::scoring::{Scores, new_model, seeded};
use crate::config::Budget;
use crate::eval::ood::{self, OodScore};
use crate::report::{MainRow, OodRow, read_ood_rows, read_rows};
use crate::score::{self, ScoreParams, Scorer};
use crate::select::{self, Amount};
use crate::train::fit::{FitOptions, derive_seed};
use crate::train::progress::Progress;
use crate::train::{Checkpoint, Observer, evaluate, fit};

/// One model to train.
#[derive(Debug, Clone)]
struct Job {
    method: Option<&'static dyn Scorer>,
    prune_ratio: f64,
    seed: u64,
}

impl Job {
    fn method_name(&self) -> &'static str {
        self.method.map_or("full", |m| m.info().name)
    }

    fn key(&self) -> String {
        format!(
            "{}-p{}-s{}",
            self.method_name(),
            self.prune_ratio,
            self.seed
        )
    }

    fn matches(&self, row: &MainRow) -> bool {
        row.method == self.method_name()
            && row.prune_ratio == self.prune_ratio
            && row.seed == self.seed
    }
}

fn jobs(ctx: &Ctx<'_>) -> Vec<Job> {
    let r = &ctx.exp.retrain;
    let mut jobs = Vec::new();
    if r.full_data {
        jobs.extend(r.seeds.iter().map(|&seed| Job {
            method: None,
            prune_ratio: 0.0,
            seed,
        }));
    }
    for &prune_ratio in &r.prune_ratios {
        for &method in &ctx.exp.methods {
            for &seed in &r.seeds {
                jobs.push(Job {
                    method: Some(method),
                    prune_ratio,
                    seed,
                });
            }
        }
    }
    jobs
}

/// The kept training indices of a job.
fn subset(ctx: &Ctx<'_>, scores: &Scores, job: &Job) -> Result<Vec<usize>> {
    let train = &ctx.splits.train;
    let Some(method) = job.method else {
        return Ok((0..train.len()).collect());
    };
    let owned;
    let s = if seeded(method) {
        let params = ScoreParams {
            seed: derive_seed(job.seed, 0x5e1ec7, 0),
            ..ctx.exp.score_params.clone()
        };
        // A seeded method reads no epoch: it starts and finishes on the shape alone.
        let ctx = score::Context {
            shape: crate::dynamics::Shape {
                samples: train.len(),
                classes: train.classes,
                epochs: 0,
            },
            labels: Some(&train.labels),
            params: &params,
        };
        owned = method.begin(&ctx)?.finish();
        &owned[..]
    } else {
        scores
            .get(method.info().name)
            .context("scores of a listed method are missing")?
    };
    let fraction = Amount::Prune(job.prune_ratio).keep_fraction("retrain.prune_ratios")?;
    let labels = ctx.exp.class_balanced.then_some(&train.labels[..]);
    Ok(select::select(s, fraction, method.info().keep, labels)?.kept)
}

fn train_one(ctx: &Ctx<'_>, scores: &Scores, job: &Job) -> Result<(MainRow, Vec<OodRow>)> {
    let exp = ctx.exp;
    let started = Instant::now();
    let kept = subset(ctx, scores, job)?;
    let data = ctx.splits.train.take(&kept);
    let full_batches = ctx.splits.train.len().div_ceil(exp.train.batch_size);
    let mut spec = exp.train.clone();
    if exp.retrain.budget == Budget::EqualIterations {
        spec.max_steps = Some(exp.train.epochs * full_batches);
    }
    let batches = data.len().div_ceil(spec.batch_size);
    let steps = spec.max_steps.unwrap_or(spec.epochs * batches);
    let checkpoint = Checkpoint::new(ctx.work.join("checkpoints").join(job.key()));
    let opts = FitOptions {
        spec: &spec,
        seed: job.seed,
        view: exp.view,
        norm: ctx.norm,
        checkpoint: Some(checkpoint.clone()),
        label: format!(
            "{} {:.0}% s{}",
            job.method_name(),
            100.0 * job.prune_ratio,
            job.seed
        ),
    };
    let mut progress = Progress::new(ctx.opts.log_epochs);
    let observers: &mut [&mut dyn Observer] = &mut [&mut progress];
    let model = fit(
        new_model(ctx, job.seed),
        &data,
        &opts,
        &ctx.device.clone().autodiff(),
        observers,
    )?;
    let model = model.valid();
    let (acc, test_logits) = evaluate(&model, &ctx.splits.test, ctx.norm, &ctx.device)?;
    let classes = test_logits.len() / ctx.splits.test.len().max(1);
    let mut ood_rows = Vec::new();
    for (name, set) in &ctx.ood {
        let (_, logits) = evaluate(&model, set, ctx.norm, &ctx.device)?;
        for score in [OodScore::Msp, OodScore::Energy] {
            let m = ood::metrics(
                &score.scores(&test_logits, classes),
                &score.scores(&logits, classes),
            );
            ood_rows.push(OodRow {
                experiment: exp.name.clone(),
                method: job.method_name().into(),
                prune_ratio: job.prune_ratio,
                seed: job.seed,
                ood_set: name.clone(),
                score: score.name().into(),
                auroc: m.auroc,
                fpr_at_95_tpr: m.fpr_at_95_tpr,
                aupr_in: m.aupr_in,
            });
        }
    }
    let row = MainRow {
        experiment: exp.name.clone(),
        method: job.method_name().into(),
        prune_ratio: job.prune_ratio,
        keep_fraction: kept.len() as f64 / ctx.splits.train.len() as f64,
        kept: kept.len(),
        class_balanced: exp.class_balanced && job.method.is_some(),
        seed: job.seed,
        arch: exp.model.arch.name().into(),
        epochs: steps.div_ceil(batches.max(1)),
        steps,
        test_acc: acc,
        wall_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    };
    Ok((row, ood_rows))
}

/// Trains every job not already finished; returns all rows (accuracy, OOD) in job order.
pub(crate) fn all(ctx: &Ctx<'_>, scores: &Scores) -> Result<(Vec<MainRow>, Vec<OodRow>)> {
    let done_path = ctx.work.join("finished.csv");
    let ood_path = ctx.work.join("finished_ood.csv");
    let mut done: Vec<MainRow> = if Path::new(&done_path).exists() {
        read_rows(&done_path).with_context(|| format!("reading {}", done_path.display()))?
    } else {
        Vec::new()
    };
    let mut ood_done: Vec<OodRow> = if Path::new(&ood_path).exists() {
        read_ood_rows(&ood_path).with_context(|| format!("reading {}", ood_path.display()))?
    } else {
        Vec::new()
    };
    let jobs = jobs(ctx);
    let total = jobs.len();
    for (i, job) in jobs.iter().enumerate() {
        if done.iter().any(|r| job.matches(r)) {
            continue;
        }
        let (row, ood_rows) =
            train_one(ctx, scores, job).with_context(|| format!("retraining {}", job.key()))?;
        eprintln!(
            "[{}/{total}] {:<12} prune {:>4.0}% seed {}: {} samples, test accuracy {:.2}% ({:.1}s)",
            i + 1,
            row.method,
            100.0 * row.prune_ratio,
            row.seed,
            row.kept,
            100.0 * row.test_acc,
            row.wall_seconds
        );
        // OOD rows first: finished.csv is what marks the job as done.
        ood_done.retain(|r| {
            !(r.method == row.method && r.prune_ratio == row.prune_ratio && r.seed == row.seed)
        });
        ood_done.extend(ood_rows);
        crate::atomic::write_csv(&ood_path, &ood_done)?;
        done.push(row);
        crate::atomic::write_csv(&done_path, &done)?;
        Checkpoint::new(ctx.work.join("checkpoints").join(job.key())).remove()?;
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
                .filter(|r| {
                    r.method == j.method_name()
                        && r.prune_ratio == j.prune_ratio
                        && r.seed == j.seed
                })
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    Ok((rows, ood_rows))
}
