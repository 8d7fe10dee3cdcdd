//! Data-parallel training (`devices: N`): every batch split across N model copies, their
//! gradients summed, computes what one device computes, up to float rounding.

use burn::prelude::*;
use dynunc::data::Images;
use dynunc::data::augment::Normalize;
use dynunc::train::fit::{FitOptions, derive_seed, fit};
use dynunc::train::model::{InputShape, Model, ModelSpec};
use dynunc::train::observer::BatchOutputs;
use dynunc::train::{Observer, OptimizerSpec, Schedule, TrainSpec, View};

use crate::common::synthetic;

/// Keeps every recorded logit margin and every batch loss.
#[derive(Default)]
struct Keep {
    margins: Vec<f32>,
    losses: Vec<f32>,
}

impl Observer for Keep {
    fn wants_outputs(&self) -> bool {
        true
    }
    fn batch_outputs(&mut self, _epoch: usize, outputs: BatchOutputs<'_>) {
        self.margins.extend(outputs.stats.iter().map(|s| s.margin));
    }
    fn batch_end(&mut self, _epoch: usize, _batch: usize, loss: f32, _lr: f64) {
        self.losses.push(loss);
    }
}

fn train(model: Model, replicas: usize) -> (Keep, Vec<f32>) {
    let set = synthetic(150, 5);
    let norm = Normalize::fit(&set);
    let spec = TrainSpec {
        epochs: 2,
        // 150 = 4 x 32 + 22: uneven shares across 3 devices and a short last batch.
        batch_size: 32,
        lr: 1e-3,
        optimizer: OptimizerSpec::Adam { weight_decay: 0.0 },
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        label_smoothing: 0.1,
        augment: Default::default(),
        max_steps: None,
        details: Default::default(),
    };
    let device = Device::flex().autodiff();
    let opts = FitOptions {
        spec: &spec,
        seed: 3,
        view: View::Train,
        record_train_mode: false,
        norm,
        checkpoint: None,
        label: "parallel".into(),
        replicas: vec![device.clone(); replicas - 1],
    };
    let mut keep = Keep::default();
    let images = Images::from(set.clone());
    let model = fit(model, &images, &opts, &device, &mut [&mut keep]).unwrap();
    let probe = set.take(&[0, 1, 2, 3]);
    let (_, logits) = dynunc::train::evaluate(
        &burn::module::Module::valid(&model),
        &Images::from(probe),
        &[],
        norm,
        &Device::flex(),
    )
    .unwrap();
    (keep, logits)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_batch_split_across_devices_trains_as_one_device_does() {
    for arch in ["mlp", "cnn"] {
        // One initial model for both: the device's seed is global to the test process.
        let device = Device::flex().autodiff();
        device.seed(derive_seed(3, 99u64, 0));
        let model = Model::new(
            &ModelSpec::preset(arch).unwrap(),
            InputShape::MNIST,
            &device,
        );
        let (one, final_one) = train(model.clone(), 1);
        let (three, final_three) = train(model, 3);
        assert_eq!(one.losses.len(), 10, "5 batches x 2 epochs");
        assert_eq!(
            one.margins.len(),
            2 * 150,
            "every sample recorded each epoch"
        );
        assert!(
            max_diff(&one.losses, &three.losses) < 1e-4,
            "{arch}: {:?} vs {:?}",
            one.losses,
            three.losses
        );
        assert!(
            max_diff(&one.margins, &three.margins) < 1e-3,
            "{arch}: recorded logit margins"
        );
        assert!(
            max_diff(&final_one, &final_three) < 1e-3,
            "{arch}: trained weights"
        );
        // The test can fail: training moved the model.
        assert!(max_diff(&one.margins[..150], &one.margins[150..]) > 1e-2);
    }
}
