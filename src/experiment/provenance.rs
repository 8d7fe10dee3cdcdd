//! What produced a results folder's `work/`: the resolved experiment, flattened to its YAML
//! paths, and a fingerprint of the data it read. Every artifact a run reuses (the dynamics
//! store, checkpoints, finished rows) is reused only under a `work/provenance.yaml` equal to
//! this run's; a difference is an error naming each key with its old and new value.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::data::{Images, Splits};
use crate::dynamics::store::hash_bytes;

/// The file in `work/`.
pub const FILE: &str = "provenance.yaml";

/// Keyed facts about what produced a folder (`data.path: ...`, `train.lr: ...`,
/// `input.train_labels: ...`), ordered by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance(BTreeMap<String, String>);

/// Flattens a serialised value into `prefix.key` entries (lists as one JSON value).
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// A fingerprint of a set's images and labels: the bytes when held in memory, the file
/// paths, sizes and modification times when streamed.
fn images_fingerprint(set: &Images) -> String {
    let labels: Vec<u8> = set.labels().iter().flat_map(|l| l.to_le_bytes()).collect();
    let content = match set {
        Images::Memory(s) => hash_bytes(&s.pixels),
        Images::Files(f) => {
            let mut listing = Vec::new();
            for i in 0..set.len() {
                let path = f.path(i);
                let meta = std::fs::metadata(path).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                let modified = meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                listing.extend_from_slice(
                    format!("{}\t{len}\t{modified}\n", path.display()).as_bytes(),
                );
            }
            hash_bytes(&listing)
        }
    };
    format!("{:016x}-{:016x}", hash_bytes(&labels), content)
}

impl Provenance {
    /// The experiment as resolved (a serialisable raw experiment) and the data it loaded.
    pub fn new(resolved: &impl serde::Serialize, splits: &Splits) -> Result<Provenance> {
        let mut map = Provenance::experiment(resolved)?.0;
        let (c, h, w) = splits.train.shape();
        for (key, value) in [
            ("input.train_samples", splits.train.len().to_string()),
            ("input.test_samples", splits.test.len().to_string()),
            ("input.image", format!("{h}x{w}x{c}")),
            ("input.classes", splits.train.classes().to_string()),
            ("input.train_content", images_fingerprint(&splits.train)),
            ("input.test_content", images_fingerprint(&splits.test)),
        ] {
            map.insert(key.into(), value);
        }
        Ok(Provenance(map))
    }

    /// The experiment's entries alone.
    pub fn experiment(resolved: &impl serde::Serialize) -> Result<Provenance> {
        let value =
            serde_json::to_value(resolved).context("serialising the resolved experiment")?;
        let mut map = BTreeMap::new();
        flatten("", &value, &mut map);
        Ok(Provenance(map))
    }

    /// The entries that decide what a scoring run records: all but the experiment's name and
    /// the sections that only read the dynamics or come after them (`output`, `scoring`,
    /// `retrain`, `evaluation`, `finetune`). Two experiments equal in these record the same
    /// store, byte for byte.
    pub fn recording(&self) -> Provenance {
        const AFTER: [&str; 6] = [
            "name",
            "output",
            "scoring",
            "retrain",
            "evaluation",
            "finetune",
        ];
        Provenance(
            self.0
                .iter()
                .filter(|(k, _)| {
                    let top = k.split('.').next().unwrap_or_default();
                    !AFTER.contains(&top)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// A 64-bit fingerprint of every entry (never 0, which means "unknown" in a store).
    pub fn fingerprint(&self, salt: &str) -> u64 {
        hash_bytes(format!("{salt}\n{}", self.encode()).as_bytes()).max(1)
    }

    fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", serde_json::Value::String(v.clone())))
            .collect()
    }

    /// Reads `dir/provenance.yaml`, if there.
    pub fn read(dir: &Path) -> Result<Option<Provenance>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(crate::atomic::context("reading", &path, e).into()),
        };
        let map: BTreeMap<String, String> = serde_saphyr::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; delete {} to start this experiment's work over",
                path.display(),
                dir.display()
            )
        })?;
        Ok(Some(Provenance(map)))
    }

    /// Writes `dir/provenance.yaml` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = format!(
            "# What produced this folder (written by dynunc; a run reuses the folder only when all of it matches).\n{}",
            self.encode()
        );
        crate::atomic::write(&dir.join(FILE), text.as_bytes())?;
        Ok(())
    }

    /// `key: old -> new` for every entry that differs (absent on one side: `(none)`).
    pub fn differences(&self, old: &Provenance) -> Vec<String> {
        let none = String::from("(none)");
        let keys: std::collections::BTreeSet<&String> = self.0.keys().chain(old.0.keys()).collect();
        keys.into_iter()
            .filter_map(|k| {
                let (was, now) = (
                    old.0.get(k).unwrap_or(&none),
                    self.0.get(k).unwrap_or(&none),
                );
                (was != now).then(|| format!("{k}: {was} -> {now}"))
            })
            .collect()
    }

    /// Fails unless `dir`'s recorded provenance equals this one, naming what differs; writes it
    /// when `dir` has none yet.
    pub fn check_or_write(&self, dir: &Path, what: &str) -> Result<()> {
        match Provenance::read(dir)? {
            None => self.write(dir),
            Some(old) if old == *self => Ok(()),
            Some(old) => {
                let diff = self.differences(&old);
                bail!(
                    "{} holds {what} of a different experiment or different data; what changed (was -> now):\n  {}\n\
                     delete {} to start over, or give the changed experiment another `name:`",
                    dir.display(),
                    diff.join("\n  "),
                    dir.display()
                )
            }
        }
    }
}

/// For a `work/` folder written before provenance files existed: fails when it holds
/// artifacts and the experiment it was made by (`resolved_path`) differs from this one,
/// naming the changed keys. Returns whether such a folder is being adopted.
pub fn check_legacy(
    work: &Path,
    resolved_path: &Path,
    resolved: &impl serde::Serialize,
) -> Result<bool> {
    if work.join(FILE).exists() {
        return Ok(false);
    }
    let has_artifacts = std::fs::read_dir(work)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if !has_artifacts {
        return Ok(false);
    }
    let now = Provenance::experiment(resolved)?;
    let old = std::fs::read_to_string(resolved_path)
        .ok()
        .and_then(|text| serde_saphyr::from_str::<serde_json::Value>(&text).ok())
        .map(|v| Provenance::experiment(&v))
        .transpose()?;
    let diff = match &old {
        Some(old) => now.differences(old),
        None => vec![format!(
            "{}: missing or unreadable",
            resolved_path.display()
        )],
    };
    if !diff.is_empty() {
        bail!(
            "{} holds results of a different version of this experiment; what changed (was -> now):\n  {}\n\
             delete {} to start over, or give the changed experiment another `name:`",
            work.display(),
            diff.join("\n  "),
            work.display()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_key() {
        let a = Provenance::experiment(
            &serde_json::json!({"train": {"lr": 0.1, "epochs": 3}, "seed": 0}),
        )
        .unwrap();
        let b = Provenance::experiment(
            &serde_json::json!({"train": {"lr": 0.2, "epochs": 3}, "name": "x"}),
        )
        .unwrap();
        assert_eq!(
            b.differences(&a),
            vec![
                "name: (none) -> \"x\"",
                "seed: 0 -> (none)",
                "train.lr: 0.1 -> 0.2"
            ]
        );
        assert!(a.differences(&a).is_empty());
        assert_ne!(a.fingerprint("m"), b.fingerprint("m"));
        assert_ne!(a.fingerprint("m"), a.fingerprint("n"));
    }

    #[test]
    fn written_provenance_reads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let a = Provenance::experiment(
            &serde_json::json!({"data": {"path": "/x: y\n\"z\""}, "k": [1, 2]}),
        )
        .unwrap();
        a.write(dir.path()).unwrap();
        assert_eq!(Provenance::read(dir.path()).unwrap(), Some(a));
    }
}
