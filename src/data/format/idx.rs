//! IDX data (the MNIST file layout): `train-` and `t10k-` image and label files, gzipped or
//! not, in `data.path`. Three formats share it: `fashion_mnist` and `mnist` (10 named classes)
//! and `idx` (any data so laid out, the classes those its training labels hold).

use std::path::Path;

use super::{Format, PublishedSize};
use crate::data::download::{Download, Remote, Unpack};
use crate::data::{
    DataError, DataSpec, ImageSet, Images, InputShape, Splits, first_empty_class, idx,
};
use crate::options::Options;

/// An IDX format: its name, class names and where its files come from.
#[derive(Debug)]
pub struct Idx {
    name: &'static str,
    classes: &'static [&'static str],
    hint: &'static str,
    /// The official files (`dynunc data download`), where dynunc knows them.
    download: Option<Download>,
}

/// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 greyscale images, 10 classes.
pub static FASHION_MNIST: Idx = Idx {
    name: "fashion_mnist",
    classes: &[
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
    hint: "install them with `apt-get install dataset-fashion-mnist` (files under /usr/share/datasets/fashion-mnist), \
           or run `dynunc data download fashion_mnist --to DIR` and set data.path to DIR",
    download: Some(Download {
        files: &[
            Remote {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
                md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            },
            Remote {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
                md5: "25c81989df183df01b3e8a0aad5dffbe",
            },
            Remote {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
                md5: "bef4ecab320f06d8554ea6380940ec79",
            },
            Remote {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
                md5: "bb300cfdad3c16e7a12a480ee83cd310",
            },
        ],
        unpack: Unpack::Keep,
        page: "https://github.com/zalandoresearch/fashion-mnist",
    }),
};

/// MNIST, same layout.
pub static MNIST: Idx = Idx {
    name: "mnist",
    classes: &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    hint: "download the four MNIST *-ubyte.gz files into a folder and set data.path to it",
    download: None,
};

/// Any dataset in the layout; the classes are those the training labels hold.
pub static IDX: Idx = Idx {
    name: "idx",
    classes: &[],
    hint: "put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz) into a folder and set data.path to it",
    download: None,
};

impl Format for Idx {
    fn name(&self) -> &'static str {
        self.name
    }

    fn input_shape(&self, _options: &Options) -> InputShape {
        InputShape::MNIST
    }

    fn install_hint(&self) -> &'static str {
        self.hint
    }

    fn download(&self) -> Option<&Download> {
        self.download.as_ref()
    }

    fn published_size(&self, _options: &Options) -> Option<PublishedSize> {
        // Fashion-MNIST and MNIST: 60,000 + 10,000 images of 10 classes; `idx` any.
        (!self.classes.is_empty()).then_some(PublishedSize {
            train: 60_000,
            test: Some(10_000),
            classes: self.classes.len(),
        })
    }

    fn ood_hint(&self) -> &'static str {
        "give the folder holding its t10k-images-idx3-ubyte(.gz)"
    }

    fn load(&self, spec: &DataSpec, seed: u64) -> Result<Splits, DataError> {
        let mut train = idx::read_split(&spec.path, "train", self.hint)?;
        let mut test = idx::read_split(&spec.path, "t10k", self.hint)?;
        check_splits(&spec.path, &mut train, &mut test, self.classes.len())?;
        let names = self.classes.iter().map(|s| s.to_string()).collect();
        crate::data::memory_splits(train, test, spec, seed, names)
    }

    fn load_ood(
        &self,
        _spec: &DataSpec,
        dir: &Path,
        _classes: usize,
    ) -> Result<(Images, Vec<(std::path::PathBuf, String)>), DataError> {
        let set = idx::read_split(
            dir,
            "t10k",
            "evaluation.ood lists folders holding t10k-images-idx3-ubyte(.gz)",
        )?;
        Ok((set.into(), Vec::new()))
    }
}

/// Checks IDX splits before anything trains on them: neither empty, labels inside the
/// format's declared classes (`declared`, 0 when it declares none), every class present in
/// training, the test images of the training shape; sets both splits' class count to the
/// declared one.
fn check_splits(
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
