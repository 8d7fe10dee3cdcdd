//! Results: the typed rows of `main.csv` and the Markdown tables made from them.

pub mod folder;
pub mod markdown;
pub mod plot;
pub mod rows;
pub mod sections;
pub mod stats;

use markdown::{Table, ratio_columns};
use std::collections::BTreeMap;

pub use rows::*;

/// The scoring runs: one row per network.
pub fn arch_table(rows: &[ArchRow]) -> String {
    let mut t = Table::new(
        [
            "model",
            "preset",
            "parameters",
            "samples",
            "epochs",
            "s / epoch",
            "test accuracy (%)",
        ],
        2,
    );
    for r in rows {
        t.row([
            r.arch.clone(),
            r.preset.clone(),
            r.params.to_string(),
            r.samples.to_string(),
            r.epochs.to_string(),
            format!("{:.2}", r.seconds_per_epoch),
            format!("{:.2}", 100.0 * r.test_acc),
        ]);
    }
    t.render()
}

/// AUROC and FPR@95TPR (%) per OOD set and score, method and prune ratio, mean ± std over seeds.
pub fn ood_table(rows: &[OodRow]) -> String {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    let mut methods: Vec<&str> = Vec::new();
    let mut ratios: Vec<f64> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.ood_set.as_str(), r.score.as_str())) {
            keys.push((&r.ood_set, &r.score));
        }
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
        if !ratios.contains(&r.prune_ratio) {
            ratios.push(r.prune_ratio);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let mut out = String::new();
    for (set, score) in keys {
        out.push_str(&format!(
            "\n### {set}, {score} score: AUROC % / FPR at 95% TPR %\n\n"
        ));
        let mut t = Table::new(ratio_columns("method", &ratios), 1);
        for m in &methods {
            let cells = ratios.iter().map(|&p| {
                let sel: Vec<&OodRow> = rows
                    .iter()
                    .filter(|r| {
                        r.ood_set == set && r.score == score && r.method == *m && r.prune_ratio == p
                    })
                    .collect();
                if sel.is_empty() {
                    return "–".to_string();
                }
                let auroc: Vec<f64> = sel.iter().map(|r| 100.0 * r.auroc).collect();
                let fpr: Vec<f64> = sel.iter().map(|r| 100.0 * r.fpr_at_95_tpr).collect();
                let ((am, asd), (fm, _)) = (mean_std(&auroc), mean_std(&fpr));
                format!("{am:.2} ± {asd:.2} / {fm:.1}")
            });
            t.row(std::iter::once(m.to_string()).chain(cells));
        }
        out.push_str(&t.render());
    }
    out
}

/// The methods of `rows` other than `full`, in order of first appearance.
pub fn pruning_methods(rows: &[MainRow]) -> Vec<&str> {
    let mut methods: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.method != "full") {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    methods
}

/// The distinct prune ratios of `rows` (of one method, when given), ascending.
pub fn prune_ratios(rows: &[MainRow], method: Option<&str>) -> Vec<f64> {
    sorted_ratios(
        rows.iter()
            .filter(|r| method.is_none_or(|m| r.method == m))
            .map(|r| r.prune_ratio),
    )
}

/// `ratios` in increasing order, each once.
pub fn sorted_ratios(ratios: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut ratios: Vec<f64> = ratios.into_iter().collect();
    ratios.sort_by(f64::total_cmp);
    ratios.dedup();
    ratios
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// `reference` against each other method per ratio, paired by seed: the difference of mean
/// accuracy (percentage points, the reference's minus the other's) and the paired t-test's
/// p-value; with `reversed`, the other's minus the reference's.
fn difference_table(
    rows: &[MainRow],
    (methods, ratios): (&[&str], &[f64]),
    reference: &str,
    reversed: bool,
) -> String {
    let first = if reversed { "method" } else { "baseline" };
    let mut t = Table::new(ratio_columns(first, ratios), 1);
    for m in methods.iter().filter(|&&m| m != reference) {
        let cells = ratios
            .iter()
            .map(|&p| match paired_difference(rows, reference, m, p) {
                None => "–".to_string(),
                Some((diff, pv)) => {
                    let diff = if reversed { -diff } else { diff };
                    match pv {
                        Some(pv) => {
                            let star = if pv < 0.05 { "*" } else { "" };
                            format!("{diff:+.2} (p={pv:.3}){star}")
                        }
                        None => format!("{diff:+.2}"),
                    }
                }
            });
        t.row(std::iter::once(m.to_string()).chain(cells));
    }
    t.render()
}

/// `a`'s mean accuracy minus `b`'s at ratio `p` in percentage points over the seeds both have,
/// with the paired t-test's p-value (`None` with one seed); `None` without a common seed.
fn paired_difference(rows: &[MainRow], a: &str, b: &str, p: f64) -> Option<(f64, Option<f64>)> {
    let theirs = stats::accuracies(rows, b, p);
    let (x, y): (Vec<f64>, Vec<f64>) = stats::accuracies(rows, a, p)
        .iter()
        .filter_map(|&(s, x)| theirs.iter().find(|&&(t, _)| t == s).map(|&(_, y)| (x, y)))
        .unzip();
    if x.is_empty() {
        return None;
    }
    let diff = 100.0 * (mean_std(&x).0 - mean_std(&y).0);
    Some((diff, stats::paired_t_test(&x, &y)))
}

/// Every method against `random` per ratio (each method's minus random's), and the best one
/// at each ratio; empty without random or without another method.
fn versus_random_table(rows: &[MainRow], methods: &[&str], ratios: &[f64]) -> String {
    const RANDOM: &str = "random";
    if !methods.contains(&RANDOM) || methods.len() < 3 {
        return String::new();
    }
    let mut out = String::from(
        "\nEach method minus random, percentage points (paired t-test p over seeds; * = p < 0.05):\n\n",
    );
    out.push_str(&difference_table(rows, (methods, ratios), RANDOM, true));
    out.push_str("\nBest against random:");
    for &p in ratios {
        let best = methods
            .iter()
            .filter(|&&m| m != RANDOM)
            .filter_map(|&m| paired_difference(rows, RANDOM, m, p).map(|(d, pv)| (m, -d, pv)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((m, d, pv)) = best {
            let pv = pv.map_or(String::new(), |pv| format!(", p={pv:.3}"));
            out.push_str(&format!(" {:.0}%: {m} {d:+.2}{pv};", p * 100.0));
        }
    }
    out.push('\n');
    out
}

/// Dyn-Unc against each other method per ratio: the difference of mean accuracy (percentage
/// points) with the paired t-test's p-value over seeds, a 95% interval of Dyn-Unc's mean, and
/// each method's lossless pruning ratio. Empty when Dyn-Unc is not among the methods.
fn comparison_table(rows: &[MainRow], methods: &[&str], ratios: &[f64]) -> String {
    const OURS: &str = "dyn_unc";
    if !methods.contains(&OURS) {
        return String::new();
    }
    let mut out = String::from(
        "\nDyn-Unc minus each baseline, percentage points (paired t-test p over seeds; * = p < 0.05):\n\n",
    );
    out.push_str(&difference_table(rows, (methods, ratios), OURS, false));
    out.push_str("\n95% confidence interval of Dyn-Unc's mean accuracy (Student t over seeds):");
    for &p in ratios {
        let acc: Vec<f64> = stats::accuracies(rows, OURS, p)
            .into_iter()
            .map(|(_, a)| 100.0 * a)
            .collect();
        if acc.is_empty() {
            continue;
        }
        let s = stats::summarize(&acc);
        out.push_str(&match s.ci95 {
            Some(h) => format!(
                " {:.0}%: [{:.2}, {:.2}];",
                p * 100.0,
                s.mean - h,
                s.mean + h
            ),
            None => format!(" {:.0}%: n/a (one seed);", p * 100.0),
        });
    }
    out.push_str("\n\nLossless pruning ratio (largest ratio whose mean accuracy is at least the full-data mean minus one full-data std):");
    for m in methods {
        let ratio = stats::lossless_ratio(rows, m)
            .map_or("none".to_owned(), |p| format!("{:.0}%", p * 100.0));
        out.push_str(&format!(" {m} {ratio};"));
    }
    out.push('\n');
    out
}

/// Test accuracy (%) per method and prune ratio as a Markdown table, mean ± std over seeds.
pub fn results_markdown(rows: &[MainRow]) -> String {
    let archs = archs(rows);
    if !several_sources(rows) {
        return markdown_table(rows) + &extra_tables(rows);
    }
    let mut out = String::new();
    for a in &archs {
        let own: Vec<MainRow> = rows
            .iter()
            .filter(|r| r.arch == *a && r.source() == a)
            .cloned()
            .collect();
        // A model outside retrain.sources has only rows that read no scores.
        let scored = own
            .iter()
            .any(|r| r.method != "random" && r.method != "full");
        let title = match scored {
            true => format!("Scored and retrained on {a}"),
            false => format!("Retrained on {a}: subsets that need no scores (random, full data)"),
        };
        out.push_str(&format!(
            "## {title}\n\n{}{}\n",
            markdown_table(&own),
            extra_tables(&own)
        ));
    }
    out.push_str("## Cross-architecture: scores from one network, retrained on another\n\n");
    out.push_str(&cross_arch_table(rows));
    out
}

/// A table cell of accuracies (%) over seeds: `mean ± std` for several, the value for one,
/// `–` for none.
fn cell(v: &[f64]) -> String {
    match v {
        [] => "–".into(),
        [one] => format!("{one:.2}"),
        _ => {
            let (m, s) = mean_std(v);
            format!("{m:.2} ± {s:.2}")
        }
    }
}

/// ImageNet-ReaL accuracy per method and prune ratio (mean ± std over seeds), when the rows
/// have it.
pub fn real_table(rows: &[MainRow]) -> Option<String> {
    accuracy_table(
        rows,
        "ImageNet-ReaL accuracy in % (Beyer et al. 2020), mean ± std over seeds",
        |r| r.real_acc,
    )
}

/// Test accuracy after fine-tuning on the experiment's second dataset, per method and prune
/// ratio (mean ± std over seeds), when the rows have it.
pub fn finetune_table(rows: &[MainRow]) -> Option<String> {
    accuracy_table(
        rows,
        "After fine-tuning on the second dataset (`finetune:`), its test accuracy in %, mean ± std over seeds",
        |r| r.finetune_acc,
    )
}

/// ImageNet-ReaL accuracy after fine-tuning, per method and prune ratio (mean ± std over
/// seeds), when the rows have it (`finetune.real_labels`).
pub fn finetune_real_table(rows: &[MainRow]) -> Option<String> {
    accuracy_table(
        rows,
        "After fine-tuning, its ImageNet-ReaL accuracy in % (`finetune.real_labels`), mean ± std over seeds",
        |r| r.finetune_real_acc,
    )
}

/// The best test accuracy over the epochs, per method and prune ratio (mean ± std over seeds),
/// when the rows have it (`evaluation.every_epoch`).
pub fn best_epoch_table(rows: &[MainRow]) -> Option<String> {
    accuracy_table(
        rows,
        "Best-epoch test accuracy in % (the highest over the epochs, as the official ImageNet code logs it; `evaluation.every_epoch`), mean ± std over seeds. The tables above use the last epoch's",
        |r| r.best_acc,
    )
}

/// The optional accuracy tables, those the rows have.
fn extra_tables(rows: &[MainRow]) -> String {
    real_table(rows).unwrap_or_default()
        + &finetune_table(rows).unwrap_or_default()
        + &finetune_real_table(rows).unwrap_or_default()
        + &best_epoch_table(rows).unwrap_or_default()
}

/// An accuracy per method and prune ratio that only some experiments measure.
fn accuracy_table(
    rows: &[MainRow],
    title: &str,
    value: fn(&MainRow) -> Option<f64>,
) -> Option<String> {
    if rows.iter().all(|r| value(r).is_none()) {
        return None;
    }
    let ratios = prune_ratios(rows, None);
    let mut methods: Vec<&str> = vec!["full"];
    methods.extend(pruning_methods(rows));
    let mut t = Table::new(ratio_columns("method", &ratios), 1);
    for m in methods {
        let cells = ratios.iter().map(|&p| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.method == m && r.prune_ratio == p)
                .filter_map(|r| value(r).map(|a| 100.0 * a))
                .collect();
            cell(&v)
        });
        t.row(std::iter::once(m.to_string()).chain(cells));
    }
    Some(format!("\n{title}:\n\n{}", t.render()))
}

/// Whether `rows` hold subsets scored on one network and retrained on another (several
/// networks, or a proxy that only scores: `retrain.targets`).
pub fn several_sources(rows: &[MainRow]) -> bool {
    archs(rows).len() > 1 || rows.iter().any(|r| r.source() != r.arch)
}

/// Networks that scored the subsets in `rows` (the targets' own first), in order of
/// appearance.
fn sources(rows: &[MainRow]) -> Vec<String> {
    let mut out = archs(rows);
    for r in rows {
        if !out.iter().any(|a| a == r.source()) {
            out.push(r.source().to_string());
        }
    }
    out
}

/// Networks trained in `rows`, in order of appearance.
pub fn archs(rows: &[MainRow]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        if !out.contains(&r.arch) {
            out.push(r.arch.clone());
        }
    }
    out
}

/// Rows `source -> target`, one per pruning method, columns per prune ratio; random and the
/// full-data accuracy of each target as references.
pub fn cross_arch_table(rows: &[MainRow]) -> String {
    let ratios: Vec<f64> = prune_ratios(rows, None)
        .into_iter()
        .filter(|&p| p > 0.0)
        .collect();
    let (archs, sources) = (archs(rows), sources(rows));
    let mut cells: BTreeMap<(&str, &str, &str, u64), Vec<f64>> = BTreeMap::new();
    for r in rows {
        cells
            .entry((
                r.source(),
                r.arch.as_str(),
                r.method.as_str(),
                r.prune_ratio.to_bits(),
            ))
            .or_default()
            .push(100.0 * r.test_acc);
    }
    let mut t = Table::new(
        [
            "scores from → retrained on".to_string(),
            "method".to_string(),
        ]
        .into_iter()
        .chain(ratios.iter().map(|p| format!("{:.0}%", 100.0 * p)))
        .chain(["full data".to_string()]),
        2,
    );
    for target in &archs {
        let full = cells
            .get(&(target.as_str(), target.as_str(), "full", 0f64.to_bits()))
            .map_or("–".to_string(), |v| cell(v));
        for method in pruning_methods(rows) {
            for source in &sources {
                if !ratios.iter().any(|p| {
                    cells.contains_key(&(source.as_str(), target.as_str(), method, p.to_bits()))
                }) {
                    continue;
                }
                let accs = ratios.iter().map(|p| {
                    cells
                        .get(&(source.as_str(), target.as_str(), method, p.to_bits()))
                        .map_or("–".to_string(), |v| cell(v))
                });
                t.row(
                    [format!("{source} → {target}"), method.to_string()]
                        .into_iter()
                        .chain(accs)
                        .chain([full.clone()]),
                );
            }
        }
    }
    t.render()
        + "\nTest accuracy in %, mean ± sample std over seeds; random does not depend on a network's dynamics, so it is trained once per target.\n"
}

/// The main table of one network: accuracy per method and prune ratio, significance against
/// each baseline, the lossless ratio.
pub fn markdown_table(rows: &[MainRow]) -> String {
    let ratios: Vec<f64> = prune_ratios(rows, None)
        .into_iter()
        .filter(|&p| p > 0.0)
        .collect();
    let methods = pruning_methods(rows);
    let mut cells: BTreeMap<(&str, u64), Vec<f64>> = BTreeMap::new();
    for r in rows {
        cells
            .entry((r.method.as_str(), r.prune_ratio.to_bits()))
            .or_default()
            .push(100.0 * r.test_acc);
    }
    let cell = |method: &str, ratio: f64| {
        cells
            .get(&(method, ratio.to_bits()))
            .map_or("–".into(), |v| cell(v))
    };
    let mut t = Table::new(ratio_columns("method", &ratios), 1);
    for m in &methods {
        t.row(std::iter::once(m.to_string()).chain(ratios.iter().map(|&p| cell(m, p))));
    }
    let mut out = t.render();
    if let Some(full) = cells.get(&("full", 0f64.to_bits())) {
        let (m, s) = mean_std(full);
        out.push_str(&format!(
            "\nFull data (0% pruned): {m:.2} ± {s:.2} over {} seed(s).\n",
            full.len()
        ));
    }
    out.push_str(&comparison_table(rows, &methods, &ratios));
    out.push_str(&versus_random_table(rows, &methods, &ratios));
    let seeds: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.seed).collect();
    out.push_str(&format!(
        "\nTest accuracy in %, mean ± sample std over seeds {seeds:?}; one row of main.csv per trained model.\n"
    ));
    out
}
