//! The wgpu backend against flex, on whatever adapter wgpu finds (Mesa's software Vulkan,
//! lavapipe, in CI): every small preset's forward and backward from the same weights and
//! batch, the GPU path's pieces, a tiny experiment end to end beside flex's, and a killed run
//! resumed. Compiled with the `wgpu` feature only, and run where a Vulkan device exists:
//! `cargo test --features wgpu --test suite -- --ignored wgpu::` (`.ci/run` installs Mesa's
//! software driver first).

use burn::prelude::*;
use dynunc::train::model::InputShape;

use crate::backends::{IMAGENET_AT_64, experiment, same_step, seeded_weights_match_flex};
use crate::common::*;
use crate::transfer;

fn gpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn mlp_steps_on_wgpu_as_on_flex() {
    same_step("mlp", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn cnn_steps_on_wgpu_as_on_flex() {
    same_step("cnn", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn resnet_mini_steps_on_wgpu_as_on_flex() {
    same_step("resnet_mini", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn convnext_mini_steps_on_wgpu_as_on_flex() {
    same_step("convnext_mini", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn swin_mini_steps_on_wgpu_as_on_flex() {
    same_step("swin_mini", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn vit_mini_steps_on_wgpu_as_on_flex() {
    same_step("vit_mini", InputShape::MNIST, 8, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn resnet18_steps_on_wgpu_as_on_flex_at_64_pixels() {
    same_step("resnet18", IMAGENET_AT_64, 2, &gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn the_gpu_path_pieces_agree_with_the_host_on_wgpu() {
    transfer::fields_match_host(&gpu());
    transfer::pixels_match_host_floats(&gpu());
    seeded_weights_match_flex(&gpu());
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn a_tiny_experiment_on_wgpu_agrees_with_flex() {
    crate::backends::tiny_experiment_agrees_with_flex("wgpu", "software adapter");
}

#[test]
#[ignore = "needs a Vulkan device: apt-get install mesa-vulkan-drivers (.ci/run does), then cargo test --features wgpu --test suite -- --ignored wgpu::"]
fn a_wgpu_run_killed_mid_training_resumes_to_the_uninterrupted_runs_bytes() {
    use crate::faults::{differences, operations, snapshot};
    let root = temp();
    let data = p(root.path(), "data");
    write_fixture(&data, 300, 60);
    let reference = root.path().join("reference");
    let results = experiment(&reference, &data, "wgpu");
    let o = run_exp_yaml(&reference, Some(0));
    assert!(o.status.success(), "{}", stderr(&o));
    let total = operations(&o);
    let want = snapshot(&results);
    // A kill inside the scoring run: its store's epochs and checkpoints are among the first
    // operations (about 300 in all; the scores come after operation ~35).
    let k = total / 20;
    let dir = root.path().join("killed");
    let results = experiment(&dir, &data, "wgpu");
    let o = run_exp_yaml(&dir, Some(k));
    assert!(
        o.status.code().is_none(),
        "kill point {k} did not stop the run"
    );
    let at = stderr(&o)
        .lines()
        .find_map(|l| l.strip_prefix("fault injection: aborting after "))
        .unwrap_or_default()
        .to_owned();
    eprintln!("killed after operation {k} of {total}: {at}");
    assert!(
        at.contains("epoch") || at.contains("checkpoint-scoring") || at.contains(".prev-"),
        "kill point {k} is not in the scoring run: {at}"
    );
    let o = run_exp_yaml(&dir, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        differences(&want, &snapshot(&results)),
        Vec::<String>::new(),
        "killed after operation {k} of {total} ({at})"
    );
}
