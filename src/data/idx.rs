//! IDX files (the MNIST format), gzipped or not.
//!
//! Images: magic 0x00000803, then u32 big-endian count, rows, columns, then one byte per pixel.
//! Labels: magic 0x00000801, then u32 count, then one byte per label.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, ImageSet};

fn find(dir: &Path, name: &str, hint: &'static str) -> Result<PathBuf, DataError> {
    for candidate in [name.to_owned(), format!("{name}.gz")] {
        let p = dir.join(&candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::MissingFile {
        path: dir.display().to_string(),
        name: name.to_owned(),
        hint,
    })
}

/// Reads a whole file, gunzipping when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.display().to_string(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: path.display().to_string(),
                what: format!("gzip stream cannot be decompressed ({e})"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn corrupt(path: &Path, what: String) -> DataError {
    DataError::Corrupt {
        path: path.display().to_string(),
        what,
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Parses IDX image bytes into (count, rows, columns, pixels).
pub fn parse_images(
    bytes: &[u8],
    path: &Path,
) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    if bytes.len() < 16 {
        return Err(corrupt(
            path,
            format!("{} bytes, shorter than an IDX image header", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != 0x0803 {
        return Err(corrupt(
            path,
            format!("magic number {magic:#010x}, expected 0x00000803 (unsigned-byte images)"),
        ));
    }
    let (n, rows, cols) = (
        be_u32(bytes, 4) as usize,
        be_u32(bytes, 8) as usize,
        be_u32(bytes, 12) as usize,
    );
    let need = n.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    if need != Some(bytes.len() - 16) {
        return Err(corrupt(
            path,
            format!(
                "header says {n} images of {rows}x{cols} but {} pixel bytes follow",
                bytes.len() - 16
            ),
        ));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Parses IDX label bytes.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u32>, DataError> {
    if bytes.len() < 8 {
        return Err(corrupt(
            path,
            format!("{} bytes, shorter than an IDX label header", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != 0x0801 {
        return Err(corrupt(
            path,
            format!("magic number {magic:#010x}, expected 0x00000801 (unsigned-byte labels)"),
        ));
    }
    let n = be_u32(bytes, 4) as usize;
    if bytes.len() - 8 != n {
        return Err(corrupt(
            path,
            format!("header says {n} labels but {} follow", bytes.len() - 8),
        ));
    }
    Ok(bytes[8..].iter().map(|&b| u32::from(b)).collect())
}

/// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` from `dir`.
pub fn read_split(dir: &Path, prefix: &str, hint: &'static str) -> Result<ImageSet, DataError> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"), hint)?;
    let lbl_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"), hint)?;
    let (n, rows, cols, pixels) = parse_images(&read_maybe_gz(&img_path)?, &img_path)?;
    let labels = parse_labels(&read_maybe_gz(&lbl_path)?, &lbl_path)?;
    if labels.len() != n {
        return Err(corrupt(
            &lbl_path,
            format!(
                "{} labels for the {n} images of {}",
                labels.len(),
                img_path.display()
            ),
        ));
    }
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    Ok(ImageSet {
        pixels,
        labels,
        height: rows,
        width: cols,
        channels: 1,
        classes,
    })
}
