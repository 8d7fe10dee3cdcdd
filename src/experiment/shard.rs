//! Splitting an experiment's retrains across machines: `--scores-only` runs the scoring runs
//! on one machine, `--shard i/n` trains every n-th retrain (starting at the i-th) into
//! `shards/i-of-n/`, and `dynunc report` merges the shards' rows in the unsharded order.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context as _, Result};

use crate::config::Experiment;
use crate::report::{MainRow, OodRow, read_ood_rows, read_rows};

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected I/N with 1 <= I <= N, e.g. 2/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether job number `job` (0-based, in the experiment's job order) is this shard's.
    pub fn owns(&self, job: usize) -> bool {
        job % self.count == self.index - 1
    }

    /// The shard's folder inside the results folder `dir`.
    pub fn dir(&self, dir: &Path) -> PathBuf {
        dir.join("shards")
            .join(format!("{}-of-{}", self.index, self.count))
    }
}

/// The shard folders of `dir` that hold rows, sorted by name.
fn shard_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("shards"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("main.csv").exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Merges the rows of every shard of `dir` into `dir/main.csv` (and `ood.csv`), in the order
/// an unsharded run writes them; says which retrains are still missing. Without shards it
/// leaves the folder as it is.
pub fn merge(dir: &Path, exp: &Experiment) -> Result<()> {
    let shards = shard_dirs(dir);
    if shards.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<MainRow> = Vec::new();
    let mut ood: Vec<OodRow> = Vec::new();
    for s in &shards {
        let csv = s.join("main.csv");
        rows.extend(read_rows(&csv).with_context(|| format!("reading {}", csv.display()))?);
        let ood_csv = s.join("ood.csv");
        if ood_csv.exists() {
            ood.extend(
                read_ood_rows(&ood_csv)
                    .with_context(|| format!("reading {}", ood_csv.display()))?,
            );
        }
    }
    let jobs = super::retrain::jobs(exp);
    let mut merged = Vec::new();
    let mut merged_ood = Vec::new();
    let mut missing = Vec::new();
    for job in &jobs {
        match rows.iter().find(|r| job.matches(r)) {
            Some(r) => merged.push(r.clone()),
            None => missing.push(job.key(exp.models.len() > 1)),
        }
        merged_ood.extend(ood.iter().filter(|r| job.matches_ood(r)).cloned());
    }
    if !missing.is_empty() {
        eprintln!(
            "note: {} of {} retrains are in no shard yet ({}{}); the tables cover the rest",
            missing.len(),
            jobs.len(),
            missing[..missing.len().min(3)].join(", "),
            if missing.len() > 3 { ", ..." } else { "" }
        );
    }
    crate::atomic::write_csv(&dir.join("main.csv"), &merged)?;
    if !merged_ood.is_empty() {
        crate::atomic::write_csv(&dir.join("ood.csv"), &merged_ood)?;
    }
    eprintln!(
        "merged {} rows from {} shard folder(s) into {}",
        merged.len(),
        shards.len(),
        dir.join("main.csv").display()
    );
    Ok(())
}
