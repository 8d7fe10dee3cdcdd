//! The 2-D convolution every model calls: Burn's `conv2d`, except on flex, where it runs as
//! im2col + matrix products on the host (`host`), forward and backward, the bias added in place.
//!
//! Burn 0.22 computes a convolution's weight gradient as another convolution with the batch and
//! channel axes swapped and its input gradient as a transposed convolution; on flex these take
//! 3-5x the forward pass. Flex's forward converts the input to channels-last and scatters the
//! product back (`benches/conv.rs`: 1.4-5x the host one). Depthwise convolutions (one filter
//! per channel, stride 1, ConvNeXt's) have their own forward and backward (`depthwise`); other
//! grouped convolutions keep Burn's.

pub mod depthwise;
pub mod geometry;
pub mod host;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

use super::{Lift, contiguous, f32s, from_vec, padding_pairs, plain};
use geometry::ConvGeometry;

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

/// `burn::tensor::module::conv2d`, on the host where it applies.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let lift_b = Lift::of_optional(bias.as_ref());
    let (Some((lift_x, lift_w)), Some(lift_b)) = (lifts(&x, &weight, &options), lift_b) else {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    };
    if !Lift::any_tracked(&[lift_x, lift_w], lift_b) {
        let (x, weight) = (contiguous(plain(x)), contiguous(plain(weight)));
        let bias = bias.map(|b| contiguous(plain(b)));
        let y = forward_values(&x, &weight, bias.as_ref(), &options);
        return Tensor::from_primitive::<Flex>(y);
    }
    let x = lift_x.tracked(x);
    let weight = lift_w.tracked(weight);
    let out = match (bias, lift_b) {
        (Some(b), Some(lift)) => host_conv([x, weight, lift.tracked(b)], options),
        _ => host_conv([x, weight], options),
    };
    Tensor::<4>::from_primitive::<Autodiff<Flex>>(out)
}

/// Whether [`conv2d`] takes the host backward for these operands (for tests and benchmarks).
pub fn uses_host_backward(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    lifts(x, weight, options).is_some_and(|l| l != (Lift::Constant, Lift::Constant))
}

/// Both operands on flex, one group or depthwise, a window that fits: the host operation
/// applies.
fn lifts(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> Option<(Lift, Lift)> {
    let depthwise = depthwise::applies(x.dims()[1], weight.dims(), options);
    output_shape(x.dims(), weight.dims(), options)?;
    match (Lift::of(x)?, Lift::of(weight)?) {
        _ if options.groups != 1 && !depthwise => None,
        lifts => Some(lifts),
    }
}

/// The output shape `[n, c_out, out_h, out_w]`; `None` where the (dilated) window does not fit
/// the padded input, which Burn's operation reports.
fn output_shape(
    [n, _, h, w]: [usize; 4],
    [c_out, _, kh, kw]: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<[usize; 4]> {
    let out = |input: usize, axis: usize, k: usize| {
        let (begin, end) = options.padding[axis];
        let reach = options.dilation[axis] * k.checked_sub(1)? + 1;
        let room = (input + begin + end).checked_sub(reach)?;
        Some(room / options.stride[axis] + 1)
    };
    Some([n, c_out, out(h, 0, kh)?, out(w, 1, kw)?])
}

/// The forward convolution of contiguous operands: [`host::forward`] for one group,
/// [`depthwise::forward`] for a depthwise one (the only grouped convolution [`lifts`] lets
/// through).
fn forward_values(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let shape =
        output_shape(x.shape().dims(), weight.shape().dims(), options).expect("checked by lifts");
    let g = geometry(x.shape().dims(), weight.shape().dims(), shape, options);
    let (x, weight, bias) = (f32s(x), f32s(weight), bias.map(f32s));
    let y = match options.groups {
        1 => host::forward(&g, x, weight, bias),
        _ => depthwise::forward(&g, x, weight, bias),
    };
    from_vec(y, shape.into())
}

/// The convolution of `[x, weight]` or `[x, weight, bias]`, recorded with [`HostBackward`].
fn host_conv<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<Flex>> {
    let nodes = operands.each_ref().map(|t| t.node());
    let prep = HostBackward.prepare::<NoCheckpointing>(nodes);
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let state = (
                prep.checkpoint(&operands[0]),
                prep.checkpoint(&operands[1]),
                options.clone(),
            );
            prep.finish(state, forward_of(operands, &options))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward_of(operands, &options)),
    }
}

/// [`forward_values`] of autodiff operands.
fn forward_of<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    options: &ConvOptions<2>,
) -> FlexTensor {
    let values = operands.map(|t| contiguous(t.into_primitive()));
    forward_values(&values[0], &values[1], values.get(2), options)
}

/// The backward of [`host_conv`]: [`host::input_grad`], [`host::weight_grad`] (or their
/// [`depthwise`] forms) and [`host::bias_grad`].
#[derive(Debug)]
struct HostBackward;

impl<const N: usize> Backward<Flex, N> for HostBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x_state, weight_state, options) = ops.state;
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        let geometry = geometry(
            x.shape().dims(),
            weight.shape().dims(),
            dy.shape().dims(),
            &options,
        );
        // `lifts` lets a grouped convolution through only when it is depthwise.
        let depthwise = options.groups != 1;
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            let dx = match depthwise {
                true => depthwise::input_grad(&geometry, f32s(&weight), f32s(&dy)),
                false => host::input_grad(&geometry, f32s(&weight), f32s(&dy)),
            };
            grads.register::<Flex>(node.id, from_vec(dx, x.shape()));
        }
        if let Some(node) = parents.next().flatten() {
            let dw = match depthwise {
                true => depthwise::weight_grad(&geometry, f32s(&x), f32s(&dy)),
                false => host::weight_grad(&geometry, f32s(&x), f32s(&dy)),
            };
            grads.register::<Flex>(node.id, from_vec(dw, weight.shape()));
        }
        if let Some(node) = parents.next().flatten() {
            let db = host::bias_grad(&geometry, f32s(&dy));
            let channels = db.len();
            grads.register::<Flex>(node.id, from_vec(db, [channels].into()));
        }
    }
}

/// The geometry of a convolution from its operands' shapes and options.
fn geometry(
    [batch, in_channels, h, w]: [usize; 4],
    [out_channels, _, kh, kw]: [usize; 4],
    [_, _, out_h, out_w]: [usize; 4],
    options: &ConvOptions<2>,
) -> ConvGeometry {
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
