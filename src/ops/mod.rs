//! Work shared by several commands: the build plan (`release` and `verify --rebuild` build the
//! same way), reading an image's inventory with progress, the verify report, and linting the
//! Dockerfiles (`check`, and `release` before it builds).

pub mod build;
pub mod container;
pub mod equivalent;
pub mod kept;
pub mod lint;
pub mod read;
pub mod referrer;
pub mod report;
pub mod tie;
