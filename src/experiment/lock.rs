//! A lock file that keeps two runs out of one results folder.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Held while a run writes into a results folder; removed on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Takes the lock in `dir`. A lock left by a process that no longer runs is taken over.
    pub fn acquire(dir: &Path) -> anyhow::Result<Lock> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = holder.trim();
                    let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
                    if alive {
                        anyhow::bail!(
                            "{} is in use by another dynunc run (process {pid}); wait for it to finish, or give this experiment another `name:`",
                            dir.display()
                        );
                    }
                    eprintln!(
                        "note: removing a stale lock left by process {pid}, which is no longer running"
                    );
                    std::fs::remove_file(&path)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("could not take the lock {}", path.display())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
