//! Dataset formats: the [`Format`] trait and the registry of every format `data.dataset`
//! names. Adding a format is two files: `src/data/format/<name>.rs` with a type implementing
//! [`Format`] (its own `data:` keys, checks, loading), and one line in [`FORMATS`].

pub mod cifar;
pub mod idx;
pub mod imagefolder;

use std::path::Path;

use super::augment::Normalize;
use super::{DataError, DataSpec, Images, InputShape, Splits};
use crate::options::{Declared, Options, Problems};

/// What a published dataset holds, as a plan without its files uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedSize {
    /// Training images.
    pub train: usize,
    /// Test images, where known.
    pub test: Option<usize>,
    /// Classes.
    pub classes: usize,
}

/// Every format, in the order help lists them.
pub static FORMATS: &[&dyn Format] = &[
    &idx::FASHION_MNIST,
    &idx::MNIST,
    &idx::IDX,
    &imagefolder::ImageFolder,
    &cifar::CIFAR10,
    &cifar::CIFAR100,
];

/// A dataset format: how `data.path` is laid out, which keys of `data:` it reads beyond the
/// common ones, and how its images load.
pub trait Format: Sync {
    /// The `data.dataset` value.
    fn name(&self) -> &'static str;

    /// The keys of `data:` it reads beyond `dataset`, `path`, `subset` and `test_subset`.
    fn options(&self) -> &'static [&'static dyn Declared] {
        &[]
    }

    /// Of [`Format::options`], those that do not change results (how images are read), left
    /// out of the resolved experiment.
    fn unpinned(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks its options (their types are checked already); problems go under `at`.
    fn check(&self, _options: &Options, _at: &str, _p: &mut Problems) {}

    /// The images' geometry as the options give it (`classes` 0 when only the files say).
    fn input_shape(&self, options: &Options) -> InputShape;

    /// How to obtain the data, for the message when `data.path` is missing.
    fn install_hint(&self) -> &'static str;

    /// Whether its training images are always decoded from their files as batches are read
    /// (as its options say), so that a crop can be taken from each whole file.
    fn streams(&self, _options: &Options) -> bool {
        false
    }

    /// The published dataset's size, for a dry run without the data (`None`: unknown).
    fn published_size(&self, _options: &Options) -> Option<PublishedSize> {
        None
    }

    /// The official files, for `dynunc data download` (`None`: dynunc does not fetch it).
    fn download(&self) -> Option<&super::download::Download> {
        None
    }

    /// What `evaluation.ood[].path` must be for this format, for the message when it is not.
    fn ood_hint(&self) -> &'static str;

    /// Whether its test split can be ImageNet's validation set, which ImageNet-ReaL labels.
    fn has_real_labels(&self) -> bool {
        false
    }

    /// Loads the training and test sets (`spec.path` exists); subsets drawn with `seed`.
    fn load(&self, spec: &DataSpec, seed: u64) -> Result<Splits, DataError>;

    /// Training and test images and the input shape, as a dry run needs them (default: load).
    fn describe(
        &self,
        spec: &DataSpec,
        seed: u64,
    ) -> Result<(usize, usize, InputShape), DataError> {
        let s = self.load(spec, seed)?;
        let (channels, height, width) = s.train.shape();
        let shape = InputShape {
            channels,
            height,
            width,
            classes: s.train.classes().max(s.test.classes()),
        };
        Ok((s.train.len(), s.test.len(), shape))
    }

    /// How `images` images would be held, for the dry run; `None` when always in memory.
    fn holding(&self, _spec: &DataSpec, _images: usize) -> Result<Option<String>, DataError> {
        Ok(None)
    }

    /// An out-of-distribution set at `dir` for a model of `classes` classes, and the files
    /// left out as unreadable.
    fn load_ood(
        &self,
        spec: &DataSpec,
        dir: &Path,
        classes: usize,
    ) -> Result<(Images, Vec<(std::path::PathBuf, String)>), DataError>;

    /// The input normalisation (default: the training images' own statistics).
    fn normalisation(&self, splits: &Splits) -> Normalize {
        splits
            .train
            .in_memory()
            .map_or(Normalize::IMAGENET, Normalize::fit)
    }
}

impl std::fmt::Debug for dyn Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for dyn Format {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// The format called `name`, or a message listing them.
pub fn find(name: &str) -> Result<&'static dyn Format, String> {
    FORMATS
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| format!("`{name}` is not one of: {}", names().join(", ")))
}

/// Every format's name.
pub fn names() -> Vec<&'static str> {
    FORMATS.iter().map(|f| f.name()).collect()
}
