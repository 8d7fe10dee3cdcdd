//! The newer methods inside an experiment: TDDS recorded and scored, the strategies that
//! sample or band (`dual_beta`, `band`, `skip_hardest`) retrained and reported, and `scoring.runs`
//! averaging the scores of several scoring runs.

use std::path::Path;

use dynunc::dynamics::store::StoreReader;
use dynunc::dynamics::{EpochSource, Field};
use dynunc::score::rows::read_scores;

use crate::common::{p, run_in, stderr, temp, tiny_experiment, write_fixture};

/// `dynunc score` of `method` (with the flags in `extra`) on `store`, as the scores' values.
fn cli_scores(dir: &Path, store: &Path, method: &str, extra: &[&str]) -> Vec<f32> {
    let out = p(dir, &format!("{method}-cli.csv"));
    let mut args = vec![
        "score",
        "--dynamics",
        store.to_str().unwrap(),
        "--method",
        method,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run_in(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    read_scores(&out).unwrap().iter().map(|r| r.score).collect()
}

fn written(path: &Path) -> Vec<f32> {
    read_scores(path).unwrap().iter().map(|r| r.score).collect()
}

#[test]
fn tdds_and_the_sampling_strategies_run_in_an_experiment() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 200, 60);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("nw", &data, &out, "")
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace(
            "scoring:\n  window: 2\n",
            "scoring:\n  window: 3\n  methods: [tdds, dyn_unc, random]\n",
        )
        .replace(
            "  prune_ratios: [0.5, 0.75]\n",
            "  prune_ratios: [0.5, 0.75]\n  strategies: [top, dual_beta, band, skip_hardest]\n  skip_hardest:\n    cutoff: 0.1\n",
        );
    let file = p(dir.path(), "nw.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = out.join("nw");
    // The store holds the drift tdds reads, and no drift state is left behind.
    let store = run.join("work/dynamics.dyn");
    assert!(
        StoreReader::open(&store)
            .unwrap()
            .fields()
            .contains(Field::Drift)
    );
    let left: Vec<_> = std::fs::read_dir(run.join("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".prev-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The experiment's scores are the CLI's on its store; dual_beta's confidence is written.
    assert_eq!(
        written(&run.join("work/scores/tdds.csv")),
        cli_scores(dir.path(), &store, "tdds", &["--window", "3"])
    );
    assert_eq!(
        written(&run.join("work/scores/confidence.csv")),
        cli_scores(dir.path(), &store, "confidence", &[])
    );
    let rows = dynunc::report::read_rows(&run.join("main.csv")).unwrap();
    for method in ["tdds", "dyn_unc"] {
        for strategy in ["top", "dual_beta", "band", "skip_hardest"] {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r.method == method && r.strategy == strategy)
                .collect();
            assert_eq!(mine.len(), 2, "{method}+{strategy}");
            for r in mine {
                assert_eq!(r.kept, if r.prune_ratio == 0.5 { 100 } else { 50 }, "{r:?}");
            }
        }
    }
    assert_eq!(rows.iter().filter(|r| r.method == "random").count(), 2);
    let md = std::fs::read_to_string(run.join("main.md")).unwrap();
    assert!(
        md.contains("tdds+dual_beta") && md.contains("dyn_unc+band"),
        "{md}"
    );
}

#[test]
fn scoring_runs_average_the_scores_of_their_stores() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 120, 40);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("runs", &data, &out, "")
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace("prune_ratios: [0.5, 0.75]", "prune_ratios: [0.5]")
        .replace(
            "scoring:\n  window: 2\n",
            "scoring:\n  window: 2\n  runs: 2\n  methods: [dyn_unc, el2n]\n",
        );
    let file = p(dir.path(), "runs.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("scoring run 2/2"), "{}", stderr(&o));
    let work = out.join("runs/work");
    let stores = [
        work.join("run-1/dynamics.dyn"),
        work.join("run-2/dynamics.dyn"),
    ];
    assert_ne!(
        std::fs::read(&stores[0]).unwrap(),
        std::fs::read(&stores[1]).unwrap(),
        "the two runs have their own seeds"
    );
    for (method, extra) in [("dyn_unc", &["--window", "2"][..]), ("el2n", &[][..])] {
        let a = cli_scores(dir.path(), &stores[0], method, extra);
        let b = cli_scores(dir.path(), &stores[1], method, extra);
        let mean = written(&work.join(format!("scores/{method}.csv")));
        for (i, ((x, y), m)) in a.iter().zip(&b).zip(&mean).enumerate() {
            let want = ((f64::from(*x) + f64::from(*y)) / 2.0) as f32;
            assert_eq!(*m, want, "{method}, sample {i}");
        }
    }
    let archs = dynunc::report::read_arch_rows(&out.join("runs/archs.csv")).unwrap();
    assert_eq!(archs.len(), 1);
    // Zero runs is refused at its key.
    std::fs::write(&file, yaml.replace("runs: 2", "runs: 0")).unwrap();
    let err = stderr(&run_in(dir.path(), &["run", file.to_str().unwrap()]));
    assert!(err.contains("scoring.runs"), "{err}");
}
