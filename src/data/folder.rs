//! ImageFolder data: one sub-folder per class (classes sorted by name) of JPEG/PNG files, or
//! a file list in the authors' `file_list.txt` form (`/class/image label` per line). Images
//! are decoded in parallel and brought to one square size ([`Resize`]): validation images the
//! way evaluation transforms do (short side to `size * 8 / 7`, 256 for 224, then a centred
//! crop), training images with the short side at `size` (the authors' clean view).
//!
//! The decoded set is held in memory (bytes, HWC) or, for sets too large for that, only
//! checked here and decoded batch by batch while training (`images`, `loader`).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use super::{DataError, ImageSet};

crate::choices! {
    /// What to do with a file that cannot be decoded.
    pub enum BadImage {
        /// Stop with the file's path.
        Error = "error",
        /// Leave it out; the run's log lists what was skipped.
        Skip = "skip",
    }
}

crate::choices! {
    /// `data.interpolation`: how images are resized.
    pub enum Interpolation {
        /// Bilinear (the image crate's triangle filter; torchvision's `BILINEAR`).
        Bilinear = "bilinear",
        /// Bicubic (Catmull-Rom; torchvision's `BICUBIC`), as the official Swin and ConvNeXt
        /// configs (`INTERPOLATION: cubic`).
        Bicubic = "bicubic",
    }
}

impl Interpolation {
    fn filter(self) -> FilterType {
        match self {
            Interpolation::Bilinear => FilterType::Triangle,
            Interpolation::Bicubic => FilterType::CatmullRom,
        }
    }
}

/// How a file becomes a `size x size` image: the short side resized to `short`, then a
/// centred square crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    /// Side of the square.
    pub size: usize,
    /// Short side before the crop.
    pub short: usize,
    /// The resizing filter.
    pub interpolation: Interpolation,
}

impl Resize {
    /// Training images: short side to `size`, centre crop: the whole short side kept, so that
    /// the clean view the recorder sees is the authors' (short side 224, centre crop 224) and
    /// random-resized crops draw from as much of the image as a square holds.
    pub fn train(size: usize, interpolation: Interpolation) -> Self {
        Resize {
            size,
            short: size,
            interpolation,
        }
    }

    /// Evaluation images: short side to `size / crop` rounded up (256 for 224 at the standard
    /// 0.875; 224 at the authors' 1.0), centre crop.
    pub fn eval(size: usize, crop: f64, interpolation: Interpolation) -> Self {
        Resize {
            size,
            short: ((size as f64 / crop) - 1e-9).ceil().max(size as f64) as usize,
            interpolation,
        }
    }
}

/// Files left out as unreadable, each with the decoder's reason.
pub type Skipped = Vec<(Entry, String)>;

/// One image file and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File.
    pub path: PathBuf,
    /// Class index.
    pub label: u32,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The class folders of `dir` (sorted by name) and every JPEG/PNG in them, sorted by path.
pub fn scan(dir: &Path) -> Result<(Vec<Entry>, Vec<String>), DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            path: dir.display().to_string(),
            hint: FOLDER_HINT,
        });
    }
    let mut classes: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::Corrupt {
            path: dir.display().to_string(),
            what: format!("no class folders; expected one sub-folder per class ({FOLDER_HINT})"),
        });
    }
    let mut entries = Vec::new();
    for (label, (_, class_dir)) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(class_dir)
            .map_err(|e| io(class_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        files.sort();
        entries.extend(files.into_iter().map(|path| Entry {
            path,
            label: label as u32,
        }));
    }
    Ok((entries, classes.into_iter().map(|(n, _)| n).collect()))
}

/// A file list: `relative/path label` per line (a leading `/` is allowed, as in the authors'
/// `file_list.txt`), paths relative to `base`; blank lines and `#` comments are skipped.
pub fn read_list(list: &Path, base: &Path) -> Result<Vec<Entry>, DataError> {
    let text = std::fs::read_to_string(list).map_err(|e| io(list, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| DataError::Corrupt {
            path: format!("{}:{}", list.display(), n + 1),
            what: format!(
                "{what} in `{line}`; each line is `path label`, e.g. `/n01440764/img.JPEG 0`"
            ),
        };
        let (path, label) = line
            .rsplit_once(char::is_whitespace)
            .ok_or_else(|| bad("no label"))?;
        let label: u32 = label
            .parse()
            .map_err(|_| bad("label is not a non-negative integer"))?;
        out.push(Entry {
            path: base.join(path.trim().trim_start_matches('/')),
            label,
        });
    }
    Ok(out)
}

/// The class names a file list implies: each label's folder name, when every file of a label
/// lies in one folder and no two labels share one (the ImageNet lists: `/n01440764/x.JPEG 0`);
/// `None` otherwise.
pub fn names_from_folders(entries: &[Entry]) -> Option<Vec<String>> {
    let classes = entries.iter().map(|e| e.label as usize + 1).max()?;
    let mut names: Vec<Option<String>> = vec![None; classes];
    for e in entries {
        let folder = e.path.parent()?.file_name()?.to_string_lossy();
        match &names[e.label as usize] {
            None => names[e.label as usize] = Some(folder.into_owned()),
            Some(n) if *n == folder => {}
            Some(_) => return None,
        }
    }
    let names: Vec<String> = names.into_iter().collect::<Option<_>>()?;
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    (distinct.len() == names.len()).then_some(names)
}

/// Decodes `entries` in parallel, each brought to a square by `resize` (RGB). Returns the set
/// (labels as given, `classes` classes) and the files skipped with their reason.
pub fn decode(
    entries: &[Entry],
    resize: Resize,
    classes: usize,
    on_bad: BadImage,
) -> Result<(ImageSet, Skipped), DataError> {
    let size = resize.size;
    let decoded: Vec<Result<Vec<u8>, String>> = entries
        .par_iter()
        .map(|e| load_one(&e.path, resize))
        .collect();
    let mut pixels = Vec::with_capacity(entries.len() * size * size * 3);
    let mut labels = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (e, d) in entries.iter().zip(decoded) {
        match d {
            Ok(p) => {
                pixels.extend_from_slice(&p);
                labels.push(e.label);
            }
            Err(why) if on_bad == BadImage::Skip => skipped.push((e.clone(), why)),
            Err(why) => {
                return Err(DataError::BadImage {
                    path: e.path.display().to_string(),
                    why,
                });
            }
        }
    }
    Ok((
        ImageSet {
            pixels,
            labels,
            height: size,
            width: size,
            channels: 3,
            classes,
        },
        skipped,
    ))
}

/// Every JPEG/PNG under `dir`, at any depth, sorted by path, all with label 0 (for sets
/// whose classes do not matter, such as out-of-distribution images).
pub fn scan_all(dir: &Path) -> Result<Vec<Entry>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            path: dir.display().to_string(),
            hint: "evaluation.ood: for imagefolder experiments each entry is a folder of JPEG/PNG images (at any depth)",
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let p = e.map_err(|e| io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                out.push(Entry { path: p, label: 0 });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads the header of every file in parallel (not the pixels: streaming decodes those while
/// training); files whose header cannot be read are an error or skipped, by `on_bad`.
pub fn check(entries: Vec<Entry>, on_bad: BadImage) -> Result<(Vec<Entry>, Skipped), DataError> {
    let verdicts: Vec<Option<String>> = entries
        .par_iter()
        .map(|e| match image::ImageReader::open(&e.path) {
            Err(err) => Some(err.to_string()),
            Ok(r) => match r.with_guessed_format() {
                Err(err) => Some(err.to_string()),
                Ok(r) => match r.into_dimensions() {
                    Err(err) => Some(err.to_string()),
                    Ok((0, _) | (_, 0)) => Some("empty image".into()),
                    Ok(_) => None,
                },
            },
        })
        .collect();
    let mut ok = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (e, why) in entries.into_iter().zip(verdicts) {
        match why {
            None => ok.push(e),
            Some(why) if on_bad == BadImage::Skip => skipped.push((e, why)),
            Some(why) => {
                return Err(DataError::BadImage {
                    path: e.path.display().to_string(),
                    why,
                });
            }
        }
    }
    Ok((ok, skipped))
}

/// A file decoded to 8-bit RGB, refused when it holds no pixel.
fn decode_rgb(path: &Path) -> Result<image::RgbImage, String> {
    let img = image::open(path).map_err(|e| e.to_string())?.to_rgb8();
    match img.width() == 0 || img.height() == 0 {
        true => Err("empty image".into()),
        false => Ok(img),
    }
}

/// One file: decode, resize the short side to `resize.short`, centre-crop the square.
pub fn load_one(path: &Path, resize: Resize) -> Result<Vec<u8>, String> {
    let img = decode_rgb(path)?;
    let (w, h) = img.dimensions();
    let size = resize.size;
    let short = resize.short.max(size) as f64;
    let scale = short / f64::from(w.min(h));
    let (nw, nh) = (
        ((f64::from(w) * scale).round() as u32).max(size as u32),
        ((f64::from(h) * scale).round() as u32).max(size as u32),
    );
    let resized = image::imageops::resize(&img, nw, nh, resize.interpolation.filter());
    let (x0, y0) = ((nw - size as u32) / 2, (nh - size as u32) / 2);
    let crop = image::imageops::crop_imm(&resized, x0, y0, size as u32, size as u32).to_image();
    Ok(crop.into_raw())
}

/// A random-resized-crop window `(x, y, w, h)` in whole pixels of a `width x height` image,
/// as torchvision's `RandomResizedCrop.get_params` draws it (DALI's `random_area` /
/// `random_aspect_ratio` with 100 attempts, as the official pipeline asks): area share in
/// `[min_area, 1]`, aspect log-uniform in `[3/4, 4/3]`; after 100 misses, the centred crop of
/// the whole image clamped to that aspect range.
pub fn crop_window(
    rng: &mut dyn rand::RngCore,
    width: u32,
    height: u32,
    min_area: f64,
) -> (u32, u32, u32, u32) {
    use rand::Rng;
    let area = f64::from(width) * f64::from(height);
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..100 {
        let target = area * rng.random_range(min_area..=1.0);
        let aspect = rng.random_range(lo..=hi).exp();
        let w = (target * aspect).sqrt().round() as u32;
        let h = (target / aspect).sqrt().round() as u32;
        if (1..=width).contains(&w) && (1..=height).contains(&h) {
            let x = rng.random_range(0..=width - w);
            let y = rng.random_range(0..=height - h);
            return (x, y, w, h);
        }
    }
    let ratio = f64::from(width) / f64::from(height);
    let (w, h) = if ratio < 3.0 / 4.0 {
        (
            width,
            ((f64::from(width) / (3.0 / 4.0)).round() as u32).min(height),
        )
    } else if ratio > 4.0 / 3.0 {
        (
            ((f64::from(height) * 4.0 / 3.0).round() as u32).min(width),
            height,
        )
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}

/// One file, a random-resized crop of the whole decoded image (`window` draws it from the
/// image's width and height) resized to `size x size`: the official training view.
pub fn load_cropped(
    path: &Path,
    size: usize,
    interpolation: Interpolation,
    window: &mut dyn FnMut(u32, u32) -> (u32, u32, u32, u32),
) -> Result<Vec<u8>, String> {
    let img = decode_rgb(path)?;
    let (x, y, cw, ch) = window(img.width(), img.height());
    let crop = image::imageops::crop_imm(&img, x, y, cw, ch).to_image();
    let side = size as u32;
    Ok(image::imageops::resize(&crop, side, side, interpolation.filter()).into_raw())
}

/// How an ImageFolder dataset is laid out, for error messages.
pub const FOLDER_HINT: &str = "data.path holds train/ and val/, each with one folder per class of JPEG or PNG files (the ImageNet layout), or give data.train_list/val_list";
