//! Scoring from the first epochs (`epochs_used`) and ranking stability, each against a
//! recomputation: the dynamics cut to k epochs and scored afresh, Spearman and overlap worked
//! out here.

use dynunc::dynamics::InMemory;
use dynunc::score::stability::{StabilityRow, grid, stability};
use dynunc::score::{self, Keep, ScoreParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{p, run_in, stderr, temp, tiny_experiment, write_fixture};
use crate::scorers::three_samples;

fn random_dynamics(samples: usize, epochs: usize, seed: u64) -> InMemory {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    InMemory::from_probabilities(
        (0..epochs)
            .map(|_| (0..samples).map(|_| rng.random_range(0.0..1.0)).collect())
            .collect(),
    )
}

fn first(d: &InMemory, k: usize) -> InMemory {
    InMemory {
        epochs: d.epochs[..k].to_vec(),
        ..d.clone()
    }
}

fn window(j: usize) -> ScoreParams {
    ScoreParams::default().with(&score::dyn_unc::WINDOW, j)
}

#[test]
fn epochs_used_scores_the_first_epochs_as_a_run_of_that_length() {
    let d = random_dynamics(20, 6, 1);
    for method in ["dyn_unc", "variability", "dual", "confidence"] {
        let m = score::find(method).unwrap();
        let params = ScoreParams {
            epochs_used: Some(4),
            ..window(3)
        };
        let cut = score::score_one(&mut d.clone(), m, &params).unwrap();
        let alone = score::score_one(&mut first(&d, 4), m, &window(3)).unwrap();
        assert_eq!(cut, alone, "{method}");
    }
    for k in [0, 7] {
        let params = ScoreParams {
            epochs_used: Some(k),
            ..window(2)
        };
        let err = score::score_one(&mut d.clone(), score::find("dyn_unc").unwrap(), &params)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("epochs_used {k}")) && err.contains("hold 6"),
            "{err}"
        );
    }
    // A window longer than the epochs used is refused as for a run that short.
    let params = ScoreParams {
        epochs_used: Some(2),
        ..window(3)
    };
    assert!(
        score::score_one(
            &mut three_samples(),
            score::find("dyn_unc").unwrap(),
            &params
        )
        .is_err()
    );
}

/// Spearman's rho from its textbook form, 1 - 6 sum d^2 / (n (n^2 - 1)), for distinct values.
fn rho(a: &[f32], b: &[f32]) -> f64 {
    let rank = |v: &[f32]| {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (pos, &i) in order.iter().enumerate() {
            r[i] = pos as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// The `count` highest (or lowest) of `s`, as a set.
fn best(s: &[f32], count: usize, keep: Keep) -> Vec<usize> {
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&i, &j| match keep {
        Keep::Highest => s[j].total_cmp(&s[i]),
        Keep::Lowest => s[i].total_cmp(&s[j]),
    });
    order.truncate(count);
    order
}

#[test]
fn stability_equals_a_recomputation_from_the_cut_dynamics() {
    let d = random_dynamics(40, 6, 2);
    let methods = [
        score::find("dyn_unc").unwrap(),
        score::find("confidence").unwrap(),
        score::find("random").unwrap(),
    ];
    let rows = stability(&mut d.clone(), &methods, &window(3), &[0.5, 0.75]).unwrap();
    // random is left out; dyn_unc is defined from k = 3 (its window), confidence from 1.
    assert!(rows.iter().all(|r| r.method != "random"));
    let ks = |m: &str| {
        let mut v: Vec<usize> = rows
            .iter()
            .filter(|r| r.method == m)
            .map(|r| r.epochs_used)
            .collect();
        v.dedup();
        v
    };
    assert_eq!(ks("dyn_unc"), vec![3, 4, 5, 6]);
    assert_eq!(ks("confidence"), vec![1, 2, 3, 4, 5, 6]);
    for r in &rows {
        let m = score::find(&r.method).unwrap();
        let at_k = score::score_one(&mut first(&d, r.epochs_used), m, &window(3)).unwrap();
        let all = score::score_one(&mut d.clone(), m, &window(3)).unwrap();
        assert!((r.spearman - rho(&at_k, &all)).abs() < 1e-9, "{r:?}");
        let count = (40.0 * (1.0 - r.prune_ratio)).round() as usize;
        let (now, end) = (
            best(&at_k, count, m.info().keep),
            best(&all, count, m.info().keep),
        );
        let both = now.iter().filter(|i| end.contains(i)).count();
        assert_eq!(r.kept_overlap, both as f64 / count as f64, "{r:?}");
    }
    let last: Vec<&StabilityRow> = rows.iter().filter(|r| r.epochs_used == 6).collect();
    assert!(
        last.iter()
            .all(|r| r.kept_overlap == 1.0 && (r.spearman - 1.0).abs() < 1e-12)
    );
    assert_eq!(grid(30), (1..=30).collect::<Vec<_>>());
    assert_eq!(grid(300).len(), 30);
    assert_eq!(*grid(300).last().unwrap(), 300);
}

#[test]
fn an_experiment_writes_its_stability_and_the_cli_agrees() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 120, 40);
    let out = p(dir.path(), "results");
    let yaml = tiny_experiment("stab", &data, &out, "")
        .replace("seeds: [0, 1]", "seeds: [0]")
        .replace(
            "scoring:\n  window: 2\n",
            "scoring:\n  window: 2\n  stability: true\n  methods: [dyn_unc, el2n, random]\n",
        );
    let file = p(dir.path(), "stab.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = out.join("stab");
    let mine = p(dir.path(), "stability.csv");
    let store = run.join("work/dynamics.dyn");
    let o = run_in(
        dir.path(),
        &[
            "stability",
            "--dynamics",
            store.to_str().unwrap(),
            "--methods",
            "dyn_unc,el2n,random",
            "--window",
            "2",
            "--prune",
            "0.5,0.75",
            "--out",
            mine.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        std::fs::read_to_string(run.join("stability.csv")).unwrap()
    );
    let readme = std::fs::read_to_string(run.join("README.md")).unwrap();
    assert!(
        readme.contains("## Ranking stability") && readme.contains("stability.png"),
        "{readme}"
    );
    assert!(run.join("stability.png").exists() && run.join("stability.svg").exists());
    // More epochs used than recorded is refused at its key.
    let bad = yaml.replace("stability: true", "epochs_used: 5");
    std::fs::write(&file, bad).unwrap();
    let err = stderr(&run_in(
        dir.path(),
        &["run", file.to_str().unwrap(), "--dry-run"],
    ));
    assert!(
        err.contains("scoring.epochs_used") && err.contains("hold 3"),
        "{err}"
    );
}
