//! Data: the image sets dynunc trains on, how they are loaded, subset and augmented.

pub mod augment;
pub mod idx;
pub mod subset;

use std::path::PathBuf;

use thiserror::Error;

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 greyscale images, 10 classes.
    FashionMnist,
    /// MNIST, same layout.
    Mnist,
}

impl DatasetKind {
    /// Image geometry and number of classes.
    pub fn input_shape(self) -> crate::train::model::InputShape {
        match self {
            DatasetKind::FashionMnist | DatasetKind::Mnist => {
                crate::train::model::InputShape::MNIST
            }
        }
    }

    /// Class names, in label order.
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            DatasetKind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetKind::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// How to obtain the files, for error messages.
    pub fn install_hint(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => {
                "install them with `apt-get install dataset-fashion-mnist` (files under /usr/share/datasets/fashion-mnist), \
                 or download the four *-ubyte.gz files from the Fashion-MNIST repository (zalandoresearch/fashion-mnist) into a folder and set data.path to it"
            }
            DatasetKind::Mnist => {
                "download the four MNIST *-ubyte.gz files into a folder and set data.path to it"
            }
        }
    }
}

/// `data:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// Dataset.
    pub dataset: DatasetKind,
    /// Folder of the IDX files.
    pub path: PathBuf,
    /// Training subset size.
    pub subset: Option<usize>,
    /// Test subset size.
    pub test_subset: Option<usize>,
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
    pub train: ImageSet,
    /// Index of each training image in the full training file.
    pub train_source_index: Vec<usize>,
    /// Test images (after `test_subset`).
    pub test: ImageSet,
    /// Class names.
    pub class_names: Vec<String>,
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
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
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

/// Loads the training and test sets described by `spec`; subsets are drawn with `seed`.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
    if !spec.path.is_dir() {
        return Err(DataError::MissingDir {
            path: spec.path.display().to_string(),
            hint: spec.dataset.install_hint(),
        });
    }
    let hint = spec.dataset.install_hint();
    let train = idx::read_split(&spec.path, "train", hint)?;
    let test = idx::read_split(&spec.path, "t10k", hint)?;
    let pick = |set: ImageSet,
                n: Option<usize>,
                key,
                split|
     -> Result<(ImageSet, Vec<usize>), DataError> {
        match n {
            None => {
                let all = (0..set.len()).collect();
                Ok((set, all))
            }
            Some(n) if n > set.len() => Err(DataError::SubsetTooLarge {
                key,
                split,
                asked: n,
                have: set.len(),
            }),
            Some(n) => {
                let idx = subset::stratified(&set.labels, n, seed);
                Ok((set.take(&idx), idx))
            }
        }
    };
    let (train, train_source_index) = pick(train, spec.subset, "subset", "training")?;
    let (test, _) = pick(test, spec.test_subset, "test_subset", "test")?;
    Ok(Splits {
        train,
        train_source_index,
        test,
        class_names: spec.dataset.class_names(),
    })
}
