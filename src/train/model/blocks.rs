//! Building blocks shared by the model zoo: stochastic depth, layer scale, channel norms,
//! the patchify stem, the transformer feed-forward, and the classifier heads.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::norm::{BatchNorm, BatchNormConfig};
use burn::nn::{Initializer, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::train::ops::conv;
use burn::tensor::Distribution;

/// The initialisation of ConvNeXt and Swin: truncated normal, std 0.02 (here: normal, std
/// 0.02; the truncation at ±2 std changes 5% of the draws and nothing measurable).
pub fn trunc_normal() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

/// A trainable bias of `n` zeros.
fn zeros(n: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::zeros([n], device))
}

/// A linear layer initialised as ConvNeXt and Swin do: weights N(0, 0.02), bias 0.
pub fn linear(inputs: usize, outputs: usize, bias: bool, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(inputs, outputs)
        .with_bias(bias)
        .with_initializer(trunc_normal())
        .init(device);
    layer.bias = layer.bias.take().map(|_| zeros(outputs, device));
    layer
}

/// `layer` on the last dimension of `x`, as one `[rows, inputs]` product. Burn's `Linear` on a
/// 3- or 4-D input keeps the leading dimensions as a batch of small products where the rows
/// are few against the outputs (Swin's 49-token windows, a ConvNeXt row of 7 positions), and
/// its backward then computes one weight gradient per batch and sums them; flattened, the
/// weight's gradient is one product over every row. On flex while training the product is
/// dynunc's host operation ([`crate::train::ops::linear`]).
pub fn on_rows<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let mut dims = x.dims();
    let inputs = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    let bias = layer.bias.as_ref().map(|b| b.val());
    let y = crate::train::ops::linear::linear(x.reshape([rows, inputs]), layer.weight.val(), bias);
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

/// `layer` keeping only the outputs `outputs`, in that order (a classifier's rows of the
/// classes a fine-tuning dataset shares with the pre-training one).
pub fn select_outputs(layer: Linear, outputs: &[usize]) -> Linear {
    let weight = layer.weight.val();
    let index: Vec<i64> = outputs.iter().map(|&o| o as i64).collect();
    let index =
        Tensor::<1, Int>::from_data(TensorData::new(index, [outputs.len()]), &weight.device());
    Linear {
        weight: Param::from_tensor(weight.select(1, index.clone()).detach()),
        bias: layer
            .bias
            .map(|b| Param::from_tensor(b.val().select(0, index).detach())),
    }
}

/// Inputs of a linear layer (Burn stores the weight as `[inputs, outputs]`).
pub fn linear_inputs(layer: &Linear) -> usize {
    layer.weight.val().dims()[0]
}

/// A freshly initialised classifier (as [`linear`], with bias) taking `head`'s inputs to
/// `classes` outputs: ConvNeXt's and Swin's head for fine-tuning on other classes.
pub fn new_classifier(head: &Linear, classes: usize, device: &Device) -> Linear {
    linear(linear_inputs(head), classes, true, device)
}

/// Stochastic depth (Huang et al. 2016): during training, drops the whole residual branch of
/// a sample with probability `prob` and scales the survivors by `1 / (1 - prob)`; identity
/// otherwise. Training means "on an autodiff device", as for Burn's own dropout.
#[derive(Module, Debug)]
pub struct DropPath {
    prob: f64,
}

impl DropPath {
    /// Drops with probability `prob` in `[0, 1)`.
    pub fn new(prob: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&prob),
            "drop-path rate {prob} outside [0, 1)"
        );
        Self { prob }
    }

    /// The drop probability.
    pub fn prob(&self) -> f64 {
        self.prob
    }

    /// Applies the drop to a residual branch `x` whose first dimension is the batch.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let device = x.device();
        if self.prob == 0.0 || !device.is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let mut shape = [1; D];
        shape[0] = x.dims()[0];
        let mask = Tensor::<D>::random(shape, Distribution::Bernoulli(keep), &device);
        x * mask.div_scalar(keep)
    }
}

/// Per-block drop-path rates rising linearly from 0 to `rate` over `blocks` blocks, as in
/// ConvNeXt and Swin.
pub fn drop_path_rates(rate: f64, blocks: usize) -> Vec<f64> {
    match blocks {
        0 => Vec::new(),
        1 => vec![0.0],
        n => (0..n).map(|i| rate * i as f64 / (n - 1) as f64).collect(),
    }
}

/// Layer scale (Touvron et al. 2021): a learned per-channel factor on a residual branch,
/// initialised small; applied on the last (channel) dimension.
#[derive(Module, Debug)]
pub struct LayerScale {
    gamma: Param<Tensor<1>>,
}

impl LayerScale {
    /// `channels` factors, each `init`.
    pub fn new(channels: usize, init: f64, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::full([channels], init, device)),
        }
    }

    /// `x * gamma` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x * self.gamma.val().unsqueeze()
    }
}

/// Layer norm over the last dimension: Burn's `LayerNorm` (the same parameters and record,
/// `gamma` and `beta`), run by [`crate::train::ops::layer_norm`], one host operation while
/// training on flex.
#[derive(Module, Debug)]
pub struct Norm {
    /// The scale, ones at first.
    pub gamma: Param<Tensor<1>>,
    /// The shift, zeros at first.
    pub beta: Option<Param<Tensor<1>>>,
    epsilon: f64,
}

impl Norm {
    /// `x` normalised over its last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let beta = self.beta.as_ref().map(|b| b.val());
        crate::train::ops::layer_norm::layer_norm(x, self.gamma.val(), beta, self.epsilon)
    }
}

/// Layer norm over the last dimension with ConvNeXt's and Swin's epsilon.
pub fn layer_norm(channels: usize, eps: f64, device: &Device) -> Norm {
    let ln = LayerNormConfig::new(channels)
        .with_epsilon(eps)
        .init(device);
    Norm {
        gamma: ln.gamma,
        beta: ln.beta,
        epsilon: eps,
    }
}

/// Normalisation of a `[batch, channels, height, width]` map over its channels.
#[derive(Module, Debug)]
pub enum ChannelNorm {
    /// Batch norm (ResNet): batch statistics in training, running ones in evaluation.
    Batch(BatchNorm),
    /// Layer norm over the channels of each position (ConvNeXt's "channels first" norm).
    Layer(Norm),
}

impl ChannelNorm {
    /// Batch norm with PyTorch's defaults (momentum 0.1, epsilon 1e-5).
    pub fn batch(channels: usize, device: &Device) -> Self {
        Self::Batch(BatchNormConfig::new(channels).init(device))
    }

    /// Layer norm over channels with epsilon 1e-6.
    pub fn layer(channels: usize, device: &Device) -> Self {
        Self::Layer(layer_norm(channels, 1e-6, device))
    }

    /// Normalises `x`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Batch(bn) => crate::train::ops::batch_norm::forward(bn, x),
            Self::Layer(ln) => ln.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2]),
        }
    }

    /// Normalises a channels-last map `[batch, height, width, channels]`.
    pub fn forward_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Batch(bn) => {
                let y = crate::train::ops::batch_norm::forward(bn, x.permute([0, 3, 1, 2]));
                y.permute([0, 2, 3, 1])
            }
            Self::Layer(ln) => ln.forward(x),
        }
    }

    /// `relu(self.forward(x))`; batch norm's clamps as it writes on flex.
    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Batch(bn) => crate::train::ops::batch_norm::forward_relu(bn, x),
            Self::Layer(_) => burn::tensor::activation::relu(self.forward(x)),
        }
    }
}

/// A square-kernel 2-D convolution's settings: `kernel x kernel`, `stride`, `padding` on
/// every side, no dilation; chain `with_groups`, `with_bias`, `with_initializer` as needed.
pub fn square(channels: [usize; 2], kernel: usize, stride: usize, padding: usize) -> Conv2dConfig {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
}

/// The convolution of `config`, its bias (if any) set to zero as ConvNeXt and Swin do.
pub fn conv(config: Conv2dConfig, device: &Device) -> Conv2d {
    let outputs = config.channels[1];
    let mut c = config.init(device);
    c.bias = c.bias.take().map(|_| zeros(outputs, device));
    c
}

/// Patchify stem of ConvNeXt and Swin: a `patch x patch` convolution with stride `patch`,
/// then layer norm over channels. Output `[batch, channels, height / patch, width / patch]`.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    proj: Conv2d,
    norm: ChannelNorm,
}

impl PatchEmbed {
    /// `inputs` channels in, `outputs` out, non-overlapping `patch` squares; layer-norm
    /// epsilon `eps` (1e-6 in ConvNeXt, 1e-5 in Swin).
    pub fn new(inputs: usize, outputs: usize, patch: usize, eps: f64, device: &Device) -> Self {
        Self {
            proj: conv(
                square([inputs, outputs], patch, patch, 0).with_initializer(trunc_normal()),
                device,
            ),
            norm: ChannelNorm::Layer(layer_norm(outputs, eps, device)),
        }
    }

    /// Embeds `[batch, C, H, W]` images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(conv::forward(&self.proj, x))
    }

    /// Embeds `[batch, C, H, W]` images as a channels-last map
    /// `[batch, H / patch, W / patch, channels]`.
    pub fn forward_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv::forward(&self.proj, x).permute([0, 2, 3, 1]);
        self.norm.forward_channels_last(y)
    }
}

/// The transformer feed-forward: linear to `ratio` times the width, GELU, linear back
/// (ConvNeXt's point-wise convolutions and Swin's MLP).
#[derive(Module, Debug)]
pub struct FeedForward {
    fc1: Linear,
    fc2: Linear,
}

impl FeedForward {
    /// Width `dim`, hidden width `dim * ratio`.
    pub fn new(dim: usize, ratio: usize, device: &Device) -> Self {
        Self {
            fc1: linear(dim, dim * ratio, true, device),
            fc2: linear(dim * ratio, dim, true, device),
        }
    }

    /// Applies it on the last dimension, every leading position as one row ([`on_rows`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let hidden = crate::train::ops::gelu::gelu(on_rows(&self.fc1, x));
        on_rows(&self.fc2, hidden)
    }
}

/// Multi-head self-attention of `x` (`[batch, n, C]`) with `heads` heads of `C / heads`
/// channels: `qkv` maps C to the queries, keys and values (3C); the scores (scaled by head
/// width^-1/2) get `bias` (`[heads, n, n]`, Swin's relative positions) and `mask` (`[k, n, n]`,
/// sample `i` taking `i % k`: Swin's shifted windows) before the softmax; returns the heads'
/// outputs concatenated, `[batch, n, C]` (before the output projection). Swin's window
/// attention and ViT's global attention; one host operation on flex while training
/// ([`crate::train::ops::attention`]).
pub fn self_attention(
    qkv: &Linear,
    x: Tensor<3>,
    heads: usize,
    bias: Option<Tensor<3>>,
    mask: Option<Tensor<3>>,
) -> Tensor<3> {
    crate::train::ops::attention::attention(on_rows(qkv, x), heads, bias, mask)
}

/// Global average pooling of a `[batch, C, H, W]` map to `[batch, C]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    x.mean_dims(&[2, 3]).flatten(1, 3)
}

/// [`global_avg_pool`] of a channels-last map `[batch, H, W, C]`: `[batch, C]`.
pub fn global_avg_pool_channels_last(x: Tensor<4>) -> Tensor<2> {
    x.mean_dims(&[1, 2]).flatten(1, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`on_rows`] is `Linear::forward` (batched over the leading dimensions), forward and
    /// backward, within float rounding.
    #[test]
    fn on_rows_is_the_batched_linear() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let layer = linear(6, 10, true, &device);
        let layer = Linear {
            bias: layer
                .bias
                .map(|_| Param::from_tensor(Tensor::random([10], Distribution::Default, &device))),
            ..layer
        };
        let x = Tensor::<4>::random([2, 3, 7, 6], Distribution::Default, &device).require_grad();
        let values = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
        let close = |a: Vec<f32>, b: Vec<f32>| {
            assert_eq!(a.len(), b.len());
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-6 * v.abs().max(1.0), "{u} against {v}");
            }
        };
        let (a, b) = (on_rows(&layer, x.clone()), layer.forward(x.clone()));
        assert_eq!(a.dims(), [2, 3, 7, 10]);
        close(values(a.clone()), values(b.clone()));
        let flat = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().unwrap();
        let gradients = |y: Tensor<4>| {
            let g = (y * 1.5).sum().backward();
            let bias = layer.bias.as_ref().unwrap().val().grad(&g).unwrap();
            let weight = layer.weight.val().grad(&g).unwrap().flatten::<1>(0, 1);
            [flat(weight), values(x.grad(&g).unwrap()), flat(bias)]
        };
        for (u, v) in gradients(a).into_iter().zip(gradients(b)) {
            close(u, v);
        }
    }
}
