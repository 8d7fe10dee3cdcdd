//! `dynunc import` and `dynunc export`: dynamics in and out of other tools' files.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use crate::dynamics::{Field, FieldSet, npy};
use crate::interop;

/// Arguments of `dynunc import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Logits per epoch: a T x N x C float32/float16 `.npy` (epochs x samples x classes), or a
    /// folder of per-epoch `<e>_Output.npy` (N x C, samples in any order) with
    /// `<e>_Index.npy` (their sample indices), as TDDS writes them. Every recorded field,
    /// `drift` included, is computed from them as a dynunc run computes it.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "prob_history",
        required_unless_present = "prob_history"
    )]
    pub logits: Option<PathBuf>,
    /// The official Dyn-Unc code's folder of per-epoch true-class probabilities
    /// (`pred_prob_history/`, one text file per epoch, N values, 0 = not seen that epoch):
    /// p_true and the seen flags; methods that need other fields are refused.
    #[arg(long, value_name = "DIR")]
    pub prob_history: Option<PathBuf>,
    /// Labels: a 1-D integer `.npy` of N class indices.
    #[arg(long, value_name = "PATH")]
    pub labels: PathBuf,
    /// The store to write (`.dyn`); must not exist.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// Arguments of `dynunc export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The store (`.dyn`) to export.
    #[arg(long, value_name = "PATH")]
    pub dynamics: PathBuf,
    /// Folder to write `<field>.npy` (N x T) and `labels.npy` into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Fields to write, comma-separated (default: every field the store holds): p_true, el2n,
    /// margin, entropy, max_prob, top2_gap, flags, drift.
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
}

pub(crate) fn import_cmd(args: &ImportArgs) -> Result<()> {
    if args.out.exists() {
        bail!(
            "--out {} exists; remove it or choose another path (an import never appends to a store)",
            args.out.display()
        );
    }
    let labels = npy::read_labels(&args.labels)?;
    let started = std::time::Instant::now();
    let (done, from) = match (&args.logits, &args.prob_history) {
        (Some(logits), _) => (
            interop::logits::import(logits, &labels, &args.out)
                .with_context(|| format!("importing logits from {}", logits.display()))?,
            logits,
        ),
        (None, Some(dir)) => (
            interop::history::import(dir, &labels, &args.out)
                .with_context(|| format!("importing {}", dir.display()))?,
            dir,
        ),
        (None, None) => bail!("give --logits PATH or --prob-history DIR"),
    };
    eprintln!(
        "imported {} epochs of {} samples ({} classes) from {} in {:.1}s -> {} (fields: {})",
        done.epochs,
        done.samples,
        done.classes,
        from.display(),
        started.elapsed().as_secs_f64(),
        args.out.display(),
        done.fields
    );
    Ok(())
}

pub(crate) fn export_cmd(args: &ExportArgs) -> Result<()> {
    let fields = match args.fields.is_empty() {
        true => None,
        false => {
            let mut set = FieldSet::EMPTY;
            for name in &args.fields {
                let field = Field::ALL
                    .into_iter()
                    .find(|f| f.name() == name)
                    .with_context(|| {
                        let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
                        format!(
                            "--fields: `{name}` is not a field; fields: {}",
                            known.join(", ")
                        )
                    })?;
                set = set.union(FieldSet::of(&[field]));
            }
            Some(set)
        }
    };
    let written = interop::export::export(&args.dynamics, &args.out, fields)
        .with_context(|| format!("exporting {}", args.dynamics.display()))?;
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
