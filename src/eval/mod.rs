//! Evaluation beyond top-1 accuracy: out-of-distribution detection and ImageNet-ReaL labels.

pub mod ood;
pub mod real;
pub mod section;

/// The predicted class of one row of logits: the first index of the largest value.
pub fn argmax(row: &[f32]) -> u32 {
    row.iter()
        .enumerate()
        .fold(0, |best, (c, &v)| if v > row[best] { c } else { best }) as u32
}
