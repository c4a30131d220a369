//! The plugin protocol: discovery by docker, and docker's global flags reaching every call.

use crate::common::*;
use crate::one_stage;

#[test]
fn plugin_is_discovered_and_docker_global_flags_reach_child_commands() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let help = docker_in(dir.path(), &["--help"]).expect(0);
    assert!(
        help.stdout.contains("repro*"),
        "docker --help lists the plugin:\n{}",
        help.stdout
    );
    let help = docker_in(dir.path(), &["repro", "--help"]).expect(0);
    assert!(help.stdout.contains("release") && help.stdout.contains("verify"));
    let via_help = docker_in(dir.path(), &["help", "repro", "release"]).expect(0);
    assert!(via_help.stdout.contains("Cut a release"));

    // A -H pointing nowhere must reach the plugin's own docker calls.
    let p = one_stage("flags");
    let run = docker_in(
        &p.dir,
        &["-H", "unix:///nonexistent/docker.sock", "repro", "release"],
    )
    .expect(1);
    assert!(
        run.stderr.contains("cannot reach the Docker engine"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("/nonexistent/docker.sock"),
        "{}",
        run.stderr
    );
    // And --context default -D works end to end.
    p.repro(&["release", "-q"]).expect(0);
    docker_in(&p.dir, &["--context", "default", "-D", "repro", "verify"]).expect(0);
}
