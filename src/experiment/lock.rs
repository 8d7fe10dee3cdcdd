//! A lock file that keeps two runs out of one results folder.
//!
//! The lock records the holder's process id, its start time (field 22 of `/proc/<pid>/stat`)
//! and the host. A lock is stale when its process no longer runs on this host, or when the
//! process with that id started at another time (the id was reused after a crash). A lock of
//! another host (a shared file system) is respected: its run cannot be seen from here.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Held while a run writes into a results folder; removed on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    pid: String,
    start: Option<String>,
    host: Option<String>,
}

impl Holder {
    fn me() -> Holder {
        let pid = std::process::id().to_string();
        Holder {
            start: start_time(&pid),
            pid,
            host: Some(host()),
        }
    }

    fn encode(&self) -> String {
        format!(
            "pid {}\nstart {}\nhost {}\n",
            self.pid,
            self.start.as_deref().unwrap_or("unknown"),
            self.host.as_deref().unwrap_or("unknown")
        )
    }

    /// Reads a lock's text; an earlier dynunc wrote the process id alone.
    fn decode(text: &str) -> Holder {
        let mut h = Holder {
            pid: String::new(),
            start: None,
            host: None,
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", v)) => h.pid = v.trim().to_owned(),
                Some(("start", v)) if v.trim() != "unknown" => h.start = Some(v.trim().to_owned()),
                Some(("host", v)) if v.trim() != "unknown" => h.host = Some(v.trim().to_owned()),
                None if h.pid.is_empty() => h.pid = line.trim().to_owned(),
                _ => {}
            }
        }
        h
    }

    /// Whether the holder may still be running: on another host always; here when a process
    /// with its id runs and (where both are known) started when the holder did.
    fn may_be_alive(&self) -> bool {
        if self.host.as_ref().is_some_and(|h| *h != host()) {
            return true;
        }
        if self.pid.is_empty() || !self.pid.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        match (&self.start, start_time(&self.pid)) {
            (_, None) => false,
            (Some(recorded), Some(now)) => *recorded == now,
            (None, Some(_)) => true,
        }
    }
}

/// The start time of process `pid` in clock ticks since boot (Linux), if it runs.
fn start_time(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_owned)
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Lock {
    /// Takes the lock in `dir`. A stale lock (see the module docs) is taken over.
    pub fn acquire(dir: &Path) -> anyhow::Result<Lock> {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::atomic::context("creating the folder", dir, e))?;
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(Holder::me().encode().as_bytes())
                        .map_err(|e| crate::atomic::context("writing", &path, e))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder =
                        Holder::decode(&std::fs::read_to_string(&path).unwrap_or_default());
                    if holder.may_be_alive() {
                        let place = match &holder.host {
                            Some(h) if *h != host() => format!(" on host {h}"),
                            _ => String::new(),
                        };
                        anyhow::bail!(
                            "{} is in use by another dynunc run (process {}{place}); wait for it to finish, or give this experiment another `name:` (if no such run is alive, delete {})",
                            dir.display(),
                            holder.pid,
                            path.display()
                        );
                    }
                    eprintln!(
                        "note: removing a stale lock left by process {}, which is no longer running",
                        holder.pid
                    );
                    std::fs::remove_file(&path)
                        .map_err(|e| crate::atomic::context("removing the stale lock", &path, e))?;
                }
                Err(e) => return Err(crate::atomic::context("creating", &path, e).into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_stale_when_its_process_id_was_reused() {
        let me = Holder::me();
        assert!(me.may_be_alive(), "{me:?}");
        assert_eq!(Holder::decode(&me.encode()), me);
        // Same pid and host, another start time: the id was reused after a crash.
        let reused = Holder {
            start: Some("1".into()),
            ..me.clone()
        };
        assert!(!reused.may_be_alive());
        // A process that does not run.
        let gone = Holder {
            pid: "999999999".into(),
            ..me.clone()
        };
        assert!(!gone.may_be_alive());
        // Another host: respected.
        let elsewhere = Holder {
            host: Some("another-host".into()),
            ..gone
        };
        assert!(elsewhere.may_be_alive());
        // An earlier dynunc's lock: the pid alone.
        let old = Holder::decode(&format!("{}\n", std::process::id()));
        assert_eq!(
            (old.pid.as_str(), old.start.as_deref()),
            (me.pid.as_str(), None)
        );
        assert!(old.may_be_alive());
    }
}
