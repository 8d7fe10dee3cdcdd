//! Atomic file writes: write a sibling temporary file, sync it, rename it over the target,
//! sync the folder. Errors name the operation and the path.

use std::io::Write;
use std::path::Path;

/// An I/O error that says what was being done to which path (the OS error alone, e.g.
/// `Read-only file system (os error 30)`, names neither).
pub fn context(op: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

/// Syncs a folder so that a rename inside it survives a power cut (best effort: some file
/// systems refuse to open folders for syncing).
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a part.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = Streaming::create(path)?;
    file.write_all(bytes)?;
    file.finish()
}

/// A file written in pieces under a sibling temporary name and renamed over its target by
/// [`Streaming::finish`], so that readers see the old file or the whole new one (what
/// [`write`] does for bytes already in memory, for a file too large to hold).
#[derive(Debug)]
pub struct Streaming {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl Streaming {
    /// Starts the new `path` (creating its folder).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| context("creating the folder", dir, e))?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let file = std::fs::File::create(&tmp).map_err(|e| context("creating", &tmp, e))?;
        Ok(Streaming {
            path: path.to_path_buf(),
            tmp,
            out: std::io::BufWriter::new(file),
        })
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| context("writing", &self.tmp, e))
    }

    /// Syncs the file, renames it over its target and syncs the folder.
    pub fn finish(self) -> std::io::Result<()> {
        let Streaming { path, tmp, out } = self;
        let file = out
            .into_inner()
            .map_err(|e| context("writing", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| context("writing", &tmp, e))?;
        drop(file);
        crate::fault::point("wrote", &tmp);
        std::fs::rename(&tmp, &path).map_err(|e| context("renaming a new file over", &path, e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir);
        }
        crate::fault::point("renamed into place", &path);
        Ok(())
    }
}

/// Removes a folder and everything in it; a folder that is not there is not an error.
pub fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            crate::fault::point("removed", dir);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(context("removing", dir, e)),
    }
}

/// Removes a file; a file that is not there is not an error.
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            crate::fault::point("removed", path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(context("removing", path, e)),
    }
}

/// Serialises rows as CSV and writes them atomically.
pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).map_err(std::io::Error::other)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    write(path, &bytes)
}

/// Whether `name` is a temporary file of [`write`] (`<name>.tmp<pid>`) or of a store being
/// created (`<name>.dyn.tmp`).
fn is_leftover(name: &str) -> bool {
    if name.ends_with(".dyn.tmp") {
        return true;
    }
    match name.rsplit_once(".tmp") {
        Some((stem, pid)) => {
            !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes the temporary files that writes interrupted by a crash left under `dir` (call it
/// while holding the folder's lock, so no live write is in progress; sub-folders with a lock
/// of their own are left alone).
pub fn remove_leftovers(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(context("listing", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| context("listing", dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| context("inspecting", &path, e))?;
        // A folder with its own lock (a shard's) belongs to another run.
        if kind.is_dir() && !path.join(".lock").exists() {
            remove_leftovers(&path)?;
        } else if is_leftover(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path).map_err(|e| context("removing", &path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_leftover;

    #[test]
    fn only_interrupted_temporaries_are_leftovers() {
        for name in ["main.csv.tmp123", "dynamics.dyn.tmp", "manifest.tmp9"] {
            assert!(is_leftover(name), "{name}");
        }
        for name in ["main.csv", "x.tmp", ".tmp12", "notes.tmpfile", "a.tmp12b"] {
            assert!(!is_leftover(name), "{name}");
        }
    }
}
