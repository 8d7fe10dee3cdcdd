//! The experiment file's `data:` section (and `finetune.data:`): the format, where its files
//! are, subsets, and the format's own keys, which the format declares and checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{DataSpec, format};
use crate::options::{self, Json, Options, Problems};

/// `data:` as written. Besides the keys below it takes the format's own (`imagefolder`:
/// `image_size` (default 224), `train_list`, `val_list`, `on_bad_image` (`error` or `skip`),
/// `loader` (`auto`, `memory`, `stream`), `workers`, `prefetch`; see README, `data:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawData {
    /// `fashion_mnist` (default) or `mnist`: IDX files (gzipped or not) under `path`, 10
    /// classes; `idx`: any data in that layout, the classes those of its training labels;
    /// `imagefolder`: `path/train/<class>/*.jpg|png` and `path/val/<class>/...` (ImageNet);
    /// `cifar10`, `cifar100`: the extracted binary distribution (`cifar-10-batches-bin/`).
    pub dataset: String,
    /// The data's folder. Default `/usr/share/datasets/fashion-mnist` (Debian package
    /// `dataset-fashion-mnist`).
    pub path: String,
    /// Train on a fixed, seeded, class-stratified subset of this many samples. Default: all.
    pub subset: Option<usize>,
    /// Evaluate on a fixed, seeded, class-stratified subset of the test set. Default: all.
    pub test_subset: Option<usize>,
    /// The format's own keys, checked against its declarations.
    #[serde(flatten)]
    pub options: BTreeMap<String, Json>,
}

impl Default for RawData {
    fn default() -> Self {
        Self {
            dataset: "fashion_mnist".into(),
            path: "/usr/share/datasets/fashion-mnist".into(),
            subset: None,
            test_subset: None,
            options: BTreeMap::new(),
        }
    }
}

/// Checks a data section at YAML path `at`; returns the spec and the section as resolved (the
/// keys that change results; how images are read is left out).
pub fn validate(d: &RawData, at: &str, p: &mut Problems) -> Option<(DataSpec, RawData)> {
    for (key, n) in [("subset", d.subset), ("test_subset", d.test_subset)] {
        if n == Some(0) {
            p.fail(
                &format!("{at}.{key}"),
                "0 samples: give a positive number, or remove the key to use all",
            );
        }
    }
    let format = match format::find(&d.dataset) {
        Ok(f) => f,
        Err(e) => {
            p.fail(&format!("{at}.dataset"), e);
            return None;
        }
    };
    let own = format.options();
    for key in options::undeclared(own, &d.options) {
        let owners: Vec<_> = format::FORMATS
            .iter()
            .filter(|f| f.options().iter().any(|o| o.name() == key))
            .map(|f| format!("`dataset: {}`", f.name()))
            .collect();
        let message = match owners.is_empty() {
            true => format!(
                "unknown key; data takes dataset, path, subset, test_subset and its format's keys ({}: {})",
                d.dataset,
                match own.is_empty() {
                    true => "none".to_string(),
                    false => own.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "),
                }
            ),
            false => format!(
                "applies to {} only, not {}; remove it",
                owners.join(" or "),
                d.dataset
            ),
        };
        p.fail(&format!("{at}.{key}"), message);
    }
    let before = p.len();
    let given = Options::given(own, &d.options, at, p);
    if p.len() == before {
        format.check(&given, at, p);
    }
    let mut resolved = d.clone();
    resolved.options.retain(|k, _| {
        own.iter().any(|o| o.name() == k) && !format.unpinned().contains(&k.as_str())
    });
    let spec = DataSpec {
        format,
        path: PathBuf::from(&d.path),
        subset: d.subset,
        test_subset: d.test_subset,
        options: given.with_defaults(own),
    };
    Some((spec, resolved))
}
