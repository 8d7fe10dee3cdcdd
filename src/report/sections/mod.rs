//! The sections of a results folder's `README.md`, in order: each a [`Section`] in
//! [`SECTIONS`], one file each, writing nothing when the folder holds nothing for it (as
//! criterion's report hooks). Adding a section (a new table or figure) is two files: its own
//! `src/report/sections/<name>.rs` and one line in [`SECTIONS`].

mod accuracy;
mod class_shares;
mod cost;
mod examples;
mod ood;
mod real;
mod score_figures;
pub mod scoring_cost;
mod scoring_runs;
mod stability;

use std::path::Path;

use super::{ArchRow, MainRow, OodRow};

/// Every section, in the order the README shows them.
pub static SECTIONS: &[&dyn Section] = &[
    &accuracy::Accuracy,
    &class_shares::ClassShares,
    &scoring_runs::ScoringRuns,
    &cost::Cost,
    &scoring_cost::ScoringCost,
    &score_figures::ScoreFigures,
    &stability::Stability,
    &examples::Examples,
    &ood::Ood,
    &real::Real,
];

/// What a results folder holds, as the sections read it.
#[derive(Debug)]
pub struct Folder<'a> {
    /// The folder.
    pub dir: &'a Path,
    /// Rows of `main.csv` (method names as shown).
    pub rows: &'a [MainRow],
    /// The accuracy tables, rendered.
    pub table: &'a str,
    /// The networks, in order.
    pub models: &'a [String],
    /// Rows of `archs.csv`.
    pub arch_rows: &'a [ArchRow],
    /// Rows of `ood.csv` (method names as shown).
    pub ood: &'a [OodRow],
}

impl Folder<'_> {
    /// The file-name suffix of each network's figures (one empty suffix for one network).
    pub fn suffixes(&self) -> Vec<String> {
        super::folder::suffixes(self.models)
    }

    /// `![alt](file)` for each network's `<stem><suffix>.png` that exists; empty when none.
    pub fn figures(&self, stem: &str, alt: &str) -> String {
        self.suffixes()
            .iter()
            .zip(self.models)
            .map(|(s, m)| (format!("{stem}{s}.png"), m))
            .filter(|(file, _)| self.dir.join(file).exists())
            .map(|(file, m)| format!("![{alt} {m}]({file})\n\n"))
            .collect()
    }
}

/// One section of the README.
pub trait Section: Sync {
    /// The section's Markdown (from its `##` heading on), or `None` when it has nothing.
    fn write(&self, folder: &Folder<'_>) -> Option<String>;
}
