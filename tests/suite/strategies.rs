//! The selection strategies beside `top`, `ccs` and `easy`: `band` (Moderate's median band),
//! `skip_hardest` (cutoff then rank) and `dual_beta` (DUAL's β-sampling), each against its defining
//! property worked out by hand.

use dynunc::options::Options;
use dynunc::score::Keep;
use dynunc::select::dual_beta::{self, C_D, draw, shape};
use dynunc::select::{Input, StrategyOptions, apply, ccs::CUTOFF, find};

struct Case<'a> {
    scores: &'a [f32],
    keep: Keep,
    keep_fraction: f64,
    labels: Option<&'a [u32]>,
    confidence: Option<&'a [f32]>,
}

fn run(strategy: &str, case: &Case<'_>, options: StrategyOptions) -> Result<Vec<usize>, String> {
    apply(
        find(strategy).unwrap(),
        &Input {
            scores: case.scores,
            keep: case.keep,
            keep_fraction: case.keep_fraction,
            labels: case.labels,
            confidence: case.confidence,
            options: &options,
        },
    )
    .map(|s| s.kept)
    .map_err(|e| e.to_string())
}

fn case(scores: &[f32], keep_fraction: f64) -> Case<'_> {
    Case {
        scores,
        keep: Keep::Highest,
        keep_fraction,
        labels: None,
        confidence: None,
    }
}

#[test]
fn band_keeps_the_scores_nearest_the_median() {
    // Median of [0, 1, 2, 3, 10] is 2: distances 2, 1, 0, 1, 8; keep 3 -> 2, then 1 and 3.
    let scores = [0.0, 1.0, 2.0, 3.0, 10.0];
    let kept = run("band", &case(&scores, 0.6), StrategyOptions::default()).unwrap();
    assert_eq!(kept, vec![1, 2, 3]);
    // Either direction: the band does not depend on which end a method keeps.
    let lowest = Case {
        keep: Keep::Lowest,
        ..case(&scores, 0.6)
    };
    assert_eq!(
        run("band", &lowest, StrategyOptions::default()).unwrap(),
        kept
    );
    // Even count: median of [0, 1, 2, 3] is 1.5; keep 2 -> 1 and 2 (both 0.5 away).
    let even = [3.0, 0.0, 2.0, 1.0];
    let kept = run("band", &case(&even, 0.5), StrategyOptions::default()).unwrap();
    assert_eq!(kept, vec![2, 3]);
    // Per class, around the median of all scores (2): class 0 = {0, 1, 2} quota 2 -> 2 (0), 1
    // (1); class 1 = {3, 4} quota 1 -> 3 (1).
    let per_class = Case {
        labels: Some(&[0, 0, 0, 1, 1]),
        ..case(&scores, 0.6)
    };
    let options = StrategyOptions {
        class_balanced: true,
        ..StrategyOptions::default()
    };
    assert_eq!(run("band", &per_class, options).unwrap(), vec![1, 2, 3]);
    assert_eq!(dynunc::select::band::median(&[5.0, -1.0, 2.0]), 2.0);
}

fn with_cutoff(cutoff: f64) -> StrategyOptions {
    StrategyOptions {
        options: Options::default().with(&CUTOFF, cutoff),
        ..StrategyOptions::default()
    }
}

#[test]
fn skip_hardest_drops_the_hardest_then_keeps_the_next() {
    // Scores 0..9, hard = high: cutoff 0.3 drops 9, 8, 7; keep 5 -> 6, 5, 4, 3, 2.
    let scores: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let kept = run("skip_hardest", &case(&scores, 0.5), with_cutoff(0.3)).unwrap();
    assert_eq!(kept, vec![2, 3, 4, 5, 6]);
    // A method keeping the lowest: drops 0, 1, 2; keeps 3..7.
    let lowest = Case {
        keep: Keep::Lowest,
        ..case(&scores, 0.5)
    };
    assert_eq!(
        run("skip_hardest", &lowest, with_cutoff(0.3)).unwrap(),
        vec![3, 4, 5, 6, 7]
    );
    // Cutoff 0 is top; the cutoff may reach the prune ratio, not pass it.
    assert_eq!(
        run("skip_hardest", &case(&scores, 0.3), with_cutoff(0.0)).unwrap(),
        vec![7, 8, 9]
    );
    assert_eq!(
        run("skip_hardest", &case(&scores, 0.3), with_cutoff(0.7)).unwrap(),
        vec![0, 1, 2]
    );
    let err = run("skip_hardest", &case(&scores, 0.3), with_cutoff(0.8)).unwrap_err();
    assert!(
        err.contains("skip_hardest cutoff 0.8 at prune ratio 0.7")
            && err.contains("[0, prune ratio]"),
        "{err}"
    );
    let balanced = StrategyOptions {
        class_balanced: true,
        ..with_cutoff(0.1)
    };
    let err = run("skip_hardest", &case(&scores, 0.5), balanced).unwrap_err();
    assert!(err.contains("drop class_balanced"), "{err}");
}

/// Twelve samples scored 1..12 (the highest kept first: the top ten are 2..11), the top ten
/// all at confidence `anchor`, samples 0 and 1 at 0.3 and 0.6.
fn dual_case(anchor: f32) -> (Vec<f32>, Vec<f32>) {
    let scores = (1..=12).map(|s| s as f32).collect();
    let mut confidence = vec![anchor; 12];
    confidence[0] = 0.3;
    confidence[1] = 0.6;
    (scores, confidence)
}

fn weights(c: &Case<'_>, c_d: f64) -> Vec<f64> {
    let options = StrategyOptions::default();
    let input = Input {
        scores: c.scores,
        keep: c.keep,
        keep_fraction: c.keep_fraction,
        labels: None,
        confidence: c.confidence,
        options: &options,
    };
    dual_beta::weights(&input, c.confidence.unwrap(), c_d)
}

fn assert_rel(got: &[f64], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1e-12),
            "sample {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn dual_beta_weights_are_the_beta_density_times_the_score() {
    // b = 15 (1 - anchor)(1 - r^c_d), a = 16 - b. At 90% pruning, anchor 0.5, c_d 4:
    // b = 7.5 x (1 - 0.6561) = 2.57925, a = 13.42075.
    let (a, b) = shape(0.5, 0.9, 4.0);
    assert!((b - 2.57925).abs() < 1e-12 && (a - 13.42075).abs() < 1e-12);
    // No pruning (r = 0), anchor 14/15: b = 1, a = 15, density 15 x^14.
    let (scores, confidence) = dual_case(14.0 / 15.0);
    let c = Case {
        confidence: Some(&confidence),
        ..case(&scores, 1.0)
    };
    let want: Vec<f64> = (0..12)
        .map(|i| 15.0 * f64::from(confidence[i]).powi(14) * f64::from(scores[i]))
        .collect();
    assert_rel(&weights(&c, 4.0), &want);
    // Half pruned, c_d 1, anchor 11/15: b = 15 x 4/15 x 0.5 = 2, a = 14, density
    // x^13 (1 - x) / B(14, 2) = 210 x^13 (1 - x).
    let (scores, confidence) = dual_case(11.0 / 15.0);
    let c = Case {
        confidence: Some(&confidence),
        ..case(&scores, 0.5)
    };
    let density = |x: f64| 210.0 * x.powi(13) * (1.0 - x);
    let want: Vec<f64> = (0..12)
        .map(|i| density(f64::from(confidence[i])) * f64::from(scores[i]))
        .collect();
    assert_rel(&weights(&c, 1.0), &want);
    // A method keeping the lowest (scores -1..-12, the same top ten): the weight is the
    // distance from the least-kept end, max - s = i, so sample 0 weighs nothing.
    let negated: Vec<f32> = scores.iter().map(|s| -s).collect();
    let c = Case {
        scores: &negated,
        keep: Keep::Lowest,
        ..c
    };
    let want: Vec<f64> = (0..12)
        .map(|i| density(f64::from(confidence[i])) * i as f64)
        .collect();
    assert_rel(&weights(&c, 1.0), &want);
}

/// Inclusion probability of each item in two successive weighted draws without replacement.
fn inclusion_of_two(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    (0..w.len())
        .map(|i| {
            let first = w[i] / total;
            let second: f64 = (0..w.len())
                .filter(|&j| j != i)
                .map(|j| w[j] / total * w[i] / (total - w[j]))
                .sum();
            first + second
        })
        .collect()
}

#[test]
fn dual_beta_draws_are_successive_weighted_draws() {
    let w = [1.0, 2.0, 3.0, 4.0];
    let trials = 40_000;
    for (k, want) in [
        (1, w.iter().map(|x| x / 10.0).collect::<Vec<_>>()),
        (2, inclusion_of_two(&w)),
    ] {
        let mut counts = [0usize; 4];
        for seed in 0..trials {
            for i in draw(&w, k, seed) {
                counts[i] += 1;
            }
        }
        for i in 0..4 {
            let freq = counts[i] as f64 / trials as f64;
            // Binomial std at 40,000 trials is at most 0.0025: 0.01 is four of them.
            assert!(
                (freq - want[i]).abs() < 0.01,
                "k {k}, item {i}: {freq} vs {}",
                want[i]
            );
        }
    }
    // Weight 0 comes last; the same seed draws the same samples.
    for seed in 0..50 {
        let mut two = draw(&[0.0, 0.0, 1.0, 5.0], 2, seed);
        two.sort();
        assert_eq!(two, vec![2, 3]);
        assert_eq!(draw(&[0.0, 0.0, 1.0, 5.0], 3, seed).len(), 3);
    }
    let many: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(draw(&many, 30, 7), draw(&many, 30, 7));
    assert_ne!(draw(&many, 30, 7), draw(&many, 30, 8));
}

#[test]
fn dual_beta_needs_confidence_and_refuses_what_it_cannot_use() {
    let (scores, confidence) = dual_case(0.5);
    let err = run("dual_beta", &case(&scores, 0.5), StrategyOptions::default()).unwrap_err();
    assert!(err.contains("--confidence"), "{err}");
    let with = Case {
        confidence: Some(&confidence),
        ..case(&scores, 0.5)
    };
    let kept = run("dual_beta", &with, StrategyOptions::default()).unwrap();
    assert_eq!(kept.len(), 6);
    let bad = StrategyOptions {
        options: Options::default().with(&C_D, 0.0),
        ..StrategyOptions::default()
    };
    assert!(run("dual_beta", &with, bad).unwrap_err().contains("c_d 0"));
    let balanced = StrategyOptions {
        class_balanced: true,
        ..StrategyOptions::default()
    };
    let err = run("dual_beta", &with, balanced).unwrap_err();
    assert!(err.contains("drop class_balanced"), "{err}");
    let short = Case {
        confidence: Some(&confidence[..5]),
        ..case(&scores, 0.5)
    };
    let err = run("dual_beta", &short, StrategyOptions::default()).unwrap_err();
    assert!(err.contains("5 confidences for 12 scores"), "{err}");
}

#[test]
fn no_strategy_is_named_like_a_retrain_key() {
    // A strategy's options sit in `retrain.<name>:`, beside the section's own keys.
    let keys = serde_json::to_value(dynunc::config::retrain::RawRetrain::default()).unwrap();
    for s in dynunc::select::STRATEGIES {
        let name = s.info().name;
        assert!(
            keys.get(name).is_none(),
            "strategy `{name}` is a retrain key"
        );
    }
}
