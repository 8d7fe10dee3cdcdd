//! Early stop (`scoring.stop`), partial scoring (`scoring.prefixes`) and proxy models
//! (`retrain.targets`): the rule against a recomputation written here from its definition, a
//! live stop against the rule replayed on the whole run, a resumed stopped run, and the
//! refusals.

use dynunc::dynamics::store::StoreReader;
use dynunc::dynamics::{EpochSource as _, InMemory};
use dynunc::score::stop::{StopRule, replay};
use dynunc::score::{self, ScoreParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{p, run_in, stderr, temp, write_fixture};

/// Probabilities around a per-sample level with a per-sample amplitude (which Dyn-Unc ranks
/// by) and noise that fades, so kept sets settle.
fn settling(samples: usize, epochs: usize, seed: u64) -> InMemory {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let level: Vec<f32> = (0..samples).map(|_| rng.random_range(0.3..0.7)).collect();
    let amp: Vec<f32> = (0..samples).map(|_| rng.random_range(0.0..0.3)).collect();
    InMemory::from_probabilities(
        (0..epochs)
            .map(|e| {
                let fade = 0.3 / (1.0 + e as f32);
                (0..samples)
                    .map(|i| {
                        let sign = if e % 2 == 0 { 1.0 } else { -1.0 };
                        level[i] + sign * amp[i] + fade * rng.random_range(-1.0..1.0f32)
                    })
                    .collect()
            })
            .collect(),
    )
}

/// The rule from its definition: the kept half (the highest scores, ties to the lower index)
/// from each k-epoch run, overlaps of consecutive sets, and the first k after `patience`
/// consecutive overlaps of at least `overlap`.
fn by_hand(
    d: &InMemory,
    window: usize,
    overlap: f64,
    patience: usize,
) -> Option<(usize, Vec<f64>)> {
    let method = score::find("dyn_unc").unwrap();
    let mut previous: Option<Vec<usize>> = None;
    let mut streak = Vec::new();
    for k in window..=d.epochs.len() {
        let params = ScoreParams {
            epochs_used: Some(k),
            ..ScoreParams::default().with(&score::dyn_unc::WINDOW, window)
        };
        let s = score::score_one(&mut d.clone(), method, &params).unwrap();
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        let mut kept = order[..s.len() / 2].to_vec();
        kept.sort_unstable();
        if let Some(prev) = &previous {
            let both = kept.iter().filter(|i| prev.contains(i)).count();
            let o = both as f64 / kept.len() as f64;
            if o >= overlap {
                streak.push(o);
            } else {
                streak.clear();
            }
        }
        previous = Some(kept);
        if streak.len() >= patience {
            return Some((k, streak));
        }
    }
    None
}

#[test]
fn the_stop_rule_fires_where_its_definition_says() {
    let method = score::find("dyn_unc").unwrap();
    let mut fired = 0;
    for (seed, overlap, patience) in [(1, 0.9, 2), (2, 0.95, 3), (3, 0.8, 1), (4, 1.0, 2)] {
        let d = settling(200, 14, seed);
        let rule = StopRule {
            method,
            prune_ratio: 0.5,
            overlap,
            patience,
        };
        let params = ScoreParams::default().with(&score::dyn_unc::WINDOW, 3);
        let got = replay(&mut d.clone(), rule, &params)
            .unwrap()
            .map(|f| (f.epochs, f.overlaps));
        assert_eq!(got, by_hand(&d, 3, overlap, patience), "seed {seed}");
        fired += usize::from(got.is_some());
        assert_eq!(rule.first_defined(&params, 14), Some(3));
        assert_eq!(rule.earliest(&params, 14), Some(3 + patience));
    }
    assert!(fired >= 3, "the rule fired in only {fired} of the cases");
}

fn experiment(name: &str, data: &std::path::Path, out: &std::path::Path, scoring: &str) -> String {
    format!(
        "name: {name}\nbackend: flex\ndata:\n  path: {}\nmodels:\n  - {{arch: mlp, hidden: 32, name: big}}\n  - {{arch: mlp, hidden: 8, name: proxy}}\ntrain:\n  epochs: 10\n  batch_size: 32\nscoring:\n  methods: [dyn_unc, random]\n  window: 2\n{scoring}retrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  targets: [big]\noutput:\n  dir: {}\n",
        data.display(),
        out.display()
    )
}

fn run(dir: &std::path::Path, name: &str, yaml: &str) {
    let file = p(dir, &format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir, &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn csv(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The proxy only scores: nothing is trained on it; its subsets are trained on `big`.
fn only_big_is_trained(whole: &std::path::Path) {
    let main = csv(&whole.join("main.csv"));
    let header = std::fs::read_to_string(whole.join("main.csv")).unwrap();
    let cols: Vec<&str> = header.lines().next().unwrap().split(',').collect();
    let (arch, source, method) = (
        cols.iter().position(|c| *c == "arch").unwrap(),
        cols.iter().position(|c| *c == "source_arch").unwrap(),
        cols.iter().position(|c| *c == "method").unwrap(),
    );
    assert!(main.iter().all(|r| r[arch] == "big"), "{main:?}");
    let mut methods: Vec<String> = main
        .iter()
        .map(|r| format!("{}<-{}", r[method], r[source]))
        .collect();
    methods.sort();
    methods.dedup();
    assert_eq!(
        methods,
        [
            "dyn_unc<-big",
            "dyn_unc<-proxy",
            "dyn_unc@3<-big",
            "dyn_unc@3<-proxy",
            "dyn_unc@stop<-big",
            "dyn_unc@stop<-proxy",
            "full<-big",
            "random<-big"
        ]
    );
}

#[test]
fn a_stopped_run_equals_the_whole_run_replayed_and_resumes_where_it_stopped() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 300, 60);
    let out = p(dir.path(), "results");
    let stop = "  stop: {prune_ratio: 0.5, overlap: 0.8, patience: 2}\n";
    run(dir.path(), "live", &experiment("live", &data, &out, stop));
    let whole = format!("{stop}  prefixes: [3, stop]\n");
    run(
        dir.path(),
        "whole",
        &experiment("whole", &data, &out, &whole),
    );
    let (live, whole) = (out.join("live"), out.join("whole"));
    // The live run stopped where the rule replayed on the whole run fires, for each network,
    // and recorded that many epochs.
    let from = |dir: &std::path::Path| csv(&dir.join("scored_from.csv"));
    for (arch, store) in [
        ("big", "work/big/dynamics.dyn"),
        ("proxy", "work/proxy/dynamics.dyn"),
    ] {
        let l = from(&live)
            .into_iter()
            .find(|r| r[0] == arch && r[2] == "all")
            .unwrap();
        let w = from(&whole)
            .into_iter()
            .find(|r| r[0] == arch && r[2] == "stop")
            .unwrap();
        assert_eq!(l[3], w[3], "{arch}: live {l:?}, replayed {w:?}");
        assert!(
            l[3].parse::<usize>().unwrap() < 10,
            "{arch} never stopped: {l:?}"
        );
        assert_eq!(l[4], "10");
        let k: usize = l[3].parse().unwrap();
        assert_eq!(
            StoreReader::open(&live.join(store)).unwrap().shape().epochs,
            k
        );
        // The live run's scores are the whole run's `@stop` scores: the same first k epochs.
        let scores = |d: &std::path::Path, m: &str| {
            std::fs::read(d.join(format!("work/{arch}/scores/{m}.csv"))).unwrap()
        };
        assert_eq!(
            scores(&live, "dyn_unc"),
            scores(&whole, "dyn_unc@stop"),
            "{arch}"
        );
    }
    let whole_parts: Vec<String> = from(&whole)
        .iter()
        .map(|r| format!("{}:{}", r[0], r[2]))
        .collect();
    assert_eq!(
        whole_parts,
        [
            "big:all",
            "big:3",
            "big:stop",
            "proxy:all",
            "proxy:3",
            "proxy:stop"
        ]
    );
    only_big_is_trained(&whole);
    let readme = std::fs::read_to_string(whole.join("README.md")).unwrap();
    assert!(
        readme.contains("## Scoring cost")
            && readme.contains("| dyn_unc, first 3 epochs | proxy | big | 3.0 / 10 |"),
        "{readme}"
    );
    assert!(whole.join("scoring_cost.png").exists());
    // The proxy's subsets are in the cross table, not mixed into the target's own.
    assert!(
        readme.contains("## Scored and retrained on big")
            && readme.contains("| proxy → big | dyn_unc |"),
        "{readme}"
    );

    // A stopped run killed before its row was written resumes from its checkpoint and
    // stops at once, recording nothing more.
    let row = live.join("work/big/scoring_run.csv");
    let store = live.join("work/big/dynamics.dyn");
    let before = std::fs::read(&store).unwrap();
    std::fs::remove_file(&row).unwrap();
    std::fs::remove_file(live.join("README.md")).unwrap();
    let file = p(dir.path(), "live.yaml");
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&store).unwrap(), before);
    assert!(row.exists());
}

#[test]
fn stop_prefixes_and_targets_that_cannot_work_are_refused_with_their_path() {
    let dir = temp();
    let data = p(dir.path(), "data");
    write_fixture(&data, 40, 20);
    let out = p(dir.path(), "results");
    for (scoring, path, says) in [
        (
            "  stop: {patience: 9}\n",
            "scoring.stop:",
            "after epoch 11 at the earliest",
        ),
        (
            "  stop: {method: random}\n",
            "scoring.stop.method:",
            "does not read the dynamics",
        ),
        (
            "  stop: {method: el2n}\n",
            "scoring.stop.method:",
            "not in scoring.methods",
        ),
        ("  stop: {overlap: 1.5}\n", "scoring.stop.overlap:", "1.5"),
        (
            "  stop: {prune_ratio: 0}\n",
            "scoring.stop.prune_ratio:",
            "above 0 and below 1",
        ),
        (
            "  stop: {patience: 0}\n",
            "scoring.stop.patience:",
            "at least 1",
        ),
        (
            "  stop: {}\n  epochs_used: 5\n",
            "scoring.stop:",
            "one or the other",
        ),
        ("  prefixes: [stop]\n", "scoring.prefixes[0]:", "not given"),
        ("  prefixes: [10]\n", "scoring.prefixes[0]:", "from 1 to 9"),
        (
            "  prefixes: [1]\n",
            "scoring.prefixes[0]:",
            "dyn_unc cannot score",
        ),
        (
            "  prefixes: [3, 3]\n",
            "scoring.prefixes[1]:",
            "listed twice",
        ),
        ("  prefixes: [soon]\n", "scoring.prefixes[0]:", "`soon`"),
    ] {
        let yaml = experiment("bad", &data, &out, scoring);
        let file = p(dir.path(), "bad.yaml");
        std::fs::write(&file, &yaml).unwrap();
        let o = run_in(dir.path(), &["run", "--dry-run", file.to_str().unwrap()]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{scoring}: accepted");
        let line = err
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("{scoring}: no {path} in {err}"));
        assert!(line.contains(says), "{scoring}: {line}");
    }
    let yaml = experiment("bad", &data, &out, "").replace("targets: [big]", "targets: [huge]");
    let file = p(dir.path(), "bad.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let err = stderr(&run_in(
        dir.path(),
        &["run", "--dry-run", file.to_str().unwrap()],
    ));
    assert!(
        err.contains("retrain.targets[0]: `huge` names no model; the models are: big, proxy"),
        "{err}"
    );
}
