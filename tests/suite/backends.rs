//! What every other backend is held to against flex: one training step of a preset from the
//! same weights and batch, the seeded weights, and a tiny experiment end to end. Used by the
//! `wgpu::` and `tch::` tests (each compiled with its own feature).

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use dynunc::train::model::{InputShape, Model, ModelSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

/// ResNet-18's step test input: ImageNet's three channels at 64x64 pixels, 100 classes.
pub const IMAGENET_AT_64: InputShape = InputShape {
    channels: 3,
    height: 64,
    width: 64,
    classes: 100,
};

/// The largest difference of `a` from `b`, relative to the largest magnitude in `b` (at
/// least 1 for outputs near 0).
fn rel_diff(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// One training step's logits, loss and gradients of `m` on `device` for the batch.
fn step(m: &Model, device: &Device, x: &[f32], y: &[i64], shape: [usize; 4]) -> Step {
    let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), device);
    let yt = Tensor::<1, Int>::from_data(TensorData::new(y.to_vec(), [shape[0]]), device);
    let logits = m.forward(xt);
    let loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits.clone(), yt);
    let value: f32 = loss.clone().into_scalar();
    Step {
        logits: host(logits.inner()),
        loss: value,
        grads: GradientsParams::from_grads(loss.backward(), m),
    }
}

struct Step {
    logits: Vec<f32>,
    loss: f32,
    grads: GradientsParams,
}

/// Every parameter's gradient on both devices: (the other device's, flex's).
fn grad_pairs(
    m: &Model,
    other: &GradientsParams,
    cpu: &GradientsParams,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    struct Pairs<'a>(
        &'a GradientsParams,
        &'a GradientsParams,
        Vec<(Vec<f32>, Vec<f32>)>,
    );
    impl ModuleVisitor for Pairs<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let (Some(a), Some(b)) = (self.0.get::<D>(p.id), self.1.get::<D>(p.id)) else {
                assert!(
                    !p.val().is_require_grad(),
                    "a trainable parameter without gradient"
                );
                return;
            };
            let v = |t: Tensor<D>| {
                t.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap()
            };
            self.2.push((v(a), v(b)));
        }
    }
    let mut pairs = Pairs(other, cpu, Vec::new());
    m.visit(&mut pairs);
    pairs.2
}

/// `name` trained one step on `device` and on flex from the same weights and batch: logits
/// and loss within 1e-4 relative, every gradient within 1e-3 of its largest entry.
pub fn same_step(name: &str, input: InputShape, batch: usize, device: &Device) {
    let spec = ModelSpec::preset(name).unwrap();
    let cpu = Device::flex().autodiff();
    let on_cpu = Model::seeded(&spec, input, 3, &cpu);
    let other = device.clone().autodiff();
    let on_other = on_cpu.clone().fork(&other);
    let shape = [batch, input.channels, input.height, input.width];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let y: Vec<i64> = (0..batch).map(|i| (i % input.classes) as i64).collect();
    let a = step(&on_other, &other, &x, &y, shape);
    let b = step(&on_cpu, &cpu, &x, &y, shape);
    let d = rel_diff(&a.logits, &b.logits, 1.0);
    assert!(d <= 1e-4, "{name}: logits differ by {d:e} (relative)");
    assert!(
        (a.loss - b.loss).abs() <= 1e-4 * b.loss.abs(),
        "{name}: loss {} on {device:?}, {} on flex",
        a.loss,
        b.loss
    );
    let pairs = grad_pairs(&on_cpu, &a.grads, &b.grads);
    assert!(pairs.len() > 3, "{name}: {} gradients", pairs.len());
    for (i, (g, c)) in pairs.iter().enumerate() {
        let d = rel_diff(g, c, 1e-12);
        assert!(
            d <= 1e-3,
            "{name}: gradient of parameter {i} differs by {d:e} (relative)"
        );
    }
}

/// Every float parameter of `m`, in visiting order, on the host.
fn weights(m: &Model) -> Vec<Vec<f32>> {
    struct All(Vec<Vec<f32>>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(
                p.val()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    let mut all = All(Vec::new());
    m.visit(&mut all);
    all.0
}

/// `Model::seeded` on `device` holds exactly the weights it holds on flex. (The flex
/// generator is one per process: run where no other thread draws from it unseeded, as the
/// `wgpu::` and `tch::` tests do, alone.)
pub fn seeded_weights_match_flex(device: &Device) {
    let spec = ModelSpec::preset("cnn").unwrap();
    let input = InputShape::MNIST;
    let here = Model::seeded(&spec, input, 11, &device.clone().autodiff());
    let host = Model::seeded(&spec, input, 11, &Device::flex().autodiff());
    assert_eq!(weights(&here), weights(&host));
    let other = Model::seeded(&spec, input, 12, &Device::flex().autodiff());
    assert_ne!(
        weights(&other),
        weights(&host),
        "another seed, other weights"
    );
}

/// A tiny experiment (an MLP, 3 epochs, every scoring method, one retrain, Gaussian-noise
/// OOD) on `backend`, in `dir/exp.yaml`, results under `dir/results/w`. (lavapipe runs a
/// CNN step at tens of images a second on two cores; the presets' steps cover the other
/// kernels.)
pub fn experiment(dir: &Path, data: &Path, backend: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let methods = dynunc::score::names().join(", ");
    std::fs::write(
        dir.join("exp.yaml"),
        format!(
            "name: w\nbackend: {backend}\ndata:\n  path: {}\nmodel:\n  arch: mlp\n  hidden: 64\ntrain:\n  epochs: 3\n  batch_size: 50\n  crop_padding: 1\n  flip: true\nscoring:\n  methods: [{methods}]\n  window: 3\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\nevaluation:\n  gaussian_noise: 20\noutput:\n  dir: results\n",
            data.display()
        ),
    )
    .unwrap();
    dir.join("results/w")
}

/// The scores of `method` in a results folder, by sample.
fn scores(results: &Path, method: &str) -> Vec<f32> {
    let path = results.join(format!("work/scores/{method}.csv"));
    let mut rows = dynunc::score::rows::read_scores_unordered(&path).unwrap();
    rows.sort_by_key(|r| r.index);
    rows.into_iter().map(|r| r.score).collect()
}

/// The tiny experiment on `backend` and on flex (1,000 training images): every retrain's test
/// accuracy within 1 point, the dynamics-based scores ranked alike (Spearman above 0.95), and
/// `says` in the run's log (how the backend announced itself).
pub fn tiny_experiment_agrees_with_flex(backend: &str, says: &str) {
    let root = temp();
    let data = p(root.path(), "data");
    write_fixture(&data, 1000, 200);
    let started = std::time::Instant::now();
    let on_other = experiment(&root.path().join(backend), &data, backend);
    let o = run_exp_yaml(&root.path().join(backend), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(says), "{}", stderr(&o));
    eprintln!("the {backend} run took {:.0?}", started.elapsed());
    let on_cpu = experiment(&root.path().join("cpu"), &data, "flex");
    let o = run_exp_yaml(&root.path().join("cpu"), None);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |dir: &Path| dynunc::report::read_rows(&dir.join("main.csv")).unwrap();
    let (g, c) = (rows(&on_other), rows(&on_cpu));
    assert_eq!(g.len(), c.len());
    for (a, b) in g.iter().zip(&c) {
        assert_eq!((&a.method, a.prune_ratio), (&b.method, b.prune_ratio));
        assert!(
            (a.test_acc - b.test_acc).abs() <= 0.01,
            "{} {}: {} on {backend}, {} on flex",
            a.method,
            a.prune_ratio,
            a.test_acc,
            b.test_acc
        );
    }
    for method in ["dyn_unc", "el2n", "forgetting", "aum", "tdds"] {
        let r = dynunc::score::stability::spearman(
            &scores(&on_other, method),
            &scores(&on_cpu, method),
        );
        eprintln!("{method}: Spearman {r:.4} between {backend} and flex");
        assert!(
            r > 0.95,
            "{method}: Spearman {r} between {backend} and flex"
        );
    }
    assert!(on_other.join("ood.csv").exists());
}
