//! A batch's images on their way to the device: normalised floats built on the host for the
//! host backend (flex: no transfer at all), raw pixels packed four to a 32-bit word and
//! normalised on the device for a GPU (a quarter of the bytes over the bus).

use std::ops::Range;

use burn::prelude::*;

use super::backend::is_host;
use crate::data::ImageSet;
use crate::data::augment::{Augment, Normalize, fill_batch, fill_pixels};

/// The CHW values of a batch's images on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostImages {
    /// Normalised floats (for the host backend).
    Floats(Vec<f32>),
    /// Pixels before normalisation (for a GPU, which normalises them itself).
    Pixels(Vec<u8>),
}

impl HostImages {
    /// The images at `indices` of `set`, augmented when `aug` is given, in the form `device`
    /// takes: floats on the host backend, pixels elsewhere. Both draw the same numbers from
    /// the generator, so a batch is the same images on every backend.
    pub fn build(
        set: &ImageSet,
        indices: &[usize],
        norm: Normalize,
        aug: Option<(&Augment, &mut dyn rand::RngCore)>,
        device: &Device,
    ) -> Self {
        let len = indices.len() * set.image_len();
        if is_host(device) {
            let mut values = Vec::with_capacity(len);
            fill_batch(set, indices, norm, aug, &mut values);
            HostImages::Floats(values)
        } else {
            let mut pixels = Vec::with_capacity(len);
            fill_pixels(set, indices, aug, &mut pixels);
            HostImages::Pixels(pixels)
        }
    }

    /// Images `rows` (each `per` values long) of these.
    pub fn rows(&self, rows: Range<usize>, per: usize) -> Self {
        let r = rows.start * per..rows.end * per;
        match self {
            HostImages::Floats(v) => HostImages::Floats(v[r].to_vec()),
            HostImages::Pixels(v) => HostImages::Pixels(v[r].to_vec()),
        }
    }

    /// The `[n, c, h, w]` input tensor on `device`, normalised by `norm`.
    pub fn to_device(self, shape: [usize; 4], norm: Normalize, device: &Device) -> Tensor<4> {
        match self {
            HostImages::Floats(v) => Tensor::from_data(TensorData::new(v, shape), device),
            HostImages::Pixels(p) => normalised(&p, shape, norm, device),
        }
    }
}

/// `pixels` uploaded as little-endian 32-bit words (four pixels each) and turned into
/// `(x / 255 - mean[c]) / std[c]` on `device`: the host lookup table's formula, in the same
/// order of operations.
fn normalised(pixels: &[u8], shape: [usize; 4], norm: Normalize, device: &Device) -> Tensor<4> {
    let len = pixels.len();
    let words: Vec<i32> = pixels
        .chunks(4)
        .map(|w| {
            let mut b = [0u8; 4];
            b[..w.len()].copy_from_slice(w);
            i32::from_le_bytes(b)
        })
        .collect();
    let count = words.len();
    let words = Tensor::<1, Int>::from_data(TensorData::new(words, [count]), device);
    let bytes: Vec<Tensor<2, Int>> = (0..4)
        .map(|k| {
            words
                .clone()
                .bitwise_right_shift_scalar(8 * k)
                .bitwise_and_scalar(255)
                .reshape([count, 1])
        })
        .collect();
    let x = Tensor::cat(bytes, 1)
        .reshape([count * 4])
        .slice(0..len)
        .float()
        .reshape(shape);
    let c = shape[1];
    let per_channel = |v: [f32; 3]| {
        let v: Vec<f32> = (0..c).map(|ch| v[ch.min(2)]).collect();
        Tensor::<1>::from_data(TensorData::new(v, [c]), device)
            .reshape([1, c, 1, 1])
            .expand(shape)
    };
    (x / 255.0 - per_channel(norm.mean)) / per_channel(norm.std)
}
