//! Work shared by several commands: the build plan (`release` and `verify --rebuild` build the
//! same way), reading an image's inventory with progress, and the verify report.

pub mod build;
pub mod equivalent;
pub mod kept;
pub mod read;
pub mod report;
pub mod tie;
