//! TDDS and the `drift` field it reads: the score against numbers worked out by hand and
//! against a direct implementation of the published definition from logits; the recorder's
//! drift, and a recording resumed mid-run, byte for byte as one uninterrupted.

use dynunc::dynamics::store::StoreReader;
use dynunc::dynamics::{EpochColumns, FieldSet, InMemory, SampleStats};
use dynunc::score::{self, ScoreParams};
use dynunc::train::Observer;
use dynunc::train::observer::{BatchOutputs, RunInfo};
use dynunc::train::recorder::Recorder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scorers::{assert_close, run};

fn params(window: usize, decay: f64) -> ScoreParams {
    ScoreParams::default()
        .with(&score::dyn_unc::WINDOW, window)
        .with(&score::baselines::tdds::TDDS_DECAY, decay)
}

/// One sample whose drift at epochs 0..3 is `drift` (epoch 0's is never read).
fn drifts(drift: &[f32], seen: &[bool]) -> InMemory {
    let epochs = drift
        .iter()
        .zip(seen)
        .map(|(&d, &s)| {
            let mut cols = EpochColumns::unseen(1);
            if s {
                cols.set(0, &SampleStats::from_logits(&[0.0, 1.0], 0));
            }
            cols.drift[0] = d;
            cols
        })
        .collect();
    InMemory {
        classes: 2,
        labels: Some(vec![0]),
        epochs,
    }
}

#[test]
fn tdds_by_hand() {
    // T = 4, K = 3: e = drift of epochs 1..3 = [0.1, 0.5, 0.2]. Window 0 = (0.1, 0.5): mean 0.3,
    // R = sqrt(0.04 + 0.04) = 0.282843; window 1 = (0.5, 0.2): R = sqrt(2 x 0.0225) = 0.212132.
    // β = 0.9: 0.9 x 0.1^1 x 0.282843 + 0.9 x 0.1^0 x 0.212132 = 0.025456 + 0.190919 = 0.216375.
    let mut d = drifts(&[9.0, 0.1, 0.5, 0.2], &[true; 4]);
    assert_close(&run("tdds", &mut d, &params(3, 0.9)), &[0.216375]);
    // β = 1: only the last window: 0.212132.
    assert_close(&run("tdds", &mut d, &params(3, 1.0)), &[0.212132]);
    // Unseen at epoch 2: window 0 holds 0.1 alone (R = 0), window 1 holds 0.2 alone (R = 0).
    let mut d = drifts(&[9.0, 0.1, 0.5, 0.2], &[true, true, false, true]);
    assert_close(&run("tdds", &mut d, &params(3, 0.9)), &[0.0]);
    assert_eq!(
        score::find("tdds").unwrap().info().keep,
        score::Keep::Highest
    );
}

#[test]
fn tdds_refuses_windows_and_decays_it_cannot_use() {
    let mut d = drifts(&[0.0, 0.1, 0.5, 0.2], &[true; 4]);
    let err = |p: ScoreParams, d: &mut InMemory| {
        score::score_one(d, score::find("tdds").unwrap(), &p)
            .unwrap_err()
            .to_string()
    };
    assert!(err(params(2, 0.9), &mut d).contains("window >= 3"));
    assert!(err(params(5, 0.9), &mut d).contains("at most 4"));
    assert!(err(params(3, 0.0), &mut d).contains("outside (0, 1]"));
    // A store without drift (an import of probabilities) names the missing field.
    let mut p_only = InMemory::from_probabilities(vec![vec![0.5]; 4]);
    assert!(err(params(3, 0.9), &mut p_only).contains("drift"));
}

/// Logits[epoch][sample] of `classes` values, seeded.
fn random_logits(epochs: usize, samples: usize, classes: usize, seed: u64) -> Vec<Vec<Vec<f32>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..epochs)
        .map(|_| {
            (0..samples)
                .map(|_| (0..classes).map(|_| rng.random_range(-4.0..4.0)).collect())
                .collect()
        })
        .collect()
}

/// TDDS from logits, written from the published definition (module doc of `tdds.rs`) in f64.
fn tdds_direct(logits: &[Vec<Vec<f32>>], k: usize, beta: f64) -> Vec<f64> {
    let softmax = |z: &[f32]| {
        let max = z.iter().copied().fold(f32::MIN, f32::max);
        let e: Vec<f64> = z.iter().map(|&v| f64::from(v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect::<Vec<f64>>()
    };
    let t_len = logits.len();
    (0..logits[0].len())
        .map(|i| {
            let p: Vec<Vec<f64>> = (0..t_len).map(|t| softmax(&logits[t][i])).collect();
            let e: Vec<f64> = (0..t_len - 1)
                .map(|t| {
                    (0..p[t].len())
                        .map(|c| {
                            let (q, r) = (p[t][c], p[t + 1][c]);
                            (r * ((r + 1e-8).ln() - (q + 1e-8).ln())).abs()
                        })
                        .sum()
                })
                .collect();
            (0..=t_len - k)
                .map(|w| {
                    let win = &e[w..w + k - 1];
                    let mean = win.iter().sum::<f64>() / win.len() as f64;
                    let norm = win.iter().map(|v| (v - mean).powi(2)).sum::<f64>().sqrt();
                    beta * (1.0 - beta).powi((t_len - k - w) as i32) * norm
                })
                .sum()
        })
        .collect()
}

/// Feeds epochs `from..to` of `logits` to `rec` as a training run would (resuming at `from`),
/// in batches of 3 in an order that changes every epoch.
pub(crate) fn feed(
    rec: &mut Recorder,
    logits: &[Vec<Vec<f32>>],
    labels: &[u32],
    from: usize,
    to: usize,
) {
    let n = labels.len();
    let info = RunInfo {
        label: "test".into(),
        epochs: logits.len(),
        batches: n.div_ceil(3),
        start_epoch: from,
        samples: n,
    };
    rec.run_start(&info).unwrap();
    for (epoch, at) in logits.iter().enumerate().take(to).skip(from) {
        rec.epoch_start(epoch);
        let order: Vec<usize> = (0..n).map(|i| (i * 7 + epoch) % n).collect();
        for batch in order.chunks(3) {
            let batch_labels: Vec<u32> = batch.iter().map(|&i| labels[i]).collect();
            let stats: Vec<SampleStats> = batch
                .iter()
                .map(|&i| SampleStats::from_logits(&at[i], labels[i] as usize))
                .collect();
            let mut probabilities = Vec::new();
            for &i in batch {
                dynunc::dynamics::softmax_into(&at[i], &mut probabilities);
            }
            let out = BatchOutputs {
                indices: batch,
                labels: &batch_labels,
                stats: &stats,
                probabilities: &probabilities,
            };
            rec.batch_outputs(epoch, out);
        }
        rec.epoch_end(epoch, 0.0).unwrap();
    }
}

#[test]
fn recorded_drift_gives_the_direct_tdds_and_resumes_exactly() {
    let (epochs, n, classes) = (7, 10, 4);
    let logits = random_logits(epochs, n, classes, 3);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % classes as u32).collect();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.dyn");
    let mut rec = Recorder::open_for(&whole, &labels, classes, FieldSet::ALL, 0).unwrap();
    assert!(rec.wants_probabilities());
    feed(&mut rec, &logits, &labels, 0, epochs);
    rec.run_end();
    let mut reader = StoreReader::open(&whole).unwrap();
    let got = score::score_one(&mut reader, score::find("tdds").unwrap(), &params(4, 0.9)).unwrap();
    let want = tdds_direct(&logits, 4, 0.9);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5 * w.abs().max(1e-3),
            "sample {i}: recorded {g}, direct {w}"
        );
    }
    // Killed after epoch 4 reached the store but before its checkpoint: the run resumes
    // after epoch 3, from the state saved then, and ends with the same bytes.
    let resumed = dir.path().join("resumed.dyn");
    let mut rec = Recorder::open_for(&resumed, &labels, classes, FieldSet::ALL, 0).unwrap();
    feed(&mut rec, &logits, &labels, 0, 4);
    drop(rec);
    let mut rec = Recorder::open_for(&resumed, &labels, classes, FieldSet::ALL, 0).unwrap();
    feed(&mut rec, &logits, &labels, 3, epochs);
    rec.run_end();
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&resumed).unwrap()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".prev-"))
        .collect();
    assert!(left.is_empty(), "drift states left after the run: {left:?}");
}
