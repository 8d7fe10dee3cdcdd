//! A store's fields as NumPy arrays: `<field>.npy` of shape (N, T) per field (float32; the
//! flags as uint8: bit 1 seen, bit 2 correct) and `labels.npy` (uint32), for NumPy and pandas
//! users. Each array is written in Fortran order, so epochs stream in one at a time (memory:
//! one epoch) and `np.load` reads it as an ordinary N x T array. Files appear whole or not at
//! all ([`Streaming`]).

use std::path::{Path, PathBuf};

use crate::atomic::Streaming;
use crate::dynamics::npy::header_bytes;
use crate::dynamics::store::StoreReader;
use crate::dynamics::{DynamicsError, EpochColumns, EpochSource, Field, FieldSet};

/// A file of the export, written whole or not at all.
struct Pending {
    path: PathBuf,
    file: Streaming,
}

impl Pending {
    fn create(path: PathBuf, header: &[u8]) -> Result<Self, DynamicsError> {
        let file = Streaming::create(&path).map_err(|e| DynamicsError::io(&path, e))?;
        let mut p = Pending { path, file };
        p.write(header)?;
        Ok(p)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DynamicsError> {
        self.file
            .write_all(bytes)
            .map_err(|e| DynamicsError::io(&self.path, e))
    }

    fn finish(self) -> Result<PathBuf, DynamicsError> {
        self.file
            .finish()
            .map_err(|e| DynamicsError::io(&self.path, e))?;
        Ok(self.path)
    }
}

/// Writes `fields` of the store at `store` (all it holds when `None`) and its labels into
/// `dir`; returns the files written.
pub fn export(
    store: &Path,
    dir: &Path,
    fields: Option<FieldSet>,
) -> Result<Vec<PathBuf>, DynamicsError> {
    let mut reader = StoreReader::open(store)?;
    let have = reader.fields();
    let want = fields.unwrap_or(have);
    if let Some(f) = want.first_missing(have) {
        return Err(DynamicsError::MissingField {
            field: f.name(),
            have: have.to_string(),
        });
    }
    let shape = reader.shape();
    let (n, t) = (shape.samples, shape.epochs);
    std::fs::create_dir_all(dir).map_err(|e| DynamicsError::io(dir, e))?;
    let mut files = Vec::new();
    for field in want.iter() {
        let descr = if field == Field::Flags { "|u1" } else { "<f4" };
        let path = dir.join(format!("{}.npy", field.name()));
        files.push((
            field,
            Pending::create(path, &header_bytes(descr, true, &[n, t]))?,
        ));
    }
    let mut cols = EpochColumns::default();
    for epoch in 0..t {
        reader.read_epoch(epoch, want, &mut cols)?;
        for (field, file) in &mut files {
            match field {
                Field::Flags => file.write(&cols.flags)?,
                f => {
                    let bytes: Vec<u8> = cols
                        .floats(*f)
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect();
                    file.write(&bytes)?;
                }
            }
        }
    }
    let mut written = Vec::new();
    if let Some(labels) = reader.labels() {
        let mut file = Pending::create(dir.join("labels.npy"), &header_bytes("<u4", false, &[n]))?;
        let bytes: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        file.write(&bytes)?;
        written.push(file.finish()?);
    }
    for (_, file) in files {
        written.push(file.finish()?);
    }
    Ok(written)
}
