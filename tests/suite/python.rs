//! The Python recorder (`python/dynunc_record.py`) writes the store `dynunc import --logits`
//! writes from the same logits, byte for byte, across a resume; and names bad input.

use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{run_in, stderr, temp};
use crate::interop::{write_array, write_labels};

/// Logits of every scale (confident rows whose p_true rounds to 1, flat rows, ties).
fn logits(t: usize, n: usize, c: usize) -> Vec<Vec<Vec<f32>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..t)
        .map(|_| {
            (0..n)
                .map(|i| {
                    let scale = [0.01f32, 1.0, 7.0, 40.0][i % 4];
                    let mut row: Vec<f32> = (0..c)
                        .map(|_| scale * rng.random_range(-1.0f32..1.0))
                        .collect();
                    if i % 13 == 0 {
                        row[1] = row[0];
                    }
                    row
                })
                .collect()
        })
        .collect()
}

const SCRIPT: &str = r#"
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from dynunc_record import Recorder
logits, labels, out = np.load(sys.argv[2]), np.load(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
rec = Recorder(out, labels=labels, classes=logits.shape[2])
for epoch in range(logits.shape[0]):
    if epoch == 2:
        rec = Recorder(out, labels=labels, classes=logits.shape[2])  # resumed
    order = rng.permutation(len(labels))
    for start in range(0, len(labels), 37):
        idx = order[start:start + 37]
        rec.update(idx, logits[epoch, idx])
    rec.end_epoch()
rec.close()
try:
    Recorder(out + ".bad", labels=labels, classes=logits.shape[2]).update([0, 1], logits[0, :3])
except ValueError as e:
    print("refused:", e)
"#;

#[test]
#[ignore = "needs python3 with numpy: apt-get install python3-numpy (.ci/run does); DYNUNC_PYTHON names the interpreter (default python3)"]
fn the_python_recorder_writes_the_bytes_the_import_writes() {
    let dir = temp();
    let (t, n, c) = (5, 400, 10);
    let x = logits(t, n, c);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let labels: Vec<u32> = (0..n).map(|_| rng.random_range(0..c as u32)).collect();
    let (l, y) = (dir.path().join("logits.npy"), dir.path().join("labels.npy"));
    write_array(&l, &x, false);
    write_labels(&y, &labels);
    let python = std::env::var("DYNUNC_PYTHON").unwrap_or_else(|_| "python3".into());
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
    let py_store = dir.path().join("py.dyn");
    let o = Command::new(&python)
        .args(["-c", SCRIPT, here])
        .args([&l, &y, &py_store])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("refused: logits: shape (3, 10); give 2 x 10"),
        "{said}"
    );
    let rs_store = dir.path().join("rs.dyn");
    let o = run_in(
        dir.path(),
        &[
            "import",
            "--logits",
            l.to_str().unwrap(),
            "--labels",
            y.to_str().unwrap(),
            "--out",
            rs_store.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (
        std::fs::read(&py_store).unwrap(),
        std::fs::read(&rs_store).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let first = a.iter().zip(&b).position(|(p, q)| p != q);
    assert_eq!(first, None, "the stores differ from byte {first:?}");
    // Nothing is left beside the store once the recorder is closed.
    assert!(!dir.path().join("py.dyn.prev.npz").exists());
}
