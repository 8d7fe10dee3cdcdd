//! Selection: global and per-class, both directions, ties, and the range checks.

use dynunc::score::Keep;
use dynunc::select::{Amount, kept_count, select};

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
