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

    // The CLI scores and selects on the store the run wrote.
    let store = out.join("a/work/dynamics.dyn");
    let scores = p(dir.path(), "s.csv");
    let o = run_in(
        dir.path(),
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
        std::fs::read_to_string(out.join("a/work/scores/dyn_unc.csv")).unwrap()
    );
    let kept_csv = p(dir.path(), "kept.csv");
    let o = run_in(
        dir.path(),
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
        std::fs::read_to_string(p(dir.path(), "kept.pruned.csv"))
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

#[test]
fn configuration_problems_are_reported_together_with_their_paths() {
    let dir = temp();
    let file = p(dir.path(), "bad.yaml");
    std::fs::write(&file, "train:\n  epochs: 0\n  lr: -1\nscoring:\n  methods: [dyn_unc, dynunc]\nretrain:\n  prune_ratios: [0.5, 1.5]\nmodel:\n  arch: vit\n").unwrap();
    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    for needle in [
        "train.epochs",
        "train.lr",
        "scoring.methods[1]",
        "known methods: dyn_unc",
        "retrain.prune_ratios[1]",
        "prune ratio 1.5",
        "model.arch",
        "unknown model `vit`",
        "mlp, cnn, resnet18",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }

    std::fs::write(&file, "train:\n  epochs: 3\n  learning_rate: 0.1\n").unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("learning_rate") && err.contains("line 3"),
        "{err}"
    );

    std::fs::write(&file, "devices: 0\ndata:\n  loader: stream\n  workers: 0\n").unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    for needle in [
        "data.loader",
        "applies to `dataset: imagefolder` only",
        "data.workers",
        "0: give at least 1",
        "  devices: 0: give at least 1",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }

    std::fs::write(&file, "train: [1, 2\n").unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(err.contains("bad.yaml"), "{err}");
}

#[test]
fn model_problems_name_the_model_and_the_key() {
    let dir = temp();
    let file = p(dir.path(), "bad.yaml");
    let cases = [
        // the full-size Swin cannot halve a 28x28 image's 7x7 patch grid three times
        (
            "model:\n  arch: swin_tiny\n",
            vec!["model.depths", "cannot halve"],
        ),
        (
            "model:\n  arch: resnet_mini\n  heads: [2]\n  window_size: 4\n",
            vec![
                "model.heads",
                "model.window_size",
                "does not apply to resnet",
            ],
        ),
        (
            "model:\n  arch: swin_mini\n  window_size: 4\n  heads: [3, 4]\n",
            vec![
                "model.window_size",
                "14x14 token grid",
                "model.heads",
                "3 heads do not divide width 32",
            ],
        ),
        (
            "model:\n  arch: convnext_mini\n  widths: [32]\n  drop_path: 1.5\n",
            vec![
                "model.widths",
                "one positive width per stage (2 stages",
                "model.drop_path",
            ],
        ),
        (
            "models:\n  - arch: mlp\n  - arch: mlp\n  - arch: cnn\n    stem: small\n",
            vec!["models[1].name", "appears twice", "models[2].stem"],
        ),
        (
            "model:\n  arch: mlp\nmodels:\n  - arch: cnn\n",
            vec!["either `model:` or `models:`"],
        ),
        (
            "model:\n  arch: convnext_mini\ndynamics:\n  view: clean\n  drop_path: true\n",
            vec!["dynamics.drop_path", "view: train"],
        ),
    ];
    for (yaml, needles) in cases {
        std::fs::write(&file, yaml).unwrap();
        let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
        for needle in needles {
            assert!(
                err.contains(needle),
                "missing `{needle}` for\n{yaml}in:\n{err}"
            );
        }
    }
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
fn missing_and_corrupt_data_are_named() {
    let dir = temp();
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "x.yaml");
    std::fs::write(
        &file,
        tiny_experiment("x", &p(dir.path(), "nowhere"), &out, ""),
    )
    .unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("nowhere") && err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );

    let data = p(dir.path(), "data");
    write_fixture(&data, 50, 20);
    let labels = data.join("train-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(&file, tiny_experiment("x", &data, &out, "")).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("train-labels-idx1-ubyte.gz") && err.contains("download it again"),
        "{err}"
    );
}

#[test]
fn diverging_training_stops_with_epoch_and_batch() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 100, 20);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("nan", &data, &out, "").replace(
        "  batch_size: 32\n",
        "  batch_size: 32\n  optimizer: sgd\n  lr: 1.0e30\n",
    );
    let file = p(dir.path(), "nan.yaml");
    std::fs::write(&file, yaml).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("diverged") && err.contains("epoch 1, batch"),
        "{err}"
    );
}

#[test]
fn shipped_experiment_files_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue; // experiments/slurm/: cluster scripts, checked below
        }
        let loaded = dynunc::config::load(&path);
        if let Err(dynunc::config::ConfigError::Invalid { problems, .. }) = &loaded
            && problems
                .iter()
                .all(|p| p.path.starts_with("evaluation.ood") && p.path.ends_with(".path"))
        {
            eprintln!("skipped {name}: the OOD folders it names are absent on this machine");
            continue;
        }
        if name.starts_with("in1k") || name.starts_with("in21k") {
            // ImageNet files name files on a GPU machine: the only problems allowed here are
            // those paths being absent.
            if let Err(dynunc::config::ConfigError::Invalid { problems, .. }) = &loaded {
                assert!(
                    problems.iter().all(|p| p.path == "evaluation.real_labels"
                        && p.message.contains("is not a file")),
                    "{name}: {problems:?}"
                );
            } else {
                loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        } else {
            loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// The Slurm submit script at least parses (no cluster here to run it on).
#[test]
fn the_slurm_script_is_valid_bash() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/slurm/submit_sharded.sh");
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&script).unwrap();
    for needle in ["--scores-only", "--shard", "--array", "afterok", "report"] {
        assert!(text.contains(needle), "{needle}");
    }
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
fn ood_detection_rows_for_every_model() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 100);
    // An OOD set in IDX form: the fixture's images turned upside down.
    let mut flipped = synthetic(60, 3);
    flipped.pixels = flipped
        .pixels
        .chunks(784)
        .flat_map(|img| img.iter().rev().copied().collect::<Vec<_>>())
        .collect();
    let ood = p(dir.path(), "ood");
    std::fs::create_dir_all(&ood).unwrap();
    dynunc::data::idx::write_split(&ood, "t10k", &flipped, true).unwrap();
    let out = p(dir.path(), "results");
    let extra = format!(
        "evaluation:\n  ood:\n    - name: upside_down\n      path: {}\n  gaussian_noise: 40\n",
        ood.display()
    );
    let file = p(dir.path(), "o.yaml");
    std::fs::write(&file, tiny_experiment("o", &data, &out, &extra)).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_ood_rows(&out.join("o/ood.csv")).unwrap();
    // 22 models x 2 sets x 2 scores.
    assert_eq!(rows.len(), 22 * 2 * 2);
    for r in &rows {
        assert!(
            (0.0..=1.0).contains(&r.auroc)
                && (0.0..=1.0).contains(&r.fpr_at_95_tpr)
                && (0.0..=1.0).contains(&r.aupr_in),
            "{r:?}"
        );
    }
    let md = std::fs::read_to_string(out.join("o/ood.md")).unwrap();
    assert!(
        md.contains("### gaussian_noise, energy score")
            && md.contains("### upside_down, msp score"),
        "{md}"
    );

    std::fs::write(
        &file,
        tiny_experiment(
            "o2",
            &data,
            &out,
            "evaluation:\n  ood:\n    - name: x\n      path: /no/such/folder\n",
        ),
    )
    .unwrap();
    let err = stderr(&run_in(dir.path(), &["run", file.to_str().unwrap()]));
    assert!(
        err.contains("evaluation.ood[0].path") && err.contains("/no/such/folder"),
        "{err}"
    );
}

#[test]
#[ignore = "needs DYNUNC_OOD_DIR, the folder holding mnist-test/ and notmnist-test/; .ci/run sets it where the shared data exists"]
fn shared_ood_sets_load_when_given() {
    let root = std::env::var_os("DYNUNC_OOD_DIR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_dir())
        .expect("set DYNUNC_OOD_DIR to the folder holding mnist-test/ and notmnist-test/");
    for name in ["mnist-test", "notmnist-test"] {
        let set = dynunc::data::idx::read_split(&root.join(name), "t10k", "").unwrap();
        assert_eq!(
            (set.len(), set.height, set.width),
            (10_000, 28, 28),
            "{name}"
        );
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

/// `finetune:` trains every retrained model on a second dataset (here 4 classes) with a new
/// classifier: every row has its fine-tuned accuracy, the results have its table, the dry
/// run plans it, and its problems are reported under `finetune.`.
#[test]
fn every_retrain_is_fine_tuned_on_the_second_dataset() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 100);
    let second = p(dir.path(), "second");
    std::fs::create_dir_all(&second).unwrap();
    for (split, n, salt, gz) in [("train", 120, 7, true), ("t10k", 60, 8, false)] {
        let mut set = synthetic(n, salt);
        set.labels.iter_mut().for_each(|l| *l %= 4);
        set.classes = 4;
        dynunc::data::idx::write_split(&second, split, &set, gz).unwrap();
    }
    let out = p(dir.path(), "results");
    let finetune = format!(
        "finetune:\n  data:\n    dataset: idx\n    path: {}\n  train:\n    epochs: 2\n    batch_size: 40\n    lr: 0.002\n",
        second.display()
    );
    let yaml = tiny_experiment("ft", &data, &out, &finetune)
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace("prune_ratios: [0.5, 0.75]", "prune_ratios: [0.5]");
    let file = p(dir.path(), "ft.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let plan = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout).to_string() + &stderr(&plan);
    assert!(
        text.contains("fine-tuning: after every retrain, a new 4-class classifier and 2 epoch(s)"),
        "{text}"
    );

    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("fine-tuned"), "{}", stderr(&o));
    let res = out.join("ft");
    let rows = dynunc::report::read_rows(&res.join("main.csv")).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let a = r.finetune_acc.expect("every row is fine-tuned");
        // Four learnable classes, two epochs: well above chance (25%).
        assert!(a > 0.4 && a <= 1.0, "{r:?}");
    }
    let md = std::fs::read_to_string(res.join("main.md")).unwrap();
    assert!(
        md.contains("After fine-tuning on the second dataset"),
        "{md}"
    );
    assert!(
        !res.join("work/checkpoints").exists()
            || std::fs::read_dir(res.join("work/checkpoints"))
                .unwrap()
                .next()
                .is_none(),
        "finished jobs leave no checkpoints"
    );

    // Problems inside finetune: are reported with their path.
    let bad = yaml
        .replace("    epochs: 2\n", "    epochs: 0\n")
        .replace("    dataset: idx\n", "")
        .replace(
            &format!("    path: {}\n", second.display()),
            &format!(
                "    path: {}\n    dataset: imagefolder\n    image_size: 16\n",
                second.display()
            ),
        );
    std::fs::write(&file, bad).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("finetune.data") && err.contains("16x16x3"),
        "{err}"
    );
    let bad = yaml.replace("    epochs: 2\n", "    epochs: 0\n");
    std::fs::write(&file, bad).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(err.contains("finetune.train.epochs"), "{err}");
    // Fewer fine-tuning epochs than the scoring window is fine: the window concerns scoring.
    let short = yaml.replace("    epochs: 2\n", "    epochs: 1\n");
    std::fs::write(&file, short).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
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
            "  prune_ratios: [0.5, 0.75]\n  strategies: [top, ccs]\n  ccs:\n    bins: 5\n    cutoffs: [0.1, 0.2]\n",
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

    let bad = yaml.replace("cutoffs: [0.1, 0.2]", "cutoffs: [0.6, 0.2]");
    std::fs::write(&file, bad).unwrap();
    let err = stderr(&run_in(dir.path(), &["run", file.to_str().unwrap()]));
    assert!(
        err.contains("retrain.ccs.cutoffs[0]") && err.contains("prune ratio 0.5"),
        "{err}"
    );
}
