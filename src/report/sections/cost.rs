//! What the pipeline cost, beside what it saves: per network, the scoring run and the retrains
//! in model-epochs, sample passes (samples x epochs) and seconds, against one training on the
//! full data; and per prune ratio, scoring once plus one pruned training as a share of one
//! full-data training, with the number of later pruned trainings after which the scoring has
//! paid for itself. From `archs.csv` (the scoring run) and `main.csv` (every trained model).

use super::{Folder, Section};
use crate::report::markdown::Table;
use crate::report::{ArchRow, MainRow};

/// `## What it cost`.
pub struct Cost;

impl Section for Cost {
    fn write(&self, f: &Folder<'_>) -> Option<String> {
        let mut out = String::new();
        for scoring in f.arch_rows {
            let own: Vec<&MainRow> = f
                .rows
                .iter()
                .filter(|r| r.arch == scoring.arch && r.source() == scoring.arch)
                .collect();
            if own.is_empty() {
                continue;
            }
            if f.arch_rows.len() > 1 {
                out.push_str(&format!("### {}\n\n", scoring.arch));
            }
            out.push_str(&tables(scoring, &own));
        }
        if out.is_empty() {
            return None;
        }
        Some(format!(
            "## What it cost\n\nCompute in model-epochs, sample passes (samples x epochs) and wall-clock seconds (as measured on the machine that ran it; `main.csv`, `archs.csv`). A scoring run costs about one full-data training; pruning pays once the trainings on the subset save more than that.\n\n{out}"
        ))
    }
}

/// Sample passes of a row: its kept samples times its epochs.
fn passes(r: &MainRow) -> f64 {
    r.kept as f64 * r.epochs as f64
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn tables(scoring: &ArchRow, rows: &[&MainRow]) -> String {
    let scoring_passes = (scoring.samples * scoring.epochs) as f64;
    let scoring_seconds = scoring.seconds_per_epoch * scoring.epochs as f64;
    let full: Vec<&&MainRow> = rows.iter().filter(|r| r.method == "full").collect();
    let full_passes = mean(full.iter().map(|r| passes(r))).unwrap_or(scoring_passes);
    let retrains: Vec<&&MainRow> = rows.iter().filter(|r| r.method != "full").collect();
    let mut t = Table::new(
        ["", "trainings", "model-epochs", "sample passes", "seconds"],
        1,
    );
    let count = |v: &[&&MainRow]| v.len().to_string();
    let sum = |v: &[&&MainRow], g: fn(&MainRow) -> f64| v.iter().map(|r| g(r)).sum::<f64>();
    t.row([
        "scoring run".to_string(),
        "1".into(),
        scoring.epochs.to_string(),
        format!("{scoring_passes:.0}"),
        format!("{scoring_seconds:.0}"),
    ]);
    for (name, v) in [
        ("full-data trainings", &full),
        ("pruned retrains", &retrains),
    ] {
        // (`retrain.full_data: false` trains none: no row rather than zeros)
        if v.is_empty() {
            continue;
        }
        t.row([
            name.to_string(),
            count(v),
            format!("{:.0}", sum(v, |r| r.epochs as f64)),
            format!("{:.0}", sum(v, passes)),
            format!("{:.0}", sum(v, |r| r.wall_seconds)),
        ]);
    }
    let mut out = t.render();
    let ratios = crate::report::sorted_ratios(retrains.iter().map(|r| r.prune_ratio));
    let mut per = Table::new(
        [
            "prune ratio",
            "one pruned training (sample passes, mean)",
            "scoring + one pruned training, x one full-data training",
            "pruned trainings to pay for the scoring",
        ],
        1,
    );
    for p in ratios {
        let Some(one) = mean(
            retrains
                .iter()
                .filter(|r| r.prune_ratio == p)
                .map(|r| passes(r)),
        ) else {
            continue;
        };
        let saved = full_passes - one;
        per.row([
            format!("{:.0}%", 100.0 * p),
            format!("{one:.0}"),
            format!("{:.2}", (scoring_passes + one) / full_passes),
            match saved > 0.0 {
                true => format!("{:.1}", scoring_passes / saved),
                false => "never (no fewer passes)".into(),
            },
        ]);
    }
    out.push('\n');
    out.push_str(&per.render());
    out.push('\n');
    out
}
