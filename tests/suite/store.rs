//! The dynamics store: round trip, append, resume, crash recovery and damage detection.

use std::io::{Seek, SeekFrom, Write};

use dynunc::dynamics::npy;
use dynunc::dynamics::store::{StoreReader, StoreWriter, store_size};
use dynunc::dynamics::{EpochColumns, EpochSource, FieldSet, SampleStats};

use crate::common::*;

fn epoch(k: usize, labels: &[u32]) -> EpochColumns {
    let mut cols = EpochColumns::unseen(labels.len());
    for (i, &l) in labels.iter().enumerate() {
        if (i + k) % 5 == 4 {
            continue; // some samples unseen, as with a dropped partial batch
        }
        let logits = [k as f32 * 0.3, i as f32 * 0.1, 0.5];
        cols.set(i, &SampleStats::from_logits(&logits, l as usize));
    }
    cols
}

fn labels() -> Vec<u32> {
    (0..37).map(|i| i % 3).collect()
}

fn read_all(path: &std::path::Path) -> Vec<EpochColumns> {
    let mut r = StoreReader::open(path).unwrap();
    (0..r.shape().epochs)
        .map(|k| {
            let mut cols = EpochColumns::default();
            r.read_epoch(k, FieldSet::ALL, &mut cols).unwrap();
            cols
        })
        .collect()
}

#[test]
fn round_trip_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.dyn");
    let labels = labels();
    let mut w = StoreWriter::open(&path, &labels, 3, FieldSet::ALL).unwrap();
    let written: Vec<_> = (0..4).map(|k| epoch(k, &labels)).collect();
    for e in &written {
        w.append(e).unwrap();
    }
    assert_eq!(read_all(&path), written);
    let r = StoreReader::open(&path).unwrap();
    assert_eq!(r.labels().unwrap(), &labels[..]);
    assert_eq!(r.shape().classes, 3);
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, store_size(37, 4, FieldSet::ALL));
}

#[test]
fn resume_continues_after_last_complete_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.dyn");
    let labels = labels();
    let mut w = StoreWriter::open(&path, &labels, 3, FieldSet::ALL).unwrap();
    w.append(&epoch(0, &labels)).unwrap();
    w.append(&epoch(1, &labels)).unwrap();
    drop(w);
    // A crash in the middle of epoch 3: half a block past the committed end.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&[0xAB; 100]).unwrap();
    drop(f);
    assert_eq!(read_all(&path).len(), 2, "readers ignore the partial block");
    let mut w = StoreWriter::open(&path, &labels, 3, FieldSet::ALL).unwrap();
    assert_eq!(w.epochs(), 2);
    w.append(&epoch(2, &labels)).unwrap();
    let want: Vec<_> = (0..3).map(|k| epoch(k, &labels)).collect();
    assert_eq!(read_all(&path), want);
}

#[test]
fn resume_refuses_other_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.dyn");
    let labels = labels();
    StoreWriter::open(&path, &labels, 3, FieldSet::ALL).unwrap();
    let mut other = labels.clone();
    other[0] = 2;
    let err = StoreWriter::open(&path, &other, 3, FieldSet::ALL)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another dataset"), "{err}");
}

#[test]
fn damage_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.dyn");
    let labels = labels();
    let mut w = StoreWriter::open(&path, &labels, 3, FieldSet::ALL).unwrap();
    w.append(&epoch(0, &labels)).unwrap();
    w.append(&epoch(1, &labels)).unwrap();
    drop(w);
    let good = std::fs::read(&path).unwrap();

    // One flipped byte in the p_true column of epoch 2.
    let mut bytes = good.clone();
    let block = (bytes.len() - 64 - 4 * 37) / 2;
    bytes[64 + 4 * 37 + block + 10] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let mut r = StoreReader::open(&path).unwrap();
    let mut cols = EpochColumns::default();
    r.read_epoch(0, FieldSet::ALL, &mut cols).unwrap();
    let err = r
        .read_epoch(1, FieldSet::ALL, &mut cols)
        .unwrap_err()
        .to_string();
    assert!(err.contains("p_true") && err.contains("epoch 2"), "{err}");

    // Truncated.
    std::fs::write(&path, &good[..good.len() - 9]).unwrap();
    let err = StoreReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    // A damaged header.
    let mut bytes = good.clone();
    bytes[20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = StoreReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("header"), "{err}");

    // Not a store at all.
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"index,label,score\n0,1,0.5\n").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let err = StoreReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("expected a dynunc dynamics store"), "{err}");
    let mut long = b"not a store".to_vec();
    long.resize(200, b' ');
    std::fs::write(&path, &long).unwrap();
    let err = StoreReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("magic bytes DYNUNCST"), "{err}");
}

#[test]
fn npy_round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.npy");
    // 3 samples x 2 epochs.
    write_probabilities(&path, &[vec![0.1, 0.2], vec![0.3, 0.4], vec![0.5, 0.6]]).unwrap();
    let d = npy::read_probabilities(&path).unwrap();
    assert_eq!(d.epochs.len(), 2);
    assert_eq!(d.epochs[0].p_true, vec![0.1, 0.3, 0.5]);
    assert_eq!(d.epochs[1].p_true, vec![0.2, 0.4, 0.6]);

    let header_in = |descr: &str, shape: &str, order: &str| {
        npy_header(&format!(
            "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}"
        ))
    };
    let header = |descr: &str, shape: &str| header_in(descr, shape, "False");
    let mut f64_file = header("<f8", "(2, 2)");
    f64_file.extend_from_slice(&[0u8; 32]);
    std::fs::write(&path, &f64_file).unwrap();
    let err = npy::read_probabilities(&path).unwrap_err().to_string();
    assert!(err.contains("'<f8'") && err.contains("float32"), "{err}");

    let mut rank3 = header("<f4", "(2, 2, 2)");
    rank3.extend_from_slice(&[0u8; 32]);
    std::fs::write(&path, &rank3).unwrap();
    let err = npy::read_probabilities(&path).unwrap_err().to_string();
    assert!(err.contains("rank 3"), "{err}");

    let mut short = header("<f4", "(2, 2)");
    short.extend_from_slice(&[0u8; 12]);
    std::fs::write(&path, &short).unwrap();
    let err = npy::read_probabilities(&path).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    // Fortran order: column-major data.
    let mut fortran = header_in("<f4", "(2, 3)", "True");
    for v in [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6] {
        fortran.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, &fortran).unwrap();
    let d = npy::read_probabilities(&path).unwrap();
    assert_eq!(d.epochs[0].p_true, vec![0.1, 0.2]);
    assert_eq!(d.epochs[2].p_true, vec![0.5, 0.6]);

    // Not probabilities (logits, percentages): refused with the value and where it is.
    write_probabilities(&path, &[vec![0.1, 0.2], vec![0.3, 4.5]]).unwrap();
    let err = npy::read_probabilities(&path).unwrap_err().to_string();
    assert!(
        err.contains("value 4.5 at sample 1, epoch 2") && err.contains("[0, 1]"),
        "{err}"
    );
    write_probabilities(&path, &[vec![f32::NAN, 0.2]]).unwrap();
    let err = npy::read_probabilities(&path).unwrap_err().to_string();
    assert!(err.contains("value NaN at sample 0, epoch 1"), "{err}");
}

/// A deterministic "probability" for sample `i` at epoch `k`.
fn p_at(i: usize, k: usize) -> f32 {
    let mut z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (k as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z >> 40) as f32) / (1u64 << 24) as f32
}

/// ImageNet-21K at a tenth: 1.42 million samples x 90 epochs, the true-class probability and
/// flags stored (640 MB on disk), then Dyn-Unc (J = 10) streamed over it. Scores of a few
/// samples equal those of the same histories scored from memory.
#[test]
fn a_store_at_a_tenth_of_imagenet_21k_writes_reads_and_scores() {
    const N: usize = 1_420_000;
    const EPOCHS: usize = 90;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in21k-tenth.dyn");
    let labels: Vec<u32> = (0..N as u32).map(|i| i % 1000).collect();
    let fields = FieldSet::of(&[
        dynunc::dynamics::Field::PTrue,
        dynunc::dynamics::Field::Flags,
    ]);
    let mut w = StoreWriter::open(&path, &labels, 1000, fields).unwrap();
    for k in 0..EPOCHS {
        let p: Vec<f32> = (0..N).map(|i| p_at(i, k)).collect();
        w.append(&EpochColumns::from_p_true(p)).unwrap();
    }
    drop(w);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        store_size(N as u64, EPOCHS as u64, fields)
    );
    let mut r = StoreReader::open(&path).unwrap();
    assert_eq!((r.shape().samples, r.shape().epochs), (N, EPOCHS));
    let dyn_unc = dynunc::score::find("dyn_unc").unwrap();
    let params = dynunc::score::ScoreParams::default();
    let scores = dynunc::score::score_one(&mut r, dyn_unc, &params).unwrap();
    assert_eq!(scores.len(), N);
    let picked = [0, 1, 777_777, N - 1];
    let mut small = dynunc::dynamics::InMemory::from_probabilities(
        (0..EPOCHS)
            .map(|k| picked.iter().map(|&i| p_at(i, k)).collect())
            .collect(),
    );
    let expected = dynunc::score::score_one(&mut small, dyn_unc, &params).unwrap();
    for (j, &i) in picked.iter().enumerate() {
        assert_eq!(scores[i], expected[j], "sample {i}");
    }
}
