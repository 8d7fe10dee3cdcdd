//! Per-batch results kept on the device and read in groups: each batch's loss and recorded
//! fields stay where they were computed until [`Pending::read`], so a GPU is not stopped to
//! wait for the host after every batch. On the host backend every batch is read at once.

use burn::prelude::*;

use super::TrainError;
use super::backend::is_host;
use super::observer::{BatchOutputs, Observer};
use super::parallel::Part;
use super::stats;
use crate::dynamics::{SampleStats, softmax_into};

/// Batches a GPU runs between two reads: the longest a diverged loss can go unseen (the
/// run stops at the read, before the epoch's checkpoint, so nothing it wrote is lost).
pub const DEVICE_READ_EVERY: usize = 16;

/// One trained batch whose results are still on the device.
struct Batch {
    /// 0-based batch of the epoch.
    number: usize,
    /// Learning rate of its step.
    lr: f64,
    /// Dataset indices and labels of its samples.
    indices: Vec<usize>,
    labels: Vec<u32>,
    /// Each part's share of the mean loss.
    losses: Vec<Tensor<1>>,
    /// Each part's recorded rows: logits on the host backend, [`stats::fields`] elsewhere.
    recorded: Vec<Tensor<2>>,
}

/// The batches not yet read, and when to read them.
pub struct Pending {
    batches: Vec<Batch>,
    every: usize,
    device: Device,
    /// Whether observers are given each sample's softmax.
    probabilities: bool,
}

/// What the batches read at once recorded: each sample's fields, and its softmax when
/// wanted (row-major), in batch order.
struct Read {
    stats: Vec<SampleStats>,
    probabilities: Vec<f32>,
    classes: usize,
}

/// What the batches read so far came to: summed loss and their count.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Sum of the batches' mean losses.
    pub loss: f64,
    /// Batches.
    pub batches: usize,
}

impl Pending {
    /// Nothing pending, for training on `device` (its host-ness sets how often to read);
    /// `probabilities`: observers are given each sample's softmax too.
    pub fn new(device: &Device, probabilities: bool) -> Self {
        Pending {
            batches: Vec::new(),
            every: if is_host(device) {
                1
            } else {
                DEVICE_READ_EVERY
            },
            device: device.clone().inner(),
            probabilities,
        }
    }

    /// Keeps batch `number`'s results (its parts' losses and recorded rows).
    pub(super) fn push(
        &mut self,
        number: usize,
        lr: f64,
        batch: &crate::data::loader::Batch<'_>,
        parts: Vec<Part>,
    ) {
        let (mut losses, mut recorded) = (Vec::new(), Vec::new());
        for p in parts {
            losses.push(p.loss);
            recorded.extend(p.recorded);
        }
        self.batches.push(Batch {
            number,
            lr,
            indices: batch.global.to_vec(),
            labels: batch.labels(),
            losses,
            recorded,
        });
    }

    /// Whether enough batches wait to be read.
    pub fn due(&self) -> bool {
        self.batches.len() >= self.every
    }

    /// Reads every pending batch, in order: gives observers its outputs and loss, and stops
    /// at the first loss that is not finite or above `diverged`.
    pub fn read(
        &mut self,
        epoch: usize,
        diverged: f32,
        observers: &mut [&mut dyn Observer],
        totals: &mut Totals,
    ) -> Result<(), TrainError> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.batches);
        let losses = self.read_losses(&batches)?;
        let read = self.read_stats(&batches)?;
        let mut at = 0;
        for (batch, loss) in batches.iter().zip(losses) {
            if !batch.recorded.is_empty() {
                let rows = at..at + batch.indices.len();
                at = rows.end;
                let probabilities = match self.probabilities {
                    true => &read.probabilities[rows.start * read.classes..rows.end * read.classes],
                    false => &[],
                };
                let outputs = BatchOutputs {
                    indices: &batch.indices,
                    labels: &batch.labels,
                    stats: &read.stats[rows],
                    probabilities,
                };
                for o in observers.iter_mut() {
                    o.batch_outputs(epoch, outputs);
                }
            }
            if !loss.is_finite() || loss > diverged {
                return Err(TrainError::NonFiniteLoss {
                    loss,
                    epoch: epoch + 1,
                    batch: batch.number + 1,
                    lr: batch.lr,
                });
            }
            totals.loss += f64::from(loss);
            totals.batches += 1;
            for o in observers.iter_mut() {
                o.batch_end(epoch, batch.number, loss, batch.lr);
            }
        }
        Ok(())
    }

    /// Each batch's mean loss (its parts' shares summed in order), read at once.
    fn read_losses(&self, batches: &[Batch]) -> Result<Vec<f32>, TrainError> {
        let all: Vec<Tensor<1>> = batches
            .iter()
            .flat_map(|b| b.losses.iter().map(|l| l.clone().to_device(&self.device)))
            .collect();
        let values = read(Tensor::cat(all, 0).into_data())?;
        let mut values = values.into_iter();
        Ok(batches
            .iter()
            .map(|b| values.by_ref().take(b.losses.len()).sum())
            .collect())
    }

    /// The recorded samples of every batch, in order.
    fn read_stats(&self, batches: &[Batch]) -> Result<Read, TrainError> {
        let all: Vec<Tensor<2>> = batches
            .iter()
            .flat_map(|b| b.recorded.iter().map(|r| r.clone().to_device(&self.device)))
            .collect();
        let mut out = Read {
            stats: Vec::new(),
            probabilities: Vec::new(),
            classes: 0,
        };
        if all.is_empty() {
            return Ok(out);
        }
        if !is_host(&self.device) {
            let all = Tensor::cat(all, 0);
            let width = all.dims()[1];
            out.classes = width - stats::FIELDS;
            let values = read(all.into_data())?;
            for row in values.chunks_exact(width) {
                out.stats.push(stats::sample(row));
                out.probabilities.extend_from_slice(&row[stats::FIELDS..]);
            }
            return Ok(out);
        }
        // The host backend records logits (already in memory) and takes the f64 definition.
        let mut labels = batches.iter().flat_map(|b| b.labels.iter());
        for logits in all {
            let classes = logits.dims()[1];
            out.classes = classes;
            let values = read(logits.into_data())?;
            for (row, &label) in values.chunks_exact(classes).zip(labels.by_ref()) {
                out.stats
                    .push(SampleStats::from_logits(row, label as usize));
                if self.probabilities {
                    softmax_into(row, &mut out.probabilities);
                }
            }
        }
        Ok(out)
    }
}

/// The f32 values of `data`.
fn read(data: TensorData) -> Result<Vec<f32>, TrainError> {
    data.try_into_vec::<f32>()
        .map_err(|e| TrainError::Backend(format!("reading a result from the device: {e:?}")))
}
