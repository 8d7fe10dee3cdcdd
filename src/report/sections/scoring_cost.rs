//! Accuracy against scoring cost: each method's subsets scored from part of the scoring run
//! (`scoring.prefixes`, the replayed `scoring.stop`) or on another network (a proxy that only
//! scores), beside the same method scored from the whole run of the network retrained, and
//! whether each is as good: its mean at least the whole run's mean minus its std, at every
//! ratio. From `main.csv`, `scored_from.csv` (written with `scoring.stop` or
//! `scoring.prefixes`) and `archs.csv`.

use std::path::Path;

use super::{Folder, Section};
use crate::report::markdown::Table;
use crate::report::{ArchRow, MainRow, ScoredFromRow, read_scored_from_rows};

/// `## Scoring cost`.
pub struct ScoringCost;

/// One method line (method and strategy, as shown) scored one way and retrained at one ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The method as shown, without the part: `dyn_unc`, `dyn_unc+ccs`.
    pub line: String,
    /// `all`, a number of epochs, or `stop`.
    pub part: String,
    /// The network that scored.
    pub source: String,
    /// The network retrained.
    pub target: String,
    /// Epochs scored from (mean over scoring runs).
    pub epochs_used: f64,
    /// Epochs of the whole run.
    pub epochs_planned: usize,
    /// Scoring seconds as a share of the whole run's on the retrained network.
    pub cost: f64,
    /// Prune ratio.
    pub ratio: f64,
    /// Mean and sample std of the test accuracy (%), and the number of seeds.
    pub mean: f64,
    /// Sample std.
    pub std: f64,
    /// Seeds.
    pub n: usize,
}

/// `dyn_unc@8+ccs` -> (`dyn_unc+ccs`, `8`); `dyn_unc` -> (`dyn_unc`, `all`).
fn split(shown: &str) -> (String, String) {
    let (method, strategy) = match shown.split_once('+') {
        Some((m, s)) => (m, format!("+{s}")),
        None => (shown, String::new()),
    };
    match method.split_once('@') {
        Some((base, part)) => (format!("{base}{strategy}"), part.to_string()),
        None => (format!("{method}{strategy}"), "all".into()),
    }
}

/// The points of every scored (not seeded, not full-data) method line, from the rows with
/// `scored_from` entries; empty without them.
pub fn points(rows: &[MainRow], scored_from: &[ScoredFromRow], archs: &[ArchRow]) -> Vec<Point> {
    let seconds = |arch: &str| {
        archs
            .iter()
            .find(|a| a.arch == arch)
            .map(|a| a.seconds_per_epoch)
    };
    let mut keys: Vec<(String, String, String, String, u64)> = Vec::new();
    // Methods that read the dynamics: not the full-data rows, not a seeded method (random).
    let scored = |line: &str| {
        let base = line.split('+').next().unwrap_or(line);
        crate::score::find(base).is_ok_and(|s| !s.info().seeded)
    };
    for r in rows.iter().filter(|r| scored(&split(&r.method).0)) {
        let (line, part) = split(&r.method);
        let key = (
            line,
            part,
            r.source().to_string(),
            r.arch.clone(),
            r.prune_ratio.to_bits(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = Vec::new();
    for (line, part, source, target, bits) in keys {
        let used: Vec<&ScoredFromRow> = scored_from
            .iter()
            .filter(|s| s.arch == source && s.part == part)
            .collect();
        let (Some(first), Some(src), Some(tgt)) =
            (used.first(), seconds(&source), seconds(&target))
        else {
            continue;
        };
        let epochs_used =
            used.iter().map(|s| s.epochs_used as f64).sum::<f64>() / used.len() as f64;
        let accs: Vec<f64> = rows
            .iter()
            .filter(|r| {
                split(&r.method) == (line.clone(), part.clone())
                    && r.source() == source
                    && r.arch == target
                    && r.prune_ratio.to_bits() == bits
            })
            .map(|r| 100.0 * r.test_acc)
            .collect();
        let (mean, std) = crate::report::mean_std(&accs);
        out.push(Point {
            line,
            part,
            source,
            target,
            epochs_used,
            epochs_planned: first.epochs_planned,
            cost: src * epochs_used / (tgt * first.epochs_planned as f64).max(f64::MIN_POSITIVE),
            ratio: f64::from_bits(bits),
            mean,
            std,
            n: accs.len(),
        });
    }
    out
}

/// The points of the folder at `dir`, when it has a `scored_from.csv`.
pub fn read_points(dir: &Path, rows: &[MainRow], archs: &[ArchRow]) -> Option<Vec<Point>> {
    let scored_from = read_scored_from_rows(&dir.join("scored_from.csv")).ok()?;
    let p = points(rows, &scored_from, archs);
    (!p.is_empty()).then_some(p)
}

/// The whole run's point of `p`'s line on its target at its ratio.
fn whole<'a>(all: &'a [Point], p: &Point) -> Option<&'a Point> {
    all.iter().find(|q| {
        q.line == p.line
            && q.part == "all"
            && q.source == p.target
            && q.target == p.target
            && q.ratio == p.ratio
    })
}

/// Whether `p` is as good as the whole run: mean at least the whole run's mean minus its std.
fn as_good(all: &[Point], p: &Point) -> Option<bool> {
    whole(all, p).map(|w| p.mean >= w.mean - w.std)
}

impl Section for ScoringCost {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        let all = read_points(f.dir, f.rows, f.arch_rows)?;
        let ratios = crate::report::sorted_ratios(all.iter().map(|p| p.ratio));
        let mut header = vec![
            "scores".to_string(),
            "scored on".into(),
            "retrained on".into(),
            "epochs".into(),
            "scoring seconds (x whole run)".into(),
        ];
        header.extend(ratios.iter().map(|r| format!("prune {:.0}%", 100.0 * r)));
        let mut t = Table::new(header, 3);
        let mut variants: Vec<&Point> = Vec::new();
        for p in &all {
            if !variants.iter().any(|v| {
                (&v.line, &v.part, &v.source, &v.target) == (&p.line, &p.part, &p.source, &p.target)
            }) {
                variants.push(p);
            }
        }
        variants.sort_by(|a, b| {
            (&a.line, &a.target)
                .cmp(&(&b.line, &b.target))
                .then(a.cost.total_cmp(&b.cost))
        });
        let mut summary = String::new();
        for v in &variants {
            let mut cells = vec![
                match v.part.as_str() {
                    "all" => v.line.clone(),
                    "stop" => format!("{}, epochs until scoring.stop", v.line),
                    part => format!("{}, first {part} epochs", v.line),
                },
                v.source.clone(),
                v.target.clone(),
                format!("{:.1} / {}", v.epochs_used, v.epochs_planned),
                format!("{:.2}", v.cost),
            ];
            let mut good_everywhere = true;
            for &r in &ratios {
                let cell = all.iter().find(|p| {
                    (&p.line, &p.part, &p.source, &p.target)
                        == (&v.line, &v.part, &v.source, &v.target)
                        && p.ratio == r
                });
                cells.push(cell.map_or("-".into(), |p| {
                    let good = as_good(&all, p);
                    good_everywhere &= good == Some(true);
                    format!(
                        "{:.2} ± {:.2}{}",
                        p.mean,
                        p.std,
                        if good == Some(true) { " =" } else { "" }
                    )
                }));
            }
            t.row(cells);
            if good_everywhere && !summary.contains(&format!("`{}` on {}", v.line, v.target)) {
                summary.push_str(&format!(
                    "- `{}` on {}: from {} ({:.1} of {} epochs on {}, {:.0}% of the whole run's scoring seconds)\n",
                    v.line,
                    v.target,
                    match v.part.as_str() {
                        "all" => "the whole run".to_string(),
                        "stop" => "where scoring.stop stopped".to_string(),
                        k => format!("the first {k} epochs"),
                    },
                    v.epochs_used,
                    v.epochs_planned,
                    v.source,
                    100.0 * v.cost
                ));
            }
        }
        Some(format!(
            "## Scoring cost\n\nEach method's subsets scored from part of the scoring run or on a smaller network, against its subsets from the whole run of the network retrained (`scored_from.csv` says how many epochs each part held; `=`: as good as the whole run, a mean at least its mean minus its std). Scoring seconds from `archs.csv` (each network's measured seconds per epoch x the epochs used), as a share of the whole run's on the retrained network.\n\n![scoring cost](scoring_cost.png)\n\n{}\nThe cheapest scoring as good as the whole run at every ratio:\n\n{}\n",
            t.render(),
            if summary.is_empty() {
                "- none\n".to_string()
            } else {
                summary
            }
        ))
    }
}
