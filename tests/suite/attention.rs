//! Multi-head attention on the host (`dynunc::train::ops::attention`) against the same
//! attention composed of Burn's own operations: outputs within 1e-6 of their largest value,
//! the projection's and the bias's gradients within 1e-5 of theirs.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use dynunc::train::ops::attention::{attention, runs_on_host};

use crate::ops::{assert_close, ramp_loss, random, values};

/// The attention written from its definition with Burn's operations: per window and head
/// `softmax(Q Kᵀ / √d + bias + mask) V`, heads side by side.
fn reference(
    qkv: Tensor<3>,
    heads: usize,
    bias: Option<Tensor<3>>,
    mask: Option<Tensor<3>>,
) -> Tensor<3> {
    let [b, n, c3] = qkv.dims();
    let (c, hd) = (c3 / 3, c3 / 3 / heads);
    let head = |part: usize, h: usize| qkv.clone().narrow(2, part * c + h * hd, hd);
    let outputs: Vec<Tensor<3>> = (0..heads)
        .map(|h| {
            let (q, k, v) = (head(0, h), head(1, h), head(2, h));
            let mut s = q.matmul(k.swap_dims(1, 2)) / (hd as f64).sqrt();
            if let Some(bias) = &bias {
                s = s + bias.clone().narrow(0, h, 1);
            }
            if let Some(mask) = &mask {
                let k = mask.dims()[0];
                s = (s.reshape([b / k, k, n, n]) + mask.clone().unsqueeze::<4>())
                    .reshape([b, n, n]);
            }
            softmax(s, 2).matmul(v)
        })
        .collect();
    Tensor::cat(outputs, 2)
}

/// Swin's shifted windows (49 tokens, a bias, a mask of -100s over 3 window positions, more
/// windows than one parallel block), Swin's plain windows (bias only), ViT's global attention
/// (neither, 17 tokens, 3 heads), a projection that needs no gradient (only the bias tracked).
#[test]
fn host_attention_equals_burns_composition() {
    let d = Device::flex().autodiff();
    for (windows, n, c, heads, with_bias, masked, tracked_qkv) in [
        (36, 49, 32, 2, true, true, true),
        (4, 49, 16, 1, true, false, true),
        (5, 17, 24, 3, false, false, true),
        (6, 9, 8, 2, true, true, false),
    ] {
        let qkv = random([windows, n, 3 * c], 1.0, 21, &d);
        let qkv = if tracked_qkv { qkv.require_grad() } else { qkv };
        let bias = with_bias.then(|| random([heads, n, n], 0.5, 22, &d).require_grad());
        let mask = masked.then(|| {
            let k = 3;
            let m: Vec<f32> = (0..k * n * n)
                .map(|i| if (i * 7) % 5 == 0 { -100.0 } else { 0.0 })
                .collect();
            Tensor::<3>::from_data(TensorData::new(m, [k, n, n]), &d)
        });
        assert!(runs_on_host(&qkv, heads, bias.as_ref()));
        let run = |host: bool| {
            let (q, b, m) = (qkv.clone(), bias.clone(), mask.clone());
            let y = match host {
                true => attention(q, heads, b, m),
                false => reference(q, heads, b, m),
            };
            let grads = ramp_loss(y.clone().unsqueeze::<4>(), 13).backward();
            [
                Some(values(y.inner())),
                qkv.grad(&grads).map(values),
                bias.as_ref().and_then(|b| b.grad(&grads)).map(values),
            ]
        };
        let (burn, host) = (run(false), run(true));
        let case = format!("{windows} windows of {n}, {heads} heads of {}", c / heads);
        for ((what, a), b) in ["output", "dqkv", "dbias"].iter().zip(&burn).zip(&host) {
            assert_eq!(a.is_some(), b.is_some(), "{case}: {what}");
            let (Some(a), Some(b)) = (a, b) else { continue };
            let tolerance = if *what == "output" { 1e-6 } else { 1e-5 };
            assert_close(a, b, tolerance, &format!("{case}: {what}"));
        }
        assert_eq!(host[1].is_some(), tracked_qkv, "{case}: dqkv");
        assert_eq!(host[2].is_some(), with_bias, "{case}: dbias");
    }
}

/// Without autodiff (evaluation) the host forward runs and equals the composition; a mask
/// that needs a gradient, or a projection whose width is not 3 x heads x head width, is left
/// to the composition.
#[test]
fn host_attention_evaluates_and_declines() {
    let d = Device::flex();
    let qkv = random([8, 16, 3 * 12], 1.0, 31, &d);
    let bias = random([2, 16, 16], 0.5, 32, &d);
    let mask = random([4, 16, 16], 3.0, 33, &d);
    assert!(runs_on_host(&qkv, 2, Some(&bias)));
    let host = attention(qkv.clone(), 2, Some(bias.clone()), Some(mask.clone()));
    let stock = reference(qkv, 2, Some(bias), Some(mask));
    assert_close(&values(stock), &values(host), 1e-6, "evaluation output");

    let ad = Device::flex().autodiff();
    let qkv = random([4, 5, 3 * 4], 1.0, 34, &ad).require_grad();
    assert!(!runs_on_host(&qkv, 3, None));
    let mask = random([2, 5, 5], 1.0, 35, &ad).require_grad();
    let y = attention(qkv.clone(), 2, None, Some(mask.clone()));
    let grads = y.sum().backward();
    assert!(
        mask.grad(&grads).is_some(),
        "the mask's gradient, by the composition"
    );
}
