//! The scores of the newer literature, from logits and probabilities over training: AUM's
//! mean logit margin, the summed probability margin, and DUAL's window std weighted by
//! difficulty, each against numbers worked out by hand and a direct implementation.

use dynunc::dynamics::{EpochColumns, InMemory, SampleStats};
use dynunc::score::{self, ScoreParams};

use crate::scorers::{assert_close, run, three_samples};

/// Dynamics from logits per epoch (`None` = not seen), sample-major: `logits[i][t]`.
fn from_logits(logits: &[Vec<Option<Vec<f32>>>], labels: &[u32]) -> InMemory {
    let epochs = logits[0].len();
    let mut d = InMemory {
        classes: logits[0].iter().flatten().next().unwrap().len(),
        labels: Some(labels.to_vec()),
        epochs: vec![],
    };
    for t in 0..epochs {
        let mut cols = EpochColumns::unseen(logits.len());
        for (i, per_epoch) in logits.iter().enumerate() {
            if let Some(z) = &per_epoch[t] {
                cols.set(i, &SampleStats::from_logits(z, labels[i] as usize));
            }
        }
        d.epochs.push(cols);
    }
    d
}

/// Sample 0 (label 0) at three epochs: logits [2, 1, 0], [0, 1, 0], [3, 0, 1]; sample 1
/// (label 2) unseen at epoch 2: [0, 0, 5], -, [1, 4, 2].
fn margin_samples() -> InMemory {
    let v = |z: [f32; 3]| Some(z.to_vec());
    from_logits(
        &[
            vec![v([2.0, 1.0, 0.0]), v([0.0, 1.0, 0.0]), v([3.0, 0.0, 1.0])],
            vec![v([0.0, 0.0, 5.0]), None, v([1.0, 4.0, 2.0])],
        ],
        &[0, 2],
    )
}

#[test]
fn aum_is_the_mean_logit_margin_over_seen_epochs() {
    // sample 0: margins 2 - 1 = 1, 0 - 1 = -1, 3 - 1 = 2 -> mean 2/3.
    // sample 1: 5 - 0 = 5, (unseen), 2 - 4 = -2 -> mean over the two seen epochs 1.5.
    let got = run("aum", &mut margin_samples(), &ScoreParams::default());
    assert_close(&got, &[0.666667, 1.5]);
    assert_eq!(score::find("aum").unwrap().info().keep, score::Keep::Lowest);
}

#[test]
fn acc_margin_sums_the_probability_margin() {
    // sample 0, softmax of [2, 1, 0] = [0.665241, 0.244728, 0.090031]: 0.420513;
    // of [0, 1, 0] = [0.211942, 0.576117, 0.211942]: -0.364175;
    // of [3, 0, 1] = [0.843795, 0.042010, 0.114195]: 0.729600. Sum 0.785937.
    // sample 1, softmax of [0, 0, 5] = [0.006648, 0.006648, 0.986703]: 0.980055;
    // of [1, 4, 2] = [0.042010, 0.843795, 0.114195]: 0.114195 - 0.843795 = -0.729600.
    // Sum 0.250455.
    let got = run("acc_margin", &mut margin_samples(), &ScoreParams::default());
    assert_close(&got, &[0.785937, 0.250455]);
}

#[test]
fn margins_match_a_direct_softmax_implementation() {
    // Pseudo-random logits (some extreme) for 50 samples x 6 epochs x 4 classes, scored from the
    // recorded fields and from the definitions applied to the logits directly.
    let mut x = 0x9e37_79b9u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let (n, k, c) = (50, 6, 4);
    let labels: Vec<u32> = (0..n).map(|i| (i % c) as u32).collect();
    let logits: Vec<Vec<Option<Vec<f32>>>> = (0..n)
        .map(|_| {
            (0..k)
                .map(|_| {
                    let scale = [1.0, 10.0, 60.0][(next() % 3) as usize];
                    Some(
                        (0..c)
                            .map(|_| scale * ((next() % 2001) as f32 / 1000.0 - 1.0))
                            .collect(),
                    )
                })
                .collect()
        })
        .collect();
    let mut d = from_logits(&logits, &labels);
    let aum = run("aum", &mut d, &ScoreParams::default());
    let acc = run("acc_margin", &mut d, &ScoreParams::default());
    for i in 0..n {
        let y = labels[i] as usize;
        let (mut want_aum, mut want_acc) = (0.0f64, 0.0f64);
        for z in logits[i].iter().flatten() {
            let z: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
            let other = (0..c)
                .filter(|&j| j != y)
                .map(|j| z[j])
                .fold(f64::MIN, f64::max);
            want_aum += z[y] - other;
            let m = z.iter().copied().fold(f64::MIN, f64::max);
            let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
            let p: Vec<f64> = z.iter().map(|v| (v - m).exp() / s).collect();
            let other_p = (0..c).filter(|&j| j != y).map(|j| p[j]).fold(0.0, f64::max);
            want_acc += p[y] - other_p;
        }
        want_aum /= k as f64;
        assert!(
            (f64::from(aum[i]) - want_aum).abs() < 1e-4 * want_aum.abs().max(1.0),
            "aum {i}: {} vs {want_aum}",
            aum[i]
        );
        assert!(
            (f64::from(acc[i]) - want_acc).abs() < 1e-5,
            "acc_margin {i}: {} vs {want_acc}",
            acc[i]
        );
    }
}

#[test]
fn dual_weights_the_window_std_by_one_minus_the_mean() {
    // J = 2, sample 0 [0.1, 0.3, 0.6, 0.6]: windows std 0.141421 x (1 - 0.2) = 0.113137,
    // 0.212132 x (1 - 0.45) = 0.116673, 0 -> mean 0.076603. Sample 1 constant: 0. Sample 2
    // [0.9, 0.1, 0.9, 0.1]: every window 0.565685 x 0.5 = 0.282843.
    let params = |window| ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, window);
    let got = run("dual", &mut three_samples(), &params(2));
    assert_close(&got, &[0.076603, 0.0, 0.282843]);
    // J = 3, sample 0: [0.1, 0.3, 0.6] 0.251661 x (2/3) = 0.167774, [0.3, 0.6, 0.6]
    // 0.173205 x 0.5 = 0.086603 -> 0.127188; sample 2: 0.461880 x (1 - 0.633333) = 0.169356,
    // 0.461880 x (1 - 0.366667) = 0.292524 -> 0.230940.
    let got = run("dual", &mut three_samples(), &params(3));
    assert_close(&got, &[0.127188, 0.0, 0.230940]);
    let err = score::score_one(
        &mut three_samples(),
        score::find("dual").unwrap(),
        &params(5),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dual window 5"), "{err}");
}
