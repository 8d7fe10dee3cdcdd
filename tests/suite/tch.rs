//! The LibTorch backend (`tch`) against flex: every small preset's forward and backward from the
//! same weights and batch, the seeded weights, and a tiny experiment end to end beside flex's.
//! Compiled with the `tch` feature only (it needs PyTorch 2.9.0, README "Backends"; CI does not
//! build it), and run by themselves, as the `wgpu::` tests are:
//! `LIBTORCH_USE_PYTORCH=1 cargo test --release --features tch --test suite -- tch::` with the
//! PyTorch environment active and its `torch/lib` on `LD_LIBRARY_PATH`.

use burn::prelude::*;
use dynunc::train::model::InputShape;

use crate::backends::{
    IMAGENET_AT_64, same_step, seeded_weights_match_flex, tiny_experiment_agrees_with_flex,
};

#[allow(deprecated)]
fn libtorch() -> Device {
    Device::libtorch()
}

#[test]
fn mlp_steps_on_tch_as_on_flex() {
    same_step("mlp", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn cnn_steps_on_tch_as_on_flex() {
    same_step("cnn", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn resnet_mini_steps_on_tch_as_on_flex() {
    same_step("resnet_mini", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn convnext_mini_steps_on_tch_as_on_flex() {
    same_step("convnext_mini", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn swin_mini_steps_on_tch_as_on_flex() {
    same_step("swin_mini", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn vit_mini_steps_on_tch_as_on_flex() {
    same_step("vit_mini", InputShape::MNIST, 8, &libtorch());
}

#[test]
fn resnet18_steps_on_tch_as_on_flex_at_64_pixels() {
    same_step("resnet18", IMAGENET_AT_64, 2, &libtorch());
}

#[test]
fn seeded_weights_on_tch_are_flex_s() {
    seeded_weights_match_flex(&libtorch());
}

#[test]
fn a_tiny_experiment_on_tch_agrees_with_flex() {
    tiny_experiment_agrees_with_flex("tch", "LibTorch (CPU)");
}
