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

/// Waits for the thread `handle` to end and hands back what it returned, or `None` as soon as
/// the user asks to stop: a thread blocked on a command that Ctrl-C does not reach (one in a
/// process group of its own) must not hold the command that waits on it.
pub fn join<T>(handle: std::thread::JoinHandle<T>) -> Option<std::thread::Result<T>> {
    loop {
        if handle.is_finished() {
            return Some(handle.join());
        }
        if requested() {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
