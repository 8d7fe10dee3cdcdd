//! A 2-D convolution's backward pass on host memory: im2col into a scratch buffer, two matrix
//! products (the `gemm` crate, the kernel Burn's flex backend multiplies with), col2im.
//!
//! Layouts are Burn's: input `[n, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`, output
//! `[n, c_out, out_h, out_w]`, all contiguous, row-major `f32`. One group only.
//!
//! With `K = c_in * kh * kw` and `P = out_h * out_w`, per sample `s`:
//! `cols_s = im2col(x_s)` is `[K, P]`; the output was `y_s = W [c_out, K] · cols_s`, so
//! `dW = Σ_s dy_s [c_out, P] · cols_sᵀ` and `dx_s = col2im(Wᵀ · dy_s)`. Where `P` is small (deep
//! layers of a network on small images), a group of samples is laid side by side
//! (`[K, G·P]`, `[c_out, G·P]`) so that each matrix product has at least [`MIN_COLUMNS`]
//! columns. Groups are spread over rayon's threads, each with its own scratch.

use rayon::prelude::*;

/// The fewest output positions one matrix product covers; smaller products spend their time
/// packing operands (ResNet-18's last stage on 28x28 images has `P = 1`).
pub const MIN_COLUMNS: usize = 256;

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Padding before the first row and column (the end padding only shapes the output).
    pub padding: [usize; 2],
    /// Dilation (height, width).
    pub dilation: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
}

impl ConvGeometry {
    /// Rows of the im2col matrix: input channels times kernel positions.
    pub fn k(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// Columns of the im2col matrix: output positions.
    pub fn p(&self) -> usize {
        self.output[0] * self.output[1]
    }

    fn input_len(&self) -> usize {
        self.in_channels * self.input[0] * self.input[1]
    }

    fn output_len(&self) -> usize {
        self.out_channels * self.p()
    }

    /// The output positions `o` in `0..out_len` whose input index `o * stride + offset` falls
    /// inside `0..in_len`.
    fn valid(out_len: usize, in_len: usize, stride: usize, offset: isize) -> (usize, usize) {
        let (stride, in_len) = (stride as isize, in_len as isize);
        // smallest o with o*stride + offset >= 0
        let lo = if offset >= 0 {
            0
        } else {
            (-offset + stride - 1) / stride
        };
        // largest o with o*stride + offset <= in_len - 1, plus one
        let hi = if in_len - 1 - offset < 0 {
            0
        } else {
            (in_len - 1 - offset) / stride + 1
        };
        let hi = (hi.max(0) as usize).min(out_len);
        let lo = (lo as usize).min(hi);
        (lo, hi)
    }

    /// Samples per matrix product: enough for [`MIN_COLUMNS`] columns, and no more than one
    /// thread's share of the batch.
    fn group(&self) -> usize {
        let threads = rayon::current_num_threads().max(1);
        MIN_COLUMNS
            .div_ceil(self.p().max(1))
            .min(self.batch.div_ceil(threads))
            .max(1)
    }

    /// Calls `f(segment, input_row, ow_range, iw_start)` for every row segment of one sample's
    /// block of an im2col matrix whose rows are `row_len` long, the block starting at column
    /// `offset`: `cols[segment + ow]` reads `x[input_row + iw_start + (ow - lo) * stride]` for
    /// `ow` in `lo..hi` and is zero elsewhere (`input_row` is `None` when the whole segment is
    /// padding).
    fn for_each_segment(
        &self,
        row_len: usize,
        offset: usize,
        mut f: impl FnMut(usize, Option<usize>, (usize, usize), usize),
    ) {
        let [h, w] = self.input;
        let [kh, kw] = self.kernel;
        let [out_h, out_w] = self.output;
        for c in 0..self.in_channels {
            for i in 0..kh {
                let row_offset = (i * self.dilation[0]) as isize - self.padding[0] as isize;
                let (oh_lo, oh_hi) = Self::valid(out_h, h, self.stride[0], row_offset);
                for j in 0..kw {
                    let col_offset = (j * self.dilation[1]) as isize - self.padding[1] as isize;
                    let range = Self::valid(out_w, w, self.stride[1], col_offset);
                    let iw_start = if range.0 < range.1 {
                        (range.0 as isize * self.stride[1] as isize + col_offset) as usize
                    } else {
                        0
                    };
                    let row = (c * kh + i) * kw + j;
                    for oh in 0..out_h {
                        let segment = row * row_len + offset + oh * out_w;
                        let inside = range.0 < range.1 && (oh_lo..oh_hi).contains(&oh);
                        let input_row = inside.then(|| {
                            let ih = (oh as isize * self.stride[0] as isize + row_offset) as usize;
                            (c * h + ih) * w
                        });
                        f(segment, input_row, range, iw_start);
                    }
                }
            }
        }
    }

    /// One sample `x` (`[c_in, h, w]`) as columns `offset..offset + P` of the im2col matrix
    /// `cols` (`[K, row_len]`).
    pub fn im2col(&self, x: &[f32], cols: &mut [f32], row_len: usize, offset: usize) {
        let out_w = self.output[1];
        let stride = self.stride[1];
        self.for_each_segment(row_len, offset, |segment, input_row, (lo, hi), iw_start| {
            let dst = &mut cols[segment..segment + out_w];
            match input_row {
                None => dst.fill(0.0),
                Some(row) => {
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let src = &x[row + iw_start..];
                    if stride == 1 {
                        dst[lo..hi].copy_from_slice(&src[..hi - lo]);
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src.iter().step_by(stride)) {
                            *d = *s;
                        }
                    }
                }
            }
        });
    }

    /// Adds columns `offset..offset + P` of the im2col matrix `cols` (`[K, row_len]`) back onto
    /// one sample's input gradient `dx`.
    pub fn col2im_add(&self, cols: &[f32], row_len: usize, offset: usize, dx: &mut [f32]) {
        let stride = self.stride[1];
        self.for_each_segment(row_len, offset, |segment, input_row, (lo, hi), iw_start| {
            if let Some(row) = input_row {
                let src = &cols[segment + lo..segment + hi];
                let dst = &mut dx[row + iw_start..];
                if stride == 1 {
                    for (d, s) in dst[..hi - lo].iter_mut().zip(src) {
                        *d += *s;
                    }
                } else {
                    for (d, s) in dst.iter_mut().step_by(stride).zip(src) {
                        *d += *s;
                    }
                }
            }
        });
    }
}

/// A row-major or transposed view of a matrix in a slice: element `(r, c)` at
/// `r * row_stride + c * col_stride`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl View<'_> {
    /// Checks that every element of a `rows x cols` matrix lies in the slice.
    fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view past its slice");
        }
    }
}

/// `c[m x n] = a[m x k] · b[k x n]` (or `+=` with `accumulate`), `c` row-major.
fn matmul(m: usize, n: usize, k: usize, a: View, b: View, c: &mut [f32], accumulate: bool) {
    a.check(m, k);
    b.check(k, n);
    assert!(c.len() >= m * n, "output matrix past its slice");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the three checks above keep every index gemm touches inside its slice; `c` is
    // borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

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

/// The weight gradient `[c_out, c_in, kh, kw]` from the input `x` and the output gradient `dy`.
pub fn weight_grad(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    assert_eq!(x.len(), g.batch * g.input_len(), "input length");
    assert_eq!(dy.len(), g.batch * g.output_len(), "output gradient length");
    let size = g.out_channels * k;
    if g.batch == 0 || p == 0 {
        return vec![0.0; size];
    }
    let group = g.group();
    // One share of the batch per thread, each summing into its own gradient.
    let per = g.batch.div_ceil(rayon::current_num_threads().max(1));
    x.par_chunks(per * g.input_len())
        .zip(dy.par_chunks(per * g.output_len()))
        .map(|(xs, dys)| {
            let mut dw = vec![0.0; size];
            let mut cols = vec![0.0; k * group * p];
            let mut scratch = vec![
                0.0;
                if group > 1 {
                    g.out_channels * group * p
                } else {
                    0
                }
            ];
            let groups = xs
                .chunks(group * g.input_len())
                .zip(dys.chunks(group * g.output_len()));
            for (i, (xs, dys)) in groups.enumerate() {
                let row = (xs.len() / g.input_len()) * p;
                for (s, x) in xs.chunks(g.input_len()).enumerate() {
                    g.im2col(x, &mut cols, row, s * p);
                }
                // dW [c_out, K] += dy [c_out, n·P] · colsᵀ [n·P, K]
                let a = side_by_side(g, dys, &mut scratch);
                let b = View {
                    data: &cols[..k * row],
                    row_stride: 1,
                    col_stride: row,
                };
                matmul(g.out_channels, k, row, a, b, &mut dw, i > 0);
            }
            dw
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; size])
}

/// The input gradient `[n, c_in, h, w]` from the weight and the output gradient `dy`.
pub fn input_grad(g: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    assert_eq!(weight.len(), g.out_channels * k, "weight length");
    assert_eq!(dy.len(), g.batch * g.output_len(), "output gradient length");
    let mut dx = vec![0.0; g.batch * g.input_len()];
    if g.input_len() == 0 || p == 0 {
        return dx;
    }
    let group = g.group();
    let scratch_len = if group > 1 {
        g.out_channels * group * p
    } else {
        0
    };
    dx.par_chunks_mut(group * g.input_len())
        .zip(dy.par_chunks(group * g.output_len()))
        .for_each_init(
            || (vec![0.0; k * group * p], vec![0.0; scratch_len]),
            |(cols, scratch), (dxs, dys)| {
                let row = (dxs.len() / g.input_len()) * p;
                // cols [K, n·P] = Wᵀ [K, c_out] · dy [c_out, n·P]
                let a = View {
                    data: weight,
                    row_stride: 1,
                    col_stride: k,
                };
                let b = side_by_side(g, dys, scratch);
                matmul(k, row, g.out_channels, a, b, cols, false);
                for (s, dx) in dxs.chunks_mut(g.input_len()).enumerate() {
                    g.col2im_add(cols, row, s * p, dx);
                }
            },
        );
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(input: [usize; 2], kernel: [usize; 2], stride: usize, pad: usize) -> ConvGeometry {
        let out = |i: usize, k: usize| (i + 2 * pad - k) / stride + 1;
        ConvGeometry {
            batch: 1,
            in_channels: 1,
            input,
            out_channels: 1,
            kernel,
            stride: [stride; 2],
            padding: [pad; 2],
            dilation: [1; 2],
            output: [out(input[0], kernel[0]), out(input[1], kernel[1])],
        }
    }

    #[test]
    fn valid_ranges() {
        // o*1 - 1 in 0..3 for o in 0..3: o in 1..3
        assert_eq!(ConvGeometry::valid(3, 3, 1, -1), (1, 3));
        // o*1 + 1 in 0..3: o in 0..2
        assert_eq!(ConvGeometry::valid(3, 3, 1, 1), (0, 2));
        // o*2 - 1 in 0..4 for o in 0..2: o=1 (1)
        assert_eq!(ConvGeometry::valid(2, 4, 2, -1), (1, 2));
        // offset past the input: nothing
        assert_eq!(ConvGeometry::valid(2, 2, 1, 5), (0, 0));
    }

    #[test]
    fn im2col_of_a_padded_3x3_by_hand() {
        // x = 1..9 in a 3x3 grid, 2x2 kernel, stride 2, padding 1: output 2x2.
        let g = geometry([3, 3], [2, 2], 2, 1);
        assert_eq!(g.output, [2, 2]);
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut cols = vec![f32::NAN; g.k() * g.p()];
        g.im2col(&x, &mut cols, g.p(), 0);
        // Row (i, j) holds x[oh*2 + i - 1][ow*2 + j - 1] for the four outputs.
        #[rustfmt::skip]
        let expected = [
            0.0, 0.0, 0.0, 5.0, // (0,0): (-1,-1) (-1,1) (1,-1) (1,1)
            0.0, 0.0, 4.0, 6.0, // (0,1): (-1,0) (-1,2) (1,0) (1,2)
            0.0, 2.0, 0.0, 8.0, // (1,0): (0,-1) (0,1) (2,-1) (2,1)
            1.0, 3.0, 7.0, 9.0, // (1,1): (0,0) (0,2) (2,0) (2,2)
        ];
        assert_eq!(cols, expected);
        // col2im sends every column entry back where it came from.
        let mut dx = vec![0.0; 9];
        g.col2im_add(&cols, g.p(), 0, &mut dx);
        assert_eq!(dx, x);
    }

    /// Both gradients by the definition, one product at a time.
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let [h, wd] = g.input;
        let [kh, kw] = g.kernel;
        let [oh_n, ow_n] = g.output;
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        for s in 0..g.batch {
            for co in 0..g.out_channels {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let d = dy[((s * g.out_channels + co) * oh_n + oh) * ow_n + ow];
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
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx, dw)
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
        let values = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 + salt) % 23) as f32 / 11.0 - 1.0)
                .collect()
        };
        let x = values(5 * 3 * 15 * 16, 1);
        let w = values(4 * 3 * 3 * 2, 2);
        let dy = values(5 * 4 * 64, 3);
        let (dx_ref, dw_ref) = direct(&g, &x, &w, &dy);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (dx, dw, group) =
            one_thread.install(|| (input_grad(&g, &w, &dy), weight_grad(&g, &x, &dy), g.group()));
        assert_eq!(group, 4);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-4);
        assert!(close(&dx, &dx_ref), "input gradient");
        assert!(close(&dw, &dw_ref), "weight gradient");
    }

    #[test]
    fn gradients_of_a_2x2_kernel_by_hand() {
        // x = [[1,2],[3,4]], 2x2 kernel, no padding: one output y = Σ w·x, dy = 2.
        let g = geometry([2, 2], [2, 2], 1, 0);
        let x = [1.0, 2.0, 3.0, 4.0];
        let w = [0.5, -1.0, 2.0, 0.25];
        let dy = [2.0];
        assert_eq!(weight_grad(&g, &x, &dy), vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(input_grad(&g, &w, &dy), vec![1.0, -2.0, 4.0, 0.5]);
    }
}
