//! Data: the image sets dynunc trains on, how they are loaded, subset and augmented.

pub mod augment;
pub mod folder;
pub mod idx;
pub mod images;
pub mod loader;
pub mod subset;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use images::{FileSet, Images};

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 greyscale images, 10 classes.
    FashionMnist,
    /// MNIST, same layout.
    Mnist,
    /// Any dataset in the MNIST file layout (`train-` / `t10k-` IDX files); the classes are
    /// those the training labels hold.
    Idx,
    /// Class folders of JPEG/PNG files under `train/` and `val/` (ImageNet's layout), or file
    /// lists; RGB at `image_size`.
    ImageFolder,
}

impl DatasetKind {
    /// Image geometry (classes 0 for ImageFolder: known once the folders are read).
    pub fn input_shape(self, image_size: usize) -> crate::train::model::InputShape {
        match self {
            DatasetKind::FashionMnist | DatasetKind::Mnist | DatasetKind::Idx => {
                crate::train::model::InputShape::MNIST
            }
            DatasetKind::ImageFolder => crate::train::model::InputShape {
                channels: 3,
                height: image_size,
                width: image_size,
                classes: 0,
            },
        }
    }

    /// Class names, in label order; their number is the class count the dataset declares
    /// (none for `idx` and ImageFolder: ImageFolder's are the folder names, see [`Splits`]).
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
            DatasetKind::Idx | DatasetKind::ImageFolder => &[],
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
            DatasetKind::Idx => {
                "put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz) into a folder and set data.path to it"
            }
            DatasetKind::ImageFolder => folder::FOLDER_HINT,
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
    /// ImageFolder: side of the square images (decoded, resized, centre-cropped).
    pub image_size: usize,
    /// ImageFolder: training file list instead of the class folders of `path/train`.
    pub train_list: Option<PathBuf>,
    /// ImageFolder: validation file list instead of the class folders of `path/val`.
    pub val_list: Option<PathBuf>,
    /// ImageFolder: what to do with an unreadable image.
    pub on_bad_image: folder::BadImage,
    /// ImageFolder: hold the decoded images in memory or stream them from their files.
    pub loader: Loading,
    /// ImageFolder streaming: decode threads and prefetch depth.
    pub streaming: loader::Streaming,
}

/// How ImageFolder images are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    /// Memory when the decoded images fit in [`AUTO_MEMORY_BYTES`], otherwise streaming.
    Auto,
    /// Decode every image once and hold it.
    Memory,
    /// Decode each batch from its files while training, ahead of the trainer.
    Stream,
}

/// Decoded size up to which `loader: auto` holds ImageFolder images in memory.
pub const AUTO_MEMORY_BYTES: u64 = 8 << 30;

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
fn subset_of(
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

/// Loads the training and test sets described by `spec`; subsets are drawn with `seed`.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
    if !spec.path.is_dir() {
        return Err(DataError::MissingDir {
            path: spec.path.display().to_string(),
            hint: spec.dataset.install_hint(),
        });
    }
    if spec.dataset == DatasetKind::ImageFolder {
        return load_folder(spec, seed);
    }
    let hint = spec.dataset.install_hint();
    let mut train = idx::read_split(&spec.path, "train", hint)?;
    let mut test = idx::read_split(&spec.path, "t10k", hint)?;
    let declared = spec.dataset.class_names().len();
    check_idx_splits(&spec.path, &mut train, &mut test, declared)?;
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
        class_names: spec.dataset.class_names(),
        train_files: Vec::new(),
        test_name_rank: Vec::new(),
        skipped: Vec::new(),
    })
}

/// The first of `classes` classes that no label names (each label is below `classes`).
fn first_empty_class(labels: impl Iterator<Item = u32>, classes: usize) -> Option<usize> {
    let mut count = vec![0usize; classes];
    for l in labels {
        count[l as usize] += 1;
    }
    count.iter().position(|&n| n == 0)
}

/// Checks IDX splits before anything trains on them: neither empty, labels inside the
/// dataset's declared classes (`declared`, 0 when it declares none), every class present in
/// training, the test images of the training shape; sets both splits' class count to the
/// declared one.
fn check_idx_splits(
    dir: &Path,
    train: &mut ImageSet,
    test: &mut ImageSet,
    declared: usize,
) -> Result<(), DataError> {
    let file = |split: &str| {
        dir.join(format!("{split}-labels-idx1-ubyte[.gz]"))
            .display()
            .to_string()
    };
    let corrupt = |split: &str, what: String| DataError::Invalid {
        path: file(split),
        what,
    };
    for (split, set) in [("train", &*train), ("t10k", &*test)] {
        if set.is_empty() {
            return Err(corrupt(
                split,
                "it holds no images; a split needs at least one (download the files again)".into(),
            ));
        }
        if declared > 0
            && let Some((i, &l)) = set
                .labels
                .iter()
                .enumerate()
                .find(|(_, l)| **l as usize >= declared)
        {
            return Err(corrupt(
                split,
                format!(
                    "label {l} of image {i} is outside this dataset's {declared} classes (0..={}); the file is damaged (download it again) or holds another dataset (set data.dataset: idx)",
                    declared - 1
                ),
            ));
        }
    }
    let classes = declared.max(train.classes).max(test.classes);
    if let Some(missing) = first_empty_class(train.labels.iter().copied(), classes) {
        return Err(corrupt(
            "train",
            format!(
                "class {missing} has no training image (of {classes} classes); a class the model never sees cannot be learnt: use the complete training files"
            ),
        ));
    }
    if (test.height, test.width, test.channels) != (train.height, train.width, train.channels) {
        return Err(DataError::Invalid {
            path: dir
                .join("t10k-images-idx3-ubyte[.gz]")
                .display()
                .to_string(),
            what: format!(
                "test images are {}x{}x{} but training images are {}x{}x{}; both splits need one image shape",
                test.height, test.width, test.channels, train.height, train.width, train.channels
            ),
        });
    }
    train.classes = classes;
    test.classes = classes;
    Ok(())
}

/// What a dry run needs to know of the data: training and test images, classes, and the
/// shape the images have (or will have once decoded). ImageFolder data is only scanned.
pub fn describe(spec: &DataSpec, seed: u64) -> Result<(usize, usize, InputShapeOf), DataError> {
    if spec.dataset != DatasetKind::ImageFolder {
        let s = load(spec, seed)?;
        let (channels, height, width) = s.train.shape();
        let shape = InputShapeOf {
            channels,
            height,
            width,
            classes: s.train.classes().max(s.test.classes()),
        };
        return Ok((s.train.len(), s.test.len(), shape));
    }
    if !spec.path.is_dir() {
        return Err(DataError::MissingDir {
            path: spec.path.display().to_string(),
            hint: spec.dataset.install_hint(),
        });
    }
    let FolderEntries {
        train,
        val,
        classes,
        ..
    } = folder_entries(spec)?;
    let n = |all: usize, subset: Option<usize>| subset.map_or(all, |s| s.min(all));
    Ok((
        n(train.len(), spec.subset),
        n(val.len(), spec.test_subset),
        InputShapeOf {
            channels: 3,
            height: spec.image_size,
            width: spec.image_size,
            classes,
        },
    ))
}

/// The input geometry of a dataset (the model zoo's `InputShape`).
pub type InputShapeOf = crate::train::model::InputShape;

/// Decoded images held in memory above which loading stops with advice instead of paging.
const MAX_DECODED_BYTES: u64 = 48 << 30;

/// The files of ImageFolder data, before subsets and decoding.
struct FolderEntries {
    train: Vec<folder::Entry>,
    val: Vec<folder::Entry>,
    /// Class folder names (empty with file lists).
    names: Vec<String>,
    classes: usize,
}

/// The training and validation files of ImageFolder data (class folders or lists).
fn folder_entries(spec: &DataSpec) -> Result<FolderEntries, DataError> {
    let split = |list: &Option<PathBuf>,
                 sub: &str|
     -> Result<(Vec<folder::Entry>, Vec<String>), DataError> {
        let base = spec.path.join(sub);
        match list {
            Some(l) => Ok((folder::read_list(l, &base)?, Vec::new())),
            None => folder::scan(&base),
        }
    };
    let (train, names) = split(&spec.train_list, "train")?;
    let (val, val_names) = split(&spec.val_list, "val")?;
    if !names.is_empty() && !val_names.is_empty() && names != val_names {
        return Err(DataError::Corrupt {
            path: spec.path.join("val").display().to_string(),
            what: format!(
                "its {} class folders differ from the {} of train/; both splits need the same classes",
                val_names.len(),
                names.len()
            ),
        });
    }
    let classes = train
        .iter()
        .chain(&val)
        .map(|e| e.label as usize + 1)
        .max()
        .unwrap_or(0);
    // Every class needs training images: a class only the validation split (or a list) names
    // would be scored, but never learnt.
    if let Some(c) = first_empty_class(train.iter().map(|e| e.label), classes) {
        let name = names.get(c).map_or(String::new(), |n| format!(" (`{n}`)"));
        return Err(DataError::Invalid {
            path: spec
                .train_list
                .clone()
                .unwrap_or_else(|| spec.path.join("train"))
                .display()
                .to_string(),
            what: format!(
                "class {c}{name} has no training image, though the data has {classes} classes; give every class training images (or drop the class from the validation split)"
            ),
        });
    }
    Ok(FolderEntries {
        train,
        val,
        names,
        classes,
    })
}

/// Whether `images` ImageFolder images are streamed from their files rather than decoded
/// into memory (`data.loader`).
pub fn streams(spec: &DataSpec, images: usize) -> Result<bool, DataError> {
    let bytes = (images * spec.image_size * spec.image_size * 3) as u64;
    match spec.loader {
        Loading::Auto => Ok(bytes > AUTO_MEMORY_BYTES),
        Loading::Stream => Ok(true),
        Loading::Memory if bytes > MAX_DECODED_BYTES => Err(DataError::TooLarge {
            images,
            size: spec.image_size,
            gib: bytes as f64 / (1u64 << 30) as f64,
        }),
        Loading::Memory => Ok(false),
    }
}

/// Image files as a set: decoded now, or only checked and streamed later. Unreadable files
/// are an error or skipped (`data.on_bad_image`), and returned.
type Opened = (Images, folder::Skipped);
fn open_files(
    spec: &DataSpec,
    entries: Vec<folder::Entry>,
    resize: folder::Resize,
    classes: usize,
    stream: bool,
) -> Result<Opened, DataError> {
    if stream {
        let (ok, skipped) = folder::check(entries, spec.on_bad_image)?;
        let files = FileSet::new(&ok, resize, classes, spec.streaming);
        Ok((Images::Files(files), skipped))
    } else {
        let (set, skipped) = folder::decode(&entries, resize, classes, spec.on_bad_image)?;
        Ok((Images::Memory(set), skipped))
    }
}

/// An out-of-distribution set for ImageFolder experiments: every JPEG/PNG under `dir` (any
/// depth), brought to the training images' size like the test images, held or streamed by
/// the same rule; unreadable files are skipped or an error as for the training data.
pub fn load_ood_folder(
    spec: &DataSpec,
    dir: &std::path::Path,
    classes: usize,
) -> Result<Opened, DataError> {
    let entries = folder::scan_all(dir)?;
    if entries.is_empty() {
        return Err(DataError::Corrupt {
            path: dir.display().to_string(),
            what: "no JPEG or PNG files under it".into(),
        });
    }
    let stream = streams(spec, entries.len())?;
    let resize = folder::Resize::eval(spec.image_size);
    open_files(spec, entries, resize, classes, stream)
}

/// ImageFolder data: the file lists are subset first, so only the chosen images are decoded.
fn load_folder(spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
    let FolderEntries {
        train: train_entries,
        val: val_entries,
        names,
        classes,
    } = folder_entries(spec)?;
    let labels = |e: &[folder::Entry]| e.iter().map(|e| e.label).collect::<Vec<_>>();
    let train_pick = subset_of(
        &labels(&train_entries),
        spec.subset,
        seed,
        "subset",
        "training",
    )?;
    let test_pick = subset_of(
        &labels(&val_entries),
        spec.test_subset,
        seed,
        "test_subset",
        "test",
    )?;
    let stream = streams(spec, train_pick.len() + test_pick.len())?;
    let chosen = |all: &[folder::Entry], pick: &[usize]| -> Vec<folder::Entry> {
        pick.iter().map(|&i| all[i].clone()).collect()
    };
    let read = |entries, resize| open_files(spec, entries, resize, classes, stream);
    let (train, skip_train) = read(
        chosen(&train_entries, &train_pick),
        folder::Resize::train(spec.image_size),
    )?;
    let (test, skip_val) = read(
        chosen(&val_entries, &test_pick),
        folder::Resize::eval(spec.image_size),
    )?;
    let bad: std::collections::HashSet<PathBuf> = skip_train
        .iter()
        .chain(&skip_val)
        .map(|(e, _)| e.path.clone())
        .collect();
    let decoded = |all: &[folder::Entry], pick: &[usize]| -> Vec<usize> {
        pick.iter()
            .copied()
            .filter(|&i| !bad.contains(&all[i].path))
            .collect()
    };
    // real.json is in validation-file-name order: each test image's rank in that order.
    let mut by_name: Vec<(std::ffi::OsString, usize)> = val_entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.file_name().unwrap_or_default().to_owned(), i))
        .collect();
    by_name.sort();
    let mut rank = vec![0; val_entries.len()];
    for (r, (_, i)) in by_name.iter().enumerate() {
        rank[*i] = r;
    }
    Ok(Splits {
        train,
        train_source_index: decoded(&train_entries, &train_pick),
        test,
        class_names: if names.is_empty() {
            (0..classes).map(|c| c.to_string()).collect()
        } else {
            names
        },
        train_files: train_entries.iter().map(|e| e.path.clone()).collect(),
        test_name_rank: decoded(&val_entries, &test_pick)
            .into_iter()
            .map(|i| rank[i])
            .collect(),
        skipped: skip_train
            .into_iter()
            .chain(skip_val)
            .map(|(e, why)| (e.path, why))
            .collect(),
    })
}
