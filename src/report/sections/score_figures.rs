//! Every method's score distribution, per network.

use super::{Folder, Section};

/// `## Score distributions`.
pub struct ScoreFigures;

impl Section for ScoreFigures {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        let figures = f.figures("scores", "scores");
        (!figures.is_empty()).then(|| format!("## Score distributions\n\n{figures}"))
    }
}
