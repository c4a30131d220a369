//! Whether the base a developer builds from the working tree is the base `repro.lock` locked:
//! by the base's input fingerprint where the lock records one, else (a lock cut before
//! fingerprints) by the base Dockerfile's bytes and the build arguments.

use std::collections::BTreeMap;

use crate::lock::{Lock, Role};
use crate::project::fingerprint::Fingerprint;

/// The working tree's base inputs against the lock's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseState {
    /// The same base Dockerfile bytes and build arguments as the lock's base.
    Locked,
    /// Something the lock records differs; what, in words.
    Changed(String),
    /// No lock yet.
    NoLock,
}

impl BaseState {
    /// The end of the line `dev` prints about the base it runs.
    pub fn line(&self) -> String {
        match self {
            BaseState::Locked => "the base of repro.lock".into(),
            BaseState::Changed(what) => format!(
                "your base inputs changed since repro.lock ({what}): the next release makes a new base"
            ),
            BaseState::NoLock => "no repro.lock yet: the first release builds this base".into(),
        }
    }
}

/// With `fingerprint` (the working tree's, computed against a lock that records one): the
/// locked base exactly when the two fingerprints are equal, which covers the files the base
/// copies (requirements.txt) too. Without: the base Dockerfile's sha256 (hex) at `path`
/// (relative to the project, as the lock records it) and the build arguments, all a lock cut
/// before fingerprints can be compared by.
pub fn base_state(
    lock: Option<&Lock>,
    fingerprint: Option<&Fingerprint>,
    path: &str,
    sha256: &str,
    args: &BTreeMap<String, String>,
) -> BaseState {
    let Some(lock) = lock else {
        return BaseState::NoLock;
    };
    if let (Some(now), Some(locked)) = (fingerprint, &lock.build.base_fingerprint) {
        return if now == locked {
            BaseState::Locked
        } else {
            BaseState::Changed(format!(
                "the base Dockerfile, the files it copies, its arguments or build settings: fingerprint {} here, {} locked",
                now.tag(),
                locked.tag()
            ))
        };
    }
    let locked = lock.dockerfiles.iter().find(|d| d.role == Role::Base);
    let mut changed = Vec::new();
    match locked {
        None => changed.push("the lock has no base image".to_string()),
        Some(d) if d.path != path => changed.push(format!("the base Dockerfile was {}", d.path)),
        Some(d) if d.sha256.as_str() != sha256 => changed.push(format!("{path} differs")),
        Some(_) => {}
    }
    let locked_args = lock.build.args_text();
    if &locked_args != args {
        let names: Vec<&str> = locked_args
            .iter()
            .filter(|(k, v)| args.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .chain(
                args.keys()
                    .filter(|k| !locked_args.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        changed.push(format!("build arguments {}", names.join(", ")));
    }
    if changed.is_empty() {
        BaseState::Locked
    } else {
        BaseState::Changed(changed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> Lock {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sample.lock"
        ))
        .unwrap();
        Lock::from_toml(&text, std::path::Path::new("repro.lock")).unwrap()
    }

    #[test]
    fn the_locked_base_is_told_from_a_changed_one_by_its_dockerfile_and_arguments() {
        let mut lock = lock();
        assert!(matches!(
            base_state(Some(&lock), None, "Dockerfile", "bb", &lock.build.args_text()),
            BaseState::Changed(why) if why == "the lock has no base image"
        ));
        let base = crate::lock::DockerfileEntry {
            role: Role::Base,
            path: "docker/Dockerfile.base".into(),
            sha256: crate::lock::FileSha256::try_from("a".repeat(64)).unwrap(),
            secrets: None,
            ssh: None,
        };
        lock.dockerfiles.push(base.clone());
        let args = lock.build.args_text();
        assert_eq!(
            base_state(Some(&lock), None, &base.path, base.sha256.as_str(), &args),
            BaseState::Locked
        );
        let other = base_state(Some(&lock), None, &base.path, "00", &args);
        assert_eq!(other, BaseState::Changed(format!("{} differs", base.path)));
        assert!(other.line().ends_with("the next release makes a new base"));
        let mut more = args.clone();
        more.insert("EXTRA".into(), "1".into());
        assert_eq!(
            base_state(Some(&lock), None, &base.path, base.sha256.as_str(), &more),
            BaseState::Changed("build arguments EXTRA".into())
        );
        assert_eq!(
            base_state(None, None, &base.path, base.sha256.as_str(), &args),
            BaseState::NoLock
        );
    }

    #[test]
    fn with_a_fingerprint_the_locked_base_is_the_one_with_the_same_inputs() {
        let mut lock = lock();
        let locked = Fingerprint::try_from(format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = Fingerprint::try_from(format!("sha256:{}", "b".repeat(64))).unwrap();
        lock.build.base_fingerprint = Some(locked.clone());
        let args = lock.build.args_text();
        // The Dockerfile and arguments are not what decides: the fingerprint covers them.
        assert_eq!(
            base_state(Some(&lock), Some(&locked), "Dockerfile", "00", &args),
            BaseState::Locked
        );
        let changed = base_state(Some(&lock), Some(&other), "Dockerfile", "00", &args);
        assert!(
            matches!(&changed, BaseState::Changed(why) if why.contains("base-bbbbbbbbbbbb here, base-aaaaaaaaaaaa locked")),
            "{changed:?}"
        );
    }
}
