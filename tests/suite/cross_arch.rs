//! Cross-architecture retrains (`in1k_cross_arch.yaml` in small): one model scores
//! (`retrain.sources`), others only retrain on its subsets (`retrain.targets`), each with its
//! own `train:` over the experiment's; what cannot work is refused with its path.

use crate::common::{p, run_in, stderr, temp, write_fixture};

fn experiment(
    data: &std::path::Path,
    out: &std::path::Path,
    models: &str,
    retrain: &str,
) -> String {
    format!(
        "name: x\nbackend: flex\ndata:\n  path: {}\nmodels:\n{models}train:\n  epochs: 3\n  batch_size: 32\nscoring:\n  methods: [dyn_unc, random]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\n{retrain}output:\n  dir: {}\n",
        data.display(),
        out.display()
    )
}

const MODELS: &str = "  - {arch: mlp, hidden: 32, name: scorer}\n  - arch: cnn\n    name: other\n    train: {epochs: 2, batch_size: 50, optimizer: sgd, lr: 0.01}\n";
const RETRAIN: &str = "  sources: [scorer]\n  targets: [other]\n";

#[test]
fn a_target_only_model_retrains_on_the_scorers_subsets_with_its_own_recipe() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 60);
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "x.yaml");
    std::fs::write(&file, experiment(&data, &out, MODELS, RETRAIN)).unwrap();

    let plan = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    // other: 2 retrains (dyn_unc from scorer, random) x 2 epochs x ceil(100 / 50) batches.
    assert!(
        text.contains("no scoring run (not in retrain.sources); 2 retrains, 8 steps of batch 50"),
        "{text}"
    );
    assert!(
        text.contains("total: 1 scoring run(s) and 2 retrains"),
        "{text}"
    );

    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert_eq!(log.matches("epochs recorded for").count(), 1, "{log}");
    let rows = dynunc::report::read_rows(&out.join("x/main.csv")).unwrap();
    let mut got: Vec<(String, String, String, usize, usize)> = rows
        .iter()
        .map(|r| {
            let pair = (r.method.clone(), r.source_arch.clone(), r.arch.clone());
            (pair.0, pair.1, pair.2, r.epochs, r.steps)
        })
        .collect();
    got.sort();
    let row = |m: &str, s: &str| (m.to_string(), s.to_string(), "other".to_string(), 2, 4);
    assert_eq!(got, vec![row("dyn_unc", "scorer"), row("random", "other")]);
    let readme = std::fs::read_to_string(out.join("x/README.md")).unwrap();
    assert!(
        readme.contains("## Retrained on other: subsets that need no scores")
            && !readme.contains("Scored and retrained on other"),
        "{readme}"
    );
}

#[test]
fn per_model_recipes_and_sources_that_cannot_work_are_refused_with_their_path() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 60);
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "x.yaml");
    let check = |yaml: String, needles: &[&str]| {
        std::fs::write(&file, yaml).unwrap();
        let o = run_in(dir.path(), &["run", file.to_str().unwrap(), "--dry-run"]);
        assert!(!o.status.success());
        let err = stderr(&o);
        for n in needles {
            assert!(err.contains(n), "missing `{n}` in\n{err}");
        }
    };
    // A model that scores must keep the experiment's epochs.
    check(
        experiment(&data, &out, MODELS, "  targets: [other]\n"),
        &[
            "models[1].train.epochs",
            "2 against train.epochs 3",
            "retrain.sources",
        ],
    );
    check(
        experiment(
            &data,
            &out,
            &MODELS.replace("lr: 0.01", "lr: 0.01, lrr: 1"),
            RETRAIN,
        ),
        &["models[1].train", "unknown field `lrr`"],
    );
    check(
        experiment(&data, &out, &MODELS.replace("lr: 0.01", "lr: -1"), RETRAIN),
        &["models[1].train.lr"],
    );
    check(
        experiment(&data, &out, MODELS, "  sources: [nobody]\n"),
        &["retrain.sources[0]", "`nobody` names no model"],
    );
}
