//! AutoAugment's ImageNet policy (Cubuk et al. 2019) as the official Dyn-Unc code runs it:
//! NVIDIA DALI's `auto_augment_image_net` (`ImageNet/data/build_produce.py` of
//! BAAI-DCAI/Dataset-Pruning), on 8-bit HWC images after the crop and before normalisation.
//!
//! Each image draws one of the policy's 25 sub-policies (uniformly); each of its one or two
//! stages runs with its probability, at its magnitude bin `b` of 11, with a random sign for the
//! geometric operations. Parameters, as DALI's `auto_aug/augmentations.py` defines them:
//!
//! ```text
//! shear_x, shear_y  s = ±0.03 b        x' = x + s y  (resp. y' = y + s x), about the origin
//! rotate            a = ±3 b degrees   about the centre, counter-clockwise as displayed
//! translate_y       t = ±0.1 b h       y' = y + t  (relative to the height: `shape` is given)
//! color             f = 0.1 + 0.18 b   saturation: Y + f (x - Y), Y = .299 R + .587 G + .114 B
//! posterize         k = round(0.4 b) clamped to [1, 8] high bits kept
//! solarize          x >= 256 - 25.6 b  ->  255 - x
//! solarize_add      x < 128            ->  x + 11 b
//! invert            255 - x
//! equalize          OpenCV's histogram equalisation, per channel
//! auto_contrast     (x - lo) 255 / (hi - lo) per channel (unchanged where hi = lo)
//! ```
//!
//! Geometric operations sample bilinearly at pixel centres and fill what comes from outside
//! the image with 128; every float result is rounded to nearest (ties to even) and saturated.
//! One-channel images take every operation per channel (colour is then the identity).

use rand::{Rng, RngCore};

/// Magnitude bins of the policy (DALI's `num_magnitude_bins`).
const BINS: f64 = 10.0;
/// What warps bring in from outside the image (DALI's `fill_value`).
const FILL: f32 = 128.0;

/// One AutoAugment operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Shear along x (rows slide sideways).
    ShearX,
    /// Shear along y.
    ShearY,
    /// Shift along y by a share of the height.
    TranslateY,
    /// Rotation about the centre.
    Rotate,
    /// Saturation.
    Color,
    /// Keep the high bits.
    Posterize,
    /// Invert the pixels at or above a threshold.
    Solarize,
    /// Add to the pixels below 128.
    SolarizeAdd,
    /// 255 - x.
    Invert,
    /// Histogram equalisation.
    Equalize,
    /// Stretch each channel to 0..255.
    AutoContrast,
}

/// The ImageNet policy: 25 sub-policies of (operation, probability, magnitude bin), as DALI's
/// `get_image_net_policy` lists them.
pub const IMAGENET: [&[(Op, f64, u8)]; 25] = {
    use Op::*;
    [
        &[(Equalize, 0.8, 0), (ShearY, 0.8, 4)],
        &[(Color, 0.4, 9), (Equalize, 0.6, 0)],
        &[(Color, 0.4, 1), (Rotate, 0.6, 8)],
        &[(Solarize, 0.8, 3), (Equalize, 0.4, 0)],
        &[(Solarize, 0.4, 2), (Solarize, 0.6, 2)],
        &[(Color, 0.2, 0), (Equalize, 0.8, 0)],
        &[(Equalize, 0.4, 0), (SolarizeAdd, 0.8, 3)],
        &[(ShearX, 0.2, 9), (Rotate, 0.6, 8)],
        &[(Color, 0.6, 1), (Equalize, 1.0, 0)],
        &[(Invert, 0.4, 0), (Rotate, 0.6, 0)],
        &[(Equalize, 1.0, 0), (ShearY, 0.6, 3)],
        &[(Color, 0.4, 7), (Equalize, 0.6, 0)],
        &[(Posterize, 0.4, 6), (AutoContrast, 0.4, 0)],
        &[(Solarize, 0.6, 8), (Color, 0.6, 9)],
        &[(Solarize, 0.2, 4), (Rotate, 0.8, 9)],
        &[(Rotate, 1.0, 7), (TranslateY, 0.8, 9)],
        &[(Solarize, 0.8, 4)],
        &[(ShearY, 0.8, 0), (Color, 0.6, 4)],
        &[(Color, 1.0, 0), (Rotate, 0.6, 2)],
        &[(Equalize, 0.8, 0)],
        &[(Equalize, 1.0, 0), (AutoContrast, 0.6, 0)],
        &[(ShearY, 0.4, 7), (SolarizeAdd, 0.6, 7)],
        &[(Posterize, 0.8, 2), (Solarize, 0.6, 10)],
        &[(Solarize, 0.6, 8), (Equalize, 0.6, 0)],
        &[(Color, 0.8, 6), (Rotate, 0.4, 5)],
    ]
};

/// An 8-bit image, rows of pixels of `channels` interleaved values.
#[derive(Debug, Clone, PartialEq)]
pub struct Hwc {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel (1 or 3).
    pub channels: usize,
    /// `height x width x channels` values.
    pub pixels: Vec<u8>,
}

/// Applies the ImageNet policy to `img` with draws from `rng`: the sub-policy, then for each
/// stage whether it runs and its sign.
pub fn imagenet(img: &mut Hwc, rng: &mut dyn RngCore) {
    let sub = IMAGENET[rng.random_range(0..IMAGENET.len())];
    for &(op, prob, bin) in sub {
        let run = rng.random::<f64>() < prob;
        let negate = rng.random::<bool>();
        if run {
            apply(img, op, bin, negate);
        }
    }
}

/// Applies `op` at magnitude bin `bin` (0..=10), negated where the operation takes a sign.
pub fn apply(img: &mut Hwc, op: Op, bin: u8, negate: bool) {
    let b = f64::from(bin.min(10));
    let sign = if negate { -1.0 } else { 1.0 };
    let level = |lo: f64, hi: f64| lo + b * (hi - lo) / BINS;
    match op {
        Op::ShearX => warp(img, [1.0, sign * level(0.0, 0.3), 0.0, 0.0, 1.0, 0.0]),
        Op::ShearY => warp(img, [1.0, 0.0, 0.0, sign * level(0.0, 0.3), 1.0, 0.0]),
        Op::TranslateY => {
            let t = sign * level(0.0, 1.0) * img.height as f64;
            warp(img, [1.0, 0.0, 0.0, 0.0, 1.0, t]);
        }
        Op::Rotate => rotate(img, sign * level(0.0, 30.0)),
        Op::Color => saturation(img, level(0.1, 1.9) as f32),
        Op::Posterize => {
            let keep = (level(0.0, 4.0).round_ties_even() as u32).clamp(1, 8);
            let mask = !((1u16 << (8 - keep)) - 1) as u8;
            img.pixels.iter_mut().for_each(|v| *v &= mask);
        }
        Op::Solarize => {
            let threshold = level(256.0, 0.0);
            for v in &mut img.pixels {
                if f64::from(*v) >= threshold {
                    *v = 255 - *v;
                }
            }
        }
        Op::SolarizeAdd => {
            let shift = level(0.0, 110.0) as u8;
            img.pixels
                .iter_mut()
                .filter(|v| **v < 128)
                .for_each(|v| *v += shift);
        }
        Op::Invert => img.pixels.iter_mut().for_each(|v| *v = 255 - *v),
        Op::Equalize => per_channel(img, equalize_lut),
        Op::AutoContrast => per_channel(img, auto_contrast_lut),
    }
}

/// A float result as a pixel value: nearest, ties to even, saturated.
fn to_u8(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// Replaces each channel's values through the table `lut(histogram)` makes.
fn per_channel(img: &mut Hwc, lut: fn(&[u32; 256], u32) -> [u8; 256]) {
    let c = img.channels.max(1);
    for ch in 0..c {
        let mut hist = [0u32; 256];
        let values = img.pixels.iter().skip(ch).step_by(c);
        values.for_each(|&v| hist[usize::from(v)] += 1);
        let total = hist.iter().sum();
        let table = lut(&hist, total);
        img.pixels
            .iter_mut()
            .skip(ch)
            .step_by(c)
            .for_each(|v| *v = table[usize::from(*v)]);
    }
}

/// OpenCV's `equalizeHist`: the lowest value present goes to 0, the others to
/// `255 (count at or below, less the lowest's) / (total less the lowest's)`; a one-valued
/// channel is unchanged.
fn equalize_lut(hist: &[u32; 256], total: u32) -> [u8; 256] {
    let mut lut: [u8; 256] = std::array::from_fn(|i| i as u8);
    let Some(lowest) = hist.iter().position(|&n| n > 0) else {
        return lut;
    };
    if hist[lowest] == total {
        return lut;
    }
    let scale = 255.0f32 / (total - hist[lowest]) as f32;
    let mut sum = 0u32;
    lut[lowest] = 0;
    for i in lowest + 1..256 {
        sum += hist[i];
        lut[i] = to_u8(sum as f32 * scale);
    }
    lut
}

/// DALI's `auto_contrast`: `(x - lo) * (255 / (hi - lo))`, identity where `hi == lo`.
fn auto_contrast_lut(hist: &[u32; 256], _total: u32) -> [u8; 256] {
    let mut lut: [u8; 256] = std::array::from_fn(|i| i as u8);
    let lo = hist.iter().position(|&n| n > 0).unwrap_or(0);
    let hi = hist.iter().rposition(|&n| n > 0).unwrap_or(255);
    if hi > lo {
        let scale = 255.0f32 / (hi - lo) as f32;
        for (i, v) in lut.iter_mut().enumerate().skip(lo) {
            *v = to_u8((i - lo) as f32 * scale);
        }
    }
    lut
}

/// Saturation `f`: each pixel's luma `Y` kept, its distance from grey scaled by `f`.
fn saturation(img: &mut Hwc, f: f32) {
    if img.channels < 3 {
        return;
    }
    for px in img.pixels.chunks_exact_mut(img.channels) {
        let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        for v in &mut px[..3] {
            *v = to_u8(y + f * (f32::from(*v) - y));
        }
    }
}

/// Rotation by `degrees` counter-clockwise (as displayed, rows running down) about the centre.
pub fn rotate(img: &mut Hwc, degrees: f64) {
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (img.width as f64 / 2.0, img.height as f64 / 2.0);
    // x' = cx + c dx + s dy, y' = cy - s dx + c dy (dx = x - cx, dy = y - cy)
    let m = [c, s, cx - c * cx - s * cy, -s, c, cy + s * cx - c * cy];
    warp(img, m);
}

/// The affine warp that moves the point `(x, y)` of the image to
/// `(m0 x + m1 y + m2, m3 x + m4 y + m5)` (DALI's `warp_affine` with `inverse_map=False`),
/// coordinates continuous with pixel `(i, j)` centred at `(j + 0.5, i + 0.5)`.
fn warp(img: &mut Hwc, m: [f64; 6]) {
    let det = m[0] * m[4] - m[1] * m[3];
    // inverse: output point -> source point
    let inv = [
        m[4] / det,
        -m[1] / det,
        (m[1] * m[5] - m[4] * m[2]) / det,
        -m[3] / det,
        m[0] / det,
        (m[3] * m[2] - m[0] * m[5]) / det,
    ];
    let (h, w, c) = (img.height, img.width, img.channels.max(1));
    let src = std::mem::take(&mut img.pixels);
    let tap = |y: i64, x: i64, ch: usize| -> f32 {
        if (0..h as i64).contains(&y) && (0..w as i64).contains(&x) {
            f32::from(src[(y as usize * w + x as usize) * c + ch])
        } else {
            FILL
        }
    };
    let mut out = Vec::with_capacity(src.len());
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let sx = inv[0] * px + inv[1] * py + inv[2] - 0.5;
            let sy = inv[3] * px + inv[4] * py + inv[5] - 0.5;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for ch in 0..c {
                let top = tap(y0, x0, ch) * (1.0 - fx) + tap(y0, x0 + 1, ch) * fx;
                let bottom = tap(y0 + 1, x0, ch) * (1.0 - fx) + tap(y0 + 1, x0 + 1, ch) * fx;
                out.push(to_u8(top * (1.0 - fy) + bottom * fy));
            }
        }
    }
    img.pixels = out;
}
