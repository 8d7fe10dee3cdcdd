//! The depthwise convolution on channels-last maps (`conv::conv2d_channels_last`, ConvNeXt's
//! trunk) against Burn's `conv2d` on the same map channels first: output within 1e-6 and every
//! gradient within 1e-5 of the largest value, for every depthwise case of `ops.rs` (kernels past
//! every edge, uneven padding, stride 2 left to `conv2d`) and convnext_mini's channel counts
//! (eight-channel blocks, and a remainder); evaluation without autodiff.

use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use dynunc::train::ops::conv;

use crate::ops::{
    Case, Values, assert_close, assert_runs_close, case, cases, ramp_loss, random, values,
};

/// Every depthwise case: `ops.rs`'s, and ConvNeXt's 7x7 at its widths.
fn depthwise_cases() -> Vec<Case> {
    let convnext = |what, input: [usize; 4]| Case {
        kernel: [7, 7],
        padding: [(3, 3), (3, 3)],
        groups: input[1],
        ..case(what, input, input[1])
    };
    let mut all: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.groups > 1 && c.groups == c.input[1])
        .collect();
    all.push(convnext(
        "convnext_mini stage 1: 32 channels, 7x7 map",
        [2, 32, 7, 7],
    ));
    all.push(convnext("64 channels on a 4x5 map", [3, 64, 4, 5]));
    all.push(convnext(
        "13 channels: a block of eight and five",
        [2, 13, 6, 6],
    ));
    all
}

/// Output and gradients (input, weight, bias) under a loss weighting every output differently,
/// by Burn's `conv2d` (`host` false) or by `conv2d_channels_last` on the map permuted channels
/// last (its output permuted back); the input is the same channels-first leaf either way.
fn run(c: &Case, host: bool) -> [Option<Values>; 4] {
    let d = Device::flex().autodiff();
    let [n, cin, h, w] = c.input;
    let x = random([n, cin, h, w], 1.0, 1, &d).require_grad();
    let weight = random([c.out_channels, 1, c.kernel[0], c.kernel[1]], 0.5, 2, &d).require_grad();
    let bias = c
        .bias
        .then(|| random([c.out_channels], 1.0, 3, &d).require_grad());
    let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
    let x_last = x.clone().permute([0, 2, 3, 1]);
    assert_eq!(
        conv::channels_last_on_host(&x_last, &weight, &options),
        c.stride == [1, 1],
        "{}: which path",
        c.what
    );
    let y = if host {
        let x = x_last;
        conv::conv2d_channels_last(x, weight.clone(), bias.clone(), options).permute([0, 3, 1, 2])
    } else {
        burn::tensor::module::conv2d(x.clone(), weight.clone(), bias.clone(), options)
    };
    let grads = ramp_loss(y.clone(), 17).backward();
    [
        Some(values(y.inner())),
        x.grad(&grads).map(values),
        weight.grad(&grads).map(values),
        bias.and_then(|b| b.grad(&grads)).map(values),
    ]
}

#[test]
fn channels_last_depthwise_equals_burns_conv2d() {
    for c in depthwise_cases() {
        assert_runs_close(c.what, &run(&c, false), &run(&c, true));
    }
}

/// Without autodiff (evaluation) the host forward runs on the channels-last map.
#[test]
fn channels_last_inference_equals_burns_conv2d() {
    let d = Device::flex();
    for c in depthwise_cases() {
        let x = random(c.input, 1.0, 1, &d);
        let weight = random([c.out_channels, 1, c.kernel[0], c.kernel[1]], 0.5, 2, &d);
        let bias = c.bias.then(|| random([c.out_channels], 1.0, 3, &d));
        let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
        let stock =
            burn::tensor::module::conv2d(x.clone(), weight.clone(), bias.clone(), options.clone());
        let host = conv::conv2d_channels_last(x.permute([0, 2, 3, 1]), weight, bias, options);
        let host = host.permute([0, 3, 1, 2]);
        assert_eq!(host.dims(), stock.dims(), "{}: shape", c.what);
        assert_close(&values(stock), &values(host), 1e-6, c.what);
    }
}
