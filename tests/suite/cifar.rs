//! CIFAR-10/100 in their binary layout, from generated files: the planes become HWC pixels,
//! labels and class names are read, damage is named, and an experiment runs end to end.

use dynunc::data::format::cifar::{CIFAR10, CIFAR100};
use dynunc::data::{DataSpec, load};

use crate::common::*;

/// One record: `labels` then the three planes; pixel (y, x) of plane c is `c * 100 + y + x`
/// plus `salt` (mod 256), so every channel and position differs.
fn record(labels: &[u8], salt: usize) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                r.push(((c * 100 + y + x + salt) % 256) as u8);
            }
        }
    }
    r
}

/// A CIFAR-10 folder: `per_batch` records in each of the five training batches and in the
/// test batch, labels cycling through the 10 classes, and the names file.
fn write_cifar10(dir: &std::path::Path, per_batch: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let batch = |first: usize| -> Vec<u8> {
        (first..first + per_batch)
            .flat_map(|i| record(&[(i % 10) as u8], i))
            .collect()
    };
    for b in 0..5 {
        std::fs::write(
            dir.join(format!("data_batch_{}.bin", b + 1)),
            batch(b * per_batch),
        )
        .unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), batch(1000)).unwrap();
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(dir.join("batches.meta.txt"), names).unwrap();
}

#[test]
fn cifar10_batches_load_as_hwc_images() {
    let dir = temp();
    write_cifar10(dir.path(), 20);
    let s = load(&DataSpec::new(&CIFAR10, dir.path()), 0).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (100, 20));
    assert_eq!((s.train.shape(), s.train.classes()), ((3, 32, 32), 10));
    assert_eq!(s.class_names[0], "airplane");
    assert_eq!(s.class_names[9], "truck");
    let set = s.train.in_memory().unwrap();
    // Training image 27 (batch 2, record 7): label 7; pixel (y 3, x 5) holds plane c's
    // value c * 100 + 3 + 5 + 27.
    assert_eq!(set.labels[27], 7);
    let at = (3 * 32 + 5) * 3;
    assert_eq!(&set.image(27)[at..at + 3], &[35, 135, 235]);
}

#[test]
fn cifar100_takes_the_fine_label() {
    let dir = temp();
    // Coarse label 3, fine labels 0..100 twice: every fine class present.
    let train: Vec<u8> = (0..200)
        .flat_map(|i| record(&[3, (i % 100) as u8], i))
        .collect();
    let test: Vec<u8> = (0..10).flat_map(|i| record(&[3, 42], i)).collect();
    std::fs::write(dir.path().join("train.bin"), train).unwrap();
    std::fs::write(dir.path().join("test.bin"), test).unwrap();
    let s = load(&DataSpec::new(&CIFAR100, dir.path()), 0).unwrap();
    assert_eq!((s.train.len(), s.train.classes()), (200, 100));
    assert_eq!(s.train.labels()[57], 57);
    assert!(s.test.labels().iter().all(|&l| l == 42));
    // No names file: the classes are numbered.
    assert_eq!(s.class_names[42], "42");
}

#[test]
fn damaged_or_missing_cifar_files_are_named() {
    let dir = temp();
    write_cifar10(dir.path(), 20);
    let batch = dir.path().join("data_batch_3.bin");
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&batch, &bytes).unwrap();
    let err = load(&DataSpec::new(&CIFAR10, dir.path()), 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_batch_3.bin") && err.contains("3073-byte"),
        "{err}"
    );
    std::fs::remove_file(&batch).unwrap();
    let err = load(&DataSpec::new(&CIFAR10, dir.path()), 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_batch_3.bin") && err.contains("cifar-10-binary.tar.gz"),
        "{err}"
    );
    // CIFAR-10 files read as CIFAR-100: 3073-byte records are not 3074-byte ones.
    write_cifar10(dir.path(), 20);
    std::fs::rename(
        dir.path().join("test_batch.bin"),
        dir.path().join("test.bin"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("data_batch_1.bin"),
        dir.path().join("train.bin"),
    )
    .unwrap();
    let err = load(&DataSpec::new(&CIFAR100, dir.path()), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3074-byte cifar100 records"), "{err}");
}

#[test]
fn a_cifar10_experiment_runs_end_to_end() {
    let dir = temp();
    let data = p(dir.path(), "cifar");
    write_cifar10(&data, 40);
    let out = p(dir.path(), "results");
    let file = p(dir.path(), "c.yaml");
    let yaml = tiny_experiment("c", &data, &out, "")
        .replace("  path:", "  dataset: cifar10\n  path:")
        .replace(
            "prune_ratios: [0.5, 0.75]\n  seeds: [0, 1]",
            "prune_ratios: [0.5]\n  seeds: [0]",
        );
    std::fs::write(&file, &yaml).unwrap();
    let o = run_in(dir.path(), &["run", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = dynunc::report::read_rows(&out.join("c/main.csv")).unwrap();
    assert_eq!(rows.len(), 1 + 5);
    assert!(
        rows.iter().all(|r| r.kept == 200 || r.kept == 100),
        "{rows:?}"
    );
    // A key of another format is refused, naming the format it belongs to.
    std::fs::write(
        &file,
        yaml.replace(
            "  dataset: cifar10\n",
            "  dataset: cifar10\n  image_size: 32\n",
        ),
    )
    .unwrap();
    let o = run_in(dir.path(), &["run", "--dry-run", file.to_str().unwrap()]);
    assert!(
        !o.status.success()
            && stderr(&o)
                .contains("data.image_size: applies to `dataset: imagefolder` only, not cifar10"),
        "{}",
        stderr(&o)
    );
}
