//! Turning images into normalised float batches, with seeded random crop and flip.

use rand::Rng;

use super::ImageSet;

/// Training-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    /// Zero-pad by this many pixels, then crop back to the original size at a random offset.
    pub crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
}

impl Augment {
    /// Whether this changes anything.
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0 && !self.flip
    }
}

/// Per-channel normalisation `(x / 255 - mean) / std`, with statistics of a training set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Mean of x / 255.
    pub mean: f32,
    /// Standard deviation of x / 255.
    pub std: f32,
}

impl Normalize {
    /// Statistics of every pixel of `set`.
    pub fn fit(set: &ImageSet) -> Self {
        let n = set.pixels.len().max(1) as f64;
        let (mut s, mut ss) = (0.0f64, 0.0f64);
        for &p in &set.pixels {
            let x = f64::from(p) / 255.0;
            s += x;
            ss += x * x;
        }
        let mean = s / n;
        let var = (ss / n - mean * mean).max(1e-12);
        Normalize {
            mean: mean as f32,
            std: var.sqrt() as f32,
        }
    }
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
    let (h, w, c) = (set.height, set.width, set.channels);
    let lut: Vec<f32> = (0..256)
        .map(|p| (p as f32 / 255.0 - norm.mean) / norm.std)
        .collect();
    let mut aug = augment;
    for &i in indices {
        let img = set.image(i);
        let (mut dy, mut dx, mut flip) = (0isize, 0isize, false);
        if let Some((a, rng)) = aug.as_mut() {
            let p = a.crop_padding as isize;
            if p > 0 {
                dy = rng.random_range(-(p as i64)..=p as i64) as isize;
                dx = rng.random_range(-(p as i64)..=p as i64) as isize;
            }
            flip = a.flip && rng.random::<bool>();
        }
        for ch in 0..c {
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let sx = if flip { w as isize - 1 - x } else { x } + dx;
                    let sy = y + dy;
                    let v = if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                        img[(sy as usize * w + sx as usize) * c + ch]
                    } else {
                        0
                    };
                    out.push(lut[v as usize]);
                }
            }
        }
    }
}
