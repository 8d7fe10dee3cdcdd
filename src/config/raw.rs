//! The experiment file as written: serde structs with documented defaults, unknown keys rejected.
//!
//! Every field's default is stated on it; `dynunc` writes the fully resolved file beside the
//! results (`experiment.resolved.yaml`), so a run can always be repeated exactly.

use serde::{Deserialize, Serialize};

/// The whole experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawExperiment {
    /// Name of the experiment; results go to `<output.dir>/<name>/`. Default: the file's stem.
    pub name: Option<String>,
    /// Seed of the scoring run (data order, initialisation, augmentation). Default 0.
    pub seed: u64,
    /// `auto` (default: wgpu when built with it and a real GPU is present, else flex), `flex`
    /// or `wgpu`.
    pub backend: String,
    /// Devices training each model, data-parallel: every batch is split across them and
    /// their gradients summed (wgpu: the first N discrete GPUs; flex: N workers sharing the
    /// CPU, no faster: for testing). Default 1.
    #[serde(skip_serializing_if = "is_one")]
    pub devices: usize,
    /// Training data.
    pub data: RawData,
    /// The network (default `arch: cnn`). Give `models:` instead to compare several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<RawModel>,
    /// Several networks: each gets its own scoring run, and the subsets each one selects are
    /// retrained on every one of them (the cross-architecture table). Names must differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<RawModel>>,
    /// Training of the scoring run (and, unless overridden, of every retrain).
    pub train: RawTrain,
    /// What is recorded while training.
    pub dynamics: RawDynamics,
    /// Scoring methods and their options.
    pub scoring: RawScoring,
    /// Retraining on the pruned subsets.
    pub retrain: RawRetrain,
    /// Extra evaluation of every trained model.
    pub evaluation: RawEvaluation,
    /// Fine-tuning of every retrained model on a second dataset. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune: Option<RawFinetune>,
    /// Where results go.
    pub output: RawOutput,
}

/// `finetune:` after each retrain, the network gets a freshly initialised classifier for the
/// second dataset's classes and trains on it (the paper's ImageNet-21K pre-training, then
/// ImageNet-1K fine-tuning); its test accuracy is reported beside the retrain's own. The
/// images must have the shape of the experiment's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawFinetune {
    /// The second dataset: the keys and defaults of `data:`.
    pub data: RawData,
    /// Its training: the keys and defaults of `train:`.
    pub train: RawTrain,
}

impl Default for RawExperiment {
    fn default() -> Self {
        Self {
            name: None,
            seed: 0,
            backend: "auto".into(),
            devices: 1,
            data: RawData::default(),
            model: None,
            models: None,
            train: RawTrain::default(),
            dynamics: RawDynamics::default(),
            scoring: RawScoring::default(),
            retrain: RawRetrain::default(),
            evaluation: RawEvaluation::default(),
            finetune: None,
            output: RawOutput::default(),
        }
    }
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// `data:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawData {
    /// `fashion_mnist` (default) or `mnist`: IDX files (gzipped or not) under `path`, 10
    /// classes; `idx`: any data in that layout, the classes those of its training labels;
    /// `imagefolder`: `path/train/<class>/*.jpg|png` and `path/val/<class>/...` (ImageNet).
    pub dataset: String,
    /// Folder with the four IDX files. Default `/usr/share/datasets/fashion-mnist` (Debian
    /// package `dataset-fashion-mnist`).
    pub path: String,
    /// Train on a fixed, seeded, class-stratified subset of this many samples. Default: all.
    pub subset: Option<usize>,
    /// Evaluate on a fixed, seeded, class-stratified subset of the test set. Default: all.
    pub test_subset: Option<usize>,
    /// imagefolder: side of the square images. Default 224.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    /// imagefolder: training file list (`path label` per line, relative to `path/train`)
    /// instead of its class folders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_list: Option<String>,
    /// imagefolder: validation file list (relative to `path/val`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_list: Option<String>,
    /// imagefolder: `error` (default) or `skip` an unreadable image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_bad_image: Option<String>,
    /// imagefolder: `memory` (decode every image once, hold them), `stream` (decode each
    /// batch from its files while training, with prefetch) or `auto` (default: memory when
    /// the decoded images take at most 8 GiB). How images are read does not change results,
    /// so this and the next two keys are not pinned in the resolved experiment.
    #[serde(skip_serializing)]
    pub loader: Option<String>,
    /// imagefolder streaming: decode threads. Default: all cores.
    #[serde(skip_serializing)]
    pub workers: Option<usize>,
    /// imagefolder streaming: batches decoded ahead of training. Default 4.
    #[serde(skip_serializing)]
    pub prefetch: Option<usize>,
}

impl Default for RawData {
    fn default() -> Self {
        Self {
            dataset: "fashion_mnist".into(),
            path: "/usr/share/datasets/fashion-mnist".into(),
            subset: None,
            test_subset: None,
            image_size: None,
            train_list: None,
            val_list: None,
            on_bad_image: None,
            loader: None,
            workers: None,
            prefetch: None,
        }
    }
}

/// `model:` a preset (`dynunc models` lists them) and optional changes to its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModel {
    /// Name in results (default: the preset's); needed when one preset appears twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Preset name: `cnn` (default), `mlp`, `resnet18`, `resnet50`, `convnext_tiny`,
    /// `swin_tiny`, or the small-input `resnet_mini`, `convnext_mini`, `swin_mini`.
    pub arch: String,
    /// mlp/cnn: hidden width of the fully connected layer. Preset default 128.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// resnet: `imagenet` (7x7 stride 2 + max-pool) or `small` (3x3 stride 1, no pool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stem: Option<String>,
    /// resnet: `basic` or `bottleneck` blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// resnet/convnext/swin: blocks per stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depths: Option<Vec<usize>>,
    /// resnet/convnext/swin: width (channels) per stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<usize>>,
    /// swin: attention heads per stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads: Option<Vec<usize>>,
    /// convnext/swin: side of the stem's patches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_size: Option<usize>,
    /// swin: side of the attention windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_size: Option<usize>,
    /// convnext/swin: stochastic-depth rate of the last block (rising linearly from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_path: Option<f64>,
}

impl Default for RawModel {
    fn default() -> Self {
        Self {
            name: None,
            arch: "cnn".into(),
            hidden: None,
            stem: None,
            block: None,
            depths: None,
            widths: None,
            heads: None,
            patch_size: None,
            window_size: None,
            drop_path: None,
        }
    }
}

/// `train:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTrain {
    /// Epochs. Default 10.
    pub epochs: usize,
    /// Mini-batch size. Default 128.
    pub batch_size: usize,
    /// `adam` (default), `adamw` or `sgd`.
    pub optimizer: String,
    /// Peak learning rate. Default 1e-3.
    pub lr: f64,
    /// Weight decay (L2 for adam/sgd, decoupled for adamw). Default 0.
    pub weight_decay: f64,
    /// SGD momentum. Default 0.9.
    pub momentum: f64,
    /// `constant` (default), `cosine` or `step`.
    pub schedule: String,
    /// Linear warm-up from 0, in epochs. Default 0.
    pub warmup_epochs: usize,
    /// `step` schedule: multiply the rate by `step_gamma` every `step_epochs`. Default 30.
    pub step_epochs: usize,
    /// `step` schedule factor. Default 0.1.
    pub step_gamma: f64,
    /// Label smoothing of the cross-entropy. Default 0.
    pub label_smoothing: f64,
    /// Random-crop padding in pixels (0 = no crop). Default 0.
    pub crop_padding: usize,
    /// Random horizontal flip. Default false.
    pub flip: bool,
    /// Random-resized crop with this smallest share of the area (0.08 on ImageNet), aspect
    /// 3/4 to 4/3, resized back to the image size. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<f64>,
}

impl Default for RawTrain {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            optimizer: "adam".into(),
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: 0.9,
            schedule: "constant".into(),
            warmup_epochs: 0,
            step_epochs: 30,
            step_gamma: 0.1,
            label_smoothing: 0.0,
            crop_padding: 0,
            flip: false,
            random_resized_crop: None,
        }
    }
}

/// `dynamics:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDynamics {
    /// `train` (default): record from the training forward pass, free. `clean`: an extra forward
    /// pass on the un-augmented batch before the optimizer step, as the authors' code does.
    pub view: String,
    /// With `view: train`, record from the training pass with stochastic depth active (as
    /// the model trains) instead of a second pass without it. Default false. Models without
    /// stochastic depth record from the training pass either way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop_path: bool,
}

impl Default for RawDynamics {
    fn default() -> Self {
        Self {
            view: "train".into(),
            drop_path: false,
        }
    }
}

/// `scoring:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawScoring {
    /// Methods to compare. Default: the paper's comparison, `[dyn_unc, random, forgetting,
    /// el2n, uncertainty]`; `dynunc methods` lists them all (also `aum`, `acc_margin`, `dual`).
    pub methods: Vec<String>,
    /// Dyn-Unc window J. Default 10.
    pub window: usize,
    /// Dyn-Unc windows: `paper` (default: the K-J+1 windows of the paper) or `released_code`
    /// (exactly the authors' `get_coreset.py`: zero-filled windows of seen values, K-J of
    /// them, each std times 10).
    pub windows: String,
    /// EL2N epoch (1-based). Default: 10% into training.
    pub el2n_epoch: Option<usize>,
    /// `entropy` (default), `least_confidence` or `margin`.
    pub uncertainty: String,
    /// Keep the same fraction of every class. Default false (global, as the paper).
    pub class_balanced: bool,
}

impl Default for RawScoring {
    fn default() -> Self {
        Self {
            methods: crate::score::PAPER_METHODS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            window: 10,
            windows: "paper".into(),
            el2n_epoch: None,
            uncertainty: "entropy".into(),
            class_balanced: false,
        }
    }
}

/// `retrain:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetrain {
    /// Prune ratios (share removed). Default [0.25, 0.5].
    pub prune_ratios: Vec<f64>,
    /// Seeds of the retrains (init, order, augmentation and the random method). Default [0].
    pub seeds: Vec<u64>,
    /// `equal_epochs` (default: every retrain runs `train.epochs`) or `equal_iterations` (a
    /// pruned subset trains as many steps as the full set would).
    pub budget: String,
    /// Train a full-data model per seed as the 0% row. Default true.
    pub full_data: bool,
    /// Selection strategies every method's scores are retrained with (`dynunc select
    /// --help`): `top` (the paper's), `ccs`. Default [top]. `random` is retrained once.
    pub strategies: Vec<String>,
    /// Options of the `ccs` strategy.
    pub ccs: RawCcs,
}

/// `retrain.ccs:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCcs {
    /// Equal-width score strata. Default 50 (CCS's).
    pub bins: usize,
    /// Share of hardest samples dropped first, one per `prune_ratios` entry (CCS tabulates
    /// e.g. 0.3 at 90% pruning). Default: 0 for every ratio.
    pub cutoffs: Vec<f64>,
}

impl Default for RawCcs {
    fn default() -> Self {
        Self {
            bins: 50,
            cutoffs: Vec::new(),
        }
    }
}

impl Default for RawRetrain {
    fn default() -> Self {
        Self {
            prune_ratios: vec![0.25, 0.5],
            seeds: vec![0],
            budget: "equal_epochs".into(),
            full_data: true,
            strategies: vec!["top".into()],
            ccs: RawCcs::default(),
        }
    }
}

/// `evaluation:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvaluation {
    /// Out-of-distribution sets, each a folder of IDX test files (`t10k-images-idx3-ubyte[.gz]`)
    /// with images the size of the training images. Default: none.
    pub ood: Vec<RawOodSet>,
    /// Also detect this many seeded Gaussian-noise images as OOD. Default 0 (none).
    pub gaussian_noise: usize,
    /// ImageNet-ReaL labels (`real.json`, Beyer et al. 2020) for the ImageNet validation set
    /// as test split: adds ReaL accuracy to every trained model. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_labels: Option<String>,
}

/// One entry of `evaluation.ood`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOodSet {
    /// Name in the results (e.g. `mnist`).
    pub name: String,
    /// Folder of the IDX files.
    pub path: String,
}

/// `output:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutput {
    /// Results root. Default `results`.
    pub dir: String,
}

impl Default for RawOutput {
    fn default() -> Self {
        Self {
            dir: "results".into(),
        }
    }
}
