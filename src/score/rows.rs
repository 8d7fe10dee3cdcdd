//! The scores CSV (`index,label,score`, one row per sample): its typed row and readers.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One row of a scores CSV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// Sample index in the training set.
    pub index: usize,
    /// True label, when known.
    pub label: Option<u32>,
    /// Score.
    pub score: f32,
}

/// A scores file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {what}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct RowsError {
    /// The file.
    pub path: String,
    /// 1-based line, when the problem is in one.
    pub line: Option<usize>,
    /// What is wrong and what was expected.
    pub what: String,
}

/// Reads the rows of a scores-shaped CSV (a scores file, or a kept/pruned list) in file order.
pub fn read_scores_unordered(path: &Path) -> Result<Vec<ScoreRow>, RowsError> {
    let err = |line, what: String| RowsError {
        path: path.display().to_string(),
        line,
        what,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(None, e.to_string()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| {
                err(
                    Some(i + 2),
                    format!("{e}; expected columns index,label,score as written by `dynunc score`"),
                )
            })
        })
        .collect()
}

/// Reads a scores CSV written by `dynunc score`: every sample once, in index order.
pub fn read_scores(path: &Path) -> Result<Vec<ScoreRow>, RowsError> {
    let rows = read_scores_unordered(path)?;
    if let Some((i, row)) = rows.iter().enumerate().find(|(i, r)| r.index != *i) {
        return Err(RowsError {
            path: path.display().to_string(),
            line: Some(i + 2),
            what: format!(
                "index {} out of order (expected {i}); the file must list every sample once, in order",
                row.index
            ),
        });
    }
    Ok(rows)
}
