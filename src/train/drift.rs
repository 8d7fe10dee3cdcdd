//! What the recorder keeps to record [`Field::Drift`]: every sample's previous softmax, and
//! its copy on disk at each epoch's end so that a resumed run records the same drift as an
//! uninterrupted one.
//!
//! Memory: N x classes f32 and a byte per sample (stated by `--dry-run`; refused where it
//! would take more than half of the memory available). On disk beside the store,
//! `<store>.prev-<e>` holds the state after epoch e (magic `DYNUNCPV`, samples u64, classes
//! u32, epochs u32, then a seen byte per sample and the softmax rows, little-endian); the
//! states of the last two epochs are kept (the store can be one epoch ahead of the
//! checkpoint), and all are removed when the run ends.

use std::path::{Path, PathBuf};

use crate::dynamics::{DynamicsError, Field, drift};

const MAGIC: &[u8; 8] = b"DYNUNCPV";
const HEADER: usize = 24;

/// Bytes of memory the previous softmax of `samples` samples over `classes` classes takes.
pub fn memory(samples: usize, classes: usize) -> u64 {
    samples as u64 * (classes as u64 * 4 + 1)
}

/// Every sample's last softmax (valid where `seen`).
#[derive(Debug)]
pub struct DriftState {
    classes: usize,
    previous: Vec<f32>,
    seen: Vec<bool>,
    store: PathBuf,
    /// Whether [`DriftState::save`] writes (off for a one-pass import, which never resumes).
    persist: bool,
}

/// Refuses a state of `bytes` that would not fit in half of the available memory (when the
/// system says how much is available).
fn check_fits(bytes: u64, samples: usize, classes: usize) -> Result<(), DynamicsError> {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    match available {
        Some(have) if bytes > have / 2 => Err(DynamicsError::Mismatch {
            what: format!(
                "recording `{}` (for tdds) keeps every sample's previous softmax: {samples} samples x {classes} classes = {:.1} GB, more than half of the {:.1} GB available; drop tdds from scoring.methods, or record on a machine with at least {:.1} GB free",
                Field::Drift.name(),
                bytes as f64 / 1e9,
                have as f64 / 1e9,
                2.0 * bytes as f64 / 1e9
            ),
        }),
        _ => Ok(()),
    }
}

impl DriftState {
    /// Nothing seen yet, for the store at `store`.
    pub fn new(store: &Path, samples: usize, classes: usize) -> Result<Self, DynamicsError> {
        check_fits(memory(samples, classes), samples, classes)?;
        Ok(DriftState {
            classes,
            previous: vec![0.0; samples * classes],
            seen: vec![false; samples],
            store: store.to_path_buf(),
            persist: true,
        })
    }

    /// Keeps the state in memory only: nothing is written beside the store.
    pub fn in_memory_only(&mut self) {
        self.persist = false;
    }

    /// The drift of sample `i` to softmax `now` (0 the first time it is seen); keeps `now`.
    pub fn observe(&mut self, i: usize, now: &[f32]) -> f32 {
        let row = &mut self.previous[i * self.classes..(i + 1) * self.classes];
        let value = match self.seen[i] {
            true => drift(row, now),
            false => 0.0,
        };
        row.copy_from_slice(now);
        self.seen[i] = true;
        value
    }

    fn path(&self, epochs: usize) -> PathBuf {
        let mut name = self.store.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".prev-{epochs}"));
        self.store.with_file_name(name)
    }

    /// Writes the state after `epochs` epochs and removes the one of `epochs - 2`.
    pub fn save(&self, epochs: usize) -> Result<(), DynamicsError> {
        if !self.persist {
            return Ok(());
        }
        // Written in pieces: the state can be as large as the memory check allows.
        let path = self.path(epochs);
        let io = |e| DynamicsError::io(&path, e);
        let mut file = crate::atomic::Streaming::create(&path).map_err(io)?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(self.seen.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.classes as u32).to_le_bytes());
        header.extend_from_slice(&(epochs as u32).to_le_bytes());
        file.write_all(&header).map_err(io)?;
        let seen: Vec<u8> = self.seen.iter().map(|&s| u8::from(s)).collect();
        file.write_all(&seen).map_err(io)?;
        for row in self.previous.chunks(1 << 16) {
            let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
            file.write_all(&bytes).map_err(io)?;
        }
        file.finish().map_err(io)?;
        if epochs >= 2 {
            self.remove(epochs - 2)?;
        }
        Ok(())
    }

    /// Loads the state saved after `epochs` epochs (a resumed run's start).
    pub fn load(&mut self, epochs: usize) -> Result<(), DynamicsError> {
        let path = self.path(epochs);
        let bytes = std::fs::read(&path).map_err(|e| DynamicsError::Mismatch {
            what: format!(
                "{}: the previous softmax of every sample after epoch {epochs}, which recording `drift` resumes from, cannot be read ({e}); delete the results folder's work/ to record from scratch",
                path.display()
            ),
        })?;
        let (n, c) = (self.seen.len(), self.classes);
        let want = HEADER + n + 4 * n * c;
        let header_ok = bytes.len() == want
            && &bytes[..8] == MAGIC
            && bytes[8..16] == (n as u64).to_le_bytes()
            && bytes[16..20] == (c as u32).to_le_bytes()
            && bytes[20..24] == (epochs as u32).to_le_bytes();
        if !header_ok {
            return Err(DynamicsError::Mismatch {
                what: format!(
                    "{}: not the drift state of {n} samples x {c} classes after epoch {epochs} ({} bytes, {want} expected); delete the results folder's work/ to record from scratch",
                    path.display(),
                    bytes.len()
                ),
            });
        }
        for (s, &b) in self.seen.iter_mut().zip(&bytes[HEADER..HEADER + n]) {
            *s = b != 0;
        }
        for (v, b) in self
            .previous
            .iter_mut()
            .zip(bytes[HEADER + n..].chunks_exact(4))
        {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// Removes the state saved after `epochs` epochs, if any.
    pub fn remove(&self, epochs: usize) -> Result<(), DynamicsError> {
        let path = self.path(epochs);
        crate::atomic::remove_file(&path).map_err(|e| DynamicsError::io(&path, e))
    }
}
