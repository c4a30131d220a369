//! Whether the base a developer builds from the working tree is the base `repro.lock` locked:
//! one function, so that what it compares can grow (to the base's input fingerprint) in one
//! place.

use std::collections::BTreeMap;

use crate::lock::{Lock, Role};

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

/// Compares what can be compared honestly today: the base Dockerfile's sha256 (hex) at
/// `path` (relative to the project, as the lock records it) and the build arguments. The
/// files the base copies (requirements.txt) are not compared yet.
pub fn base_state(
    lock: Option<&Lock>,
    path: &str,
    sha256: &str,
    args: &BTreeMap<String, String>,
) -> BaseState {
    let Some(lock) = lock else {
        return BaseState::NoLock;
    };
    let locked = lock.dockerfiles.iter().find(|d| d.role == Role::Base);
    let mut changed = Vec::new();
    match locked {
        None => changed.push("the lock has no base image".to_string()),
        Some(d) if d.path != path => changed.push(format!("the base Dockerfile was {}", d.path)),
        Some(d) if d.sha256 != sha256 => changed.push(format!("{path} differs")),
        Some(_) => {}
    }
    if &lock.build.args != args {
        let names: Vec<&str> = lock
            .build
            .args
            .iter()
            .filter(|(k, v)| args.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .chain(
                args.keys()
                    .filter(|k| !lock.build.args.contains_key(*k))
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
            base_state(Some(&lock), "Dockerfile", "bb", &lock.build.args),
            BaseState::Changed(why) if why == "the lock has no base image"
        ));
        let base = crate::lock::DockerfileEntry {
            role: Role::Base,
            path: "docker/Dockerfile.base".into(),
            sha256: "a".repeat(64),
        };
        lock.dockerfiles.push(base.clone());
        let args = lock.build.args.clone();
        assert_eq!(
            base_state(Some(&lock), &base.path, &base.sha256, &args),
            BaseState::Locked
        );
        let other = base_state(Some(&lock), &base.path, "00", &args);
        assert_eq!(other, BaseState::Changed(format!("{} differs", base.path)));
        assert!(other.line().ends_with("the next release makes a new base"));
        let mut more = args.clone();
        more.insert("EXTRA".into(), "1".into());
        assert_eq!(
            base_state(Some(&lock), &base.path, &base.sha256, &more),
            BaseState::Changed("build arguments EXTRA".into())
        );
        assert_eq!(
            base_state(None, &base.path, &base.sha256, &args),
            BaseState::NoLock
        );
    }
}
