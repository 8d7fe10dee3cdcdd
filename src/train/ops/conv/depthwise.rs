//! A depthwise convolution's backward pass on host memory (ConvNeXt's 7x7: one filter per
//! channel, `groups == channels`, stride 1, no dilation), row by row over each channel's plane.
//!
//! Layouts are Burn's: input `[n, c, h, w]`, weight `[c, 1, kh, kw]`, output
//! `[n, c, out_h, out_w]`, contiguous row-major `f32`. For kernel offset `(ky, kx)`, output
//! `(oy, ox)` reads input `(oy + ky - pad_y, ox + kx - pad_x)`; so `dx` gathers `w · dy` along
//! those pairs and `dw[c, ky, kx]` is the sum over samples and outputs of `dy · x` along them.
//! Each pair of rows is a contiguous slice product, which the compiler vectorises.

use rayon::prelude::*;

use super::host::ConvGeometry;

/// Whether [`input_grad`] and [`weight_grad`] apply: one filter per channel, stride 1, no
/// dilation.
pub fn applies(g: &ConvGeometry, groups: usize) -> bool {
    groups == g.in_channels
        && groups == g.out_channels
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
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
                let (y_lo, y_hi, y_shift) = span(ky, g.padding[0], h, oh);
                for kx in 0..kw {
                    let (x_lo, x_hi, x_shift) = span(kx, g.padding[1], w, ow);
                    if x_lo == x_hi {
                        continue;
                    }
                    let f = filter[ky * kw + kx];
                    for oy in y_lo..y_hi {
                        let iy = (oy as isize + y_shift) as usize;
                        let ix = (x_lo as isize + x_shift) as usize;
                        let src = &dy[oy * ow + x_lo..oy * ow + x_hi];
                        let dst = &mut dx[iy * w + ix..][..src.len()];
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
                    let (y_lo, y_hi, y_shift) = span(ky, g.padding[0], h, oh);
                    for kx in 0..kw {
                        let (x_lo, x_hi, x_shift) = span(kx, g.padding[1], w, ow);
                        if x_lo == x_hi {
                            continue;
                        }
                        let ix = (x_lo as isize + x_shift) as usize;
                        let mut sum = 0.0f32;
                        for oy in y_lo..y_hi {
                            let iy = (oy as isize + y_shift) as usize;
                            let a = &dy[oy * ow + x_lo..oy * ow + x_hi];
                            let b = &x[iy * w + ix..][..a.len()];
                            sum += a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
                        }
                        dw[ky * kw + kx] += sum;
                    }
                }
            }
        });
    dw
}
