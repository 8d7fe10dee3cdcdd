//! OOD metrics and ReaL accuracy on cases worked out by hand.

use dynunc::eval::ood::{OodScore, metrics};
use dynunc::eval::real::RealLabels;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn ood_metrics_with_ties() {
    // in = [0.9, 0.8, 0.8, 0.3], out = [0.8, 0.2, 0.1].
    // AUROC: 0.9 beats 3 outs (3); each 0.8 ties one out and beats two (2.5 + 2.5); 0.3 beats
    // two (2): 10 of 12 pairs = 0.833333.
    // FPR at 95% TPR: all four ins needed, threshold 0.3; outs >= 0.3: one of three = 0.333333.
    // AUPR-in: steps at 0.9 (recall .25, precision 1), 0.8 (recall .75, precision 3/4),
    // 0.3 (recall 1, precision 4/5): .25 * 1 + .5 * .75 + .25 * .8 = 0.825.
    let m = metrics(&[0.9, 0.8, 0.8, 0.3], &[0.8, 0.2, 0.1]);
    assert!(close(m.auroc, 10.0 / 12.0), "{m:?}");
    assert!(close(m.fpr_at_95_tpr, 1.0 / 3.0), "{m:?}");
    assert!(close(m.aupr_in, 0.825), "{m:?}");
    // Perfect separation and complete confusion.
    let m = metrics(&[3.0, 2.0], &[1.0, 0.0]);
    assert!(
        close(m.auroc, 1.0) && close(m.fpr_at_95_tpr, 0.0) && close(m.aupr_in, 1.0),
        "{m:?}"
    );
    let m = metrics(&[1.0, 1.0], &[1.0, 1.0]);
    assert!(
        close(m.auroc, 0.5) && close(m.fpr_at_95_tpr, 1.0) && close(m.aupr_in, 0.5),
        "{m:?}"
    );
}

#[test]
fn msp_and_energy_scores() {
    // logits [0, ln 3]: softmax [0.25, 0.75]; MSP 0.75; energy score log(1 + 3) = ln 4.
    let logits = [0.0, 3f32.ln(), 0.0, 0.0];
    let msp = OodScore::Msp.scores(&logits, 2);
    let energy = OodScore::Energy.scores(&logits, 2);
    assert!(close(msp[0], 0.75) && close(msp[1], 0.5), "{msp:?}");
    assert!(
        (energy[0] - 4f64.ln()).abs() < 1e-6 && (energy[1] - 2f64.ln()).abs() < 1e-6,
        "{energy:?}"
    );
}

#[test]
fn real_accuracy_skips_empty_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.json");
    std::fs::write(&path, "[[1], [2, 3], [], [0]]").unwrap();
    let real = RealLabels::load(&path).unwrap();
    // Counted: images 0, 1, 3. [1, 3, _, 0] all correct; [1, 1, _, 2]: only image 0.
    assert_eq!(real.accuracy(&[1, 3, 5, 0]), Some((1.0, 3)));
    let (acc, n) = real.accuracy(&[1, 1, 5, 2]).unwrap();
    assert!(close(acc, 1.0 / 3.0) && n == 3);
    assert_eq!(real.accuracy(&[1, 2]), None);
    std::fs::write(&path, "{\"not\": \"a list\"}").unwrap();
    let err = RealLabels::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("real.json") && err.contains("list of label lists"),
        "{err}"
    );
}

#[test]
#[ignore = "needs DYNUNC_REAL_JSON, a real.json (ImageNet-ReaL labels); .ci/run sets it where the shared data exists"]
fn a_real_json_given_by_path_loads() {
    let path = std::env::var_os("DYNUNC_REAL_JSON")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .expect("set DYNUNC_REAL_JSON to a real.json (ImageNet-ReaL labels)");
    let real = RealLabels::load(&path).unwrap();
    assert_eq!(real.0.len(), 50_000);
    let empty = real.0.iter().filter(|l| l.is_empty()).count();
    assert!(
        empty > 0 && empty < 5_000,
        "{empty} images without a ReaL label"
    );
    assert!(real.0.iter().flatten().all(|&c| c < 1000));
}
