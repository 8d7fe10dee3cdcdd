//! The scoring runs: one full-data training run per network, dynamics recorded.

use super::{Folder, Section};

/// `## Scoring runs`.
pub struct ScoringRuns;

impl Section for ScoringRuns {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        if f.arch_rows.is_empty() {
            return None;
        }
        Some(format!(
            "## Scoring runs\n\nOne full-data training run per model, dynamics recorded.\n\n{}\n",
            crate::report::arch_table(f.arch_rows)
        ))
    }
}
