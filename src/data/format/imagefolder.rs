//! ImageFolder data: class folders of JPEG/PNG files under `data.path/train/` and `val/`
//! (ImageNet's layout), or file lists; RGB at `image_size`, decoded once and held, or streamed
//! from the files batch by batch ([`Loading`]).

use std::path::{Path, PathBuf};

use super::{Format, PublishedSize};
use crate::data::augment::Normalize;
use crate::data::folder::{self, BadImage};
use crate::data::loader::Streaming;
use crate::data::{
    DataError, DataSpec, FileSet, Images, InputShape, Splits, first_empty_class, subset_of,
};
use crate::options::{Declared, Opt, Options, Problems};

crate::choices! {
    /// How ImageFolder images are read.
    pub enum Loading {
        /// Memory when the decoded images fit in [`AUTO_MEMORY_BYTES`], otherwise streaming.
        Auto = "auto",
        /// Decode every image once and hold it.
        Memory = "memory",
        /// Decode each batch from its files while training, ahead of the trainer.
        Stream = "stream",
    }
}

/// Decoded size up to which `loader: auto` holds ImageFolder images in memory.
pub const AUTO_MEMORY_BYTES: u64 = 8 << 30;

/// `image_size`.
pub static IMAGE_SIZE: Opt<usize> = Opt {
    name: "image_size",
    doc: "side of the square images (decoded, resized, centre-cropped); default 224",
    default: || 224,
};
/// `train_list`.
pub static TRAIN_LIST: Opt<Option<String>> = Opt {
    name: "train_list",
    doc: "training file list (`path label` per line, relative to `path/train`) instead of its class folders",
    default: || None,
};
/// `val_list`.
pub static VAL_LIST: Opt<Option<String>> = Opt {
    name: "val_list",
    doc: "validation file list (relative to `path/val`)",
    default: || None,
};
/// `val_path`.
pub static VAL_PATH: Opt<Option<String>> = Opt {
    name: "val_path",
    doc: "validation class folders elsewhere than `path/val`; their classes may be a subset of the training classes, matched by folder name (ImageNet-21K evaluated on ImageNet-1K's val/, as the authors' WordNet-id mapping): the model is then evaluated on those classes' outputs only",
    default: || None,
};
/// `on_bad_image`.
pub static ON_BAD_IMAGE: Opt<BadImage> = Opt {
    name: "on_bad_image",
    doc: "`error` (default) or `skip` an unreadable image",
    default: || BadImage::Error,
};
/// `interpolation`.
pub static INTERPOLATION: Opt<folder::Interpolation> = Opt {
    name: "interpolation",
    doc: "`bilinear` (default) or `bicubic` (the official Swin/ConvNeXt configs) resizing",
    default: || folder::Interpolation::Bilinear,
};
/// `eval_crop`.
pub static EVAL_CROP: Opt<f64> = Opt {
    name: "eval_crop",
    doc: "validation images: the centre crop's share of the resized short side; default 0.875 (short side 256 for 224); the authors' code: 1.0",
    default: || 0.875,
};
/// `loader`.
pub static LOADER: Opt<Loading> = Opt {
    name: "loader",
    doc: "`memory` (decode every image once, hold them), `stream` (decode each batch from its files while training, with prefetch) or `auto` (default: memory when the decoded images take at most 8 GiB)",
    default: || Loading::Auto,
};
/// `workers`.
pub static WORKERS: Opt<usize> = Opt {
    name: "workers",
    doc: "streaming: decode threads; default all cores",
    default: || Streaming::default().workers,
};
/// `prefetch`.
pub static PREFETCH: Opt<usize> = Opt {
    name: "prefetch",
    doc: "streaming: batches decoded ahead of training; default 4",
    default: || Streaming::default().prefetch,
};

/// `expected_images`.
pub static EXPECTED_IMAGES: Opt<Option<usize>> = Opt {
    name: "expected_images",
    doc: "the training images the published dataset has (ImageNet-1K: 1281167), for `--dry-run` without the data; the dry run with the data says when the folder holds another count",
    default: || None,
};
/// `expected_classes`.
pub static EXPECTED_CLASSES: Opt<Option<usize>> = Opt {
    name: "expected_classes",
    doc: "its classes (ImageNet-1K: 1000), as `expected_images`",
    default: || None,
};

/// The ImageFolder format.
#[derive(Debug, Clone, Copy)]
pub struct ImageFolder;

/// The settings of ImageFolder data, read from its options.
struct Settings {
    image_size: usize,
    train_list: Option<PathBuf>,
    val_list: Option<PathBuf>,
    val_path: Option<PathBuf>,
    on_bad_image: BadImage,
    interpolation: folder::Interpolation,
    eval_crop: f64,
    loader: Loading,
    streaming: Streaming,
}

impl Settings {
    fn of(spec: &DataSpec) -> Settings {
        let o = &spec.options;
        Settings {
            image_size: IMAGE_SIZE.get(o),
            train_list: TRAIN_LIST.get(o).map(PathBuf::from),
            val_list: VAL_LIST.get(o).map(PathBuf::from),
            val_path: VAL_PATH.get(o).map(PathBuf::from),
            on_bad_image: ON_BAD_IMAGE.get(o),
            interpolation: INTERPOLATION.get(o),
            eval_crop: EVAL_CROP.get(o),
            loader: LOADER.get(o),
            streaming: Streaming {
                workers: WORKERS.get(o),
                prefetch: PREFETCH.get(o),
            },
        }
    }
}

impl Format for ImageFolder {
    fn name(&self) -> &'static str {
        "imagefolder"
    }

    fn options(&self) -> &'static [&'static dyn Declared] {
        static LIST: &[&dyn Declared] = &[
            &IMAGE_SIZE,
            &TRAIN_LIST,
            &VAL_LIST,
            &VAL_PATH,
            &ON_BAD_IMAGE,
            &INTERPOLATION,
            &EVAL_CROP,
            &LOADER,
            &WORKERS,
            &PREFETCH,
            &EXPECTED_IMAGES,
            &EXPECTED_CLASSES,
        ];
        LIST
    }

    // How images are read, and what the published dataset holds, do not change results.
    fn unpinned(&self) -> &'static [&'static str] {
        &[
            "loader",
            "workers",
            "prefetch",
            "expected_images",
            "expected_classes",
        ]
    }

    fn streams(&self, options: &Options) -> bool {
        LOADER.get(options) == Loading::Stream
    }

    fn published_size(&self, options: &Options) -> Option<PublishedSize> {
        Some(PublishedSize {
            train: EXPECTED_IMAGES.get(options)?,
            test: None,
            classes: EXPECTED_CLASSES.get(options)?,
        })
    }

    fn check(&self, options: &Options, at: &str, p: &mut Problems) {
        let size = IMAGE_SIZE.get(options);
        if size < 8 {
            p.fail(
                &format!("{at}.image_size"),
                format!("{size}: give at least 8 pixels"),
            );
        }
        for (key, list) in [
            ("train_list", TRAIN_LIST.get(options)),
            ("val_list", VAL_LIST.get(options)),
        ] {
            if let Some(l) = list
                && !Path::new(&l).is_file()
            {
                p.missing(&format!("{at}.{key}"), format!("{l} is not a file"));
            }
        }
        if let Some(v) = VAL_PATH.get(options)
            && !Path::new(&v).is_dir()
        {
            p.missing(
                &format!("{at}.val_path"),
                format!("{v} is not a folder; give the validation split's class folders"),
            );
        }
        let crop = EVAL_CROP.get(options);
        if !(crop > 0.0 && crop <= 1.0) {
            p.fail(
                &format!("{at}.eval_crop"),
                format!("{crop}: give the crop's share of the short side, in (0, 1] (0.875 standard, 1.0 the authors')"),
            );
        }
        if EXPECTED_IMAGES.get(options).is_some() != EXPECTED_CLASSES.get(options).is_some() {
            p.fail(
                &format!("{at}.expected_images"),
                "give expected_images and expected_classes together (or neither)",
            );
        }
        let counts = [
            (WORKERS.name, WORKERS.given(options)),
            (PREFETCH.name, PREFETCH.given(options)),
            (EXPECTED_IMAGES.name, EXPECTED_IMAGES.get(options)),
            (EXPECTED_CLASSES.name, EXPECTED_CLASSES.get(options)),
        ];
        for (name, _) in counts.iter().filter(|(_, v)| *v == Some(0)) {
            p.fail(&format!("{at}.{name}"), "0: give at least 1");
        }
    }

    fn input_shape(&self, options: &Options) -> InputShape {
        let side = IMAGE_SIZE.get(options);
        InputShape {
            channels: 3,
            height: side,
            width: side,
            classes: 0,
        }
    }

    fn install_hint(&self) -> &'static str {
        folder::FOLDER_HINT
    }

    fn ood_hint(&self) -> &'static str {
        "give a folder of JPEG/PNG images (any depth)"
    }

    fn has_real_labels(&self) -> bool {
        true
    }

    fn load(&self, spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
        load_folder(spec, &Settings::of(spec), seed)
    }

    /// ImageFolder data is only scanned, not decoded.
    fn describe(
        &self,
        spec: &DataSpec,
        _seed: u64,
    ) -> Result<(usize, usize, InputShape), DataError> {
        let set = Settings::of(spec);
        let FolderEntries {
            train,
            val,
            classes,
            ..
        } = folder_entries(spec, &set)?;
        let n = |all: usize, subset: Option<usize>| subset.map_or(all, |s| s.min(all));
        Ok((
            n(train.len(), spec.subset),
            n(val.len(), spec.test_subset),
            InputShape {
                classes,
                ..self.input_shape(&spec.options)
            },
        ))
    }

    fn holding(&self, spec: &DataSpec, images: usize) -> Result<Option<String>, DataError> {
        let set = Settings::of(spec);
        let bytes = (images * set.image_size * set.image_size * 3) as u64;
        Ok(Some(match streams(&set, images)? {
            false => format!(
                "images: decoded once and held in memory ({})",
                crate::data::size_text(bytes)
            ),
            true => format!(
                "images: streamed from their files, {} decode threads, {} batches prefetched (decoded they would take {})",
                set.streaming.workers,
                set.streaming.prefetch,
                crate::data::size_text(bytes)
            ),
        }))
    }

    /// Every JPEG/PNG under `dir` (any depth), brought to the training images' size like the
    /// test images, held or streamed by the same rule; unreadable files are skipped or an
    /// error as for the training data.
    fn load_ood(
        &self,
        spec: &DataSpec,
        dir: &Path,
        classes: usize,
    ) -> Result<(Images, Vec<(PathBuf, String)>), DataError> {
        let set = Settings::of(spec);
        let entries = folder::scan_all(dir)?;
        if entries.is_empty() {
            return Err(DataError::Corrupt {
                path: dir.display().to_string(),
                what: "no JPEG or PNG files under it".into(),
            });
        }
        let stream = streams(&set, entries.len())?;
        let resize = folder::Resize::eval(set.image_size, set.eval_crop, set.interpolation);
        let (images, bad) = open_files(&set, entries, resize, classes, stream)?;
        Ok((
            images,
            bad.into_iter().map(|(e, why)| (e.path, why)).collect(),
        ))
    }

    /// ImageNet's statistics, as the reference recipes do.
    fn normalisation(&self, _splits: &Splits) -> Normalize {
        Normalize::IMAGENET
    }
}

/// Decoded images held in memory above which loading stops with advice instead of paging.
const MAX_DECODED_BYTES: u64 = 48 << 30;

/// The files of ImageFolder data, before subsets and decoding.
struct FolderEntries {
    train: Vec<folder::Entry>,
    val: Vec<folder::Entry>,
    /// Class folder names (empty with file lists).
    names: Vec<String>,
    classes: usize,
    /// The training class of each validation class, when validation has fewer (`val_path`).
    val_columns: Vec<u32>,
}

/// The training and validation files of ImageFolder data (class folders or lists).
fn folder_entries(spec: &DataSpec, set: &Settings) -> Result<FolderEntries, DataError> {
    let split = |list: &Option<PathBuf>,
                 base: PathBuf|
     -> Result<(Vec<folder::Entry>, Vec<String>), DataError> {
        match list {
            Some(l) => Ok((folder::read_list(l, &base)?, Vec::new())),
            None => folder::scan(&base),
        }
    };
    let (train, names) = split(&set.train_list, spec.path.join("train"))?;
    let val_dir = set
        .val_path
        .clone()
        .unwrap_or_else(|| spec.path.join("val"));
    let (val, val_names) = split(&set.val_list, val_dir.clone())?;
    let val_columns = match names.is_empty() || val_names.is_empty() || names == val_names {
        true => Vec::new(),
        false => matched_columns(&names, &val_names, &val_dir, set.val_path.is_some())?,
    };
    // A training list names its classes by their files' folders, where that is unambiguous.
    let names = match names.is_empty() {
        true => folder::names_from_folders(&train).unwrap_or_default(),
        false => names,
    };
    let classes = train
        .iter()
        .chain(if val_columns.is_empty() {
            &val[..]
        } else {
            &[]
        })
        .map(|e| e.label as usize + 1)
        .max()
        .unwrap_or(0);
    // Every class needs training images: a class only the validation split (or a list) names
    // would be scored, but never learnt.
    if let Some(c) = first_empty_class(train.iter().map(|e| e.label), classes) {
        let name = names.get(c).map_or(String::new(), |n| format!(" (`{n}`)"));
        return Err(DataError::Invalid {
            path: set
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
        val_columns,
    })
}

/// For validation class folders that differ from the training ones: the training class of
/// each validation class, matched by name, when `val_path` allows a subset.
fn matched_columns(
    names: &[String],
    val_names: &[String],
    val_dir: &Path,
    subset_allowed: bool,
) -> Result<Vec<u32>, DataError> {
    let path = val_dir.display().to_string();
    let columns = match crate::data::match_names(names, val_names) {
        Ok(columns) => columns,
        Err((missing, first)) => {
            let hint = match first {
                // data/build_produce.py:36 of the authors' code: 21841 + n04399382 classes.
                "n04399382" => {
                    "; ImageNet-21K's Fall 2011 release lacks ImageNet-1K's n04399382 (teddy bear): the authors add it to the 21K training classes (21,841 + 1), copy ImageNet-1K's train/n04399382 there"
                }
                _ => "",
            };
            return Err(DataError::Invalid {
                path,
                what: format!(
                    "{missing} of its {} class folders are not training classes (the first: `{first}`){hint}; validation classes must be training classes, matched by folder name",
                    val_names.len()
                ),
            });
        }
    };
    if !subset_allowed {
        return Err(DataError::Invalid {
            path,
            what: format!(
                "its {} class folders differ from the {} of train/; give both splits the same classes, or, to evaluate on a subset of the classes (ImageNet-21K on ImageNet-1K's validation set), name the folder in data.val_path",
                val_names.len(),
                names.len()
            ),
        });
    }
    Ok(columns.into_iter().map(|c| c as u32).collect())
}

/// Whether `images` ImageFolder images are streamed from their files rather than decoded
/// into memory (`data.loader`).
fn streams(set: &Settings, images: usize) -> Result<bool, DataError> {
    let bytes = (images * set.image_size * set.image_size * 3) as u64;
    match set.loader {
        Loading::Auto => Ok(bytes > AUTO_MEMORY_BYTES),
        Loading::Stream => Ok(true),
        Loading::Memory if bytes > MAX_DECODED_BYTES => Err(DataError::TooLarge {
            images,
            size: set.image_size,
            gib: bytes as f64 / (1u64 << 30) as f64,
        }),
        Loading::Memory => Ok(false),
    }
}

/// Image files as a set: decoded now, or only checked and streamed later. Unreadable files
/// are an error or skipped (`data.on_bad_image`), and returned.
type Opened = (Images, folder::Skipped);
fn open_files(
    set: &Settings,
    entries: Vec<folder::Entry>,
    resize: folder::Resize,
    classes: usize,
    stream: bool,
) -> Result<Opened, DataError> {
    if stream {
        let (ok, skipped) = folder::check(entries, set.on_bad_image)?;
        let files = FileSet::new(&ok, resize, classes, set.streaming);
        Ok((Images::Files(files), skipped))
    } else {
        let (decoded, skipped) = folder::decode(&entries, resize, classes, set.on_bad_image)?;
        Ok((Images::Memory(decoded), skipped))
    }
}

/// ImageFolder data: the file lists are subset first, so only the chosen images are decoded.
fn load_folder(spec: &DataSpec, set: &Settings, seed: u64) -> Result<Splits, DataError> {
    let FolderEntries {
        train: train_entries,
        val: val_entries,
        names,
        classes,
        val_columns,
    } = folder_entries(spec, set)?;
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
    let stream = streams(set, train_pick.len() + test_pick.len())?;
    let chosen = |all: &[folder::Entry], pick: &[usize]| -> Vec<folder::Entry> {
        pick.iter().map(|&i| all[i].clone()).collect()
    };
    let read = |entries, resize, classes| open_files(set, entries, resize, classes, stream);
    let (train, skip_train) = read(
        chosen(&train_entries, &train_pick),
        folder::Resize::train(set.image_size, set.interpolation),
        classes,
    )?;
    let test_classes = match val_columns.len() {
        0 => classes,
        n => n,
    };
    let (test, skip_val) = read(
        chosen(&val_entries, &test_pick),
        folder::Resize::eval(set.image_size, set.eval_crop, set.interpolation),
        test_classes,
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
        class_names: if names.len() != classes {
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
        test_columns: val_columns,
    })
}
