//! ImageFolder data: scanning, file lists, decoding and the eval transform, unreadable files,
//! the random-resized-crop transform, the streaming loader, and experiments end to end (Swin
//! and ResNet; streamed against in-memory, with an out-of-distribution image folder).

use crate::common::*;
use dynunc::data::augment::{Augment, Normalize, fill_batch};
use dynunc::data::folder::{self, BadImage, Interpolation, Resize};
use dynunc::data::loader::{Loader, Streaming};
use dynunc::data::{FileSet, Images};
use rand::SeedableRng;

#[test]
fn scan_sorts_classes_and_files_and_ignores_other_files() {
    let dir = temp();
    write_image_folder(dir.path(), 4, false);
    let (entries, classes) = folder::scan(&dir.path().join("train")).unwrap();
    assert_eq!(classes, ["ant", "bee", "cat"]);
    assert_eq!(entries.len(), 12);
    let names: Vec<String> = entries
        .iter()
        .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names[..4],
        ["ant_000.jpg", "ant_001.png", "ant_002.jpg", "ant_003.png"]
    );
    assert_eq!(entries.iter().filter(|e| e.label == 2).count(), 4);
    let err = folder::scan(&dir.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nowhere") && err.contains("one folder per class"),
        "{err}"
    );
}

#[test]
fn file_lists_in_the_authors_form_are_read_and_bad_lines_named() {
    let dir = temp();
    let list = dir.path().join("file_list.txt");
    std::fs::write(&list, "# kept subset\n/n01/a.JPEG 0\nn02/b.png 7\n\n").unwrap();
    let entries = folder::read_list(&list, std::path::Path::new("/data/train")).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].path,
        std::path::Path::new("/data/train/n01/a.JPEG")
    );
    assert_eq!((entries[0].label, entries[1].label), (0, 7));
    std::fs::write(&list, "/n01/a.JPEG 0\n/n01/b.JPEG x\n").unwrap();
    let err = folder::read_list(&list, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("file_list.txt:2") && err.contains("not a non-negative integer"),
        "{err}"
    );
}

#[test]
fn images_are_resized_and_centre_cropped_to_the_square() {
    let dir = temp();
    let path = dir.path().join("wide.png");
    // 40x20: left half black, right half white. The short side goes to 16 * 8 / 7 -> 19 (so
    // the image is 38x19), then a centred 16x16 crop keeps the middle: dark left, light right.
    image::RgbImage::from_fn(40, 20, |x, _| {
        image::Rgb(if x < 20 { [0; 3] } else { [255; 3] })
    })
    .save(&path)
    .unwrap();
    let px = folder::load_one(&path, Resize::eval(16, 0.875, Interpolation::Bilinear)).unwrap();
    assert_eq!(px.len(), 16 * 16 * 3);
    let at = |y: usize, x: usize| px[(y * 16 + x) * 3];
    assert!(
        at(8, 0) < 10 && at(8, 15) > 245,
        "{} {}",
        at(8, 0),
        at(8, 15)
    );
    let err = folder::load_one(
        &dir.path().join("missing.jpg"),
        Resize::eval(16, 0.875, Interpolation::Bilinear),
    )
    .unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn unreadable_images_stop_or_are_skipped() {
    let dir = temp();
    write_image_folder(dir.path(), 2, true);
    let (entries, classes) = folder::scan(&dir.path().join("train")).unwrap();
    let err = folder::decode(
        &entries,
        Resize::eval(12, 0.875, Interpolation::Bilinear),
        classes.len(),
        BadImage::Error,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("broken.jpg") && err.contains("on_bad_image: skip"),
        "{err}"
    );
    let (set, skipped) = folder::decode(
        &entries,
        Resize::eval(12, 0.875, Interpolation::Bilinear),
        classes.len(),
        BadImage::Skip,
    )
    .unwrap();
    assert_eq!(set.len(), 6);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].0.path.ends_with("bee/broken.jpg"));
    assert_eq!((set.height, set.width, set.channels), (12, 12, 3));
}

#[test]
fn random_resized_crop_keeps_the_shape_and_the_normalised_range() {
    let dir = temp();
    write_image_folder(dir.path(), 3, false);
    let (entries, classes) = folder::scan(&dir.path().join("train")).unwrap();
    let (set, _) = folder::decode(
        &entries,
        Resize::eval(16, 0.875, Interpolation::Bilinear),
        classes.len(),
        BadImage::Error,
    )
    .unwrap();
    let augment = Augment {
        resized_crop: Some(0.08),
        flip: true,
        ..Augment::default()
    };
    let norm = Normalize::IMAGENET;
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut a = Vec::new();
    fill_batch(&set, &idx, norm, Some((&augment, &mut rng)), &mut a);
    let mut plain = Vec::new();
    fill_batch(&set, &idx, norm, None, &mut plain);
    assert_eq!(a.len(), set.len() * 3 * 16 * 16);
    assert_eq!(a.len(), plain.len());
    assert_ne!(a, plain, "the crops change the batch");
    let lo = (0.0 - 0.485) / 0.229;
    let hi = (1.0 - 0.406) / 0.225;
    assert!(a.iter().all(|&v| v >= lo - 1e-4 && v <= hi + 1e-4));
    // Seeded: the same generator state gives the same batch.
    let mut again = Vec::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    fill_batch(&set, &idx, norm, Some((&augment, &mut rng)), &mut again);
    assert_eq!(a, again);
}

/// A tiny ImageFolder experiment with a Swin and a ResNet at 16x16, random-resized crops,
/// one unreadable file skipped: every row, the skipped list, and the kept subsets exported
/// as indices and as a file list.
#[test]
fn an_image_folder_experiment_runs_end_to_end() {
    let dir = temp();
    let data = dir.path().join("imagenet");
    write_image_folder(&data, 8, true);
    // Validation files renamed as ImageNet's are, numbered so that name order interleaves
    // the classes; real.json lists each one's true class in that order, so ReaL accuracy
    // must equal top-1 accuracy exactly (the metric itself is tested in eval.rs beside this file).
    let mut labels_by_number = std::collections::BTreeMap::new();
    for (c, class) in ["ant", "bee", "cat"].iter().enumerate() {
        for i in 0..3 {
            let ext = if i % 2 == 0 { "jpg" } else { "png" };
            let number = 1 + i * 3 + (2 - c); // 3 2 1, 6 5 4, 9 8 7 ...
            let from = data
                .join("val")
                .join(class)
                .join(format!("{class}_{i:03}.{ext}"));
            let to = data
                .join("val")
                .join(class)
                .join(format!("ILSVRC2012_val_{number:08}.{ext}"));
            std::fs::rename(from, to).unwrap();
            labels_by_number.insert(number, c);
        }
    }
    let real: Vec<Vec<usize>> = labels_by_number.values().map(|&c| vec![c]).collect();
    let real_json = dir.path().join("real.json");
    std::fs::write(&real_json, serde_json::to_string(&real).unwrap()).unwrap();
    let out = dir.path().join("results");
    let yaml = format!(
        "name: folder\nbackend: flex\ndata:\n  dataset: imagefolder\n  path: {}\n  image_size: 16\n  on_bad_image: skip\nmodels:\n  - arch: swin_mini\n    window_size: 4\n    widths: [8, 16]\n    heads: [1, 2]\n  - arch: resnet_mini\n    widths: [4, 8]\n    depths: [1, 1]\ntrain:\n  epochs: 2\n  batch_size: 8\n  optimizer: adamw\n  random_resized_crop: 0.35\n  flip: true\nscoring:\n  methods: [dyn_unc, el2n]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\nevaluation:\n  real_labels: {}\noutput:\n  dir: {}\n",
        data.display(),
        real_json.display(),
        out.display()
    );
    let file = dir.path().join("folder.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("skipped 1 unreadable image"),
        "{}",
        stderr(&o)
    );
    let res = out.join("folder");
    let skipped = std::fs::read_to_string(res.join("skipped_images.txt")).unwrap();
    assert!(skipped.contains("broken.jpg"));
    let rows = dynunc::report::read_rows(&res.join("main.csv")).unwrap();
    // 2 methods x (2 sources x 2 targets)
    assert_eq!(rows.len(), 8);
    assert!(
        rows.iter().all(|r| r.kept == 12),
        "half of 24 readable images"
    );
    for r in &rows {
        assert_eq!(r.real_acc, Some(r.test_acc), "{r:?}");
    }
    let md = std::fs::read_to_string(res.join("main.md")).unwrap();
    assert!(md.contains("ImageNet-ReaL accuracy in %"), "{md}");
    let list = std::fs::read_to_string(res.join("subsets/swin_mini/dyn_unc_prune50.file_list.txt"))
        .unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 12);
    for l in &lines {
        let (path, label) = l.rsplit_once(' ').unwrap();
        let class = ["ant", "bee", "cat"][label.parse::<usize>().unwrap()];
        assert!(path.starts_with(&format!("/{class}/{class}_")), "{l}");
    }
    let indices =
        std::fs::read_to_string(res.join("subsets/resnet_mini/el2n_prune50.txt")).unwrap();
    assert_eq!(indices.lines().count(), 12);
    let readme = std::fs::read_to_string(res.join("README.md")).unwrap();
    assert!(
        !readme.contains("n/a: ReaL"),
        "ReaL was requested:\n{readme}"
    );
    // `full_data: false`: the cost table has no full-data row (it printed zeros as "-0")
    assert!(
        readme.contains("| pruned retrains |") && !readme.contains("full-data trainings |"),
        "{readme}"
    );
}

/// The streaming loader hands over exactly the bytes the memory loader holds, batch by batch,
/// in the order asked, with the full set's indices; a file that passes the header check but
/// cannot be decoded stops the loader with its path.
#[test]
fn streamed_batches_equal_the_decoded_set() {
    let dir = temp();
    write_image_folder(dir.path(), 5, false);
    let (entries, classes) = folder::scan(&dir.path().join("train")).unwrap();
    let (set, _) = folder::decode(
        &entries,
        Resize::eval(12, 0.875, Interpolation::Bilinear),
        classes.len(),
        BadImage::Error,
    )
    .unwrap();
    let streaming = Streaming {
        workers: 2,
        prefetch: 1,
    };
    let files = Images::Files(FileSet::new(
        &entries,
        Resize::eval(12, 0.875, Interpolation::Bilinear),
        classes.len(),
        streaming,
    ));
    let memory = Images::Memory(set.clone());
    assert_eq!(files.len(), memory.len());
    assert_eq!(files.labels(), memory.labels());
    assert_eq!(files.shape(), (3, 12, 12));
    let order = vec![14, 3, 7, 0, 9, 1, 12, 5, 2, 11, 6, 13, 4, 10, 8];
    let mut seen = 0;
    for (a, b) in Loader::new(&files, &order, 4).zip(Loader::new(&memory, &order, 4)) {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.global, b.global);
        assert_eq!(a.labels(), b.labels());
        for (&i, &j) in a.local.iter().zip(b.local.iter()) {
            assert_eq!(a.set.image(i), b.set.image(j));
        }
        seen += a.global.len();
    }
    assert_eq!(seen, order.len());
    // A subset streams its own files.
    let sub = files.take(&[4, 2]);
    assert_eq!(sub.decode(&[0, 1]).unwrap(), set.take(&[4, 2]));
    // Dropping a loader part-way stops its thread (the test would hang otherwise).
    let mut early = Loader::new(&files, &order, 2);
    assert!(early.next().unwrap().is_ok());
    drop(early);

    // A truncated PNG: the header reads, the pixels do not.
    let truncated = dir.path().join("train/bee/truncated.png");
    let png = entries
        .iter()
        .find(|e| e.path.extension().unwrap() == "png")
        .unwrap();
    let full = std::fs::read(&png.path).unwrap();
    // Cut a few bytes into the first image-data chunk.
    let idat = full.windows(4).position(|w| w == b"IDAT").unwrap();
    std::fs::write(&truncated, &full[..idat + 4 + 6]).unwrap();
    let (entries, _) = folder::scan(&dir.path().join("train")).unwrap();
    let (checked, skipped) = folder::check(entries, BadImage::Error).unwrap();
    assert!(skipped.is_empty());
    let files = Images::Files(FileSet::new(
        &checked,
        Resize::eval(12, 0.875, Interpolation::Bilinear),
        classes.len(),
        streaming,
    ));
    let all: Vec<usize> = (0..files.len()).collect();
    let err = Loader::new(&files, &all, 4)
        .find_map(|b| b.err())
        .expect("the truncated file fails")
        .to_string();
    assert!(err.contains("truncated.png"), "{err}");
}

#[test]
fn the_header_check_skips_or_names_files_that_are_not_images() {
    let dir = temp();
    write_image_folder(dir.path(), 2, true);
    let (entries, _) = folder::scan(&dir.path().join("train")).unwrap();
    let err = folder::check(entries.clone(), BadImage::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.jpg"), "{err}");
    let (ok, skipped) = folder::check(entries, BadImage::Skip).unwrap();
    assert_eq!((ok.len(), skipped.len()), (6, 1));
    assert!(skipped[0].0.path.ends_with("bee/broken.jpg"));
}

/// The same small experiment with images decoded in memory and streamed from their files
/// (two decode threads, prefetch 2), with an out-of-distribution folder of images: every
/// score, accuracy and OOD metric is the same.
#[test]
fn a_streamed_run_equals_an_in_memory_run() {
    let dir = temp();
    let data = dir.path().join("folder");
    write_image_folder(&data, 6, true);
    // OOD images: grey noise of other sizes, in nested folders.
    let ood = dir.path().join("ood");
    for (k, sub) in ["a", "b/c"].iter().enumerate() {
        std::fs::create_dir_all(ood.join(sub)).unwrap();
        for i in 0..3u32 {
            let img = image::RgbImage::from_fn(17 + i, 23, |x, y| {
                let v = ((x * 29 + y * 17 + i * 7 + k as u32 * 3) % 255) as u8;
                image::Rgb([v, v, v])
            });
            img.save(ood.join(sub).join(format!("noise{i}.png")))
                .unwrap();
        }
    }
    let mut folders = Vec::new();
    for loader in ["memory", "stream"] {
        let out = dir.path().join(format!("results-{loader}"));
        let yaml = format!(
            "name: streamed\nbackend: flex\ndata:\n  dataset: imagefolder\n  path: {}\n  image_size: 12\n  on_bad_image: skip\n  loader: {loader}\n  workers: 2\n  prefetch: 2\nmodel:\n  arch: resnet_mini\n  widths: [4, 8]\n  depths: [1, 1]\ntrain:\n  epochs: 2\n  batch_size: 5\n  random_resized_crop: 0.5\n  flip: true\nscoring:\n  methods: [dyn_unc]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\nevaluation:\n  ood:\n    - name: noise\n      path: {}\noutput:\n  dir: {}\n",
            data.display(),
            ood.display(),
            out.display()
        );
        let file = dir.path().join(format!("{loader}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let o = run_in(dir.path(), &[file.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let said = if loader == "stream" {
            "streamed from files"
        } else {
            "decoded in memory"
        };
        assert!(stderr(&o).contains(said), "{}", stderr(&o));
        folders.push(out.join("streamed"));
    }
    let read = |dir: &std::path::Path, file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    for file in ["ood.csv", "work/scores/dyn_unc.csv"] {
        let (a, b) = (read(&folders[0], file), read(&folders[1], file));
        assert!(a.lines().count() > 1, "{file} has rows");
        assert_eq!(a, b, "{file}");
    }
    assert_eq!(
        csv_without_wall_time(&folders[0].join("main.csv")),
        csv_without_wall_time(&folders[1].join("main.csv"))
    );
    let ood_rows = std::fs::read_to_string(folders[1].join("ood.csv")).unwrap();
    assert!(ood_rows.contains("noise"), "{ood_rows}");
}

/// A 28x28 black PNG with a bright 2-pixel frame, in `dir`.
fn framed(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("framed.png");
    image::RgbImage::from_fn(28, 28, |x, y| {
        let frame = x < 2 || y < 2 || x >= 26 || y >= 26;
        image::Rgb(if frame { [255; 3] } else { [0; 3] })
    })
    .save(&path)
    .unwrap();
    path
}

/// Training images keep their whole short side (the authors' clean view: short side to the
/// size, centre crop); validation images are resized to 8/7 of the size first, so their crop
/// loses a margin: a square image's bright 2-pixel frame stays in the first and not the second.
#[test]
fn training_images_keep_the_short_side_and_validation_images_a_margin_less() {
    let dir = temp();
    let path = framed(dir.path());
    let edge = |r: Resize| folder::load_one(&path, r).unwrap()[(r.size / 2 * r.size) * 3];
    let (train, eval) = (
        edge(Resize::train(14, Interpolation::Bilinear)),
        edge(Resize::eval(14, 0.875, Interpolation::Bilinear)),
    );
    assert!(train > 200 && eval < 100, "train {train}, eval {eval}");
}

/// Reflect padding fills the crop's border from the image (never black); zero padding does
/// not: an all-200 image keeps only 200s with `reflect` and shows 0s with `zeros`.
#[test]
fn reflect_padding_mirrors_the_image_into_the_border() {
    let set = dynunc::data::ImageSet {
        pixels: vec![200; 4 * 4 * 3],
        labels: vec![0],
        height: 4,
        width: 4,
        channels: 3,
        classes: 1,
    };
    let norm = Normalize::IMAGENET;
    let lut = |p: f32, ch: usize| (p / 255.0 - norm.mean[ch]) / norm.std[ch];
    let idx = vec![0usize; 40];
    let values = |reflect: bool| {
        let augment = Augment {
            crop_padding: 2,
            crop_reflect: reflect,
            ..Augment::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut out = Vec::new();
        fill_batch(&set, &idx, norm, Some((&augment, &mut rng)), &mut out);
        out
    };
    let red = |v: &[f32]| -> Vec<f32> { v.chunks(16).step_by(3).flatten().copied().collect() };
    assert!(
        red(&values(true))
            .iter()
            .all(|&v| (v - lut(200.0, 0)).abs() < 1e-6)
    );
    assert!(
        red(&values(false))
            .iter()
            .any(|&v| (v - lut(0.0, 0)).abs() < 1e-6)
    );
}

/// `eval_crop: 1.0` (the authors' evaluation: short side to the size, centre crop) keeps the
/// frame a 0.875 crop cuts away, exactly as the training view does; the short side is
/// `size / crop` rounded up: 256 for 224 at 0.875, 224 at 1.0, 37 for 32 at 0.875.
#[test]
fn the_evaluation_crop_share_sets_the_short_side() {
    assert_eq!(Resize::eval(224, 0.875, Interpolation::Bilinear).short, 256);
    assert_eq!(Resize::eval(224, 1.0, Interpolation::Bilinear).short, 224);
    assert_eq!(Resize::eval(32, 0.875, Interpolation::Bilinear).short, 37);
    let dir = temp();
    let path = framed(dir.path());
    let full = folder::load_one(&path, Resize::eval(14, 1.0, Interpolation::Bilinear)).unwrap();
    let train = folder::load_one(&path, Resize::train(14, Interpolation::Bilinear)).unwrap();
    assert_eq!(full, train);
}

/// Bicubic (Catmull-Rom) overshoots at a step edge where bilinear cannot: a 0-to-200 step
/// halved in width gives bilinear values within [0, 200] and bicubic ones beyond them
/// (clamped to 255 / 0 in bytes: the dark side dips to 0 next to the edge, the bright side
/// rises above 200).
#[test]
fn bicubic_resizing_rings_at_an_edge_and_bilinear_does_not() {
    let dir = temp();
    let path = dir.path().join("step.png");
    image::RgbImage::from_fn(64, 32, |x, _| {
        image::Rgb(if x < 32 { [40; 3] } else { [200; 3] })
    })
    .save(&path)
    .unwrap();
    let row = |i: Interpolation| -> Vec<u8> {
        // Short side 32 -> 16: the image becomes 32x16, the centre 16x16 crop holds the step.
        let px = folder::load_one(&path, Resize::train(16, i)).unwrap();
        (0..16).map(|x| px[(8 * 16 + x) * 3]).collect()
    };
    let (lin, cub) = (row(Interpolation::Bilinear), row(Interpolation::Bicubic));
    assert!(
        lin.iter().all(|&v| (40..=200).contains(&v)),
        "bilinear {lin:?}"
    );
    assert!(
        cub.iter().any(|&v| v > 200) && cub.iter().any(|&v| v < 40),
        "bicubic {cub:?}"
    );
    assert_eq!((lin[0], lin[15]), (40, 200));
}

/// The authors' released coresets (`IN1K_75_file_list.txt`: `/<class>/<file> <label>` per
/// line, labels by the classes' lexicographic order, as their README's file_list script writes
/// them) train through `data.train_list`: a run on a 75% list trains on exactly those images.
#[test]
fn a_released_coreset_file_list_trains_on_exactly_its_images() {
    let dir = temp();
    let data = dir.path().join("imagenet");
    crate::common::write_image_folder(&data, 8, false);
    // Their script: classes sorted, images sorted per class, `/class/name label`; keep the
    // first 6 of each class's 8 (75%).
    let mut list = String::new();
    for (label, class) in ["ant", "bee", "cat"].iter().enumerate() {
        let mut names: Vec<String> = std::fs::read_dir(data.join("train").join(class))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".txt"))
            .collect();
        names.sort();
        for n in &names[..6] {
            list.push_str(&format!("/{class}/{n} {label}\n"));
        }
    }
    let list_path = data.join("train/IN1K_75_file_list.txt");
    std::fs::write(&list_path, &list).unwrap();
    let out = dir.path().join("results");
    let yaml = format!(
        "name: coreset\nbackend: flex\ndata:\n  dataset: imagefolder\n  path: {}\n  image_size: 12\n  train_list: {}\nmodel:\n  arch: mlp\n  hidden: 8\ntrain:\n  epochs: 1\n  batch_size: 6\nscoring:\n  methods: [random]\nretrain:\n  prune_ratios: []\n  seeds: [0]\noutput:\n  dir: {}\n",
        data.display(),
        list_path.display(),
        out.display()
    );
    let file = dir.path().join("coreset.yaml");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_rows(&out.join("coreset/main.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].kept, 18,
        "the 18 listed images, not the folder's 24"
    );
    assert!(stderr(&o).contains("18 training"), "{}", stderr(&o));
}
