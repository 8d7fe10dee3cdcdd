//! A training or test set as the trainer sees it: decoded images held in memory, or image
//! files decoded batch by batch while training runs (the streaming loader, for ImageNet).

use std::path::PathBuf;
use std::sync::Arc;

use super::loader::Streaming;
use super::{DataError, ImageSet, folder};

/// Labelled images, decoded in memory or read from their files when a batch needs them.
#[derive(Debug, Clone, PartialEq)]
pub enum Images {
    /// Every image decoded, in memory.
    Memory(ImageSet),
    /// Image files, decoded when a batch needs them.
    Files(FileSet),
}

/// A random-resized crop taken from each whole file as it is decoded (`train.crop_from:
/// file`): the smallest area share, and the epoch's seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileCrop {
    /// Smallest share of the image's area (0.08 on ImageNet).
    pub min_area: f64,
    /// The epoch's crop seed.
    pub seed: u64,
}

/// Image files with labels, decoded on demand to square RGB images (the same bytes the memory
/// loader would hold).
#[derive(Debug, Clone, PartialEq)]
pub struct FileSet {
    /// Files, shared between the set and its subsets' prefetch threads.
    pub paths: Arc<[PathBuf]>,
    /// Which of `paths` this set holds, in order.
    pub index: Arc<[usize]>,
    /// One label per image of the set.
    pub labels: Vec<u32>,
    /// How each file becomes a square image.
    pub resize: folder::Resize,
    /// Number of classes.
    pub classes: usize,
    /// Decode threads and prefetch depth.
    pub streaming: Streaming,
}

impl FileSet {
    /// A set of `entries`, brought to a square by `resize`, with `classes` classes.
    pub fn new(
        entries: &[folder::Entry],
        resize: folder::Resize,
        classes: usize,
        streaming: Streaming,
    ) -> Self {
        FileSet {
            paths: entries.iter().map(|e| e.path.clone()).collect(),
            index: (0..entries.len()).collect(),
            labels: entries.iter().map(|e| e.label).collect(),
            resize,
            classes,
            streaming,
        }
    }

    /// The file of image `i`.
    pub fn path(&self, i: usize) -> &std::path::Path {
        &self.paths[self.index[i]]
    }

    /// Decodes the images at `indices` (on the current rayon pool), in that order.
    pub fn decode(&self, indices: &[usize]) -> Result<ImageSet, DataError> {
        self.decode_with(indices, None)
    }

    /// Decodes the images at `indices`: their stored view, or with `crop` a random-resized
    /// crop of each whole file, drawn from the crop's seed and the file (the same crop
    /// whichever thread decodes it, and whatever subset holds it).
    pub fn decode_with(
        &self,
        indices: &[usize],
        crop: Option<FileCrop>,
    ) -> Result<ImageSet, DataError> {
        use rand::SeedableRng;
        use rayon::prelude::*;
        let size = self.resize.size;
        let n = size * size * 3;
        let mut pixels = vec![0u8; indices.len() * n];
        pixels
            .par_chunks_mut(n)
            .zip(indices.par_iter())
            .try_for_each(|(out, &i)| {
                let path = self.path(i);
                let img = match crop {
                    None => folder::load_one(path, self.resize),
                    Some(c) => {
                        let file = self.index[i] as u64;
                        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                            c.seed ^ file.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        );
                        folder::load_cropped(path, size, self.resize.interpolation, &mut |w, h| {
                            folder::crop_window(&mut rng, w, h, c.min_area)
                        })
                    }
                }
                .map_err(|why| DataError::BadImage {
                    path: path.display().to_string(),
                    why,
                })?;
                out.copy_from_slice(&img);
                Ok(())
            })?;
        Ok(ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            height: size,
            width: size,
            channels: 3,
            classes: self.classes,
        })
    }
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One label per image.
    pub fn labels(&self) -> &[u32] {
        match self {
            Images::Memory(s) => &s.labels,
            Images::Files(f) => &f.labels,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            Images::Memory(s) => s.classes,
            Images::Files(f) => f.classes,
        }
    }

    /// Image shape as (channels, height, width).
    pub fn shape(&self) -> (usize, usize, usize) {
        match self {
            Images::Memory(s) => (s.channels, s.height, s.width),
            Images::Files(f) => (3, f.resize.size, f.resize.size),
        }
    }

    /// The images at `indices`, in that order (files are not decoded).
    pub fn take(&self, indices: &[usize]) -> Images {
        match self {
            Images::Memory(s) => Images::Memory(s.take(indices)),
            Images::Files(f) => Images::Files(FileSet {
                paths: f.paths.clone(),
                index: indices.iter().map(|&i| f.index[i]).collect(),
                labels: indices.iter().map(|&i| f.labels[i]).collect(),
                resize: f.resize,
                classes: f.classes,
                streaming: f.streaming,
            }),
        }
    }

    /// The images at `indices` decoded in memory (a copy for in-memory sets).
    pub fn decode(&self, indices: &[usize]) -> Result<ImageSet, DataError> {
        match self {
            Images::Memory(s) => Ok(s.take(indices)),
            Images::Files(f) => f.decode(indices),
        }
    }

    /// The decoded set, when held in memory.
    pub fn in_memory(&self) -> Option<&ImageSet> {
        match self {
            Images::Memory(s) => Some(s),
            Images::Files(_) => None,
        }
    }

    /// How the images are held, for logs.
    pub fn describe(&self) -> &'static str {
        match self {
            Images::Memory(_) => "decoded in memory",
            Images::Files(_) => "streamed from files",
        }
    }
}

impl From<ImageSet> for Images {
    fn from(s: ImageSet) -> Self {
        Images::Memory(s)
    }
}
