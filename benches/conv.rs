//! Convolution, max pooling and GELU on flex, where the CNNs spend their training time: Burn's
//! operations beside dynunc's (`train::ops`: the convolution as im2col + matrix products on the
//! host, forward and backward; max pooling with the argmax kept), forward alone and
//! forward + backward, at the small CNN's layers, ResNet-style and ConvNeXt's depthwise layers. Prints
//! ms per batch, the ratio, and the largest relative difference of output and gradients.
//! `cargo bench --bench conv`.

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;
use dynunc::train::ops::{conv, max_pool};

/// Milliseconds per call of `f`, the mean of `rounds` calls after one warm-up.
fn ms(rounds: usize, f: &dyn Fn() -> f32) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(f());
    }
    1e3 * t.elapsed().as_secs_f64() / rounds as f64
}

/// Largest |a - b| over the largest |a|.
fn relative<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let scale: f32 = a.clone().abs().max().into_scalar();
    let d: f32 = (a - b).abs().max().into_scalar();
    d / scale.max(f32::MIN_POSITIVE)
}

/// One layer: name, input `[n, c, h, w]`, output channels, kernel, stride, padding, whether
/// the input needs a gradient (not for a network's first layer), groups (the channels for a
/// depthwise layer).
type Layer = (
    &'static str,
    [usize; 4],
    usize,
    usize,
    usize,
    usize,
    bool,
    usize,
);

const LAYERS: [Layer; 9] = [
    (
        "cnn conv 1->32, 28x28",
        [128, 1, 28, 28],
        32,
        3,
        1,
        1,
        false,
        1,
    ),
    (
        "cnn conv 32->64, 14x14",
        [128, 32, 14, 14],
        64,
        3,
        1,
        1,
        true,
        1,
    ),
    ("conv 3->32, 28x28", [128, 3, 28, 28], 32, 3, 1, 1, true, 1),
    (
        "resnet 64->64, 14x14",
        [128, 64, 14, 14],
        64,
        3,
        1,
        1,
        true,
        1,
    ),
    (
        "resnet 64->128 stride 2, 14x14",
        [128, 64, 14, 14],
        128,
        3,
        2,
        1,
        true,
        1,
    ),
    (
        "resnet 1x1 64->128 stride 2",
        [128, 64, 14, 14],
        128,
        1,
        2,
        0,
        true,
        1,
    ),
    (
        "convnext_mini depthwise 7x7, 32 ch, 14x14",
        [128, 32, 14, 14],
        32,
        7,
        1,
        3,
        true,
        32,
    ),
    (
        "convnext_mini depthwise 7x7, 64 ch, 7x7",
        [128, 64, 7, 7],
        64,
        7,
        1,
        3,
        true,
        64,
    ),
    (
        "convnext_tiny depthwise 7x7, 96 ch, 56x56 (batch 16)",
        [16, 96, 56, 56],
        96,
        7,
        1,
        3,
        true,
        96,
    ),
];

fn main() {
    let device = Device::flex().autodiff();
    let no_dx = Tensor::<4>::zeros([1, 1, 1, 1], &Device::flex());
    println!(
        "| layer (batch 128 unless said) | Burn fwd | dynunc fwd | Burn fwd+bwd | dynunc fwd+bwd | ratio (fwd+bwd) | rel. diff out / dx / dW / db |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, [n, cin, h, w], cout, k, stride, pad, input_grad, groups) in LAYERS {
        device.seed(0);
        let mut x = Tensor::<4>::random([n, cin, h, w], Distribution::Default, &device);
        if input_grad {
            x = x.require_grad();
        }
        let weight = Tensor::<4>::random(
            [cout, cin / groups, k, k],
            Distribution::Normal(0.0, 0.1),
            &device,
        )
        .require_grad();
        let bias = Tensor::<1>::zeros([cout], &device).require_grad();
        let options = ConvOptions::new([stride; 2], [pad; 2], [1; 2], groups);
        assert!(conv::uses_host_backward(&x, &weight, &options));
        let stock = |x: Tensor<4>, w: Tensor<4>, b: Tensor<1>| {
            burn::tensor::module::conv2d(x, w, Some(b), options.clone())
        };
        let ours =
            |x: Tensor<4>, w: Tensor<4>, b: Tensor<1>| conv::conv2d(x, w, Some(b), options.clone());
        type Conv<'a> = &'a dyn Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>;
        let grads = |f: Conv| {
            let y = f(x.clone(), weight.clone(), bias.clone());
            let g = (y.clone() * y.clone()).sum().backward();
            let dx = x.grad(&g).unwrap_or_else(|| no_dx.clone());
            (
                y.inner(),
                dx,
                weight.grad(&g).unwrap(),
                bias.grad(&g).unwrap(),
            )
        };
        let forward = |f: Conv| {
            let y = f(
                x.clone().inner(),
                weight.clone().inner(),
                bias.clone().inner(),
            );
            y.sum().into_scalar::<f32>()
        };
        let both = |f: Conv| {
            let (y, dx, dw, db) = grads(f);
            y.sum().into_scalar::<f32>()
                + dx.sum().into_scalar::<f32>()
                + dw.sum().into_scalar::<f32>()
                + db.sum().into_scalar::<f32>()
        };
        let (ys, xs, ws, bs) = grads(&stock);
        let (yo, xo, wo, bo) = grads(&ours);
        let rounds = 6;
        let mut t = [0.0f64; 4];
        // Alternate, so both see the same machine state.
        for _ in 0..2 {
            t[0] += ms(rounds, &|| forward(&stock)) / 2.0;
            t[1] += ms(rounds, &|| forward(&ours)) / 2.0;
            t[2] += ms(rounds, &|| both(&stock)) / 2.0;
            t[3] += ms(rounds, &|| both(&ours)) / 2.0;
        }
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x | {:.1e} / {:.1e} / {:.1e} / {:.1e} |",
            t[0],
            t[1],
            t[2],
            t[3],
            t[2] / t[3],
            relative(ys, yo),
            relative(xs, xo),
            relative(ws, wo),
            relative(bs, bo),
        );
    }
    max_pools(&device);
    gelus(&device);
}

/// GELU at the feed-forward layers of convnext_mini and swin_mini (4x the width).
fn gelus(device: &Device) {
    use burn::tensor::activation;
    use dynunc::train::ops::gelu;
    println!();
    println!("| GELU | Burn fwd+bwd | dynunc fwd+bwd | ratio | bit-equal (output, gradient) |");
    println!("|---|---:|---:|---:|---|");
    let cases = [
        (
            "convnext_mini stage 1, [128, 14, 14, 128]",
            [128, 14, 14, 128],
        ),
        ("convnext_mini stage 2, [128, 7, 7, 256]", [128, 7, 7, 256]),
    ];
    for (name, shape) in cases {
        device.seed(0);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), device).require_grad();
        type Act<'a> = &'a dyn Fn(Tensor<4>) -> Tensor<4>;
        let run = |f: Act| {
            let y = f(x.clone());
            let g = (y.clone() * y.clone()).sum().backward();
            (y.inner(), x.grad(&g).unwrap())
        };
        let both = |f: Act| {
            let (y, dx) = run(f);
            y.sum().into_scalar::<f32>() + dx.sum().into_scalar::<f32>()
        };
        let stock = |x: Tensor<4>| activation::gelu(x);
        let ours = |x: Tensor<4>| gelu::gelu(x);
        let (ys, xs) = run(&stock);
        let (yo, xo) = run(&ours);
        let equal =
            ys.equal(yo).all().into_scalar::<bool>() && xs.equal(xo).all().into_scalar::<bool>();
        let mut t = [0.0f64; 2];
        for _ in 0..2 {
            t[0] += ms(6, &|| both(&stock)) / 2.0;
            t[1] += ms(6, &|| both(&ours)) / 2.0;
        }
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2}x | {equal} |",
            t[0],
            t[1],
            t[0] / t[1]
        );
    }
}

/// Max pooling at the small CNN's two pooling layers and ResNet's stem.
fn max_pools(device: &Device) {
    println!();
    println!(
        "| max pool (batch 128) | Burn fwd | dynunc fwd | Burn fwd+bwd | dynunc fwd+bwd | ratio (fwd+bwd) | equal |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let cases = [
        ("cnn 2x2 after conv 1", [128, 32, 28, 28], 2, 2, 0),
        ("cnn 2x2 after conv 2", [128, 64, 14, 14], 2, 2, 0),
        ("resnet stem 3x3 stride 2", [128, 64, 28, 28], 3, 2, 1),
    ];
    for (name, shape, k, stride, pad) in cases {
        device.seed(0);
        let pool = MaxPool2dConfig::new([k, k])
            .with_strides([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init();
        let x = Tensor::<4>::random(shape, Distribution::Default, device).require_grad();
        type Pool<'a> = &'a dyn Fn(Tensor<4>) -> Tensor<4>;
        let stock = |x: Tensor<4>| pool.forward(x);
        let ours = |x: Tensor<4>| max_pool::forward(&pool, x);
        let forward = |f: Pool| f(x.clone().inner()).sum().into_scalar::<f32>();
        let grads = |f: Pool| {
            let y = f(x.clone());
            let g = (y.clone() * y.clone()).sum().backward();
            (y.inner(), x.grad(&g).unwrap())
        };
        let both = |f: Pool| {
            let (y, dx) = grads(f);
            y.sum().into_scalar::<f32>() + dx.sum().into_scalar::<f32>()
        };
        let (ys, xs) = grads(&stock);
        let (yo, xo) = grads(&ours);
        let equal = relative(ys, yo) == 0.0 && relative(xs, xo) == 0.0;
        let mut t = [0.0f64; 4];
        for _ in 0..2 {
            t[0] += ms(6, &|| forward(&stock)) / 2.0;
            t[1] += ms(6, &|| forward(&ours)) / 2.0;
            t[2] += ms(6, &|| both(&stock)) / 2.0;
            t[3] += ms(6, &|| both(&ours)) / 2.0;
        }
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x | {} |",
            t[0],
            t[1],
            t[2],
            t[3],
            t[2] / t[3],
            if equal { "yes" } else { "NO" },
        );
    }
}
