//! Fault injection for the crash-resume tests: with `DYNUNC_FAULT_AFTER_WRITES=N` the process
//! aborts (as `kill -9` would stop it: no destructors, no flushing) right after its N-th
//! durable file operation; with `N = 0` it only counts them and `dynunc` prints the count.
//!
//! Every commit point of a run calls [`point`]: each atomic write (temporary file synced, then
//! renamed), each epoch appended to the dynamics store, each checkpoint file and manifest, each
//! removal. The test in `tests/suite/faults.rs` kills a tiny run after every one of them in turn
//! and requires the resumed run to end byte-identical to an uninterrupted one.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms the hook.
pub const ENV: &str = "DYNUNC_FAULT_AFTER_WRITES";

static DONE: AtomicU64 = AtomicU64::new(0);

fn limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| std::env::var(ENV).ok().and_then(|v| v.trim().parse().ok()))
}

/// Whether the hook is armed (counting or aborting).
pub fn armed() -> bool {
    limit().is_some()
}

/// File operations done so far (counted only while the hook is armed).
pub fn count() -> u64 {
    DONE.load(Ordering::SeqCst)
}

/// Marks one durable file operation on `path` (`what` names it); aborts the process when it
/// is the one the hook is armed for.
pub fn point(what: &str, path: &Path) {
    let Some(limit) = limit() else {
        return;
    };
    let n = DONE.fetch_add(1, Ordering::SeqCst) + 1;
    if n == limit {
        eprintln!(
            "fault injection: aborting after file operation {n} ({what} {})",
            path.display()
        );
        std::process::abort();
    }
}
