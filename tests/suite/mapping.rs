//! A model evaluated on a subset of its classes and fine-tuned from its own classifier's rows
//! (the authors' ImageNet-21K -> 1K: `output[:, map_to_1k]` on 1K's validation set, and the 1K
//! head initialised from the 21K head's rows, classes matched by WordNet id).

use burn::prelude::*;
use burn::tensor::Distribution;
use dynunc::data::folder::{Entry, names_from_folders};
use dynunc::train::model::{InputShape, Model, ModelSpec};

use crate::common::{p, run_in, stderr, temp, write_image_folder};

/// The restricted logits, worked out by hand: columns taken in the order given.
#[test]
fn restricted_logits_keep_the_given_columns_in_order() {
    let logits = [0.1f32, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0];
    let got = dynunc::eval::restrict(&logits, 4, &[2, 0]);
    assert_eq!(&*got, &[0.3, 0.1, 3.0, 1.0]);
    assert_eq!(&*dynunc::eval::restrict(&logits, 4, &[]), &logits[..]);
}

/// Each family's classifier cut to some of its rows gives exactly those columns of the
/// logits it gave before (the body is untouched; each output is its own dot product).
#[test]
fn a_mapped_classifier_gives_the_pre_trained_logits_of_its_classes() {
    let device = Device::flex();
    for name in ["mlp", "cnn", "resnet_mini", "convnext_mini", "swin_mini"] {
        let spec = ModelSpec::preset(name).unwrap();
        let m = Model::new(&spec, InputShape::MNIST, &device);
        let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Default, &device);
        let before = m
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let rows = [7usize, 2, 9];
        let after = m.with_class_rows(&rows).forward(x);
        assert_eq!(after.dims(), [3, 3], "{name}");
        let after = after.into_data().try_to_vec::<f32>().unwrap();
        for (i, (got, row)) in after.chunks(3).zip(before.chunks(10)).enumerate() {
            for (k, &r) in rows.iter().enumerate() {
                let want = row[r];
                assert!(
                    (got[k] - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{name}: sample {i}, class {r}: {} against {want}",
                    got[k]
                );
            }
        }
    }
}

fn entry(path: &str, label: u32) -> Entry {
    Entry {
        path: path.into(),
        label,
    }
}

/// A file list names its classes by their folders only when that is unambiguous.
#[test]
fn a_file_list_names_its_classes_by_their_folders() {
    let list = [
        entry("/d/train/n02/b.JPEG", 1),
        entry("/d/train/n01/a.JPEG", 0),
        entry("/d/train/n01/c.JPEG", 0),
    ];
    assert_eq!(
        names_from_folders(&list),
        Some(vec!["n01".to_string(), "n02".to_string()])
    );
    let split = [entry("/d/n01/a.JPEG", 0), entry("/d/n02/b.JPEG", 0)];
    assert_eq!(names_from_folders(&split), None, "one label, two folders");
    let shared = [entry("/d/n01/a.JPEG", 0), entry("/d/n01/b.JPEG", 1)];
    assert_eq!(names_from_folders(&shared), None, "two labels, one folder");
    let gap = [entry("/d/n01/a.JPEG", 0), entry("/d/n03/b.JPEG", 2)];
    assert_eq!(names_from_folders(&gap), None, "label 1 has no file");
}

/// Removes class folder `class` from `split` of the ImageFolder data at `root`.
fn drop_class(root: &std::path::Path, split: &str, class: &str) {
    std::fs::remove_dir_all(root.join(split).join(class)).unwrap();
}

/// The 21K recipe in small: pre-training on three classes, evaluated on a validation folder
/// of two of them (`data.val_path`), fine-tuned on those two with the mapped classifier and
/// its ReaL accuracy measured (`finetune.real_labels`); a
/// validation class the training lacks, a subset without `val_path`, and a fine-tuning class
/// the pre-training lacks are each refused, naming the class and the fix.
#[test]
fn pre_training_is_evaluated_and_fine_tuned_through_the_class_names() {
    let dir = temp();
    let pre = p(dir.path(), "pre");
    write_image_folder(&pre, 6, false);
    let one_k = p(dir.path(), "one_k");
    write_image_folder(&one_k, 6, false);
    drop_class(&one_k, "train", "bee");
    drop_class(&one_k, "val", "bee");
    // ReaL labels of the 1K validation files, in file-name order (ant_*, then cat_*): each
    // file's own class, so the fine-tuned ReaL accuracy must equal its top-1 exactly.
    let real_json = p(dir.path(), "real.json");
    std::fs::write(&real_json, "[[0],[0],[0],[1],[1],[1]]").unwrap();
    let out = p(dir.path(), "results");
    let yaml = |val: &str, head: &str| {
        format!(
            "name: map\nbackend: flex\ndata:\n  dataset: imagefolder\n  path: {pre}\n  image_size: 16\n{val}model:\n  arch: resnet_mini\n  widths: [4, 8]\n  depths: [1, 1]\ntrain:\n  epochs: 2\n  batch_size: 6\nscoring:\n  methods: [dyn_unc]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\nfinetune:\n  head: {head}\n  real_labels: {real}\n  data:\n    dataset: imagefolder\n    path: {one_k}\n    image_size: 16\n  train:\n    epochs: 1\n    batch_size: 6\noutput:\n  dir: {out}\n",
            pre = pre.display(),
            one_k = one_k.display(),
            real = real_json.display(),
            out = out.display()
        )
    };
    let file = p(dir.path(), "map.yaml");
    let run = |text: String| {
        std::fs::write(&file, text).unwrap();
        run_in(dir.path(), &[file.to_str().unwrap()])
    };
    let val_path = format!("  val_path: {}\n", one_k.join("val").display());

    let plan_text = {
        std::fs::write(&file, yaml(&val_path, "mapped")).unwrap();
        let o = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).to_string() + &stderr(&o)
    };
    assert!(
        plan_text.contains("a 2-class classifier of the pre-trained rows of its classes"),
        "{plan_text}"
    );

    let o = run(yaml(&val_path, "mapped"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("evaluated on the outputs of the 2 classes of its validation folder"),
        "{}",
        stderr(&o)
    );
    let rows = dynunc::report::read_rows(&out.join("map/main.csv")).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        // 6 validation images of 2 classes: accuracy in sixths.
        assert!(
            ((r.test_acc * 6.0) - (r.test_acc * 6.0).round()).abs() < 1e-9,
            "{r:?}"
        );
        assert!(r.finetune_acc.is_some(), "{r:?}");
        assert_eq!(r.finetune_real_acc, r.finetune_acc, "{r:?}");
    }

    // The pre-training's own val/ (three classes) with one class more than training.
    let extra = pre.join("val/dog");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::copy(pre.join("val/ant/ant_000.jpg"), extra.join("dog_000.jpg")).unwrap();
    let err = stderr(&run(yaml(
        &format!("  val_path: {}\n", pre.join("val").display()),
        "mapped",
    )));
    assert!(
        err.contains("1 of its 4 class folders are not training classes (the first: `dog`)"),
        "{err}"
    );
    std::fs::remove_dir_all(&extra).unwrap();

    // A subset of the classes in val/ itself, without val_path: refused, naming val_path.
    drop_class(&pre, "val", "bee");
    let err = stderr(&run(yaml("", "mapped")));
    assert!(
        err.contains("differ from the 3 of train/") && err.contains("data.val_path"),
        "{err}"
    );

    // A fine-tuning class the pre-training lacks.
    std::fs::rename(one_k.join("train/cat"), one_k.join("train/eel")).unwrap();
    std::fs::rename(one_k.join("val/cat"), one_k.join("val/eel")).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let pre_val = format!("  val_path: {}\n", pre.join("val").display());
    let err = stderr(&run(yaml(&pre_val, "mapped")));
    assert!(
        err.contains("finetune.head: mapped")
            && err.contains("(the first: `eel`)")
            && err.contains("finetune.head: fresh"),
        "{err}"
    );
}
