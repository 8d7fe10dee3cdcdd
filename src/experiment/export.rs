//! The kept subsets as files other tools can train on: for every method that reads dynamics
//! and every prune ratio, the kept training samples as indices into the full training set
//! (one per line) and, for ImageFolder data, as the authors' `file_list.txt` form
//! (`/class/image label`, relative to `data.path/train`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::Ctx;
use super::scoring::{Scores, seeded};
use crate::select::{self, Amount};

/// Writes `subsets/[<model>/]<method>_prune<percent>.txt` (and `.file_list.txt`) under `dir`.
pub(crate) fn subsets(ctx: &Ctx<'_>, model: usize, scores: &Scores, dir: &Path) -> Result<()> {
    let exp = ctx.exp;
    if exp.retrain.prune_ratios.is_empty() {
        return Ok(());
    }
    let mut out_dir = dir.join("subsets");
    if exp.models.len() > 1 {
        out_dir = out_dir.join(&exp.models[model].name);
    }
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| crate::atomic::context("creating the folder", &out_dir, e))?;
    let train = &ctx.splits.train;
    let labels = exp.class_balanced.then_some(train.labels());
    let root = exp.data.path.join("train");
    for &method in exp.methods.iter().filter(|m| !seeded(**m)) {
        let Some(s) = scores.get(method.info().name) else {
            continue;
        };
        for &ratio in &exp.retrain.prune_ratios {
            let keep = Amount::Prune(ratio).keep_fraction("retrain.prune_ratios")?;
            let mut kept = select::select(s, keep, method.info().keep, labels)?.kept;
            kept.sort_unstable();
            let stem = format!("{}_prune{}", method.info().name, percent(ratio));
            let mut indices = String::new();
            for &i in &kept {
                let _ = writeln!(indices, "{}", ctx.splits.train_source_index[i]);
            }
            crate::atomic::write(&out_dir.join(format!("{stem}.txt")), indices.as_bytes())?;
            if !ctx.splits.train_files.is_empty() {
                let mut list = String::new();
                for &i in &kept {
                    let file = &ctx.splits.train_files[ctx.splits.train_source_index[i]];
                    let rel = file.strip_prefix(&root).unwrap_or(file);
                    let _ = writeln!(list, "/{} {}", rel.display(), train.labels()[i]);
                }
                crate::atomic::write(
                    &out_dir.join(format!("{stem}.file_list.txt")),
                    list.as_bytes(),
                )?;
            }
        }
    }
    Ok(())
}

/// `0.25` -> `25`, `0.125` -> `12.5`.
fn percent(ratio: f64) -> String {
    let p = (ratio * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}
