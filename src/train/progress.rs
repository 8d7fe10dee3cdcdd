//! A progress observer: on a terminal one bar per training run, advancing per batch, with loss
//! and rate; otherwise (a log file, a batch job) a heartbeat line at least every 30 seconds.

use indicatif::{ProgressBar, ProgressStyle};

use super::TrainError;
use super::observer::{Observer, RunInfo};

/// Seconds between heartbeat lines when stderr is not a terminal; `DYNUNC_HEARTBEAT_SECS`
/// changes it.
const HEARTBEAT_SECS: f64 = 30.0;

/// Shows a bar per run on stderr, or a heartbeat line every 30 s when stderr is not a
/// terminal (stage, epoch and batch, images/s, ETA), and prints one line per finished epoch
/// when `log_epochs` is set.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    epochs: usize,
    log_epochs: bool,
    started: std::time::Instant,
    /// Batches per epoch and samples per epoch of the run.
    batches: usize,
    samples: usize,
    /// Batches this process trains, those done, and when the last heartbeat was printed.
    total: usize,
    done: usize,
    last_beat: std::time::Instant,
    every: f64,
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
            batches: 0,
            samples: 0,
            total: 0,
            done: 0,
            last_beat: std::time::Instant::now(),
            every: std::env::var("DYNUNC_HEARTBEAT_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(HEARTBEAT_SECS),
        }
    }

    /// The heartbeat line after batch `batch` of epoch `epoch` (both 0-based).
    fn heartbeat(&self, epoch: usize, batch: usize, loss: f32) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let per_batch = self.samples as f64 / self.batches.max(1) as f64;
        let rate = self.done as f64 * per_batch / secs;
        let left = self.total.saturating_sub(self.done);
        let eta = left as f64 * secs / self.done.max(1) as f64;
        format!(
            "{}: epoch {}/{}, batch {}/{}, loss {loss:.4}, {rate:.0} img/s, ETA {}",
            self.label,
            epoch + 1,
            self.epochs,
            batch + 1,
            self.batches,
            duration(eta)
        )
    }
}

/// `1h 02m`, `3m 05s`, `42s`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
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
        self.last_beat = self.started;
        self.batches = info.batches;
        self.samples = info.samples;
        self.done = 0;
        self.total = info.batches * info.epochs.saturating_sub(info.start_epoch);
        Ok(())
    }

    fn batch_end(&mut self, epoch: usize, batch: usize, loss: f32, lr: f64) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.last_beat.elapsed().as_secs_f64() >= self.every {
                self.last_beat = std::time::Instant::now();
                eprintln!("{}", self.heartbeat(epoch, batch, loss));
            }
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
