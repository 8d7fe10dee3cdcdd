//! A 2-D convolution on host memory, forward and backward: im2col into a scratch buffer, matrix
//! products (the `gemm` crate, the kernel Burn's flex backend multiplies with), col2im.
//!
//! Layouts are Burn's: input `[n, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`, output
//! `[n, c_out, out_h, out_w]`, all contiguous, row-major `f32`. One group only.
//!
//! With `K = c_in * kh * kw` and `P = out_h * out_w`, per sample `s`:
//! `cols_s = im2col(x_s)` is `[K, P]`; the output is `y_s = W [c_out, K] · cols_s` (+ bias), so
//! `dW = Σ_s dy_s [c_out, P] · cols_sᵀ` and `dx_s = col2im(Wᵀ · dy_s)`. Where `P` is small (deep
//! layers of a network on small images), a group of samples is laid side by side
//! (`[K, G·P]`, `[c_out, G·P]`) so that each matrix product has at least
//! [`MIN_COLUMNS`](super::geometry::MIN_COLUMNS) columns. Groups are spread over rayon's
//! threads, each with its own scratch. Kernel taps that read only padding (a 3x3 over a 1x1
//! map) have no rows: `K` is `c_in` times the live taps (`ConvGeometry::live_taps`), `W` their
//! columns, and `dW` zero at the others.

use std::borrow::Cow;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use crate::train::ops::gemm::{View, matmul};
use crate::train::ops::sum_in_order;

/// The output gradient of `n` samples (`[n, c_out, P]`) as one `[c_out, n·P]` matrix: a view
/// of `dy` itself for one sample, else side by side in `scratch`.
fn side_by_side<'a>(g: &ConvGeometry, dy: &'a [f32], scratch: &'a mut [f32]) -> View<'a> {
    let p = g.p();
    let n = dy.len() / g.output_len();
    if n == 1 {
        return View {
            data: dy,
            row_stride: p,
            col_stride: 1,
        };
    }
    let row = n * p;
    for (s, sample) in dy.chunks(g.output_len()).enumerate() {
        for (c, src) in sample.chunks(p).enumerate() {
            scratch[c * row + s * p..][..p].copy_from_slice(src);
        }
    }
    View {
        data: &scratch[..g.out_channels * row],
        row_stride: row,
        col_stride: 1,
    }
}

/// One task's scratch for groups of `group` samples: the im2col matrix (`cols`, `[K, group·P]`);
/// when samples are laid side by side, the `[c_out, group·P]` matrix of [`side_by_side`] and
/// [`unstack`] (`side`); the stride phases of one sample (`phases`, sized on first use).
struct Scratch {
    cols: Vec<f32>,
    side: Vec<f32>,
    phases: Vec<f32>,
}

impl Scratch {
    /// Scratch for `group` samples of an im2col matrix with `rows` rows ([`ConvGeometry::rows`],
    /// worked out once per call by the caller).
    fn new(g: &ConvGeometry, rows: usize, group: usize) -> Self {
        let columns = group * g.p();
        let side = if group > 1 {
            g.out_channels * columns
        } else {
            0
        };
        Self {
            cols: vec![0.0; rows * columns],
            side: vec![0.0; side],
            phases: Vec::new(),
        }
    }
}

/// The weight's columns for the im2col rows `g` builds (`[c_out, rows]`): the weight itself
/// where every tap is live, else the [live taps'](ConvGeometry::live_taps) columns gathered.
fn live_weight<'a>(g: &ConvGeometry, weight: &'a [f32], taps: &[usize]) -> Cow<'a, [f32]> {
    let window = g.kernel[0] * g.kernel[1];
    if taps.len() == window {
        return Cow::Borrowed(weight);
    }
    let gathered = weight
        .chunks(window)
        .flat_map(|channel| taps.iter().map(|&t| channel[t]))
        .collect();
    Cow::Owned(gathered)
}

/// The weight gradient of the live taps (`[c_out, rows]`) as the full `[c_out, c_in, kh, kw]`,
/// zero at the taps that read no input.
fn full_weight_grad(g: &ConvGeometry, live: Vec<f32>, taps: &[usize]) -> Vec<f32> {
    let window = g.kernel[0] * g.kernel[1];
    if taps.len() == window {
        return live;
    }
    let mut full = vec![0.0; g.out_channels * g.k()];
    for (channel, grads) in full.chunks_mut(window).zip(live.chunks(taps.len().max(1))) {
        taps.iter().zip(grads).for_each(|(&t, &d)| channel[t] = d);
    }
    full
}

/// The inverse of [`side_by_side`]: `stacked` (`[c_out, n·P]`) back into `n` samples' outputs
/// `y` (`[n, c_out, P]`), each channel's row plus its `bias`.
fn unstack(g: &ConvGeometry, stacked: &[f32], y: &mut [f32], bias: Option<&[f32]>) {
    let p = g.p();
    let row = y.len() / g.out_channels;
    for (s, sample) in y.chunks_mut(g.output_len()).enumerate() {
        for (c, dst) in sample.chunks_mut(p).enumerate() {
            let src = &stacked[c * row + s * p..][..p];
            match bias {
                Some(b) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = s + b[c]),
                None => dst.copy_from_slice(src),
            }
        }
    }
}

/// The output `[n, c_out, out_h, out_w]` of the convolution of `x` with `weight`, plus `bias`
/// per output channel: per group of samples, `y [c_out, n·P] = W [c_out, K] · cols [K, n·P]`
/// (`K` the im2col matrix's rows: [`ConvGeometry::rows`]).
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, p) = (g.rows(), g.p());
    assert_eq!(x.len(), g.batch * g.input_len(), "input length");
    assert_eq!(weight.len(), g.out_channels * g.k(), "weight length");
    assert!(
        bias.is_none_or(|b| b.len() == g.out_channels),
        "bias length"
    );
    let mut y = vec![0.0; g.batch * g.output_len()];
    if g.output_len() == 0 || k == 0 {
        if let Some(b) = bias {
            let rows = y.chunks_mut(p.max(1)).zip(b.iter().cycle());
            rows.for_each(|(row, b)| row.fill(*b));
        }
        return y;
    }
    let group = g.group();
    let weight = live_weight(g, weight, &g.live_taps());
    let w = View {
        data: &weight,
        row_stride: k,
        col_stride: 1,
    };
    y.par_chunks_mut(group * g.output_len())
        .zip(x.par_chunks(group * g.input_len()))
        .for_each_init(
            || Scratch::new(g, k, group),
            |scratch, (ys, xs)| {
                let row = (ys.len() / g.output_len()) * p;
                for (s, x) in xs.chunks(g.input_len()).enumerate() {
                    g.im2col(x, &mut scratch.cols, [row, s * p], &mut scratch.phases);
                }
                let b = View {
                    data: &scratch.cols[..k * row],
                    row_stride: row,
                    col_stride: 1,
                };
                if row == p {
                    // One sample: the product lands in place, on top of the bias.
                    if let Some(bias) = bias {
                        ys.chunks_mut(p).zip(bias).for_each(|(r, b)| r.fill(*b));
                    }
                    matmul(g.out_channels, row, k, w, b, ys, bias.is_some());
                } else {
                    matmul(g.out_channels, row, k, w, b, &mut scratch.side, false);
                    unstack(g, &scratch.side, ys, bias);
                }
            },
        );
    y
}

/// The bias gradient `[c_out]`: each channel's output gradient summed over samples and
/// positions (in `f64`).
pub fn bias_grad(g: &ConvGeometry, dy: &[f32]) -> Vec<f32> {
    let p = g.p();
    assert_eq!(dy.len(), g.batch * g.output_len(), "output gradient length");
    (0..g.out_channels)
        .into_par_iter()
        .map(|c| {
            let rows = dy.chunks(g.output_len().max(1)).map(|s| &s[c * p..][..p]);
            rows.flatten().map(|&v| f64::from(v)).sum::<f64>() as f32
        })
        .collect()
}

/// The weight gradient `[c_out, c_in, kh, kw]` from the input `x` and the output gradient `dy`.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.rows(), g.p());
    assert_eq!(x.len(), g.batch * g.input_len(), "input length");
    assert_eq!(dy.len(), g.batch * g.output_len(), "output gradient length");
    let size = g.out_channels * k;
    if g.batch == 0 || p == 0 || k == 0 {
        return vec![0.0; g.out_channels * g.k()];
    }
    let group = g.group();
    // One share of the batch per thread, each summing into its own gradient.
    let per = g.batch.div_ceil(rayon::current_num_threads().max(1));
    let partials = x
        .par_chunks(per * g.input_len())
        .zip(dy.par_chunks(per * g.output_len()))
        .map(|(xs, dys)| {
            let mut dw = vec![0.0; size];
            let mut scratch = Scratch::new(g, k, group);
            let groups = xs
                .chunks(group * g.input_len())
                .zip(dys.chunks(group * g.output_len()));
            for (i, (xs, dys)) in groups.enumerate() {
                let row = (xs.len() / g.input_len()) * p;
                for (s, x) in xs.chunks(g.input_len()).enumerate() {
                    g.im2col(x, &mut scratch.cols, [row, s * p], &mut scratch.phases);
                }
                // dW [c_out, K] += dy [c_out, n·P] · colsᵀ [n·P, K]
                let a = side_by_side(g, dys, &mut scratch.side);
                let b = View {
                    data: &scratch.cols[..k * row],
                    row_stride: 1,
                    col_stride: row,
                };
                matmul(g.out_channels, k, row, a, b, &mut dw, i > 0);
            }
            dw
        })
        .collect::<Vec<_>>();
    let live = sum_in_order(size, partials.iter().map(Vec::as_slice));
    full_weight_grad(g, live, &g.live_taps())
}

/// The input gradient `[n, c_in, h, w]` from the weight and the output gradient `dy`.
pub fn input_grad(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.rows(), g.p());
    assert_eq!(weight.len(), g.out_channels * g.k(), "weight length");
    assert_eq!(dy.len(), g.batch * g.output_len(), "output gradient length");
    let mut dx = vec![0.0; g.batch * g.input_len()];
    if g.input_len() == 0 || p == 0 || k == 0 {
        return dx;
    }
    let group = g.group();
    let weight = live_weight(g, weight, &g.live_taps());
    dx.par_chunks_mut(group * g.input_len())
        .zip(dy.par_chunks(group * g.output_len()))
        .for_each_init(
            || Scratch::new(g, k, group),
            |scratch, (dxs, dys)| {
                let row = (dxs.len() / g.input_len()) * p;
                // cols [K, n·P] = Wᵀ [K, c_out] · dy [c_out, n·P]
                let a = View {
                    data: &weight,
                    row_stride: 1,
                    col_stride: k,
                };
                let b = side_by_side(g, dys, &mut scratch.side);
                matmul(k, row, g.out_channels, a, b, &mut scratch.cols, false);
                for (s, dx) in dxs.chunks_mut(g.input_len()).enumerate() {
                    g.col2im_add(&mut scratch.cols, [row, s * p], dx, &mut scratch.phases);
                }
            },
        );
    dx
}

#[cfg(test)]
mod tests {
    use super::super::geometry::plane;
    use super::super::shift::{Planes, SMALL_PLANE};
    use super::*;

    /// The output (without bias) and both gradients by the definition, one product at a time.
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f32>; 3] {
        let [h, wd] = g.input;
        let [kh, kw] = g.kernel;
        let [oh_n, ow_n] = g.output;
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        let mut y = vec![0.0; dy.len()];
        for s in 0..g.batch {
            for co in 0..g.out_channels {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let at = ((s * g.out_channels + co) * oh_n + oh) * ow_n + ow;
                        let d = dy[at];
                        for c in 0..g.in_channels {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let ih = (oh * g.stride[0] + i * g.dilation[0]) as isize
                                        - g.padding[0] as isize;
                                    let iw = (ow * g.stride[1] + j * g.dilation[1]) as isize
                                        - g.padding[1] as isize;
                                    if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((s * g.in_channels + c) * h + ih as usize) * wd
                                        + iw as usize;
                                    let wi = ((co * g.in_channels + c) * kh + i) * kw + j;
                                    dw[wi] += d * x[xi];
                                    dx[xi] += d * w[wi];
                                    y[at] += w[wi] * x[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    /// Three samples, two channels into three; the output's size from the rest.
    fn geometry(
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: usize,
    ) -> ConvGeometry {
        let reach = |a: usize| input[a] + 2 * padding[a] - dilation * (kernel[a] - 1) - 1;
        ConvGeometry {
            batch: 3,
            in_channels: 2,
            input,
            out_channels: 3,
            kernel,
            stride,
            padding,
            dilation: [dilation; 2],
            output: [0, 1].map(|a| reach(a) / stride[a] + 1),
        }
    }

    /// The output (with a bias) and the three gradients of `g` on one thread, against
    /// [`direct`]; returns the samples per product.
    fn matches_the_definition(g: &ConvGeometry) -> usize {
        let values = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 + salt) % 23) as f32 / 11.0 - 1.0)
                .collect()
        };
        let x = values(g.batch * g.input_len(), 1);
        let w = values(g.out_channels * g.k(), 2);
        let dy = values(g.batch * g.output_len(), 3);
        let bias: Vec<f32> = (0..g.out_channels).map(|c| c as f32 - 0.5).collect();
        let [y_ref, dx_ref, dw_ref] = direct(g, &x, &w, &dy);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (y, dx, dw, group) = one_thread.install(|| {
            let y = forward(g, &x, &w, Some(&bias));
            (
                y,
                input_grad(g, &w, &dy),
                weight_grad(g, &x, &dy),
                g.group(),
            )
        });
        // Within 1e-5 of the value, or of 1 below it: sums of a few hundred products (the
        // larger maps' weight gradients) reach the hundreds.
        let close = |a: &[f32], b: &[f32]| {
            let near = |(a, b): (&f32, &f32)| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
            a.len() == b.len() && a.iter().zip(b).all(near)
        };
        let y_ref: Vec<f32> = (y_ref.iter().enumerate())
            .map(|(i, v)| v + bias[(i / g.p()) % g.out_channels])
            .collect();
        assert!(close(&y, &y_ref), "output of {g:?}");
        assert!(close(&dx, &dx_ref), "input gradient of {g:?}");
        assert!(close(&dw, &dw_ref), "weight gradient of {g:?}");
        let db: Vec<f32> = (0..g.out_channels)
            .map(|c| {
                (dy.chunks(g.p()).skip(c).step_by(g.out_channels))
                    .flatten()
                    .sum()
            })
            .collect();
        assert!(close(&bias_grad(g, &dy), &db), "bias gradient of {g:?}");
        group
    }

    #[test]
    fn grouped_samples_match_the_definition() {
        // P = 8x8 = 64: four samples per product on one thread, five samples: groups of 4 + 1.
        let g = ConvGeometry {
            batch: 5,
            in_channels: 3,
            input: [15, 16],
            out_channels: 4,
            kernel: [3, 2],
            stride: [2, 2],
            padding: [1, 0],
            dilation: [1, 1],
            output: [8, 8],
        };
        assert_eq!(matches_the_definition(&g), 4);
    }

    /// Stride 1 and the output as wide as the input: im2col's rows are shifted copies of the
    /// plane (`Planes::Input`), with zeros past every edge.
    #[test]
    fn same_convolutions_match_the_definition() {
        let same =
            |input, kernel, padding, dilation| geometry(input, kernel, [1, 1], padding, dilation);
        let cases = [
            same([5, 4], [3, 3], [1, 1], 1),
            same([4, 6], [1, 1], [0, 0], 1),
            same([3, 3], [7, 7], [3, 3], 1),
            same([6, 5], [3, 3], [2, 2], 2),
            same([5, 5], [1, 3], [0, 1], 1),
            // Taller output than the input: rows of zeros above and below.
            same([2, 3], [1, 3], [2, 1], 1),
            // Maps past SMALL_PLANE (16) copy rows run by run, smaller ones through a table.
            same([12, 10], [3, 3], [1, 1], 1),
            same([9, 9], [5, 5], [2, 2], 1),
        ];
        assert!(cases.iter().any(|g| g.p() > SMALL_PLANE));
        assert!(cases.iter().any(|g| g.p() <= SMALL_PLANE));
        for g in cases {
            assert_eq!(g.planes(), Some(Planes::Input), "{g:?}");
            matches_the_definition(&g);
        }
    }

    /// Strided convolutions: im2col's rows are shifted copies of the stride phases where every
    /// input a tap reads lies in its phase plane (`Planes::Phases`), else copies per output row.
    #[test]
    fn strided_convolutions_match_the_definition() {
        let strided =
            |input, kernel, stride, padding, d| geometry(input, kernel, stride, [padding; 2], d);
        let phases = [
            // ResNet's stride-2 3x3 and 1x1 on even and odd planes.
            strided([8, 8], [3, 3], [2, 2], 1, 1),
            strided([7, 9], [3, 3], [2, 2], 1, 1),
            strided([8, 6], [1, 1], [2, 2], 0, 1),
            strided([7, 7], [1, 1], [2, 2], 0, 1),
            // A patchify stem, a 7x7 stride-2 stem, stride on one axis, dilation, stride 3.
            strided([8, 8], [4, 4], [4, 4], 0, 1),
            strided([9, 10], [7, 7], [2, 2], 3, 1),
            strided([6, 7], [3, 3], [2, 1], 1, 1),
            strided([9, 9], [3, 3], [2, 2], 2, 2),
            strided([10, 11], [3, 2], [3, 3], 1, 1),
            // The window larger than the plane.
            strided([3, 3], [5, 5], [2, 2], 2, 1),
            // Maps past SMALL_PLANE.
            strided([20, 18], [3, 3], [2, 2], 1, 1),
            strided([17, 19], [1, 1], [2, 2], 0, 1),
        ];
        assert!(phases.iter().any(|g| g.p() > SMALL_PLANE));
        assert!(phases.iter().any(|g| g.p() <= SMALL_PLANE));
        for g in phases {
            assert_eq!(g.planes(), Some(Planes::Phases), "{g:?}");
            matches_the_definition(&g);
        }
        // A tap reads past its phase plane (the output ends before the input does), and a
        // stride-1 convolution narrower than its input: copies per output row.
        let segments = [
            strided([8, 8], [3, 3], [2, 2], 0, 1),
            strided([9, 8], [4, 4], [3, 3], 0, 1),
            strided([6, 6], [3, 3], [1, 1], 0, 1),
        ];
        for g in segments {
            assert_eq!(g.planes(), None, "{g:?}");
            matches_the_definition(&g);
        }
    }

    /// Taps whose window never meets the input have no im2col rows (`live_taps`); the weight
    /// gradient is zero there.
    #[test]
    fn taps_that_read_nothing_match_the_definition() {
        let g = |input, stride| geometry(input, [3, 3], [stride; 2], [1, 1], 1);
        // A 1x1 map reads through the centre only; a stride-2 3x3 over 2x2 through the lower
        // right four taps; a 1x3 map through the middle row.
        let cases = [
            (g([1, 1], 1), vec![4]),
            (g([2, 2], 2), vec![4, 5, 7, 8]),
            (g([1, 3], 1), vec![3, 4, 5]),
        ];
        for (g, live) in cases {
            assert_eq!(g.live_taps(), live, "{g:?}");
            assert_eq!(g.rows(), g.in_channels * live.len());
            matches_the_definition(&g);
        }
    }

    #[test]
    fn gradients_of_a_2x2_kernel_by_hand() {
        // x = [[1,2],[3,4]], 2x2 kernel, no padding: one output y = Σ w·x, dy = 2.
        let g = plane([2, 2], [2, 2], 1, 0);
        let x = [1.0, 2.0, 3.0, 4.0];
        let w = [0.5, -1.0, 2.0, 0.25];
        let dy = [2.0];
        assert_eq!(weight_grad(&g, &x, &dy), vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(input_grad(&g, &w, &dy), vec![1.0, -2.0, 4.0, 0.5]);
    }
}
