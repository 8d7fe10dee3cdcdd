//! The whole pipeline on a tiny generated dataset: rows of main.csv, reproducibility, resume
//! after kill -9, the lock, and the errors a user meets first.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn tiny_experiment_writes_every_row_and_is_reproducible() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 100);
    let out = p(dir.path(), "results");
    for name in ["a", "b"] {
        let file = p(dir.path(), &format!("{name}.yaml"));
        std::fs::write(&file, tiny_experiment(name, &data, &out, "")).unwrap();
        let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let rows = dynunc::report::read_rows(&out.join("a/main.csv")).unwrap();
    // 2 full-data rows + 5 methods x 2 ratios x 2 seeds.
    assert_eq!(rows.len(), 2 + 5 * 2 * 2);
    for r in &rows {
        let want_kept = match r.prune_ratio {
            0.0 => 200,
            0.5 => 100,
            0.75 => 50,
            other => panic!("unexpected ratio {other}"),
        };
        assert_eq!(r.kept, want_kept, "{r:?}");
        assert!((0.0..=1.0).contains(&r.test_acc), "{r:?}");
        assert_eq!((r.arch.as_str(), r.epochs), ("mlp", 3));
    }
    let full: Vec<_> = rows.iter().filter(|r| r.method == "full").collect();
    assert!(
        full.iter().all(|r| r.test_acc > 0.5),
        "the fixture is learnable: {full:?}"
    );
    // Same file, same numbers (all but wall time), same dynamics, byte for byte.
    assert_eq!(
        csv_without_wall_time(&out.join("a/main.csv")),
        csv_without_wall_time(&out.join("b/main.csv"))
    );
    assert_eq!(
        std::fs::read(out.join("a/work/dynamics.dyn")).unwrap(),
        std::fs::read(out.join("b/work/dynamics.dyn")).unwrap()
    );
    let svg = std::fs::read_to_string(out.join("a/accuracy.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("dyn_unc") && svg.contains("prune ratio"),
        "accuracy.svg lacks its series or labels"
    );
    let hist = std::fs::read_to_string(out.join("a/scores.svg")).unwrap();
    assert!(
        hist.contains("dyn_unc (200 samples)") && hist.contains("uncertainty (200 samples)"),
        "scores.svg lacks a panel"
    );
    for f in ["main.md", "experiment.resolved.yaml", "run_info.yaml"] {
        assert!(out.join("a").join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("a/main.md")).unwrap();
    assert!(
        md.contains("| dyn_unc |") && md.contains("prune 75%"),
        "{md}"
    );

    cli_scores_and_selects_on_the_store(dir.path(), &out.join("a"));
}

/// `dynunc score` on the store a run wrote gives the run's own scores; `dynunc select` keeps
/// and prunes what it says.
fn cli_scores_and_selects_on_the_store(dir: &std::path::Path, run: &std::path::Path) {
    let store = run.join("work/dynamics.dyn");
    let scores = p(dir, "s.csv");
    let o = run_in(
        dir,
        &[
            "score",
            "--dynamics",
            store.to_str().unwrap(),
            "--method",
            "dyn_unc",
            "--window",
            "2",
            "--out",
            scores.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mine = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(
        mine,
        std::fs::read_to_string(run.join("work/scores/dyn_unc.csv")).unwrap()
    );
    let kept_csv = p(dir, "kept.csv");
    let o = run_in(
        dir,
        &[
            "select",
            "--scores",
            scores.to_str().unwrap(),
            "--prune",
            "0.25",
            "--class-balanced",
            "--out",
            kept_csv.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kept 150 of 200") && stderr(&o).contains("per-class"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&kept_csv).unwrap().lines().count(),
        151
    );
    assert_eq!(
        std::fs::read_to_string(p(dir, "kept.pruned.csv"))
            .unwrap()
            .lines()
            .count(),
        51
    );
}

#[test]
fn killed_run_resumes_to_the_same_results() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 3000, 100);
    let out = p(dir.path(), "results");
    let extra =
        "train:\n  epochs: 6\n  batch_size: 32\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n";
    let yaml = tiny_experiment("r", &data, &out, "")
        .replace(
            "train:\n  epochs: 3\n  batch_size: 32\n  crop_padding: 1\n  flip: true\n",
            "",
        )
        .replace(
            "retrain:\n  prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]\n",
            "",
        )
        + extra;
    let file = p(dir.path(), "r.yaml");
    std::fs::write(&file, &yaml).unwrap();
    std::fs::write(
        p(dir.path(), "ref.yaml"),
        yaml.replace("name: r", "name: ref"),
    )
    .unwrap();

    // Kill -9 once the scoring run has checkpointed its second epoch, then once a retrain
    // has finished: each time the same command continues.
    for marker in ["r/work/checkpoint-scoring/manifest", "r/work/finished.csv"] {
        let mut child = bin()
            .current_dir(dir.path())
            .args(["run", file.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !out.join(marker).exists() && started.elapsed() < Duration::from_secs(120) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !out.join("r/main.csv").exists(),
            "the run finished before it could be interrupted at {marker}"
        );
    }
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(
        dir.path(),
        &["run", p(dir.path(), "ref.yaml").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        csv_without_wall_time(&out.join("r/main.csv")),
        csv_without_wall_time(&out.join("ref/main.csv"))
    );
    assert_eq!(
        std::fs::read(out.join("r/work/dynamics.dyn")).unwrap(),
        std::fs::read(out.join("ref/work/dynamics.dyn")).unwrap()
    );
}

#[test]
fn a_second_run_into_the_same_folder_is_refused() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 50, 20);
    let out = p(dir.path(), "results");
    std::fs::create_dir_all(out.join("l")).unwrap();
    // A lock held by a live process: this test's own.
    std::fs::write(out.join("l/.lock"), std::process::id().to_string()).unwrap();
    let file = p(dir.path(), "l.yaml");
    std::fs::write(&file, tiny_experiment("l", &data, &out, "")).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("in use by another dynunc run"),
        "{}",
        stderr(&o)
    );
}

/// Two networks: each gets a scoring run, each one's subsets are retrained on both, random
/// once per target; `archs.csv` has one row per network; `report` rewrites the same tables.
#[test]
fn several_models_give_the_cross_architecture_rows() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 120, 40);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("cross", &data, &out, "")
        .replace(
            "model:\n  arch: mlp\n  hidden: 32\n",
            "models:\n  - arch: mlp\n    hidden: 32\n  - name: wide\n    arch: mlp\n    hidden: 64\n",
        )
        .replace("  prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]\n", "  prune_ratios: [0.5]\n  seeds: [0]\n")
        .replace("scoring:\n", "scoring:\n  methods: [dyn_unc, random]\n");
    let file = p(dir.path(), "cross.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let res = out.join("cross");
    let rows = dynunc::report::read_rows(&res.join("main.csv")).unwrap();
    let mut got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.source_arch.clone(), r.arch.clone(), r.method.clone()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = [
        ("mlp", "mlp", "full"),
        ("mlp", "mlp", "dyn_unc"),
        ("wide", "mlp", "dyn_unc"),
        ("mlp", "mlp", "random"),
        ("wide", "wide", "full"),
        ("mlp", "wide", "dyn_unc"),
        ("wide", "wide", "dyn_unc"),
        ("wide", "wide", "random"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    // The two networks' scoring runs differ, so their Dyn-Unc subsets do too.
    let score = |m: &str| {
        std::fs::read_to_string(res.join("work").join(m).join("scores/dyn_unc.csv")).unwrap()
    };
    assert_ne!(score("mlp"), score("wide"));
    let archs = dynunc::report::read_arch_rows(&res.join("archs.csv")).unwrap();
    let names: Vec<_> = archs
        .iter()
        .map(|a| (a.arch.as_str(), a.preset.as_str()))
        .collect();
    assert_eq!(names, [("mlp", "mlp"), ("wide", "mlp")]);
    assert_eq!(archs[0].params, 784 * 32 + 32 + 32 * 10 + 10);
    assert_eq!(archs[1].params, 784 * 64 + 64 + 64 * 10 + 10);
    let md = std::fs::read_to_string(res.join("main.md")).unwrap();
    for needle in [
        "## Scored and retrained on mlp",
        "## Scored and retrained on wide",
        "| wide → mlp | dyn_unc |",
        "| mlp → wide | dyn_unc |",
    ] {
        assert!(md.contains(needle), "missing `{needle}` in\n{md}");
    }
    for f in [
        "accuracy-mlp.svg",
        "accuracy-wide.svg",
        "scores-mlp.svg",
        "scores-wide.svg",
        "archs.md",
    ] {
        assert!(res.join(f).exists(), "{f}");
    }
    let table = |md: &str| {
        md.split_once("\n\n")
            .unwrap()
            .1
            .split_once("\n\n")
            .unwrap()
            .1
            .to_string()
    };
    let o = run_in(dir.path(), &["report", res.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        table(&std::fs::read_to_string(res.join("main.md")).unwrap()),
        table(&md)
    );
}

/// A batch-norm network recorded in the clean view (evaluation mode) and a ConvNeXt with
/// stochastic depth recorded without it: both train, record and retrain end to end.
#[test]
fn the_small_presets_train_end_to_end() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 60, 20);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("presets", &data, &out, "dynamics:\n  view: clean\n")
        .replace(
            "model:\n  arch: mlp\n  hidden: 32\n",
            "models:\n  - arch: resnet_mini\n    widths: [4, 8]\n    depths: [1, 1]\n  - arch: convnext_mini\n    widths: [8, 16]\n    depths: [1, 1]\n    drop_path: 0.3\n",
        )
        .replace("  epochs: 3\n", "  epochs: 2\n")
        .replace("  prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]\n", "  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\n")
        .replace("scoring:\n", "scoring:\n  methods: [dyn_unc]\n");
    let file = p(dir.path(), "presets.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_rows(&out.join("presets/main.csv")).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r.kept == 30 && (0.0..=1.0).contains(&r.test_acc))
    );
}

#[test]
#[ignore = "needs Fashion-MNIST in /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist); .ci/run runs it there"]
fn real_fashion_mnist_loads_when_installed() {
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        dir.is_dir(),
        "Fashion-MNIST is not installed at {} (apt-get install dataset-fashion-mnist)",
        dir.display()
    );
    let spec = dynunc::data::DataSpec {
        subset: Some(1000),
        ..dynunc::data::DataSpec::new(&dynunc::data::format::idx::FASHION_MNIST, dir)
    };
    let s = dynunc::data::load(&spec, 0).unwrap();
    assert_eq!(
        (s.train.len(), s.test.len(), s.train.classes()),
        (1000, 10000, 10)
    );
    assert!(s.train.in_memory().is_some(), "IDX data is held in memory");
    // Stratified: 100 per class.
    for c in 0..10 {
        assert_eq!(s.train.labels().iter().filter(|&&l| l == c).count(), 100);
    }
}

#[test]
fn equal_iterations_budget_gives_every_retrain_the_full_step_count() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 50);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("it", &data, &out, "").replace(
        "retrain:\n  prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]\n",
        "retrain:\n  prune_ratios: [0.5, 0.75]\n  seeds: [0]\n  budget: equal_iterations\n",
    );
    let file = p(dir.path(), "it.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_rows(&out.join("it/main.csv")).unwrap();
    // Full data: 200 samples / batch 32 = 7 steps per epoch x 3 epochs = 21 steps. A 50-sample
    // subset (2 steps per epoch) trains 21 steps too: 11 epochs, the last one cut short.
    for r in &rows {
        assert_eq!(r.steps, 21, "{r:?}");
    }
    let quarter = rows.iter().find(|r| r.prune_ratio == 0.75).unwrap();
    assert_eq!((quarter.kept, quarter.epochs), (50, 11));
}

/// `--scores-only`, then shards 1/2 and 2/2, then `report`: the same rows, in the same order,
/// as one unsharded run (all columns but the wall time).
#[test]
fn two_shards_merged_equal_one_unsharded_run() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 100, 30);
    let whole = p(dir.path(), "whole");
    let split = p(dir.path(), "split");
    let yaml = |out: &std::path::Path| {
        tiny_experiment("sharded", &data, out, "evaluation:\n  gaussian_noise: 20\n")
    };
    let file_whole = p(dir.path(), "whole.yaml");
    let file_split = p(dir.path(), "split.yaml");
    std::fs::write(&file_whole, yaml(&whole)).unwrap();
    std::fs::write(&file_split, yaml(&split)).unwrap();
    let ok = |args: &[&str]| {
        let o = run_in(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        o
    };
    ok(&[file_whole.to_str().unwrap()]);

    // A shard before the scores exist is refused with the fix.
    let o = run_in(
        dir.path(),
        &["run", file_split.to_str().unwrap(), "--shard", "1/2"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--scores-only"), "{}", stderr(&o));
    let o = run_in(
        dir.path(),
        &["run", file_split.to_str().unwrap(), "--shard", "3/2"],
    );
    assert!(stderr(&o).contains("expected I/N"), "{}", stderr(&o));

    ok(&["run", file_split.to_str().unwrap(), "--scores-only"]);
    let res = split.join("sharded");
    assert!(!res.join("main.csv").exists());
    ok(&["run", file_split.to_str().unwrap(), "--shard", "2/2"]);
    ok(&["run", file_split.to_str().unwrap(), "--shard", "1/2"]);
    let one = dynunc::report::read_rows(&res.join("shards/1-of-2/main.csv")).unwrap();
    let two = dynunc::report::read_rows(&res.join("shards/2-of-2/main.csv")).unwrap();
    assert_eq!(one.len() + two.len(), 2 + 5 * 2 * 2);
    assert!(!one.is_empty() && !two.is_empty());
    ok(&["report", res.to_str().unwrap()]);
    assert_eq!(
        csv_without_wall_time(&res.join("main.csv")),
        csv_without_wall_time(&whole.join("sharded/main.csv"))
    );
    let ood = |d: &std::path::Path| std::fs::read_to_string(d.join("ood.csv")).unwrap();
    assert_eq!(ood(&res), ood(&whole.join("sharded")));
    let md = std::fs::read_to_string(res.join("main.md")).unwrap();
    assert!(md.contains("Merged by `dynunc report"), "{md}");
}

#[test]
fn dry_run_prints_the_plan_without_training() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 100, 30);
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "plan.yaml");
    std::fs::write(&file, tiny_experiment("plan", &data, &out, "")).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "valid experiment `plan`",
        "100 training and 30 test images of 28x28x1, 10 classes",
        // 3 epochs x ceil(100 / 32) batches
        "scoring run 3 epochs x 4 batches = 12 steps",
        // 2 full + 5 methods x 2 ratios x 2 seeds
        "22 retrains",
        // full: 2 x 12 = 24; prune 50%: 10 jobs x 3 epochs x 2 batches (50 samples) = 60;
        // prune 75%: 10 x 3 x 1 (25 samples) = 30
        "114 steps",
        "about",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in\n{text}");
    }
    assert!(!out.join("plan").exists(), "a dry run writes nothing");
}

/// Every method's scores retrained with each strategy: `random` once, the others with `top`
/// and `ccs`; rows carry the strategy, tables show `method+ccs`; a bad cutoff is named.
#[test]
fn strategies_retrain_every_method_and_show_in_the_tables() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 60);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("st", &data, &out, "")
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace(
            "  prune_ratios: [0.5, 0.75]\n",
            "  prune_ratios: [0.5, 0.75]\n  strategies: [top, ccs]\n  ccs:\n    bins: 5\n    cutoff: [0.1, 0.2]\n",
        )
        + "scoring:\n  window: 2\n  methods: [acc_margin, random, dual]\n";
    let yaml = yaml.replacen("scoring:\n  window: 2\n", "", 1);
    let file = p(dir.path(), "st.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_rows(&out.join("st/main.csv")).unwrap();
    let count = |m: &str, s: &str| {
        rows.iter()
            .filter(|r| r.method == m && r.strategy == s)
            .count()
    };
    assert_eq!(
        (
            count("acc_margin", "top"),
            count("acc_margin", "ccs"),
            count("random", "top"),
            count("random", "ccs"),
            count("dual", "ccs")
        ),
        (2, 2, 2, 0, 2)
    );
    for r in rows.iter().filter(|r| r.strategy == "ccs") {
        assert_eq!(r.kept, if r.prune_ratio == 0.5 { 100 } else { 50 }, "{r:?}");
    }
    let md = std::fs::read_to_string(out.join("st/main.md")).unwrap();
    assert!(
        md.contains("acc_margin+ccs") && md.contains("dual+ccs"),
        "{md}"
    );

    let bad = yaml.replace("cutoff: [0.1, 0.2]", "cutoff: [0.6, 0.2]");
    std::fs::write(&file, bad).unwrap();
    let err = stderr(&run_in(dir.path(), &["run", file.to_str().unwrap()]));
    assert!(
        err.contains("retrain.ccs.cutoff[0]") && err.contains("prune ratio 0.5"),
        "{err}"
    );
}
