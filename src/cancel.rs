//! Cancellation: Ctrl-C and SIGTERM set one flag, and every long loop (archive and layer
//! reads, waits on children) asks it. The engine adapters install the handler and stop their
//! children; the core only asks, so it never depends on how processes are run.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Marks the command as cancelled (the signal handler calls this).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Has the user asked to stop?
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
