//! CIFAR-10 and CIFAR-100 (Krizhevsky 2009) in their binary distribution: `data.path` is the
//! extracted `cifar-10-batches-bin/` (`data_batch_1.bin` .. `data_batch_5.bin`,
//! `test_batch.bin`, `batches.meta.txt`) or `cifar-100-binary/` (`train.bin`, `test.bin`,
//! `fine_label_names.txt`). A record is the label byte(s) (CIFAR-100: coarse, then fine; the
//! fine label is the class) and 3,072 bytes of a 32x32 image, plane by plane (red, green,
//! blue), row-major; images are stored HWC as every other format's.

use std::path::{Path, PathBuf};

use super::{Format, PublishedSize};
use crate::data::download::{Download, Remote, Unpack};
use crate::data::{DataError, DataSpec, ImageSet, Images, InputShape, Splits, first_empty_class};
use crate::options::Options;

/// Side of a CIFAR image.
const SIDE: usize = 32;
/// Bytes of one image (three 32x32 planes).
const PIXELS: usize = 3 * SIDE * SIDE;

/// A CIFAR variant: its files and label layout.
#[derive(Debug)]
pub struct Cifar {
    name: &'static str,
    classes: usize,
    /// Label bytes before each image; the last is the class.
    label_bytes: usize,
    train: &'static [&'static str],
    test: &'static str,
    /// File of the class names, one per line.
    names: &'static str,
    hint: &'static str,
    /// The official binary archive (`dynunc data download`).
    download: Download,
}

/// CIFAR-10: 50,000 + 10,000 32x32 colour images, 10 classes.
pub static CIFAR10: Cifar = Cifar {
    name: "cifar10",
    classes: 10,
    label_bytes: 1,
    train: &[
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ],
    test: "test_batch.bin",
    names: "batches.meta.txt",
    hint: "run `dynunc data download cifar10 --to DIR` and set data.path to DIR/cifar-10-batches-bin (or download the binary version, cifar-10-binary.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html and extract it)",
    download: Download {
        files: &[Remote {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            md5: "c32a1d4ab5d03f1284b67883e8d87530",
        }],
        unpack: Unpack::TarGz {
            folder: "cifar-10-batches-bin",
        },
        page: "https://www.cs.toronto.edu/~kriz/cifar.html",
    },
};

/// CIFAR-100: 50,000 + 10,000 32x32 colour images, 100 fine classes.
pub static CIFAR100: Cifar = Cifar {
    name: "cifar100",
    classes: 100,
    label_bytes: 2,
    train: &["train.bin"],
    test: "test.bin",
    names: "fine_label_names.txt",
    hint: "run `dynunc data download cifar100 --to DIR` and set data.path to DIR/cifar-100-binary (or download the binary version, cifar-100-binary.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html and extract it)",
    download: Download {
        files: &[Remote {
            url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
            md5: "03b5dce01913d631647c71ecec9e9cb8",
        }],
        unpack: Unpack::TarGz {
            folder: "cifar-100-binary",
        },
        page: "https://www.cs.toronto.edu/~kriz/cifar.html",
    },
};

impl Cifar {
    /// The records of `files` in `dir`, in order, as one HWC image set.
    fn read(&self, dir: &Path, files: &[&str]) -> Result<ImageSet, DataError> {
        let record = self.label_bytes + PIXELS;
        let mut set = ImageSet {
            pixels: Vec::new(),
            labels: Vec::new(),
            height: SIDE,
            width: SIDE,
            channels: 3,
            classes: self.classes,
        };
        for name in files {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(DataError::Invalid {
                    path: path.display().to_string(),
                    what: format!("missing: {}", self.hint),
                });
            }
            let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
                path: path.display().to_string(),
                source,
            })?;
            if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
                return Err(DataError::Invalid {
                    path: path.display().to_string(),
                    what: format!(
                        "{} bytes is not a whole number of {record}-byte {} records; the file is damaged or of the other CIFAR: download it again, or set data.dataset to the other one",
                        bytes.len(),
                        self.name
                    ),
                });
            }
            for (i, r) in bytes.chunks_exact(record).enumerate() {
                let label = r[self.label_bytes - 1];
                if usize::from(label) >= self.classes {
                    return Err(DataError::Invalid {
                        path: path.display().to_string(),
                        what: format!(
                            "label {label} of record {i} is outside {}'s {} classes; the file is damaged or of the other CIFAR",
                            self.name, self.classes
                        ),
                    });
                }
                set.labels.push(u32::from(label));
                let planes = &r[self.label_bytes..];
                let plane = SIDE * SIDE;
                set.pixels.extend(
                    (0..plane).flat_map(|p| [planes[p], planes[plane + p], planes[2 * plane + p]]),
                );
            }
        }
        Ok(set)
    }

    /// The class names of the names file, or the class numbers when it is absent or short.
    fn class_names(&self, dir: &Path) -> Vec<String> {
        let listed: Vec<String> = std::fs::read_to_string(dir.join(self.names))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        match listed.len() == self.classes {
            true => listed,
            false => (0..self.classes).map(|c| c.to_string()).collect(),
        }
    }
}

impl Format for Cifar {
    fn name(&self) -> &'static str {
        self.name
    }

    fn input_shape(&self, _options: &Options) -> InputShape {
        InputShape {
            channels: 3,
            height: SIDE,
            width: SIDE,
            classes: self.classes,
        }
    }

    fn install_hint(&self) -> &'static str {
        self.hint
    }

    fn download(&self) -> Option<&Download> {
        Some(&self.download)
    }

    fn published_size(&self, _options: &Options) -> Option<PublishedSize> {
        Some(PublishedSize {
            train: 50_000,
            test: Some(10_000),
            classes: self.classes,
        })
    }

    fn ood_hint(&self) -> &'static str {
        "give a folder holding a test file in the same CIFAR layout (test_batch.bin or test.bin)"
    }

    fn load(&self, spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
        let train = self.read(&spec.path, self.train)?;
        let test = self.read(&spec.path, &[self.test])?;
        if let Some(c) = first_empty_class(train.labels.iter().copied(), self.classes) {
            return Err(DataError::Invalid {
                path: spec.path.display().to_string(),
                what: format!(
                    "class {c} has no training image (of {}); a class the model never sees cannot be learnt: use the complete training files",
                    self.classes
                ),
            });
        }
        let names = self.class_names(&spec.path);
        crate::data::memory_splits(train, test, spec, seed, names)
    }

    fn load_ood(
        &self,
        _spec: &DataSpec,
        dir: &Path,
        _classes: usize,
    ) -> Result<(Images, Vec<(PathBuf, String)>), DataError> {
        Ok((self.read(dir, &[self.test])?.into(), Vec::new()))
    }
}
