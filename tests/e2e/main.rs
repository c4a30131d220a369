//! End to end, on a real engine, buildx and the loopback registry (scripts/testbed.sh), one
//! module per command. Each test plays an author releasing and a reviewer verifying from
//! another checkout. With no engine the binary stops at once with one line saying so.

#[path = "../common/mod.rs"]
mod common;

mod conda;
mod dev;
mod diff;
mod engines;
mod init;
mod inputs;
mod inspect;
mod lockfile;
mod platforms;
mod plugin;
mod publish;
mod registry_inspect;
mod release;
mod reviewer;
mod run;
mod verify;

use common::*;

pub(crate) fn one_stage(name: &str) -> Project {
    Project::new(
        name,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY app /app\nCMD [\"cat\", \"/app/hello.txt\"]\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello from a release\n"),
            (".dockerignore", ".git\n"),
        ],
    )
}
