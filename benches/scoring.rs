//! Scoring throughput: Dyn-Unc on synthetic dynamics streamed from a store file, beside a pass
//! that only reads the same column, so the ratio shows how close scoring is to read-bound.
//!
//! `cargo bench --bench scoring` (1,000,000 samples x 100 epochs; the store is ~500 MB in the
//! system temp folder). `DYNUNC_BENCH_SAMPLES` and `DYNUNC_BENCH_EPOCHS` change the size
//! (13000000 and 90 is ImageNet-21K's). Prints the peak resident memory.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynunc::dynamics::store::{StoreReader, StoreWriter};
use dynunc::dynamics::{EpochColumns, EpochSource, Field, FieldSet, flags};
use dynunc::score::{self, ScoreParams};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn samples() -> usize {
    env_or("DYNUNC_BENCH_SAMPLES", 1_000_000)
}

fn epochs() -> usize {
    env_or("DYNUNC_BENCH_EPOCHS", 100)
}

fn store() -> PathBuf {
    let n = samples();
    let path = std::env::temp_dir().join(format!("dynunc-bench-{n}x{}.dyn", epochs()));
    if StoreReader::open(&path).is_ok_and(|r| r.shape().epochs == epochs()) {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 1000).collect();
    let fields = FieldSet::of(&[Field::PTrue, Field::Flags]);
    let mut w = StoreWriter::open(&path, &labels, 1000, fields).unwrap();
    let mut x = 0x9e37_79b9u32;
    for k in 0..epochs() {
        let p = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let drift = (k as f32 / epochs() as f32) * ((i % 7) as f32 / 7.0);
                (drift + (x >> 8) as f32 / 16_777_216.0 * 0.2).min(1.0)
            })
            .collect();
        let mut cols = EpochColumns::from_p_true(p);
        cols.flags = vec![flags::SEEN; n];
        w.append(&cols).unwrap();
    }
    path
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench(c: &mut Criterion) {
    let path = store();
    let n = samples();
    let mut group = c.benchmark_group("scoring");
    group.sample_size(10);
    group.throughput(Throughput::Elements((n * epochs()) as u64));
    group.bench_function("read p_true only", |b| {
        b.iter(|| {
            let mut r = StoreReader::open(&path).unwrap();
            let mut cols = EpochColumns::default();
            let mut sum = 0.0f32;
            for k in 0..epochs() {
                r.read_epoch(k, FieldSet::of(&[Field::PTrue, Field::Flags]), &mut cols)
                    .unwrap();
                sum += cols.p_true[k];
            }
            sum
        })
    });
    let dyn_unc = score::find("dyn_unc").unwrap();
    group.bench_function("dyn_unc J=10 (read + score)", |b| {
        b.iter(|| {
            let mut r = StoreReader::open(&path).unwrap();
            score::score_one(&mut r, dyn_unc, &ScoreParams::default()).unwrap()
        })
    });
    group.finish();
    if let Some(mb) = peak_rss_mb() {
        println!(
            "peak resident memory: {mb:.0} MB for {n} samples x {} epochs (one epoch of p_true = {:.0} MB, the J=10 window = {:.0} MB)",
            epochs(),
            n as f64 * 4.0 / 1e6,
            n as f64 * 40.0 / 1e6
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
