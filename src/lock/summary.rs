//! The comment block at the top of a lock: the environment in a few lines, for a reviewer who
//! reads the lock before anything else. Comments only: what is checked are the keys below it.

use std::collections::BTreeMap;

use super::{Lock, Role};
use crate::inventory::LockedInventory;

/// Packages a reader of a paper's environment looks for first, in the order shown.
const KEY_PACKAGES: [&str; 14] = [
    "torch",
    "pytorch",
    "tensorflow",
    "jax",
    "jaxlib",
    "cupy",
    "transformers",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "numba",
    "opencv-python",
];

/// The summary lines, each starting `#`, after a blank comment line.
pub(super) fn summary(lock: &Lock) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    let source = &lock.source;
    lines.push((
        "commit",
        format!(
            "{}, committed {}, {}",
            lock.short_commit(),
            rfc3339(source.commit_time),
            if source.remote.is_empty() {
                "no remote recorded (a reviewer needs the repository itself)".to_string()
            } else {
                format!("from {}", source.remote)
            }
        ),
    ));
    let base_epoch = match lock.build.base_source_date_epoch {
        Some(epoch) => format!(", the base's {}", rfc3339(epoch)),
        None => String::new(),
    };
    lines.push((
        "built",
        format!(
            "for {}, SOURCE_DATE_EPOCH {}{base_epoch}",
            lock.build.platform,
            rfc3339(lock.build.source_date_epoch)
        ),
    ));
    let builder = &lock.builder;
    lines.push((
        "builder",
        format!(
            "Docker Engine {}, {}",
            builder.docker_engine,
            if builder.buildkit_note.is_empty() {
                format!("BuildKit {}", builder.buildkit)
            } else {
                "BuildKit version unknown (see buildkit_note)".to_string()
            }
        ),
    ));
    let release = lock.image(Role::Release);
    let base = release.and_then(|r| lock.image_for(Role::Base, &r.platform_name()));
    if let Some(release) = release {
        let inventory = &release.inventory;
        let os = base
            .map(|b| &b.inventory.os)
            .filter(|os| !os.is_empty())
            .unwrap_or(&inventory.os);
        if !os.is_empty() {
            lines.push(("OS", os.clone()));
        }
        if let Some(python) = python(inventory) {
            lines.push(("Python", python));
        }
        match &release.needs {
            Some(needs) => lines.push((
                "CUDA",
                format!(
                    "{} (from {}): driver {} or newer, {} for every feature",
                    needs.cuda, needs.from, needs.driver, needs.driver_all_features
                ),
            )),
            None if !inventory.is_empty() => lines.push(("CUDA", "none".into())),
            None => {}
        }
        let key = key_packages(inventory);
        if !key.is_empty() {
            lines.push(("packages", key.join(", ")));
        }
        if let Some(base) = base.filter(|b| !b.inventory.is_empty()) {
            let (added, removed) = inventory.over(&base.inventory);
            let change = if added.is_empty() && removed.is_empty() {
                "the release's are the same".to_string()
            } else {
                format!(
                    "the release adds or changes {}, removes {} (listed under it)",
                    counts(&added),
                    counts(&removed)
                )
            };
            lines.push((
                "inventory",
                format!("the base has {}; {change}", counts(&base.inventory)),
            ));
        } else if !inventory.is_empty() {
            lines.push(("inventory", counts(inventory)));
        }
    }
    let mut out =
        String::from("#\n# At a glance (for reading; the keys below are what is checked):\n");
    for (key, value) in lines {
        let value = crate::ui::escape(&crate::error::clip(&value)).into_owned();
        out.push_str(&format!("#   {key:<10} {value}\n"));
    }
    out
}

/// A time of the lock as RFC 3339 (UTC); one before 1970 stays a number of seconds.
fn rfc3339(epoch: i64) -> String {
    match u64::try_from(epoch) {
        Ok(secs) => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string(),
        Err(_) => format!("{epoch} (seconds since 1970)"),
    }
}

/// The Python of the image: a conda environment's `python`, else Debian's `python3` package
/// (its upstream version), else the `pythonX.Y` of a site-packages directory.
fn python(inventory: &LockedInventory) -> Option<String> {
    let first_word = |v: &String| v.split_whitespace().next().unwrap_or("").to_string();
    if let Some(v) = inventory.conda.values().find_map(|env| env.get("python")) {
        return Some(first_word(v));
    }
    if let Some(v) = inventory.apt.get("python3") {
        let version = first_word(v);
        let version = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
        return Some(version.split('-').next().unwrap_or(version).to_string());
    }
    inventory.pip.keys().find_map(|env| {
        let at = env.find("python3.")?;
        let version: String = env[at + "python".len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        Some(version)
    })
}

/// `name version` of each key package installed, pip's and conda's, in [`KEY_PACKAGES`] order.
fn key_packages(inventory: &LockedInventory) -> Vec<String> {
    let first_word = |v: &String| v.split_whitespace().next().unwrap_or("").to_string();
    let mut found: BTreeMap<usize, String> = BTreeMap::new();
    let pip = inventory
        .pip
        .values()
        .flat_map(|env| env.iter().map(|(n, v)| (n, v.clone())));
    let conda = inventory
        .conda
        .values()
        .flat_map(|env| env.iter().map(|(n, v)| (n, first_word(v))));
    for (name, version) in pip.chain(conda) {
        let key = KEY_PACKAGES
            .iter()
            .position(|k| name == k || (*k == "cupy" && name.starts_with("cupy-")));
        if let Some(at) = key {
            found
                .entry(at)
                .or_insert_with(|| format!("{name} {version}"));
        }
    }
    found.into_values().collect()
}

/// `122 apt, 2 pip, 1 conda packages`, leaving out the kinds that have none.
fn counts(inventory: &LockedInventory) -> String {
    let nested = |m: &BTreeMap<String, BTreeMap<String, String>>| {
        m.values().map(BTreeMap::len).sum::<usize>()
    };
    let parts: Vec<String> = [
        ("apt", inventory.apt.len()),
        ("pip", nested(&inventory.pip)),
        ("conda", nested(&inventory.conda)),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(kind, n)| format!("{n} {kind}"))
    .collect();
    if parts.is_empty() {
        "no packages".into()
    } else {
        format!("{} package(s)", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_the_environment_in_a_few_escaped_comment_lines() {
        let mut lock = crate::lock::tests::sample();
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let base_inventory = LockedInventory {
            os: "debian 12".into(),
            apt: map(&[
                ("python3", "3.11.2-1+b1 amd64"),
                ("bash", "5.2.15-2+b2 amd64"),
            ]),
            ..Default::default()
        };
        let mut release_inventory = base_inventory.clone();
        release_inventory.pip.insert(
            "/usr/local/lib/python3.11/dist-packages".into(),
            map(&[
                ("numpy", "1.26.4"),
                ("torch", "2.3.0"),
                ("evil\nversion = 9", "1"),
            ]),
        );
        for image in &mut lock.images {
            image.inventory = match image.role {
                Role::Base => base_inventory.clone(),
                Role::Release => release_inventory.clone(),
            };
        }
        lock.build.base_source_date_epoch = Some(1_690_000_000);
        let text = summary(&lock);
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
        assert!(
            text.contains("committed 2023-11-14T22:13:20Z, from https://"),
            "{text}"
        );
        assert!(
            text.contains(
                "SOURCE_DATE_EPOCH 2023-11-14T22:13:20Z, the base's 2023-07-22T04:26:40Z"
            ),
            "{text}"
        );
        assert!(text.contains("#   OS         debian 12\n"), "{text}");
        assert!(text.contains("#   Python     3.11.2\n"), "{text}");
        assert!(text.contains("#   CUDA       none\n"), "{text}");
        assert!(
            text.contains("#   packages   torch 2.3.0, numpy 1.26.4\n"),
            "{text}"
        );
        assert!(
            text.contains("the base has 2 apt package(s); the release adds or changes 3 pip package(s), removes no packages (listed under it)\n"),
            "{text}"
        );
        lock.source.remote = "".into();
        lock.builder.buildkit_note = "a distribution's dockerd".into();
        let text = summary(&lock);
        assert!(text.contains("no remote recorded"), "{text}");
        assert!(
            text.contains("BuildKit version unknown (see buildkit_note)"),
            "{text}"
        );
    }

    #[test]
    fn python_from_conda_apt_or_a_site_packages_path() {
        let mut inventory = LockedInventory::default();
        assert_eq!(python(&inventory), None);
        inventory.pip.insert(
            "/opt/venv/lib/python3.12/site-packages".into(),
            BTreeMap::new(),
        );
        assert_eq!(python(&inventory).as_deref(), Some("3.12"));
        inventory
            .apt
            .insert("python3".into(), "1:3.11.4-5 arm64".into());
        assert_eq!(python(&inventory).as_deref(), Some("3.11.4"));
        inventory.conda.insert(
            "/opt/conda".into(),
            BTreeMap::from([(
                "python".to_string(),
                "3.10.14 h955ad1f_1 conda-forge".to_string(),
            )]),
        );
        assert_eq!(python(&inventory).as_deref(), Some("3.10.14"));
    }
}
