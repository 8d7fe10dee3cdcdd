//! Turning images into normalised float batches, with seeded augmentation: random crop after
//! padding, random-resized crop (Inception-style), horizontal flip, then AutoAugment.

use rand::Rng;

use super::ImageSet;
use super::autoaugment::{self, Hwc};

crate::choices! {
    /// `train.auto_augment`: an automatic augmentation policy applied after the crop and flip.
    #[derive(Default)]
    pub enum AutoAugment {
        /// None.
        #[default]
        None = "none",
        /// AutoAugment's ImageNet policy as DALI runs it (the official Dyn-Unc code's
        /// `AUTO_AUGMENT: true`); see [`autoaugment`].
        ImageNet = "imagenet",
    }
}

crate::choices! {
    /// `train.crop_from`: what a random-resized crop is taken from.
    #[derive(Default)]
    pub enum CropFrom {
        /// The stored square (short side resized to the image size, centre crop).
        #[default]
        Stored = "stored",
        /// The whole decoded file, as the official ImageNet pipeline (streamed ImageFolder
        /// data only: the crop is drawn as each file is decoded).
        File = "file",
    }
}

/// Training-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Augment {
    /// Pad by this many pixels, then crop back to the original size at a random offset.
    pub crop_padding: usize,
    /// Pad with the image mirrored at its edge (torchvision's `reflect`) instead of zeros.
    pub crop_reflect: bool,
    /// Random-resized crop: a crop of `[min, 1]` of the area and aspect ratio in
    /// `[3/4, 4/3]` (log-uniform), resized back to the image size (bilinear), as
    /// torchvision's `RandomResizedCrop`; `Some(min)`.
    pub resized_crop: Option<f64>,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// A policy applied to the cropped, flipped 8-bit image.
    pub auto_augment: AutoAugment,
    /// Where `resized_crop` takes its crop from.
    pub crop_from: CropFrom,
}

impl Augment {
    /// Whether this changes anything.
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0
            && self.resized_crop.is_none()
            && !self.flip
            && self.auto_augment == AutoAugment::None
    }
}

/// Index `i` of a row or column of `n` pixels mirrored at the edges without repeating the edge
/// pixel (-1 -> 1, n -> n - 2), as often as needed.
fn mirror(i: isize, n: usize) -> isize {
    let n = n as isize;
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let i = i.rem_euclid(period);
    if i < n { i } else { period - i }
}

/// Per-channel normalisation `(x / 255 - mean[c]) / std[c]` (up to 3 channels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Mean of x / 255 per channel.
    pub mean: [f32; 3],
    /// Standard deviation of x / 255 per channel.
    pub std: [f32; 3],
}

impl Normalize {
    /// torchvision's ImageNet statistics (RGB).
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Statistics of every pixel of `set`, per channel.
    pub fn fit(set: &ImageSet) -> Self {
        let c = set.channels.clamp(1, 3);
        let mut sums = [(0.0f64, 0.0f64, 0u64); 3];
        for (i, &p) in set.pixels.iter().enumerate() {
            let x = f64::from(p) / 255.0;
            let s = &mut sums[(i % set.channels.max(1)).min(c - 1)];
            s.0 += x;
            s.1 += x * x;
            s.2 += 1;
        }
        let mut norm = Normalize {
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        for (ch, &(s, ss, n)) in sums.iter().enumerate().take(c) {
            let n = n.max(1) as f64;
            let mean = s / n;
            norm.mean[ch] = mean as f32;
            norm.std[ch] = (ss / n - mean * mean).max(1e-12).sqrt() as f32;
        }
        norm
    }
}

/// A random-resized-crop window `(y, x, h, w)` inside an `height x width` image.
fn resized_crop_window(
    rng: &mut dyn rand::RngCore,
    height: usize,
    width: usize,
    min_area: f64,
) -> (f64, f64, f64, f64) {
    let area = (height * width) as f64;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(min_area..=1.0);
        let ratio = rng.random_range(lo..=hi).exp();
        let w = (target * ratio).sqrt();
        let h = (target / ratio).sqrt();
        if w <= width as f64 && h <= height as f64 {
            let y = rng.random_range(0.0..=(height as f64 - h));
            let x = rng.random_range(0.0..=(width as f64 - w));
            return (y, x, h, w);
        }
    }
    (0.0, 0.0, height as f64, width as f64)
}

/// Appends the images at `indices` to `out` as normalised CHW floats, augmented when `rng` is
/// given. Pixels that a crop moves in from outside the image are 0 before normalisation.
pub fn fill_batch(
    set: &ImageSet,
    indices: &[usize],
    norm: Normalize,
    augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    out: &mut Vec<f32>,
) {
    let luts: Vec<Vec<f32>> = (0..set.channels)
        .map(|ch| {
            let (m, sd) = (norm.mean[ch.min(2)], norm.std[ch.min(2)]);
            (0..256).map(|p| (p as f32 / 255.0 - m) / sd).collect()
        })
        .collect();
    fill_with(set, indices, augment, out, |ch, v| luts[ch][usize::from(v)]);
}

/// As [`fill_batch`], the pixels before normalisation (CHW bytes): the same images, with the
/// same draws from `rng`, for normalising elsewhere (on a GPU).
pub fn fill_pixels(
    set: &ImageSet,
    indices: &[usize],
    augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    out: &mut Vec<u8>,
) {
    fill_with(set, indices, augment, out, |_, v| v);
}

/// The augmented CHW pixels of `indices`, each written to `out` as `value(channel, pixel)`.
fn fill_with<T>(
    set: &ImageSet,
    indices: &[usize],
    augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    out: &mut Vec<T>,
    value: impl Fn(usize, u8) -> T,
) {
    let (h, w, c) = (set.height, set.width, set.channels);
    let mut aug = augment;
    let mut img = Hwc {
        height: h,
        width: w,
        channels: c,
        pixels: Vec::with_capacity(h * w * c),
    };
    for &i in indices {
        // Without augmentation the stored pixels go out as they are, uncopied.
        let pixels: &[u8] = match aug.as_mut() {
            None => set.image(i),
            Some((a, rng)) => {
                img.pixels.clear();
                sample_view(set.image(i), (h, w, c), a, &mut **rng, &mut img.pixels);
                if a.auto_augment == AutoAugment::ImageNet {
                    autoaugment::imagenet(&mut img, &mut **rng);
                }
                &img.pixels
            }
        };
        for ch in 0..c {
            let plane = pixels.iter().skip(ch).step_by(c);
            out.extend(plane.map(|&v| value(ch, v)));
        }
    }
}

/// Appends the HWC pixels of `img` (`h x w x c`) as `a`'s crop and flip see them, with draws
/// from `rng`. Pixels that a crop moves in from outside the image are 0.
fn sample_view(
    img: &[u8],
    (h, w, c): (usize, usize, usize),
    a: &Augment,
    rng: &mut dyn rand::RngCore,
    out: &mut Vec<u8>,
) {
    let (mut dy, mut dx) = (0isize, 0isize);
    let window = a
        .resized_crop
        .map(|min| resized_crop_window(rng, h, w, min));
    let p = a.crop_padding as isize;
    if p > 0 {
        dy = rng.random_range(-(p as i64)..=p as i64) as isize;
        dx = rng.random_range(-(p as i64)..=p as i64) as isize;
    }
    let flip = a.flip && rng.random::<bool>();
    let at = |sy: isize, sx: isize, ch: usize| -> f32 {
        let (sy, sx) = match a.crop_reflect {
            true => (mirror(sy, h), mirror(sx, w)),
            false => (sy, sx),
        };
        if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
            f32::from(img[(sy as usize * w + sx as usize) * c + ch])
        } else {
            0.0
        }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let xf = if flip { w as isize - 1 - x } else { x };
            for ch in 0..c {
                let v = match window {
                    None => at(y + dy, xf + dx, ch),
                    Some((wy, wx, wh, ww)) => {
                        // bilinear sample of the window, pixel centres aligned
                        let sy = wy + (y as f64 + 0.5) * wh / h as f64 - 0.5;
                        let sx = wx + (xf as f64 + 0.5) * ww / w as f64 - 0.5;
                        let (y0, x0) = (sy.floor(), sx.floor());
                        let (fy, fx) = ((sy - y0) as f32, (sx - x0) as f32);
                        let (y0, x0) = (y0 as isize, x0 as isize);
                        let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1);
                        let px = |yy: isize, xx: isize| at(clamp(yy, h), clamp(xx, w), ch);
                        let top = px(y0, x0) * (1.0 - fx) + px(y0, x0 + 1) * fx;
                        let bottom = px(y0 + 1, x0) * (1.0 - fx) + px(y0 + 1, x0 + 1) * fx;
                        (top * (1.0 - fy) + bottom * fy).round()
                    }
                };
                out.push(v as u8);
            }
        }
    }
}
