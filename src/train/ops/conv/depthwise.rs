//! A depthwise convolution's backward pass on host memory (ConvNeXt's 7x7: one filter per
//! channel, `groups == channels`, stride 1, no dilation), row by row over each channel's plane.
//!
//! Layouts are Burn's: input `[n, c, h, w]`, weight `[c, 1, kh, kw]`, output
//! `[n, c, out_h, out_w]`, contiguous row-major `f32`. For kernel offset `(ky, kx)`, output
//! `(oy, ox)` reads input `(oy + ky - pad_y, ox + kx - pad_x)`; so `dx` gathers `w · dy` along
//! those pairs and `dw[c, ky, kx]` is the sum over samples and outputs of `dy · x` along them.
//! Each pair of rows is a contiguous slice product, which the compiler vectorises.

use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// Whether [`input_grad`] and [`weight_grad`] apply to a convolution of `channels` input
/// channels, a weight of `[filters, per_group, kh, kw]` and `options`: one filter per
/// channel, stride 1, no dilation.
pub fn applies(
    channels: usize,
    [filters, per_group, _, _]: [usize; 4],
    options: &ConvOptions<2>,
) -> bool {
    options.groups == channels
        && filters == channels
        && per_group == 1
        && options.stride == [1, 1]
        && options.dilation == [1, 1]
}

/// For kernel offset `k` along an axis of `in_len` inputs and `out_len` outputs with `pad`
/// before: the outputs `lo..hi` whose input `o + k - pad` is inside (empty: `lo == hi`), and
/// that input's offset from the output (`k - pad`).
fn span(k: usize, pad: usize, in_len: usize, out_len: usize) -> (usize, usize, isize) {
    let shift = k as isize - pad as isize;
    let lo = (-shift).max(0) as usize;
    let hi = ((in_len as isize - shift).max(0) as usize).min(out_len);
    (lo.min(hi), hi, shift)
}

/// For kernel offset `(ky, kx)`: each output row's span that reads inside the input (a range
/// of a plane's output values) and where the input it reads starts (in a plane's input
/// values); rows in order, none when the offset reads outside every column.
fn row_pairs(
    g: &ConvGeometry,
    ky: usize,
    kx: usize,
) -> impl Iterator<Item = (std::ops::Range<usize>, usize)> {
    let ([h, w], [oh, ow]) = (g.input, g.output);
    let (y_lo, y_hi, y_shift) = span(ky, g.padding[0], h, oh);
    let (x_lo, x_hi, x_shift) = span(kx, g.padding[1], w, ow);
    let rows = if x_lo == x_hi { 0..0 } else { y_lo..y_hi };
    rows.map(move |oy| {
        let iy = (oy as isize + y_shift) as usize;
        let ix = (x_lo as isize + x_shift) as usize;
        (oy * ow + x_lo..oy * ow + x_hi, iy * w + ix)
    })
}

/// `dL/dx` from `weight` `[c, 1, kh, kw]` and `dy`.
pub fn input_grad(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let c = g.in_channels;
    let mut dx = vec![0.0f32; g.batch * c * h * w];
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(oh * ow))
        .enumerate()
        .for_each(|(plane, (dx, dy))| {
            let filter = &weight[(plane % c) * kh * kw..][..kh * kw];
            for ky in 0..kh {
                for kx in 0..kw {
                    let f = filter[ky * kw + kx];
                    for (out, at) in row_pairs(g, ky, kx) {
                        let src = &dy[out];
                        let dst = &mut dx[at..][..src.len()];
                        for (d, &s) in dst.iter_mut().zip(src) {
                            *d += f * s;
                        }
                    }
                }
            }
        });
    dx
}

/// `dL/dweight` `[c, 1, kh, kw]` from `x` and `dy`.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.kernel;
    let c = g.in_channels;
    let mut dw = vec![0.0f32; c * kh * kw];
    dw.par_chunks_mut(kh * kw)
        .enumerate()
        .for_each(|(channel, dw)| {
            for sample in 0..g.batch {
                let plane = sample * c + channel;
                let x = &x[plane * h * w..][..h * w];
                let dy = &dy[plane * oh * ow..][..oh * ow];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let sum: f32 = row_pairs(g, ky, kx)
                            .map(|(out, at)| {
                                let a = &dy[out];
                                let b = &x[at..][..a.len()];
                                a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>()
                            })
                            .sum();
                        dw[ky * kw + kx] += sum;
                    }
                }
            }
        });
    dw
}
