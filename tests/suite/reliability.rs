//! Faults and bad inputs a user meets, each refused with what is wrong and the fix: artifacts
//! of another experiment or of replaced data, names that climb out of `output.dir`, labels
//! outside the dataset's classes, an exploding loss, damaged results tables, flags out of range.

use std::path::Path;

use crate::common::*;

/// Runs `yaml` (written as `<name>.yaml` in `dir`), returns the output.
fn run_yaml(dir: &Path, name: &str, yaml: &str) -> std::process::Output {
    let file = p(dir, &format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    run_in(dir, &["run", file.to_str().unwrap()])
}

/// One seed, one ratio: the smallest whole experiment.
fn small(name: &str, data: &Path, out: &Path, extra: &str) -> String {
    tiny_experiment(name, data, out, extra)
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace("prune_ratios: [0.5, 0.75]", "prune_ratios: [0.5]")
}

#[test]
fn artifacts_of_another_experiment_or_replaced_data_are_refused() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 100, 30);
    let out = p(dir.path(), "results");
    for name in ["a", "b"] {
        let mut yaml = small(name, &data, &out, "");
        if name == "b" {
            yaml = yaml.replace("hidden: 32", "hidden: 24");
        }
        let o = run_yaml(dir.path(), name, &yaml);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // b's store replaced by a's (same data, same sample count): refused, not scored.
    std::fs::copy(
        out.join("a/work/dynamics.dyn"),
        out.join("b/work/dynamics.dyn"),
    )
    .unwrap();
    let yaml_b = std::fs::read_to_string(p(dir.path(), "b.yaml")).unwrap();
    let o = run_yaml(dir.path(), "b", &yaml_b);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("was recorded by another experiment") && stderr(&o).contains("delete"),
        "{}",
        stderr(&o)
    );

    // A store of another sample count (a subset's): an error, not an index panic.
    let c_yaml = small("c", &data, &out, "").replace("data:\n", "data:\n  subset: 50\n");
    let o = run_yaml(dir.path(), "c", &c_yaml);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::copy(
        out.join("c/work/dynamics.dyn"),
        out.join("a/work/dynamics.dyn"),
    )
    .unwrap();
    let yaml_a = std::fs::read_to_string(p(dir.path(), "a.yaml")).unwrap();
    let o = run_yaml(dir.path(), "a", &yaml_a);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("50 samples") && !stderr(&o).contains("panicked"),
        "{}",
        stderr(&o)
    );

    // The experiment changed: the refusal names the key, with old and new value.
    std::fs::remove_dir_all(out.join("c")).unwrap();
    let o = run_yaml(dir.path(), "c", &c_yaml);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_yaml(dir.path(), "c", &c_yaml.replace("epochs: 3", "epochs: 4"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("train.epochs: 3 -> 4"),
        "{}",
        stderr(&o)
    );

    // The training data replaced under data.path after a finished run: not the old results.
    write_split(&data, "train", &synthetic(100, 99), true).unwrap();
    let o = run_yaml(dir.path(), "c", &c_yaml);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("input.train_content") && stderr(&o).contains("different data"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn names_that_leave_the_output_folder_are_refused() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 20, 10);
    let out = p(dir.path(), "results");
    for bad in ["..", ".", "../x", "/abs", ""] {
        let yaml = small("n", &data, &out, "").replace("name: n\n", &format!("name: '{bad}'\n"));
        let o = run_yaml(dir.path(), "n", &yaml);
        assert!(!o.status.success(), "name `{bad}` was accepted");
        assert!(
            stderr(&o).contains("name") && stderr(&o).contains("dots alone"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    assert!(!dir.path().join("x").exists());
}

#[test]
fn labels_outside_the_classes_and_shape_mismatches_are_named_before_training() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 40, 10);
    let mut bad = synthetic(40, 1);
    bad.labels[17] = 13;
    write_split(&data, "train", &bad, true).unwrap();
    let out = p(dir.path(), "results");
    let o = run_yaml(dir.path(), "l", &small("l", &data, &out, ""));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("label 13 of image 17")
            && err.contains("10 classes")
            && err.contains("train-labels"),
        "{err}"
    );
    assert!(
        !out.join("l/work/dynamics.dyn").exists(),
        "trained on bad labels"
    );

    // A class missing from training.
    let mut missing = synthetic(40, 1);
    missing.labels.iter_mut().for_each(|l| *l = (*l).min(8));
    write_split(&data, "train", &missing, true).unwrap();
    let o = run_yaml(dir.path(), "m", &small("m", &data, &out, ""));
    assert!(
        stderr(&o).contains("class 9 has no training image"),
        "{}",
        stderr(&o)
    );

    // Test images of another shape.
    write_split(&data, "train", &synthetic(40, 1), true).unwrap();
    let mut wide = synthetic(10, 2);
    wide.width = 14;
    wide.pixels.truncate(10 * 28 * 14);
    write_split(&data, "t10k", &wide, false).unwrap();
    let o = run_yaml(dir.path(), "s", &small("s", &data, &out, ""));
    assert!(
        stderr(&o).contains("test images are 28x14x1 but training images are 28x28x1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_exploding_but_finite_loss_stops_the_run() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 100, 20);
    let out = p(dir.path(), "results");
    let yaml = small("boom", &data, &out, "").replace(
        "  batch_size: 32\n",
        "  batch_size: 32\n  optimizer: adam\n  lr: 1.0e6\n",
    );
    let o = run_yaml(dir.path(), "boom", &yaml);
    assert!(
        !o.status.success(),
        "a run at lr 1e6 finished: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("diverged"), "{}", stderr(&o));
    assert!(!out.join("boom/main.csv").exists());
}

#[test]
fn report_refuses_damaged_tables_and_keeps_the_readme() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 60, 20);
    let out = p(dir.path(), "results");
    let o = run_yaml(dir.path(), "r", &small("r", &data, &out, ""));
    assert!(o.status.success(), "{}", stderr(&o));
    let res = out.join("r");
    let readme = std::fs::read_to_string(res.join("README.md")).unwrap();
    let good = std::fs::read_to_string(res.join("main.csv")).unwrap();
    let header = good.lines().next().unwrap().to_owned();
    let first = good.lines().nth(1).unwrap().to_owned();
    let nan_row = {
        let cols: Vec<&str> = header.split(',').collect();
        let acc = cols.iter().position(|c| *c == "test_acc").unwrap();
        first
            .split(',')
            .enumerate()
            .map(|(i, v)| if i == acc { "NaN" } else { v })
            .collect::<Vec<_>>()
            .join(",")
    };
    for (what, text, expect) in [
        ("empty", String::new(), "holds no rows"),
        ("header only", format!("{header}\n"), "holds no rows"),
        (
            "NaN accuracy",
            format!("{header}\n{nan_row}\n"),
            "test_acc NaN",
        ),
        (
            "duplicated row",
            format!("{header}\n{first}\n{first}\n"),
            "appears twice",
        ),
        ("garbage", format!("{header}\nnot,a,row\n"), "main.csv"),
    ] {
        std::fs::write(res.join("main.csv"), &text).unwrap();
        let o = run_in(dir.path(), &["report", res.to_str().unwrap()]);
        assert!(!o.status.success(), "{what}: report accepted it");
        assert!(
            stderr(&o).contains(expect) && !stderr(&o).contains("panicked"),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read_to_string(res.join("README.md")).unwrap(),
            readme,
            "{what}: the README was rewritten"
        );
    }
}

#[test]
fn select_reads_negative_values_and_refuses_to_overwrite_its_input() {
    let dir = temp();
    let d = dir.path();
    std::fs::write(d.join("s.csv"), "index,label,score\n0,0,0.5\n1,1,0.2\n").unwrap();
    let o = run_in(
        d,
        &[
            "select", "--scores", "s.csv", "--keep", "-0.2", "--out", "k.csv",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("keep fraction -0.2 is outside (0, 1]"),
        "{}",
        stderr(&o)
    );
    let o = run_in(
        d,
        &[
            "select", "--scores", "s.csv", "--keep", "0.5", "--out", "s.csv",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("would destroy the input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("s.csv")).unwrap(),
        "index,label,score\n0,0,0.5\n1,1,0.2\n"
    );
    std::fs::write(d.join("empty.csv"), "index,label,score\n").unwrap();
    let o = run_in(
        d,
        &[
            "select",
            "--scores",
            "empty.csv",
            "--keep",
            "0.5",
            "--out",
            "k.csv",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds no scores"), "{}", stderr(&o));
}

#[test]
fn yaml_syntax_errors_read_as_syntax_errors() {
    let dir = temp();
    let file = p(dir.path(), "bad.yaml");
    std::fs::write(&file, "train: {epochs: 3\nseed: 1\n").unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("YAML syntax error"), "{}", stderr(&o));
}

#[test]
fn io_errors_name_the_operation_and_the_path() {
    let dir = temp();
    let blocker = p(dir.path(), "file");
    std::fs::write(&blocker, "a file where a folder should be").unwrap();
    let err = dynunc::atomic::write(&blocker.join("x.csv"), b"x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("creating the folder") && err.contains("file"),
        "{err}"
    );
}

#[test]
fn methods_needing_fields_an_import_lacks_are_refused() {
    let dir = temp();
    let d = dir.path();
    write_probabilities(
        &d.join("p.npy"),
        &[vec![0.1, 0.9, 0.2], vec![0.5, 0.5, 0.5]],
    )
    .unwrap();
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--method",
            "forgetting",
            "--out",
            "f.csv",
        ],
    );
    assert!(!o.status.success(), "forgetting scored probabilities alone");
    assert!(
        stderr(&o).contains("`flags`") && stderr(&o).contains("they have: p_true"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("f.csv").exists());
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--method",
            "dyn_unc",
            "--window",
            "2",
            "--out",
            "u.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_run_without_a_terminal_prints_heartbeat_lines() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 60, 20);
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "h.yaml");
    std::fs::write(&file, small("h", &data, &out, "")).unwrap();
    // stderr is a pipe here; a heartbeat every 0 s prints one per batch.
    let o = bin()
        .current_dir(dir.path())
        .env("DYNUNC_HEARTBEAT_SECS", "0")
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let beats: Vec<&str> = err.lines().filter(|l| l.contains("img/s, ETA")).collect();
    assert!(
        beats
            .iter()
            .any(|l| l.starts_with("scoring run: epoch 1/3, batch 1/2")),
        "{beats:?}"
    );
    assert!(
        beats
            .iter()
            .any(|l| l.contains("dyn_unc 50% s0: epoch 3/3")),
        "{beats:?}"
    );
}

#[test]
fn select_runs_any_strategy_from_the_command_line() {
    let dir = temp();
    let d = dir.path();
    let mut csv = String::from("index,label,score\n");
    for i in 0..100 {
        csv.push_str(&format!("{i},{},{}\n", i % 10, i as f32 / 100.0));
    }
    std::fs::write(d.join("s.csv"), csv).unwrap();
    let args = [
        "select",
        "--scores",
        "s.csv",
        "--prune",
        "0.8",
        "--strategy",
        "ccs",
        "--cutoff",
        "0.3",
        "--bins",
        "5",
        "--out",
        "k.csv",
    ];
    let o = run_in(d, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kept 20 of 100") && stderr(&o).contains("ccs, cutoff 0.3, 5 strata"),
        "{}",
        stderr(&o)
    );
    let kept = dynunc::score::rows::read_scores_unordered(&d.join("k.csv")).unwrap();
    assert!(
        kept.iter().all(|r| r.index < 70),
        "the hardest 30% was kept"
    );
    let o = run_in(
        d,
        &[
            "select",
            "--scores",
            "s.csv",
            "--prune",
            "0.8",
            "--strategy",
            "nope",
            "--out",
            "k.csv",
        ],
    );
    assert!(
        stderr(&o).contains("unknown selection strategy `nope`"),
        "{}",
        stderr(&o)
    );
}
