//! A depthwise convolution on host memory (ConvNeXt's 7x7: one filter per channel,
//! `groups == channels`, stride 1, no dilation), forward and backward, plane by plane.
//!
//! Layouts are Burn's: input `[n, c, h, w]`, weight `[c, 1, kh, kw]`, output
//! `[n, c, out_h, out_w]`, contiguous row-major `f32`. Each plane is copied into a zero-padded
//! one `out_h + kh - 1` rows of `W = out_w + kw - 1`, and the output is computed on a grid of
//! the same row width `W` (the last `kw - 1` columns of each row wasted): kernel offset
//! `(ky, kx)` then reads the padded plane at a constant shift `ky W + kx` from the output, so
//! each offset is one long slice product (the whole plane, vectorised) instead of one short
//! product per output row (7 or 14 values on ConvNeXt's small maps). `dx` scatters `w · dy`
//! back along the same shifts into a padded plane, and `dw[c, ky, kx]` is the dot product of
//! `dy` on the grid (zero in the wasted columns) with the shifted padded input.

use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::geometry::ConvGeometry;
use crate::train::ops::simd::{dot, vectorised};

/// Whether [`forward`], [`input_grad`] and [`weight_grad`] apply to a convolution of
/// `channels` input channels, a weight of `[filters, per_group, kh, kw]` and `options`: one
/// filter per channel, stride 1, no dilation.
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

/// The padded plane and the output grid of one convolution.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// Input height and width.
    input: [usize; 2],
    /// Output height and width.
    output: [usize; 2],
    /// Padding before the first row and column.
    padding: [usize; 2],
    /// Kernel height and width.
    kernel: [usize; 2],
    /// Row width of the padded plane and of the grid: `out_w + kw - 1`.
    width: usize,
}

impl Grid {
    fn of(g: &ConvGeometry) -> Self {
        Self {
            input: g.input,
            output: g.output,
            padding: g.padding,
            kernel: g.kernel,
            width: g.output[1] + g.kernel[1] - 1,
        }
    }

    /// Values of the padded plane: `(out_h + kh - 1) W`.
    fn padded_len(&self) -> usize {
        (self.output[0] + self.kernel[0] - 1) * self.width
    }

    /// Values of the grid every offset's slice product covers: up to the last output.
    fn grid_len(&self) -> usize {
        (self.output[0] - 1) * self.width + self.output[1]
    }

    /// Where each kernel offset reads the padded plane, row by row.
    fn shifts(&self) -> impl Iterator<Item = usize> + '_ {
        let [kh, kw] = self.kernel;
        (0..kh).flat_map(move |ky| (0..kw).map(move |kx| ky * self.width + kx))
    }

    /// Copies an input plane into `padded` (zeros around it).
    #[inline(always)]
    fn pad(&self, plane: &[f32], padded: &mut [f32]) {
        let [h, w] = self.input;
        let [top, left] = self.padding;
        padded.fill(0.0);
        for (y, row) in plane.chunks(w).enumerate().take(h) {
            padded[(y + top) * self.width + left..][..w].copy_from_slice(row);
        }
    }

    /// The input plane back out of a padded one.
    #[inline(always)]
    fn unpad(&self, padded: &[f32], plane: &mut [f32]) {
        let [_, w] = self.input;
        let [top, left] = self.padding;
        for (y, row) in plane.chunks_mut(w).enumerate() {
            row.copy_from_slice(&padded[(y + top) * self.width + left..][..w]);
        }
    }

    /// An output plane onto the grid, [`Grid::grid_len`] values (zeros in the wasted columns).
    #[inline(always)]
    fn spread(&self, plane: &[f32], grid: &mut [f32]) {
        let ow = self.output[1];
        grid.fill(0.0);
        for (y, row) in plane.chunks(ow).enumerate() {
            grid[y * self.width..][..ow].copy_from_slice(row);
        }
    }
}

/// The output `[n, c, out_h, out_w]` of `x` and `weight` `[c, 1, kh, kw]`, plus `bias`.
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let grid = Grid::of(g);
    let ([h, w], [oh, ow]) = (g.input, g.output);
    let taps = g.kernel[0] * g.kernel[1];
    let c = g.in_channels;
    let mut y = vec![0.0f32; g.batch * c * oh * ow];
    let scratch = || {
        (
            vec![0.0f32; grid.padded_len()],
            vec![0.0f32; grid.grid_len()],
        )
    };
    y.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .enumerate()
        .for_each_init(scratch, |(padded, out), (plane, (y, x))| {
            let channel = plane % c;
            let filter = &weight[channel * taps..][..taps];
            let start = bias.map_or(0.0, |b| b[channel]);
            vectorised(
                #[inline(always)]
                || {
                    grid.pad(x, padded);
                    out.fill(start);
                    for (shift, &f) in grid.shifts().zip(filter) {
                        let src = &padded[shift..][..out.len()];
                        out.iter_mut().zip(src).for_each(|(o, &s)| *o += f * s);
                    }
                    for (oy, row) in y.chunks_mut(ow).enumerate() {
                        row.copy_from_slice(&out[oy * grid.width..][..ow]);
                    }
                },
            )
        });
    y
}

/// `dL/dx` from `weight` `[c, 1, kh, kw]` and `dy`.
pub fn input_grad(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let grid = Grid::of(g);
    let ([h, w], [oh, ow]) = (g.input, g.output);
    let taps = g.kernel[0] * g.kernel[1];
    let c = g.in_channels;
    let mut dx = vec![0.0f32; g.batch * c * h * w];
    let scratch = || {
        (
            vec![0.0f32; grid.grid_len()],
            vec![0.0f32; grid.padded_len()],
        )
    };
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(oh * ow))
        .enumerate()
        .for_each_init(scratch, |(spread, padded), (plane, (dx, dy))| {
            let filter = &weight[(plane % c) * taps..][..taps];
            vectorised(
                #[inline(always)]
                || {
                    grid.spread(dy, spread);
                    let d = &*spread;
                    padded.fill(0.0);
                    for (shift, &f) in grid.shifts().zip(filter) {
                        let dst = &mut padded[shift..][..d.len()];
                        dst.iter_mut().zip(d).for_each(|(p, &v)| *p += f * v);
                    }
                    grid.unpad(padded, dx);
                },
            )
        });
    dx
}

/// `dL/dweight` `[c, 1, kh, kw]` from `x` and `dy`: per channel, the samples in order.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let grid = Grid::of(g);
    let ([h, w], [oh, ow]) = (g.input, g.output);
    let taps = g.kernel[0] * g.kernel[1];
    let c = g.in_channels;
    let mut dw = vec![0.0f32; c * taps];
    let scratch = || {
        (
            vec![0.0f32; grid.padded_len()],
            vec![0.0f32; grid.grid_len()],
        )
    };
    dw.par_chunks_mut(taps).enumerate().for_each_init(
        scratch,
        |(padded, spread), (channel, dw)| {
            vectorised(
                #[inline(always)]
                || {
                    for sample in 0..g.batch {
                        let plane = sample * c + channel;
                        grid.pad(&x[plane * h * w..][..h * w], padded);
                        grid.spread(&dy[plane * oh * ow..][..oh * ow], spread);
                        let d = &*spread;
                        for (shift, dw) in grid.shifts().zip(dw.iter_mut()) {
                            *dw += dot(d, &padded[shift..][..d.len()]);
                        }
                    }
                },
            )
        },
    );
    dw
}
