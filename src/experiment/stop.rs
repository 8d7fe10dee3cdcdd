//! The scoring run's early stop: an observer that feeds each epoch the recorder has committed
//! to [`crate::score::stop::Stopper`] and ends training when the rule fires.

use std::path::PathBuf;

use crate::dynamics::store::StoreReader;
use crate::score::ScoreParams;
use crate::score::stop::{StopRule, Stopper};
use crate::train::{Observer, RunInfo, TrainError};

/// Watches the store at `store` (after the recorder in the observer list, so each epoch is
/// committed before it is read).
pub(crate) struct StopWatch {
    rule: StopRule,
    stopper: Stopper,
    store: PathBuf,
    /// The run's label and planned epochs, for the message when the rule fires.
    run: (String, usize),
}

impl StopWatch {
    pub(crate) fn new(rule: StopRule, params: &ScoreParams, store: PathBuf) -> Self {
        Self {
            rule,
            stopper: Stopper::new(rule, params),
            store,
            run: (String::new(), 0),
        }
    }

    /// Feeds the first `k` epochs of the store; says so when the rule fires.
    fn feed(&mut self, k: usize) -> Result<(), TrainError> {
        let mut reader = StoreReader::open(&self.store)?;
        let before = self.stopper.fired().is_some();
        self.stopper.observe(&mut reader, k).map_err(|e| {
            TrainError::Stop(format!("{} after epoch {k}: {e}", self.store.display()))
        })?;
        if let (false, Some(fired)) = (before, self.stopper.fired()) {
            eprintln!(
                "{}: stopping after {k} of {} epochs, {}",
                self.run.0,
                self.run.1,
                fired.reason(&self.rule)
            );
        }
        Ok(())
    }
}

impl Observer for StopWatch {
    /// A resumed run replays the epochs already recorded, so a run killed after the rule
    /// fired stops where it did.
    fn run_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        self.run = (info.label.clone(), info.epochs);
        for k in 1..=info.start_epoch {
            self.feed(k)?;
            if self.stopper.fired().is_some() {
                break;
            }
        }
        Ok(())
    }

    fn epoch_end(&mut self, epoch: usize, _mean_loss: f32) -> Result<(), TrainError> {
        self.feed(epoch + 1)
    }

    fn stop_requested(&self) -> bool {
        self.stopper.fired().is_some()
    }
}
