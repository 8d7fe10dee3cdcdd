//! Random corruptions of every file dynunc reads: experiment YAML, IDX, ImageFolder lists,
//! the dynamics store, `.npy`, the score and results CSVs. Each parser must answer `Err` (or a
//! value), never panic. Deterministic (a fixed xorshift stream), bounded for CI: a few hundred
//! mutants per format.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use dynunc::dynamics::store::{StoreReader, StoreWriter};
use dynunc::dynamics::{EpochColumns, EpochSource, FieldSet, SampleStats, npy};

use crate::common::*;

const MUTANTS: usize = 300;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four edits: flip a byte, set one to an extreme, truncate, delete, duplicate or
/// insert a run of bytes.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = [0, 0xff, 0x7f, 0x80][rng.below(4)];
            }
            2 => b.truncate(at),
            3 => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(32)).min(b.len());
                let run = b[at..end].to_vec();
                b.splice(at..at, run);
            }
            _ => {
                let run: Vec<u8> = (0..rng.below(8)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, run);
            }
        }
    }
    b
}

/// Feeds `MUTANTS` corruptions of `good` (written to `path`) to `parse`; fails on a panic.
fn fuzz(name: &str, good: &[u8], path: &Path, seed: u64, parse: impl Fn(&Path)) {
    let mut rng = Rng(seed);
    // The untouched file parses (the harness itself is sound).
    std::fs::write(path, good).unwrap();
    parse(path);
    for i in 0..MUTANTS {
        let bad = mutate(good, &mut rng);
        std::fs::write(path, &bad).unwrap();
        if catch_unwind(AssertUnwindSafe(|| parse(path))).is_err() {
            let keep = path.with_extension(format!("panic{i}"));
            std::fs::write(&keep, &bad).unwrap();
            panic!(
                "{name}: mutant {i} made the parser panic (kept as {})",
                keep.display()
            );
        }
    }
}

#[test]
fn no_corrupted_input_makes_a_parser_panic() {
    let dir = temp();
    let d = dir.path();
    // Experiment YAML: load and validate.
    let data = p(d, "data");
    write_fixture(&data, 20, 10);
    let yaml = tiny_experiment(
        "z",
        &data,
        &p(d, "out"),
        "evaluation:\n  gaussian_noise: 5\n",
    );
    fuzz(
        "experiment YAML",
        yaml.as_bytes(),
        &p(d, "z.yaml"),
        1,
        |f| {
            let _ = dynunc::config::load(f);
        },
    );

    // IDX images and labels (plain; the gzip path decompresses to the same parser).
    let idx = p(d, "idx");
    std::fs::create_dir_all(&idx).unwrap();
    write_split(&idx, "t10k", &synthetic(3, 3), false).unwrap();
    let labels_file = idx.join("t10k-labels-idx1-ubyte");
    let images_file = idx.join("t10k-images-idx3-ubyte");
    let good_labels = std::fs::read(&labels_file).unwrap();
    let good_images = std::fs::read(&images_file).unwrap();
    fuzz("IDX labels", &good_labels, &labels_file, 2, |_| {
        let _ = dynunc::data::idx::read_split(&idx, "t10k", "hint");
    });
    std::fs::write(&labels_file, &good_labels).unwrap();
    fuzz("IDX images", &good_images, &images_file, 3, |f| {
        let _ = dynunc::data::idx::parse_images(&std::fs::read(f).unwrap(), f);
    });

    // ImageFolder file lists.
    let list = "/n01440764/a.JPEG 0\n# comment\n/n01443537/b b.JPEG 1\n\n/c.png 2\n";
    fuzz("file list", list.as_bytes(), &p(d, "list.txt"), 4, |f| {
        let _ = dynunc::data::folder::read_list(f, Path::new("/data/train"));
    });

    // The dynamics store: open and read every epoch.
    let store = p(d, "s.dyn");
    let labels = [0u32, 1, 2, 1, 0];
    let mut w = StoreWriter::open(&store, &labels, 3, FieldSet::ALL).unwrap();
    for e in 0..3 {
        let mut cols = EpochColumns::unseen(labels.len());
        for (i, &l) in labels.iter().enumerate() {
            let logits = [0.1 * (i + e) as f32, -0.2, 0.3 * e as f32];
            cols.set(i, &SampleStats::from_logits(&logits, l as usize));
        }
        w.append(&cols).unwrap();
    }
    drop(w);
    let good_store = std::fs::read(&store).unwrap();
    fuzz("dynamics store", &good_store, &store, 5, |f| {
        if let Ok(mut r) = StoreReader::open(f) {
            let shape = r.shape();
            let mut out = EpochColumns::unseen(0);
            for e in 0..shape.epochs.min(10) {
                let _ = r.read_epoch(e, r.fields(), &mut out);
            }
            let _ = dynunc::score::score_one(
                &mut r,
                dynunc::score::find("dyn_unc").unwrap(),
                &dynunc::score::ScoreParams::default().with(&dynunc::score::dyn_unc::WINDOW, 2),
            );
        }
    });

    // .npy probabilities and labels.
    let npy_file = p(d, "p.npy");
    write_probabilities(&npy_file, &[vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]]).unwrap();
    let good_npy = std::fs::read(&npy_file).unwrap();
    fuzz(".npy probabilities", &good_npy, &npy_file, 6, |f| {
        let _ = npy::read_probabilities(f);
        let _ = npy::read_labels(f);
    });

    // Score and results CSVs.
    let scores = "index,label,score\n0,1,0.5\n1,0,0.25\n2,,0.125\n";
    fuzz("scores CSV", scores.as_bytes(), &p(d, "s.csv"), 7, |f| {
        if let Ok(rows) = dynunc::score::rows::read_scores(f) {
            let s: Vec<f32> = rows.iter().map(|r| r.score).collect();
            let _ = dynunc::select::select(&s, 0.5, dynunc::score::Keep::Highest, None);
        }
    });
    let main = "experiment,method,prune_ratio,keep_fraction,kept,class_balanced,seed,arch,source_arch,epochs,steps,test_acc,real_acc,finetune_acc,wall_seconds\n\
                z,full,0.0,1.0,20,false,0,mlp,mlp,3,3,0.5,,,1.0\n\
                z,dyn_unc,0.5,0.5,10,false,0,mlp,mlp,3,3,0.4,,,1.0\n\
                z,random,0.5,0.5,10,false,0,mlp,mlp,3,3,0.45,,,1.0\n";
    let res = p(d, "res");
    std::fs::create_dir_all(&res).unwrap();
    fuzz("main.csv", main.as_bytes(), &res.join("main.csv"), 8, |f| {
        if let Ok(rows) = dynunc::report::read_rows(f)
            && dynunc::report::check_rows(&rows, f).is_ok()
        {
            let _ = dynunc::report::results_markdown(&rows);
        }
    });
}
