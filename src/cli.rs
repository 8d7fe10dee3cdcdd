//! The command line: argument definitions and the dispatch to each command.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::dynamics::{EpochSource, npy, store::StoreReader};
use crate::options::flags::{Flags, Registry, flag};
use crate::score::rows::{ScoreRow, read_scores};
use crate::score::{self, Keep, ScoreParams};
use crate::select::{self, Amount};

/// Dataset pruning with dynamic uncertainty: train while recording how every sample's
/// prediction moves, score the samples, keep the most informative share, retrain, report.
///
/// `dynunc EXPERIMENT.yaml` runs a whole experiment (the same as `dynunc run EXPERIMENT.yaml`).
/// The other commands work on dynamics recorded by a run, or imported from a `.npy`.
#[derive(Debug, Parser)]
#[command(name = "dynunc", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Experiment file to run (shorthand for `dynunc run FILE`).
    pub experiment: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment file end to end: train while recording dynamics, score, prune,
    /// retrain, write results/<name>/ (README.md with every table and figure, main.csv/md,
    /// archs, OOD, kept subsets). Interrupted runs resume; --dry-run plans, --shard splits.
    Run(RunArgs),
    /// Regenerate a results folder's tables, figures and README.md from its CSV files,
    /// without training; merges the rows of --shard runs first.
    Report(ReportArgs),
    /// Score every training sample from recorded dynamics; writes `index,label,score` CSV.
    Score(ScoreArgs),
    /// Keep the best share of samples by score; writes the kept and pruned lists.
    Select(SelectArgs),
    /// How early each method's scores settle: for every number of scoring epochs k, the
    /// Spearman correlation with the scores from every epoch and the share of the final kept
    /// set already kept; writes `method,epochs_used,prune_ratio,spearman,kept_overlap` CSV.
    Stability(StabilityArgs),
    /// List the scoring methods with what each measures and which samples it keeps.
    Methods,
    /// List the model presets (`model.arch`) with their trainable parameters at ImageNet
    /// size (224x224x3, 1000 classes) and at Fashion-MNIST size (28x28x1, 10 classes).
    Models,
}

/// Arguments of `dynunc run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment file (YAML); see experiments/ for examples.
    pub experiment: PathBuf,
    /// Also print one line per training epoch.
    #[arg(long)]
    pub log_epochs: bool,
    /// Check everything and print the plan (runs, steps, store sizes, a time estimate from
    /// a short probe on this machine) without training.
    #[arg(long, conflicts_with_all = ["scores_only", "shard"])]
    pub dry_run: bool,
    /// Run only the scoring runs and scores (the part that stays on one machine); then the
    /// retrains with --shard.
    #[arg(long, conflicts_with = "shard")]
    pub scores_only: bool,
    /// Train only every N-th retrain starting at the I-th (I = 1..N), into
    /// results/<name>/shards/I-of-N/; needs the finished --scores-only run in the shared
    /// results folder. `dynunc report results/<name>` merges the shards.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::experiment::Shard>,
}

/// Arguments of `dynunc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results folder of an experiment (holding main.csv).
    pub dir: PathBuf,
}

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
    /// Which scores are kept: `highest` or `lowest` (`aum`, `acc_margin`); `dynunc methods` says which end each method keeps.
    #[arg(long, default_value = "highest")]
    pub direction: Keep,
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

/// The scoring methods' options as flags (`--window 5`, `--el2n-epoch 2`).
#[derive(Debug, Clone, Copy)]
pub struct ScorerRegistry;

impl Registry for ScorerRegistry {
    fn declared() -> Vec<&'static dyn crate::options::Declared> {
        score::all_options()
    }
    fn readers(key: &str) -> Vec<&'static str> {
        score::readers(key)
    }
}

/// The selection strategies' options as flags (`--cutoff 0.3`, `--bins 50`).
#[derive(Debug, Clone, Copy)]
pub struct StrategyRegistry;

impl Registry for StrategyRegistry {
    fn declared() -> Vec<&'static dyn crate::options::Declared> {
        select::all_options()
    }
    fn readers(key: &str) -> Vec<&'static str> {
        select::readers(key)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match (cli.command, cli.experiment) {
        (Some(Command::Score(args)), _) => score_cmd(&args),
        (Some(Command::Select(args)), _) => select_cmd(&args),
        (Some(Command::Stability(args)), _) => stability_cmd(&args),
        (Some(Command::Methods), _) => {
            methods_cmd();
            Ok(())
        }
        (Some(Command::Models), _) => {
            models_cmd();
            Ok(())
        }
        (Some(Command::Run(args)), _) => run_cmd(&args),
        (Some(Command::Report(args)), _) => report_cmd(&args.dir),
        (None, Some(path)) => run_cmd(&RunArgs {
            experiment: path,
            log_epochs: false,
            dry_run: false,
            scores_only: false,
            shard: None,
        }),
        (None, None) => bail!(
            "nothing to do: give an experiment file (`dynunc experiments/fmnist_quick.yaml`) or a command (`dynunc --help`)"
        ),
    }
}

fn run_cmd(args: &RunArgs) -> Result<()> {
    let path = &args.experiment;
    if args.dry_run {
        let exp = crate::config::load(path)?;
        print!("{}", crate::experiment::plan::dry_run(path, &exp)?);
        return Ok(());
    }
    let opts = crate::experiment::RunOptions {
        log_epochs: args.log_epochs,
        scores_only: args.scores_only,
        shard: args.shard,
    };
    let outcome = crate::experiment::run(path, opts)?;
    if !outcome.rows.is_empty() {
        println!("{}", outcome.table);
    }
    println!("results: {}", outcome.dir.display());
    Ok(())
}

fn report_cmd(dir: &Path) -> Result<()> {
    let mut note = format!(
        "Regenerated by `dynunc report {}` from the CSV files",
        dir.display()
    );
    if let Some(info) = crate::experiment::read_run_info(dir) {
        note.push_str(&format!(
            ", which `{}` wrote (commit {}, backend {})",
            info.command, info.commit, info.backend
        ));
    }
    note.push('.');
    if dir.join("shards").is_dir() {
        let resolved = dir.join("experiment.resolved.yaml");
        let exp = crate::config::load(&resolved).with_context(|| {
            format!(
                "merging the shards of {} needs the experiment it ran",
                dir.display()
            )
        })?;
        crate::experiment::shard::merge(dir, &exp)?;
        note = format!(
            "Merged by `dynunc report {}` from the shards in {}/shards.",
            dir.display(),
            dir.display()
        );
    }
    let table = crate::report::folder::write(dir, &note)?;
    println!("{table}");
    println!(
        "rewrote the tables, figures and README.md of {}",
        dir.display()
    );
    Ok(())
}

fn methods_cmd() {
    for s in score::REGISTRY {
        let info = s.info();
        let keep = match info.keep {
            Keep::Highest => "keeps highest",
            Keep::Lowest => "keeps lowest",
        };
        println!(
            "{:<12} {keep:<14} needs [{}]\n             {}",
            info.name, info.needs, info.summary
        );
        for d in s.options() {
            println!(
                "             scoring.{} / --{}: {}",
                d.name(),
                flag(d.name()),
                d.doc()
            );
        }
    }
}

fn models_cmd() {
    use crate::train::model::{InputShape, Model, ModelSpec, presets};
    let device = burn::tensor::Device::flex().autodiff();
    let count = |spec: &ModelSpec, input: InputShape| {
        if spec.check(input).is_empty() {
            let n = Model::new(spec, input, &device).trainable_params();
            format!("{:.2}M", n as f64 / 1e6)
        } else {
            "does not fit".into()
        }
    };
    println!(
        "{:<14} {:>12} {:>12}  about",
        "arch", "224x224x3", "28x28x1"
    );
    for p in presets() {
        let spec = ModelSpec::preset(p.name).expect("listed preset");
        println!(
            "{:<14} {:>12} {:>12}  {}",
            p.name,
            count(&spec, InputShape::IMAGENET),
            count(&spec, InputShape::MNIST),
            p.about
        );
    }
    println!(
        "\nTrainable parameters (batch-norm running statistics excluded), 1000 and 10 classes. \
         Change a preset's shape in the experiment file: model.depths, widths, heads, \
         patch_size, window_size, stem, block, drop_path, hidden (README: `model:`)."
    );
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

fn score_cmd(args: &ScoreArgs) -> Result<()> {
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

fn stability_cmd(args: &StabilityArgs) -> Result<()> {
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

/// Fails when two paths name the same file (an output that would overwrite an input).
fn distinct(input: &Path, input_flag: &str, output: &Path, output_flag: &str) -> Result<()> {
    let same = match (input.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => input == output,
    };
    if same {
        bail!(
            "{output_flag} {} is the {input_flag} file: writing it would destroy the input; give {output_flag} another path",
            output.display()
        );
    }
    Ok(())
}

fn select_cmd(args: &SelectArgs) -> Result<()> {
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
    let sel = select::apply(
        strategy,
        &select::Input {
            scores: &scores,
            keep: args.direction,
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
        "kept {} of {} samples (keep fraction {:.4}, prune ratio {:.4}, {}) -> {}; pruned -> {}",
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
