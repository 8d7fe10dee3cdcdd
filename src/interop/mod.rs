//! Dynamics in and out of other tools: stores from logits or probability files recorded by
//! any trainer (`dynunc import`), and a store's fields as NumPy arrays (`dynunc export`).

pub mod export;
pub mod history;
pub mod logits;

use crate::dynamics::FieldSet;

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Epochs.
    pub epochs: usize,
    /// Samples.
    pub samples: usize,
    /// Classes (0 when the source does not say).
    pub classes: usize,
    /// The fields stored.
    pub fields: FieldSet,
}
