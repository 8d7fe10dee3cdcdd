//! The command line: argument definitions and the dispatch to each command.

mod dynamics;
mod interop;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

pub use dynamics::{ScoreArgs, SelectArgs, StabilityArgs, open_dynamics};
use dynamics::{score_cmd, select_cmd, stability_cmd};
pub use interop::{ExportArgs, ImportArgs};
use interop::{export_cmd, import_cmd};

use crate::options::flags::{Registry, flag};
use crate::score::{self, Keep};
use crate::select;

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
    /// With an experiment file: check everything and print the plan without training (as
    /// `dynunc run FILE --dry-run`).
    #[arg(long, requires = "experiment")]
    pub dry_run: bool,
    /// With an experiment file: also print one line per training epoch.
    #[arg(long, requires = "experiment")]
    pub log_epochs: bool,
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
    /// Turn dynamics recorded by another trainer into a store: logits per epoch (a T x N x C
    /// `.npy`, or TDDS's folder of `<e>_Output.npy` + `<e>_Index.npy`), or the official
    /// Dyn-Unc code's `pred_prob_history/` text files.
    Import(ImportArgs),
    /// Write a store's fields as N x T `.npy` arrays (and `labels.npy`) for NumPy and pandas.
    Export(ExportArgs),
    /// List the scoring methods with what each measures and which samples it keeps.
    Methods,
    /// Print an experiment file as a run resolves it (every default filled in: the YAML a run
    /// keeps as `experiment.resolved.yaml`), without reading its data; lists the files it
    /// reads that are not on this machine.
    Config(ConfigArgs),
    /// List the model presets (`model.arch`) with their trainable parameters at ImageNet
    /// size (224x224x3, 1000 classes) and at Fashion-MNIST size (28x28x1, 10 classes).
    Models,
    /// Datasets: `dynunc data download NAME --to DIR` fetches one's official files.
    Data(DataArgs),
}

/// Arguments of `dynunc data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The `dynunc data` commands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a dataset's official files (with curl or wget), check each against its
    /// published MD5 and unpack them into DIR; prints the folder to give as `data.path`.
    /// Datasets: cifar10, cifar100 (the binary versions), fashion_mnist. The only command
    /// that uses the network; tests never do.
    Download(DownloadArgs),
}

/// Arguments of `dynunc data download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The dataset (`data.dataset`): cifar10, cifar100 or fashion_mnist.
    pub dataset: String,
    /// Folder to put it in (created if needed).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Use files downloaded by hand instead of the network: the archive (CIFAR), or the
    /// folder holding the files (Fashion-MNIST). They are checked like downloaded ones.
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
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

/// Arguments of `dynunc config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Experiment file (YAML).
    pub experiment: PathBuf,
}

/// Arguments of `dynunc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results folder of an experiment (holding main.csv).
    pub dir: PathBuf,
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
    let (dry_run, log_epochs) = (cli.dry_run, cli.log_epochs);
    match (cli.command, cli.experiment) {
        (Some(Command::Score(args)), _) => score_cmd(&args),
        (Some(Command::Select(args)), _) => select_cmd(&args),
        (Some(Command::Stability(args)), _) => stability_cmd(&args),
        (Some(Command::Import(args)), _) => import_cmd(&args),
        (Some(Command::Export(args)), _) => export_cmd(&args),
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
        (Some(Command::Config(args)), _) => config_cmd(&args.experiment),
        (Some(Command::Data(args)), _) => match &args.command {
            DataCommand::Download(d) => download_cmd(d),
        },
        (None, Some(path)) => run_cmd(&RunArgs {
            experiment: path,
            log_epochs,
            dry_run,
            scores_only: false,
            shard: None,
        }),
        (None, None) => bail!(
            "nothing to do: give an experiment file (`dynunc experiments/fmnist_quick.yaml`) or a command (`dynunc --help`)"
        ),
    }
}

fn download_cmd(args: &DownloadArgs) -> Result<()> {
    let format = crate::data::format::find(&args.dataset).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(download) = format.download() else {
        let known: Vec<&str> = crate::data::format::FORMATS
            .iter()
            .filter(|f| f.download().is_some())
            .map(|f| f.name())
            .collect();
        bail!(
            "dynunc does not download `{}` (it downloads {}); {}",
            format.name(),
            known.join(", "),
            format.install_hint()
        );
    };
    let path =
        crate::data::download::install(format.name(), download, &args.to, args.from.as_deref())?;
    println!(
        "{}: ready; in an experiment file:\ndata:\n  dataset: {}\n  path: {}",
        format.name(),
        format.name(),
        path.display()
    );
    Ok(())
}

fn run_cmd(args: &RunArgs) -> Result<()> {
    let path = &args.experiment;
    if args.dry_run {
        // Without its data, a file still plans (from the published dataset's size).
        let (exp, missing) = crate::config::load_offline(path)?;
        let plan = match missing.is_empty() && exp.data.path.is_dir() {
            true => crate::experiment::plan::dry_run(path, &exp)?,
            false => crate::experiment::plan::dry_run_offline(path, &exp, &missing)?,
        };
        print!("{plan}");
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

/// Fails when two paths name the same file (an output that would overwrite an input).
pub(crate) fn distinct(
    input: &Path,
    input_flag: &str,
    output: &Path,
    output_flag: &str,
) -> Result<()> {
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

/// `dynunc config`: the resolved experiment on stdout; the files it reads that are missing here
/// on stderr.
fn config_cmd(path: &std::path::Path) -> Result<()> {
    let (exp, missing) = crate::config::load_offline(path)?;
    let yaml = serde_saphyr::to_string(&exp.resolved)?;
    println!("{}", yaml.trim_end());
    if !missing.is_empty() {
        eprintln!(
            "{}: valid; {} file(s) it reads are not on this machine (a run needs them):",
            path.display(),
            missing.len()
        );
        for m in &missing {
            eprintln!("  {}: {}", m.path, m.message);
        }
    }
    Ok(())
}
