//! Result statistics on numbers worked out by hand.

use dynunc::report::stats::{lossless_ratio, paired_t_test, summarize};
use dynunc::report::{MainRow, markdown_table};

fn row(method: &str, prune_ratio: f64, seed: u64, test_acc: f64) -> MainRow {
    MainRow {
        experiment: "t".into(),
        method: method.into(),
        strategy: "top".into(),
        prune_ratio,
        keep_fraction: 1.0 - prune_ratio,
        kept: 0,
        class_balanced: false,
        seed,
        arch: "mlp".into(),
        source_arch: String::new(),
        epochs: 1,
        steps: 1,
        test_acc,
        real_acc: None,
        finetune_acc: None,
        finetune_real_acc: None,
        best_acc: None,
        best_epoch: None,
        wall_seconds: 0.0,
    }
}

#[test]
fn confidence_interval() {
    // [1, 2, 3]: mean 2, sd 1; t(0.975, df 2) = 4.302653; half-width 4.302653 / √3 = 2.484138.
    let s = summarize(&[1.0, 2.0, 3.0]);
    assert!((s.mean - 2.0).abs() < 1e-12 && (s.std - 1.0).abs() < 1e-12);
    assert!((s.ci95.unwrap() - 2.484138).abs() < 1e-5, "{s:?}");
    assert_eq!(summarize(&[5.0]).ci95, None);
}

#[test]
fn paired_test() {
    // d = [0.02, 0.01, 0.03]: mean 0.02, sd 0.01, t = 0.02 / (0.01 / √3) = 3.464102, df 2.
    // For df 2, CDF(t) = 1/2 + t / (2 √(2 + t²)) = 1/2 + 3.464102 / (2 √14) = 0.962910,
    // so p = 2 (1 - 0.962910) = 0.074180.
    let p = paired_t_test(&[0.90, 0.91, 0.92], &[0.88, 0.90, 0.89]).unwrap();
    assert!((p - 0.074180).abs() < 1e-5, "{p}");
    assert_eq!(paired_t_test(&[1.0], &[0.0]), None);
    assert_eq!(paired_t_test(&[1.0, 2.0], &[0.0, 1.0]), Some(0.0));
}

#[test]
fn lossless_ratio_uses_full_data_mean_minus_std() {
    // full: [0.90, 0.92] -> mean 0.91, std 0.014142; threshold 0.895858.
    // dyn_unc: 25% -> 0.91, 50% -> 0.90, 75% -> 0.85: lossless up to 50%.
    // random: 0.0075 lower everywhere: 25% -> 0.9025 (lossless), 50% -> 0.8925 (not).
    let mut rows = vec![row("full", 0.0, 0, 0.90), row("full", 0.0, 1, 0.92)];
    for (p, a) in [(0.25, 0.91), (0.5, 0.90), (0.75, 0.85)] {
        rows.push(row("dyn_unc", p, 0, a));
        rows.push(row("dyn_unc", p, 1, a));
        rows.push(row("random", p, 0, a - 0.01));
        rows.push(row("random", p, 1, a - 0.005));
    }
    assert_eq!(lossless_ratio(&rows, "dyn_unc"), Some(0.5));
    assert_eq!(lossless_ratio(&rows, "random"), Some(0.25));
    let md = markdown_table(&rows);
    assert!(
        md.contains("| dyn_unc | 91.00 ± 0.00 | 90.00 ± 0.00 | 85.00 ± 0.00 |"),
        "{md}"
    );
    // Differences 0.75 pp with d = [0.01, 0.005]: mean 0.0075, sd 0.0035355, t = 3, df 1:
    // p = 2 (1/2 - atan(3) / π) = 0.204833.
    assert!(md.contains("| random | +0.75 (p=0.205) |"), "{md}");
    assert!(md.contains("dyn_unc 50%; random 25%;"), "{md}");
}

#[test]
fn class_shares_section_reads_the_kept_scores() {
    use dynunc::score::rows::ScoreRow;
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<MainRow> = [0.25, 0.5]
        .iter()
        .map(|&p| row("dyn_unc", p, 0, 0.5))
        .chain([row("full", 0.0, 0, 0.6)])
        .collect();
    dynunc::atomic::write_csv(&dir.path().join("main.csv"), &rows).unwrap();
    // Class 0 holds the three highest scores, class 1 the three lowest.
    let scores: Vec<ScoreRow> = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3]
        .iter()
        .enumerate()
        .map(|(index, &score)| ScoreRow {
            index,
            label: Some(u32::from(index >= 3)),
            score,
        })
        .collect();
    std::fs::create_dir_all(dir.path().join("work/scores")).unwrap();
    dynunc::atomic::write_csv(&dir.path().join("work/scores/dyn_unc.csv"), &scores).unwrap();
    dynunc::report::folder::write(dir.path(), "test").unwrap();
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    // Prune 25%: 5 of 6 kept (round 4.5 up): all of class 0, 2 of 3 of class 1 -> 67% / 100%.
    // Prune 50%: 3 kept, all class 0 -> class 1 at 0%.
    assert!(
        readme.contains("## Classes kept")
            && readme.contains("| dyn_unc | 67% (class 1) / 100% | 0% (class 1) / 100% |"),
        "{readme}"
    );
    // Retrained with another strategy only, no `top` subset was trained: no section.
    let ccs: Vec<MainRow> = rows
        .iter()
        .map(|r| MainRow {
            strategy: if r.method == "full" { "top" } else { "ccs" }.into(),
            ..r.clone()
        })
        .collect();
    dynunc::atomic::write_csv(&dir.path().join("main.csv"), &ccs).unwrap();
    dynunc::report::folder::write(dir.path(), "test").unwrap();
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(!readme.contains("## Classes kept"), "{readme}");
}

#[test]
fn every_method_against_random_with_the_best_named() {
    // At 90%, three seeds. random [0.85, 0.86, 0.87]; a [0.87, 0.88, 0.89]: +2.00 points with
    // identical differences (p = 0); b [0.88, 0.87, 0.90]: d = [0.03, 0.01, 0.03], mean
    // +2.33 points, sd 0.011547, t = 0.023333 / (0.011547 / √3) = 3.5, df 2:
    // p = 1 - t / √(2 + t²) = 1 - 3.5 / √14.25 = 0.072822.
    let mut rows = Vec::new();
    for (seed, (r, a, b)) in [(0.85, 0.87, 0.88), (0.86, 0.88, 0.87), (0.87, 0.89, 0.90)]
        .into_iter()
        .enumerate()
    {
        rows.push(row("random", 0.9, seed as u64, r));
        rows.push(row("a", 0.9, seed as u64, a));
        rows.push(row("b", 0.9, seed as u64, b));
    }
    let md = markdown_table(&rows);
    assert!(md.contains("Each method minus random"), "{md}");
    assert!(md.contains("| a | +2.00 (p=0.000)* |"), "{md}");
    assert!(md.contains("| b | +2.33 (p=0.073) |"), "{md}");
    assert!(
        md.contains("Best against random: 90%: b +2.33, p=0.073;"),
        "{md}"
    );
}

#[test]
fn the_cost_section_sets_scoring_against_the_trainings_it_saves() {
    use dynunc::report::ArchRow;
    let dir = tempfile::tempdir().unwrap();
    // 100 samples, 10 epochs: a full training is 1,000 sample passes; the scoring run too.
    let with = |mut r: MainRow, kept: usize, secs: f64| {
        r.kept = kept;
        r.epochs = 10;
        r.wall_seconds = secs;
        r
    };
    let rows = vec![
        with(row("full", 0.0, 0, 0.9), 100, 20.0),
        with(row("full", 0.0, 1, 0.9), 100, 22.0),
        with(row("dyn_unc", 0.5, 0, 0.8), 50, 10.0),
        with(row("dyn_unc", 0.9, 0, 0.7), 10, 2.0),
    ];
    dynunc::atomic::write_csv(&dir.path().join("main.csv"), &rows).unwrap();
    let arch = ArchRow {
        experiment: "t".into(),
        arch: "mlp".into(),
        preset: "mlp".into(),
        params: 1,
        samples: 100,
        epochs: 10,
        seconds_per_epoch: 2.5,
        test_acc: 0.9,
    };
    dynunc::atomic::write_csv(&dir.path().join("archs.csv"), &[arch]).unwrap();
    dynunc::report::folder::write(dir.path(), "test").unwrap();
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    // Scoring: 1 run, 10 epochs, 1,000 passes, 25 s. Full: 2 trainings, 20 epochs, 2,000
    // passes, 42 s. Retrains: 2, 20 epochs, 500 + 100 = 600 passes, 12 s.
    for line in [
        "| scoring run | 1 | 10 | 1000 | 25 |",
        "| full-data trainings | 2 | 20 | 2000 | 42 |",
        "| pruned retrains | 2 | 20 | 600 | 12 |",
        // 50%: (1000 + 500) / 1000 = 1.50, paid after 1000 / 500 = 2.0 trainings;
        // 90%: (1000 + 100) / 1000 = 1.10, after 1000 / 900 = 1.1.
        "| 50% | 500 | 1.50 | 2.0 |",
        "| 90% | 100 | 1.10 | 1.1 |",
    ] {
        assert!(readme.contains(line), "missing `{line}` in\n{readme}");
    }
}
