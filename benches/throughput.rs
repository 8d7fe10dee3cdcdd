//! Training throughput, side by side in one run (`cargo bench --bench throughput`):
//!
//! - a dynunc preset on Fashion-MNIST (`DYNUNC_BENCH_MODEL`: `cnn`, the default, `resnet18`,
//!   `resnet_mini`, `convnext_mini`, `swin_mini`, or `all` for each in turn and a summary
//!   table), batch 128, Adam, on flex (`DYNUNC_BENCH_BACKEND=wgpu` for the GPU, `tch` for
//!   LibTorch on the CPU, each a build with its feature): one pass over
//!   `DYNUNC_BENCH_IMAGES` images (default 60,000 for `cnn`, 3,840 for the others) without
//!   and with the dynamics recorder, alternating with the same model in PyTorch
//!   (`benches/pytorch/train.py`, run by `DYNUNC_PYTHON`, default `python3`; where PyTorch
//!   is absent the benchmark says so and measures dynunc alone; both sides' parameter counts
//!   are printed and must agree), and the time spent inside the recorder, timed around each
//!   of its calls;
//! - with `DYNUNC_BENCH_INPUT=imagenet`: seeded random 224x224x3 images of 1,000 classes
//!   (default 2,048 per pass) for any ImageNet preset (`resnet18`, `resnet50`,
//!   `convnext_tiny`, `swin_tiny`), against torchvision's or timm's model in
//!   `benches/pytorch/imagenet.py` (on CUDA when dynunc is on wgpu);
//! - each side untimed for its first batches (16 on Fashion-MNIST, 4 on ImageNet-sized images:
//!   kernel compilation and autotuning on a GPU, oneDNN's kernels and the allocators' growth on
//!   the CPU), then timed;
//! - data loading alone: batches built from IDX images in memory, and ImageFolder JPEGs
//!   decoded, resized and cropped (a generated folder), directly and through the streaming
//!   loader.
//!
//! Prints images per second and the ratios. Rounds: `DYNUNC_BENCH_ROUNDS` (default 2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::prelude::*;
use dynunc::data::augment::{Augment, Normalize, fill_batch};
use dynunc::data::folder::{self, BadImage};
use dynunc::data::loader::{Loader, Streaming};
use dynunc::data::{DataSpec, FileSet, ImageSet, Images};
use dynunc::train::backend;
use dynunc::train::fit::{FitOptions, fit};
use dynunc::train::model::{InputShape, Model, ModelSpec};
use dynunc::train::observer::BatchOutputs;
use dynunc::train::recorder::Recorder;
use dynunc::train::{
    BackendChoice, Observer, OptimizerSpec, RunInfo, Schedule, TrainError, TrainSpec,
};
use rand::{Rng, SeedableRng};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data_dir() -> PathBuf {
    std::env::var("DYNUNC_FMNIST")
        .unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into())
        .into()
}

/// An observer that passes every event on and adds up the time spent inside the one it wraps.
struct Timed<O> {
    inner: O,
    seconds: f64,
}

impl<O: Observer> Timed<O> {
    fn time<T>(&mut self, f: impl FnOnce(&mut O) -> T) -> T {
        let t = Instant::now();
        let out = f(&mut self.inner);
        self.seconds += t.elapsed().as_secs_f64();
        out
    }
}

impl<O: Observer> Observer for Timed<O> {
    fn wants_outputs(&self) -> bool {
        self.inner.wants_outputs()
    }
    fn run_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        self.time(|o| o.run_start(info))
    }
    fn epoch_start(&mut self, epoch: usize) {
        self.time(|o| o.epoch_start(epoch))
    }
    fn batch_outputs(&mut self, epoch: usize, outputs: BatchOutputs<'_>) {
        self.time(|o| o.batch_outputs(epoch, outputs))
    }
    fn batch_end(&mut self, epoch: usize, batch: usize, loss: f32, lr: f64) {
        self.time(|o| o.batch_end(epoch, batch, loss, lr))
    }
    fn epoch_end(&mut self, epoch: usize, mean_loss: f32) -> Result<(), TrainError> {
        self.time(|o| o.epoch_end(epoch, mean_loss))
    }
    fn run_end(&mut self) {
        self.time(|o| o.run_end())
    }
}

/// The Fashion-MNIST presets the benchmark compares with PyTorch (`all`: each in turn).
const FMNIST_MODELS: &[&str] = &[
    "cnn",
    "resnet18",
    "resnet_mini",
    "convnext_mini",
    "swin_mini",
];

/// What is measured: the backend (`DYNUNC_BENCH_BACKEND`: flex, default, wgpu, which needs
/// `--features wgpu`, or tch, LibTorch on the CPU, which needs `--features tch`), the input
/// (`DYNUNC_BENCH_INPUT`: fmnist, default, or imagenet) and the model preset (`DYNUNC_BENCH_MODEL`: cnn, default, or resnet18 on fmnist;
/// resnet18, default, resnet50, convnext_tiny or swin_tiny on imagenet).
struct Setup {
    device: Device,
    choice: BackendChoice,
    backend: String,
    model: String,
    imagenet: bool,
    /// `DYNUNC_BENCH_BATCH`, default 128 (PyTorch's Fashion-MNIST side trains batches of 128
    /// only).
    batch: usize,
}

impl Setup {
    fn from_env() -> Result<Setup, String> {
        let imagenet = match std::env::var("DYNUNC_BENCH_INPUT").as_deref() {
            Err(_) | Ok("fmnist") => false,
            Ok("imagenet") => true,
            Ok(other) => {
                return Err(format!(
                    "DYNUNC_BENCH_INPUT={other}: give fmnist or imagenet"
                ));
            }
        };
        let (default, models): (&str, &[&str]) = match imagenet {
            false => ("cnn", FMNIST_MODELS),
            true => (
                "resnet18",
                &["resnet18", "resnet50", "convnext_tiny", "swin_tiny"],
            ),
        };
        let model = std::env::var("DYNUNC_BENCH_MODEL").unwrap_or_else(|_| default.into());
        let all = model == "all" && !imagenet;
        if !models.contains(&model.as_str()) && !all {
            return Err(format!(
                "DYNUNC_BENCH_MODEL={model}: give one of {}{}",
                models.join(", "),
                if imagenet { "" } else { ", all" }
            ));
        }
        let choice: BackendChoice = std::env::var("DYNUNC_BENCH_BACKEND")
            .as_deref()
            .unwrap_or("flex")
            .parse()
            .map_err(|e| format!("DYNUNC_BENCH_BACKEND: {e}"))?;
        if choice == BackendChoice::Auto {
            return Err("DYNUNC_BENCH_BACKEND=auto: name the backend to measure".into());
        }
        let (device, backend) = backend::select(choice).map_err(|e| e.to_string())?;
        Ok(Setup {
            device,
            choice,
            backend,
            model,
            imagenet,
            batch: env_usize("DYNUNC_BENCH_BATCH", 128),
        })
    }

    /// Untimed batches before each side's measured passes: 4 for ImageNet-sized images (as
    /// `benches/pytorch/imagenet.py` does), else 16 (PyTorch's Fashion-MNIST steps settle
    /// after about 15: `benches/pytorch/train.py`).
    fn warmup_batches(&self) -> usize {
        if self.imagenet { 4 } else { 16 }
    }

    /// The device PyTorch should use for the same comparison.
    fn torch_device(&self) -> &'static str {
        match self.choice {
            BackendChoice::Wgpu => "cuda",
            _ => "cpu",
        }
    }

    /// The images' shape and classes.
    fn input(&self) -> InputShape {
        match self.imagenet {
            true => InputShape::IMAGENET,
            false => InputShape::MNIST,
        }
    }

    /// The images of one pass (`DYNUNC_BENCH_IMAGES`): Fashion-MNIST's first, or seeded random
    /// ImageNet-shaped ones; `None` with the reason when Fashion-MNIST is absent.
    fn images(&self) -> Result<ImageSet, String> {
        if self.imagenet {
            let n = env_usize("DYNUNC_BENCH_IMAGES", 2048);
            let input = self.input();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            let len = n * input.channels * input.height * input.width;
            return Ok(ImageSet {
                pixels: (0..len).map(|_| rng.random()).collect(),
                labels: (0..n).map(|i| (i % input.classes) as u32).collect(),
                height: input.height,
                width: input.width,
                channels: input.channels,
                classes: input.classes,
            });
        }
        let default = if self.model == "cnn" { 60_000 } else { 3_840 };
        let images = env_usize("DYNUNC_BENCH_IMAGES", default);
        let spec = DataSpec::new(&dynunc::data::format::idx::FASHION_MNIST, data_dir());
        let splits = dynunc::data::load(&spec, 0)
            .map_err(|e| format!("{e} (set DYNUNC_FMNIST to the IDX folder)"))?;
        let n = images.min(splits.train.len());
        Ok(splits
            .train
            .in_memory()
            .expect("IDX data is held in memory")
            .take(&(0..n).collect::<Vec<_>>()))
    }
}

/// Seconds to train one pass over `set`, optionally recording, and the seconds spent inside
/// the recorder.
fn dynunc_pass(
    setup: &Setup,
    set: &ImageSet,
    norm: Normalize,
    record: Option<&Path>,
) -> (f64, f64) {
    let device = setup.device.clone().autodiff();
    let spec = ModelSpec::preset(&setup.model).unwrap();
    let model = Model::seeded(&spec, setup.input(), 0, &device);
    let train = TrainSpec {
        epochs: 1,
        batch_size: setup.batch,
        lr: 1e-3,
        optimizer: OptimizerSpec::Adam { weight_decay: 0.0 },
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        label_smoothing: 0.0,
        augment: Augment::default(),
        max_steps: None,
        details: Default::default(),
    };
    let opts = FitOptions::new(&train, norm, "bench");
    let mut recorder = record.map(|p| {
        let _ = std::fs::remove_file(p);
        Timed {
            inner: Recorder::open(p, &set.labels, set.classes).unwrap(),
            seconds: 0.0,
        }
    });
    let mut observers: Vec<&mut dyn Observer> = Vec::new();
    if let Some(r) = recorder.as_mut() {
        observers.push(r);
    }
    let started = Instant::now();
    fit(
        model,
        &Images::from(set.clone()),
        &opts,
        &device,
        &mut observers,
    )
    .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    (seconds, recorder.map_or(0.0, |r| r.seconds))
}

/// PyTorch's images per second, a note on its version and threads, and its model's
/// parameter count; or why there is none.
fn pytorch_pass(setup: &Setup, images: usize) -> Result<(f64, String, u64), String> {
    let python = std::env::var("DYNUNC_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pytorch");
    let mut cmd = Command::new(&python);
    if setup.imagenet {
        cmd.arg(dir.join("imagenet.py"))
            .arg(images.to_string())
            .args(["--batch", &setup.batch.to_string()]);
    } else if setup.batch == 128 {
        cmd.arg(dir.join("train.py"))
            .arg(data_dir())
            .arg(images.to_string())
            .args(["--warmup", &setup.warmup_batches().to_string()]);
    } else {
        return Err("PyTorch's Fashion-MNIST side trains batches of 128 only".into());
    }
    let out = cmd
        .args(["--model", &setup.model, "--device", setup.torch_device()])
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
    let ips = v["images_per_s"].as_f64().ok_or("no images_per_s")?;
    Ok((
        ips,
        format!(
            "torch {} on {} ({} threads)",
            v["torch"], v["device"], v["threads"]
        ),
        v["params"].as_u64().unwrap_or(0),
    ))
}

/// The measured rounds: images per second without and with the recorder, the recorder's
/// share of the recorded pass, PyTorch's images per second (or why there are none).
#[derive(Default)]
struct Rounds {
    plain: Vec<f64>,
    recorded: Vec<f64>,
    inside: Vec<f64>,
    torch: Vec<f64>,
    torch_note: String,
    /// PyTorch's model's parameter count (0: not measured).
    torch_params: u64,
}

fn measure(setup: &Setup, set: &ImageSet, norm: Normalize, rounds: usize) -> Rounds {
    let n = set.len();
    let store = std::env::temp_dir().join(format!("dynunc-bench-{}.dyn", std::process::id()));
    // The first steps (kernel compilation and autotuning on a GPU; the allocator's growth on
    // the host) are not measured, on either side.
    let warm = set.take(&(0..n.min(setup.warmup_batches() * setup.batch)).collect::<Vec<_>>());
    dynunc_pass(setup, &warm, norm, Some(&store));
    let mut r = Rounds::default();
    for round in 0..rounds {
        r.plain
            .push(n as f64 / dynunc_pass(setup, set, norm, None).0);
        let (seconds, in_recorder) = dynunc_pass(setup, set, norm, Some(&store));
        r.recorded.push(n as f64 / seconds);
        r.inside.push(in_recorder / seconds);
        match pytorch_pass(setup, n) {
            Ok((ips, note, params)) => {
                r.torch.push(ips);
                r.torch_note = note;
                r.torch_params = params;
            }
            Err(why) if round == 0 => {
                r.torch_note = format!(
                    "PyTorch absent ({why}); set DYNUNC_PYTHON to a python with torch (benches/RESULTS.md)"
                );
            }
            Err(_) => {}
        }
        println!(
            "round {}: dynunc {:.0} img/s, with recorder {:.0} img/s{}",
            round + 1,
            r.plain[round],
            r.recorded[round],
            r.torch
                .get(round)
                .map_or(String::new(), |t| format!(", pytorch {t:.0} img/s"))
        );
    }
    let _ = std::fs::remove_file(&store);
    r
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let rounds = env_usize("DYNUNC_BENCH_ROUNDS", 2);
    let setup = match Setup::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("throughput benchmark: {e}");
            std::process::exit(2);
        }
    };
    let models: Vec<String> = match setup.model.as_str() {
        "all" => FMNIST_MODELS.iter().map(|m| m.to_string()).collect(),
        one => vec![one.to_string()],
    };
    let mut summary = Vec::new();
    for model in models {
        let setup = Setup {
            model,
            device: setup.device.clone(),
            backend: setup.backend.clone(),
            ..setup
        };
        let set = match setup.images() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("throughput benchmark skipped: {e}");
                return;
            }
        };
        summary.push(one_model(&setup, &set, rounds));
        if !setup.imagenet && summary.len() == 1 && setup.model == "cnn" {
            data_loading_table(&set, Normalize::fit(&set), set.len());
        }
    }
    if summary.len() > 1 {
        println!(
            "\n| model | parameters (dynunc / PyTorch) | dynunc img/s (recording) | PyTorch img/s | PyTorch is Nx dynunc |\n|---|---:|---:|---:|---:|"
        );
        for row in &summary {
            println!("{row}");
        }
    }
}

/// One model's rounds and table; returns its summary line.
fn one_model(setup: &Setup, set: &ImageSet, rounds: usize) -> String {
    let n = set.len();
    let norm = Normalize::fit(set);
    let params = Model::seeded(
        &ModelSpec::preset(&setup.model).unwrap(),
        setup.input(),
        0,
        &setup.device.clone().autodiff(),
    )
    .trainable_params();
    println!(
        "\n{} preset ({params} parameters), batch {}, Adam, {n} {} images per pass, {rounds} rounds, {} compute threads (rayon); backend: {}",
        setup.model,
        setup.batch,
        if setup.imagenet {
            "random 224x224x3"
        } else {
            "Fashion-MNIST"
        },
        rayon::current_num_threads(),
        setup.backend
    );
    let r = measure(setup, set, norm, rounds);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (p, rec) = (mean(&r.plain), mean(&r.recorded));
    println!("\n| what | images/s | ratio |\n|---|---:|---:|");
    let on = setup.choice.name();
    println!("| dynunc ({on}), no recorder | {p:.0} | 1.00 |");
    println!(
        "| dynunc ({on}), recording 7 fields per sample | {rec:.0} | {:.3} (overhead {:+.1}%) |",
        rec / p,
        100.0 * (p / rec - 1.0)
    );
    println!(
        "| time inside the recorder, share of the recorded pass (measured directly, not a difference of two runs) | – | {:.3}% |",
        100.0 * mean(&r.inside)
    );
    if r.torch.is_empty() {
        println!("| PyTorch | – | {} |", r.torch_note);
        return format!("| {} | {params} / – | {rec:.0} | – | – |", setup.model);
    }
    let t = mean(&r.torch);
    println!(
        "| PyTorch, same model ({}) | {t:.0} | {:.2} (PyTorch is {:.2}x dynunc with the recorder) |",
        r.torch_note,
        t / rec,
        t / rec
    );
    if r.torch_params != params as u64 && !setup.imagenet {
        println!(
            "warning: PyTorch's {} has {} parameters against dynunc's {params}: the models differ",
            setup.model, r.torch_params
        );
    }
    format!(
        "| {} | {params} / {} | {rec:.0} | {t:.0} | {:.2} |",
        setup.model,
        r.torch_params,
        t / rec
    )
}

/// Data loading alone: IDX batches from memory, JPEG decoding, the streaming loader.
fn data_loading_table(set: &ImageSet, norm: Normalize, n: usize) {
    let idx: Vec<usize> = (0..n).collect();
    let started = Instant::now();
    let mut values = Vec::new();
    for chunk in idx.chunks(128) {
        values.clear();
        fill_batch(set, chunk, norm, None, &mut values);
    }
    let idx_rate = n as f64 / started.elapsed().as_secs_f64();
    let folder_dir =
        std::env::temp_dir().join(format!("dynunc-bench-folder-{}", std::process::id()));
    let files = 600;
    for i in 0..files {
        let dir = folder_dir.join(format!("c{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        image::RgbImage::from_fn(160, 120, |x, y| {
            image::Rgb([(x * 3 + y) as u8, (y * 5) as u8, (x ^ y) as u8])
        })
        .save(dir.join(format!("{i:05}.jpg")))
        .unwrap();
    }
    let (entries, classes) = folder::scan(&folder_dir).unwrap();
    let started = Instant::now();
    let (decoded, _) = folder::decode(
        &entries,
        folder::Resize::eval(112, 0.875, folder::Interpolation::Bilinear),
        classes.len(),
        BadImage::Error,
    )
    .unwrap();
    let jpeg_rate = decoded.len() as f64 / started.elapsed().as_secs_f64();
    // The streaming loader: the same files decoded batch by batch by its prefetch thread.
    let streaming = Streaming::default();
    let stream = Images::Files(FileSet::new(
        &entries,
        folder::Resize::eval(112, 0.875, folder::Interpolation::Bilinear),
        classes.len(),
        streaming,
    ));
    let order: Vec<usize> = (0..stream.len()).collect();
    let started = Instant::now();
    let mut streamed = 0;
    for batch in Loader::new(&stream, &order, 64) {
        streamed += batch.unwrap().global.len();
    }
    let stream_rate = streamed as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&folder_dir);
    println!("\n| data loading alone | images/s |\n|---|---:|");
    println!("| IDX in memory -> normalised batches of 128 (28x28x1) | {idx_rate:.0} |");
    println!(
        "| ImageFolder: 160x120 JPEG decoded, resized, cropped to 112x112, in parallel | {jpeg_rate:.0} |"
    );
    println!(
        "| the same through the streaming loader (batches of 64, {} decode threads, prefetch {}) | {stream_rate:.0} |",
        streaming.workers, streaming.prefetch
    );
}
