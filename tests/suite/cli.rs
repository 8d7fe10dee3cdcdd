//! `dynunc score` and `dynunc select` on dynamics imported from a `.npy`, and their errors.

use crate::common::*;

fn write_labels(path: &std::path::Path, labels: &[i64]) {
    let mut out = npy_header(&format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        labels.len()
    ));
    for l in labels {
        out.extend_from_slice(&l.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn score_and_select_an_imported_npy() {
    let dir = temp();
    let d = dir.path();
    // 4 samples x 3 epochs. With J = 2 (paper), sample scores by hand:
    // s0 [0.1, 0.3, 0.6]: (0.2 + 0.3) / √2 / 2 = 0.176777
    // s1 [0.5, 0.5, 0.5]: 0
    // s2 [0.9, 0.1, 0.9]: 0.8 / √2 = 0.565685
    // s3 [0.2, 0.4, 0.2]: 0.2 / √2 = 0.141421
    let p = vec![
        vec![0.1, 0.3, 0.6],
        vec![0.5, 0.5, 0.5],
        vec![0.9, 0.1, 0.9],
        vec![0.2, 0.4, 0.2],
    ];
    write_probabilities(&d.join("p.npy"), &p).unwrap();
    write_labels(&d.join("y.npy"), &[0, 0, 1, 1]);
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--labels",
            "y.npy",
            "--method",
            "dyn_unc",
            "--window",
            "2",
            "--out",
            "s.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::score::rows::read_scores(&d.join("s.csv")).unwrap();
    let want = [0.176777, 0.0, 0.565685, 0.141421];
    for (r, w) in rows.iter().zip(want) {
        assert!((r.score - w).abs() < 1e-5, "{r:?} vs {w}");
    }
    assert_eq!(
        rows.iter().map(|r| r.label).collect::<Vec<_>>(),
        vec![Some(0), Some(0), Some(1), Some(1)]
    );

    // Global keep 0.5: samples 2 and 0. Class-balanced: best of {0, 1} is 0, of {2, 3} is 2.
    let o = run_in(
        d,
        &[
            "select", "--scores", "s.csv", "--keep", "0.5", "--out", "k.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("keep fraction 0.5000, prune ratio 0.5000"),
        "{}",
        stderr(&o)
    );
    let kept: Vec<usize> = dynunc::score::rows::read_scores_unordered(&d.join("k.csv"))
        .unwrap()
        .iter()
        .map(|r| r.index)
        .collect();
    assert_eq!(kept, vec![0, 2]);

    // Without labels, class-balanced selection cannot work and says why.
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--method",
            "dyn_unc",
            "--window",
            "2",
            "--out",
            "n.csv",
        ],
    );
    assert!(o.status.success());
    let o = run_in(
        d,
        &[
            "select",
            "--scores",
            "n.csv",
            "--keep",
            "0.5",
            "--class-balanced",
            "--out",
            "k2.csv",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs labels"), "{}", stderr(&o));
}

#[test]
fn bad_arguments_name_the_value_and_the_fix() {
    let dir = temp();
    let d = dir.path();
    write_probabilities(&d.join("p.npy"), &[vec![0.1, 0.2, 0.3]]).unwrap();
    let err = stderr(&run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--window",
            "10",
            "--out",
            "s.csv",
        ],
    ));
    assert!(err.contains("window 10") && err.contains("hold 3"), "{err}");
    let err = stderr(&run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--method",
            "el2m",
            "--out",
            "s.csv",
        ],
    ));
    assert!(err.contains("`el2m`") && err.contains("el2n"), "{err}");
    let err = stderr(&run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--method",
            "el2n",
            "--out",
            "s.csv",
        ],
    ));
    assert!(err.contains("`el2n`") && err.contains("p_true"), "{err}");
    let o = run_in(
        d,
        &[
            "score",
            "--dynamics",
            "p.npy",
            "--window",
            "2",
            "--out",
            "s.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&run_in(
        d,
        &[
            "select", "--scores", "s.csv", "--keep", "1.5", "--out", "k.csv",
        ],
    ));
    assert!(
        err.contains("--keep: keep fraction 1.5 is outside (0, 1]"),
        "{err}"
    );
    let err = stderr(&run_in(
        d,
        &[
            "select", "--scores", "s.csv", "--prune", "1", "--out", "k.csv",
        ],
    ));
    assert!(
        err.contains("--prune: prune ratio 1 is outside [0, 1)"),
        "{err}"
    );
    let err = stderr(&run_in(
        d,
        &["score", "--dynamics", "missing.dyn", "--out", "s.csv"],
    ));
    assert!(err.contains("missing.dyn"), "{err}");
    let o = run_in(d, &["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for cmd in ["run", "score", "select", "methods", "report"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn select_keeps_the_end_the_method_named_by_the_file_keeps() {
    let dir = temp();
    let d = dir.path();
    let csv = "index,label,score\n0,0,0.1\n1,1,0.9\n2,0,0.5\n3,1,0.3\n";
    std::fs::write(d.join("aum.csv"), csv).unwrap();
    std::fs::write(d.join("s.csv"), csv).unwrap();
    let kept = |scores: &str, extra: &[&str]| {
        let mut args = vec![
            "select", "--scores", scores, "--prune", "0.5", "--out", "k.csv",
        ];
        args.extend_from_slice(extra);
        let o = run_in(d, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(d.join("k.csv")).unwrap();
        let idx: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();
        (idx, stderr(&o))
    };
    // aum keeps the lowest margins: 0 (0.1) and 3 (0.3).
    let (idx, log) = kept("aum.csv", &[]);
    assert_eq!(idx, ["0", "3"]);
    assert!(log.contains("what aum keeps"), "{log}");
    // Another name: the highest, saying how to choose.
    let (idx, log) = kept("s.csv", &[]);
    assert_eq!(idx, ["1", "2"]);
    assert!(log.contains("--direction lowest"), "{log}");
    // Said explicitly, the flag wins.
    let (idx, _) = kept("aum.csv", &["--direction", "highest"]);
    assert_eq!(idx, ["1", "2"]);
}

#[test]
fn the_shorthand_takes_the_dry_run_flag() {
    let dir = crate::common::temp();
    let data = dir.path().join("data");
    crate::common::write_fixture(&data, 40, 20);
    let file = dir.path().join("e.yaml");
    let out = dir.path().join("results");
    std::fs::write(&file, crate::common::tiny_experiment("e", &data, &out, "")).unwrap();
    let o = crate::common::run_in(dir.path(), &[file.to_str().unwrap(), "--dry-run"]);
    let err = crate::common::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("valid experiment `e`")
            || err.contains("valid experiment `e`"),
        "{err}"
    );
    assert!(
        !out.join("e").join("main.csv").exists(),
        "a dry run trained"
    );
}
