//! Selection: global and per-class, both directions, ties, and the range checks.

use dynunc::score::Keep;
use dynunc::select::ccs::allocate;
use dynunc::select::{
    Amount, Input, StrategyOptions, apply, class_quotas, find, kept_count, select,
};

const SCORES: [f32; 5] = [0.5, 0.9, 0.5, 0.1, 0.7];

#[test]
fn global_highest_breaks_ties_by_index() {
    // keep 0.6 of 5 = 3: 1 (0.9), 4 (0.7), then 0 and 2 tie at 0.5 and 0 wins.
    let sel = select(&SCORES, 0.6, Keep::Highest, None).unwrap();
    assert_eq!(sel.kept, vec![0, 1, 4]);
    assert_eq!(sel.pruned, vec![2, 3]);
}

#[test]
fn global_lowest() {
    let sel = select(&SCORES, 0.6, Keep::Lowest, None).unwrap();
    assert_eq!(sel.kept, vec![0, 2, 3]);
}

#[test]
fn class_balanced_quotas() {
    // class 0 = {0, 1}: quota round(0.5 * 2) = 1 -> sample 1.
    // class 1 = {2, 3, 4}: quota round(1.5) = 2 -> 4 (0.7), 2 (0.5).
    let sel = select(&SCORES, 0.5, Keep::Highest, Some(&[0, 0, 1, 1, 1])).unwrap();
    assert_eq!(sel.kept, vec![1, 2, 4]);
    assert_eq!(sel.pruned, vec![0, 3]);
}

#[test]
fn class_quotas_sum_to_the_global_count() {
    // 10 classes of 7 at keep 0.5: 35 asked. Each class's ideal is 3.5; rounding each half up
    // kept 40. Largest remainder: 3 each (30), the 5 left to classes 0..4 (equal remainders,
    // lower class first).
    let q = class_quotas(&[7; 10], 0.5);
    assert_eq!(q, vec![4, 4, 4, 4, 4, 3, 3, 3, 3, 3]);
    let labels: Vec<u32> = (0..70).map(|i| i % 10).collect();
    let scores: Vec<f32> = (0..70).map(|i| i as f32).collect();
    assert_eq!(
        select(&scores, 0.5, Keep::Highest, Some(&labels))
            .unwrap()
            .kept
            .len(),
        35
    );
    // Sizes 5, 3, 2 at keep 0.3: total round(3.0) = 3; ideals 1.5, 0.9, 0.6 -> floors 1, 0, 0,
    // then remainders 0.9 (class 1) and 0.6 (class 2).
    assert_eq!(class_quotas(&[5, 3, 2], 0.3), vec![1, 1, 1]);
    // Fewer kept than classes: some classes get none, the sum stays exact.
    assert_eq!(class_quotas(&[3, 3, 3, 3], 0.1).iter().sum::<usize>(), 1);
    // An empty class takes nothing.
    assert_eq!(class_quotas(&[4, 0, 4], 0.5), vec![2, 0, 2]);
    // Random sizes and fractions: always the global count.
    let mut x = 12345u64;
    for _ in 0..500 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let sizes: Vec<usize> = (0..1 + (x >> 60) as usize)
            .map(|c| ((x >> (c * 3)) % 40) as usize)
            .collect();
        let f = ((x >> 20) % 1000 + 1) as f64 / 1000.0;
        let q = class_quotas(&sizes, f);
        let n: usize = sizes.iter().sum();
        assert_eq!(
            q.iter().sum::<usize>(),
            kept_count(n, f),
            "{sizes:?} at {f}"
        );
        assert!(q.iter().zip(&sizes).all(|(q, s)| q <= s));
    }
}

#[test]
fn counts_round_and_keep_at_least_one() {
    assert_eq!(kept_count(60000, 0.75), 45000);
    assert_eq!(kept_count(10, 0.01), 1);
    assert_eq!(kept_count(10, 1.0), 10);
    assert_eq!(kept_count(0, 0.5), 0);
}

#[test]
fn amounts_are_checked() {
    assert_eq!(Amount::Keep(0.75).keep_fraction("x").unwrap(), 0.75);
    assert_eq!(Amount::Prune(0.25).keep_fraction("x").unwrap(), 0.75);
    assert_eq!(Amount::Prune(0.0).keep_fraction("x").unwrap(), 1.0);
    for bad in [
        Amount::Keep(0.0),
        Amount::Keep(1.5),
        Amount::Prune(1.0),
        Amount::Prune(-0.1),
        Amount::Keep(f64::NAN),
    ] {
        let err = bad.keep_fraction("--keep").unwrap_err().to_string();
        assert!(
            err.starts_with("--keep:") && err.contains("outside"),
            "{err}"
        );
    }
}

#[test]
fn nan_scores_are_refused() {
    let err = select(&[0.1, f32::NAN], 0.5, Keep::Highest, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sample 1"), "{err}");
}

fn ccs(
    scores: &[f32],
    keep_fraction: f64,
    cutoff: f64,
    bins: usize,
    seed: u64,
) -> Result<Vec<usize>, String> {
    let options = StrategyOptions {
        seed,
        options: dynunc::options::Options::default()
            .with(&dynunc::select::ccs::CUTOFF, cutoff)
            .with(&dynunc::select::ccs::BINS, bins),
        ..StrategyOptions::default()
    };
    apply(
        find("ccs").unwrap(),
        &Input {
            scores,
            keep: Keep::Highest,
            keep_fraction,
            labels: None,
            confidence: None,
            options: &options,
        },
    )
    .map(|s| s.kept)
    .map_err(|e| e.to_string())
}

#[test]
fn ccs_budgets_go_from_the_smallest_stratum_up() {
    // Counts [1, 1, 100], 50 to keep: 1 (50/3 = 16 allowed), 1 (49/2 = 24), then 48.
    assert_eq!(allocate(50, &[1, 1, 100]), vec![1, 1, 48]);
    // Counts [5, 0, 3, 10], 12: visited 0, 3, 5, 10 -> 0 (12/4 = 3), 3 (12/3 = 4),
    // 4 (9/2), 5 (5/1).
    assert_eq!(allocate(12, &[5, 0, 3, 10]), vec![4, 0, 3, 5]);
    // More asked than held: each stratum gives what it has.
    assert_eq!(allocate(100, &[2, 3]), vec![2, 3]);
}

#[test]
fn ccs_drops_the_hard_end_then_samples_every_stratum() {
    // Scores 0..99, hard = high. Cutoff 0.3 drops the 30 highest (70..99); the rest, 0..69,
    // in 5 strata of width 69.0069 / 5 = 13.80: 0-13, 14-27, 28-41, 42-55, 56-69 (14 each);
    // 20 to keep: 4 from each.
    let scores: Vec<f32> = (0..100).map(|i| i as f32).collect();
    let kept = ccs(&scores, 0.2, 0.3, 5, 7).unwrap();
    assert_eq!(kept.len(), 20);
    assert!(kept.iter().all(|&i| i < 70), "{kept:?}");
    for stratum in 0..5 {
        let n = kept.iter().filter(|&&i| i / 14 == stratum).count();
        assert_eq!(n, 4, "stratum {stratum}: {kept:?}");
    }
    // Seeded: the same seed draws the same samples, another seed others.
    assert_eq!(kept, ccs(&scores, 0.2, 0.3, 5, 7).unwrap());
    assert_ne!(kept, ccs(&scores, 0.2, 0.3, 5, 8).unwrap());
    // No cutoff, one stratum: a uniform sample of everything.
    assert_eq!(ccs(&scores, 0.5, 0.0, 1, 1).unwrap().len(), 50);
    // Equal scores: one stratum holds them all.
    assert_eq!(ccs(&[0.5; 10], 0.3, 0.0, 50, 1).unwrap().len(), 3);
    // Negative scores keep their maximum (CCS's `max * 1.0001` would drop it).
    let negative: Vec<f32> = (0..10).map(|i| -(i as f32) - 1.0).collect();
    assert_eq!(ccs(&negative, 1.0, 0.0, 3, 1).unwrap().len(), 10);
}

#[test]
fn ccs_refuses_options_it_cannot_use() {
    let scores: Vec<f32> = (0..10).map(|i| i as f32).collect();
    // Dropping more than is pruned would leave fewer than are to be kept.
    let err = ccs(&scores, 0.5, 0.6, 50, 0).unwrap_err();
    assert!(
        err.contains("cutoff 0.6 at prune ratio 0.5") && err.contains("[0, prune ratio]"),
        "{err}"
    );
    assert!(ccs(&scores, 0.5, 0.5, 50, 0).is_ok());
    assert!(
        ccs(&scores, 0.5, -0.1, 50, 0)
            .unwrap_err()
            .contains("[0, prune ratio]")
    );
    assert!(ccs(&scores, 0.5, 0.0, 0, 0).unwrap_err().contains("bins 0"));
    let err = find("nope").unwrap_err().to_string();
    assert!(err.contains("top, ccs"), "{err}");
}

#[test]
fn easy_keeps_the_other_end() {
    let run = |keep: Keep, labels: Option<&[u32]>| {
        let options = StrategyOptions {
            class_balanced: labels.is_some(),
            ..StrategyOptions::default()
        };
        apply(
            find("easy").unwrap(),
            &Input {
                scores: &SCORES,
                keep,
                keep_fraction: 0.6,
                labels,
                confidence: None,
                options: &options,
            },
        )
        .unwrap()
    };
    // Highest kept first by top ([0, 1, 4]); easy keeps the 3 lowest: 3 (0.1), then 0 and 2
    // (0.5, tied; ranked 0 before 2 from the low end).
    assert_eq!(run(Keep::Highest, None).kept, vec![0, 2, 3]);
    // A method keeping the lowest: easy keeps the highest.
    assert_eq!(run(Keep::Lowest, None).kept, vec![0, 1, 4]);
    // Per class, at keep 0.6: class 0 = {0, 1} quota 1 -> 0 (0.5 < 0.9); class 1 = {2, 3, 4}
    // quota 2 -> 3 (0.1), 2 (0.5).
    let per_class = run(Keep::Highest, Some(&[0, 0, 1, 1, 1])).kept;
    assert_eq!(per_class, vec![0, 2, 3]);
}
