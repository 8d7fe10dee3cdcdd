//! The model zoo: reference parameter counts, forward and backward shapes at ImageNet size
//! and at 28x28, Swin's window geometry against hand-worked cases, stochastic depth.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use dynunc::train::model::blocks::DropPath;
use dynunc::train::model::swin::{relative_position_index, shift_mask};
use dynunc::train::model::{InputShape, Model, ModelSpec, presets};

fn device() -> Device {
    Device::flex()
}

fn model(name: &str, input: InputShape, device: &Device) -> Model {
    let spec = ModelSpec::preset(name).expect("preset exists");
    assert!(
        spec.check(input).is_empty(),
        "{name}: {:?}",
        spec.check(input)
    );
    Model::new(&spec, input, device)
}

/// torchvision / timm / the original repositories, at 224x224x3 and 1000 classes.
#[test]
fn imagenet_parameter_counts_equal_the_reference_implementations() {
    let d = device().autodiff();
    for (name, expected) in [
        ("resnet18", 11_689_512),
        ("resnet50", 25_557_032),
        ("convnext_tiny", 28_589_128),
        ("swin_tiny", 28_288_354),
        // DeiT-Ti's 5,717,416 less its class token and the class token's position (2 x 192):
        // patch embedding 147,648 + positions 37,632 + 12 blocks x 444,864 + norm 384 + head
        // 193,000.
        ("vit_tiny", 5_717_032),
    ] {
        let m = model(name, InputShape::IMAGENET, &d);
        assert_eq!(m.trainable_params(), expected, "{name}");
    }
}

/// ResNet-18 for CIFAR-10 as CCS, TDDS and DUAL build it (kuangliu's pytorch-cifar layout:
/// 3x3 stride-1 stem, no max-pool, torchvision's 1x1-conv shortcuts): 11,173,962 parameters
/// at 32x32x3 and 10 classes, and it runs forward and backward there.
#[test]
fn resnet18_cifar_has_the_fields_parameter_count() {
    let d = device().autodiff();
    let cifar = InputShape {
        channels: 3,
        height: 32,
        width: 32,
        classes: 10,
    };
    assert_eq!(
        model("resnet18_cifar", cifar, &d).trainable_params(),
        11_173_962
    );
    forward_backward("resnet18_cifar", cifar, 2);
}

/// Runs one forward and backward pass and checks the logits' shape and that every
/// parameter received a gradient of its own shape.
fn forward_backward(name: &str, input: InputShape, batch: usize) {
    let d = device().autodiff();
    d.seed(7);
    let m = model(name, input, &d);
    let x = Tensor::<4>::random(
        [batch, input.channels, input.height, input.width],
        Distribution::Normal(0.0, 1.0),
        &d,
    );
    let logits = m.forward(x);
    assert_eq!(logits.dims(), [batch, input.classes], "{name}");
    let values = logits.clone().inner().into_data();
    assert!(
        values
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite()),
        "{name}: non-finite logits"
    );
    let grads = logits.sum().backward();
    let grads = burn::optim::GradientsParams::from_grads(grads, &m);
    let mut check = GradCheck {
        grads: &grads,
        params: 0,
        missing: 0,
    };
    m.visit(&mut check);
    assert!(check.params > 0);
    if !name.starts_with("resnet") {
        // Only batch norm keeps buffers; anything else that does not train is a bug.
        assert_eq!(
            m.trainable_params(),
            m.num_params(),
            "{name}: untrainable parameters"
        );
    }
    assert_eq!(check.missing, 0, "{name}: parameters without a gradient");
}

/// Counts parameters and those without a gradient of their own shape.
struct GradCheck<'a> {
    grads: &'a burn::optim::GradientsParams,
    params: usize,
    missing: usize,
}

impl ModuleVisitor for GradCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.val().is_require_grad() {
            return; // batch-norm running statistics
        }
        self.params += 1;
        match self.grads.get::<D>(param.id) {
            Some(g) if g.dims() == param.val().dims() => {}
            _ => self.missing += 1,
        }
    }
}

#[test]
fn imagenet_models_run_forward_and_backward_at_224() {
    for name in [
        "resnet18",
        "resnet50",
        "convnext_tiny",
        "swin_tiny",
        "vit_tiny",
    ] {
        forward_backward(name, InputShape::IMAGENET, 1);
    }
}

#[test]
fn every_preset_for_small_inputs_runs_at_28x28() {
    for name in [
        "mlp",
        "cnn",
        "resnet_mini",
        "convnext_mini",
        "swin_mini",
        "vit_mini",
        "resnet18",
    ] {
        forward_backward(name, InputShape::MNIST, 3);
    }
}

#[test]
fn the_full_size_swin_does_not_fit_28x28_and_says_why() {
    let spec = ModelSpec::preset("swin_tiny").unwrap();
    let problems = spec.check(InputShape::MNIST);
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .any(|(key, msg)| *key == "depths" && msg.contains("cannot halve")),
        "{problems:?}"
    );
}

#[test]
fn every_preset_is_listed_once_and_builds() {
    let mut names: Vec<_> = presets().map(|p| p.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), presets().count());
}

/// Window 2 on a 2x2 grid of windows: index = (dy + 1) * 3 + (dx + 1).
#[test]
fn relative_position_index_matches_a_hand_worked_window() {
    assert_eq!(
        relative_position_index(2),
        vec![4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]
    );
}

/// A 4x4 grid, window 2, shift 1. Regions per axis after the cyclic shift: [0, 2) -> 0,
/// [2, 3) -> 1, [3, 4) -> 2; a token's id is 3 * row region + column region:
///
/// ```text
/// 0 0 | 1 2
/// 0 0 | 1 2
/// ----+----
/// 3 3 | 4 5
/// 6 6 | 7 8
/// ```
#[test]
fn shifted_window_mask_matches_a_hand_worked_grid() {
    let mask = shift_mask(4, 4, 2, 1);
    assert_eq!(mask.len(), 4 * 16);
    let x = -100.0;
    #[rustfmt::skip]
    let expected: Vec<f32> = [
        // window 0: ids 0 0 0 0
        [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
        // window 1: ids 1 2 1 2
        [0.0, x, 0.0, x], [x, 0.0, x, 0.0], [0.0, x, 0.0, x], [x, 0.0, x, 0.0],
        // window 2: ids 3 3 6 6
        [0.0, 0.0, x, x], [0.0, 0.0, x, x], [x, x, 0.0, 0.0], [x, x, 0.0, 0.0],
        // window 3: ids 4 5 7 8
        [0.0, x, x, x], [x, 0.0, x, x], [x, x, 0.0, x], [x, x, x, 0.0],
    ]
    .concat();
    assert_eq!(mask, expected);
}

#[test]
fn drop_path_is_identity_in_evaluation_and_drops_whole_samples_in_training() {
    let drop = DropPath::new(0.5);
    let x = Tensor::<2>::ones([400, 3], &device());
    assert_eq!(
        drop.forward(x.clone())
            .into_data()
            .as_slice::<f32>()
            .unwrap(),
        x.into_data().as_slice::<f32>().unwrap()
    );
    let d = device().autodiff();
    d.seed(1);
    let y = drop
        .forward(Tensor::<2>::ones([400, 3], &d))
        .inner()
        .into_data();
    let rows: Vec<&[f32]> = y.as_slice::<f32>().unwrap().chunks(3).collect();
    let kept = rows.iter().filter(|r| r.iter().all(|&v| v == 2.0)).count();
    let dropped = rows.iter().filter(|r| r.iter().all(|&v| v == 0.0)).count();
    assert_eq!(
        kept + dropped,
        400,
        "a sample is kept or dropped whole, survivors scaled by 2"
    );
    assert!((150..250).contains(&kept), "{kept} of 400 kept at rate 0.5");
}

/// Fine-tuning's new classifier: the logits get the new class count, the parameters change by
/// exactly the classifier's (inputs + 1) x (new - old), every one trains, and every other
/// parameter is the trained one, value for value.
#[test]
fn a_new_classifier_keeps_the_body_and_changes_only_the_head() {
    let device = device().autodiff();
    for name in ["mlp", "cnn", "resnet_mini", "convnext_mini", "swin_mini"] {
        let m = model(name, InputShape::MNIST, &device);
        let before = m.trainable_params();
        let old_params = Values::of(&m);
        let m = m.with_classes(4, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let logits = m.forward(x);
        assert_eq!(logits.dims(), [2, 4], "{name}");
        let after = m.trainable_params();
        // 10 -> 4 classes: 6 x (classifier inputs + 1) parameters fewer.
        assert_eq!((before - after) % 6, 0, "{name}");
        let new_params = Values::of(&m);
        let kept = new_params
            .0
            .iter()
            .filter(|p| old_params.0.contains(p))
            .count();
        assert_eq!(
            kept,
            old_params.0.len() - 2,
            "{name}: all but the classifier's weight and bias kept"
        );
        assert_eq!(new_params.0.len(), old_params.0.len(), "{name}");
        let grads = burn::optim::GradientsParams::from_grads(logits.sum().backward(), &m);
        let mut check = GradCheck {
            grads: &grads,
            params: 0,
            missing: 0,
        };
        m.visit(&mut check);
        assert_eq!(check.missing, 0, "{name}: parameters without a gradient");
    }
}

/// Every float parameter of a module: its id and its values.
struct Values(Vec<(String, Vec<f32>)>);

impl Values {
    fn of(m: &Model) -> Self {
        let mut v = Values(Vec::new());
        m.visit(&mut v);
        v
    }
}

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        self.0.push((
            param.id.to_string(),
            data.as_slice::<f32>().unwrap().to_vec(),
        ));
    }
}

/// Swin keeps its window constants (relative-position index, shifted-window mask) as device
/// tensors outside the saved record: a run stopped after one epoch and resumed from its
/// checkpoint ends with the model an uninterrupted run ends with.
#[test]
fn a_swin_checkpoint_resumes_to_the_same_model() {
    use dynunc::data::Images;
    use dynunc::data::augment::Normalize;
    use dynunc::train::Checkpoint;
    use dynunc::train::fit::{FitOptions, fit};
    use dynunc::train::{Arch, OptimizerSpec, Schedule, TrainSpec, View};
    let set = crate::common::synthetic(48, 9);
    let images = Images::from(set.clone());
    let mut spec = ModelSpec::preset("swin_mini").unwrap();
    if let Arch::Swin(s) = &mut spec.arch {
        s.drop_path = 0.0; // stochastic depth draws from the process-wide generator
    }
    let d = device().autodiff();
    d.seed(4);
    let initial = Model::new(&spec, InputShape::MNIST, &d);
    let train = |epochs: usize, model: Model, checkpoint: Option<Checkpoint>| {
        let spec = TrainSpec {
            epochs,
            batch_size: 16,
            lr: 1e-3,
            optimizer: OptimizerSpec::AdamW { weight_decay: 0.05 },
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            label_smoothing: 0.0,
            augment: Default::default(),
            max_steps: None,
            details: Default::default(),
        };
        let opts = FitOptions {
            spec: &spec,
            seed: 1,
            view: View::Train,
            record_train_mode: false,
            norm: Normalize::fit(&set),
            checkpoint,
            label: "swin".into(),
            replicas: Vec::new(),
        };
        fit(model, &images, &opts, &d, &mut []).unwrap()
    };
    let dir = crate::common::temp();
    let ck = Checkpoint::new(dir.path().join("ck"));
    train(1, initial.clone(), Some(ck.clone()));
    let resumed = train(2, initial.clone(), Some(ck));
    let straight = train(2, initial, None);
    let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Default, &device());
    let logits = |m: &Model| {
        burn::module::Module::valid(m)
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(logits(&resumed), logits(&straight));
}
