//! ImageFolder data: scanning, file lists, decoding and the eval transform, unreadable files,
//! the random-resized-crop transform, and an experiment end to end with Swin and ResNet.

mod common;

use common::*;
use dynunc::data::augment::{Augment, Normalize, fill_batch};
use dynunc::data::folder::{self, BadImage};
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
    let px = folder::load_one(&path, 16).unwrap();
    assert_eq!(px.len(), 16 * 16 * 3);
    let at = |y: usize, x: usize| px[(y * 16 + x) * 3];
    assert!(
        at(8, 0) < 10 && at(8, 15) > 245,
        "{} {}",
        at(8, 0),
        at(8, 15)
    );
    let err = folder::load_one(&dir.path().join("missing.jpg"), 16).unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn unreadable_images_stop_or_are_skipped() {
    let dir = temp();
    write_image_folder(dir.path(), 2, true);
    let (entries, classes) = folder::scan(&dir.path().join("train")).unwrap();
    let err = folder::decode(&entries, 12, classes.len(), BadImage::Error)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken.jpg") && err.contains("on_bad_image: skip"),
        "{err}"
    );
    let (set, skipped) = folder::decode(&entries, 12, classes.len(), BadImage::Skip).unwrap();
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
    let (set, _) = folder::decode(&entries, 16, classes.len(), BadImage::Error).unwrap();
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
    // must equal top-1 accuracy exactly (the metric itself is tested in tests/eval.rs).
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
}
