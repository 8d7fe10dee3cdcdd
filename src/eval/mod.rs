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

/// `logits` (rows of `classes` values) restricted to `columns`, in their order: the outputs of
/// a model evaluated on a subset of its classes (ImageNet-21K on ImageNet-1K, the authors'
/// `output[:, map_to_1k]`); `logits` itself when `columns` is empty.
pub fn restrict<'a>(
    logits: &'a [f32],
    classes: usize,
    columns: &[u32],
) -> std::borrow::Cow<'a, [f32]> {
    if columns.is_empty() {
        return std::borrow::Cow::Borrowed(logits);
    }
    let rows = logits.chunks_exact(classes.max(1));
    std::borrow::Cow::Owned(
        rows.flat_map(|row| columns.iter().map(|&c| row[c as usize]))
            .collect(),
    )
}
