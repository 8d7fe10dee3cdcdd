//! Every scorer checked against numbers worked out by hand (the arithmetic is in the comments).

use dynunc::dynamics::{
    DynamicsError, EpochColumns, EpochSource, Field, FieldSet, InMemory, SampleStats, Shape, flags,
};
use dynunc::score::{self, ScoreParams, UncertaintyKind, WindowMode};

const TOL: f32 = 1e-5;

pub(crate) fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() < TOL,
            "sample {i}: got {g}, want {w} ({got:?})"
        );
    }
}

pub(crate) fn run(method: &str, dynamics: &mut InMemory, params: &ScoreParams) -> Vec<f32> {
    score::score_one(dynamics, score::find(method).unwrap(), params).unwrap()
}

/// p[epoch][sample]; sample 0 = [0.1, 0.3, 0.6, 0.6], 1 = constant 0.5, 2 = [0.9, 0.1, 0.9, 0.1].
pub(crate) fn three_samples() -> InMemory {
    InMemory::from_probabilities(vec![
        vec![0.1, 0.5, 0.9],
        vec![0.3, 0.5, 0.1],
        vec![0.6, 0.5, 0.9],
        vec![0.6, 0.5, 0.1],
    ])
}

#[test]
fn dyn_unc_paper_window_2() {
    // J = 2: the std (ddof 1) of two values a, b is |a - b| / sqrt(2).
    // sample 0 windows: 0.2/√2 = 0.141421, 0.3/√2 = 0.212132, 0 -> mean of 3 = 0.117851
    // sample 1: 0; sample 2: every window 0.8/√2 = 0.565685.
    let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 2);
    let got = run("dyn_unc", &mut three_samples(), &params);
    assert_close(&got, &[0.117851, 0.0, 0.565685]);
}

#[test]
fn dyn_unc_paper_window_3() {
    // sample 0, window [0.1, 0.3, 0.6]: mean 1/3, squared deviations 0.054444 + 0.001111 +
    // 0.071111 = 0.126667, / 2 = 0.063333, sqrt = 0.251661.
    // window [0.3, 0.6, 0.6]: mean 0.5, 0.04 + 0.01 + 0.01 = 0.06, / 2 = 0.03, sqrt = 0.173205.
    // mean of the K - J + 1 = 2 windows: 0.212433.
    // sample 2, [0.9, 0.1, 0.9] and [0.1, 0.9, 0.1]: mean 0.633333 / 0.366667, squared
    // deviations 0.071111 * 2 + 0.284444 = 0.426667, / 2 = 0.213333, sqrt = 0.461880.
    let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 3);
    let got = run("dyn_unc", &mut three_samples(), &params);
    assert_close(&got, &[0.212433, 0.0, 0.461880]);
}

#[test]
fn dyn_unc_released_code_drops_last_window() {
    // K - J = 2 windows, each std times 10 (get_coreset.py): sample 0
    // 10 * (0.141421 + 0.212132) / 2 = 1.767767; sample 2 10 * 0.565685.
    let params = ScoreParams::default()
        .with(&dynunc::score::dyn_unc::WINDOW, 2)
        .with(&dynunc::score::dyn_unc::WINDOWS, WindowMode::ReleasedCode);
    let got = run("dyn_unc", &mut three_samples(), &params);
    assert_close(&got, &[1.767767, 0.0, 5.656854]);
}

fn with_unseen(mut d: InMemory, epoch: usize, sample: usize) -> InMemory {
    d.epochs[epoch].flags[sample] = 0;
    d.epochs[epoch].p_true[sample] = 0.0; // a real probability value; must be ignored
    d
}

#[test]
fn dyn_unc_unseen_epoch_paper() {
    // sample 0 unseen at epoch 2: windows [0.1, -] and [-, 0.6] have one value and are not
    // counted; [0.6, 0.6] gives 0. Mean over the one counted window: 0.
    let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 2);
    let got = run("dyn_unc", &mut with_unseen(three_samples(), 1, 0), &params);
    assert_close(&got, &[0.0, 0.0, 0.565685]);
}

#[test]
fn dyn_unc_unseen_epoch_released_code() {
    // sample 0 unseen at epoch 2. The zero-filled window: after e1 [0, 0.1]; e2 unseen leaves
    // it, and it is added: 0.1/√2 = 0.070711; after e3 [0.1, 0.6]: 0.5/√2 = 0.353553. Times 10,
    // divided by K - J = 2: 2.121320.
    let params = ScoreParams::default()
        .with(&dynunc::score::dyn_unc::WINDOW, 2)
        .with(&dynunc::score::dyn_unc::WINDOWS, WindowMode::ReleasedCode);
    let got = run("dyn_unc", &mut with_unseen(three_samples(), 1, 0), &params);
    assert_close(&got, &[2.12132, 0.0, 5.656854]);
}

#[test]
fn dyn_unc_rejects_window_longer_than_run() {
    let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 5);
    let err = score::score_one(
        &mut three_samples(),
        score::find("dyn_unc").unwrap(),
        &params,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("window 5") && err.contains("hold 4"), "{err}");
    let params = ScoreParams::default()
        .with(&dynunc::score::dyn_unc::WINDOW, 4)
        .with(&dynunc::score::dyn_unc::WINDOWS, WindowMode::ReleasedCode);
    let err = score::score_one(
        &mut three_samples(),
        score::find("dyn_unc").unwrap(),
        &params,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("at least 5"), "{err}");
}

#[test]
fn nan_in_dynamics_is_an_error_naming_epoch_and_sample() {
    let mut d = three_samples();
    d.epochs[2].p_true[1] = f32::NAN;
    let err = score::score_one(
        &mut d,
        score::find("dyn_unc").unwrap(),
        &ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 2),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("epoch 3") && err.contains("sample 1"), "{err}");
}

/// Dynamics from correct/incorrect sequences; `None` = not seen.
fn from_correct(seq: &[&[Option<bool>]]) -> InMemory {
    let epochs = seq[0].len();
    let mut d = InMemory {
        classes: 2,
        labels: None,
        epochs: vec![],
    };
    for k in 0..epochs {
        let mut cols = EpochColumns::unseen(seq.len());
        for (i, s) in seq.iter().enumerate() {
            if let Some(c) = s[k] {
                cols.flags[i] = flags::SEEN | if c { flags::CORRECT } else { 0 };
            }
        }
        d.epochs.push(cols);
    }
    d
}

#[test]
fn forgetting_counts_transitions() {
    let (t, f) = (Some(true), Some(false));
    let mut d = from_correct(&[
        &[t, f, t, f],    // two forgetting events
        &[f, f, f, f],    // never learned: K = 4
        &[f, t, t, t],    // learned, never forgotten: 0
        &[t, None, f, t], // correct -> (unseen) -> incorrect: 1
        &[t, t, t, f],    // 1
    ]);
    let got = run("forgetting", &mut d, &ScoreParams::default());
    assert_close(&got, &[2.0, 4.0, 0.0, 1.0, 1.0]);
}

#[test]
fn sample_stats_from_logits() {
    // logits [0, ln 2, 0] -> softmax [0.25, 0.5, 0.25], true class 0.
    // el2n = sqrt(0.75² + 0.5² + 0.25²) = sqrt(0.875) = 0.935414
    // margin = 0 - ln 2 = -0.693147
    // entropy = 2 * 0.25 ln 4 + 0.5 ln 2 = 1.039721
    let s = SampleStats::from_logits(&[0.0, std::f32::consts::LN_2, 0.0], 0);
    assert_close(
        &[
            s.p_true, s.el2n, s.margin, s.entropy, s.max_prob, s.top2_gap,
        ],
        &[0.25, 0.935414, -std::f32::consts::LN_2, 1.039721, 0.5, 0.25],
    );
    assert!(!s.correct);
    let s = SampleStats::from_logits(&[0.0, std::f32::consts::LN_2, 0.0], 1);
    assert!(s.correct);
    // Huge logits neither overflow nor produce NaN.
    let s = SampleStats::from_logits(&[1000.0, -1000.0], 0);
    assert_close(&[s.p_true, s.el2n, s.entropy], &[1.0, 0.0, 0.0]);
}

fn stats_dynamics() -> InMemory {
    // Three epochs, two samples. Sample 0 logits per epoch; sample 1 fixed.
    let logits: [[[f32; 3]; 2]; 3] = [
        [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
        [[0.0, std::f32::consts::LN_2, 0.0], [2.0, 0.0, 0.0]],
        [[std::f32::consts::LN_2, 0.0, 0.0], [2.0, 0.0, 0.0]],
    ];
    let epochs = logits
        .iter()
        .map(|epoch| {
            let mut cols = EpochColumns::unseen(2);
            for (i, l) in epoch.iter().enumerate() {
                cols.set(i, &SampleStats::from_logits(l, 0));
            }
            cols
        })
        .collect();
    InMemory {
        classes: 3,
        labels: Some(vec![0, 0]),
        epochs,
    }
}

#[test]
fn el2n_at_chosen_epoch() {
    // Epoch 2 of sample 0: softmax [0.25, 0.5, 0.25], true class 0 -> sqrt(0.875) = 0.935414.
    // Sample 1 every epoch: softmax [e²/(e²+2), 1/(e²+2), 1/(e²+2)] = [0.786986, 0.106507,
    // 0.106507]; el2n = sqrt(0.213014² + 2 * 0.106507²) = sqrt(0.068061) = 0.260885.
    let params = ScoreParams::default().with(&dynunc::score::baselines::el2n::EL2N_EPOCH, Some(2));
    let got = run("el2n", &mut stats_dynamics(), &params);
    assert_close(&got, &[0.935414, 0.260885]);
    // Default: 10% into 3 epochs = epoch 1; sample 0 uniform softmax:
    // sqrt((2/3)² + 2 (1/3)²) = sqrt(6/9) = 0.816497.
    let got = run("el2n", &mut stats_dynamics(), &ScoreParams::default());
    assert_close(&got, &[0.816497, 0.260885]);
}

#[test]
fn el2n_unseen_at_epoch_uses_nearest_seen() {
    let mut d = stats_dynamics();
    d.epochs[1].flags[0] = 0; // sample 0 not seen at epoch 2: falls back to epoch 1
    d.epochs[0].flags[1] = 0;
    d.epochs[1].flags[1] = 0; // sample 1 first seen at epoch 3
    let params = ScoreParams::default().with(&dynunc::score::baselines::el2n::EL2N_EPOCH, Some(2));
    let got = run("el2n", &mut d, &params);
    assert_close(&got, &[0.816497, 0.260885]);
    let params = ScoreParams::default().with(&dynunc::score::baselines::el2n::EL2N_EPOCH, Some(4));
    let err = score::score_one(&mut d, score::find("el2n").unwrap(), &params)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("el2n_epoch 4") && err.contains("1..=3"),
        "{err}"
    );
}

#[test]
fn uncertainty_of_final_epoch() {
    // Final epoch of sample 0: logits [ln 2, 0, 0] -> softmax [0.5, 0.25, 0.25]:
    // entropy 1.039721, least confidence 1 - 0.5 = 0.5, margin 1 - (0.5 - 0.25) = 0.75.
    // Sample 1: softmax [0.786986, 0.106507, 0.106507]: entropy = -(0.786986 ln 0.786986 +
    // 2 * 0.106507 ln 0.106507) = 0.188515 + 0.477067 = 0.665582; least confidence 0.213014;
    // margin 1 - 0.680479 = 0.319521.
    for (kind, want) in [
        (UncertaintyKind::Entropy, [1.039721, 0.665582]),
        (UncertaintyKind::LeastConfidence, [0.5, 0.213014]),
        (UncertaintyKind::Margin, [0.75, 0.319521]),
    ] {
        let params =
            ScoreParams::default().with(&dynunc::score::baselines::uncertainty::UNCERTAINTY, kind);
        let got = run("uncertainty", &mut stats_dynamics(), &params);
        assert_close(&got, &want);
    }
    // Not seen in the last epoch: the last epoch it was seen in counts (epoch 2 for sample 0:
    // softmax [0.25, 0.5, 0.25], least confidence 0.5, margin 0.75, entropy 1.039721).
    let mut d = stats_dynamics();
    d.epochs[2].flags[0] = 0;
    let params = ScoreParams::default().with(
        &dynunc::score::baselines::uncertainty::UNCERTAINTY,
        UncertaintyKind::Margin,
    );
    assert_close(&run("uncertainty", &mut d, &params), &[0.75, 0.319521]);
}

#[test]
fn random_is_seeded_uniform() {
    let mut d = InMemory::from_probabilities(vec![vec![0.5; 1000]]);
    let a = run("random", &mut d, &ScoreParams::default());
    let b = run("random", &mut d, &ScoreParams::default());
    let c = run(
        "random",
        &mut d,
        &ScoreParams {
            seed: 1,
            ..ScoreParams::default()
        },
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = a.iter().sum::<f32>() / a.len() as f32;
    assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
}

/// A source that records which fields each epoch read asked for.
struct Watched<'a> {
    inner: &'a mut InMemory,
    reads: Vec<(usize, FieldSet)>,
}

impl EpochSource for Watched<'_> {
    fn shape(&self) -> Shape {
        self.inner.shape()
    }
    fn fields(&self) -> FieldSet {
        self.inner.fields()
    }
    fn labels(&self) -> Option<&[u32]> {
        self.inner.labels()
    }
    fn read_epoch(
        &mut self,
        epoch: usize,
        want: FieldSet,
        out: &mut EpochColumns,
    ) -> Result<(), DynamicsError> {
        self.reads.push((epoch, want));
        self.inner.read_epoch(epoch, want, out)
    }
}

#[test]
fn one_pass_feeds_every_scorer() {
    let mut d = stats_dynamics();
    let all: Vec<_> = score::REGISTRY.to_vec();
    let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 3);
    let epochs = d.shape().epochs;
    // One pass for all: each epoch read once, in order, asking for the union of what the
    // scorers need and the seen/correct flags, nothing more.
    let mut watched = Watched {
        inner: &mut d,
        reads: Vec::new(),
    };
    let together = score::score_all(&mut watched, &all, &params).unwrap();
    let needed = all.iter().fold(FieldSet::of(&[Field::Flags]), |acc, s| {
        acc.union(s.needs(&params))
    });
    assert_eq!(
        watched.reads,
        (0..epochs).map(|e| (e, needed)).collect::<Vec<_>>()
    );
    assert_ne!(
        needed,
        FieldSet::ALL,
        "the fixture must leave a field unread"
    );
    for (scorer, scores) in all.iter().zip(&together) {
        let mut alone = Watched {
            inner: &mut d,
            reads: Vec::new(),
        };
        assert_eq!(
            &score::score_one(&mut alone, *scorer, &params).unwrap(),
            scores,
            "{}",
            scorer.info().name
        );
        // Alone, a scorer's pass reads only its own fields (and the flags); one that needs
        // none reads nothing.
        let own = scorer.needs(&params);
        let want: Vec<_> = match own == FieldSet::EMPTY {
            true => Vec::new(),
            false => (0..epochs)
                .map(|e| (e, own.union(FieldSet::of(&[Field::Flags]))))
                .collect(),
        };
        assert_eq!(alone.reads, want, "{}", scorer.info().name);
    }
}

#[test]
fn variability_is_the_population_std_over_seen_epochs() {
    // Sample 0 [0.1, 0.3, 0.6, 0.6]: mean 0.4, squared deviations 0.09 + 0.01 + 0.04 + 0.04 =
    // 0.18, / 4 = 0.045 -> 0.212132. Sample 1 constant: 0. Sample 2 [0.9, 0.1, 0.9, 0.1]: 0.4.
    let got = run("variability", &mut three_samples(), &ScoreParams::default());
    assert_close(&got, &[0.212132, 0.0, 0.4]);
    // Sample 0 unseen at epoch 1: [0.1, 0.6, 0.6], mean 0.433333, squares 0.111111 +
    // 0.027778 x 2 = 0.166667, / 3 = 0.055556 -> 0.235702.
    let got = run(
        "variability",
        &mut with_unseen(three_samples(), 1, 0),
        &ScoreParams::default(),
    );
    assert_close(&got, &[0.235702, 0.0, 0.4]);
    assert_eq!(
        score::find("variability").unwrap().info().keep,
        score::Keep::Highest
    );
}

#[test]
fn confidence_is_the_mean_over_seen_epochs() {
    // Sample 0 [0.1, 0.3, 0.6, 0.6]: 1.6 / 4 = 0.4; sample 1: 0.5; sample 2: 2.0 / 4 = 0.5.
    let got = run("confidence", &mut three_samples(), &ScoreParams::default());
    assert_close(&got, &[0.4, 0.5, 0.5]);
    // Sample 0 unseen at epoch 1: (0.1 + 0.6 + 0.6) / 3 = 0.433333.
    let got = run(
        "confidence",
        &mut with_unseen(three_samples(), 1, 0),
        &ScoreParams::default(),
    );
    assert_close(&got, &[0.433333, 0.5, 0.5]);
    assert_eq!(
        score::find("confidence").unwrap().info().keep,
        score::Keep::Lowest
    );
}

#[test]
fn unknown_method_lists_known_ones() {
    let err = score::find("dynunc").err().unwrap().to_string();
    assert!(
        err.contains("`dynunc`") && err.contains("dyn_unc, random, forgetting, el2n, uncertainty"),
        "{err}"
    );
}

#[test]
fn missing_field_is_reported() {
    let mut d = three_samples(); // p_true only
    let err = score::score_one(
        &mut d,
        score::find("el2n").unwrap(),
        &ScoreParams::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`el2n`"), "{err}");
}

/// Two-pass std (ddof 1) of a slice; None with fewer than two values.
fn naive_std(v: &[f64]) -> Option<f64> {
    (v.len() >= 2).then(|| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    })
}

#[test]
fn dyn_unc_matches_a_direct_implementation_of_both_conventions() {
    // Pseudo-random dynamics with ~15% unseen entries, scored by the streaming window and
    // by the definitions written out directly.
    let (n, k, j) = (200, 23, 5);
    let mut x = 0x2545_f491u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut d = InMemory {
        classes: 2,
        labels: None,
        epochs: vec![],
    };
    let mut values = vec![vec![None; k]; n];
    for e in 0..k {
        let mut cols = EpochColumns::from_p_true(vec![0.0; n]);
        for (i, row) in values.iter_mut().enumerate() {
            if next() % 100 < 15 {
                cols.flags[i] = 0;
                cols.p_true[i] = 0.123; // must be ignored
            } else {
                let p = (next() % 10_000) as f32 / 10_000.0;
                cols.p_true[i] = p;
                row[e] = Some(f64::from(p));
            }
        }
        d.epochs.push(cols);
    }
    let paper = run(
        "dyn_unc",
        &mut d,
        &ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, j),
    );
    let released = run(
        "dyn_unc",
        &mut d,
        &ScoreParams::default()
            .with(&dynunc::score::dyn_unc::WINDOW, j)
            .with(&dynunc::score::dyn_unc::WINDOWS, WindowMode::ReleasedCode),
    );
    for (i, row) in values.iter().enumerate() {
        let stds: Vec<f64> = (0..=k - j)
            .filter_map(|s| naive_std(&row[s..s + j].iter().flatten().copied().collect::<Vec<_>>()))
            .collect();
        let want_paper = if stds.is_empty() {
            0.0
        } else {
            stds.iter().sum::<f64>() / stds.len() as f64
        };
        // ImageNet/get_coreset.py (BAAI-DCAI/Dataset-Pruning), transcribed: a zero-filled
        // window of J values per sample; a seen value shifts in (`torch.cat((his[:, 1:], p))`);
        // for idx in J-1 .. K-2 the window's `torch.std` (ddof 1) * 10 is kept; `np.mean`.
        let mut his = vec![0.0f64; j];
        let mut kept = Vec::new();
        for (idx, value) in row.iter().enumerate() {
            if let Some(p) = value {
                his.remove(0);
                his.push(*p);
            }
            if idx >= j - 1 && idx < k - 1 {
                kept.push(naive_std(&his).unwrap() * 10.0);
            }
        }
        let want_released = kept.iter().sum::<f64>() / kept.len() as f64;
        assert!(
            (f64::from(paper[i]) - want_paper).abs() < 1e-5,
            "paper, sample {i}: {} vs {want_paper}",
            paper[i]
        );
        assert!(
            (f64::from(released[i]) - want_released).abs() < 1e-4,
            "released, sample {i}: {} vs {want_released}",
            released[i]
        );
    }
}

#[test]
fn dyn_unc_keeps_its_precision_on_near_constant_rows() {
    // Rows at p = 1 - 1e-6 whose windows change by one float step, and rows near 0.5 with
    // single-ulp noise: the score must match a two-pass f64 reference within 1e-3 relative
    // (a running sum-of-squares window was off by +5% at J = 10 and -28% at J = 30).
    for j in [10usize, 30] {
        let k = 2 * j + 7;
        let base = [1.0f32 - 1e-6, 0.5, 0.999_9];
        let rows: Vec<Vec<f32>> = base
            .iter()
            .enumerate()
            .map(|(r, &b)| {
                (0..k)
                    .map(|e| match r {
                        0 => {
                            if e == j + 3 {
                                f32::from_bits(b.to_bits() - 1)
                            } else {
                                b
                            }
                        }
                        _ => f32::from_bits(b.to_bits() + ((e * 7 + r) % 3) as u32),
                    })
                    .collect()
            })
            .collect();
        let by_epoch: Vec<Vec<f32>> = (0..k)
            .map(|e| rows.iter().map(|r| r[e]).collect())
            .collect();
        let params = ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, j);
        let got = run(
            "dyn_unc",
            &mut InMemory::from_probabilities(by_epoch),
            &params,
        );
        for (i, row) in rows.iter().enumerate() {
            let values: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            let stds: Vec<f64> = (0..=k - j)
                .map(|s| naive_std(&values[s..s + j]).unwrap())
                .collect();
            let want = stds.iter().sum::<f64>() / stds.len() as f64;
            let rel = (f64::from(got[i]) - want).abs() / want;
            assert!(
                rel < 1e-3,
                "J = {j}, row {i}: {} vs {want} ({rel:.2e} relative)",
                got[i]
            );
        }
    }
}
