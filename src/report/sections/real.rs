//! ImageNet-ReaL: its accuracy is a table of the accuracy section when measured; otherwise
//! this section says why there is none, rather than reporting a proxy.

use super::{Folder, Section};

/// `## ImageNet-ReaL accuracy` when it is n/a.
pub struct Real;

impl Section for Real {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        if f.rows.is_empty() || f.rows.iter().any(|r| r.real_acc.is_some()) {
            return None;
        }
        Some(
            "## ImageNet-ReaL accuracy\n\nn/a: ReaL labels (Beyer et al. 2020) exist for the ImageNet validation set only, and this experiment does not give `evaluation.real_labels`; no proxy is reported.\n\n".into(),
        )
    }
}
