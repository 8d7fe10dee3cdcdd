//! Operations with a backward pass dynunc writes itself, for Burn's flex CPU backend: the
//! convolution (`conv`, depthwise included), max pooling (`max_pool`), GELU (`gelu`), batch
//! norm (`batch_norm`), layer norm (`layer_norm`), the linear layer (`linear`), softmax
//! (`softmax`) and multi-head attention (`attention`), where Burn 0.22's own operations on flex take most of a training step
//! (`benches/conv.rs`, `benches/RESULTS.md`); and Adam's update in one pass (`adam`).
//!
//! Each registers its backward with Burn's autodiff graph (the extension point Burn's own
//! operations use) and is tested equal to Burn's operation for the output and every gradient
//! (`tests/suite/ops.rs`). Anything that is not an `f32` flex tensor (wgpu, other float types,
//! gradient checkpointing) takes Burn's operation unchanged.

pub mod adam;
pub mod attention;
pub mod batch_norm;
pub mod conv;
pub mod gelu;
mod gemm;
pub mod layer_norm;
pub mod linear;
mod math;
pub mod max_pool;
pub(crate) mod simd;
pub mod softmax;

use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, BackendTensor, DispatchAutodiffContext, DispatchTensor,
    DispatchTensorKind, GradientCheckpointingStrategy, TensorMetadata,
};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::DType;

/// How an operand reaches a host operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lift {
    /// A flex tensor with autodiff (no gradient checkpointing): may need a gradient.
    Tracked,
    /// A plain flex tensor: a constant.
    Constant,
}

impl Lift {
    /// `None` where the host operation does not apply: another backend, another float type,
    /// gradient checkpointing.
    fn of<const D: usize>(t: &Tensor<D>) -> Option<Self> {
        let t: DispatchTensor = t.clone().into_dispatch();
        if t.dtype() != DType::F32 {
            return None;
        }
        #[allow(unreachable_patterns)] // one variant more with the wgpu feature
        match (&t.autodiff, &t.kind) {
            (
                DispatchAutodiffContext::Enabled(GradientCheckpointingStrategy::Disabled),
                DispatchTensorKind::Autodiff(inner),
            ) => matches!(
                **inner,
                DispatchTensorKind::Flex(BackendTensor::Autodiff(_))
            )
            .then_some(Self::Tracked),
            (
                DispatchAutodiffContext::Disabled,
                DispatchTensorKind::Flex(BackendTensor::Float(_)),
            ) => Some(Self::Constant),
            _ => None,
        }
    }

    /// [`Lift::of`] an optional operand (a bias, a shift): `Some(None)` when it is absent,
    /// `None` when it is present and the host operation does not apply to it.
    fn of_optional<const D: usize>(t: Option<&Tensor<D>>) -> Option<Option<Self>> {
        match t {
            Some(t) => Self::of(t).map(Some),
            None => Some(None),
        }
    }

    /// Whether any operand, the required `lifts` or an `optional` one, needs a gradient.
    fn any_tracked(lifts: &[Self], optional: Option<Self>) -> bool {
        lifts.contains(&Self::Tracked) || optional == Some(Self::Tracked)
    }

    /// The tensor as an autodiff flex primitive (a constant one for [`Lift::Constant`]).
    fn tracked<const D: usize>(self, t: Tensor<D>) -> FloatTensor<Autodiff<Flex>> {
        let checked = "checked by Lift::of";
        match self {
            Self::Tracked => t.try_into_primitive::<Autodiff<Flex>>().expect(checked),
            Self::Constant => Autodiff::<Flex>::from_inner(plain(t)),
        }
    }
}

/// `(begin, end)` padding per axis; `None` for `Same`, which depends on the input and is left
/// to Burn's module.
fn padding_pairs(padding: &PaddingConfig2d) -> Option<[(usize, usize); 2]> {
    match *padding {
        PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
        PaddingConfig2d::Explicit(top, left, bottom, right) => Some([(top, bottom), (left, right)]),
        PaddingConfig2d::Same => None,
    }
}

/// Parallel partial sums (each `len` long) added element by element in their order, so the
/// result does not depend on how rayon split the work.
fn sum_in_order<'a, T>(len: usize, partials: impl IntoIterator<Item = &'a [T]>) -> Vec<T>
where
    T: Copy + Default + std::ops::AddAssign + 'a,
{
    let mut sum = vec![T::default(); len];
    for partial in partials {
        sum.iter_mut().zip(partial).for_each(|(s, &v)| *s += v);
    }
    sum
}

/// The flex primitive of a tensor [`Lift::of`] found [`Lift::Constant`].
fn plain<const D: usize>(t: Tensor<D>) -> FlexTensor {
    t.try_into_primitive::<Flex>().expect("checked by Lift::of")
}

/// `t` with its values contiguous from offset 0, readable by [`f32s`].
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// `t` (an output gradient, contiguous) as a buffer to overwrite with a result of its shape:
/// its own values where nothing else holds them (the usual case), a copy otherwise. Read and
/// write them with [`f32s_mut`].
fn writable(mut t: FlexTensor) -> FlexTensor {
    let n = t.shape().num_elements();
    match t.try_storage_mut::<f32>() {
        Some(all) if all.len() == n => t,
        _ => from_vec(f32s(&t).to_vec(), t.shape()),
    }
}

/// The values of a [`writable`] tensor.
fn f32s_mut(t: &mut FlexTensor) -> &mut [f32] {
    t.try_storage_mut::<f32>().expect("made writable")
}

/// The values of a [`contiguous`] `f32` tensor.
fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("made contiguous f32")
}

fn from_vec(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
