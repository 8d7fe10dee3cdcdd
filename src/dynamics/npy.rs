//! Import of dynamics recorded elsewhere: a NumPy `.npy` matrix of true-class probabilities.
//!
//! The matrix is N x T (samples x epochs) float32, C or Fortran order, format version 1-3.
//! Every sample counts as seen in every epoch. Labels may come from a second `.npy` holding a
//! 1-D integer array (int32/int64/uint8...) of length N.

use std::path::Path;

use super::{DynamicsError, EpochColumns, InMemory};

struct NpyArray {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// A `.npy` file's header: element type, order, shape, and where the data starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// NumPy's dtype string, e.g. `<f4`.
    pub descr: String,
    /// Column-major (Fortran) order.
    pub fortran: bool,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub offset: u64,
}

pub(crate) fn bad(path: &Path, what: impl Into<String>) -> DynamicsError {
    DynamicsError::BadNpy {
        path: path.display().to_string(),
        what: what.into(),
    }
}

/// Parses the header at the start of `bytes` (at least the whole header).
fn parse_header(path: &Path, bytes: &[u8]) -> Result<NpyHeader, DynamicsError> {
    if bytes.len() < 10 || &bytes[0..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a .npy file (missing the \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => {
            return Err(bad(
                path,
                format!("unsupported .npy format version {major}"),
            ));
        }
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad(path, "header runs past the end of the file"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(path, "header is not text"))?;
    let value_of = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        Some(rest[rest.find(':')? + 1..].trim_start())
    };
    let descr = value_of("descr")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.split('\'').next())
        .ok_or_else(|| bad(path, "header has no 'descr'"))?
        .to_owned();
    let fortran = value_of("fortran_order")
        .map(|v| v.starts_with("True"))
        .ok_or_else(|| bad(path, "header has no 'fortran_order'"))?;
    let shape_text = value_of("shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| bad(path, "header has no 'shape'"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(path, format!("cannot read shape ({shape_text})")))?;
    Ok(NpyHeader {
        descr,
        fortran,
        shape,
        offset: (start + header_len) as u64,
    })
}

/// Reads the header of the `.npy` file at `path` (the data is not read).
pub fn read_header(path: &Path) -> Result<NpyHeader, DynamicsError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| DynamicsError::io(path, e))?;
    let mut head = vec![0u8; 12];
    let got = file
        .read(&mut head)
        .map_err(|e| DynamicsError::io(path, e))?;
    head.truncate(got);
    let len = match head.get(6) {
        Some(1) if got >= 10 => 10 + u16::from_le_bytes([head[8], head[9]]) as usize,
        Some(2 | 3) if got >= 12 => {
            12 + u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize
        }
        _ => 12,
    };
    let mut rest = vec![0u8; len.saturating_sub(got)];
    file.read_exact(&mut rest)
        .map_err(|_| bad(path, "header runs past the end of the file"))?;
    head.extend_from_slice(&rest);
    parse_header(path, &head)
}

/// The bytes of a version-1 `.npy` header for `descr` and `shape` (padded to 64 bytes).
pub fn header_bytes(descr: &str, fortran: bool, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [one] => format!("{one},"),
        _ => shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}");
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn parse(path: &Path) -> Result<NpyArray, DynamicsError> {
    let bytes = std::fs::read(path).map_err(|e| DynamicsError::io(path, e))?;
    let h = parse_header(path, &bytes)?;
    Ok(NpyArray {
        descr: h.descr,
        fortran: h.fortran,
        shape: h.shape,
        data: bytes[h.offset as usize..].to_vec(),
    })
}

/// Reads an N x T float32 matrix of true-class probabilities as dynamics.
pub fn read_probabilities(path: &Path) -> Result<InMemory, DynamicsError> {
    let arr = parse(path)?;
    if arr.descr != "<f4" {
        return Err(bad(
            path,
            format!("dtype '{}' (need '<f4', little-endian float32)", arr.descr),
        ));
    }
    let [n, t] = arr.shape[..] else {
        return Err(bad(
            path,
            format!(
                "rank {} array of shape {:?} (need rank 2)",
                arr.shape.len(),
                arr.shape
            ),
        ));
    };
    let need = n.checked_mul(t).and_then(|v| v.checked_mul(4));
    if need != Some(arr.data.len()) {
        return Err(bad(
            path,
            format!(
                "{} data bytes for shape ({n}, {t}), expected {} (truncated?)",
                arr.data.len(),
                need.map_or("more than can be addressed".into(), |v| v.to_string())
            ),
        ));
    }
    let at = |i: usize, k: usize| {
        let idx = if arr.fortran { k * n + i } else { i * t + k };
        f32::from_le_bytes(arr.data[4 * idx..4 * idx + 4].try_into().expect("4 bytes"))
    };
    // Probabilities are in [0, 1]: logits, losses or percentages imported by mistake would
    // score as something else without a word.
    for i in 0..n {
        for k in 0..t {
            let v = at(i, k);
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(
                    path,
                    format!(
                        "value {v} at sample {i}, epoch {} is not a probability in [0, 1]; the file must hold true-class softmax probabilities (apply a softmax to logits first)",
                        k + 1
                    ),
                ));
            }
        }
    }
    let epochs = (0..t)
        .map(|k| EpochColumns::p_true_only((0..n).map(|i| at(i, k)).collect()))
        .collect();
    Ok(InMemory {
        classes: 0,
        labels: None,
        epochs,
    })
}

/// Reads a 1-D integer `.npy` of labels.
pub fn read_labels(path: &Path) -> Result<Vec<u32>, DynamicsError> {
    let arr = parse(path)?;
    let [n] = arr.shape[..] else {
        return Err(bad(
            path,
            format!("labels must be 1-D, found shape {:?}", arr.shape),
        ));
    };
    let width = match arr.descr.as_str() {
        "|u1" | "|i1" => 1,
        "<i2" | "<u2" => 2,
        "<i4" | "<u4" => 4,
        "<i8" | "<u8" => 8,
        other => {
            return Err(bad(
                path,
                format!("labels dtype '{other}' (need a little-endian integer type)"),
            ));
        }
    };
    if arr.data.len() != n * width {
        return Err(bad(
            path,
            format!(
                "{} data bytes for {n} labels of {width} bytes",
                arr.data.len()
            ),
        ));
    }
    arr.data
        .chunks_exact(width)
        .enumerate()
        .map(|(i, c)| {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            let v = i64::from_le_bytes(b);
            let signed_negative = arr.descr.contains('i') && c[width - 1] & 0x80 != 0;
            u32::try_from(v)
                .ok()
                .filter(|_| !signed_negative)
                .ok_or_else(|| bad(path, format!("label {i} is not a class index")))
        })
        .collect()
}
