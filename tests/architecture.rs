//! The layering rule of src/lib.rs, checked on the source: no command imports another
//! command, and the core never imports the engine adapters, the ops or the commands.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The numbered lines of a source file up to its unit tests (tests may start processes).
fn shipped(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
}

/// (file, line) of every mention of `crate::NAME` in code (comments excluded).
fn mentions(files: &[PathBuf], names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in shipped(&text) {
            let code = line.split("//").next().unwrap_or("");
            // `crate::name`, and `name` inside a grouped `use crate::{...}`.
            let grouped = code.split_once("crate::{").map(|(_, rest)| rest);
            for name in names {
                let in_group = grouped.is_some_and(|g| {
                    g.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .any(|w| w == *name)
                });
                if code.contains(&format!("crate::{name}")) || in_group {
                    found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    found
}

fn src(parts: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    parts
        .iter()
        .flat_map(|p| {
            let path = root.join(p);
            if path.is_dir() {
                sources(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn no_command_imports_another_command() {
    let found = mentions(&src(&["commands"]), &["commands"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_core_never_imports_the_engine_the_ops_or_the_commands() {
    let core = src(&[
        "image",
        "inventory",
        "explain",
        "lock",
        "project",
        "dockerfile",
        "check",
        "host",
        "sbom.rs",
        "ui.rs",
        "exit.rs",
        "cancel.rs",
        "scratch.rs",
        "limits.rs",
    ]);
    assert!(core.len() > 15, "the core is where lib.rs says: {core:?}");
    let found = mentions(
        &core,
        &["engine", "ops", "commands", "exit", "cli", "plugin"],
    );
    assert!(found.is_empty(), "{found:#?}");
    // The plumbing every layer uses, errors included, never reaches up either.
    let found = mentions(
        &src(&["error.rs"]),
        &["engine", "ops", "commands", "cli", "plugin"],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_engine_starts_processes() {
    let all = src(&["."]);
    let found: Vec<String> = all
        .iter()
        .filter(|f| !f.to_string_lossy().contains("/engine/"))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            shipped(&text)
                .filter(|(_, l)| {
                    let code = l.split("//").next().unwrap_or("");
                    code.contains("duct::") || code.contains("process::Command")
                })
                .map(|(i, l)| format!("{}:{}: {}", f.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

/// The image model is below the inventory, which is below the lock: no import goes back up,
/// so that none of them is in a circle with another.
#[test]
fn image_inventory_and_lock_import_only_downwards() {
    let found = mentions(&src(&["image"]), &["lock", "inventory"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = mentions(&src(&["inventory"]), &["lock"]);
    assert!(found.is_empty(), "{found:#?}");
}
