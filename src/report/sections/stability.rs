//! Ranking stability: how early each method's kept sets settle (`stability.csv`, written with
//! `scoring.stability: true` or `dynunc stability`), as a figure and a table.

use super::{Folder, Section};
use crate::score::stability::StabilityRow;

/// `## Ranking stability`.
pub struct Stability;

/// Kept-set overlap that counts as settled.
const SETTLED: [f64; 2] = [0.9, 0.95];

impl Section for Stability {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        let mut body = String::new();
        for (suffix, model) in f.suffixes().iter().zip(f.models) {
            let Ok(Some(rows)) = crate::report::folder::read_stability(f.dir, suffix) else {
                continue;
            };
            if f.models.len() > 1 {
                body.push_str(&format!("### {model}\n\n"));
            }
            body.push_str(&table(&rows));
        }
        if body.is_empty() {
            return None;
        }
        Some(format!(
            "## Ranking stability\n\nEach method's scores from the first k scoring epochs against its scores from all of them: the share of the final kept set (global top selection) already kept, and the Spearman correlation (`stability.csv`).\n\n{}{body}",
            f.figures("stability", "ranking stability")
        ))
    }
}

/// Per method and prune ratio: the first k whose kept set holds 90% and 95% of the final one,
/// and the overlap and Spearman correlation at a quarter and half of the epochs.
fn table(rows: &[StabilityRow]) -> String {
    let last = rows.iter().map(|r| r.epochs_used).max().unwrap_or(0);
    let at = |share: usize| (last * share).div_ceil(4).max(1);
    let (quarter, half) = (at(1), at(2));
    let mut out = format!(
        "| method | prune | first k with 90% kept | first k with 95% | kept at k = {quarter} | Spearman at {quarter} | kept at k = {half} | Spearman at {half} |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut keys: Vec<(&str, f64)> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.method.as_str(), r.prune_ratio)) {
            keys.push((&r.method, r.prune_ratio));
        }
    }
    for (method, ratio) in keys {
        let mine: Vec<&StabilityRow> = rows
            .iter()
            .filter(|r| r.method == method && r.prune_ratio == ratio)
            .collect();
        let first = |t: f64| {
            mine.iter()
                .find(|r| r.kept_overlap >= t)
                .map_or("-".to_string(), |r| r.epochs_used.to_string())
        };
        let cell = |k: usize| {
            mine.iter().rfind(|r| r.epochs_used <= k).map_or(
                ("-".to_string(), "-".to_string()),
                |r| {
                    (
                        format!("{:.3}", r.kept_overlap),
                        format!("{:.3}", r.spearman),
                    )
                },
            )
        };
        let ((kq, sq), (kh, sh)) = (cell(quarter), cell(half));
        out.push_str(&format!(
            "| {method} | {:.0}% | {} | {} | {kq} | {sq} | {kh} | {sh} |\n",
            100.0 * ratio,
            first(SETTLED[0]),
            first(SETTLED[1]),
        ));
    }
    out.push('\n');
    out
}
