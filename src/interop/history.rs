//! A store from the official Dyn-Unc code's probability history (BAAI-DCAI/Dataset-Pruning,
//! `ImageNet/main_and_produce.py` writes it, `get_coreset.py` reads it): a folder
//! `pred_prob_history/` of one text file per epoch, ordered by the first number in each name,
//! each holding N whitespace-separated true-class probabilities, 0 meaning "not seen this
//! epoch" (`get_coreset.py` keeps only the non-zero entries). The store holds p_true and the
//! seen flags; scoring with `windows: released_code` then reproduces `get_coreset.py`.

use std::path::{Path, PathBuf};

use super::Imported;
use crate::dynamics::store::StoreWriter;
use crate::dynamics::{DynamicsError, EpochColumns, Field, FieldSet, flags};

/// Imports the folder `dir` (or `dir/pred_prob_history`) with `labels` into a new store `out`.
pub fn import(dir: &Path, labels: &[u32], out: &Path) -> Result<Imported, DynamicsError> {
    let files = files(dir)?;
    let n = labels.len();
    let fields = FieldSet::of(&[Field::PTrue, Field::Flags]);
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut writer = StoreWriter::open(out, labels, classes, fields)?;
    for (epoch, path) in files.iter().enumerate() {
        let text = std::fs::read_to_string(path).map_err(|e| DynamicsError::io(path, e))?;
        let mut cols = EpochColumns {
            p_true: Vec::with_capacity(n),
            flags: Vec::with_capacity(n),
            ..EpochColumns::default()
        };
        for (i, word) in text.split_whitespace().enumerate() {
            let p: f64 = word
                .parse()
                .map_err(|_| bad(path, format!("value {} (`{word}`) is not a number", i + 1)))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(
                    path,
                    format!("value {} is {p}, not a probability in [0, 1]", i + 1),
                ));
            }
            cols.p_true.push(p as f32);
            cols.flags.push(if p != 0.0 { flags::SEEN } else { 0 });
        }
        if cols.p_true.len() != n {
            return Err(bad(
                path,
                format!(
                    "{} values for the {n} samples of the labels (epoch {} of the folder)",
                    cols.p_true.len(),
                    epoch + 1
                ),
            ));
        }
        writer.append(&cols)?;
    }
    Ok(Imported {
        epochs: files.len(),
        samples: n,
        classes,
        fields,
    })
}

fn bad(path: &Path, what: String) -> DynamicsError {
    DynamicsError::Mismatch {
        what: format!("{}: {what}", path.display()),
    }
}

/// The epoch files, ordered as `get_coreset.py` orders them (by the first number in the name).
fn files(dir: &Path) -> Result<Vec<PathBuf>, DynamicsError> {
    let inner = dir.join("pred_prob_history");
    let dir = if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    };
    let mut numbered = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| DynamicsError::io(&dir, e))? {
        let path = entry.map_err(|e| DynamicsError::io(&dir, e))?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let digits: String = name
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<u64>() {
            Ok(k) if path.is_file() => numbered.push((k, path)),
            _ => {
                return Err(bad(
                    &path,
                    "has no epoch number in its name; the folder must hold only the per-epoch probability files (e.g. prob_0.txt, prob_1.txt, ...)".into(),
                ));
            }
        }
    }
    numbered.sort();
    if numbered.is_empty() {
        return Err(bad(&dir, "holds no probability files".into()));
    }
    if let Some(w) = numbered.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(bad(
            &w[1].1,
            format!(
                "has the same epoch number ({}) as {}",
                w[0].0,
                w[0].1.display()
            ),
        ));
    }
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}
