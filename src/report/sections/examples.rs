//! The training images Dyn-Unc keeps first and prunes first, per network.

use super::{Folder, Section};

/// `## Highest- and lowest-scored training images (Dyn-Unc)`.
pub struct Examples;

impl Section for Examples {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        let figures = f.figures("examples", "examples");
        (!figures.is_empty()).then(|| {
            format!(
                "## Highest- and lowest-scored training images (Dyn-Unc)\n\nThe samples Dyn-Unc keeps first (its prediction moved most over training) and prunes first (it hardly moved).\n\n{figures}"
            )
        })
    }
}
