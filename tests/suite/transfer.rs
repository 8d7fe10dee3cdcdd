//! The GPU path's pieces, checked on any device (flex here, wgpu in `wgpu.rs`): the recorded
//! fields computed as tensors against the host definition, pixels normalised as tensors
//! against the host's floats, and a seeded model's weights all drawn before it moves.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use dynunc::data::ImageSet;
use dynunc::data::augment::{self, Augment, Normalize};
use dynunc::dynamics::SampleStats;
use dynunc::train::model::{InputShape, Model, ModelSpec};
use dynunc::train::stats;
use dynunc::train::upload::HostImages;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Logits that exercise the edge cases: ordinary rows, a very confident row, a tie for the
/// largest logit, rows hundreds apart, and 1,000 classes.
fn logit_rows(classes: usize, rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(classes * rows);
    for r in 0..rows {
        let scale = [1.0f32, 5.0, 40.0, 300.0][r % 4];
        out.extend((0..classes).map(|_| (rng.random::<f32>() - 0.5) * scale));
    }
    if rows > 2 && classes > 2 {
        out[classes] = 1e4; // one class far ahead
        out[2 * classes] = out[2 * classes + 1]; // a tie at row 2, classes 0 and 1
        out[2 * classes + 2] = out[2 * classes] - 1.0;
    }
    out
}

/// `fields` on `device` against [`SampleStats::from_logits`]: every value within 1e-5 of
/// the host's (relative to the value's size where above 1), `correct` equal.
pub fn fields_match_host(device: &Device) {
    for (classes, rows) in [(10, 37), (2, 8), (1000, 6)] {
        let logits = logit_rows(classes, rows, classes as u64);
        let labels: Vec<i64> = (0..rows).map(|r| ((r * 7) % classes) as i64).collect();
        let t = Tensor::<2>::from_data(TensorData::new(logits.clone(), [rows, classes]), device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [rows]), device);
        // With the softmax after the seven fields (what the recorder of `drift` reads).
        let values = stats::fields(t, y, true)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let width = stats::FIELDS + classes;
        assert_eq!(values.len(), rows * width);
        let got: Vec<SampleStats> = values.chunks_exact(width).map(stats::sample).collect();
        for (r, (values, row)) in values
            .chunks_exact(width)
            .zip(logits.chunks_exact(classes))
            .enumerate()
        {
            let mut want = Vec::new();
            dynunc::dynamics::softmax_into(row, &mut want);
            for (c, (a, b)) in values[stats::FIELDS..].iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6,
                    "{classes} classes, row {r}, p_{c}: device {a}, host {b}"
                );
            }
        }
        for (r, (g, row)) in got.iter().zip(logits.chunks_exact(classes)).enumerate() {
            let want = SampleStats::from_logits(row, labels[r] as usize);
            let pairs = [
                ("p_true", g.p_true, want.p_true),
                ("el2n", g.el2n, want.el2n),
                ("margin", g.margin, want.margin),
                ("entropy", g.entropy, want.entropy),
                ("max_prob", g.max_prob, want.max_prob),
                ("top2_gap", g.top2_gap, want.top2_gap),
            ];
            for (name, a, b) in pairs {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{classes} classes, row {r}, {name}: device {a}, host {b}"
                );
            }
            assert_eq!(g.correct, want.correct, "{classes} classes, row {r}");
        }
    }
}

#[test]
fn recorded_fields_as_tensors_equal_the_host_definition() {
    fields_match_host(&Device::flex());
}

/// A 3-channel 9x7 image set with every pixel value present.
fn rgb_set() -> ImageSet {
    let n = 5;
    ImageSet {
        pixels: (0..n * 9 * 7 * 3).map(|i| (i * 37 % 256) as u8).collect(),
        labels: vec![0, 1, 2, 0, 1],
        height: 9,
        width: 7,
        channels: 3,
        classes: 3,
    }
}

/// The batch `device` is given (pixels normalised there, or the host's floats) against the
/// host's floats built with the same augmentation draws: within 1e-6.
pub fn pixels_match_host_floats(device: &Device) {
    let set = rgb_set();
    let norm = Normalize::IMAGENET;
    let aug = Augment {
        crop_padding: 2,
        flip: true,
        ..Augment::default()
    };
    let idx = [4, 0, 2];
    let build = |device: &Device| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        HostImages::build(&set, &idx, norm, Some((&aug, &mut rng)), device)
    };
    let pixels = build(device);
    let floats = build(&Device::flex());
    let HostImages::Floats(want) = floats else {
        panic!("the host backend takes floats")
    };
    let shape = [idx.len(), 3, 9, 7];
    let got = pixels.to_device(shape, norm, device).into_data();
    let got = got.try_into_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "value {i}: {a} vs {b}"
        );
    }
}

#[test]
fn pixels_normalised_as_tensors_equal_the_host_floats() {
    let set = rgb_set();
    let norm = Normalize::IMAGENET;
    // 189 and 378 values: the last word is part padding in the first.
    for n in [1, 2] {
        let idx: Vec<usize> = (0..n).collect();
        let (mut pixels, mut want) = (Vec::new(), Vec::new());
        augment::fill_pixels(&set, &idx, None, &mut pixels);
        augment::fill_batch(&set, &idx, norm, None, &mut want);
        let got = HostImages::Pixels(pixels)
            .to_device([n, 3, 9, 7], norm, &Device::flex())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{n} images, value {i}: {a} vs {b}"
            );
        }
    }
    pixels_match_host_floats(&Device::flex());
}

#[test]
fn a_seeded_model_has_drawn_every_weight_on_the_host() {
    // Burn draws a parameter at its first use, from the generator of the device it is on by
    // then; a seeded model has drawn them all before it is moved.
    struct Drawn(Vec<bool>);
    impl ModuleVisitor for Drawn {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.is_initialized());
        }
    }
    for name in ["cnn", "resnet_mini", "swin_mini"] {
        let spec = ModelSpec::preset(name).unwrap();
        let d = Device::flex().autodiff();
        let mut lazy = Drawn(Vec::new());
        Model::new(&spec, InputShape::MNIST, &d).visit(&mut lazy);
        assert!(
            lazy.0.iter().any(|i| !i),
            "{name}: Burn's own build is lazy"
        );
        let mut seeded = Drawn(Vec::new());
        Model::seeded(&spec, InputShape::MNIST, 5, &d).visit(&mut seeded);
        assert!(seeded.0.iter().all(|i| *i), "{name}: every weight drawn");
        let head = Model::seeded(&spec, InputShape::MNIST, 5, &d).with_classes_seeded(3, 6, &d);
        let mut drawn = Drawn(Vec::new());
        head.visit(&mut drawn);
        assert!(drawn.0.iter().all(|i| *i), "{name}: the new head drawn too");
    }
}
