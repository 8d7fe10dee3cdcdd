//! The optimizer's fine print from the published recipes (`train.adam_eps`, `warmup_lr`,
//! `clip_grad_norm`, `weight_decay_on_norm_bias`): each step compared with steps worked out
//! here from runs without it, and the refusals.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use dynunc::data::Images;
use dynunc::data::augment::Normalize;
use dynunc::train::fit::{FitOptions, fit};
use dynunc::train::model::{InputShape, Model, ModelSpec};
use dynunc::train::optim::{RecipeDetails, skips_decay};
use dynunc::train::{Arch, OptimizerSpec, Schedule, TrainSpec, View};

use crate::common::{p, run_in, stderr, temp};

/// Every float parameter as (field name, dimensions, values), in visiting order.
struct Values {
    path: Vec<String>,
    out: Vec<(String, usize, Vec<f32>)>,
}

impl ModuleVisitor for Values {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param.val().into_data().try_to_vec::<f32>().unwrap();
        self.out
            .push((self.path.last().cloned().unwrap_or_default(), D, values));
    }
}

fn values(m: &Model) -> Vec<(String, usize, Vec<f32>)> {
    let mut v = Values {
        path: Vec::new(),
        out: Vec::new(),
    };
    m.visit(&mut v);
    v.out
}

/// A swin_mini (biases, norm scales, relative-position tables) without stochastic depth.
fn swin() -> Model {
    let mut spec = ModelSpec::preset("swin_mini").unwrap();
    if let Arch::Swin(s) = &mut spec.arch {
        s.drop_path = 0.0;
    }
    let d = Device::flex().autodiff();
    d.seed(3);
    Model::new(&spec, InputShape::MNIST, &d)
}

/// One optimizer step of batch 16 on a fixed synthetic set.
fn one_step(model: Model, optimizer: OptimizerSpec, details: RecipeDetails, lr: f64) -> Model {
    let set = crate::common::synthetic(16, 5);
    let spec = TrainSpec {
        epochs: 1,
        batch_size: 16,
        lr,
        optimizer,
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        label_smoothing: 0.0,
        augment: Default::default(),
        max_steps: Some(1),
        details,
    };
    let opts = FitOptions::new(&spec, Normalize::fit(&set), "step").seed(1);
    let d = Device::flex().autodiff();
    fit(model, &Images::from(set), &opts, &d, &mut []).unwrap()
}

#[test]
fn weight_decay_stays_off_biases_norms_and_position_tables_when_asked() {
    let m = swin();
    let off = RecipeDetails {
        no_decay_on_norm_bias: true,
        ..Default::default()
    };
    let adamw = |wd| OptimizerSpec::AdamW { weight_decay: wd };
    let all = values(&one_step(m.clone(), adamw(0.5), Default::default(), 1e-2));
    let some = values(&one_step(m.clone(), adamw(0.5), off, 1e-2));
    let none = values(&one_step(m, adamw(0.0), Default::default(), 1e-2));
    let (mut skipped, mut decayed) = (0, 0);
    for ((a, s), n) in all.iter().zip(&some).zip(&none) {
        let (name, dims) = (&s.0, s.1);
        // Each parameter steps as without decay when it skips it, as with decay otherwise.
        match skips_decay(name, dims) {
            true => {
                skipped += 1;
                assert_eq!(s.2, n.2, "{name} ({dims}-D) was decayed");
            }
            false => {
                decayed += 1;
                assert_eq!(s.2, a.2, "{name} ({dims}-D) was not decayed");
                assert_ne!(s.2, n.2, "{name}: decay made no difference");
            }
        }
    }
    assert!(
        skipped > 10 && decayed > 5,
        "{skipped} skipped, {decayed} decayed"
    );
    assert!(some.iter().any(|v| v.0 == "bias_table" && v.1 == 2));
}

#[test]
fn gradients_are_clipped_by_their_global_norm() {
    let m = swin();
    let before = values(&m);
    // Plain SGD at lr 1: a step moves each parameter by minus its gradient.
    let sgd = OptimizerSpec::Sgd {
        momentum: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let delta = |after: &[(String, usize, Vec<f32>)]| -> Vec<Vec<f64>> {
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| {
                a.2.iter()
                    .zip(&b.2)
                    .map(|(x, y)| f64::from(x - y))
                    .collect()
            })
            .collect()
    };
    let free = delta(&values(&one_step(m.clone(), sgd, Default::default(), 1.0)));
    let norm = free.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
    let max = norm / 4.0;
    let clip = RecipeDetails {
        clip_grad_norm: Some(max),
        ..Default::default()
    };
    let clipped = delta(&values(&one_step(m.clone(), sgd, clip, 1.0)));
    let factor = max / (norm + 1e-6);
    for (c, f) in clipped.iter().flatten().zip(free.iter().flatten()) {
        assert!(
            (c - f * factor).abs() <= 1e-5 * (1.0 + f.abs()),
            "{c} vs {}",
            f * factor
        );
    }
    // A bound above the norm changes nothing.
    let loose = RecipeDetails {
        clip_grad_norm: Some(norm * 2.0),
        ..Default::default()
    };
    assert_eq!(delta(&values(&one_step(m, sgd, loose, 1.0))), free);
}

#[test]
fn adam_epsilon_reaches_the_optimizer() {
    // One Adam step moves a parameter by lr * g / (|g| + eps) (bias-corrected first step):
    // a parameter with a tiny gradient moves visibly less with a large epsilon.
    let m = swin();
    let before = values(&m);
    let adam = OptimizerSpec::Adam { weight_decay: 0.0 };
    let with = |eps| RecipeDetails {
        adam_eps: Some(eps),
        ..Default::default()
    };
    let moved = |after: Vec<(String, usize, Vec<f32>)>| -> f64 {
        after
            .iter()
            .zip(&before)
            .flat_map(|(a, b)| a.2.iter().zip(&b.2).map(|(x, y)| f64::from((x - y).abs())))
            .sum()
    };
    let small = moved(values(&one_step(m.clone(), adam, with(1e-8), 1e-3)));
    let large = moved(values(&one_step(m, adam, with(1.0), 1e-3)));
    assert!(large < 0.5 * small, "eps 1: {large}, eps 1e-8: {small}");
}

#[test]
fn recipe_details_that_cannot_apply_are_refused_with_their_path() {
    let dir = temp();
    for (train, path, says) in [
        (
            "optimizer: sgd\n  adam_eps: 1.0e-8",
            "train.adam_eps:",
            "adam and adamw only",
        ),
        ("adam_eps: 0", "train.adam_eps:", "positive"),
        (
            "warmup_lr: 1.0e-6",
            "train.warmup_lr:",
            "warmup_epochs is 0",
        ),
        (
            "warmup_epochs: 1\n  warmup_lr: 0.5",
            "train.warmup_lr:",
            "[0, lr = 0.001)",
        ),
        ("clip_grad_norm: -1", "train.clip_grad_norm:", "positive"),
        (
            "weight_decay_on_norm_bias: false",
            "train.weight_decay_on_norm_bias:",
            "weight_decay is 0",
        ),
    ] {
        let file = p(dir.path(), "bad.yaml");
        std::fs::write(&file, format!("train:\n  epochs: 3\n  {train}\n")).unwrap();
        let o = run_in(dir.path(), &["run", "--dry-run", file.to_str().unwrap()]);
        let err = stderr(&o);
        let line = err
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("{train}: no {path} in {err}"));
        assert!(line.contains(says), "{train}: {line}");
    }
}

/// Records each sample's p_true of the first epoch.
#[derive(Default)]
struct PTrue(Vec<(usize, f32)>);

impl dynunc::train::Observer for PTrue {
    fn wants_outputs(&self) -> bool {
        true
    }
    fn batch_outputs(&mut self, _epoch: usize, out: dynunc::train::observer::BatchOutputs<'_>) {
        for (&i, s) in out.indices.iter().zip(out.stats) {
            self.0.push((i, s.p_true));
        }
    }
}

/// A swin_mini (layer norm, no layer scale hiding dropped branches) with stochastic depth
/// `drop`, drawn once: each comparison below trains clones of one model.
fn swin_with_drop(drop: f64) -> Model {
    let mut spec = ModelSpec::preset("swin_mini").unwrap();
    if let Arch::Swin(c) = &mut spec.arch {
        c.drop_path = drop;
    }
    Model::seeded(&spec, InputShape::MNIST, 5, &Device::flex().autodiff())
}

/// p_true recorded in one epoch of `model` with flipped training input, on the clean view in
/// `train_mode` or not.
fn clean_view(model: &Model, train_mode: bool) -> Vec<(usize, f32)> {
    let d = Device::flex().autodiff();
    let model = model.clone();
    let set = crate::common::synthetic(24, 6);
    let train = TrainSpec {
        epochs: 1,
        batch_size: 8,
        lr: 1e-3,
        optimizer: OptimizerSpec::AdamW { weight_decay: 0.0 },
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        label_smoothing: 0.0,
        augment: dynunc::train::Augment {
            flip: true,
            ..Default::default()
        },
        max_steps: None,
        details: Default::default(),
    };
    let opts =
        FitOptions::new(&train, Normalize::fit(&set), "rec").recording(View::Clean, train_mode);
    let mut rec = PTrue::default();
    fit(model, &Images::from(set), &opts, &d, &mut [&mut rec]).unwrap();
    rec.0
}

#[test]
fn the_training_mode_clean_pass_is_the_clean_batch_with_stochastic_depth() {
    // Without stochastic depth a layer-norm model's training-mode pass is its evaluation
    // pass: the same clean batch gives the same values (to f32 rounding: the autodiff and
    // plain kernels round differently).
    let still = swin_with_drop(0.0);
    let (train, eval) = (clean_view(&still, true), clean_view(&still, false));
    for (a, b) in train.iter().zip(&eval) {
        assert_eq!(a.0, b.0);
        assert!(
            (a.1 - b.1).abs() <= 1e-6 * b.1.abs().max(1e-3),
            "{a:?} vs {b:?}"
        );
    }
    // With it, the training-mode pass drops branches: the recorded values move.
    let dropping = swin_with_drop(0.5);
    let (train, eval) = (clean_view(&dropping, true), clean_view(&dropping, false));
    let moved = train
        .iter()
        .zip(&eval)
        .filter(|(a, b)| (a.1 - b.1).abs() > 1e-4)
        .count();
    assert!(moved > train.len() / 2, "{moved} of {} moved", train.len());
}
