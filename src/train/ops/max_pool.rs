//! 2-D max pooling on flex: each window's maximum and where it was, kept for the backward pass,
//! which sends each output gradient back to that one input. Burn 0.22's flex backend runs a
//! general 3-D pooling kernel here (bounds recomputed with divisions for every output element);
//! this one computes the same maxima and gradients, 1.3-1.8x faster (`benches/conv.rs`).
//!
//! NaN wins a window, as in Burn and PyTorch. Dilation, ceil mode and `Same` padding keep
//! Burn's operation.

use std::mem::MaybeUninit;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::backend::{Autodiff, TensorMetadata};
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use rayon::prelude::*;

use super::{Lift, contiguous, f32s, from_vec, padding_pairs, plain};

/// `pool.forward(x)`, on the host where it applies.
pub fn forward(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let Some((lift, g)) = plan(pool, &x) else {
        return pool.forward(x);
    };
    let [n, c, _, _] = x.dims();
    let shape = [n, c, g.output[0], g.output[1]];
    match lift {
        Lift::Constant => {
            let x = contiguous(plain(x));
            let (y, _) = g.forward(f32s(&x));
            Tensor::from_primitive::<Flex>(from_vec(y, shape.into()))
        }
        Lift::Tracked => {
            let y = host_pool(lift.tracked(x), g, shape);
            Tensor::from_primitive::<Autodiff<Flex>>(y)
        }
    }
}

/// Whether [`forward`] runs on the host for this input (for tests).
pub fn runs_on_host(pool: &MaxPool2d, x: &Tensor<4>) -> bool {
    plan(pool, x).is_some()
}

/// How `x` reaches the host pooling and its geometry; `None` where Burn's operation runs.
fn plan(pool: &MaxPool2d, x: &Tensor<4>) -> Option<(Lift, PoolGeometry)> {
    let [n, c, h, w] = x.dims();
    let padding = padding_pairs(&pool.padding)?;
    if pool.dilation != [1, 1] || pool.ceil_mode {
        return None;
    }
    let geometry = PoolGeometry::new([n * c, h, w], pool.kernel_size, pool.stride, padding)?;
    Some((Lift::of(x)?, geometry))
}

fn host_pool(
    x: burn::backend::tensor::FloatTensor<Autodiff<Flex>>,
    g: PoolGeometry,
    shape: [usize; 4],
) -> burn::backend::tensor::FloatTensor<Autodiff<Flex>> {
    let prep = PoolBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful();
    let input = contiguous(x.into_primitive());
    let (y, argmax) = g.forward(f32s(&input));
    let y = from_vec(y, shape.into());
    match prep {
        OpsKind::Tracked(prep) => prep.finish((g, Arc::new(argmax)), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// The backward of [`host_pool`]: [`PoolGeometry::backward`].
#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    type State = (PoolGeometry, Arc<Vec<u32>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (g, argmax) = ops.state;
        if let Some(node) = node {
            let mut shape = dy.shape();
            shape[2] = g.input[0];
            shape[3] = g.input[1];
            let dx = g.backward(&argmax, f32s(&dy));
            grads.register::<Flex>(node.id, from_vec(dx, shape));
        }
    }
}

/// The geometry of one pooling: planes (batch times channels), sizes, window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch times channels.
    pub planes: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Padding before the first row and column.
    pub padding: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
}

impl PoolGeometry {
    /// `None` when the window does not fit (Burn's operation reports that) or padding exceeds
    /// half the window (as Burn and PyTorch refuse).
    pub fn new(
        [planes, h, w]: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
    ) -> Option<Self> {
        let out = |input: usize, k: usize, s: usize, (begin, end): (usize, usize)| {
            let padded = input + begin + end;
            (s > 0 && k > 0 && padded >= k && begin.max(end) * 2 <= k).then(|| (padded - k) / s + 1)
        };
        let output = [
            out(h, kernel[0], stride[0], padding[0])?,
            out(w, kernel[1], stride[1], padding[1])?,
        ];
        Some(Self {
            planes,
            input: [h, w],
            kernel,
            stride,
            padding: [padding[0].0, padding[1].0],
            output,
        })
    }

    /// For each output position along one axis, its window's rows (or columns) inside the
    /// input.
    fn windows(&self, axis: usize) -> Vec<(usize, usize)> {
        (0..self.output[axis])
            .map(|o| {
                let start = (o * self.stride[axis]) as isize - self.padding[axis] as isize;
                let end = start + self.kernel[axis] as isize;
                let clamp = |v: isize| v.clamp(0, self.input[axis] as isize) as usize;
                (clamp(start), clamp(end))
            })
            .collect()
    }

    /// Each window's maximum and its index within the plane (row-major), plane by plane.
    ///
    /// A window is scanned in row-major order from its first element ([`challenge`]): ties
    /// keep the first element and NaN wins, as in Burn's operation.
    pub fn forward(&self, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        let [h, w] = self.input;
        let out_len = self.output[0] * self.output[1];
        assert_eq!(x.len(), self.planes * h * w, "pooling input length");
        let mut y = vec![0.0; self.planes * out_len];
        let mut argmax = vec![0u32; self.planes * out_len];
        if out_len == 0 {
            return (y, argmax);
        }
        if self.kernel == [2, 2] && self.stride == [2, 2] && self.padding == [0, 0] {
            self.forward_2x2(x, &mut y, &mut argmax);
            return (y, argmax);
        }
        // Every window holds at least one input: `new` keeps padding within half the window.
        let (rows, cols) = (self.windows(0), self.windows(1));
        y.par_chunks_mut(out_len)
            .zip(argmax.par_chunks_mut(out_len))
            .zip(x.par_chunks(h * w))
            .for_each(|((y, argmax), x)| {
                let windows = rows.iter().flat_map(|r| cols.iter().map(move |c| (r, c)));
                for (((&(r0, r1), &(c0, c1)), y), at) in windows.zip(y).zip(argmax) {
                    let mut best = (x[r0 * w + c0], r0 * w + c0);
                    for r in r0..r1 {
                        for (c, &v) in x[r * w + c0..r * w + c1].iter().enumerate() {
                            challenge(&mut best, v, r * w + c0 + c);
                        }
                    }
                    *y = best.0;
                    *at = best.1 as u32;
                }
            });
        (y, argmax)
    }

    /// [`PoolGeometry::forward`] for 2x2 windows at stride 2 without padding (the small CNN's
    /// pooling): the same comparisons in the same order, written out.
    fn forward_2x2(&self, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
        let [h, w] = self.input;
        let [out_h, out_w] = self.output;
        let out_len = out_h * out_w;
        y.par_chunks_mut(out_len)
            .zip(argmax.par_chunks_mut(out_len))
            .zip(x.par_chunks(h * w))
            .for_each(|((y, argmax), x)| {
                for oh in 0..out_h {
                    let top = &x[2 * oh * w..][..2 * out_w];
                    let bottom = &x[(2 * oh + 1) * w..][..2 * out_w];
                    let outs = y[oh * out_w..][..out_w]
                        .iter_mut()
                        .zip(&mut argmax[oh * out_w..][..out_w]);
                    let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                    for (ow, ((t, b), (y, at))) in windows.zip(outs).enumerate() {
                        let first = 2 * oh * w + 2 * ow;
                        let mut best = (t[0], first);
                        challenge(&mut best, t[1], first + 1);
                        challenge(&mut best, b[0], first + w);
                        challenge(&mut best, b[1], first + w + 1);
                        *y = best.0;
                        *at = best.1 as u32;
                    }
                }
            });
    }

    /// The input gradient: each output gradient added to the input its maximum came from.
    pub fn backward(&self, argmax: &[u32], dy: &[f32]) -> Vec<f32> {
        let plane = self.input[0] * self.input[1];
        let out_len = self.output[0] * self.output[1];
        assert_eq!(
            dy.len(),
            self.planes * out_len,
            "pooling output gradient length"
        );
        if self.kernel == [2, 2] && self.stride == [2, 2] && self.padding == [0, 0] {
            return self.backward_2x2(argmax, dy);
        }
        let mut dx = vec![0.0; self.planes * plane];
        if out_len == 0 || plane == 0 {
            return dx;
        }
        dx.par_chunks_mut(plane)
            .zip(argmax.par_chunks(out_len))
            .zip(dy.par_chunks(out_len))
            .for_each(|((dx, argmax), dy)| {
                for (&i, &g) in argmax.iter().zip(dy) {
                    dx[i as usize] += g;
                }
            });
        dx
    }
}

impl PoolGeometry {
    /// [`PoolGeometry::backward`] for 2x2 windows at stride 2 without padding: the windows do
    /// not overlap, so each input's gradient is written once, its window's gradient or zero
    /// (no zero-filled buffer, no scattered additions); an odd last row or column is zero.
    fn backward_2x2(&self, argmax: &[u32], dy: &[f32]) -> Vec<f32> {
        let [h, w] = self.input;
        let [out_h, out_w] = self.output;
        let out_len = out_h * out_w;
        // Each plane below is written through its windows: there must be one per 2x2 block.
        assert!(
            (out_h, out_w) == (h / 2, w / 2) && argmax.len() == dy.len(),
            "2x2 pooling geometry"
        );
        let mut dx: Vec<f32> = Vec::with_capacity(self.planes * h * w);
        let planes = dx.spare_capacity_mut()[..self.planes * h * w].par_chunks_mut((h * w).max(1));
        let zero = MaybeUninit::new(0.0);
        planes
            .zip(argmax.par_chunks(out_len.max(1)))
            .zip(dy.par_chunks(out_len.max(1)))
            .for_each(|((dx, argmax), dy)| {
                for oh in 0..out_h {
                    let (top, bottom) = dx[2 * oh * w..][..2 * w].split_at_mut(w);
                    let first = 2 * oh * w;
                    let outs = dy[oh * out_w..][..out_w]
                        .iter()
                        .zip(&argmax[oh * out_w..][..out_w]);
                    let windows = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
                    for (ow, ((t, b), (&g, &at))) in windows.zip(outs).enumerate() {
                        let at = at as usize - (first + 2 * ow);
                        let pick = |i: usize| MaybeUninit::new(if at == i { g } else { 0.0 });
                        [t[0], t[1], b[0], b[1]] = [pick(0), pick(1), pick(w), pick(w + 1)];
                    }
                    top[2 * out_w..].fill(zero);
                    bottom[2 * out_w..].fill(zero);
                }
                dx[2 * out_h * w..].fill(zero);
            });
        // SAFETY: every plane's rows `0..2 * out_h` are written window by window plus their odd
        // last column, and the rows after them are filled: all `planes * h * w` values.
        unsafe { dx.set_len(self.planes * h * w) };
        dx
    }
}

/// A window's running maximum and its index meet the value `v` at index `i`, in row-major
/// order: `v` takes over when larger or NaN (NaN wins; ties keep the first), branch-free
/// (random data makes `v > best` unpredictable).
#[inline(always)]
fn challenge(best: &mut (f32, usize), v: f32, i: usize) {
    let take = (v > best.0) | v.is_nan();
    best.0 = if take { v } else { best.0 };
    best.1 = if take { i } else { best.1 };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_3x3_window_stride_2_padding_1_by_hand() {
        // 4x4 input 1..16; windows rows/cols (-1..2), (1..4): output 2x2.
        let g = PoolGeometry::new([1, 4, 4], [3, 3], [2, 2], [(1, 1), (1, 1)]).unwrap();
        assert_eq!(g.output, [2, 2]);
        let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let (y, argmax) = g.forward(&x);
        // rows 0..2 x cols 0..2 -> 6 (index 5); rows 0..2 x cols 1..4 -> 8; rows 1..4 ...
        assert_eq!(y, vec![6.0, 8.0, 14.0, 16.0]);
        assert_eq!(argmax, vec![5, 7, 13, 15]);
        let dx = g.backward(&argmax, &[1.0, 2.0, 3.0, 4.0]);
        let mut expected = vec![0.0; 16];
        expected[5] = 1.0;
        expected[7] = 2.0;
        expected[13] = 3.0;
        expected[15] = 4.0;
        assert_eq!(dx, expected);
    }

    #[test]
    fn overlapping_windows_add_and_nan_wins() {
        // 1x3 input, window 1x2, stride 1: both windows pick the middle 5.
        let g = PoolGeometry::new([1, 1, 3], [1, 2], [1, 1], [(0, 0), (0, 0)]).unwrap();
        let (y, argmax) = g.forward(&[1.0, 5.0, 2.0]);
        assert_eq!((y, argmax.clone()), (vec![5.0, 5.0], vec![1, 1]));
        assert_eq!(g.backward(&argmax, &[1.5, 2.0]), vec![0.0, 3.5, 0.0]);
        let (y, _) = g.forward(&[1.0, f32::NAN, 2.0]);
        assert!(y.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn the_2x2_path_by_hand() {
        // 2x4 input: windows [1 7; 3 2] and [4 4; 4 NaN]: 7 (index 1), NaN (index 7).
        let g = PoolGeometry::new([1, 2, 4], [2, 2], [2, 2], [(0, 0), (0, 0)]).unwrap();
        let (y, argmax) = g.forward(&[1.0, 7.0, 4.0, 4.0, 3.0, 2.0, 4.0, f32::NAN]);
        assert_eq!((y[0], argmax.clone()), (7.0, vec![1, 7]));
        assert!(y[1].is_nan());
        // Ties keep the first: [4 4; 4 4] -> index 2.
        let (_, argmax) = g.forward(&[0.0, 0.0, 4.0, 4.0, 0.0, 0.0, 4.0, 4.0]);
        assert_eq!(argmax, vec![0, 2]);
        // The backward writes each window's gradient where its maximum was, zero elsewhere;
        // a 3x5 plane's last row and column belong to no window.
        assert_eq!(
            g.backward(&[1, 7], &[1.5, -2.0]),
            vec![0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0]
        );
        let g = PoolGeometry::new([1, 3, 5], [2, 2], [2, 2], [(0, 0), (0, 0)]).unwrap();
        let dx = g.backward(&[6, 2], &[3.0, 4.0]);
        let mut expected = vec![0.0; 15];
        (expected[6], expected[2]) = (3.0, 4.0);
        assert_eq!(dx, expected);
    }

    #[test]
    fn impossible_geometry_is_refused() {
        assert!(PoolGeometry::new([1, 1, 1], [2, 2], [2, 2], [(0, 0), (0, 0)]).is_none());
        assert!(PoolGeometry::new([1, 4, 4], [2, 2], [2, 2], [(2, 2), (0, 0)]).is_none());
    }
}
