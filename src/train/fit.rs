//! The training loop: owned, seeded epoch order; augmentation; optimizer steps; observers;
//! a checkpoint after every epoch so an interrupted run resumes where it stopped.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamConfig, AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer, SgdConfig,
};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::Checkpoint;
use super::observer::{BatchOutputs, Observer, RunInfo};
use super::schedule::rate;
use super::{Model, OptimizerSpec, TrainError, TrainSpec, View};
use crate::data::augment::{Normalize, fill_batch};
use crate::data::loader::Loader;
use crate::data::{ImageSet, Images};

pub use super::seed::{Stream, derive_seed};

fn optimizer(spec: &TrainSpec) -> ModuleOptimizer {
    let decay = |wd: f64| (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32));
    match spec.optimizer {
        OptimizerSpec::Adam { weight_decay } => AdamConfig::new()
            .with_weight_decay(decay(weight_decay))
            .init(),
        OptimizerSpec::AdamW { weight_decay } => AdamWConfig::new()
            .with_weight_decay(weight_decay as f32)
            .init(),
        OptimizerSpec::Sgd {
            momentum,
            weight_decay,
        } => SgdConfig::new()
            .with_weight_decay(decay(weight_decay))
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
            }))
            .init(),
    }
}

/// Builds the `[batch, C, H, W]` input tensor of `indices`.
fn images(
    set: &ImageSet,
    indices: &[usize],
    norm: Normalize,
    aug: Option<(&super::Augment, &mut ChaCha8Rng)>,
    device: &Device,
) -> Tensor<4> {
    let values = host_images(set, indices, norm, aug);
    let shape = [indices.len(), set.channels, set.height, set.width];
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The normalised (and, with `aug`, augmented) CHW values of `indices`, on the host.
fn host_images(
    set: &ImageSet,
    indices: &[usize],
    norm: Normalize,
    aug: Option<(&super::Augment, &mut ChaCha8Rng)>,
) -> Vec<f32> {
    let mut values = Vec::with_capacity(indices.len() * set.image_len());
    fill_batch(
        set,
        indices,
        norm,
        aug.map(|(a, r)| (a, r as &mut dyn rand::RngCore)),
        &mut values,
    );
    values
}

/// Which logits observers are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recording {
    /// None: no observer wants them.
    Off,
    /// The training pass's.
    TrainLogits,
    /// An evaluation-mode pass on the training input (`clean: false`) or on the un-augmented
    /// batch (`clean: true`).
    EvalPass { clean: bool },
}

/// Rows of one batch on the host: training input, the un-augmented input when recorded,
/// targets, and the size of the whole batch they belong to.
struct HostBatch {
    train: Vec<f32>,
    clean: Option<Vec<f32>>,
    targets: Vec<i64>,
    /// (channels, height, width).
    image: [usize; 3],
    /// Samples in the whole batch (these rows are all of it, or one device's share).
    total: usize,
}

impl HostBatch {
    /// The batch in `k` contiguous shares as equal as can be, none empty; one share is the
    /// batch itself, moved, not copied.
    fn split(self, k: usize) -> Vec<HostBatch> {
        let n = self.targets.len();
        let k = k.clamp(1, n.max(1));
        if k == 1 {
            return vec![self];
        }
        let per = self.image.iter().product::<usize>();
        (0..k)
            .map(|i| (i * n / k)..((i + 1) * n / k))
            .filter(|r| !r.is_empty())
            .map(|r| HostBatch {
                train: self.train[r.start * per..r.end * per].to_vec(),
                clean: self
                    .clean
                    .as_ref()
                    .map(|c| c[r.start * per..r.end * per].to_vec()),
                targets: self.targets[r].to_vec(),
                image: self.image,
                total: n,
            })
            .collect()
    }
}

/// What one device computes for its rows of a batch: its share of the batch's mean loss, the
/// gradients of that share, and the logits observers are given.
struct Part {
    loss: f32,
    grads: GradientsParams,
    recorded: Option<Vec<f32>>,
}

/// Forward and backward of `model` (on `device`, autodiff) over the rows in `batch`.
fn part(
    model: &Model,
    batch: HostBatch,
    recording: Recording,
    loss_fn: &CrossEntropyLoss,
    device: &Device,
) -> Result<Part, TrainError> {
    let [c, h, w] = batch.image;
    let (n, total) = (batch.targets.len(), batch.total);
    let tensor = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [n, c, h, w]), device);
    let x = tensor(batch.train);
    let y = Tensor::<1, Int>::from_data(TensorData::new(batch.targets, [n]), device);
    let (logits, train_input) = match recording {
        Recording::EvalPass { clean: false } => (model.forward(x.clone()), Some(x.inner())),
        _ => (model.forward(x), None),
    };
    let recorded = match recording {
        Recording::Off => None,
        Recording::TrainLogits => Some(logits.clone().inner()),
        Recording::EvalPass { clean: true } => {
            let clean = batch.clean.expect("a clean view has the clean batch");
            Some(model.valid().forward(tensor(clean).inner()))
        }
        Recording::EvalPass { clean: false } => {
            Some(model.valid().forward(train_input.expect("kept above")))
        }
    };
    let recorded = match recorded {
        None => None,
        Some(t) => Some(
            t.into_data()
                .try_into_vec::<f32>()
                .map_err(|e| TrainError::Backend(format!("{e:?}")))?,
        ),
    };
    let mut loss = loss_fn.forward(logits, y);
    if n != total {
        // This device's share of the batch's mean loss: the shares' gradients sum to the
        // gradient of the whole batch.
        loss = loss * (n as f32 / total as f32);
    }
    let value: f32 = loss.clone().into_scalar();
    let grads = if value.is_finite() {
        GradientsParams::from_grads(loss.backward(), model)
    } else {
        GradientsParams::new()
    };
    Ok(Part {
        loss: value,
        grads,
        recorded,
    })
}

/// The parts of one batch: on `devices[0]` alone, or split across the devices, each on a
/// thread with its own copy of the model (data parallelism, as Burn's multi-device learner).
fn parts(
    model: &Model,
    batch: HostBatch,
    recording: Recording,
    devices: &[(Device, CrossEntropyLoss)],
) -> Result<Vec<Part>, TrainError> {
    if devices.len() <= 1 {
        let (device, loss_fn) = &devices[0];
        return Ok(vec![part(model, batch, recording, loss_fn, device)?]);
    }
    std::thread::scope(|s| {
        let workers: Vec<_> = batch
            .split(devices.len())
            .into_iter()
            .zip(devices)
            .map(|(share, (device, loss_fn))| {
                let replica = model.clone().fork(device);
                s.spawn(move || part(&replica, share, recording, loss_fn, device))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a training worker panicked"))
            .collect()
    })
}

/// Which logits observers get: the training pass's, unless the view asks for the clean input
/// or evaluation-mode layers (batch norm with running statistics, no stochastic depth) and
/// the training pass is not that; with stochastic depth active, an evaluation pass on the
/// training input is recorded unless `record_drop_path`.
fn recording(opts: &FitOptions<'_>, model: &Model, augmented: bool, wanted: bool) -> Recording {
    if !wanted {
        Recording::Off
    } else if opts.view == View::Clean && (augmented || model.has_train_only_layers()) {
        Recording::EvalPass { clean: true }
    } else if opts.view == View::Train && model.has_drop_path() && !opts.record_drop_path {
        Recording::EvalPass { clean: false }
    } else {
        Recording::TrainLogits
    }
}

/// The devices a batch is split across, each with its loss function.
fn loss_fns(
    spec: &TrainSpec,
    device: &Device,
    replicas: &[Device],
) -> Vec<(Device, CrossEntropyLoss)> {
    std::iter::once(device)
        .chain(replicas)
        .map(|d| {
            let loss = CrossEntropyLossConfig::new()
                .with_smoothing((spec.label_smoothing > 0.0).then_some(spec.label_smoothing))
                .init(d);
            (d.clone(), loss)
        })
        .collect()
}

/// Hands the recorded logits of a batch's parts, in batch order, to the observers.
fn give_outputs(
    parts: &[Part],
    batch: &crate::data::loader::Batch<'_>,
    epoch: usize,
    observers: &mut [&mut dyn Observer],
) {
    let values: Vec<f32> = parts
        .iter()
        .flat_map(|p| p.recorded.as_deref().unwrap_or_default())
        .copied()
        .collect();
    let labels = batch.labels();
    let outputs = BatchOutputs {
        indices: batch.global,
        labels: &labels,
        logits: &values,
        classes: values.len() / batch.local.len(),
    };
    for o in observers.iter_mut() {
        o.batch_outputs(epoch, outputs);
    }
}

/// The parts' gradients summed on `device` (the one part's as they are).
fn summed_grads(parts: Vec<Part>, model: &Model, device: &Device) -> GradientsParams {
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part").grads;
    }
    let mut sum = GradientsAccumulator::new();
    for p in parts {
        sum.accumulate(model, p.grads.to_device(device, model));
    }
    sum.grads()
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
    /// With [`View::Train`], record the training pass even when stochastic depth is active
    /// in it (otherwise a second, evaluation-mode pass on the same input is recorded).
    pub record_drop_path: bool,
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
            record_drop_path: false,
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
            record_drop_path: drop_path,
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
    let spec = opts.spec;
    let n = set.len();
    let batches = n.div_ceil(spec.batch_size);
    let total_steps = spec.max_steps.unwrap_or(spec.epochs * batches);
    let epochs = total_steps.div_ceil(batches.max(1));
    let warmup = spec.warmup_epochs * batches;
    let mut optim = optimizer(spec);
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
    let augment = (!spec.augment.is_identity()).then_some(&spec.augment);
    let wanted = observers.iter().any(|o| o.wants_outputs());
    let recording = recording(opts, &model, augment.is_some(), wanted);
    let devices = loss_fns(spec, device, &opts.replicas);
    // A mean cross-entropy of 100 x ln(classes) (230 for 10 classes, ~100x a fresh model's)
    // means the logits are hundreds apart in the wrong direction: training has diverged even
    // where the loss is still finite (Adam at lr 1e6 reaches 3e15 without a NaN).
    let diverged = 100.0 * (set.classes().max(2) as f32).ln();
    let mut step = start * batches;
    for epoch in start..epochs {
        for o in observers.iter_mut() {
            o.epoch_start(epoch);
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            opts.seed,
            Stream::Order,
            epoch as u64,
        )));
        let mut aug_rng =
            ChaCha8Rng::seed_from_u64(derive_seed(opts.seed, Stream::Augment, epoch as u64));
        let mut loss_sum = 0.0f64;
        let mut batches_run = 0;
        for (b, batch) in Loader::new(set, &order, spec.batch_size).enumerate() {
            if step >= total_steps {
                break;
            }
            let batch = batch?;
            let (data, idx) = (&*batch.set, &*batch.local);
            let lr = rate(spec.schedule, spec.lr, step, total_steps, batches, warmup);
            let host = HostBatch {
                train: host_images(data, idx, opts.norm, augment.map(|a| (a, &mut aug_rng))),
                clean: (recording == Recording::EvalPass { clean: true })
                    .then(|| host_images(data, idx, opts.norm, None)),
                targets: idx.iter().map(|&i| i64::from(data.labels[i])).collect(),
                image: [data.channels, data.height, data.width],
                total: idx.len(),
            };
            let parts = parts(&model, host, recording, &devices)?;
            if recording != Recording::Off {
                give_outputs(&parts, &batch, epoch, observers);
            }
            let loss_value: f32 = parts.iter().map(|p| p.loss).sum();
            if !loss_value.is_finite() || loss_value > diverged {
                return Err(TrainError::NonFiniteLoss {
                    loss: loss_value,
                    epoch: epoch + 1,
                    batch: b + 1,
                    lr,
                });
            }
            let grads = summed_grads(parts, &model, device);
            model = optim.step(lr, model, grads);
            step += 1;
            batches_run += 1;
            loss_sum += f64::from(loss_value);
            for o in observers.iter_mut() {
                o.batch_end(epoch, b, loss_value, lr);
            }
        }
        let mean_loss = (loss_sum / batches_run.max(1) as f64) as f32;
        for o in observers.iter_mut() {
            o.epoch_end(epoch, mean_loss)?;
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

/// Top-1 accuracy of `model` (without autodiff) on `set`, and the logits (row-major).
pub fn evaluate(
    model: &Model,
    set: &Images,
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
        let classes = values.len() / idx.len();
        for (row, &i) in values.chunks_exact(classes).zip(idx) {
            correct += usize::from(crate::eval::argmax(row) == batch.set.labels[i]);
        }
        all.extend_from_slice(values);
    }
    Ok((correct as f64 / set.len().max(1) as f64, all))
}
