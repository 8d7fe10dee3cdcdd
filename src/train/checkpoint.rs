//! A training run's per-epoch checkpoint, committed in one atomic step so that a kill at any
//! instant resumes from a consistent (epoch, weights, optimizer state) triple.
//!
//! Layout of the folder: `model-<e>.bpk` and `optim-<e>.bpk` for the epoch count `e` they
//! belong to, and `manifest`, a small text file naming the epoch count and both files. Saving
//! writes and syncs the new files under their new names, then renames a new manifest into
//! place (the commit point), then removes what the manifest no longer names. Loading trusts
//! only what the manifest names, so files of a half-finished save are never read.

use std::path::{Path, PathBuf};

use burn::module::Module as _;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;

use super::{Model, TrainError};
use crate::atomic;

const MANIFEST: &str = "manifest";

/// Where a run keeps its per-epoch checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
}

/// What a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    epochs_done: usize,
    model: String,
    optim: String,
}

impl Manifest {
    fn encode(&self) -> String {
        format!(
            "epochs_done {}\nmodel {}\noptim {}\n",
            self.epochs_done, self.model, self.optim
        )
    }

    fn decode(text: &str) -> Option<Manifest> {
        let mut epochs_done = None;
        let (mut model, mut optim) = (None, None);
        for line in text.lines() {
            match line.split_once(' ')? {
                ("epochs_done", v) => epochs_done = v.trim().parse().ok(),
                ("model", v) => model = Some(v.trim().to_owned()),
                ("optim", v) => optim = Some(v.trim().to_owned()),
                _ => return None,
            }
        }
        let plain = |s: &String| !s.is_empty() && !s.contains(['/', '\\']) && s != "..";
        let (model, optim) = (model.filter(plain)?, optim.filter(plain)?);
        Some(Manifest {
            epochs_done: epochs_done?,
            model,
            optim,
        })
    }
}

impl Checkpoint {
    /// A checkpoint in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn err(&self, what: impl ToString) -> TrainError {
        TrainError::Checkpoint {
            path: self.dir.display().to_string(),
            what: what.to_string(),
        }
    }

    /// The committed manifest, if any. A checkpoint of an earlier dynunc (`epochs_done`
    /// beside `model.bpk` and `optim.bpk`) is read as such a manifest.
    fn manifest(&self) -> Result<Option<Manifest>, TrainError> {
        let read = |name: &str| match std::fs::read_to_string(self.dir.join(name)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(atomic::context("reading", &self.dir.join(name), e))),
        };
        if let Some(text) = read(MANIFEST)? {
            return Manifest::decode(&text)
                .map(Some)
                .ok_or_else(|| self.err(format!("unreadable manifest `{}`", text.trim())));
        }
        match read("epochs_done")? {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse()
                .map(|epochs_done| {
                    Some(Manifest {
                        epochs_done,
                        model: "model.bpk".into(),
                        optim: "optim.bpk".into(),
                    })
                })
                .map_err(|_| self.err(format!("unreadable epoch count `{}`", s.trim()))),
        }
    }

    /// Epochs completed by the saved state, if any.
    pub fn epochs_done(&self) -> Result<Option<usize>, TrainError> {
        Ok(self.manifest()?.map(|m| m.epochs_done))
    }

    /// Saves the state after `epochs_done` epochs and commits it.
    pub(crate) fn save(
        &self,
        model: &Model,
        optim: &ModuleOptimizer,
        epochs_done: usize,
    ) -> Result<(), TrainError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| self.err(atomic::context("creating", &self.dir, e)))?;
        let next = Manifest {
            epochs_done,
            model: format!("model-{epochs_done}.bpk"),
            optim: format!("optim-{epochs_done}.bpk"),
        };
        let model_path = self.dir.join(&next.model);
        model
            .clone()
            .into_record()
            .save(&model_path)
            .map_err(|e| self.err(format!("saving {}: {e:?}", model_path.display())))?;
        self.sync(&model_path)?;
        let optim_path = self.dir.join(&next.optim);
        optim
            .save(&optim_path)
            .map_err(|e| self.err(format!("saving {}: {e:?}", optim_path.display())))?;
        self.sync(&optim_path)?;
        // The commit point: from here on the new files are the checkpoint.
        atomic::write(&self.dir.join(MANIFEST), next.encode().as_bytes())
            .map_err(|e| self.err(e))?;
        self.remove_unnamed(&next)
    }

    fn sync(&self, path: &Path) -> Result<(), TrainError> {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| self.err(atomic::context("syncing", path, e)))?;
        crate::fault::point("wrote", path);
        Ok(())
    }

    /// Removes the files of earlier saves (and of a save that was interrupted).
    fn remove_unnamed(&self, keep: &Manifest) -> Result<(), TrainError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| self.err(atomic::context("listing", &self.dir, e)))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name != MANIFEST && name != keep.model && name != keep.optim {
                std::fs::remove_file(entry.path())
                    .map_err(|e| self.err(atomic::context("removing", &entry.path(), e)))?;
                crate::fault::point("removed", &entry.path());
            }
        }
        Ok(())
    }

    /// Loads the committed state into `model` and `optim`.
    pub(crate) fn load(
        &self,
        model: Model,
        optim: ModuleOptimizer,
    ) -> Result<(Model, ModuleOptimizer), TrainError> {
        let m = self
            .manifest()?
            .ok_or_else(|| self.err("no committed checkpoint to load"))?;
        let record = ModuleRecord::load(self.dir.join(&m.model))
            .map_err(|e| self.err(format!("loading {}: {e:?}", m.model)))?;
        let model = model
            .try_load_record(record)
            .map_err(|e| self.err(format!("{e:?}")))?;
        let optim = optim
            .load(self.dir.join(&m.optim))
            .map_err(|e| self.err(format!("loading {}: {e:?}", m.optim)))?;
        Ok((model, optim))
    }

    /// Removes the checkpoint (after the run's result is safely written).
    pub fn remove(&self) -> std::io::Result<()> {
        atomic::remove_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::Manifest;

    #[test]
    fn a_manifest_reads_back_and_refuses_paths() {
        let m = Manifest {
            epochs_done: 7,
            model: "model-7.bpk".into(),
            optim: "optim-7.bpk".into(),
        };
        assert_eq!(Manifest::decode(&m.encode()), Some(m));
        assert_eq!(
            Manifest::decode("epochs_done 1\nmodel ../x\noptim o\n"),
            None
        );
        assert_eq!(Manifest::decode("epochs_done 1\nmodel m\n"), None);
        assert_eq!(Manifest::decode("garbage"), None);
    }
}
