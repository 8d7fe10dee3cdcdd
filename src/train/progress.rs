//! A progress-bar observer: one bar per training run, advancing per batch, with loss and rate.

use indicatif::{ProgressBar, ProgressStyle};

use super::TrainError;
use super::observer::{Observer, RunInfo};

/// Shows a bar per run on stderr (hidden when stderr is not a terminal), and prints one line per
/// finished epoch when `log_epochs` is set.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    epochs: usize,
    log_epochs: bool,
    started: std::time::Instant,
}

impl Progress {
    /// A new progress observer.
    pub fn new(log_epochs: bool) -> Self {
        Self {
            bar: None,
            label: String::new(),
            epochs: 0,
            log_epochs,
            started: std::time::Instant::now(),
        }
    }
}

impl Observer for Progress {
    fn run_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        let total = (info.epochs * info.batches) as u64;
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} [{elapsed_precise}] {bar:30} {pos}/{len} batches, ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(info.label.clone());
        bar.set_position((info.start_epoch * info.batches) as u64);
        self.bar = Some(bar);
        self.label = info.label.clone();
        self.epochs = info.epochs;
        self.started = std::time::Instant::now();
        Ok(())
    }

    fn batch_end(&mut self, epoch: usize, _batch: usize, loss: f32, lr: f64) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "epoch {}/{} loss {loss:.4} lr {lr:.2e}",
                epoch + 1,
                self.epochs
            ));
        }
    }

    fn epoch_end(&mut self, epoch: usize, mean_loss: f32) -> Result<(), TrainError> {
        if self.log_epochs {
            let line = format!(
                "{}: epoch {}/{} mean loss {mean_loss:.4} ({:.1}s)",
                self.label,
                epoch + 1,
                self.epochs,
                self.started.elapsed().as_secs_f64()
            );
            match &self.bar {
                Some(bar) if !bar.is_hidden() => bar.println(line),
                _ => eprintln!("{line}"),
            }
        }
        Ok(())
    }

    fn run_end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
