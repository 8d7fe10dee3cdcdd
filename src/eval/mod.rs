//! Evaluation beyond top-1 accuracy: out-of-distribution detection and ImageNet-ReaL labels.

pub mod ood;
pub mod real;
