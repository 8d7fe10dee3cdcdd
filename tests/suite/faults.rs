//! Crash safety, the hard way: a tiny experiment is killed (aborted by the
//! `DYNUNC_FAULT_AFTER_WRITES` hook, as `kill -9` would stop it) right after each of its file
//! operations in turn (about 200: the scoring run, the scores, every retrain and the steps
//! between them, the tables), every fourth case a second time while resuming; every resumed
//! run must end byte-identical to an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The least number of file operations the tiny run must have (so the test kills it at
/// least this often: after every one of them).
const POINTS: u64 = 50;

fn experiment(data: &Path) -> String {
    format!(
        "name: f\nbackend: flex\ndata:\n  path: {}\nmodel:\n  arch: mlp\n  hidden: 16\ntrain:\n  epochs: 3\n  batch_size: 50\nscoring:\n  window: 2\nretrain:\n  prune_ratios: [0.5]\n  seeds: [0]\nevaluation:\n  gaussian_noise: 20\noutput:\n  dir: results\n",
        data.display()
    )
}

/// A folder holding the experiment file, its results written below it.
fn case(root: &Path, name: &str, data: &Path) -> PathBuf {
    exp_case(root, name, &experiment(data))
}

/// Drops the CSV columns named in `drop` (wall-clock times).
fn without_columns(text: &str, drop: &[&str]) -> String {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let keep: Vec<bool> = header.iter().map(|h| !drop.contains(h)).collect();
    std::iter::once(header.join(","))
        .chain(lines.map(|l| {
            l.split(',')
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v)
                .collect::<Vec<_>>()
                .join(",")
        }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Markdown columns that hold wall-clock times: the tables' seconds per epoch and the cost
/// section's seconds.
const WALL_CLOCK_COLUMNS: [&str; 2] = ["s / epoch", "seconds"];

/// Markdown with the wall-clock columns of its tables blanked.
fn without_time_column(text: &str) -> String {
    let mut column = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with('|') {
            column = None;
            out.push(line.to_owned());
            continue;
        }
        let cells: Vec<&str> = line.split('|').collect();
        if let Some(c) = cells
            .iter()
            .position(|c| WALL_CLOCK_COLUMNS.contains(&c.trim()))
        {
            column = Some(c);
        }
        match column {
            Some(c) if c < cells.len() => {
                let mut cells: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
                cells[c] = String::from(" t ");
                out.push(cells.join("|"));
            }
            _ => out.push(line.to_owned()),
        }
    }
    out.join("\n")
}

/// Every file of a results folder, by relative path; wall-clock times taken out (the time
/// columns of the CSVs and of the Markdown tables, `run_info.yaml`'s start time and command).
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = match name.as_str() {
                "main.csv" | "finished.csv" => {
                    without_columns(&String::from_utf8(bytes).unwrap(), &["wall_seconds"])
                        .into_bytes()
                }
                "archs.csv" | "scoring_run.csv" => {
                    without_columns(&String::from_utf8(bytes).unwrap(), &["seconds_per_epoch"])
                        .into_bytes()
                }
                "run_info.yaml" => String::from_utf8(bytes)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("started_unix") && !l.starts_with("command"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
                _ if name.ends_with(".md") => {
                    without_time_column(&String::from_utf8(bytes).unwrap()).into_bytes()
                }
                _ => bytes,
            };
            out.insert(rel, bytes);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub(crate) fn differences(
    want: &BTreeMap<String, Vec<u8>>,
    got: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut diff = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => diff.push(format!("{k} missing")),
            Some(g) if g != v => diff.push(format!("{k} differs")),
            _ => {}
        }
    }
    diff.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("{k} left over")),
    );
    diff
}

pub(crate) fn operations(o: &Output) -> u64 {
    let err = stderr(o);
    err.lines()
        .find_map(|l| {
            l.strip_prefix("fault injection: ")?
                .strip_suffix(" file operations")
        })
        .unwrap_or_else(|| panic!("no operation count in:\n{err}"))
        .parse()
        .unwrap()
}

#[test]
fn a_run_killed_after_any_file_operation_resumes_to_the_same_bytes() {
    let root = temp();
    let data = p(root.path(), "data");
    write_fixture(&data, 300, 60);
    // Two uninterrupted runs: the reference, and the proof that the snapshot leaves out only
    // what differs between equal runs.
    let reference = case(root.path(), "reference", &data);
    let o = run_exp_yaml(&reference, Some(0));
    assert!(o.status.success(), "{}", stderr(&o));
    let total = operations(&o);
    let want = snapshot(&reference.join("results/f"));
    let again = case(root.path(), "again", &data);
    let o = run_exp_yaml(&again, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        differences(&want, &snapshot(&again.join("results/f"))),
        Vec::<String>::new()
    );
    assert!(total >= POINTS, "only {total} file operations");
    // Re-running a finished experiment changes nothing.
    let o = run_exp_yaml(&again, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        differences(&want, &snapshot(&again.join("results/f"))),
        Vec::<String>::new()
    );

    // Every file operation of the run is a kill point, in turn.
    let points: Vec<u64> = (1..=total).collect();
    let failures = std::sync::Mutex::new(Vec::new());
    let killed_at = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (points, failures, root, data, want, killed_at) =
                (&points, &failures, root.path(), &data, &want, &killed_at);
            s.spawn(move || {
                for (i, &k) in points.iter().enumerate().skip(worker).step_by(2) {
                    let dir = case(root, &format!("kill{k}"), data);
                    let o = run_exp_yaml(&dir, Some(k));
                    if o.status.success() || o.status.code().is_some() {
                        failures.lock().unwrap().push(format!(
                            "kill point {k}: the run was not stopped by the hook (status {}): {}",
                            o.status,
                            stderr(&o)
                        ));
                        continue;
                    }
                    let what = stderr(&o)
                        .lines()
                        .find_map(|l| l.strip_prefix("fault injection: aborting after "))
                        .unwrap_or_default()
                        .to_owned();
                    killed_at.lock().unwrap().push(what);
                    // Every fourth case is killed a second time while resuming.
                    if i % 4 == 1 {
                        let _ = run_exp_yaml(&dir, Some(5 + i as u64));
                    }
                    let o = run_exp_yaml(&dir, None);
                    let diff = differences(want, &snapshot(&dir.join("results/f")));
                    if !o.status.success() || !diff.is_empty() {
                        failures.lock().unwrap().push(format!(
                            "kill point {k} of {total}: resumed run {} with {diff:?}\n{}",
                            o.status,
                            stderr(&o)
                        ));
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The kill points cover every kind of commit: the store's epochs, the scoring run's and
    // the retrains' checkpoints, the scores, the finished rows and the final tables.
    let killed_at = killed_at.into_inner().unwrap();
    eprintln!(
        "{total} file operations; killed after:\n  {}",
        killed_at.join("\n  ")
    );
    for needle in [
        "committed an epoch of",
        "checkpoint-scoring/manifest",
        "checkpoints/",
        "scores/",
        "finished.csv",
        "main.csv",
    ] {
        assert!(
            killed_at.iter().any(|k| k.contains(needle)),
            "no kill point at `{needle}`: {killed_at:?}"
        );
    }
}
