//! Multi-head self-attention from the `qkv` projection, `softmax(Q Kᵀ / √d + bias + mask) V`
//! per window and head, as one operation on flex: every product reads its head straight out of
//! the `[windows, n, 3C]` projection (strided views, no copies) and the heads' outputs are
//! written straight into `[windows, n, C]`; the probabilities are kept for the backward, which
//! writes `dQ`, `dK` and `dV` into one `[windows, n, 3C]` gradient.
//!
//! Burn 0.22 composes it from a permute and three slices of the projection, a scaling, two
//! batched products, the additions, softmax and a transpose back, each a fresh (zero-filled, then
//! re-aligned) buffer with its own backward: on `swin_mini` the layout copies and fills took a
//! fifth of a step. Without autodiff, on other backends, or with operands the operation does not
//! take, the same composition runs ([`composed`]).
//!
//! Windows are split into fixed blocks for the threads and the bias gradient adds the blocks'
//! partial sums in order, so results do not depend on how rayon splits the work. Outputs and
//! gradients agree with Burn's composition within float rounding (`tests/suite/attention.rs`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, TensorMetadata};
use burn::prelude::*;
use rayon::prelude::*;

use super::gemm::{Out, View, product};
use super::simd::vectorised;
use super::softmax::{backward_in_place, softmax_in_place};
use super::{Lift, contiguous, f32s, from_vec, sum_in_order};

/// Windows per parallel task (and per partial sum of the bias gradient).
const WINDOWS: usize = 16;

/// Self-attention of `qkv` (`[windows, n, 3C]`: queries, keys and values, each `heads` heads of
/// `C / heads` channels) with an optional `bias` per head (`[heads, n, n]`, trainable: Swin's
/// relative positions) and `mask` (`[k, n, n]` for window `w` at `w % k`, a constant: Swin's
/// shifted windows) added to the scaled scores. Returns the heads' outputs side by side,
/// `[windows, n, C]`.
pub fn attention(
    qkv: Tensor<3>,
    heads: usize,
    bias: Option<Tensor<3>>,
    mask: Option<Tensor<3>>,
) -> Tensor<3> {
    let Some((lift, lift_bias)) = plan(&qkv, heads, bias.as_ref(), mask.as_ref()) else {
        return composed(qkv, heads, bias, mask);
    };
    let mask = mask.map(|m| contiguous(lift_inner(m)));
    let tracked = Lift::any_tracked(&[lift], lift_bias);
    if !tracked {
        let qkv = contiguous(lift_inner(qkv));
        let bias = bias.map(|b| contiguous(lift_inner(b)));
        let (out, _) = forward_values(&qkv, heads, bias.as_ref(), mask.as_ref());
        return Tensor::from_primitive::<Flex>(out);
    }
    let qkv = lift.tracked(qkv);
    let out = match (bias, lift_bias) {
        (Some(b), Some(lb)) => host_attention([qkv, lb.tracked(b)], heads, mask),
        _ => host_attention([qkv], heads, mask),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(out)
}

/// Whether [`attention`] runs on the host for these operands (for tests).
pub fn runs_on_host(qkv: &Tensor<3>, heads: usize, bias: Option<&Tensor<3>>) -> bool {
    plan(qkv, heads, bias, None).is_some()
}

/// How `qkv` and `bias` reach the host operation; `None` where the composition runs: another
/// backend or float type, shapes that do not fit, a mask that needs a gradient.
fn plan(
    qkv: &Tensor<3>,
    heads: usize,
    bias: Option<&Tensor<3>>,
    mask: Option<&Tensor<3>>,
) -> Option<(Lift, Option<Lift>)> {
    let [windows, n, c3] = qkv.dims();
    let fits = heads > 0
        && n > 0
        && c3 > 0
        && c3 % (3 * heads) == 0
        && bias.is_none_or(|b| b.dims() == [heads, n, n])
        && mask.is_none_or(|m| {
            let [k, mn, mm] = m.dims();
            k > 0 && windows % k == 0 && [mn, mm] == [n, n]
        });
    if !fits || mask.is_some_and(|m| m.is_tracked() || Lift::of(m).is_none()) {
        return None;
    }
    Some((Lift::of(qkv)?, Lift::of_optional(bias)?))
}

/// The flex values of an operand [`plan`] accepted (tracked or not).
fn lift_inner(t: Tensor<3>) -> FlexTensor {
    match Lift::of(&t) {
        Some(Lift::Tracked) => Lift::Tracked.tracked(t).into_primitive(),
        _ => super::plain(t),
    }
}

/// Burn's composition of the same attention (any backend; the softmax is
/// [`super::softmax::softmax`]).
pub fn composed(
    qkv: Tensor<3>,
    heads: usize,
    bias: Option<Tensor<3>>,
    mask: Option<Tensor<3>>,
) -> Tensor<3> {
    let [b, n, c3] = qkv.dims();
    let (c, hd) = (c3 / 3, c3 / 3 / heads);
    let qkv = qkv.reshape([b, n, 3, heads, hd]).permute([2, 0, 3, 1, 4]);
    let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b, heads, n, hd]);
    let (q, k, v) = (part(0), part(1), part(2));
    let q = q.mul_scalar((hd as f64).powf(-0.5));
    let mut scores = q.matmul(k.swap_dims(2, 3));
    if let Some(bias) = bias {
        scores = scores + bias.unsqueeze::<4>();
    }
    if let Some(mask) = mask {
        let k = mask.dims()[0];
        scores = (scores.reshape([b / k, k, heads, n, n]) + mask.reshape([1, k, 1, n, n]))
            .reshape([b, heads, n, n]);
    }
    super::softmax::softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([b, n, c])
}

/// The shapes of one attention.
#[derive(Debug, Clone, Copy)]
struct Dims {
    /// Tokens per window.
    n: usize,
    /// Channels of the output (a third of the projection's).
    c: usize,
    /// Channels per head.
    hd: usize,
}

impl Dims {
    fn of(qkv: &FlexTensor, heads: usize) -> Self {
        let [_, n, c3] = qkv.shape().dims();
        Self {
            n,
            c: c3 / 3,
            hd: c3 / 3 / heads,
        }
    }

    /// The scores' scale, `hd^-1/2`.
    fn scale(&self) -> f32 {
        (self.hd as f32).powf(-0.5)
    }

    /// Head `h`'s queries (`part` 0), keys (1) or values (2) in one window's `[n, 3C]`
    /// projection, `n x hd`.
    fn part<'a>(&self, qkv: &'a [f32], part: usize, h: usize) -> View<'a> {
        View::strided(&qkv[part * self.c + h * self.hd..], 3 * self.c, 1)
    }

    /// The transpose of [`Dims::part`], `hd x n`.
    fn part_t<'a>(&self, qkv: &'a [f32], part: usize, h: usize) -> View<'a> {
        View::strided(&qkv[part * self.c + h * self.hd..], 1, 3 * self.c)
    }

    /// Where head `h`'s `part` goes in one window's `[n, 3C]` gradient.
    fn part_out<'a>(&self, dqkv: &'a mut [f32], part: usize, h: usize) -> Out<'a> {
        Out {
            data: &mut dqkv[part * self.c + h * self.hd..],
            row_stride: 3 * self.c,
        }
    }
}

/// The output `[windows, n, C]` and the probabilities `[windows, heads, n, n]`.
fn forward_values(
    qkv: &FlexTensor,
    heads: usize,
    bias: Option<&FlexTensor>,
    mask: Option<&FlexTensor>,
) -> (FlexTensor, FlexTensor) {
    let d = Dims::of(qkv, heads);
    let windows = qkv.shape()[0];
    let (n, nn) = (d.n, d.n * d.n);
    let (values, bias) = (f32s(qkv), bias.map(f32s));
    let mask = mask.map(|m| (f32s(m), m.shape()[0]));
    let scale = d.scale();
    let mut out = vec![0.0f32; windows * n * d.c];
    let mut probs = vec![0.0f32; windows * heads * nn];
    out.par_chunks_mut(n * d.c)
        .zip(probs.par_chunks_mut(heads * nn))
        .zip(values.par_chunks(n * 3 * d.c))
        .enumerate()
        .with_min_len(WINDOWS)
        .for_each(|(w, ((out, probs), qkv))| {
            vectorised(
                #[inline(always)]
                || {
                    for (h, p) in probs.chunks_mut(nn).enumerate() {
                        let added = additions(p, bias.map(|b| &b[h * nn..][..nn]), mask, w);
                        let (q, kt) = (d.part(qkv, 0, h), d.part_t(qkv, 1, h));
                        let scores = Out {
                            data: p,
                            row_stride: n,
                        };
                        product([n, n, d.hd], q, kt, scores, added, scale);
                        // A loop, not `for_each(softmax_in_place)`: the fold behind
                        // `for_each` was left out of line, compiled for the baseline.
                        for row in p.chunks_mut(n) {
                            softmax_in_place(row);
                        }
                        let o = Out {
                            data: &mut out[h * d.hd..],
                            row_stride: d.c,
                        };
                        product(
                            [n, d.hd, n],
                            View::rows(p, n),
                            d.part(qkv, 2, h),
                            o,
                            false,
                            1.0,
                        );
                    }
                },
            )
        });
    (
        from_vec(out, [windows, n, d.c].into()),
        from_vec(probs, [windows, heads, n, n].into()),
    )
}

/// Writes the bias and the window's mask, where given, into the scores `p`; whether it did.
fn additions(p: &mut [f32], bias: Option<&[f32]>, mask: Option<(&[f32], usize)>, w: usize) -> bool {
    let nn = p.len();
    let mask = mask.map(|(m, k)| &m[(w % k) * nn..][..nn]);
    match (bias, mask) {
        (None, None) => return false,
        (Some(b), None) | (None, Some(b)) => p.copy_from_slice(b),
        (Some(b), Some(m)) => p
            .iter_mut()
            .zip(b.iter().zip(m))
            .for_each(|(p, (b, m))| *p = b + m),
    }
    true
}

/// The forward pass of `[qkv]` or `[qkv, bias]`, recorded with [`AttentionBackward`].
fn host_attention<const N: usize>(
    operands: [FloatTensor<Autodiff<Flex>>; N],
    heads: usize,
    mask: Option<FlexTensor>,
) -> FloatTensor<Autodiff<Flex>> {
    let prep = AttentionBackward
        .prepare::<NoCheckpointing>(operands.each_ref().map(|t| t.node()))
        .compute_bound()
        .stateful();
    let values = operands.map(|t| contiguous(t.into_primitive()));
    let (out, probs) = forward_values(&values[0], heads, values.get(1), mask.as_ref());
    match prep {
        OpsKind::Tracked(prep) => {
            let qkv = values[0].clone();
            prep.finish(Kept { qkv, probs, heads }, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// What the backward pass needs: the projection and the probabilities (shared, not copied).
#[derive(Debug, Clone)]
struct Kept {
    qkv: FlexTensor,
    probs: FlexTensor,
    heads: usize,
}

/// The backward of [`host_attention`]: per window and head `dP = dO Vᵀ`, `dV = Pᵀ dO`, `dS` by
/// softmax's backward, `dQ = dS K / √d`, `dK = dSᵀ Q / √d`, and the bias gradient `Σ dS`.
#[derive(Debug)]
struct AttentionBackward;

impl<const N: usize> Backward<Flex, N> for AttentionBackward {
    type State = Kept;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = contiguous(grads.consume::<Flex>(&ops.node));
        let Kept { qkv, probs, heads } = ops.state;
        let mut parents = ops.parents.into_iter();
        let qkv_node = parents.next().flatten();
        let bias_node = parents.next().flatten();
        let (dqkv, dbias) = input_grads(&qkv, heads, &probs, &dout, bias_node.is_some());
        if let Some(node) = qkv_node {
            grads.register::<Flex>(node.id, from_vec(dqkv, qkv.shape()));
        }
        if let Some(node) = bias_node {
            let d = Dims::of(&qkv, heads);
            grads.register::<Flex>(node.id, from_vec(dbias, [heads, d.n, d.n].into()));
        }
    }
}

/// `dqkv` `[windows, n, 3C]` and (with `bias`) the bias gradient `[heads, n, n]`.
fn input_grads(
    qkv: &FlexTensor,
    heads: usize,
    probs: &FlexTensor,
    dout: &FlexTensor,
    bias: bool,
) -> (Vec<f32>, Vec<f32>) {
    let d = Dims::of(qkv, heads);
    let (n, nn, c3) = (d.n, d.n * d.n, 3 * d.c);
    let (qkv, probs, dout) = (f32s(qkv), f32s(probs), f32s(dout));
    let scale = d.scale();
    let mut dqkv = vec![0.0f32; qkv.len()];
    let partials: Vec<Vec<f32>> = dqkv
        .par_chunks_mut(WINDOWS * n * c3)
        .zip(qkv.par_chunks(WINDOWS * n * c3))
        .zip(probs.par_chunks(WINDOWS * heads * nn))
        .zip(dout.par_chunks(WINDOWS * n * d.c))
        .map(|(((dqkv, qkv), probs), dout)| {
            let mut dbias = vec![0.0f32; if bias { heads * nn } else { 0 }];
            let mut ds = vec![0.0f32; nn];
            let windows = dqkv
                .chunks_mut(n * c3)
                .zip(qkv.chunks(n * c3))
                .zip(probs.chunks(heads * nn))
                .zip(dout.chunks(n * d.c));
            vectorised(
                #[inline(always)]
                || {
                    for (((dqkv, qkv), probs), dout) in windows {
                        for (h, p) in probs.chunks(nn).enumerate() {
                            let d_o = View::strided(&dout[h * d.hd..], d.c, 1);
                            let rows = Out {
                                data: &mut ds,
                                row_stride: n,
                            };
                            product([n, n, d.hd], d_o, d.part_t(qkv, 2, h), rows, false, 1.0);
                            let pt = View::transposed(p, n);
                            product([n, d.hd, n], pt, d_o, d.part_out(dqkv, 2, h), false, 1.0);
                            for (ds, p) in ds.chunks_mut(n).zip(p.chunks(n)) {
                                backward_in_place(ds, p);
                            }
                            if bias {
                                let db = &mut dbias[h * nn..][..nn];
                                db.iter_mut().zip(&ds).for_each(|(b, s)| *b += s);
                            }
                            let (dsv, dst) = (View::rows(&ds, n), View::transposed(&ds, n));
                            product(
                                [n, d.hd, n],
                                dsv,
                                d.part(qkv, 1, h),
                                d.part_out(dqkv, 0, h),
                                false,
                                scale,
                            );
                            product(
                                [n, d.hd, n],
                                dst,
                                d.part(qkv, 0, h),
                                d.part_out(dqkv, 1, h),
                                false,
                                scale,
                            );
                        }
                    }
                },
            );
            dbias
        })
        .collect();
    let dbias = match bias {
        true => sum_in_order(heads * nn, partials.iter().map(Vec::as_slice)),
        false => Vec::new(),
    };
    (dqkv, dbias)
}
