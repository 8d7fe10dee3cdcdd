//! The on-disk dynamics store: a header, the labels, then one column block per epoch.
//!
//! # Format (version 1, all integers little-endian)
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `DYNUNCST` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | field mask: bit `f` set when [`Field`] `f` is stored (see [`Field::ALL`] for the order) |
//! | 16 | 8 | N, number of samples |
//! | 24 | 4 | number of classes |
//! | 28 | 4 | reserved, 0 |
//! | 32 | 8 | fingerprint of the labels (the store's hash of the label block) |
//! | 40 | 8 | epochs written, K |
//! | 48 | 8 | hash of bytes 0..48 |
//! | 56 | 8 | producer: a fingerprint of what recorded the store (the experiment and its data), 0 when unknown; outside the header hash, so stores written before it existed still read |
//! | 64 | 4N | labels, u32 each |
//! | 64 + 4N + k·B | B | epoch k: each stored field's column in field order (f32 or u8 per sample), then one u64 hash per column, then the epoch number k as u64 |
//!
//! An epoch is appended by writing its block past the last complete one, syncing it, then
//! rewriting the 64-byte header with K + 1 and syncing again. A crash in the middle leaves a
//! header that still counts K epochs: readers ignore the partial block and a resumed writer
//! overwrites it. Each column carries its own hash, so reading one field checks that field.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{DynamicsError, EpochColumns, EpochSource, Field, FieldSet, Shape};

const MAGIC: &[u8; 8] = b"DYNUNCST";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 64;

/// The store's hash: a fast 64-bit multiply-rotate hash over 8-byte words, for detecting
/// damage (not an adversarial checksum).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    }
    h ^ (h >> 31)
}

/// Fingerprint of a label vector, as stored in the header.
pub fn label_fingerprint(labels: &[u32]) -> u64 {
    hash_bytes(&labels_to_bytes(labels))
}

fn labels_to_bytes(labels: &[u32]) -> Vec<u8> {
    labels.iter().flat_map(|l| l.to_le_bytes()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fields: FieldSet,
    samples: u64,
    classes: u32,
    fingerprint: u64,
    epochs: u64,
    producer: u64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.fields.0.to_le_bytes());
        b[16..24].copy_from_slice(&self.samples.to_le_bytes());
        b[24..28].copy_from_slice(&self.classes.to_le_bytes());
        b[32..40].copy_from_slice(&self.fingerprint.to_le_bytes());
        b[40..48].copy_from_slice(&self.epochs.to_le_bytes());
        let h = hash_bytes(&b[0..48]);
        b[48..56].copy_from_slice(&h.to_le_bytes());
        b[56..64].copy_from_slice(&self.producer.to_le_bytes());
        b
    }

    fn decode(b: &[u8], path: &Path) -> Result<Header, DynamicsError> {
        let foreign = |what: String| DynamicsError::Foreign {
            path: path.display().to_string(),
            what,
        };
        if b.len() < HEADER_LEN as usize {
            return Err(foreign(format!(
                "only {} bytes, shorter than the {HEADER_LEN}-byte header",
                b.len()
            )));
        }
        if &b[0..8] != MAGIC {
            return Err(foreign(
                "does not start with the magic bytes DYNUNCST".into(),
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(foreign(format!(
                "format version {version}, this dynunc reads version {VERSION}"
            )));
        }
        if u64_at(48) != hash_bytes(&b[0..48]) {
            return Err(DynamicsError::Corrupt {
                path: path.display().to_string(),
                what: "header hash does not match its contents".into(),
            });
        }
        let fields = FieldSet(u32_at(12));
        if fields.0 & !FieldSet::ALL.0 != 0 || fields == FieldSet::EMPTY {
            return Err(foreign(format!("unknown field mask {:#x}", fields.0)));
        }
        Ok(Header {
            fields,
            samples: u64_at(16),
            classes: u32_at(24),
            fingerprint: u64_at(32),
            epochs: u64_at(40),
            producer: u64_at(56),
        })
    }

    fn labels_len(&self) -> u64 {
        4 * self.samples
    }

    fn block_len(&self) -> u64 {
        let per_sample: u64 = self.fields.iter().map(|f| f.width() as u64).sum();
        let columns = self.fields.iter().count() as u64;
        per_sample * self.samples + 8 * (columns + 1)
    }

    fn epoch_offset(&self, epoch: u64) -> u64 {
        HEADER_LEN + self.labels_len() + epoch * self.block_len()
    }

    /// Offset of `field`'s column inside an epoch block.
    fn column_offset(&self, field: Field) -> u64 {
        self.fields
            .iter()
            .take_while(|f| *f != field)
            .map(|f| f.width() as u64 * self.samples)
            .sum()
    }

    /// Index of `field` among the stored columns (for its hash in the trailer).
    fn column_index(&self, field: Field) -> usize {
        self.fields.iter().take_while(|f| *f != field).count()
    }

    fn trailer_offset(&self) -> u64 {
        self.fields
            .iter()
            .map(|f| f.width() as u64 * self.samples)
            .sum()
    }
}

/// Bytes on disk for a store of this size, for plans and dry runs.
pub fn store_size(samples: u64, epochs: u64, fields: FieldSet) -> u64 {
    let h = Header {
        fields,
        samples,
        classes: 0,
        fingerprint: 0,
        epochs,
        producer: 0,
    };
    h.epoch_offset(epochs)
}

/// Appends epochs to a store; created fresh or reopened to resume.
#[derive(Debug)]
pub struct StoreWriter {
    path: PathBuf,
    file: File,
    header: Header,
    buf: Vec<u8>,
}

impl StoreWriter {
    /// Opens `path` for appending, creating it when absent. An existing store is resumed when
    /// its sample count, fields and label fingerprint match; a partial last block is dropped.
    pub fn open(
        path: &Path,
        labels: &[u32],
        classes: usize,
        fields: FieldSet,
    ) -> Result<StoreWriter, DynamicsError> {
        Self::open_for(path, labels, classes, fields, 0)
    }

    /// As [`StoreWriter::open`], for a store recorded by `producer` (a fingerprint of the
    /// experiment and data, see [`StoreReader::producer`]): an existing store is resumed only
    /// when it was recorded by the same producer.
    pub fn open_for(
        path: &Path,
        labels: &[u32],
        classes: usize,
        fields: FieldSet,
        producer: u64,
    ) -> Result<StoreWriter, DynamicsError> {
        let io = |e| DynamicsError::io(path, e);
        let wanted = Header {
            fields,
            samples: labels.len() as u64,
            classes: classes as u32,
            fingerprint: label_fingerprint(labels),
            epochs: 0,
            producer,
        };
        if path.exists() {
            let mut reader = StoreReader::open(path)?;
            let have = reader.header;
            if have.fields != wanted.fields
                && (have.samples, have.classes, have.fingerprint)
                    == (wanted.samples, wanted.classes, wanted.fingerprint)
            {
                return Err(DynamicsError::Mismatch {
                    what: format!(
                        "{}: holds the fields [{}] but this run records [{}] (a method that needs `drift`, tdds, was added or removed since it was recorded); delete it (or the results folder's work/) to record it anew",
                        path.display(),
                        have.fields,
                        wanted.fields
                    ),
                });
            }
            if (have.fields, have.samples, have.classes, have.fingerprint)
                != (
                    wanted.fields,
                    wanted.samples,
                    wanted.classes,
                    wanted.fingerprint,
                )
            {
                return Err(DynamicsError::Mismatch {
                    what: format!(
                        "{}: holds dynamics of {} samples / {} classes / fields [{}] with label fingerprint {:016x}, \
                         but this run has {} samples / {} classes / fields [{}] with fingerprint {:016x}; \
                         it belongs to another dataset or subset: move it away or choose another output folder",
                        path.display(),
                        have.samples,
                        have.classes,
                        have.fields,
                        have.fingerprint,
                        wanted.samples,
                        wanted.classes,
                        wanted.fields,
                        wanted.fingerprint
                    ),
                });
            }
            if have.producer != producer {
                return Err(DynamicsError::Mismatch {
                    what: format!(
                        "{}: was recorded by another experiment or data (producer fingerprint {:016x}, this run {producer:016x}); \
                         delete it (or the results folder's work/) to record it anew, or give this experiment another `name:`",
                        path.display(),
                        have.producer
                    ),
                });
            }
            drop(reader.file.take());
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io)?;
            file.set_len(have.epoch_offset(have.epochs)).map_err(io)?;
            return Ok(StoreWriter {
                path: path.to_owned(),
                file,
                header: have,
                buf: Vec::new(),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DynamicsError::io(dir, e))?;
        }
        // Write header and labels to a temporary file, then rename: a store either exists
        // whole with zero epochs or not at all.
        let tmp = path.with_extension("dyn.tmp");
        let mut file = File::create(&tmp).map_err(|e| DynamicsError::io(&tmp, e))?;
        file.write_all(&wanted.encode())
            .and_then(|_| file.write_all(&labels_to_bytes(labels)))
            .and_then(|_| file.sync_all())
            .map_err(|e| DynamicsError::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        crate::fault::point("created", path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        Ok(StoreWriter {
            path: path.to_owned(),
            file,
            header: wanted,
            buf: Vec::new(),
        })
    }

    /// Epochs already in the store.
    pub fn epochs(&self) -> usize {
        self.header.epochs as usize
    }

    /// Drops every epoch after the first `epochs` (used when a run resumes from a checkpoint
    /// that is older than the store's last epoch).
    pub fn truncate(&mut self, epochs: usize) -> Result<(), DynamicsError> {
        if epochs as u64 >= self.header.epochs {
            return Ok(());
        }
        let io = |e| DynamicsError::io(&self.path, e);
        let next = Header {
            epochs: epochs as u64,
            ..self.header
        };
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&next.encode()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.file
            .set_len(next.epoch_offset(next.epochs))
            .map_err(io)?;
        self.header = next;
        crate::fault::point("truncated", &self.path);
        Ok(())
    }

    /// Appends one epoch and commits it (see the module docs for the crash guarantee).
    pub fn append(&mut self, cols: &EpochColumns) -> Result<(), DynamicsError> {
        let n = self.header.samples as usize;
        let present = cols.present();
        if cols.len() != n {
            return Err(DynamicsError::Mismatch {
                what: format!(
                    "epoch has {} samples, the store {} has {n}",
                    cols.len(),
                    self.path.display()
                ),
            });
        }
        if let Some(field) = self.header.fields.first_missing(present) {
            return Err(DynamicsError::MissingField {
                field: field.name(),
                have: present.to_string(),
            });
        }
        self.buf.clear();
        let mut hashes = Vec::new();
        for field in self.header.fields.iter() {
            let start = self.buf.len();
            match field {
                Field::Flags => self.buf.extend_from_slice(&cols.flags),
                f => {
                    for v in cols.floats(f) {
                        self.buf.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            hashes.push(hash_bytes(&self.buf[start..]));
        }
        for h in hashes {
            self.buf.extend_from_slice(&h.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&self.header.epochs.to_le_bytes());
        debug_assert_eq!(self.buf.len() as u64, self.header.block_len());

        let io = |e| DynamicsError::io(&self.path, e);
        let offset = self.header.epoch_offset(self.header.epochs);
        self.file.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.file.write_all(&self.buf).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        crate::fault::point("wrote an epoch block of", &self.path);
        let next = Header {
            epochs: self.header.epochs + 1,
            ..self.header
        };
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&next.encode()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.header = next;
        crate::fault::point("committed an epoch of", &self.path);
        Ok(())
    }
}

/// Reads a store epoch by epoch.
#[derive(Debug)]
pub struct StoreReader {
    path: PathBuf,
    file: Option<File>,
    header: Header,
    labels: Vec<u32>,
    buf: Vec<u8>,
}

impl StoreReader {
    /// Opens and validates a store: header, length, labels and their fingerprint.
    pub fn open(path: &Path) -> Result<StoreReader, DynamicsError> {
        let io = |e| DynamicsError::io(path, e);
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut head = vec![0u8; HEADER_LEN.min(len) as usize];
        file.read_exact(&mut head).map_err(io)?;
        let header = Header::decode(&head, path)?;
        let corrupt = |what: String| DynamicsError::Corrupt {
            path: path.display().to_string(),
            what,
        };
        // Checked: a damaged header may claim sizes no file can have.
        let per_sample: u64 = header.fields.iter().map(|f| f.width() as u64).sum();
        let columns = header.fields.iter().count() as u64;
        let need = header
            .samples
            .checked_mul(per_sample)
            .and_then(|v| v.checked_add(8 * (columns + 1)))
            .and_then(|block| block.checked_mul(header.epochs))
            .and_then(|v| v.checked_add(HEADER_LEN))
            .and_then(|v| v.checked_add(header.samples.checked_mul(4)?));
        let Some(need) = need else {
            return Err(corrupt(format!(
                "the header claims {} epochs of {} samples, more than any file can hold",
                header.epochs, header.samples
            )));
        };
        if len < need {
            return Err(corrupt(format!(
                "the header counts {} epochs of {} samples ({need} bytes) but the file has {len} bytes (truncated)",
                header.epochs, header.samples
            )));
        }
        let mut raw = vec![0u8; header.labels_len() as usize];
        file.read_exact(&mut raw).map_err(io)?;
        if hash_bytes(&raw) != header.fingerprint {
            return Err(corrupt(
                "the label block does not match its fingerprint".into(),
            ));
        }
        let labels = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(StoreReader {
            path: path.to_owned(),
            file: Some(file),
            header,
            labels,
            buf: Vec::new(),
        })
    }

    /// The fingerprint of what recorded the store (0: unknown, e.g. imported).
    pub fn producer(&self) -> u64 {
        self.header.producer
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<(), DynamicsError> {
        let file = self.file.as_mut().expect("reader file is open");
        self.buf.resize(len, 0);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut self.buf))
            .map_err(|e| DynamicsError::io(&self.path, e))
    }
}

impl EpochSource for StoreReader {
    fn shape(&self) -> Shape {
        Shape {
            samples: self.header.samples as usize,
            classes: self.header.classes as usize,
            epochs: self.header.epochs as usize,
        }
    }

    fn fields(&self) -> FieldSet {
        self.header.fields
    }

    fn labels(&self) -> Option<&[u32]> {
        Some(&self.labels)
    }

    fn read_epoch(
        &mut self,
        epoch: usize,
        want: FieldSet,
        out: &mut EpochColumns,
    ) -> Result<(), DynamicsError> {
        let h = self.header;
        if epoch as u64 >= h.epochs {
            return Err(DynamicsError::EpochOutOfRange {
                epoch,
                epochs: h.epochs as usize,
            });
        }
        if let Some(field) = want.first_missing(h.fields) {
            return Err(DynamicsError::MissingField {
                field: field.name(),
                have: h.fields.to_string(),
            });
        }
        let base = h.epoch_offset(epoch as u64);
        let trailer_len = 8 * (h.fields.iter().count() + 1);
        self.read_at(base + h.trailer_offset(), trailer_len)?;
        let trailer: Vec<u64> = self
            .buf
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if trailer[trailer.len() - 1] != epoch as u64 {
            return Err(DynamicsError::Corrupt {
                path: self.path.display().to_string(),
                what: format!(
                    "epoch block {} is labelled as epoch {}",
                    epoch + 1,
                    trailer[trailer.len() - 1] + 1
                ),
            });
        }
        let n = h.samples as usize;
        for field in want.iter() {
            self.read_at(base + h.column_offset(field), field.width() * n)?;
            if hash_bytes(&self.buf) != trailer[h.column_index(field)] {
                return Err(DynamicsError::Corrupt {
                    path: self.path.display().to_string(),
                    what: format!(
                        "column `{}` of epoch {} does not match its hash",
                        field.name(),
                        epoch + 1
                    ),
                });
            }
            match field {
                Field::Flags => out.flags.clone_from(&self.buf),
                f => {
                    let col = out.floats_mut(f);
                    col.clear();
                    col.extend(
                        self.buf
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
                    );
                }
            }
        }
        Ok(())
    }
}
