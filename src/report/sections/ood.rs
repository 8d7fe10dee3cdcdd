//! Out-of-distribution detection by every trained model.

use super::{Folder, Section};

/// `## Out-of-distribution detection`.
pub struct Ood;

impl Section for Ood {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        if f.ood.is_empty() {
            return None;
        }
        Some(format!(
            "## Out-of-distribution detection\n\n{}\n",
            crate::report::ood_table(f.ood)
        ))
    }
}
