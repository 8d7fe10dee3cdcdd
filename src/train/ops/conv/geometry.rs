//! The geometry of a 2-D convolution and its im2col matrix: which input each kernel offset
//! reads for each output, copied into columns (`im2col`) and added back (`col2im_add`).
//!
//! Layouts are Burn's: input `[n, c_in, h, w]`, output `[n, c_out, out_h, out_w]`, contiguous
//! row-major `f32`. With `K = c_in * kh * kw` and `P = out_h * out_w`, one sample's im2col
//! matrix is `[K, P]`: row `(c, i, j)`, column `(oh, ow)` holds the input
//! `(c, oh * stride + i * dilation - pad, ow * stride + j * dilation - pad)`, zero in the padding.

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
    /// Rows of the full im2col matrix: input channels times kernel positions.
    pub fn k(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// Rows of the im2col matrix the host convolution builds: input channels times
    /// live taps (`live_taps`; `k()` where every tap reads some input).
    pub fn rows(&self) -> usize {
        self.in_channels * self.live_taps().len()
    }

    /// Columns of the im2col matrix: output positions.
    pub fn p(&self) -> usize {
        self.output[0] * self.output[1]
    }

    pub(super) fn input_len(&self) -> usize {
        self.in_channels * self.input[0] * self.input[1]
    }

    pub(super) fn output_len(&self) -> usize {
        self.out_channels * self.p()
    }

    /// The output positions `o` in `0..out_len` whose input index `o * stride + offset` falls
    /// inside `0..in_len`.
    #[inline]
    pub(super) fn valid(
        out_len: usize,
        in_len: usize,
        stride: usize,
        offset: isize,
    ) -> (usize, usize) {
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
    pub(super) fn group(&self) -> usize {
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
    /// `cols` (`[rows(), row_len]`); `scratch` is room for the stride phases (`shift`).
    pub fn im2col(
        &self,
        x: &[f32],
        cols: &mut [f32],
        [row_len, offset]: [usize; 2],
        scratch: &mut Vec<f32>,
    ) {
        if let Some(planes) = self.planes() {
            self.im2col_shifted(planes, x, cols, [row_len, offset], scratch);
            return;
        }
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

    /// Adds columns `offset..offset + P` of the im2col matrix `cols` (`[rows(), row_len]`) onto
    /// one sample's input gradient `dx`. Entries of `cols` that no input reads (the padding)
    /// may be overwritten with zeros; `scratch` is room for the stride phases (`shift`).
    pub fn col2im_add(
        &self,
        cols: &mut [f32],
        [row_len, offset]: [usize; 2],
        dx: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        if let Some(planes) = self.planes() {
            self.col2im_shifted(planes, cols, [row_len, offset], dx, scratch);
            return;
        }
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

/// A one-sample, one-channel geometry (for tests).
#[cfg(test)]
pub(super) fn plane(
    input: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad: usize,
) -> ConvGeometry {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let g = plane([3, 3], [2, 2], 2, 1);
        assert_eq!(g.output, [2, 2]);
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut cols = vec![f32::NAN; g.k() * g.p()];
        g.im2col(&x, &mut cols, [g.p(), 0], &mut Vec::new());
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
        g.col2im_add(&mut cols.clone(), [g.p(), 0], &mut dx, &mut Vec::new());
        assert_eq!(dx, x);
    }
}
