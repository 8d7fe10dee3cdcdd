//! `dynunc data download` without the network: MD5 against RFC 1321's test suite, the tar.gz
//! extraction on a generated archive (only the dataset's folder, nothing outside the target),
//! and the refusals a user meets (a file that is not the published one, a dataset dynunc does
//! not fetch).

use std::io::Write as _;
use std::path::Path;

use dynunc::data::download::{extract_tar_gz, md5_hex};

use crate::common::*;

#[test]
fn md5_matches_rfc_1321s_test_suite() {
    for (input, want) in [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ] {
        assert_eq!(md5_hex(input.as_bytes()).unwrap(), want, "{input:?}");
    }
    // fed in pieces that straddle the 64-byte blocks
    let long: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
    let whole = md5_hex(&long[..]).unwrap();
    let pieces = std::io::Read::chain(
        &long[..63],
        std::io::Read::chain(&long[63..130], &long[130..]),
    );
    assert_eq!(md5_hex(pieces).unwrap(), whole);
}

/// One ustar member: a 512-byte header, then the data padded to 512 bytes.
fn member(name: &str, kind: u8, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn tar_gz(path: &Path, members: &[Vec<u8>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    for m in members {
        gz.write_all(m).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap();
}

#[test]
fn the_archive_gives_its_dataset_folder_and_nothing_else() {
    let dir = temp();
    let archive = dir.path().join("a.tar.gz");
    let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    tar_gz(
        &archive,
        &[
            member("set/", b'5', &[]),
            member("set/data_batch_1.bin", b'0', &big),
            member("set/readme.html", b'0', b"<p>hi</p>"),
            member("other/file.bin", b'0', b"not ours"),
        ],
    );
    let to = dir.path().join("out");
    assert_eq!(extract_tar_gz(&archive, "set", &to).unwrap(), 2);
    assert_eq!(std::fs::read(to.join("set/data_batch_1.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read(to.join("set/readme.html")).unwrap(),
        b"<p>hi</p>"
    );
    assert!(!to.join("other").exists());

    // a member that would leave the folder is refused, with the archive named
    tar_gz(&archive, &[member("set/../../evil", b'0', b"x")]);
    let err = extract_tar_gz(&archive, "set", &to)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.tar.gz") && err.contains("leaves the folder"),
        "{err}"
    );
    assert!(!dir.path().join("evil").exists());
    // a truncated archive is named too
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let err = extract_tar_gz(&archive, "set", &to)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.tar.gz"), "{err}");
}

#[test]
fn a_file_that_is_not_the_published_one_is_refused() {
    let dir = temp();
    let fake = dir.path().join("cifar-10-binary.tar.gz");
    std::fs::write(&fake, b"not the archive").unwrap();
    let to = dir.path().join("data");
    let o = run_in(
        dir.path(),
        &[
            "data",
            "download",
            "cifar10",
            "--from",
            fake.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cifar-10-binary.tar.gz")
            && err.contains("c32a1d4ab5d03f1284b67883e8d87530")
            && err.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"),
        "{err}"
    );
    assert!(!to.join("cifar-10-batches-bin").exists());

    // Fashion-MNIST from a folder: each file is checked (these are the wrong bytes)
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::write(dir.path().join(f), f).unwrap();
    }
    let o = run_in(
        dir.path(),
        &[
            "data",
            "download",
            "fashion_mnist",
            "--from",
            ".",
            "--to",
            "fm",
        ],
    );
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "{err}"
    );

    // datasets dynunc does not fetch, and names it does not know
    let o = run_in(
        dir.path(),
        &["data", "download", "imagefolder", "--to", "x"],
    );
    let err = stderr(&o);
    assert!(
        err.contains("does not download `imagefolder`")
            && err.contains("cifar10, cifar100")
            && err.contains("fashion_mnist"),
        "{err}"
    );
    let o = run_in(dir.path(), &["data", "download", "svhn", "--to", "x"]);
    assert!(
        stderr(&o).contains("`svhn` is not one of"),
        "{}",
        stderr(&o)
    );
}
