//! `train.crop_from: file`: the random-resized crop taken from each whole file as it is decoded
//! (the official ImageNet pipeline) instead of from the stored square: the window's draw, the
//! crop itself, and streamed runs that equal each other whatever the decode threads.

use dynunc::data::folder::{Interpolation, crop_window, load_cropped};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::*;

#[test]
fn crop_windows_stay_inside_and_fall_back_to_the_centre() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..500 {
        let (x, y, w, h) = crop_window(&mut rng, 40, 30, 0.08);
        assert!(
            w >= 1 && h >= 1 && x + w <= 40 && y + h <= 30,
            "{x} {y} {w} {h}"
        );
        // area share and aspect as drawn, up to the rounding of small sides
        let area = f64::from(w * h) / 1200.0;
        let aspect = f64::from(w) / f64::from(h);
        assert!((0.08 * 0.7..=1.0).contains(&area), "area {area}");
        assert!(
            (0.75 * 0.8..=4.0 / 3.0 * 1.25).contains(&aspect),
            "aspect {aspect}"
        );
    }
    // The whole area at aspect 2 never fits an aspect in [3/4, 4/3]: after the attempts, the
    // centred crop of the whole height at aspect 4/3 (67 = round(50 x 4/3), x = 33 / 2).
    assert_eq!(crop_window(&mut rng, 100, 50, 1.0), (16, 0, 67, 50));
    assert_eq!(crop_window(&mut rng, 50, 100, 1.0), (0, 16, 50, 67));
    // seeded
    let draw = |seed| crop_window(&mut ChaCha8Rng::seed_from_u64(seed), 640, 480, 0.08);
    assert_eq!(draw(7), draw(7));
}

#[test]
fn the_crop_is_the_window_of_the_whole_file_resized() {
    let dir = temp();
    let path = dir.path().join("wide.png");
    let img = image::RgbImage::from_fn(30, 12, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 20) as u8, ((x + y) * 5) as u8])
    });
    img.save(&path).unwrap();
    let filter = image::imageops::FilterType::Triangle;
    // the whole file, squeezed to a square (the stored view would have cut its sides)
    let whole = load_cropped(&path, 8, Interpolation::Bilinear, &mut |w, h| (0, 0, w, h)).unwrap();
    assert_eq!(
        whole,
        image::imageops::resize(&img, 8, 8, filter).into_raw()
    );
    // a window: that part of the file, resized
    let part = load_cropped(&path, 8, Interpolation::Bilinear, &mut |_, _| {
        (20, 2, 10, 9)
    })
    .unwrap();
    let want = image::imageops::crop_imm(&img, 20, 2, 10, 9).to_image();
    assert_eq!(
        part,
        image::imageops::resize(&want, 8, 8, filter).into_raw()
    );
}

fn experiment(
    data: &std::path::Path,
    out: &std::path::Path,
    loader: &str,
    workers: usize,
) -> String {
    format!(
        "name: crops\nbackend: flex\ndata:\n  dataset: imagefolder\n  path: {}\n  image_size: 12\n  on_bad_image: skip\n  loader: {loader}\n  workers: {workers}\n  prefetch: 2\nmodel:\n  arch: resnet_mini\n  widths: [4, 8]\n  depths: [1, 1]\ntrain:\n  epochs: 2\n  batch_size: 5\n  random_resized_crop: 0.3\n  crop_from: file\n  flip: true\ndynamics:\n  view: clean\nscoring:\n  methods: [dyn_unc]\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\n  full_data: false\noutput:\n  dir: {}\n",
        data.display(),
        out.display()
    )
}

#[test]
fn streamed_runs_cropping_from_the_files_agree_whatever_the_decode_threads() {
    let dir = temp();
    let data = dir.path().join("folder");
    write_image_folder(&data, 6, false);
    let mut folders = Vec::new();
    for workers in [1, 2] {
        let out = dir.path().join(format!("results-{workers}"));
        let file = dir.path().join(format!("w{workers}.yaml"));
        std::fs::write(&file, experiment(&data, &out, "stream", workers)).unwrap();
        let o = run_in(dir.path(), &[file.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        folders.push(out.join("crops"));
    }
    let read =
        |d: &std::path::Path| std::fs::read_to_string(d.join("work/scores/dyn_unc.csv")).unwrap();
    assert_eq!(read(&folders[0]), read(&folders[1]));
    assert_eq!(
        csv_without_wall_time(&folders[0].join("main.csv")),
        csv_without_wall_time(&folders[1].join("main.csv"))
    );

    // Cropping the stored square instead trains on other pixels: other scores.
    let out = dir.path().join("results-stored");
    let file = dir.path().join("stored.yaml");
    let yaml = experiment(&data, &out, "stream", 2).replace("  crop_from: file\n", "");
    std::fs::write(&file, yaml).unwrap();
    let o = run_in(dir.path(), &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(read(&out.join("crops")), read(&folders[0]));

    // Held in memory, the files are not decoded per batch: refused, with the fix.
    let file = dir.path().join("memory.yaml");
    std::fs::write(&file, experiment(&data, &dir.path().join("m"), "memory", 1)).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("train.crop_from") && err.contains("loader: stream"),
        "{err}"
    );
    // Without a resized crop there is nothing to take from the file.
    let yaml = experiment(&data, &dir.path().join("n"), "stream", 1)
        .replace("  random_resized_crop: 0.3\n", "");
    std::fs::write(&file, yaml).unwrap();
    let err = stderr(&run_in(dir.path(), &[file.to_str().unwrap()]));
    assert!(
        err.contains("train.crop_from") && err.contains("random_resized_crop"),
        "{err}"
    );
}
