//! A depthwise convolution on channels-last maps (ConvNeXt's 7x7 between its channels-last
//! layer norm and feed-forward), forward and backward.
//!
//! Layouts: input `[n, h, w, c]`, output `[n, out_h, out_w, c]`, weight Burn's `[c, 1, kh, kw]`
//! (read as taps `[kh·kw, c]`), contiguous row-major `f32`; stride 1, no dilation, any padding.
//! With the channels innermost, each output position keeps 32 channels' sums in four registers
//! (four independent chains of additions) across all the kernel's taps, each tap one load of the
//! input and one of the taps: no padded planes, nothing wasted at the edges, and no permute of
//! the map on either side of it.
//!
//! The output and the input gradient are one routine, [`correlate`]: the input correlated with
//! the taps, and the output gradient correlated with the taps flipped; the weight gradient
//! ([`sample_taps`]) sums `dy · x` at each tap's shift.

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use crate::train::ops::simd::vectorised;
use crate::train::ops::sum_in_order;

/// Calls `f::<N>(block)` over the channels `0..c` in blocks of `N` = 32 (four registers of
/// sums, four independent chains of additions: one chain waits on each addition's latency),
/// then 8, then 1.
macro_rules! channel_blocks {
    ($c:expr, |$block:ident, $n:ident| $body:expr) => {{
        let c = $c;
        let mut $block = 0;
        channel_blocks!(@width c, $block, 32, $n, $body);
        channel_blocks!(@width c, $block, 8, $n, $body);
        channel_blocks!(@width c, $block, 1, $n, $body);
    }};
    (@width $c:ident, $block:ident, $width:literal, $n:ident, $body:expr) => {
        while $c - $block >= $width {
            {
                const $n: usize = $width;
                $body;
            }
            $block += $width;
        }
    };
}

/// `acc[l] += a[l] · b[l]` for the `N` lanes.
#[inline(always)]
fn multiply_add<const N: usize>(acc: &mut [f32; N], a: &[f32], b: &[f32]) {
    let (a, b) = (&a[..N], &b[..N]);
    for l in 0..N {
        acc[l] += a[l] * b[l];
    }
}

/// `N` values from `from` as an array (a register's worth of sums, or four).
#[inline(always)]
fn lanes<const N: usize>(from: &[f32]) -> [f32; N] {
    from[..N].try_into().expect("N values")
}

/// How one map is read by [`correlate`]: `out[p, q] = Σ taps[a, b] · src[p + a - offset.0,
/// q + b - offset.1]` over the taps that land inside `src`.
#[derive(Debug, Clone, Copy)]
struct Correlation {
    /// Source height and width.
    source: [usize; 2],
    /// Output height and width.
    output: [usize; 2],
    /// Kernel height and width.
    kernel: [usize; 2],
    /// How far the kernel's first tap reaches before the output position.
    offset: [isize; 2],
    /// Channels.
    channels: usize,
}

impl Correlation {
    /// One output row `p` of one sample (`out`, `[out_w, c]`) from that sample's `src`.
    #[inline(always)]
    fn row(&self, src: &[f32], taps: &[f32], start: &[f32], p: usize, out: &mut [f32]) {
        let c = self.channels;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.source;
        let rows = valid(kh, sh, p as isize - self.offset[0]);
        for (q, out) in out.chunks_exact_mut(c).enumerate() {
            let cols = valid(kw, sw, q as isize - self.offset[1]);
            let at = |a: usize, b: usize| {
                let y = (p + a) as isize - self.offset[0];
                let x = (q + b) as isize - self.offset[1];
                (y as usize * sw + x as usize) * c
            };
            channel_blocks!(c, |block, N| {
                let mut acc = lanes::<N>(&start[block..]);
                for a in rows.clone() {
                    for b in cols.clone() {
                        let k = &taps[(a * kw + b) * c + block..];
                        multiply_add(&mut acc, k, &src[at(a, b) + block..]);
                    }
                }
                out[block..][..N].copy_from_slice(&acc);
            });
        }
    }
}

/// `out[s, p, q, c] = start[c] + Σ taps[a, b, c] · src[s, p + a - offset.0, q + b - offset.1, c]`
/// for every sample `s`, row by row in parallel.
fn correlate(r: &Correlation, src: &[f32], taps: &[f32], start: &[f32]) -> Vec<f32> {
    let c = r.channels;
    let [oh, ow] = r.output;
    let source_len = r.source[0] * r.source[1] * c;
    let mut out = vec![0.0f32; src.len() / source_len.max(1) * oh * ow * c];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, out)| {
            let (sample, p) = (row / oh, row % oh);
            let src = &src[sample * source_len..][..source_len];
            vectorised(
                #[inline(always)]
                || r.row(src, taps, start, p, out),
            );
        });
    out
}

/// Burn's `[c, 1, kh, kw]` weight as taps `[kh·kw, c]`, flipped (the last tap first) if `flip`.
fn taps_of(weight: &[f32], c: usize, [kh, kw]: [usize; 2], flip: bool) -> Vec<f32> {
    let n = kh * kw;
    let mut taps = vec![0.0f32; n * c];
    for (ch, filter) in weight.chunks_exact(n).enumerate().take(c) {
        for (t, &v) in filter.iter().enumerate() {
            let t = if flip { n - 1 - t } else { t };
            taps[t * c + ch] = v;
        }
    }
    taps
}

/// The output `[n, out_h, out_w, c]` of `x` (`[n, h, w, c]`) and `weight` `[c, 1, kh, kw]`,
/// plus `bias`.
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let c = g.in_channels;
    let r = Correlation {
        source: g.input,
        output: g.output,
        kernel: g.kernel,
        offset: g.padding.map(|p| p as isize),
        channels: c,
    };
    let zeros = vec![0.0; c];
    correlate(
        &r,
        x,
        &taps_of(weight, c, g.kernel, false),
        bias.unwrap_or(&zeros),
    )
}

/// `dL/dx` (`[n, h, w, c]`) from `weight` and `dy` (`[n, out_h, out_w, c]`): `dy` correlated
/// with the flipped taps, reaching `kernel - 1 - padding` before each position.
pub fn input_grad(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let c = g.in_channels;
    let reach = |axis: usize| g.kernel[axis] as isize - 1 - g.padding[axis] as isize;
    let r = Correlation {
        source: g.output,
        output: g.input,
        kernel: g.kernel,
        offset: [reach(0), reach(1)],
        channels: c,
    };
    correlate(&r, dy, &taps_of(weight, c, g.kernel, true), &vec![0.0; c])
}

/// `dL/dweight` `[c, 1, kh, kw]` from `x` and `dy`: each thread's share of the samples summed
/// tap by tap, the shares added in order.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let c = g.in_channels;
    let [kh, kw] = g.kernel;
    let (input_len, output_len) = (g.input_len(), g.output_len());
    if g.batch == 0 || output_len == 0 {
        return vec![0.0; c * kh * kw];
    }
    let per = g.batch.div_ceil(rayon::current_num_threads().max(1));
    let partials: Vec<Vec<f32>> = x
        .par_chunks(per * input_len)
        .zip(dy.par_chunks(per * output_len))
        .map(|(xs, dys)| {
            let mut taps = vec![0.0f32; kh * kw * c];
            let samples = xs.chunks_exact(input_len).zip(dys.chunks_exact(output_len));
            for (x, dy) in samples {
                vectorised(
                    #[inline(always)]
                    || sample_taps(g, x, dy, &mut taps),
                );
            }
            taps
        })
        .collect();
    let taps = sum_in_order(kh * kw * c, partials.iter().map(Vec::as_slice));
    let mut dw = vec![0.0f32; c * kh * kw];
    for (t, row) in taps.chunks_exact(c).enumerate() {
        for (ch, &v) in row.iter().enumerate() {
            dw[ch * kh * kw + t] = v;
        }
    }
    dw
}

/// One sample's `Σ dy · x` at every tap's shift, added onto `taps` (`[kh·kw, c]`).
#[inline(always)]
fn sample_taps(g: &ConvGeometry, x: &[f32], dy: &[f32], taps: &mut [f32]) {
    let c = g.in_channels;
    let [kh, kw] = g.kernel;
    let ([h, w], [oh, ow]) = (g.input, g.output);
    let [top, left] = g.padding.map(|p| p as isize);
    for a in 0..kh {
        // The output rows whose input row p + a - top is inside the map; the columns likewise.
        let rows = valid(oh, h, a as isize - top);
        for b in 0..kw {
            let cols = valid(ow, w, b as isize - left);
            let tap = &mut taps[(a * kw + b) * c..][..c];
            let input_at = |p: usize, q: usize| {
                let y = (p as isize + a as isize - top) as usize;
                let x = (q as isize + b as isize - left) as usize;
                (y * w + x) * c
            };
            channel_blocks!(c, |block, N| {
                let mut acc = lanes::<N>(&tap[block..]);
                for p in rows.clone() {
                    for q in cols.clone() {
                        let d = &dy[(p * ow + q) * c + block..];
                        multiply_add(&mut acc, d, &x[input_at(p, q) + block..]);
                    }
                }
                tap[block..][..N].copy_from_slice(&acc);
            });
        }
    }
}

/// The positions `o` in `0..len` whose `o + shift` is inside `0..bound` (the taps of an output
/// position that land inside the source, the output positions a tap reads inside the input):
/// [`ConvGeometry::valid`] at stride 1.
#[inline(always)]
fn valid(len: usize, bound: usize, shift: isize) -> std::ops::Range<usize> {
    let (first, end) = ConvGeometry::valid(len, bound, 1, shift);
    first..end
}

/// `dL/dbias` `[c]`: the output gradient summed over samples and positions, in `f64`, each
/// thread's share of the positions summed in order.
pub fn bias_grad(c: usize, dy: &[f32]) -> Vec<f32> {
    let positions = dy.len() / c.max(1);
    let per = positions
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1);
    let partials: Vec<Vec<f64>> = dy
        .par_chunks(per * c)
        .map(|share| {
            let mut sums = vec![0.0f64; c];
            for position in share.chunks_exact(c) {
                sums.iter_mut()
                    .zip(position)
                    .for_each(|(s, &v)| *s += f64::from(v));
            }
            sums
        })
        .collect();
    let sums = sum_in_order(c, partials.iter().map(Vec::as_slice));
    sums.into_iter().map(|s| s as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A depthwise geometry of `batch` samples, `c` channels, stride 1.
    fn geometry(
        batch: usize,
        c: usize,
        input: [usize; 2],
        kernel: [usize; 2],
        pad: [usize; 2],
    ) -> ConvGeometry {
        let out = |a: usize| input[a] + 2 * pad[a] + 1 - kernel[a];
        ConvGeometry {
            batch,
            in_channels: c,
            input,
            out_channels: c,
            kernel,
            stride: [1, 1],
            padding: pad,
            dilation: [1, 1],
            output: [out(0), out(1)],
        }
    }

    /// The output and the three gradients by the definition, one product at a time.
    #[allow(clippy::needless_range_loop)] // written as the definition's sums
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f32>; 4] {
        let c = g.in_channels;
        let ([h, wd], [oh, ow], [kh, kw]) = (g.input, g.output, g.kernel);
        let (mut y, mut dx, mut dw) = (vec![0.0; dy.len()], vec![0.0; x.len()], vec![0.0; w.len()]);
        let mut db = vec![0.0; c];
        for s in 0..g.batch {
            for p in 0..oh {
                for q in 0..ow {
                    for ch in 0..c {
                        let o = ((s * oh + p) * ow + q) * c + ch;
                        db[ch] += dy[o];
                        for a in 0..kh {
                            for b in 0..kw {
                                let iy = (p + a) as isize - g.padding[0] as isize;
                                let ix = (q + b) as isize - g.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let i = ((s * h + iy as usize) * wd + ix as usize) * c + ch;
                                let k = (ch * kh + a) * kw + b;
                                y[o] += w[k] * x[i];
                                dx[i] += w[k] * dy[o];
                                dw[k] += dy[o] * x[i];
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw, db]
    }

    #[test]
    fn matches_the_definition() {
        let values = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 + salt) % 23) as f32 / 11.0 - 1.0)
                .collect()
        };
        let cases = [
            geometry(2, 11, [5, 6], [3, 3], [1, 1]),
            geometry(3, 16, [4, 4], [7, 7], [3, 3]),
            geometry(2, 8, [6, 5], [3, 2], [0, 0]),
            geometry(1, 9, [3, 4], [2, 3], [2, 1]),
        ];
        for g in cases {
            let c = g.in_channels;
            let x = values(g.batch * g.input_len(), 1);
            let w = values(c * g.kernel[0] * g.kernel[1], 2);
            let dy = values(g.batch * g.output_len(), 3);
            let bias: Vec<f32> = (0..c).map(|ch| ch as f32 * 0.25 - 1.0).collect();
            let [y_ref, dx_ref, dw_ref, db_ref] = direct(&g, &x, &w, &dy);
            let y_ref: Vec<f32> = (y_ref.iter().enumerate())
                .map(|(i, v)| v + bias[i % c])
                .collect();
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len(), "{what} of {g:?}");
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{what} of {g:?}: off by {worst}");
            };
            close(&forward(&g, &x, &w, Some(&bias)), &y_ref, "output");
            close(&input_grad(&g, &w, &dy), &dx_ref, "input gradient");
            close(&weight_grad(&g, &x, &dy), &dw_ref, "weight gradient");
            close(&bias_grad(c, &dy), &db_ref, "bias gradient");
        }
    }
}
