//! Dynamics in from other trainers' files and out as NumPy arrays: an imported store equals the
//! one the recorder writes from the same logits (whatever the file's form), the official
//! probability history scores as a transcription of `get_coreset.py`, an export reads back,
//! and every bad input is named.

use std::path::Path;

use dynunc::dynamics::npy::{read_labels, read_probabilities};
use dynunc::dynamics::store::StoreReader;
use dynunc::dynamics::{EpochColumns, EpochSource, FieldSet};
use dynunc::interop::{export, history, logits};
use dynunc::score::{self, ScoreParams, WindowMode};
use dynunc::train::Observer;
use dynunc::train::recorder::Recorder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{npy_header, run_in, stderr, temp};

/// logits[epoch][sample][class], values on a 1/8 grid (exact in float16).
fn logits(t: usize, n: usize, c: usize, seed: u64) -> Vec<Vec<Vec<f32>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..t)
        .map(|_| {
            (0..n)
                .map(|_| {
                    (0..c)
                        .map(|_| rng.random_range(-32i32..32) as f32 / 8.0)
                        .collect()
                })
                .collect()
        })
        .collect()
}

pub(crate) fn write_array(path: &Path, x: &[Vec<Vec<f32>>], half: bool) {
    let (t, n, c) = (x.len(), x[0].len(), x[0][0].len());
    let descr = if half { "<f2" } else { "<f4" };
    let mut out = npy_header(&format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({t}, {n}, {c}), }}"
    ));
    for v in x.iter().flatten().flatten() {
        match half {
            false => out.extend_from_slice(&v.to_le_bytes()),
            true => out.extend_from_slice(&to_f16(*v).to_le_bytes()),
        }
    }
    std::fs::write(path, out).unwrap();
}

/// f32 -> f16 for values on a 1/8 grid within (-64, 64) (normal halves, exact).
fn to_f16(v: f32) -> u16 {
    if v == 0.0 {
        return if v.is_sign_negative() { 0x8000 } else { 0 };
    }
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let frac = ((bits >> 13) & 0x3ff) as u16;
    sign | ((exp as u16) << 10) | frac
}

pub(crate) fn write_labels(path: &Path, labels: &[u32]) {
    let mut out = npy_header(&format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        labels.len()
    ));
    for &l in labels {
        out.extend_from_slice(&i64::from(l).to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// The store the recorder writes when training hands it these logits (in batches of 3).
fn recorded(path: &Path, x: &[Vec<Vec<f32>>], labels: &[u32]) {
    let mut rec = Recorder::open_for(path, labels, x[0][0].len(), FieldSet::ALL, 0).unwrap();
    crate::tdds::feed(&mut rec, x, labels, 0, x.len());
    rec.run_end();
}

#[test]
fn logits_in_every_form_import_as_the_recorder_writes_them() {
    let dir = temp();
    let d = dir.path();
    let (t, n, c) = (5, 11, 4);
    let x = logits(t, n, c, 7);
    let labels: Vec<u32> = (0..n as u32).map(|i| (i * 3) % c as u32).collect();
    recorded(&d.join("recorded.dyn"), &x, &labels);
    let want = std::fs::read(d.join("recorded.dyn")).unwrap();
    // One T x N x C array, float32 and float16.
    for (name, half) in [("f32", false), ("f16", true)] {
        let file = d.join(format!("{name}.npy"));
        write_array(&file, &x, half);
        let out = d.join(format!("{name}.dyn"));
        let done = logits::import(&file, &labels, &out).unwrap();
        assert_eq!((done.epochs, done.samples, done.classes), (t, n, c));
        assert_eq!(std::fs::read(&out).unwrap(), want, "{name}");
    }
    // TDDS's folder: per epoch the rows in a shuffled order with their indices.
    let folder = d.join("tdds");
    std::fs::create_dir_all(&folder).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (e, at) in x.iter().enumerate() {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let rows: Vec<Vec<Vec<f32>>> = vec![order.iter().map(|&i| at[i].clone()).collect()];
        let mut bytes = npy_header(&format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {c}), }}"
        ));
        for v in rows.iter().flatten().flatten() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(folder.join(format!("{e}_Output.npy")), bytes).unwrap();
        let idx: Vec<u32> = order.iter().map(|&i| i as u32).collect();
        write_labels(&folder.join(format!("{e}_Index.npy")), &idx);
    }
    let out = d.join("tdds.dyn");
    logits::import(&folder, &labels, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), want);
    // The fields are the definitions: p_true is the f64 softmax's true-class entry.
    let mut reader = StoreReader::open(&out).unwrap();
    let mut cols = EpochColumns::default();
    reader.read_epoch(2, FieldSet::ALL, &mut cols).unwrap();
    for i in 0..n {
        let z = &x[2][i];
        let max = z.iter().copied().fold(f32::MIN, f32::max);
        let sum: f64 = z.iter().map(|&v| f64::from(v - max).exp()).sum();
        let p = f64::from(z[labels[i] as usize] - max).exp() / sum;
        assert!((f64::from(cols.p_true[i]) - p).abs() < 1e-7, "sample {i}");
    }
}

#[test]
fn bad_logits_are_named() {
    let dir = temp();
    let d = dir.path();
    let x = logits(3, 4, 3, 2);
    let labels = [0, 1, 2, 0];
    let file = d.join("x.npy");
    write_array(&file, &x, false);
    let err = |src: &Path, labels: &[u32], out: &str| {
        logits::import(src, labels, &d.join(out))
            .unwrap_err()
            .to_string()
    };
    // Labels of another set, and a label beyond the classes.
    assert!(err(&file, &[0, 1, 2], "a.dyn").contains("labels give 3"));
    assert!(err(&file, &[0, 1, 5, 0], "b.dyn").contains("label 5 of sample 2"));
    // A non-finite logit names its sample and epoch.
    let mut nan = x.clone();
    nan[1][3][0] = f32::NAN;
    write_array(&file, &nan, false);
    let e = err(&file, &labels, "c.dyn");
    assert!(
        e.contains("sample 3 at epoch 2") && e.contains("x.npy"),
        "{e}"
    );
    // A 2-D array is not logits per epoch.
    let mut flat = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }");
    flat.extend(std::iter::repeat_n(0u8, 48));
    std::fs::write(&file, flat).unwrap();
    assert!(err(&file, &labels, "d.dyn").contains("(T, N, C)"));
    // A folder with a gap, and indices that are not a permutation.
    let folder = d.join("f");
    std::fs::create_dir_all(&folder).unwrap();
    for e in [0, 2] {
        let mut b = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }");
        b.extend(std::iter::repeat_n(0u8, 48));
        std::fs::write(folder.join(format!("{e}_Output.npy")), b).unwrap();
        write_labels(&folder.join(format!("{e}_Index.npy")), &[0, 1, 1, 3]);
    }
    assert!(err(&folder, &labels, "e.dyn").contains("epoch 1's 1_Output.npy is missing"));
    std::fs::rename(folder.join("2_Output.npy"), folder.join("1_Output.npy")).unwrap();
    std::fs::rename(folder.join("2_Index.npy"), folder.join("1_Index.npy")).unwrap();
    assert!(err(&folder, &labels, "g.dyn").contains("permutation of 0..4"));
}

/// `get_coreset.py` transcribed: per sample a zero-filled window of J values, each epoch's
/// non-zero probability shifted in; after epochs J-1 .. K-2 the std (ddof 1) of the window
/// times 10 is kept; the score is the mean of what was kept.
fn get_coreset(history: &[Vec<f64>], j: usize) -> Vec<f64> {
    let n = history[0].len();
    let mut window = vec![vec![0f64; j]; n];
    let mut kept: Vec<Vec<f64>> = Vec::new();
    for (idx, epoch) in history.iter().enumerate() {
        for (i, &p) in epoch.iter().enumerate() {
            if p != 0.0 {
                window[i].remove(0);
                window[i].push(p);
            }
        }
        if idx + 1 >= j && idx + 1 < history.len() {
            kept.push(
                window
                    .iter()
                    .map(|w| {
                        let m = w.iter().sum::<f64>() / j as f64;
                        let v = w.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (j - 1) as f64;
                        10.0 * v.sqrt()
                    })
                    .collect(),
            );
        }
    }
    (0..n)
        .map(|i| kept.iter().map(|k| k[i]).sum::<f64>() / kept.len() as f64)
        .collect()
}

#[test]
fn the_official_probability_history_scores_as_get_coreset_does() {
    let dir = temp();
    let d = dir.path().join("run/pred_prob_history");
    std::fs::create_dir_all(&d).unwrap();
    let (t, n, j) = (7, 9, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let history: Vec<Vec<f64>> = (0..t)
        .map(|_| {
            (0..n)
                .map(|_| match rng.random_range(0..5) {
                    0 => 0.0,
                    _ => f64::from(rng.random_range(1..1000u32)) / 1000.0,
                })
                .collect()
        })
        .collect();
    // Written as the official code names them; epoch 10 sorts after 9 by number.
    for (e, values) in history.iter().enumerate() {
        let text: Vec<String> = values.iter().map(|v| format!("{v:.18e}")).collect();
        std::fs::write(d.join(format!("prob_{}.txt", e * 5)), text.join("\n")).unwrap();
    }
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
    let out = dir.path().join("h.dyn");
    history::import(&dir.path().join("run"), &labels, &out).unwrap();
    let params = ScoreParams::default()
        .with(&score::dyn_unc::WINDOW, j)
        .with(&score::dyn_unc::WINDOWS, WindowMode::ReleasedCode);
    let mut reader = StoreReader::open(&out).unwrap();
    let got = score::score_one(&mut reader, score::find("dyn_unc").unwrap(), &params).unwrap();
    let want = get_coreset(&history, j);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((f64::from(*g) - w).abs() < 1e-5, "sample {i}: {g} vs {w}");
    }
    // Methods that need more than p_true are refused with what the import holds.
    let mut reader = StoreReader::open(&out).unwrap();
    let err = score::score_one(
        &mut reader,
        score::find("el2n").unwrap(),
        &ScoreParams::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("el2n") && err.contains("p_true, flags"),
        "{err}"
    );
    // A value that is no probability is named with its file.
    std::fs::write(d.join("prob_0.txt"), "0.5\n1.5\n").unwrap();
    let err = history::import(&d, &labels, &dir.path().join("bad.dyn"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("prob_0.txt") && err.contains("1.5"), "{err}");
}

#[test]
fn an_export_reads_back_as_the_store() {
    let dir = temp();
    let d = dir.path();
    let x = logits(4, 6, 3, 9);
    let labels: Vec<u32> = vec![0, 1, 2, 0, 1, 2];
    let store = d.join("s.dyn");
    recorded(&store, &x, &labels);
    let written = export::export(&store, &d.join("out"), None).unwrap();
    assert_eq!(written.len(), 9, "{written:?}");
    let p = read_probabilities(&d.join("out/p_true.npy")).unwrap();
    let mut reader = StoreReader::open(&store).unwrap();
    let mut cols = EpochColumns::default();
    for (k, epoch) in p.epochs.iter().enumerate() {
        reader.read_epoch(k, FieldSet::ALL, &mut cols).unwrap();
        assert_eq!(epoch.p_true, cols.p_true, "epoch {k}");
    }
    assert_eq!(read_labels(&d.join("out/labels.npy")).unwrap(), labels);
    let flags = std::fs::read(d.join("out/flags.npy")).unwrap();
    // A header padded to 64 bytes, then N x T = 24 flag bytes.
    assert_eq!(flags.len() % 64, 24);
    // Only what is asked; a store that is not there is named.
    let one = export::export(
        &store,
        &d.join("one"),
        Some(FieldSet::of(&[dynunc::dynamics::Field::Drift])),
    )
    .unwrap();
    assert_eq!(one.len(), 2);
    let err = export::export(&d.join("missing.dyn"), &d.join("x"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.dyn"), "{err}");
}

#[test]
fn import_and_export_from_the_command_line() {
    let dir = temp();
    let d = dir.path();
    let x = logits(4, 8, 3, 4);
    let labels: Vec<u32> = (0..8).map(|i| i % 3).collect();
    write_array(&d.join("x.npy"), &x, false);
    write_labels(&d.join("y.npy"), &labels);
    let import = [
        "import", "--logits", "x.npy", "--labels", "y.npy", "--out", "a.dyn",
    ];
    let o = run_in(d, &import);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("imported 4 epochs of 8 samples (3 classes)"),
        "{}",
        stderr(&o)
    );
    // The store scores with every method, tdds included; a second import refuses to overwrite.
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "a.dyn",
            "--method",
            "tdds",
            "--window",
            "3",
            "--out",
            "t.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(d, &import);
    assert!(
        !o.status.success() && stderr(&o).contains("exists"),
        "{}",
        stderr(&o)
    );
    let export = |fields: &str| {
        run_in(
            d,
            &[
                "export",
                "--dynamics",
                "a.dyn",
                "--out",
                "np",
                "--fields",
                fields,
            ],
        )
    };
    let o = export("p_true,margin");
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(d.join("np"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["labels.npy", "margin.npy", "p_true.npy"]);
    let o = export("loss");
    assert!(
        stderr(&o).contains("`loss` is not a field"),
        "{}",
        stderr(&o)
    );
}
