//! The commands that work on recorded dynamics: `score`, `select` and `stability`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::{ScorerRegistry, StrategyRegistry, distinct};
use crate::dynamics::{EpochSource, npy, store::StoreReader};
use crate::options::flags::Flags;
use crate::score::rows::{ScoreRow, read_scores};
use crate::score::{self, Keep, ScoreParams};
use crate::select::{self, Amount};

/// Arguments of `dynunc score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Dynamics to score: a store written by `dynunc run` (`dynamics.dyn`) or an N x T float32
    /// `.npy` of true-class probabilities (samples x epochs).
    #[arg(long, value_name = "PATH")]
    pub dynamics: PathBuf,
    /// Scoring method (see `dynunc methods`).
    #[arg(long, default_value = "dyn_unc")]
    pub method: String,
    /// The methods' options, one flag each (built from what each method declares).
    #[command(flatten)]
    pub options: Flags<ScorerRegistry>,
    /// Seed of the `random` method.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Score from the first K recorded epochs only (every method then sees a run of K
    /// epochs: DUAL scores from the first 30 of 200 on CIFAR); default every epoch.
    #[arg(long, value_name = "K")]
    pub epochs_used: Option<usize>,
    /// Labels for an imported `.npy` (1-D integer `.npy`); a store carries its own.
    #[arg(long, value_name = "PATH")]
    pub labels: Option<PathBuf>,
    /// Output CSV.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// Arguments of `dynunc select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Scores CSV written by `dynunc score` (columns index,label,score).
    #[arg(long, value_name = "PATH")]
    pub scores: PathBuf,
    /// Fraction of samples to keep, in (0, 1].
    #[arg(
        long,
        conflicts_with = "prune",
        required_unless_present = "prune",
        allow_negative_numbers = true
    )]
    pub keep: Option<f64>,
    /// Fraction of samples to prune, in [0, 1) (the paper's "pruning ratio").
    #[arg(long, allow_negative_numbers = true)]
    pub prune: Option<f64>,
    /// Keep the same fraction of every class instead of one global ranking (`top`, `easy`, `band`).
    #[arg(long)]
    pub class_balanced: bool,
    /// Selection strategy: `top` (the first-ranked share, the paper's), `ccs` (drop the
    /// hardest --cutoff share, then sample evenly over --bins score strata; Zheng et al. 2023),
    /// `dual_beta` (sample by BetaPDF(confidence) x score; Cho et al. 2025; needs
    /// --confidence), `easy` (the last-ranked share; Sorscher et al. 2022), `band` (the share
    /// closest to the median score; Xia et al. 2023) or `skip_hardest` (drop the hardest --cutoff
    /// share, keep the next-ranked share).
    #[arg(long, default_value = "top")]
    pub strategy: String,
    /// The strategies' options, one flag each (built from what each strategy declares).
    #[command(flatten)]
    pub options: Flags<StrategyRegistry>,
    /// Each sample's mean true-class probability, for `dual_beta`: a scores CSV written by
    /// `dynunc score --method confidence` from the same dynamics.
    #[arg(long, value_name = "PATH")]
    pub confidence: Option<PathBuf>,
    /// Seed of the strategies that sample (`ccs`, `dual_beta`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which scores are kept: `highest` or `lowest` (`aum`, `acc_margin`); `dynunc methods` says
    /// which end each method keeps. Default: the end the method keeps when the file is named
    /// after it (`aum.csv`, as an experiment's `work/scores/` names them), else `highest`.
    #[arg(long)]
    pub direction: Option<Keep>,
    /// Output CSV of kept samples (index,label,score); the pruned ones go beside it as
    /// `<name>.pruned.csv` unless --pruned-out is given.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Output CSV of pruned samples.
    #[arg(long, value_name = "PATH")]
    pub pruned_out: Option<PathBuf>,
}

/// Arguments of `dynunc stability`.
#[derive(Debug, Args)]
pub struct StabilityArgs {
    /// Dynamics: a store written by `dynunc run`, or an N x T float32 `.npy` of true-class
    /// probabilities.
    #[arg(long, value_name = "PATH")]
    pub dynamics: PathBuf,
    /// Methods, comma-separated (see `dynunc methods`; seeded ones are left out).
    #[arg(long, value_delimiter = ',', default_value = "dyn_unc")]
    pub methods: Vec<String>,
    /// The methods' options, one flag each.
    #[command(flatten)]
    pub options: Flags<ScorerRegistry>,
    /// Prune ratios of the kept sets compared, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.9")]
    pub prune: Vec<f64>,
    /// Compare against the scores from the first K epochs instead of every epoch.
    #[arg(long, value_name = "K")]
    pub epochs_used: Option<usize>,
    /// Labels for an imported `.npy`.
    #[arg(long, value_name = "PATH")]
    pub labels: Option<PathBuf>,
    /// Output CSV.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// Opens dynamics from a store or a `.npy`.
pub fn open_dynamics(path: &Path, labels: Option<&Path>) -> Result<Box<dyn EpochSource>> {
    let is_npy = path.extension().is_some_and(|e| e == "npy");
    if is_npy {
        let mut dynamics = npy::read_probabilities(path)?;
        if let Some(labels) = labels {
            let l = npy::read_labels(labels)?;
            let n = dynamics.shape().samples;
            if l.len() != n {
                bail!(
                    "{}: {} labels for {n} samples in {}; the label file must have one entry per row of the dynamics",
                    labels.display(),
                    l.len(),
                    path.display()
                );
            }
            dynamics.classes = l.iter().map(|&x| x as usize + 1).max().unwrap_or(0);
            dynamics.labels = Some(l);
        }
        Ok(Box::new(dynamics))
    } else {
        if labels.is_some() {
            bail!(
                "--labels is for imported .npy dynamics; the store {} carries its own labels",
                path.display()
            );
        }
        Ok(Box::new(StoreReader::open(path)?))
    }
}

pub(crate) fn score_cmd(args: &ScoreArgs) -> Result<()> {
    let scorer = score::find(&args.method)?;
    let mut source = open_dynamics(&args.dynamics, args.labels.as_deref())?;
    let params = ScoreParams {
        options: args
            .options
            .resolve(scorer.options(), &format!("--method {}", args.method))
            .map_err(anyhow::Error::msg)?,
        seed: args.seed,
        epochs_used: args.epochs_used,
    };
    distinct(&args.dynamics, "--dynamics", &args.out, "--out")?;
    let scores = score::score_one(source.as_mut(), scorer, &params)
        .with_context(|| format!("scoring {} with {}", args.dynamics.display(), args.method))?;
    let labels = source.labels();
    let rows: Vec<ScoreRow> = scores
        .iter()
        .enumerate()
        .map(|(index, &score)| ScoreRow {
            index,
            label: labels.map(|l| l[index]),
            score,
        })
        .collect();
    crate::atomic::write_csv(&args.out, &rows)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "scored {} samples over {} epochs with {} -> {}",
        rows.len(),
        args.epochs_used.unwrap_or(source.shape().epochs),
        args.method,
        args.out.display()
    );
    Ok(())
}

pub(crate) fn stability_cmd(args: &StabilityArgs) -> Result<()> {
    let methods = args
        .methods
        .iter()
        .map(|m| score::find(m))
        .collect::<Result<Vec<_>, _>>()?;
    let declared = crate::options::union(methods.iter().map(|m| m.options()));
    let params = ScoreParams {
        options: args
            .options
            .resolve(&declared, &format!("--methods {}", args.methods.join(",")))
            .map_err(anyhow::Error::msg)?,
        seed: 0,
        epochs_used: args.epochs_used,
    };
    distinct(&args.dynamics, "--dynamics", &args.out, "--out")?;
    let mut source = open_dynamics(&args.dynamics, args.labels.as_deref())?;
    let started = std::time::Instant::now();
    let rows = score::stability::stability(source.as_mut(), &methods, &params, &args.prune)
        .with_context(|| format!("ranking stability of {}", args.dynamics.display()))?;
    crate::atomic::write_csv(&args.out, &rows)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{} rows ({} methods, {} prune ratios) in {:.1}s -> {}",
        rows.len(),
        methods.len(),
        args.prune.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

pub(crate) fn select_cmd(args: &SelectArgs) -> Result<()> {
    let pruned_out = args.pruned_out.clone().unwrap_or_else(|| {
        let stem = args.out.file_stem().unwrap_or_default().to_string_lossy();
        args.out.with_file_name(format!("{stem}.pruned.csv"))
    });
    distinct(&args.scores, "--scores", &args.out, "--out")?;
    distinct(&args.scores, "--scores", &pruned_out, "--pruned-out")?;
    distinct(&args.out, "--out", &pruned_out, "--pruned-out")?;
    let rows = read_scores(&args.scores)?;
    if rows.is_empty() {
        bail!(
            "{}: holds no scores (a header at most); score the dynamics first with `dynunc score --out {}`",
            args.scores.display(),
            args.scores.display()
        );
    }
    let (amount, origin) = match (args.keep, args.prune) {
        (Some(k), _) => (Amount::Keep(k), "--keep"),
        (None, Some(p)) => (Amount::Prune(p), "--prune"),
        (None, None) => bail!("give --keep FRACTION or --prune RATIO"),
    };
    let fraction = amount.keep_fraction(origin)?;
    let scores: Vec<f32> = rows.iter().map(|r| r.score).collect();
    let labels: Option<Vec<u32>> = if args.class_balanced {
        Some(
            rows.iter()
                .map(|r| r.label)
                .collect::<Option<_>>()
                .ok_or(select::SelectError::NoLabels)?,
        )
    } else {
        None
    };
    let strategy = select::find(&args.strategy)?;
    let confidence: Option<Vec<f32>> = match &args.confidence {
        Some(path) => {
            let c = read_scores(path)?;
            if c.len() != rows.len() {
                bail!(
                    "--confidence {} holds {} samples but --scores {} holds {}; score both from the same dynamics",
                    path.display(),
                    c.len(),
                    args.scores.display(),
                    rows.len()
                );
            }
            Some(c.iter().map(|r| r.score).collect())
        }
        None => None,
    };
    let options = select::StrategyOptions {
        class_balanced: args.class_balanced,
        seed: args.seed,
        options: args
            .options
            .resolve(strategy.options(), &format!("--strategy {}", args.strategy))
            .map_err(anyhow::Error::msg)?,
    };
    let (keep, why) = direction(args);
    let sel = select::apply(
        strategy,
        &select::Input {
            scores: &scores,
            keep,
            keep_fraction: fraction,
            labels: labels.as_deref(),
            confidence: confidence.as_deref(),
            options: &options,
        },
    )
    .with_context(|| format!("--strategy {}", args.strategy))?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| rows[i]).collect::<Vec<_>>();
    crate::atomic::write_csv(&args.out, &pick(&sel.kept))
        .with_context(|| format!("writing {}", args.out.display()))?;
    crate::atomic::write_csv(&pruned_out, &pick(&sel.pruned))
        .with_context(|| format!("writing {}", pruned_out.display()))?;
    eprintln!(
        "kept {} of {} samples (keep fraction {:.4}, prune ratio {:.4}, {}; the {keep} scores {why}) -> {}; pruned -> {}",
        sel.kept.len(),
        rows.len(),
        fraction,
        1.0 - fraction,
        strategy.describe(&options),
        args.out.display(),
        pruned_out.display()
    );
    Ok(())
}

/// Which end of the scores `select` keeps, and why: `--direction`, else the method the file is
/// named after, else the highest (said, with the fix).
fn direction(args: &SelectArgs) -> (Keep, String) {
    if let Some(keep) = args.direction {
        return (keep, "(--direction)".into());
    }
    let stem = args
        .scores
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    match score::find(&stem) {
        Ok(m) => (
            m.info().keep,
            format!("(what {} keeps: the file is named after it)", m.info().name),
        ),
        Err(_) => (
            Keep::Highest,
            "(the default: pass --direction lowest for aum, acc_margin or confidence scores)"
                .into(),
        ),
    }
}
