//! The 2-D convolution every model calls: Burn's `conv2d`, except on flex, where it runs as
//! im2col + matrix products on the host (`host`), forward and backward, the bias added in place.
//!
//! Burn 0.22 computes a convolution's weight gradient as another convolution with the batch and
//! channel axes swapped and its input gradient as a transposed convolution; on flex these take
//! 3-5x the forward pass. Flex's forward converts the input to channels-last and scatters the
//! product back (`benches/conv.rs`: 1.4-5x the host one). Depthwise convolutions (one filter
//! per channel, stride 1, ConvNeXt's) have their own forward and backward, on channels-first
//! maps (`depthwise`) and on channels-last ones (`channels_last`, ConvNeXt's trunk, through
//! [`conv2d_channels_last`]); other grouped convolutions keep Burn's.

pub mod channels_last;
pub mod depthwise;
pub mod geometry;
pub mod host;
mod shift;

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
    on_host(
        [(x, lift_x), (weight, lift_w)],
        bias.zip(lift_b),
        options,
        Layout::ChannelsFirst,
    )
}

/// `conv`'s depthwise convolution (ConvNeXt's) of a channels-last map `[n, h, w, c]`, giving
/// `[n, out_h, out_w, c]`: [`conv2d_channels_last`] with the layer's weight, bias and options.
pub fn depthwise_channels_last(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let Some(padding) = padding_pairs(&conv.padding) else {
        return conv.forward(x.permute([0, 3, 1, 2])).permute([0, 2, 3, 1]);
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    let bias = conv.bias.as_ref().map(|b| b.val());
    conv2d_channels_last(x, conv.weight.val(), bias, options)
}

/// [`conv2d`] of a channels-last map `[n, h, w, c]`, giving `[n, out_h, out_w, c]`: on flex
/// directly ([`channels_last`]) for a depthwise convolution of stride 1, otherwise [`conv2d`]
/// on the map permuted to channels first and back.
pub fn conv2d_channels_last(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let lift_b = Lift::of_optional(bias.as_ref());
    let (Some((lift_x, lift_w)), Some(lift_b)) =
        (channels_last_lifts(&x, &weight, &options), lift_b)
    else {
        return conv2d(x.permute([0, 3, 1, 2]), weight, bias, options).permute([0, 2, 3, 1]);
    };
    on_host(
        [(x, lift_x), (weight, lift_w)],
        bias.zip(lift_b),
        options,
        Layout::ChannelsLast,
    )
}

/// Whether [`conv2d_channels_last`] runs on the host for these operands (for tests).
pub fn channels_last_on_host(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    channels_last_lifts(x, weight, options).is_some()
}

/// Both operands on flex, a depthwise convolution of stride 1 whose window fits the padded
/// channels-last map `x`: the host operation applies.
fn channels_last_lifts(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvOptions<2>,
) -> Option<(Lift, Lift)> {
    let [n, h, w, c] = x.dims();
    output_shape([n, c, h, w], weight.dims(), options)?;
    depthwise::applies(c, weight.dims(), options).then_some(())?;
    Some((Lift::of(x)?, Lift::of(weight)?))
}

/// Where a map's channels are: Burn's `[n, c, h, w]` or `[n, h, w, c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    ChannelsFirst,
    ChannelsLast,
}

impl Layout {
    /// A map's shape in this layout as `[n, c, h, w]`.
    fn channels_first(self, [a, b, c, d]: [usize; 4]) -> [usize; 4] {
        match self {
            Self::ChannelsFirst => [a, b, c, d],
            Self::ChannelsLast => [a, d, b, c],
        }
    }

    /// The shape in this layout of a `[n, c, h, w]` map.
    fn shape_of(self, [n, c, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            Self::ChannelsFirst => [n, c, h, w],
            Self::ChannelsLast => [n, h, w, c],
        }
    }
}

/// The host convolution of lifted operands, as a Burn tensor: the forward alone when nothing
/// needs a gradient (evaluation), else recorded with its backward.
fn on_host(
    [(x, lift_x), (weight, lift_w)]: [(Tensor<4>, Lift); 2],
    bias: Option<(Tensor<1>, Lift)>,
    options: ConvOptions<2>,
    layout: Layout,
) -> Tensor<4> {
    if !Lift::any_tracked(&[lift_x, lift_w], bias.as_ref().map(|(_, lift)| *lift)) {
        let (x, weight) = (contiguous(plain(x)), contiguous(plain(weight)));
        let bias = bias.map(|(b, _)| contiguous(plain(b)));
        let y = forward_values(&x, &weight, bias.as_ref(), &options, layout);
        return Tensor::from_primitive::<Flex>(y);
    }
    let x = lift_x.tracked(x);
    let weight = lift_w.tracked(weight);
    let out = match bias {
        Some((b, lift)) => host_conv([x, weight, lift.tracked(b)], options, layout),
        None => host_conv([x, weight], options, layout),
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
/// through), [`channels_last::forward`] for channels-last maps (always depthwise).
fn forward_values(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
    layout: Layout,
) -> FlexTensor {
    let x_dims = layout.channels_first(x.shape().dims());
    let shape = output_shape(x_dims, weight.shape().dims(), options).expect("checked by lifts");
    let g = geometry(x_dims, weight.shape().dims(), shape, options);
    let (x, weight, bias) = (f32s(x), f32s(weight), bias.map(f32s));
    let y = match Kind::of(layout, options) {
        Kind::Dense => host::forward(&g, x, weight, bias),
        Kind::Depthwise => depthwise::forward(&g, x, weight, bias),
        Kind::ChannelsLast => channels_last::forward(&g, x, weight, bias),
    };
    from_vec(y, layout.shape_of(shape).into())
}

/// The convolution of `[x, weight]` or `[x, weight, bias]`, recorded with [`HostBackward`].
fn host_conv<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    options: ConvOptions<2>,
    layout: Layout,
) -> FloatTensor<Autodiff<Flex>> {
    let nodes = operands.each_ref().map(|t| t.node());
    let prep = HostBackward.prepare::<NoCheckpointing>(nodes);
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let state = (
                prep.checkpoint(&operands[0]),
                prep.checkpoint(&operands[1]),
                options.clone(),
                layout,
            );
            prep.finish(state, forward_of(operands, &options, layout))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward_of(operands, &options, layout)),
    }
}

/// [`forward_values`] of autodiff operands.
fn forward_of<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    options: &ConvOptions<2>,
    layout: Layout,
) -> FlexTensor {
    let values = operands.map(|t| contiguous(t.into_primitive()));
    forward_values(&values[0], &values[1], values.get(2), options, layout)
}

/// The backward of [`host_conv`]: [`host::input_grad`], [`host::weight_grad`] (or their
/// [`depthwise`] or [`channels_last`] forms) and [`host::bias_grad`].
#[derive(Debug)]
struct HostBackward;

impl<const N: usize> Backward<Flex, N> for HostBackward {
    type State = (NodeId, NodeId, ConvOptions<2>, Layout);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x_state, weight_state, options, layout) = ops.state;
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        let geometry = geometry(
            layout.channels_first(x.shape().dims()),
            weight.shape().dims(),
            layout.channels_first(dy.shape().dims()),
            &options,
        );
        let kind = Kind::of(layout, &options);
        let (w, dy_values) = (f32s(&weight), f32s(&dy));
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            let dx = match kind {
                Kind::Dense => host::input_grad(&geometry, w, dy_values),
                Kind::Depthwise => depthwise::input_grad(&geometry, w, dy_values),
                Kind::ChannelsLast => channels_last::input_grad(&geometry, w, dy_values),
            };
            grads.register::<Flex>(node.id, from_vec(dx, x.shape()));
        }
        if let Some(node) = parents.next().flatten() {
            let x = f32s(&x);
            let dw = match kind {
                Kind::Dense => host::weight_grad(&geometry, x, dy_values),
                Kind::Depthwise => depthwise::weight_grad(&geometry, x, dy_values),
                Kind::ChannelsLast => channels_last::weight_grad(&geometry, x, dy_values),
            };
            grads.register::<Flex>(node.id, from_vec(dw, weight.shape()));
        }
        if let Some(node) = parents.next().flatten() {
            let db = match kind {
                Kind::ChannelsLast => channels_last::bias_grad(geometry.out_channels, dy_values),
                _ => host::bias_grad(&geometry, dy_values),
            };
            let channels = db.len();
            grads.register::<Flex>(node.id, from_vec(db, [channels].into()));
        }
    }
}

/// Which kernels run a host convolution.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// One group, channels first: [`host`].
    Dense,
    /// Depthwise, channels first: [`depthwise`].
    Depthwise,
    /// Depthwise, channels last: [`channels_last`].
    ChannelsLast,
}

impl Kind {
    /// The kernels of a convolution [`lifts`] (or [`channels_last_lifts`]) let through:
    /// grouped only when depthwise, channels last only when depthwise.
    fn of(layout: Layout, options: &ConvOptions<2>) -> Self {
        match (layout, options.groups) {
            (Layout::ChannelsLast, _) => Self::ChannelsLast,
            (Layout::ChannelsFirst, 1) => Self::Dense,
            (Layout::ChannelsFirst, _) => Self::Depthwise,
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
