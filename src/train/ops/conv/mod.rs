//! The 2-D convolution every model calls: Burn's `conv2d`, except on flex while training, where
//! Burn's forward gets a backward written as im2col + matrix products on the host (`host`).
//!
//! Burn 0.22 computes a convolution's weight gradient as another convolution with the batch and
//! channel axes swapped and its input gradient as a transposed convolution; on flex these take
//! 3-5x the forward pass. Depthwise convolutions (one filter per channel, stride 1, ConvNeXt's)
//! get their own backward (`depthwise`); other grouped convolutions keep Burn's.

pub mod depthwise;
pub mod host;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use super::{Lift, contiguous, f32s, from_vec, padding_pairs};
use host::ConvGeometry;

/// `conv.forward(x)`, with the host backward where it applies.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let Some(padding) = padding_pairs(&conv.padding) else {
        return conv.forward(x);
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// `burn::tensor::module::conv2d`, with the host backward where it applies.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let Some((lift_x, lift_w)) = lifts(&x, &weight, &options) else {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    };
    let out = host_conv(lift_x.tracked(x), lift_w.tracked(weight), options);
    let y = Tensor::<4>::from_primitive::<Autodiff<Flex>>(out);
    match bias {
        Some(b) => {
            let channels = b.dims()[0];
            y + b.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// Whether [`conv2d`] takes the host backward for these operands (for tests and benchmarks).
pub fn uses_host_backward(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    lifts(x, weight, options).is_some()
}

/// Both operands on flex, at least one tracked, one group or depthwise: the host backward
/// applies.
fn lifts(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> Option<(Lift, Lift)> {
    let depthwise = depthwise::applies(x.dims()[1], weight.dims(), options);
    match (Lift::of(x)?, Lift::of(weight)?) {
        (Lift::Constant, Lift::Constant) => None,
        _ if options.groups != 1 && !depthwise => None,
        lifts => Some(lifts),
    }
}

/// Flex's forward convolution (no bias), recorded with [`HostBackward`].
fn host_conv(
    x: FloatTensor<Autodiff<Flex>>,
    weight: FloatTensor<Autodiff<Flex>>,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<Flex>> {
    match HostBackward
        .prepare::<NoCheckpointing>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = (
                prep.checkpoint(&x),
                prep.checkpoint(&weight),
                options.clone(),
            );
            let y = Flex::conv2d(x.into_primitive(), weight.into_primitive(), None, options);
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(
            x.into_primitive(),
            weight.into_primitive(),
            None,
            options,
        )),
    }
}

/// The backward of [`host_conv`]: [`host::input_grad`] and [`host::weight_grad`], or their
/// [`depthwise`] forms.
#[derive(Debug)]
struct HostBackward;

impl Backward<Flex, 2> for HostBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x_state, weight_state, options) = ops.state;
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        let geometry = geometry(&x, &weight, &dy, &options);
        // `lifts` lets a grouped convolution through only when it is depthwise.
        let depthwise = options.groups != 1;
        if let Some(node) = node_x {
            let dx = match depthwise {
                true => depthwise::input_grad(&geometry, f32s(&weight), f32s(&dy)),
                false => host::input_grad(&geometry, f32s(&weight), f32s(&dy)),
            };
            grads.register::<Flex>(node.id, from_vec(dx, x.shape()));
        }
        if let Some(node) = node_weight {
            let dw = match depthwise {
                true => depthwise::weight_grad(&geometry, f32s(&x), f32s(&dy)),
                false => host::weight_grad(&geometry, f32s(&x), f32s(&dy)),
            };
            grads.register::<Flex>(node.id, from_vec(dw, weight.shape()));
        }
    }
}

/// The geometry of a convolution from its operands' shapes and options.
fn geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    dy: &FlexTensor,
    options: &ConvOptions<2>,
) -> ConvGeometry {
    let [batch, in_channels, h, w] = x.shape().dims::<4>();
    let [out_channels, _, kh, kw] = weight.shape().dims::<4>();
    let [_, _, out_h, out_w] = dy.shape().dims::<4>();
    ConvGeometry {
        batch,
        in_channels,
        input: [h, w],
        out_channels,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding_begin(),
        dilation: options.dilation,
        output: [out_h, out_w],
    }
}
