//! The errors a user meets first: experiment files with problems (all reported at once, each
//! under its YAML path), missing or corrupt data, diverging training, and the shipped files
//! and scripts, which must validate.

use crate::common::*;

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
            "model:\n  arch: resnet_mini\ndynamics:\n  view: clean\n  mode: train\n",
            vec!["dynamics.mode", "resnet_mini", "batch norm", "mode: eval"],
        ),
        (
            "dynamics:\n  mode: sometimes\n",
            vec!["dynamics.mode", "`sometimes` is not one of: eval, train"],
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
        // Checked as on a machine without their data: only the files and folders they read
        // may be missing here (the data paths are read when a run starts).
        let (_, missing) =
            dynunc::config::load_offline(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for m in missing {
            assert!(
                m.path.ends_with("real_labels")
                    || m.path == "data.val_path"
                    || m.path.starts_with("evaluation.ood"),
                "{name}: {} {}",
                m.path,
                m.message
            );
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

/// The recipe keys of the published CIFAR protocols are checked where they apply.
#[test]
fn recipe_keys_are_refused_where_they_do_not_apply() {
    let yaml = "train:\n  optimizer: adam\n  nesterov: true\n  min_lr: 0.01\n  crop_padding_mode: mirror\n";
    let raw = dynunc::config::parse(yaml).unwrap();
    let problems = dynunc::config::validate(raw, "x").unwrap_err();
    let at = |path: &str| {
        problems
            .iter()
            .find(|p| p.path == path)
            .map(|p| p.message.clone())
    };
    assert!(
        at("train.nesterov").unwrap().contains("optimizer: sgd"),
        "{problems:?}"
    );
    assert!(
        at("train.min_lr").unwrap().contains("schedule: cosine"),
        "{problems:?}"
    );
    assert!(
        at("train.crop_padding_mode")
            .unwrap()
            .contains("zeros, reflect"),
        "{problems:?}"
    );
}
