//! Convolution on flex, where the small CNN spends its time: Burn's `Conv2d` beside dynunc's
//! im2col + matrix-product formulation (`train::model::im2col`), forward alone and forward +
//! backward, at the CNN's two layers and at a 3-channel input (batch 128). Prints ms per
//! batch, the ratio, and the largest relative difference of output and gradients.
//! `cargo bench --bench conv`.

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use dynunc::train::model::im2col::conv2d_3x3_same;

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
fn relative(a: Tensor<4>, b: Tensor<4>) -> f32 {
    let scale: f32 = a.clone().abs().max().into_scalar();
    let d: f32 = (a - b).abs().max().into_scalar();
    d / scale.max(f32::MIN_POSITIVE)
}

fn main() {
    let device = Device::flex().autodiff();
    println!(
        "| layer (batch 128) | Burn Conv2d fwd | + bwd dx only | + bwd dW only | + bwd both | im2col fwd | im2col fwd+bwd | fwd+bwd ratio | rel. diff out / dx / dW |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (cin, cout, side) in [(1, 32, 28), (3, 32, 28), (32, 64, 14)] {
        device.seed(0);
        let conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let x = Tensor::<4>::random([128, cin, side, side], Distribution::Default, &device)
            .require_grad();
        let weight = conv.weight.val();
        let bias = conv.bias.as_ref().map(|b| b.val());
        let stock = |x: Tensor<4>| conv.forward(x);
        let ours = |x: Tensor<4>| conv2d_3x3_same(x, weight.clone(), bias.clone());
        let grads = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let y = f(x.clone());
            let g = (y.clone() * y.clone()).sum().backward();
            (y.inner(), x.grad(&g).unwrap(), weight.grad(&g).unwrap())
        };
        let forward = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let y = f(x.clone().inner());
            y.sum().into_scalar::<f32>()
        };
        let both = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let (y, dx, dw) = grads(f);
            y.sum().into_scalar::<f32>()
                + dx.sum().into_scalar::<f32>()
                + dw.sum().into_scalar::<f32>()
        };
        // Burn's backward with only one of the two gradients asked for.
        let constant_weight = || {
            let w = Tensor::<4>::from_inner(weight.clone().inner());
            let b = bias.clone().map(|b| Tensor::<1>::from_inner(b.inner()));
            (w, b)
        };
        let dx_only = || {
            let (w, b) = constant_weight();
            let mut c = conv.clone();
            c.weight = burn::module::Param::from_tensor(w);
            c.bias = b.map(burn::module::Param::from_tensor);
            let y = c.forward(x.clone());
            let g = (y.clone() * y).sum().backward();
            x.grad(&g).unwrap().sum().into_scalar::<f32>()
        };
        let dw_only = || {
            let y = conv.forward(Tensor::from_inner(x.clone().inner()));
            let g = (y.clone() * y).sum().backward();
            weight.grad(&g).unwrap().sum().into_scalar::<f32>()
        };
        let (ys, xs, ws) = grads(&stock);
        let (yo, xo, wo) = grads(&ours);
        let rounds = 8;
        let (mut t, mut n) = ([0.0f64; 6], 0);
        // Alternate, so both see the same machine state.
        for _ in 0..2 {
            t[0] += ms(rounds, &|| forward(&stock));
            t[1] += ms(rounds, &|| forward(&ours));
            t[2] += ms(rounds, &|| both(&stock));
            t[3] += ms(rounds, &|| both(&ours));
            t[4] += ms(rounds, &dx_only);
            t[5] += ms(rounds, &dw_only);
            n += 1;
        }
        let t = t.map(|v| v / n as f64);
        println!(
            "| conv {cin}->{cout}, {side}x{side} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x | {:.1e} / {:.1e} / {:.1e} |",
            t[0],
            t[4],
            t[5],
            t[2],
            t[1],
            t[3],
            t[2] / t[3],
            relative(ys, yo),
            relative(xs, xo),
            relative(ws, wo),
        );
    }
}
