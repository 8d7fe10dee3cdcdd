//! The training loop: owned, seeded epoch order; augmentation; optimizer steps; observers;
//! a checkpoint after every epoch so an interrupted run resumes where it stopped.

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::Checkpoint;
use super::observer::{Observer, RunInfo};
use super::pending::{Pending, Totals};
use super::schedule::rate_from;
use super::upload::HostImages;
use super::{Model, TrainError, TrainSpec, View};
use crate::data::augment::Normalize;
use crate::data::loader::Loader;
use crate::data::{ImageSet, Images};

use super::parallel::{HostBatch, Recording, loss_fns, parts, summed_grads};
pub use super::seed::{Stream, derive_seed};

/// The random-resized crop taken from each file as it is decoded (`train.crop_from: file`,
/// streamed data), with the epoch's crop seed.
fn file_crop(spec: &TrainSpec, set: &Images, seed: u64) -> Option<crate::data::FileCrop> {
    let min_area = spec.augment.resized_crop?;
    crops_files(spec, set).then_some(crate::data::FileCrop { min_area, seed })
}

/// Whether `train.crop_from: file` takes the crop from `set`'s files (streamed data).
fn crops_files(spec: &TrainSpec, set: &Images) -> bool {
    matches!(set, Images::Files(_))
        && spec.augment.crop_from == crate::data::augment::CropFrom::File
}

/// The seeded order of `n` samples in `epoch`.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let stream = derive_seed(seed, Stream::Order, epoch as u64);
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
    order
}

/// The augmentation applied to each decoded batch: the experiment's, less a crop already taken
/// from the files as they were decoded.
fn batch_augment(spec: &TrainSpec, set: &Images) -> Option<super::Augment> {
    let a = spec.augment;
    let taken = crops_files(spec, set);
    (!a.is_identity()).then_some(super::Augment {
        resized_crop: a.resized_crop.filter(|_| !taken),
        ..a
    })
}

/// Builds the `[batch, C, H, W]` input tensor of `indices`.
fn images(
    set: &ImageSet,
    indices: &[usize],
    norm: Normalize,
    aug: Option<(&super::Augment, &mut ChaCha8Rng)>,
    device: &Device,
) -> Tensor<4> {
    let shape = [indices.len(), set.channels, set.height, set.width];
    host_images(set, indices, norm, aug, device).to_device(shape, norm, device)
}

/// The (augmented, with `aug`) images of `indices` on the host, in the form `device` takes.
fn host_images(
    set: &ImageSet,
    indices: &[usize],
    norm: Normalize,
    aug: Option<(&super::Augment, &mut ChaCha8Rng)>,
    device: &Device,
) -> HostImages {
    let aug = aug.map(|(a, r)| (a, r as &mut dyn rand::RngCore));
    HostImages::build(set, indices, norm, aug, device)
}

/// Which logits observers get: the training pass's, unless the view asks for the clean input
/// or evaluation-mode layers (batch norm with running statistics, no stochastic depth) and
/// the training pass is not that; with stochastic depth active, an evaluation pass on the
/// training input is recorded unless `record_train_mode`. In training mode on the clean view,
/// a training-mode pass on the un-augmented batch (`dynamics.mode: train`).
fn recording(opts: &FitOptions<'_>, model: &Model, augmented: bool, wanted: bool) -> Recording {
    if !wanted {
        Recording::Off
    } else if opts.view == View::Clean && opts.record_train_mode {
        // Training mode: the training pass is the clean view's when nothing augments it.
        match augmented {
            true => Recording::CleanTrainPass,
            false => Recording::TrainLogits,
        }
    } else if opts.view == View::Clean && (augmented || model.has_train_only_layers()) {
        Recording::EvalPass { clean: true }
    } else if opts.view == View::Train && model.has_drop_path() && !opts.record_train_mode {
        Recording::EvalPass { clean: false }
    } else {
        Recording::TrainLogits
    }
}

/// Everything [`fit`] needs besides the model and data.
#[derive(Debug, Clone)]
pub struct FitOptions<'a> {
    /// How to train.
    pub spec: &'a TrainSpec,
    /// Seed of data order and augmentation.
    pub seed: u64,
    /// Which pass the outputs given to observers come from.
    pub view: View,
    /// Record a training-mode pass (`dynamics.mode: train`): with [`View::Train`] the
    /// training pass even when stochastic depth is active in it (otherwise a second pass
    /// without it on the same input), with [`View::Clean`] a training-mode pass on the clean
    /// batch (otherwise an evaluation-mode one).
    pub record_train_mode: bool,
    /// Input normalisation.
    pub norm: Normalize,
    /// Per-epoch checkpoint, for resuming.
    pub checkpoint: Option<Checkpoint>,
    /// Label shown by observers.
    pub label: String,
    /// More devices (autodiff) to split every batch across, beside the one given to [`fit`];
    /// empty for one device.
    pub replicas: Vec<Device>,
}

impl<'a> FitOptions<'a> {
    /// Training by `spec` on inputs normalised by `norm`, shown to observers as `label`:
    /// seed 0, the training view, no checkpoint, one device. The methods below change each.
    pub fn new(spec: &'a TrainSpec, norm: Normalize, label: impl Into<String>) -> Self {
        FitOptions {
            spec,
            seed: 0,
            view: View::Train,
            record_train_mode: false,
            norm,
            checkpoint: None,
            label: label.into(),
            replicas: Vec::new(),
        }
    }

    /// Seeds data order and augmentation with `seed`.
    pub fn seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Records from `view` (with stochastic depth active when `drop_path`).
    pub fn recording(self, view: View, drop_path: bool) -> Self {
        Self {
            view,
            record_train_mode: drop_path,
            ..self
        }
    }

    /// Checkpoints every epoch to `checkpoint` and resumes from it.
    pub fn checkpoint(self, checkpoint: Checkpoint) -> Self {
        Self {
            checkpoint: Some(checkpoint),
            ..self
        }
    }

    /// Splits every batch across these devices too (data-parallel).
    pub fn replicas(self, replicas: Vec<Device>) -> Self {
        Self { replicas, ..self }
    }
}

/// Trains `model` on every image of `set`; `device` must have autodiff enabled.
///
/// Epoch e visits the samples in a permutation seeded by (seed, e), in batches of
/// `batch_size` (the last one may be smaller); every sample is seen every epoch unless
/// `max_steps` ends training inside one. When a checkpoint exists, training resumes after its
/// last completed epoch.
pub fn fit(
    mut model: Model,
    set: &Images,
    opts: &FitOptions<'_>,
    device: &Device,
    observers: &mut [&mut dyn Observer],
) -> Result<Model, TrainError> {
    super::memory::retain_freed_memory();
    let spec = opts.spec;
    let n = set.len();
    let batches = n.div_ceil(spec.batch_size);
    let total_steps = spec.max_steps.unwrap_or(spec.epochs * batches);
    let epochs = total_steps.div_ceil(batches.max(1));
    let warmup = spec.warmup_epochs * batches;
    let mut optim = super::optim::build(spec, &model);
    let mut start = 0;
    if let Some(ck) = &opts.checkpoint
        && let Some(done) = ck.epochs_done()?
    {
        (model, optim) = ck.load(model, optim)?;
        start = done;
    }
    let info = RunInfo {
        label: opts.label.clone(),
        epochs,
        batches,
        start_epoch: start,
        samples: n,
    };
    for o in observers.iter_mut() {
        o.run_start(&info)?;
    }
    let batch_augment = batch_augment(spec, set);
    let wanted = observers.iter().any(|o| o.wants_outputs());
    let recording = recording(opts, &model, batch_augment.is_some(), wanted);
    let probabilities = wanted && observers.iter().any(|o| o.wants_probabilities());
    let devices = loss_fns(spec, device, &opts.replicas);
    // A mean cross-entropy of 100 x ln(classes) (230 for 10 classes, ~100x a fresh model's)
    // means the logits are hundreds apart in the wrong direction: training has diverged even
    // where the loss is still finite (Adam at lr 1e6 reaches 3e15 without a NaN).
    let diverged = 100.0 * (set.classes().max(2) as f32).ln();
    let mut step = start * batches;
    for epoch in start..epochs {
        if observers.iter().any(|o| o.stop_requested()) {
            break;
        }
        for o in observers.iter_mut() {
            o.epoch_start(epoch);
        }
        let order = epoch_order(n, opts.seed, epoch);
        let mut aug_rng =
            ChaCha8Rng::seed_from_u64(derive_seed(opts.seed, Stream::Augment, epoch as u64));
        let crop = file_crop(
            spec,
            set,
            derive_seed(opts.seed, Stream::Crop, epoch as u64),
        );
        let loader = Loader::cropped(set, &order, spec.batch_size, crop, recording.needs_clean());
        let mut totals = Totals::default();
        let mut pending = Pending::new(device, probabilities);
        for (b, batch) in loader.enumerate() {
            if step >= total_steps {
                break;
            }
            let batch = batch?;
            let (data, idx) = (&*batch.set, &*batch.local);
            let lr = rate_from(
                spec.details.warmup_lr,
                (spec.schedule, spec.lr),
                step,
                (total_steps, batches, warmup),
            );
            let aug = batch_augment.as_ref().map(|a| (a, &mut aug_rng));
            let stored = batch.clean.as_ref().unwrap_or(data);
            let host = HostBatch {
                train: host_images(data, idx, opts.norm, aug, device),
                clean: recording
                    .needs_clean()
                    .then(|| host_images(stored, idx, opts.norm, None, device)),
                norm: opts.norm,
                targets: idx.iter().map(|&i| i64::from(data.labels[i])).collect(),
                image: [data.channels, data.height, data.width],
                total: idx.len(),
            };
            let mut parts = parts(&model, host, (recording, probabilities), &devices)?;
            let mut grads = summed_grads(&mut parts, &model, device);
            if let Some(max) = spec.details.clip_grad_norm {
                super::optim::clip_global_norm(&model, &mut grads, max);
            }
            model = optim.step(lr, model, grads);
            step += 1;
            pending.push(b, lr, &batch, parts);
            if pending.due() {
                pending.read(epoch, diverged, observers, &mut totals)?;
            }
        }
        pending.read(epoch, diverged, observers, &mut totals)?;
        let mean_loss = (totals.loss / totals.batches.max(1) as f64) as f32;
        for o in observers.iter_mut() {
            o.epoch_end(epoch, mean_loss)?;
            o.epoch_model(epoch, &model)?;
        }
        if let Some(ck) = &opts.checkpoint {
            ck.save(&model, &optim, epoch + 1)?;
        }
    }
    for o in observers.iter_mut() {
        o.run_end();
    }
    Ok(model)
}

/// Top-1 accuracy of `model` (without autodiff) on `set`, and the logits (row-major); with
/// `columns` (a test split of fewer classes, [`crate::data::Splits::test_columns`]), both
/// over those outputs only.
pub fn evaluate(
    model: &Model,
    set: &Images,
    columns: &[u32],
    norm: Normalize,
    device: &Device,
) -> Result<(f64, Vec<f32>), TrainError> {
    let mut correct = 0usize;
    let mut all = Vec::new();
    let indices: Vec<usize> = (0..set.len()).collect();
    for batch in Loader::new(set, &indices, 500) {
        let batch = batch?;
        let idx = &*batch.local;
        let logits = model.forward(images(&batch.set, idx, norm, None, device));
        let data = logits.into_data();
        let values = data
            .as_slice::<f32>()
            .map_err(|e| TrainError::Backend(format!("{e:?}")))?;
        let values = crate::eval::restrict(values, values.len() / idx.len(), columns);
        let classes = values.len() / idx.len();
        for (row, &i) in values.chunks_exact(classes).zip(idx) {
            correct += usize::from(crate::eval::argmax(row) == batch.set.labels[i]);
        }
        all.extend_from_slice(&values);
    }
    Ok((correct as f64 / set.len().max(1) as f64, all))
}
