//! Test accuracy after pruning: the figure per network and every accuracy table.

use super::{Folder, Section};

/// `## Test accuracy after pruning`.
pub struct Accuracy;

impl Section for Accuracy {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        if f.rows.is_empty() {
            return None;
        }
        Some(format!(
            "## Test accuracy after pruning\n\n{}{}\n",
            f.figures("accuracy", "accuracy"),
            f.table
        ))
    }
}
