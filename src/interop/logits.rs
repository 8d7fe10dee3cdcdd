//! A store from logits per epoch, recorded by any trainer: one T x N x C `.npy` (epochs x
//! samples x classes, float32 or float16, C order), or TDDS's folder of per-epoch
//! `<e>_Output.npy` (N x C, samples in batch order) and `<e>_Index.npy` (their indices).
//!
//! Every field is computed by the recorder's own code: [`SampleStats::from_logits`] for the
//! per-sample fields and the [`Recorder`] (with [`crate::dynamics::softmax_into`]) for
//! `drift`, so an imported store equals the one a dynunc run writes from the same logits.
//! Memory: one epoch's logits.

use std::path::{Path, PathBuf};

use super::Imported;
use crate::dynamics::npy::{self, NpyHeader, bad, read_header};
use crate::dynamics::{DynamicsError, FieldSet, SampleStats, softmax_into};
use crate::train::Observer;
use crate::train::observer::{BatchOutputs, RunInfo};
use crate::train::recorder::Recorder;

/// Samples handed to the recorder at a time.
const CHUNK: usize = 4096;

/// Where the logits come from.
enum Source {
    /// One T x N x C array; element width 4 (f32) or 2 (f16).
    Array {
        path: PathBuf,
        header: NpyHeader,
        width: usize,
    },
    /// Per epoch, the logits file and its index file.
    Folder(Vec<(PathBuf, PathBuf)>),
}

/// Imports the logits at `source` (a file or a folder) with `labels` into a new store `out`.
pub fn import(source: &Path, labels: &[u32], out: &Path) -> Result<Imported, DynamicsError> {
    let (src, epochs, classes) = open(source, labels.len())?;
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        return Err(DynamicsError::Mismatch {
            what: format!(
                "label {l} of sample {i} is not below the {classes} classes of the logits; the labels belong to another dataset, or the logits lack classes"
            ),
        });
    }
    let mut recorder =
        Recorder::open_for(out, labels, classes, FieldSet::ALL, 0)?.without_resume_state();
    let n = labels.len();
    let info = RunInfo {
        label: "import".into(),
        epochs,
        batches: n.div_ceil(CHUNK),
        start_epoch: 0,
        samples: n,
    };
    let fail = |e: crate::train::TrainError| DynamicsError::Mismatch {
        what: e.to_string(),
    };
    recorder.run_start(&info).map_err(fail)?;
    for epoch in 0..epochs {
        let (logits, origin) = read_epoch(&src, epoch, n, classes)?;
        if let Some(at) = logits.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                &origin,
                format!(
                    "logit {} of sample {} at epoch {} is not finite; fix or drop that epoch",
                    logits[at],
                    at / classes,
                    epoch + 1
                ),
            ));
        }
        recorder.epoch_start(epoch);
        for start in (0..n).step_by(CHUNK) {
            let indices: Vec<usize> = (start..(start + CHUNK).min(n)).collect();
            let mut stats = Vec::with_capacity(indices.len());
            let mut probabilities = Vec::with_capacity(indices.len() * classes);
            for &i in &indices {
                let row = &logits[i * classes..(i + 1) * classes];
                stats.push(SampleStats::from_logits(row, labels[i] as usize));
                softmax_into(row, &mut probabilities);
            }
            let chunk_labels: Vec<u32> = indices.iter().map(|&i| labels[i]).collect();
            recorder.batch_outputs(
                epoch,
                BatchOutputs {
                    indices: &indices,
                    labels: &chunk_labels,
                    stats: &stats,
                    probabilities: &probabilities,
                },
            );
        }
        recorder.epoch_end(epoch, 0.0).map_err(fail)?;
    }
    recorder.run_end();
    Ok(Imported {
        epochs,
        samples: n,
        classes,
        fields: FieldSet::ALL,
    })
}

/// Opens the source for `n` samples: its form, epochs and classes.
fn open(source: &Path, n: usize) -> Result<(Source, usize, usize), DynamicsError> {
    if source.is_dir() {
        return open_folder(source, n);
    }
    let header = read_header(source)?;
    let width = element_width(source, &header)?;
    if header.fortran {
        return Err(bad(
            source,
            "Fortran-order logits; save them C-ordered (np.save(path, np.ascontiguousarray(x)))",
        ));
    }
    let [t, rows, classes] = header.shape[..] else {
        return Err(bad(
            source,
            format!(
                "shape {:?}: logits must be epochs x samples x classes (T, N, C)",
                header.shape
            ),
        ));
    };
    if rows != n {
        return Err(bad(
            source,
            format!(
                "{rows} samples per epoch but the labels give {n}; give the labels of the same training set"
            ),
        ));
    }
    let want = header.offset + (t * rows * classes * width) as u64;
    let have = std::fs::metadata(source)
        .map_err(|e| DynamicsError::io(source, e))?
        .len();
    if have < want {
        return Err(bad(
            source,
            format!("{have} bytes, {want} needed for shape ({t}, {rows}, {classes}): truncated"),
        ));
    }
    let path = source.to_path_buf();
    Ok((
        Source::Array {
            path,
            header,
            width,
        },
        t,
        classes,
    ))
}

/// `4` for `<f4`, `2` for `<f2`; an error naming the dtype otherwise.
fn element_width(path: &Path, h: &NpyHeader) -> Result<usize, DynamicsError> {
    match h.descr.as_str() {
        "<f4" => Ok(4),
        "<f2" => Ok(2),
        other => Err(bad(
            path,
            format!("dtype '{other}': logits must be float32 ('<f4') or float16 ('<f2')"),
        )),
    }
}

/// TDDS's folder: `<e>_Output.npy` and `<e>_Index.npy` for e = 0, 1, ... with no gap.
fn open_folder(dir: &Path, n: usize) -> Result<(Source, usize, usize), DynamicsError> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DynamicsError::io(dir, e))? {
        let name = entry.map_err(|e| DynamicsError::io(dir, e))?.file_name();
        if let Some(e) = name.to_string_lossy().strip_suffix("_Output.npy")
            && let Ok(e) = e.parse::<usize>()
        {
            numbers.push(e);
        }
    }
    numbers.sort_unstable();
    if numbers.is_empty() {
        return Err(DynamicsError::Mismatch {
            what: format!(
                "{}: no <epoch>_Output.npy files; give a folder of per-epoch logits as TDDS writes them, or a T x N x C .npy",
                dir.display()
            ),
        });
    }
    if let Some(missing) = (0..numbers.len()).find(|&e| numbers[e] != e) {
        return Err(DynamicsError::Mismatch {
            what: format!(
                "{}: epoch {missing}'s {missing}_Output.npy is missing (epochs are numbered from 0 without gaps)",
                dir.display()
            ),
        });
    }
    let files: Vec<(PathBuf, PathBuf)> = numbers
        .iter()
        .map(|e| {
            (
                dir.join(format!("{e}_Output.npy")),
                dir.join(format!("{e}_Index.npy")),
            )
        })
        .collect();
    let first = read_header(&files[0].0)?;
    let classes = match first.shape[..] {
        [rows, c] if rows == n => c,
        _ => {
            return Err(bad(
                &files[0].0,
                format!(
                    "shape {:?}: need ({n}, classes), one row per sample of the labels",
                    first.shape
                ),
            ));
        }
    };
    Ok((Source::Folder(files), numbers.len(), classes))
}

/// The logits of epoch `epoch` in sample order (N x C), and the file they came from.
fn read_epoch(
    src: &Source,
    epoch: usize,
    n: usize,
    classes: usize,
) -> Result<(Vec<f32>, PathBuf), DynamicsError> {
    match src {
        Source::Array {
            path,
            header,
            width,
        } => {
            let len = n * classes * width;
            let at = header.offset + (epoch * len) as u64;
            let bytes = read_at(path, at, len)?;
            Ok((decode(&bytes, *width), path.clone()))
        }
        Source::Folder(files) => {
            let (output, index) = &files[epoch];
            let h = read_header(output)?;
            let width = element_width(output, &h)?;
            if h.shape != [n, classes] || h.fortran {
                return Err(bad(
                    output,
                    format!(
                        "shape {:?}{}: every epoch must be ({n}, {classes}), C-ordered",
                        h.shape,
                        if h.fortran { ", Fortran order" } else { "" }
                    ),
                ));
            }
            let rows = decode(&read_at(output, h.offset, n * classes * width)?, width);
            let order = npy::read_labels(index)?;
            let mut logits = vec![0f32; n * classes];
            let mut placed = vec![false; n];
            if order.len() != n {
                return Err(bad(index, format!("{} indices for {n} rows", order.len())));
            }
            for (row, &i) in order.iter().enumerate() {
                let i = i as usize;
                if i >= n || placed[i] {
                    return Err(bad(
                        index,
                        format!(
                            "index {i} at row {row} is out of range or repeated: the indices must be a permutation of 0..{n}"
                        ),
                    ));
                }
                placed[i] = true;
                logits[i * classes..(i + 1) * classes]
                    .copy_from_slice(&rows[row * classes..(row + 1) * classes]);
            }
            Ok((logits, output.clone()))
        }
    }
}

/// `len` bytes of `path` from `at`.
fn read_at(path: &Path, at: u64, len: usize) -> Result<Vec<u8>, DynamicsError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| DynamicsError::io(path, e))?;
    file.seek(SeekFrom::Start(at))
        .map_err(|e| DynamicsError::io(path, e))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(|_| {
        bad(
            path,
            "the file ends before the data its shape says: truncated",
        )
    })?;
    Ok(buf)
}

/// Little-endian f32 (`width` 4) or f16 (`width` 2) values as f32.
fn decode(bytes: &[u8], width: usize) -> Vec<f32> {
    match width {
        4 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        _ => bytes
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
    }
}

/// IEEE 754 half precision to single precision (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value f x 2^-24.
            let v = f as f32 * (-24f32).exp2();
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}
