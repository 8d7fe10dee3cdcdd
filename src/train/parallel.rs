//! One training batch on one device or split across several (data parallelism, as Burn's
//! multi-device learner): each device's forward and backward over its share of the rows, the
//! logits the observers are given, and the gradients summed on the first device.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use super::backend::is_host;
use super::stats;
use super::upload::HostImages;
use super::{Model, TrainError, TrainSpec};
use crate::data::augment::Normalize;

/// Which logits observers are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recording {
    /// None: no observer wants them.
    Off,
    /// The training pass's.
    TrainLogits,
    /// An evaluation-mode pass on the training input (`clean: false`) or on the un-augmented
    /// batch (`clean: true`).
    EvalPass { clean: bool },
    /// A training-mode pass (stochastic depth active) on the un-augmented batch.
    CleanTrainPass,
}

impl Recording {
    /// Whether the un-augmented batch is needed.
    pub(super) fn needs_clean(self) -> bool {
        matches!(
            self,
            Recording::EvalPass { clean: true } | Recording::CleanTrainPass
        )
    }
}

/// Rows of one batch on the host: training input, the un-augmented input when recorded,
/// targets, and the size of the whole batch they belong to.
pub(super) struct HostBatch {
    pub(super) train: HostImages,
    pub(super) clean: Option<HostImages>,
    pub(super) norm: Normalize,
    pub(super) targets: Vec<i64>,
    /// (channels, height, width).
    pub(super) image: [usize; 3],
    /// Samples in the whole batch (these rows are all of it, or one device's share).
    pub(super) total: usize,
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
                train: self.train.rows(r.clone(), per),
                clean: self.clean.as_ref().map(|c| c.rows(r.clone(), per)),
                norm: self.norm,
                targets: self.targets[r].to_vec(),
                image: self.image,
                total: n,
            })
            .collect()
    }
}

/// What one device computes for its rows of a batch: its share of the batch's mean loss, the
/// gradients of that share, and what is recorded (logits on the host backend, the recorded
/// fields elsewhere); loss and recorded rows stay on the device until read.
pub(super) struct Part {
    pub(super) loss: Tensor<1>,
    pub(super) grads: GradientsParams,
    pub(super) recorded: Option<Tensor<2>>,
}

/// Forward and backward of `model` (on `device`, autodiff) over the rows in `batch`; with
/// `probabilities`, the recorded rows off the host carry each sample's softmax too.
fn part(
    model: &Model,
    batch: HostBatch,
    (recording, probabilities): (Recording, bool),
    loss_fn: &CrossEntropyLoss,
    device: &Device,
) -> Result<Part, TrainError> {
    let [c, h, w] = batch.image;
    let (n, total) = (batch.targets.len(), batch.total);
    let shape = [n, c, h, w];
    let x = batch.train.to_device(shape, batch.norm, device);
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
            let clean = clean.to_device(shape, batch.norm, &device.clone().inner());
            Some(model.valid().forward(clean))
        }
        Recording::EvalPass { clean: false } => {
            Some(model.valid().forward(train_input.expect("kept above")))
        }
        Recording::CleanTrainPass => {
            let clean = batch.clean.expect("a clean view has the clean batch");
            Some(
                model
                    .forward(clean.to_device(shape, batch.norm, device))
                    .inner(),
            )
        }
    };
    // Off the host, the recorded fields are computed where the logits are (7 values a
    // sample cross to the host, not the logits).
    let recorded = match recorded {
        Some(logits) if !is_host(device) => {
            Some(stats::fields(logits, y.clone().inner(), probabilities))
        }
        other => other,
    };
    let mut loss = loss_fn.forward(logits, y);
    if n != total {
        // This device's share of the batch's mean loss: the shares' gradients sum to the
        // gradient of the whole batch.
        loss = loss * (n as f32 / total as f32);
    }
    let value = loss.clone().inner();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    Ok(Part {
        loss: value,
        grads,
        recorded,
    })
}

/// The parts of one batch: on `devices[0]` alone, or split across the devices, each on a
/// thread with its own copy of the model (data parallelism, as Burn's multi-device learner).
/// `recording`: what is recorded, and whether with each sample's softmax.
pub(super) fn parts(
    model: &Model,
    batch: HostBatch,
    recording: (Recording, bool),
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

/// The devices a batch is split across, each with its loss function.
pub(super) fn loss_fns(
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

/// The parts' gradients summed on `device` (the one part's as they are), taken out of the
/// parts (which keep their losses and recorded rows).
pub(super) fn summed_grads(parts: &mut [Part], model: &Model, device: &Device) -> GradientsParams {
    if parts.len() == 1 {
        return std::mem::take(&mut parts[0].grads);
    }
    let mut sum = GradientsAccumulator::new();
    for p in parts {
        let grads = std::mem::take(&mut p.grads);
        sum.accumulate(model, grads.to_device(device, model));
    }
    sum.grads()
}
