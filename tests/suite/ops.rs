//! dynunc's host operations (`train::ops`) against Burn's own: the convolution (im2col + matrix
//! products, forward and backward) for output, input, weight and bias gradients, and max
//! pooling for output and input gradient, GELU, batch norm and layer norm, over the shapes the
//! models use and some they do not.

use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use dynunc::train::ops::{conv, max_pool};

/// One convolution to compare.
pub(crate) struct Case {
    pub(crate) what: &'static str,
    pub(crate) input: [usize; 4],
    pub(crate) out_channels: usize,
    pub(crate) kernel: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) padding: [(usize, usize); 2],
    pub(crate) dilation: [usize; 2],
    pub(crate) groups: usize,
    pub(crate) bias: bool,
    pub(crate) input_grad: bool,
}

pub(crate) const fn case(what: &'static str, input: [usize; 4], out_channels: usize) -> Case {
    Case {
        what,
        input,
        out_channels,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [(1, 1), (1, 1)],
        dilation: [1, 1],
        groups: 1,
        bias: true,
        input_grad: true,
    }
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        // The small CNN's first layer: images do not need a gradient.
        Case {
            input_grad: false,
            ..case("cnn stem 1->4, 3x3 same", [3, 1, 9, 9], 4)
        },
        case("cnn 3->5 3x3 same, 7x8", [2, 3, 7, 8], 5),
        Case {
            stride: [2, 2],
            bias: false,
            ..case("resnet 3x3 stride 2", [2, 4, 9, 8], 6)
        },
        Case {
            kernel: [1, 1],
            stride: [2, 2],
            padding: [(0, 0), (0, 0)],
            bias: false,
            ..case("resnet 1x1 shortcut, stride 2", [2, 8, 6, 6], 5)
        },
        Case {
            kernel: [7, 7],
            stride: [2, 2],
            padding: [(3, 3), (3, 3)],
            bias: false,
            ..case("resnet stem 7x7 stride 2", [2, 3, 12, 11], 4)
        },
        Case {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [(0, 0), (0, 0)],
            ..case("patchify 2x2 stride 2", [2, 3, 8, 8], 6)
        },
        Case {
            kernel: [2, 3],
            padding: [(1, 0), (2, 1)],
            dilation: [2, 1],
            ..case("2x3, dilation 2, uneven padding", [2, 2, 9, 7], 3)
        },
        // A deep layer on small images: 2x2 outputs, several samples per matrix product.
        Case {
            stride: [2, 2],
            bias: false,
            ..case("deep layer, 2x2 output", [8, 6, 4, 4], 5)
        },
        Case {
            stride: [2, 2],
            ..case("deep layer with bias, 1x1 output", [9, 6, 2, 2], 7)
        },
        // Grouped: Burn's own operation on both sides.
        Case {
            groups: 2,
            ..case("groups 2 (Burn's operation)", [2, 4, 6, 6], 4)
        },
        // Depthwise (one filter per channel): the host's own backward.
        Case {
            kernel: [7, 7],
            padding: [(3, 3), (3, 3)],
            groups: 5,
            ..case("depthwise 7x7 same, ConvNeXt's", [3, 5, 9, 8], 5)
        },
        Case {
            kernel: [3, 2],
            padding: [(0, 2), (1, 0)],
            groups: 3,
            bias: false,
            ..case("depthwise 3x2, uneven padding", [2, 3, 5, 6], 3)
        },
        Case {
            kernel: [7, 7],
            padding: [(3, 3), (3, 3)],
            groups: 4,
            ..case(
                "depthwise 7x7 on a 2x2 map (kernel past every edge)",
                [2, 4, 2, 2],
                4,
            )
        },
        Case {
            stride: [2, 2],
            groups: 4,
            ..case("depthwise stride 2 (Burn's operation)", [2, 4, 6, 6], 4)
        },
    ]
}

pub(crate) type Values = Vec<f32>;

/// A loss that weights every output differently (a ramp repeating every `period` values), so
/// that every gradient entry matters.
pub(crate) fn ramp_loss(y: Tensor<4>, period: usize) -> Tensor<1> {
    let n = y.shape().num_elements();
    let ramp: Vec<f32> = (0..n)
        .map(|i| (i % period) as f32 - (period / 2) as f32)
        .collect();
    let ramp = Tensor::<4>::from_data(TensorData::new(ramp, y.dims()), &y.device());
    (y * ramp).sum()
}

/// Normal random values from their own generator: tests share a process, so the device's
/// global seed is not this test's alone.
pub(crate) fn random<const D: usize>(
    shape: [usize; D],
    std: f32,
    seed: u64,
    device: &Device,
) -> Tensor<D> {
    use rand::SeedableRng;
    use rand_distr::Distribution as _;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let normal = rand_distr::Normal::new(0.0f32, std).unwrap();
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Values {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Output and gradients (input, weight, bias) of one convolution under a loss that weights
/// every output differently, so that every gradient entry matters.
fn run(c: &Case, host: bool) -> [Option<Values>; 4] {
    let d = Device::flex().autodiff();
    let [n, cin, h, w] = c.input;
    let mut x = random([n, cin, h, w], 1.0, 1, &d);
    if c.input_grad {
        x = x.require_grad();
    }
    let kernel = [c.out_channels, cin / c.groups, c.kernel[0], c.kernel[1]];
    let weight = random(kernel, 0.5, 2, &d).require_grad();
    let bias = c
        .bias
        .then(|| random([c.out_channels], 1.0, 3, &d).require_grad());
    let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
    let depthwise = c.groups == cin && c.out_channels == cin && c.stride == [1, 1];
    assert_eq!(
        conv::uses_host_backward(&x, &weight, &options),
        c.groups == 1 || depthwise,
        "{}: which path",
        c.what
    );
    let y = if host {
        conv::conv2d(x.clone(), weight.clone(), bias.clone(), options)
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

/// `a` and `b` (Burn's and dynunc's values of `what`) differ by at most `tolerance` times the
/// largest `|a|`, which is not zero: 1e-6 for outputs, 1e-5 for gradients.
pub(crate) fn assert_close(a: &[f32], b: &[f32], tolerance: f32, what: &str) {
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        scale > 0.0 && diff <= tolerance * scale,
        "{what} differs by {diff} (scale {scale})"
    );
}

#[test]
fn host_backward_equals_burns_conv2d() {
    for c in cases() {
        let stock = run(&c, false);
        let host = run(&c, true);
        let expected = [true, c.input_grad, true, c.bias];
        for (i, (a, expected)) in stock.iter().zip(expected).enumerate() {
            assert_eq!(a.is_some(), expected, "{}: stock value {i} present", c.what);
        }
        assert_runs_close(c.what, &stock, &host);
    }
}

/// The output and gradients of two runs of one convolution (Burn's and dynunc's, [`run`]'s
/// order) present in both or neither, of one length, the output within 1e-6 and the gradients
/// within 1e-5 of the largest value.
pub(crate) fn assert_runs_close(
    case: &str,
    stock: &[Option<Values>; 4],
    host: &[Option<Values>; 4],
) {
    let names = [
        "output",
        "input gradient",
        "weight gradient",
        "bias gradient",
    ];
    for ((what, a), b) in names.iter().zip(stock).zip(host) {
        assert_eq!(a.is_some(), b.is_some(), "{case}: {what} present");
        let (Some(a), Some(b)) = (a, b) else { continue };
        assert_eq!(a.len(), b.len(), "{case}: {what} length");
        let tolerance = if *what == "output" { 1e-6 } else { 1e-5 };
        assert_close(a, b, tolerance, &format!("{case}: {what}"));
    }
}

/// Without autodiff (evaluation), the host forward runs and equals Burn's output; a hand case.
#[test]
fn inference_equals_burns_conv2d() {
    let d = Device::flex();
    for c in cases() {
        let [_, cin, ..] = c.input;
        let x = random(c.input, 1.0, 1, &d);
        let kernel = [c.out_channels, cin / c.groups, c.kernel[0], c.kernel[1]];
        let weight = random(kernel, 0.5, 2, &d);
        let bias = c.bias.then(|| random([c.out_channels], 1.0, 3, &d));
        let options = ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups);
        assert!(!conv::uses_host_backward(&x, &weight, &options));
        let stock =
            burn::tensor::module::conv2d(x.clone(), weight.clone(), bias.clone(), options.clone());
        let host = conv::conv2d(x, weight, bias, options);
        assert_eq!(host.dims(), stock.dims(), "{}: shape", c.what);
        assert_close(&values(stock), &values(host), 1e-6, c.what);
    }
    let x = Tensor::<4>::ones([1, 2, 5, 5], &d);
    let w = Tensor::<4>::ones([3, 2, 3, 3], &d);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let y = values(conv::conv2d(x, w, None, options));
    // The centre sees 2 channels x 9 ones; a corner 2 x 4.
    assert_eq!(y[12], 18.0);
    assert_eq!(y[0], 8.0);
}

/// Max pooling as the models use it (2x2 in the CNN, 3x3 stride 2 padding 1 in ResNet's stem)
/// and on odd sizes, with autodiff (output and input gradient) and without (output).
#[test]
fn host_max_pool_equals_burns() {
    let cases = [
        ("cnn 2x2", [3, 4, 28, 28], [2, 2], [2, 2], 0),
        ("2x2 on odd sizes", [2, 3, 7, 9], [2, 2], [2, 2], 0),
        (
            "resnet stem 3x3 stride 2 padding 1",
            [2, 3, 14, 13],
            [3, 3],
            [2, 2],
            1,
        ),
        ("overlapping 3x3 stride 1", [1, 2, 6, 5], [3, 3], [1, 1], 0),
    ];
    for (what, shape, kernel, stride, pad) in cases {
        let pool = MaxPool2dConfig::new(kernel)
            .with_strides(stride)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init();
        for autodiff in [true, false] {
            let d = if autodiff {
                Device::flex().autodiff()
            } else {
                Device::flex()
            };
            let mut x = random(shape, 1.0, 4, &d);
            if autodiff {
                x = x.require_grad();
            }
            assert!(max_pool::runs_on_host(&pool, &x), "{what}: host path");
            let run = |y: Tensor<4>| {
                let dx = autodiff.then(|| {
                    let g = ramp_loss(y.clone(), 13).backward();
                    values(x.grad(&g).expect("input gradient"))
                });
                (y.dims(), values(y), dx)
            };
            let stock = run(pool.forward(x.clone()));
            let host = run(max_pool::forward(&pool, x.clone()));
            // A maximum is exact and each gradient entry one sum: equal to the bit.
            assert_eq!(stock, host, "{what} (autodiff: {autodiff})");
        }
    }
}

/// The small CNN pools before its ReLU (a quarter of the ReLU's work): relu(max) = max(relu),
/// and the gradient reaches the same inputs, so the numbers are those of ReLU then pooling.
/// Checked to the bit on inputs with ties, zeros and all-negative windows.
#[test]
fn relu_after_pooling_equals_relu_before() {
    use burn::tensor::activation::relu;
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let d = Device::flex().autodiff();
    let mut x = random([4, 3, 8, 8], 1.0, 6, &d)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    // Ties, exact zeros, a window of negatives.
    x[0..4].copy_from_slice(&[0.5, 0.5, -1.0, 0.0]);
    x[8..12].copy_from_slice(&[0.5, 0.5, 0.0, 0.0]);
    x[16..18].copy_from_slice(&[-1.0, -2.0]);
    x[24..26].copy_from_slice(&[-3.0, -0.5]);
    let x = Tensor::<4>::from_data(TensorData::new(x, [4, 3, 8, 8]), &d).require_grad();
    let run = |y: Tensor<4>| {
        let g = ramp_loss(y.clone(), 7).backward();
        (values(y), values(x.grad(&g).unwrap()))
    };
    let before = run(max_pool::forward(&pool, relu(x.clone())));
    let after = run(relu(max_pool::forward(&pool, x.clone())));
    assert_eq!(before, after);
}

/// GELU on the host against Burn's (the same formulas, erf and exp computed branch-free
/// instead of by libm): each output within 1.5e-6 of Burn's (relative, or absolute below 1),
/// the input gradient within 1e-5 of its largest entry, over random values, the extremes (far
/// tails, zero, tiny) and more elements than one parallel task holds; without autodiff the
/// operation is Burn's.
#[test]
fn host_gelu_equals_burns() {
    use burn::tensor::activation;
    use dynunc::train::ops::gelu;
    let d = Device::flex().autodiff();
    for (shape, seed) in [([2usize, 3, 5, 7], 4u64), ([4, 64, 14, 14], 5)] {
        let mut x = values(random(shape, 3.0, seed, &d));
        x[..8].copy_from_slice(&[0.0, -0.0, 1e-30, -1e-30, 12.0, -12.0, 40.0, -40.0]);
        let x = Tensor::<4>::from_data(TensorData::new(x, shape), &d).require_grad();
        assert!(gelu::runs_on_host(&x));
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let y = f(x.clone());
            let grads = ramp_loss(y.clone(), 13).backward();
            (values(y.inner()), values(x.grad(&grads).unwrap()))
        };
        let (y_burn, dx_burn) = run(&|x| activation::gelu(x));
        let (y_host, dx_host) = run(&|x| gelu::gelu(x));
        for (i, (a, b)) in y_host.iter().zip(&y_burn).enumerate() {
            let d = (a - b).abs() / b.abs().max(1.0);
            assert!(d <= 1.5e-6, "{shape:?}: output {i}: {a} against {b}");
        }
        let scale = dx_burn.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in dx_host.iter().zip(&dx_burn).enumerate() {
            let d = (a - b).abs() / scale;
            assert!(d <= 1e-5, "{shape:?}: gradient {i}: {a} against {b}");
        }
    }
    let plain = Tensor::<2>::ones([2, 2], &Device::flex());
    assert!(!gelu::runs_on_host(&plain));
}

/// Batch norm while training as one host operation, alone and with the ReLU after it: output,
/// input/gamma/beta gradients and the running statistics it leaves, against Burn's
/// `BatchNorm::forward` (and `relu`) within 1e-5 of the largest value, on a map with an offset
/// and spread per channel; evaluation is Burn's.
#[test]
fn host_batch_norm_equals_burns() {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::activation::relu;
    use dynunc::train::ops::batch_norm;
    let d = Device::flex().autodiff();
    let cases = [
        ([3usize, 4, 5, 6], 7u64),
        ([16, 8, 1, 1], 8),
        ([2, 3, 9, 9], 9),
    ];
    for ((shape, seed), clamp) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let c = shape[1];
        let gamma = random([c], 1.0, seed + 10, &d).add_scalar(1.0);
        let beta = random([c], 1.0, seed + 20, &d);
        // A fresh layer per run: clones would share the running statistics.
        let layer = || {
            let mut bn = BatchNormConfig::new(c).init(&d);
            bn.gamma = Param::from_tensor(gamma.clone().detach());
            bn.beta = Param::from_tensor(beta.clone().detach());
            bn
        };
        let offsets = random([1, c, 1, 1], 5.0, seed + 30, &d);
        let x = (random(shape, 2.0, seed, &d) + offsets).require_grad();
        let run = |host: bool| {
            let layer = layer();
            assert!(batch_norm::runs_on_host(&layer, &x));
            let y = match (host, clamp) {
                (true, false) => batch_norm::forward(&layer, x.clone()),
                (true, true) => batch_norm::forward_relu(&layer, x.clone()),
                (false, false) => layer.forward(x.clone()),
                (false, true) => relu(layer.forward(x.clone())),
            };
            let grads = ramp_loss(y.clone(), 11).backward();
            vec![
                values(y.inner()),
                values(x.grad(&grads).unwrap()),
                values(layer.gamma.grad(&grads).unwrap()),
                values(layer.beta.grad(&grads).unwrap()),
                values(layer.running_mean.value_sync()),
                values(layer.running_var.value_sync()),
            ]
        };
        let (stock, host) = (run(false), run(true));
        let names = [
            "output",
            "dx",
            "dgamma",
            "dbeta",
            "running mean",
            "running var",
        ];
        for ((what, a), b) in names.iter().zip(&stock).zip(&host) {
            assert_close(a, b, 1e-5, &format!("{shape:?}, relu {clamp}: {what}"));
        }
    }
    let eval = BatchNormConfig::new(2).init(&Device::flex());
    assert!(!batch_norm::runs_on_host(
        &eval,
        &Tensor::<4>::ones([1, 2, 2, 2], &Device::flex())
    ));
}

/// Layer norm over the last dimension (ConvNeXt's on permuted maps, Swin's on tokens), with
/// and without a shift: output within 1e-6, input, scale and shift gradients within 1e-5.
#[test]
fn host_layer_norm_equals_burns() {
    use burn::tensor::module::layer_norm as stock;
    use dynunc::train::ops::layer_norm::{layer_norm, runs_on_host};
    let d = Device::flex().autodiff();
    for (shape, permuted, shift) in [
        ([2usize, 3, 5, 8], false, true),
        ([4, 16, 7, 7], true, true),
        ([3, 2, 9, 5], false, false),
    ] {
        let x = random(shape, 2.0, 7, &d).add_scalar(0.5).require_grad();
        let width = if permuted { shape[1] } else { shape[3] };
        let gamma = random([width], 1.0, 8, &d).require_grad();
        let beta = shift.then(|| random([width], 1.0, 9, &d).require_grad());
        let input = || match permuted {
            true => x.clone().permute([0, 2, 3, 1]),
            false => x.clone(),
        };
        assert!(runs_on_host(&input(), &gamma));
        let run = |host: bool| {
            let (g, b) = (gamma.clone(), beta.clone());
            let y = match host {
                true => layer_norm(input(), g, b, 1e-6),
                false => stock(input(), g, b, 1e-6),
            };
            let grads = ramp_loss(y.clone(), 11).backward();
            [
                Some(values(y.inner())),
                x.grad(&grads).map(values),
                gamma.grad(&grads).map(values),
                beta.as_ref().and_then(|b| b.grad(&grads)).map(values),
            ]
        };
        let (burn, host) = (run(false), run(true));
        let names = ["output", "dx", "dgamma", "dbeta"];
        for ((what, a), b) in names.iter().zip(&burn).zip(&host) {
            assert_eq!(a.is_some(), b.is_some(), "{shape:?}: {what}");
            let (Some(a), Some(b)) = (a, b) else { continue };
            let tolerance = if *what == "output" { 1e-6 } else { 1e-5 };
            assert_close(a, b, tolerance, &format!("{shape:?}: {what}"));
        }
    }
    let plain = Tensor::<2>::ones([2, 4], &Device::flex());
    assert!(!runs_on_host(&plain, &Tensor::ones([4], &Device::flex())));
}

/// The linear layer on the host against Burn's `linear`: the output within 1e-6 of its largest
/// value, the input, weight and bias gradients within 1e-5 of theirs; with and without bias,
/// more rows than one parallel block (256) and one weight-gradient block (1,024) hold, and a
/// constant input (only the weight and bias tracked, no input gradient).
#[test]
fn host_linear_equals_burns() {
    use burn::tensor::module::linear as stock;
    use dynunc::train::ops::linear::{linear, runs_on_host};
    let d = Device::flex().autodiff();
    for (rows, inputs, outputs, with_bias, tracked_x) in [
        (300, 24, 96, true, true),
        (2100, 96, 24, true, true),
        (7, 5, 3, false, true),
        (513, 16, 8, true, false),
    ] {
        let x = random([rows, inputs], 1.0, 3, &d);
        let x = if tracked_x { x.require_grad() } else { x };
        let w = random([inputs, outputs], 0.2, 4, &d).require_grad();
        let b = with_bias.then(|| random([outputs], 0.5, 5, &d).require_grad());
        assert!(runs_on_host(&x, &w));
        let run = |host: bool| {
            let y = match host {
                true => linear(x.clone(), w.clone(), b.clone()),
                false => stock(x.clone(), w.clone(), b.clone()),
            };
            let grads = ramp_loss(y.clone().reshape([1, 1, rows, outputs]), 11).backward();
            [
                Some(values(y.inner())),
                x.grad(&grads).map(values),
                w.grad(&grads).map(values),
                b.as_ref().and_then(|b| b.grad(&grads)).map(values),
            ]
        };
        let (burn, host) = (run(false), run(true));
        let case = format!("{rows}x{inputs} -> {outputs}");
        assert_eq!(host[1].is_some(), tracked_x, "{case}: dx");
        let names = ["output", "dx", "dW", "db"];
        for ((what, a), b) in names.iter().zip(&burn).zip(&host) {
            assert_eq!(a.is_some(), b.is_some(), "{case}: {what}");
            let (Some(a), Some(b)) = (a, b) else { continue };
            let tolerance = if *what == "output" { 1e-6 } else { 1e-5 };
            assert_close(a, b, tolerance, &format!("{case}: {what}"));
        }
    }
    let plain = Tensor::<2>::ones([2, 4], &Device::flex());
    assert!(!runs_on_host(
        &plain,
        &Tensor::ones([4, 3], &Device::flex())
    ));
}

/// Softmax over the last dimension on the host against Burn's: the output within 1e-6 of its
/// largest value, the input gradient within 1e-5 of its largest entry, on attention-like scores
/// (Swin's 49-token windows with its -100 mask, rows of one, wide rows); over another
/// dimension, or without autodiff, the operation is Burn's.
#[test]
fn host_softmax_equals_burns() {
    use burn::tensor::activation::softmax as stock;
    use dynunc::train::ops::softmax::{runs_on_host, softmax};
    let d = Device::flex().autodiff();
    for (shape, masked) in [
        ([2usize, 3, 49, 49], true),
        ([4, 2, 5, 1], false),
        ([1, 1, 3, 700], false),
    ] {
        let mut x = values(random(shape, 3.0, 12, &d));
        if masked {
            x.iter_mut().step_by(3).for_each(|v| *v -= 100.0);
        }
        let x = Tensor::<4>::from_data(TensorData::new(x, shape), &d).require_grad();
        assert!(runs_on_host(&x, 3));
        let run = |host: bool| {
            let y = match host {
                true => softmax(x.clone(), 3),
                false => stock(x.clone(), 3),
            };
            let grads = ramp_loss(y.clone(), 7).backward();
            (values(y.inner()), values(x.grad(&grads).unwrap()))
        };
        let ((y_burn, dx_burn), (y_host, dx_host)) = (run(false), run(true));
        assert_close(&y_burn, &y_host, 1e-6, &format!("{shape:?}: output"));
        if shape[3] > 1 {
            assert_close(&dx_burn, &dx_host, 1e-5, &format!("{shape:?}: dx"));
        } else {
            assert!(
                dx_host.iter().all(|&v| v == 0.0),
                "{shape:?}: dx of rows of one"
            );
        }
    }
    let x = random([2, 3, 4, 5], 1.0, 1, &d).require_grad();
    assert!(!runs_on_host(&x, 2));
    assert!(!runs_on_host(&random([2, 3], 1.0, 1, &Device::flex()), 1));
}
