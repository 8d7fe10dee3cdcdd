//! The shipped ImageNet experiment files resolve to the official recipes: every value below is
//! written from the authors' configs (BAAI-DCAI/Dataset-Pruning@9f396a8, `ImageNet/configs/`
//! and `ImageNet/optimizer.py`, file:line beside each), and `dynunc config` prints a file
//! without its data, naming what is missing.

use serde_json::{Value, json};

use crate::common::{run_in, stderr, temp};

/// (key path in the resolved file, official value, where the official value is).
type Pin = (&'static str, Value, &'static str);

fn swin() -> Vec<Pin> {
    vec![
        (
            "data.interpolation",
            json!("bicubic"),
            "swin-tiny-1k.yaml:23",
        ),
        (
            "data.eval_crop",
            json!(1.0),
            "data/build_produce.py:110-111",
        ),
        ("train.epochs", json!(300), "swin-tiny-1k.yaml:51"),
        (
            "train.batch_size",
            json!(1024),
            "swin-tiny-1k.yaml:16 (128 x 8 GPUs)",
        ),
        ("train.optimizer", json!("adamw"), "swin-tiny-1k.yaml:65"),
        ("train.lr", json!(0.001), "swin-tiny-1k.yaml:49"),
        ("train.adam_eps", json!(1e-8), "swin-tiny-1k.yaml:63"),
        ("train.weight_decay", json!(0.05), "swin-tiny-1k.yaml:70"),
        (
            "train.weight_decay_on_norm_bias",
            json!(false),
            "optimizer.py:60",
        ),
        ("train.schedule", json!("cosine"), "swin-tiny-1k.yaml:56"),
        ("train.min_lr", json!(1e-5), "swin-tiny-1k.yaml:58"),
        ("train.warmup_epochs", json!(20), "swin-tiny-1k.yaml:68"),
        ("train.warmup_lr", json!(1e-6), "swin-tiny-1k.yaml:69"),
        ("train.clip_grad_norm", json!(5.0), "swin-tiny-1k.yaml:50"),
        ("train.label_smoothing", json!(0.1), "swin-tiny-1k.yaml:34"),
        (
            "model.arch",
            json!("swin_tiny"),
            "swin-tiny-1k.yaml:36 (drop path 0.2, :32)",
        ),
    ]
}

fn convnext() -> Vec<Pin> {
    vec![
        (
            "data.interpolation",
            json!("bicubic"),
            "convnext-tiny-1k.yaml:23",
        ),
        (
            "data.eval_crop",
            json!(1.0),
            "data/build_produce.py:110-111",
        ),
        ("train.epochs", json!(300), "convnext-tiny-1k.yaml:51"),
        (
            "train.batch_size",
            json!(2048),
            "convnext-tiny-1k.yaml:16 (256 x 8 GPUs)",
        ),
        (
            "train.optimizer",
            json!("adamw"),
            "convnext-tiny-1k.yaml:65",
        ),
        ("train.lr", json!(0.008), "convnext-tiny-1k.yaml:49"),
        ("train.adam_eps", json!(1e-8), "convnext-tiny-1k.yaml:63"),
        (
            "train.weight_decay",
            json!(0.05),
            "convnext-tiny-1k.yaml:70",
        ),
        (
            "train.weight_decay_on_norm_bias",
            json!(false),
            "optimizer.py:60",
        ),
        (
            "train.schedule",
            json!("cosine"),
            "convnext-tiny-1k.yaml:56",
        ),
        ("train.min_lr", json!(2e-6), "convnext-tiny-1k.yaml:58"),
        ("train.warmup_epochs", json!(20), "convnext-tiny-1k.yaml:68"),
        ("train.warmup_lr", json!(0.0), "convnext-tiny-1k.yaml:69"),
        (
            "train.clip_grad_norm",
            Value::Null,
            "convnext-tiny-1k.yaml:50 (empty)",
        ),
        (
            "train.label_smoothing",
            json!(0.1),
            "convnext-tiny-1k.yaml:34",
        ),
        (
            "model.arch",
            json!("convnext_tiny"),
            "convnext-tiny-1k.yaml:36 (drop path 0.1, :32)",
        ),
    ]
}

fn resnet50() -> Vec<Pin> {
    vec![
        (
            "data.interpolation",
            json!("bilinear"),
            "resnet50-1k-90.yaml:23",
        ),
        (
            "data.eval_crop",
            json!(1.0),
            "data/build_produce.py:110-111",
        ),
        ("train.epochs", json!(90), "resnet50-1k-90.yaml:51"),
        (
            "train.batch_size",
            json!(2048),
            "resnet50-1k-90.yaml:16 (256 x 8 GPUs)",
        ),
        ("train.optimizer", json!("sgd"), "resnet50-1k-90.yaml:65"),
        ("train.lr", json!(0.8), "resnet50-1k-90.yaml:49"),
        ("train.momentum", json!(0.9), "resnet50-1k-90.yaml:64"),
        ("train.nesterov", json!(true), "optimizer.py:38"),
        (
            "train.weight_decay",
            json!(0.0001),
            "resnet50-1k-90.yaml:70",
        ),
        (
            "train.weight_decay_on_norm_bias",
            json!(false),
            "optimizer.py:60",
        ),
        ("train.schedule", json!("step"), "resnet50-1k-90.yaml:56"),
        ("train.step_epochs", json!(30), "resnet50-1k-90.yaml:53"),
        ("train.step_gamma", json!(0.1), "resnet50-1k-90.yaml:54"),
        ("train.warmup_epochs", json!(0), "resnet50-1k-90.yaml:68"),
        (
            "train.label_smoothing",
            json!(0.0),
            "resnet50-1k-90.yaml:34",
        ),
        (
            "train.clip_grad_norm",
            Value::Null,
            "resnet50-1k-90.yaml:50 (empty)",
        ),
        ("dynamics.view", json!("clean"), "main_and_produce.py:177"),
        (
            "dynamics.mode",
            json!("eval"),
            "main_and_produce.py:173-174",
        ),
        ("model.arch", json!("resnet50"), "resnet50-1k-90.yaml:36"),
    ]
}

/// `configs/swin-tiny-21k.yaml` (K) and, under `finetune.`, `swin-tiny-21kto1k.yaml` (F).
fn in21k() -> Vec<Pin> {
    let mut pins = vec![
        (
            "data.val_path",
            json!("/data/imagenet/val"),
            "K:21 (ImageNet-1K val)",
        ),
        ("data.interpolation", json!("bicubic"), "K:23"),
        (
            "data.eval_crop",
            json!(1.0),
            "data/build_produce.py:110-111",
        ),
        ("model.drop_path", json!(0.1), "K:33"),
        ("finetune.head", json!("mapped"), "utils.py:100-109"),
        (
            "finetune.real_labels",
            json!("/data/imagenet/real.json"),
            "F:28 (REAL_LABEL: true)",
        ),
        ("finetune.data.interpolation", json!("bicubic"), "F:23"),
    ];
    // Both configs set the same keys on the same lines: (key, K's value, F's value, line).
    let keys: [(&str, Value, Value, &str); 14] = [
        ("epochs", json!(90), json!(30), "52"),
        ("batch_size", json!(1024), json!(1024), "16"),
        ("optimizer", json!("adamw"), json!("adamw"), "66"),
        ("lr", json!(1e-3), json!(4e-5), "50"),
        ("adam_eps", json!(1e-8), json!(1e-8), "64"),
        ("weight_decay", json!(0.05), json!(1e-8), "71"),
        (
            "weight_decay_on_norm_bias",
            json!(false),
            json!(false),
            "optimizer.py 60",
        ),
        ("schedule", json!("cosine"), json!("cosine"), "57"),
        ("min_lr", json!(1e-5), json!(4e-7), "59"),
        ("warmup_epochs", json!(5), json!(5), "69"),
        ("warmup_lr", json!(1e-6), json!(4e-8), "70"),
        ("clip_grad_norm", json!(5.0), json!(5.0), "51"),
        ("label_smoothing", json!(0.1), json!(0.1), "35"),
        ("auto_augment", json!("imagenet"), json!("imagenet"), "6"),
    ];
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    for (key, k, f, line) in keys {
        pins.push((leak(format!("train.{key}")), k, leak(format!("K:{line}"))));
        pins.push((
            leak(format!("finetune.train.{key}")),
            f,
            leak(format!("F:{line}")),
        ));
    }
    pins
}

/// What every official recipe shares: the training augmentation (`AUTO_AUGMENT: true` at line 6
/// of each config; the pipeline in `data/build_produce.py`) and the evaluation after every epoch.
fn shared() -> Vec<Pin> {
    vec![
        (
            "train.random_resized_crop",
            json!(0.08),
            "data/build_produce.py:180-190 (area 0.08-1, aspect 3/4-4/3)",
        ),
        (
            "train.crop_from",
            json!("file"),
            "data/build_produce.py:180-190 (decoders.image_random_crop on the whole file)",
        ),
        ("train.flip", json!(true), "data/build_produce.py:199-200"),
        (
            "train.auto_augment",
            json!("imagenet"),
            "configs/*.yaml:6, data/build_produce.py:205-206",
        ),
        (
            "evaluation.every_epoch",
            json!(true),
            "main_and_produce.py:121-123 (validated every epoch, the maximum logged)",
        ),
    ]
}

/// The value at a dotted path (`models.1.train.lr`: a number indexes a list).
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        match k.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(k),
        }
        .unwrap_or(&Value::Null)
    })
}

/// Swin-T's recipe scores; ConvNeXt-T (C = `convnext-tiny-1k.yaml`) and ResNet-50 (R =
/// `resnet50-1k-90.yaml`) retrain with their own, as given in their `train:` sections.
fn cross_arch() -> Vec<Pin> {
    let mut pins: Vec<Pin> = swin()
        .into_iter()
        .filter(|(k, _, _)| k.starts_with("train.") || k.starts_with("data."))
        .collect();
    pins.extend([
        (
            "retrain.sources",
            json!(["swin_tiny"]),
            "the cross-architecture table",
        ),
        (
            "retrain.targets",
            json!(["convnext_tiny", "resnet50"]),
            "the same",
        ),
        ("models.1.train.batch_size", json!(2048), "C:16"),
        ("models.1.train.lr", json!(0.008), "C:49"),
        ("models.1.train.min_lr", json!(2e-6), "C:58"),
        ("models.1.train.clip_grad_norm", Value::Null, "C:50 (empty)"),
        ("models.2.train.epochs", json!(90), "R:51"),
        ("models.2.train.optimizer", json!("sgd"), "R:65"),
        ("models.2.train.lr", json!(0.8), "R:49"),
        ("models.2.train.nesterov", json!(true), "optimizer.py:38"),
        ("models.2.train.weight_decay", json!(1e-4), "R:70"),
        ("models.2.train.schedule", json!("step"), "R:56"),
        ("models.2.train.label_smoothing", json!(0.0), "R:34"),
    ]);
    pins
}

#[test]
fn the_shipped_imagenet_files_resolve_to_the_official_recipes() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, pins) in [
        ("in1k_swin.yaml", swin()),
        ("in1k_convnext.yaml", convnext()),
        ("in1k_resnet50.yaml", resnet50()),
        ("in21k_swin.yaml", in21k()),
        ("in1k_cross_arch.yaml", cross_arch()),
    ] {
        let path = std::path::Path::new(root).join("experiments").join(file);
        let (exp, _missing) = dynunc::config::load_offline(&path).unwrap();
        let resolved = serde_json::to_value(&exp.resolved).unwrap();
        for (key, want, source) in pins.into_iter().chain(shared()) {
            let got = at(&resolved, key);
            let same = match (got.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                _ => *got == want,
            };
            assert!(
                same,
                "{file}: {key} is {got}, the official {source} says {want}"
            );
        }
    }
}

#[test]
fn config_prints_a_file_without_its_data_and_names_what_is_missing() {
    let dir = temp();
    let file = dir.path().join("in.yaml");
    std::fs::write(
        &file,
        "data:\n  dataset: imagefolder\n  path: /nowhere/imagenet\nevaluation:\n  real_labels: /nowhere/real.json\n  ood: [{name: dtd, path: /nowhere/dtd}]\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["config", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = String::from_utf8_lossy(&o.stdout);
    // Every default filled in.
    assert!(
        yaml.contains("weight_decay_on_norm_bias: true") && yaml.contains("name: in"),
        "{yaml}"
    );
    let err = stderr(&o);
    assert!(
        err.contains("2 file(s) it reads are not on this machine"),
        "{err}"
    );
    assert!(
        err.contains("evaluation.real_labels: /nowhere/real.json is not a file"),
        "{err}"
    );
    assert!(
        err.contains("evaluation.ood[0].path: /nowhere/dtd is not a folder"),
        "{err}"
    );
    assert!(!err.contains("shared"), "{err}");
    // A run refuses the same file, naming the same paths; its dry run plans what it can.
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("evaluation.real_labels: /nowhere/real.json is not a file"));
    let o = run_in(dir.path(), &["run", "--dry-run", file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("3 file(s) it reads are not on this machine")
            && out.contains("evaluation.ood[0].path: /nowhere/dtd is not a folder"),
        "{out}"
    );
}

#[test]
fn a_dry_run_without_the_data_plans_at_the_published_size() {
    let root = env!("CARGO_MANIFEST_DIR");
    let swin = format!("{root}/experiments/in1k_swin.yaml");
    for args in [vec!["run", &swin, "--dry-run"], vec![&swin, "--dry-run"]] {
        let o = run_in(std::path::Path::new(root), &args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}{out}", stderr(&o));
        for want in [
            "planned without its data",
            "data.path: /data/imagenet is not a folder",
            "evaluation.real_labels: /data/imagenet/real.json is not a file",
            "1281167 training images of 224x224x3, 1000 classes",
            // Swin-T at 1,000 classes, the scoring run's 300 epochs of batch 1024
            "28288354 parameters; scoring run 300 epochs x 1252 batches = 375600 steps",
            "training time not estimated",
        ] {
            assert!(out.contains(want), "`{want}` missing from:\n{out}");
        }
    }
    // Without a published size, it says which keys would give one.
    let o = run_in(
        std::path::Path::new(root),
        &[
            "run",
            &format!("{root}/experiments/in21k_swin.yaml"),
            "--dry-run",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("unknown without it") && out.contains("data.expected_images"),
        "{out}"
    );
}
