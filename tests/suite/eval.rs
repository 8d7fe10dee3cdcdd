//! OOD metrics and ReaL accuracy on cases worked out by hand; the OOD rows and fine-tuning of
//! whole experiments.

use dynunc::eval::ood::{OodScore, metrics};
use dynunc::eval::real::RealLabels;

use std::path::PathBuf;

use crate::common::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn ood_metrics_with_ties() {
    // in = [0.9, 0.8, 0.8, 0.3], out = [0.8, 0.2, 0.1].
    // AUROC: 0.9 beats 3 outs (3); each 0.8 ties one out and beats two (2.5 + 2.5); 0.3 beats
    // two (2): 10 of 12 pairs = 0.833333.
    // FPR at 95% TPR: all four ins needed, threshold 0.3; outs >= 0.3: one of three = 0.333333.
    // AUPR-in: steps at 0.9 (recall .25, precision 1), 0.8 (recall .75, precision 3/4),
    // 0.3 (recall 1, precision 4/5): .25 * 1 + .5 * .75 + .25 * .8 = 0.825.
    let m = metrics(&[0.9, 0.8, 0.8, 0.3], &[0.8, 0.2, 0.1]);
    assert!(close(m.auroc, 10.0 / 12.0), "{m:?}");
    assert!(close(m.fpr_at_95_tpr, 1.0 / 3.0), "{m:?}");
    assert!(close(m.aupr_in, 0.825), "{m:?}");
    // Perfect separation and complete confusion.
    let m = metrics(&[3.0, 2.0], &[1.0, 0.0]);
    assert!(
        close(m.auroc, 1.0) && close(m.fpr_at_95_tpr, 0.0) && close(m.aupr_in, 1.0),
        "{m:?}"
    );
    let m = metrics(&[1.0, 1.0], &[1.0, 1.0]);
    assert!(
        close(m.auroc, 0.5) && close(m.fpr_at_95_tpr, 1.0) && close(m.aupr_in, 0.5),
        "{m:?}"
    );
}

#[test]
fn msp_and_energy_scores() {
    // logits [0, ln 3]: softmax [0.25, 0.75]; MSP 0.75; energy score log(1 + 3) = ln 4.
    let logits = [0.0, 3f32.ln(), 0.0, 0.0];
    let msp = OodScore::Msp.scores(&logits, 2);
    let energy = OodScore::Energy.scores(&logits, 2);
    assert!(close(msp[0], 0.75) && close(msp[1], 0.5), "{msp:?}");
    assert!(
        (energy[0] - 4f64.ln()).abs() < 1e-6 && (energy[1] - 2f64.ln()).abs() < 1e-6,
        "{energy:?}"
    );
}

#[test]
fn real_accuracy_skips_empty_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.json");
    std::fs::write(&path, "[[1], [2, 3], [], [0]]").unwrap();
    let real = RealLabels::load(&path).unwrap();
    // Counted: images 0, 1, 3. [1, 3, _, 0] all correct; [1, 1, _, 2]: only image 0.
    assert_eq!(real.accuracy(&[1, 3, 5, 0]), Some((1.0, 3)));
    let (acc, n) = real.accuracy(&[1, 1, 5, 2]).unwrap();
    assert!(close(acc, 1.0 / 3.0) && n == 3);
    assert_eq!(real.accuracy(&[1, 2]), None);
    std::fs::write(&path, "{\"not\": \"a list\"}").unwrap();
    let err = RealLabels::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("real.json") && err.contains("list of label lists"),
        "{err}"
    );
}

#[test]
#[ignore = "needs DYNUNC_REAL_JSON, a real.json (ImageNet-ReaL labels); .ci/run sets it where the shared data exists"]
fn a_real_json_given_by_path_loads() {
    let path = std::env::var_os("DYNUNC_REAL_JSON")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .expect("set DYNUNC_REAL_JSON to a real.json (ImageNet-ReaL labels)");
    let real = RealLabels::load(&path).unwrap();
    assert_eq!(real.0.len(), 50_000);
    let empty = real.0.iter().filter(|l| l.is_empty()).count();
    assert!(
        empty > 0 && empty < 5_000,
        "{empty} images without a ReaL label"
    );
    assert!(real.0.iter().flatten().all(|&c| c < 1000));
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
    write_split(&ood, "t10k", &flipped, true).unwrap();
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
        write_split(&second, split, &set, gz).unwrap();
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

/// A tiny experiment evaluating after every epoch, in its own folder under `root`.
fn every_epoch_case(root: &std::path::Path, name: &str, data: &std::path::Path) -> PathBuf {
    let yaml = format!(
        "name: e\nbackend: flex\ndata:\n  path: {}\nmodel:\n  arch: mlp\n  hidden: 16\ntrain:\n  epochs: 4\n  batch_size: 50\nscoring:\n  methods: [dyn_unc]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\nevaluation:\n  every_epoch: true\noutput:\n  dir: results\n",
        data.display()
    );
    exp_case(root, name, &yaml)
}

#[test]
fn every_epoch_reports_the_best_epoch_and_resumes_its_history() {
    use crate::faults::{differences, operations, snapshot};
    let root = temp();
    let data = p(root.path(), "data");
    write_fixture(&data, 300, 100);
    let reference = every_epoch_case(root.path(), "reference", &data);
    let o = run_exp_yaml(&reference, Some(0));
    assert!(o.status.success(), "{}", stderr(&o));
    let total = operations(&o);
    let res = reference.join("results/e");
    let rows = dynunc::report::read_rows(&res.join("main.csv")).unwrap();
    assert!(rows.iter().any(|r| r.method == "full"), "{rows:?}");
    for r in &rows {
        let (best, epoch) = (r.best_acc.unwrap(), r.best_epoch.unwrap());
        assert!((1..=4).contains(&epoch), "{r:?}");
        // the last epoch is one of the epochs evaluated: the best is at least its accuracy,
        // and equal to it when the best epoch is the last
        assert!(best >= r.test_acc, "{r:?}");
        if epoch == 4 {
            assert_eq!(best, r.test_acc, "{r:?}");
        }
    }
    let md = std::fs::read_to_string(res.join("main.md")).unwrap();
    assert!(md.contains("Best-epoch test accuracy"), "{md}");
    assert!(
        std::fs::read_dir(res.join("work/checkpoints")).map_or(true, |mut d| d.next().is_none()),
        "finished jobs leave no checkpoints or histories"
    );
    let want = snapshot(&res);

    // Killed right after a history file is written (before that epoch's checkpoint), and
    // right after the checkpoint's first file: the resumed run ends with the same bytes.
    let first = (total / 2..total)
        .find(|&k| {
            let dir = every_epoch_case(root.path(), &format!("probe{k}"), &data);
            let o = run_exp_yaml(&dir, Some(k));
            stderr(&o).contains(".accuracy.csv")
        })
        .expect("a history write in the second half of the run");
    for k in [first, first + 1] {
        let dir = every_epoch_case(root.path(), &format!("kill{k}"), &data);
        let o = run_exp_yaml(&dir, Some(k));
        assert!(!o.status.success(), "{}", stderr(&o));
        let o = run_exp_yaml(&dir, None);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            differences(&want, &snapshot(&dir.join("results/e"))),
            Vec::<String>::new(),
            "killed after operation {k}"
        );
    }
}
