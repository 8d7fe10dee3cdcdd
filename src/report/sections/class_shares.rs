//! How evenly each method's `top` subsets cover the classes: per method and prune ratio, the
//! share of its class kept for the least-kept class and the median class, recomputed from the
//! per-sample scores a run keeps (`work/[<model>/]scores/<method>.csv`) with the selection the
//! retrains used (global, or per class when `class_balanced`). A method that empties a class at
//! high pruning shows it here before its accuracy does.

use super::{Folder, Section};
use crate::report::markdown::{Table, ratio_columns};
use crate::score::rows::read_scores;

/// `## Classes kept`.
pub struct ClassShares;

impl Section for ClassShares {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        // The `top` subsets as retrained: nothing to show where no scored method used `top`.
        let scored = |method: &str| {
            crate::score::REGISTRY
                .iter()
                .any(|m| m.info().name == method && !m.info().seeded)
        };
        if !f
            .rows
            .iter()
            .any(|r| r.strategy == "top" && scored(&r.method))
        {
            return None;
        }
        let ratios: Vec<f64> = crate::report::prune_ratios(f.rows, None)
            .into_iter()
            .filter(|&p| p > 0.0)
            .collect();
        let balanced = f.rows.iter().any(|r| r.class_balanced);
        let several = f.models.len() > 1;
        let mut out = String::new();
        for model in f.models {
            let dir = crate::report::folder::scores_dir(f.dir, f.models, model);
            let mut t = Table::new(ratio_columns("method", &ratios), 1);
            let mut methods = 0;
            for m in crate::score::REGISTRY.iter().filter(|m| !m.info().seeded) {
                let name = m.info().name;
                let Ok(rows) = read_scores(&dir.join(format!("{name}.csv"))) else {
                    continue;
                };
                let Some(labels) = rows.iter().map(|r| r.label).collect::<Option<Vec<u32>>>()
                else {
                    continue;
                };
                let scores: Vec<f32> = rows.iter().map(|r| r.score).collect();
                let by_class = balanced.then_some(&labels[..]);
                let cells = ratios.iter().map(|&p| {
                    crate::select::select(&scores, 1.0 - p, m.info().keep, by_class)
                        .map_or("–".into(), |sel| shares_cell(&labels, &sel.kept))
                });
                t.row(std::iter::once(name.to_string()).chain(cells));
                methods += 1;
            }
            if methods == 0 {
                continue;
            }
            if several {
                out.push_str(&format!("\n### {model}\n\n"));
            }
            out.push_str(&t.render());
        }
        (!out.is_empty()).then(|| {
            format!(
                "## Classes kept\n\nShare of its class kept (`top` selection, as retrained): the least-kept class (its label) / the median class. A class near 0% is one the pruned set all but drops.\n\n{out}\n"
            )
        })
    }
}

/// `least% (class c) / median%` over the classes of `labels`, for the `kept` samples.
fn shares_cell(labels: &[u32], kept: &[usize]) -> String {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let (mut size, mut got) = (vec![0usize; classes], vec![0usize; classes]);
    for &l in labels {
        size[l as usize] += 1;
    }
    for &i in kept {
        got[labels[i] as usize] += 1;
    }
    let mut shares: Vec<(f64, usize)> = (0..classes)
        .filter(|&c| size[c] > 0)
        .map(|c| (100.0 * got[c] as f64 / size[c] as f64, c))
        .collect();
    if shares.is_empty() {
        return "–".into();
    }
    shares.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (least, class) = shares[0];
    let median = shares[shares.len() / 2].0;
    format!("{least:.0}% (class {class}) / {median:.0}%")
}
