//! im2col rows as shifted copies of whole planes, where the geometry allows: each row of one
//! sample's im2col block is a plane flattened and shifted by a constant, with zeros where the
//! window leaves it, so it is one copy (and col2im one addition) instead of one per output row.
//!
//! The planes are the input's own channels for a "same" convolution of stride 1 (the output as
//! wide as the input: ResNet's 3x3s, every 1x1 of stride 1), or else the input's stride
//! phases: plane `(c, a, b)` holds `x[c, u·s0 + a, v·s1 + b]` at `(u, v)`, the size of the
//! output, zero past the input. A tap `t` along an axis reads offset `r = t·dilation - pad`,
//! that is phase `a = r mod s` shifted by `q = ⌊r / s⌋`, so a strided convolution (ResNet's
//! stride-2 3x3s and 1x1s, a patchify stem) reads each phase plane shifted, as a same
//! convolution reads its input. This holds where every input an output reads lands inside its
//! phase plane ([`ConvGeometry::planes`]).

use super::geometry::ConvGeometry;
use crate::train::ops::simd::vectorised;

/// The planes one sample's im2col rows are shifted copies of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Planes {
    /// The input's channels: stride 1 and the output as wide as the input.
    Input,
    /// The input's stride phases, each the size of the output ([`ConvGeometry::phases`]).
    Phases,
}

/// One row of the im2col matrix as a shifted plane: its entries `run.0..run.1` read the planes
/// (flattened, one contiguous run) from index `source` on; every other entry is zero: those
/// before and after the run and, inside it, the window past the left or right edge of the plane
/// (`columns` are the output columns inside it), where the run wraps from one row of the plane
/// to the next. The default is a row the window never brings inside the plane: all zeros.
#[derive(Debug, Clone, Copy, Default)]
struct Shift {
    source: usize,
    run: (usize, usize),
    width: usize,
    columns: (usize, usize),
}

impl Shift {
    /// Whether the row reads nothing (all zeros).
    fn is_empty(&self) -> bool {
        self.run.0 >= self.run.1
    }

    /// Zeroes the entries of `row` inside the run that no input reads.
    #[inline(always)]
    fn zero_gaps(&self, row: &mut [f32]) {
        self.clear_gaps(row, 0.0);
    }

    /// Sets the entries of `row` inside the run that no input reads to `value`.
    #[inline(always)]
    fn clear_gaps<T: Copy>(&self, row: &mut [T], value: T) {
        let (lo, hi) = self.columns;
        if lo == 0 && hi == self.width {
            return;
        }
        let mut at = self.run.0 - lo + hi;
        while at < self.run.1 {
            for v in &mut row[at..at + self.width - hi + lo] {
                *v = value;
            }
            at += self.width;
        }
    }
}

/// Output positions up to which a sample's rows are copied entry by entry through a table
/// ([`ConvGeometry::row_table`]) rather than run by run: a row of a small map (ResNet-18's
/// 4x4, 2x2 and 1x1 on 28x28 images) is a few runs of a few entries, each a call to copy or
/// fill. At 7x7 the runs were as fast (resnet_mini A B: 16 against 64 here).
pub(super) const SMALL_PLANE: usize = 16;

/// A table entry that reads no input: the im2col entry is zero.
const ZERO: usize = usize::MAX;

impl ConvGeometry {
    /// The planes this geometry's im2col rows are shifted copies of, if any.
    pub(super) fn planes(&self) -> Option<Planes> {
        if self.stride == [1, 1] && self.output[1] == self.input[1] {
            return Some(Planes::Input);
        }
        (self.phases_fit(0) && self.phases_fit(1)).then_some(Planes::Phases)
    }

    /// Tap `t`'s input offset along `axis`: `t·dilation - pad`.
    fn offset(&self, axis: usize, t: usize) -> isize {
        (t * self.dilation[axis]) as isize - self.padding[axis] as isize
    }

    /// Tap `t` along `axis` as the plane it reads (its phase; 0 for the input's own planes)
    /// and its shift in that plane.
    fn tap(&self, planes: Planes, axis: usize, t: usize) -> (usize, isize) {
        let r = self.offset(axis, t);
        match planes {
            Planes::Input => (0, r),
            Planes::Phases => {
                let s = self.stride[axis] as isize;
                (r.rem_euclid(s) as usize, r.div_euclid(s))
            }
        }
    }

    /// The output positions along `axis` at which tap `t` reads the input.
    fn reads(&self, axis: usize, t: usize) -> (usize, usize) {
        let r = self.offset(axis, t);
        Self::valid(self.output[axis], self.input[axis], self.stride[axis], r)
    }

    /// Whether every input a tap reads along `axis` lies inside its phase plane, which is the
    /// output's size: shifted by `q`, output `o` reads plane position `o + q < out`.
    fn phases_fit(&self, axis: usize) -> bool {
        (0..self.kernel[axis]).all(|t| {
            let (lo, hi) = self.reads(axis, t);
            lo >= hi
                || hi as isize - 1 + self.tap(Planes::Phases, axis, t).1
                    < self.output[axis] as isize
        })
    }

    /// Whether some tap reads phase `a` along `axis`.
    fn phase_used(&self, axis: usize, a: usize) -> bool {
        (0..self.kernel[axis]).any(|t| {
            let (lo, hi) = self.reads(axis, t);
            lo < hi && self.tap(Planes::Phases, axis, t).0 == a
        })
    }

    /// The planes' count per channel along each axis and their height and width.
    fn plane_shape(&self, planes: Planes) -> ([usize; 2], [usize; 2]) {
        match planes {
            Planes::Input => ([1, 1], self.input),
            Planes::Phases => (self.stride, self.output),
        }
    }

    /// The shifts of channel 0's rows, one per kernel tap (row-major over the kernel): every
    /// channel's rows are these, moved on by one channel's planes.
    fn tap_shifts(&self, planes: Planes) -> Vec<Shift> {
        let ([_, s1], [ph, pw]) = self.plane_shape(planes);
        let [out_h, out_w] = self.output;
        let [kh, kw] = self.kernel;
        let tap = |axis, t| self.tap(planes, axis, t);
        let mut shifts = Vec::with_capacity(kh * kw);
        for i in 0..kh {
            let (a, q_row) = tap(0, i);
            let (oh_lo, oh_hi) = Self::valid(out_h, ph, 1, q_row);
            for j in 0..kw {
                let (b, q_col) = tap(1, j);
                let (lo, hi) = Self::valid(out_w, pw, 1, q_col);
                if oh_lo >= oh_hi || lo >= hi {
                    shifts.push(Shift::default());
                    continue;
                }
                let plane = a * s1 + b;
                let (first, last) = (oh_lo * pw + lo, (oh_hi - 1) * pw + hi);
                let source = (plane * ph * pw + first) as isize + q_row * pw as isize + q_col;
                shifts.push(Shift {
                    source: source as usize,
                    run: (first, last),
                    width: pw,
                    columns: (lo, hi),
                });
            }
        }
        shifts
    }

    /// The kernel taps (`i * kw + j`) whose im2col rows read some input: all of them unless
    /// the rows are shifted planes and a tap's window never meets its plane (a 3x3 kernel of
    /// padding 1 over a 1x1 map reads through its centre only: ResNet-18's last stage on
    /// 28x28 images). The im2col matrix holds rows for these taps only, channel by channel.
    pub(super) fn live_taps(&self) -> Vec<usize> {
        match self.planes() {
            Some(planes) => (self.tap_shifts(planes).iter().enumerate())
                .filter(|(_, shift)| !shift.is_empty())
                .map(|(t, _)| t)
                .collect(),
            None => (0..self.kernel[0] * self.kernel[1]).collect(),
        }
    }

    /// The shifts of channel 0's rows for the [live taps](ConvGeometry::live_taps) only.
    fn live_shifts(&self, planes: Planes) -> Vec<Shift> {
        let mut shifts = self.tap_shifts(planes);
        shifts.retain(|shift| !shift.is_empty());
        shifts
    }

    /// Channel 0's rows entry by entry (`[live taps, P]`): the index each entry reads in the
    /// channel's planes, or [`ZERO`]. Every channel's rows read the same places of its own
    /// planes.
    fn row_table(&self, planes: Planes) -> Vec<usize> {
        let p = self.p();
        let shifts = self.live_shifts(planes);
        let mut table = vec![ZERO; shifts.len() * p];
        for (row, shift) in table.chunks_mut(p).zip(&shifts) {
            let (first, last) = shift.run;
            let run = row[first..last].iter_mut().enumerate();
            run.for_each(|(at, entry)| *entry = shift.source + at);
            shift.clear_gaps(row, ZERO);
        }
        table
    }

    /// The values of one channel's planes, `[s0, s1, ph, pw]`.
    fn channel_planes(&self, planes: Planes) -> usize {
        let ([s0, s1], [ph, pw]) = self.plane_shape(planes);
        s0 * s1 * ph * pw
    }

    /// Calls `f(row, shift)` for every row of one sample's im2col block, read from `planes`:
    /// the [live taps](ConvGeometry::live_taps) of each channel in turn.
    fn for_each_shift(&self, planes: Planes, mut f: impl FnMut(usize, Shift)) {
        let channel = self.channel_planes(planes);
        let taps = self.live_shifts(planes);
        for c in 0..self.in_channels {
            for (t, &tap) in taps.iter().enumerate() {
                let shift = Shift {
                    source: tap.source + c * channel,
                    ..tap
                };
                f(c * taps.len() + t, shift);
            }
        }
    }

    /// The stride phases of one sample `x` (`[c_in, h, w]`) into `phases`
    /// (`[c_in, s0, s1, out_h, out_w]`): plane `(c, a, b)` holds `x[c, u·s0 + a, v·s1 + b]` at
    /// `(u, v)`, zero past the input; planes no tap reads stay zero.
    fn phases(&self, x: &[f32], phases: &mut Vec<f32>) {
        let ([s0, s1], [ph, pw]) = self.plane_shape(Planes::Phases);
        let [h, w] = self.input;
        phases.clear();
        phases.resize(self.in_channels * self.channel_planes(Planes::Phases), 0.0);
        self.for_each_phase_row(|c, ih, a, b| {
            let src = x[(c * h + ih) * w + b..(c * h + ih + 1) * w].iter();
            let plane = (c * s0 + a) * s1 + b;
            let dst = &mut phases[(plane * ph + ih / s0) * pw..][..pw];
            dst.iter_mut()
                .zip(src.step_by(s1))
                .for_each(|(d, s)| *d = *s);
        });
    }

    /// Calls `f(c, ih, a, b)` for every input row `ih` of channel `c` inside the phase planes
    /// (row phase `a`) and every column phase `b`, where some tap reads phases `a` and `b`.
    fn for_each_phase_row(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        let ([s0, s1], [ph, _]) = self.plane_shape(Planes::Phases);
        let rows: Vec<bool> = (0..s0).map(|a| self.phase_used(0, a)).collect();
        let columns: Vec<usize> = (0..s1).filter(|&b| self.phase_used(1, b)).collect();
        for c in 0..self.in_channels {
            for ih in (0..self.input[0].min(ph * s0)).filter(|ih| rows[ih % s0]) {
                for &b in &columns {
                    f(c, ih, ih % s0, b);
                }
            }
        }
    }

    /// Adds the gradient of the stride phases (laid out as [`ConvGeometry::phases`]) onto one
    /// sample's input gradient `dx`.
    fn add_phases(&self, phases: &[f32], dx: &mut [f32]) {
        let ([s0, s1], [ph, pw]) = self.plane_shape(Planes::Phases);
        let [h, w] = self.input;
        self.for_each_phase_row(|c, ih, a, b| {
            let dst = dx[(c * h + ih) * w + b..(c * h + ih + 1) * w].iter_mut();
            let plane = (c * s0 + a) * s1 + b;
            let src = &phases[(plane * ph + ih / s0) * pw..][..pw];
            dst.step_by(s1).zip(src).for_each(|(d, s)| *d += *s);
        });
    }

    /// One sample `x` as columns `offset..offset + P` of the im2col matrix `cols`
    /// (`[K, row_len]`), each row one shifted copy of `planes` (`scratch` holds the phases).
    pub(super) fn im2col_shifted(
        &self,
        planes: Planes,
        x: &[f32],
        cols: &mut [f32],
        [row_len, offset]: [usize; 2],
        scratch: &mut Vec<f32>,
    ) {
        let source = match planes {
            Planes::Input => x,
            Planes::Phases => {
                self.phases(x, scratch);
                scratch
            }
        };
        let p = self.p();
        if (1..=SMALL_PLANE).contains(&p) {
            let table = self.row_table(planes);
            let channel = self.channel_planes(planes);
            let rows = source
                .chunks(channel.max(1))
                .flat_map(|c| table.chunks(p).map(move |t| (c, t)));
            for (r, (planes, table)) in rows.enumerate() {
                let dst = &mut cols[r * row_len + offset..][..p];
                for (d, &at) in dst.iter_mut().zip(table) {
                    *d = if at == ZERO { 0.0 } else { planes[at] };
                }
            }
            return;
        }
        self.for_each_shift(planes, |row, shift| {
            let dst = &mut cols[row * row_len + offset..][..p];
            let (first, last) = shift.run;
            dst[first..last].copy_from_slice(&source[shift.source..][..last - first]);
            dst[..first].fill(0.0);
            dst[last..].fill(0.0);
            shift.zero_gaps(dst);
        });
    }

    /// Adds columns `offset..offset + P` of the im2col matrix `cols` back onto one sample's
    /// input gradient `dx`, each row one shifted addition onto `planes` (`scratch` holds the
    /// phases' gradient); entries no input reads are overwritten with zeros.
    pub(super) fn col2im_shifted(
        &self,
        planes: Planes,
        cols: &mut [f32],
        [row_len, offset]: [usize; 2],
        dx: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let target = match planes {
            Planes::Input => &mut *dx,
            Planes::Phases => {
                scratch.clear();
                scratch.resize(self.in_channels * self.channel_planes(planes), 0.0);
                &mut scratch[..]
            }
        };
        let p = self.p();
        if (1..=SMALL_PLANE).contains(&p) {
            // The same additions in the same order as the runs below.
            let table = self.row_table(planes);
            let channel = self.channel_planes(planes);
            let mut r = 0;
            for planes in target.chunks_mut(channel.max(1)) {
                for table in table.chunks(p) {
                    let src = &cols[r * row_len + offset..][..p];
                    for (&s, &at) in src.iter().zip(table) {
                        if at != ZERO {
                            planes[at] += s;
                        }
                    }
                    r += 1;
                }
            }
        } else {
            self.for_each_shift(planes, |row, shift| {
                let src = &mut cols[row * row_len + offset..][..p];
                shift.zero_gaps(src);
                let (first, last) = shift.run;
                let dst = &mut target[shift.source..][..last - first];
                vectorised(
                    #[inline(always)]
                    || {
                        dst.iter_mut()
                            .zip(&src[first..last])
                            .for_each(|(d, s)| *d += *s)
                    },
                );
            });
        }
        if planes == Planes::Phases {
            self.add_phases(scratch, dx);
        }
    }
}
