//! Shared fixtures: a small generated IDX dataset and helpers to run the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dynunc::data::ImageSet;

/// A learnable 10-class 28x28 dataset: class c is a bright 8x8 square at a class-specific
/// position, on a noisy background. Deterministic.
pub fn synthetic(n: usize, salt: u64) -> ImageSet {
    let mut state = 0x1234_5678_9abc_def0u64 ^ salt;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pixels = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 10) as u32;
        let (oy, ox) = (2 + (c as usize / 5) * 14, 1 + (c as usize % 5) * 5);
        for y in 0..28 {
            for x in 0..28 {
                let inside = (oy..oy + 8).contains(&y) && (ox..ox + 5).contains(&x);
                let noise = (next() % 90) as u8;
                pixels.push(if inside { 160 + noise } else { noise });
            }
        }
        labels.push(c);
    }
    ImageSet {
        pixels,
        labels,
        height: 28,
        width: 28,
        channels: 1,
        classes: 10,
    }
}

/// Writes the fixture's four IDX files (train gzipped, test plain) into `dir`.
pub fn write_fixture(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    write_split(dir, "train", &synthetic(train, 1), true).unwrap();
    write_split(dir, "t10k", &synthetic(test, 2), false).unwrap();
}

/// A tiny experiment over the fixture in `data`, writing under `out`.
pub fn tiny_experiment(name: &str, data: &Path, out: &Path, extra: &str) -> String {
    format!(
        "name: {name}\nbackend: flex\ndata:\n  path: {}\nmodel:\n  arch: mlp\n  hidden: 32\ntrain:\n  epochs: 3\n  batch_size: 32\n  crop_padding: 1\n  flip: true\nscoring:\n  window: 2\nretrain:\n  prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]\noutput:\n  dir: {}\n{extra}",
        data.display(),
        out.display()
    )
}

/// The dynunc binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dynunc"))
}

/// A folder `root/name` holding `yaml` as its `exp.yaml` (for [`run_exp_yaml`]).
pub fn exp_case(root: &Path, name: &str, yaml: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("exp.yaml"), yaml).unwrap();
    dir
}

/// Runs `dynunc run exp.yaml` in `dir`; with `fault`, aborted right after that file operation
/// (`DYNUNC_FAULT_AFTER_WRITES`, as `kill -9` would stop it; 0 only counts them).
pub fn run_exp_yaml(dir: &Path, fault: Option<u64>) -> Output {
    let mut cmd = bin();
    cmd.current_dir(dir).args(["run", "exp.yaml"]);
    match fault {
        Some(n) => cmd.env("DYNUNC_FAULT_AFTER_WRITES", n.to_string()),
        None => cmd.env_remove("DYNUNC_FAULT_AFTER_WRITES"),
    };
    cmd.output().unwrap()
}

/// Runs the binary with arguments in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    bin().current_dir(cwd).args(args).output().unwrap()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `main.csv` without the wall-time column (the one column that differs between equal runs).
pub fn csv_without_wall_time(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            l.rsplit_once(',')
                .unwrap()
                .0
                .split_once(',')
                .unwrap()
                .1
                .to_owned()
        })
        .collect()
}

/// A temporary folder, removed when dropped.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Path helper.
pub fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Writes an ImageFolder dataset under `root`: `train/` and `val/`, classes `ant`, `bee`,
/// `cat` (each a colour, so they are learnable), `per_class` training and 3 validation images
/// of mixed sizes, JPEG and PNG; plus `train/bee/broken.jpg` (not an image) when `corrupt`,
/// and a `notes.txt` that is not an image.
pub fn write_image_folder(root: &Path, per_class: usize, corrupt: bool) {
    let colours = [[200u8, 40, 40], [40, 200, 40], [40, 40, 200]];
    for (split, n) in [("train", per_class), ("val", 3)] {
        for (c, name) in ["ant", "bee", "cat"].iter().enumerate() {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let (w, h) = (20 + (i % 3) as u32 * 6, 18 + (i % 2) as u32 * 10);
                let img = image::RgbImage::from_fn(w, h, |x, y| {
                    let noise = ((x * 7 + y * 13 + i as u32 * 31) % 40) as u8;
                    let inside = x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4;
                    let base = if inside { colours[c] } else { [90, 90, 90] };
                    image::Rgb([
                        base[0].saturating_add(noise),
                        base[1].saturating_add(noise),
                        base[2].saturating_add(noise),
                    ])
                });
                let ext = if i % 2 == 0 { "jpg" } else { "png" };
                img.save(dir.join(format!("{name}_{i:03}.{ext}"))).unwrap();
            }
        }
    }
    std::fs::write(root.join("train/ant/notes.txt"), "not an image").unwrap();
    if corrupt {
        std::fs::write(
            root.join("train/bee/broken.jpg"),
            b"\xff\xd8 definitely not a jpeg",
        )
        .unwrap();
    }
}

/// Writes an image set as the two IDX files (gzipped when `gz`): written here, apart from the
/// reader in `data::idx`, from the format's definition (big-endian magic 0x0803 / 0x0801 and
/// dimensions, then bytes).
pub fn write_split(dir: &Path, prefix: &str, set: &ImageSet, gz: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut images = Vec::new();
    for v in [
        0x0803u32,
        set.len() as u32,
        set.height as u32,
        set.width as u32,
    ] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend_from_slice(&set.pixels);
    let mut labels = Vec::new();
    for v in [0x0801u32, set.len() as u32] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend(set.labels.iter().map(|&l| l as u8));
    for (name, bytes) in [("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)] {
        let mut file = format!("{prefix}-{name}");
        let data = if gz {
            file.push_str(".gz");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&bytes)?;
            enc.finish()?
        } else {
            bytes
        };
        std::fs::write(dir.join(file), &data)?;
    }
    Ok(())
}

/// The bytes of a version-1 `.npy` header holding the dictionary `dict` (e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }`), padded so the data that
/// follows starts on a 64-byte boundary.
pub fn npy_header(dict: &str) -> Vec<u8> {
    let mut text = dict.to_owned();
    while !(10 + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Writes an N x T float32 matrix (C order) as `.npy`.
pub fn write_probabilities(path: &Path, p: &[Vec<f32>]) -> std::io::Result<()> {
    let n = p.len();
    let t = p.first().map_or(0, Vec::len);
    let mut out = npy_header(&format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {t}), }}"
    ));
    out.reserve(n * t * 4);
    for row in p {
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, &out)
}
