//! Data: the image sets dynunc trains on, how they are loaded, subset and augmented.

pub mod augment;
pub mod autoaugment;
pub mod download;
pub mod folder;
pub mod format;
pub mod idx;
pub mod images;
pub mod loader;
pub mod section;
pub mod subset;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use format::Format;
pub use format::imagefolder::Loading;
pub use images::{FileCrop, FileSet, Images};

use crate::options::Options;

/// `data:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// The format (`data.dataset`).
    pub format: &'static dyn Format,
    /// The data's folder.
    pub path: PathBuf,
    /// Training subset size.
    pub subset: Option<usize>,
    /// Test subset size.
    pub test_subset: Option<usize>,
    /// The format's own options, given or default.
    pub options: Options,
}

impl DataSpec {
    /// All of the data at `path` in `format`, the format's options at their defaults.
    pub fn new(format: &'static dyn Format, path: impl Into<PathBuf>) -> Self {
        DataSpec {
            format,
            path: path.into(),
            subset: None,
            test_subset: None,
            options: Options::default().with_defaults(format.options()),
        }
    }

    /// The images' geometry as the format's options give it.
    pub fn input_shape(&self) -> InputShape {
        self.format.input_shape(&self.options)
    }
}

/// Input geometry and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Classes.
    pub classes: usize,
}

impl InputShape {
    /// 224x224 RGB, 1000 classes: where the reference parameter counts are taken.
    pub const IMAGENET: InputShape = InputShape {
        channels: 3,
        height: 224,
        width: 224,
        classes: 1000,
    };
    /// 28x28 grey, 10 classes (Fashion-MNIST, MNIST).
    pub const MNIST: InputShape = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
}

/// A set of equally sized images with labels, stored as bytes (HWC, 0-255).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Pixels, `len * height * width * channels` bytes.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u32>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Number of classes.
    pub classes: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            ..*self
        }
    }
}

/// Training and test split.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images (after `subset`).
    pub train: Images,
    /// Index of each training image in the full training file.
    pub train_source_index: Vec<usize>,
    /// Test images (after `test_subset`).
    pub test: Images,
    /// Class names.
    pub class_names: Vec<String>,
    /// ImageFolder: the file of every image of the full training set (index by
    /// `train_source_index`); empty for IDX data.
    pub train_files: Vec<PathBuf>,
    /// ImageFolder: for each test image, the rank of its file name among all validation file
    /// names (the order of ImageNet-ReaL's `real.json`); empty for IDX data.
    pub test_name_rank: Vec<usize>,
    /// ImageFolder: files left out as unreadable (`on_bad_image: skip`), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// The model outputs the test labels stand for, when the test split has fewer classes
    /// than training (ImageNet-21K evaluated on ImageNet-1K's validation set: test label `k`
    /// is training class `test_columns[k]`); empty when the splits share their classes.
    pub test_columns: Vec<u32>,
}

/// Problems loading data.
#[derive(Debug, Error)]
pub enum DataError {
    /// The data folder does not exist.
    #[error("data folder {path} does not exist: {hint}")]
    MissingDir {
        /// Folder.
        path: String,
        /// How to get the data.
        hint: &'static str,
    },
    /// An expected file is absent.
    #[error("{path}: missing (looked for `{name}` and `{name}.gz`): {hint}")]
    MissingFile {
        /// Folder.
        path: String,
        /// File name.
        name: String,
        /// How to get the data.
        hint: &'static str,
    },
    /// A file that is not a valid IDX file.
    #[error("{path}: {what}; the file is damaged or not an IDX file: download it again")]
    Corrupt {
        /// File.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// Data that reads but cannot be trained on as it is (the message says why and the fix).
    #[error("{path}: {what}")]
    Invalid {
        /// File or folder.
        path: String,
        /// What is wrong, and the fix.
        what: String,
    },
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// An image file that cannot be decoded.
    #[error(
        "{path}: cannot read the image ({why}); replace or delete the file, or set data.on_bad_image: skip"
    )]
    BadImage {
        /// File.
        path: String,
        /// Decoder's message.
        why: String,
    },
    /// ImageFolder data too large to hold decoded in memory.
    #[error(
        "decoding {images} images at {size}x{size} needs {gib:.0} GiB of memory (data.loader: memory); set data.loader: stream (or auto) to decode batches from the files while training"
    )]
    TooLarge {
        /// Images to decode.
        images: usize,
        /// Side.
        size: usize,
        /// GiB needed.
        gib: f64,
    },
    /// The streaming loader failed.
    #[error("image loader: {0}")]
    Loader(String),
    /// A subset larger than the data.
    #[error("data.{key}: {asked} samples asked but the {split} set has {have}; use at most {have}")]
    SubsetTooLarge {
        /// `subset` or `test_subset`.
        key: &'static str,
        /// Which split.
        split: &'static str,
        /// Asked.
        asked: usize,
        /// Available.
        have: usize,
    },
}

/// A class-stratified subset of `n` of `labels` drawn with `seed` (all when `n` is `None`).
pub(crate) fn subset_of(
    labels: &[u32],
    n: Option<usize>,
    seed: u64,
    key: &'static str,
    split: &'static str,
) -> Result<Vec<usize>, DataError> {
    match n {
        None => Ok((0..labels.len()).collect()),
        Some(n) if n > labels.len() => Err(DataError::SubsetTooLarge {
            key,
            split,
            asked: n,
            have: labels.len(),
        }),
        Some(n) => Ok(subset::stratified(labels, n, seed)),
    }
}

/// Splits of image sets held in memory (the file formats'): the `subset` and `test_subset` of
/// `spec`, drawn with `seed`, and the class names.
pub(crate) fn memory_splits(
    train: ImageSet,
    test: ImageSet,
    spec: &DataSpec,
    seed: u64,
    class_names: Vec<String>,
) -> Result<Splits, DataError> {
    let train_source_index = subset_of(&train.labels, spec.subset, seed, "subset", "training")?;
    let test_index = subset_of(&test.labels, spec.test_subset, seed, "test_subset", "test")?;
    let take = |set: ImageSet, idx: &[usize]| match idx.len() == set.len() {
        true => set,
        false => set.take(idx),
    };
    Ok(Splits {
        train: take(train, &train_source_index).into(),
        train_source_index,
        test: take(test, &test_index).into(),
        class_names,
        train_files: Vec::new(),
        test_name_rank: Vec::new(),
        skipped: Vec::new(),
        test_columns: Vec::new(),
    })
}

/// The data folder, or the format's advice on obtaining it.
fn existing_dir(spec: &DataSpec) -> Result<(), DataError> {
    match spec.path.is_dir() {
        true => Ok(()),
        false => Err(DataError::MissingDir {
            path: spec.path.display().to_string(),
            hint: spec.format.install_hint(),
        }),
    }
}

/// Loads the training and test sets described by `spec`; subsets are drawn with `seed`.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
    existing_dir(spec)?;
    spec.format.load(spec, seed)
}

/// What a dry run needs to know of the data: training and test images, and the shape the
/// images have (or will have once decoded), classes included. Folders are only scanned.
pub fn describe(spec: &DataSpec, seed: u64) -> Result<(usize, usize, InputShape), DataError> {
    existing_dir(spec)?;
    spec.format.describe(spec, seed)
}

/// An out-of-distribution set at `dir` in the experiment's format (for a model of `classes`
/// classes), and the files left out as unreadable.
pub fn load_ood(
    spec: &DataSpec,
    dir: &Path,
    classes: usize,
) -> Result<(Images, Vec<(PathBuf, String)>), DataError> {
    spec.format.load_ood(spec, dir, classes)
}

/// The position among `known` of each of `names`, matched by name (class folders: WordNet ids);
/// when some are not there, how many and the first of them.
pub fn match_names<'a>(
    known: &[String],
    names: &'a [String],
) -> Result<Vec<usize>, (usize, &'a str)> {
    let index: std::collections::HashMap<&str, usize> = known
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut missing = names.iter().filter(|n| !index.contains_key(n.as_str()));
    if let Some(first) = missing.next() {
        return Err((1 + missing.count(), first.as_str()));
    }
    Ok(names.iter().map(|n| index[n.as_str()]).collect())
}

/// The first of `classes` classes that no label names (each label is below `classes`).
pub(crate) fn first_empty_class(
    labels: impl Iterator<Item = u32>,
    classes: usize,
) -> Option<usize> {
    let mut count = vec![0usize; classes];
    for l in labels {
        count[l as usize] += 1;
    }
    count.iter().position(|&n| n == 0)
}

/// A byte count for people: KiB, MiB or GiB with one decimal.
pub fn size_text(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}
