//! Hostile inputs: archives, repositories, locks, mount paths and faults built by the tests
//! themselves, each asserting the refusal, the exit code, no file written outside the temp dir,
//! no tag moved, and bounded time and memory. Engine tests need scripts/testbed.sh.

#[path = "../common/mod.rs"]
mod common;

mod archive;
mod bounds;
mod dos;
mod faults;
mod index;
mod network;
mod referrers;
mod repo;
mod tar;
