//! Where a project's inputs come from: flags, then `repro.toml`, then the layout on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::ReleaseArgs;
use crate::docker::{check_user_ref, image_name_from_dir};
use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "repro.toml";
pub const SEED_BASE: &str = "docker/Dockerfile.base";
pub const SEED_RELEASE: &str = "docker/Dockerfile.release";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub release: ReleaseConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Paths whose differences are accepted noise (`/var/log/**`): still listed, as ignored;
    /// they never make a different image identical.
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    pub image: Option<String>,
    pub file: Option<String>,
    pub base_file: Option<String>,
    pub context: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub builder: Option<String>,
    pub lock: Option<PathBuf>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
}

impl Config {
    /// Reads `project/repro.toml`, which must resolve inside `root` (the repository): a
    /// committed `repro.toml -> /somewhere` is refused, not read.
    pub fn load(root: &Path, project: &Path) -> Result<Config> {
        let path = crate::confine::confine(
            root,
            project,
            Path::new(CONFIG_FILE),
            "the configuration file",
        )?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.message()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// Everything `release` needs to know before it looks at git or docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub image: String,
    pub base_file: Option<String>,
    pub release_file: String,
    pub context: String,
    pub tags: Vec<String>,
    pub target: String,
    pub platform: Option<String>,
    pub builder: String,
    pub lock: PathBuf,
    pub args: BTreeMap<String, String>,
}

/// Merges flags over `repro.toml` over defaults, checking each value before it reaches docker.
pub fn inputs(
    project: &Path,
    args: &ReleaseArgs,
    config: Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Inputs> {
    let c = config.release;
    let image = args
        .image
        .clone()
        .or(c.image)
        .unwrap_or_else(|| image_name_from_dir(project));
    check_user_ref("--image", &image)?;
    if image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(Error::Usage(format!(
            "--image {image:?} must be a repository name without tag or digest; tags come from --tag"
        )));
    }
    let file = args.file.clone().or(c.file);
    let base_file = args.base_file.clone().or(c.base_file);
    let (release_file, base_file) = match (file, base_file) {
        (Some(f), b) => {
            let b = b.or_else(|| (f == SEED_RELEASE && project.join(SEED_BASE).is_file()).then(|| SEED_BASE.to_string()));
            (f, b)
        }
        (None, b) if project.join(SEED_RELEASE).is_file() => (SEED_RELEASE.to_string(), b.or_else(|| Some(SEED_BASE.to_string()))),
        (None, b) if project.join("Dockerfile").is_file() => ("Dockerfile".to_string(), b),
        (None, _) => {
            return Err(Error::Usage(format!(
                "{}: no Dockerfile found; expected {SEED_BASE} + {SEED_RELEASE}, or ./Dockerfile (or pass --file)",
                project.display()
            )))
        }
    };
    for (flag, path) in [
        ("--file", Some(&release_file)),
        ("--base-file", base_file.as_ref()),
    ] {
        if let Some(path) = path {
            check_relative(flag, path)?;
        }
    }
    let context = args
        .context
        .clone()
        .or(c.context)
        .unwrap_or_else(|| ".".into());
    check_relative("--context", &context)?;
    let mut tags = c.tags;
    tags.extend(args.tags.iter().cloned());
    for tag in &tags {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
        if !valid {
            return Err(Error::Usage(format!(
                "--tag {tag:?} is not a valid tag (letters, digits, _ . -, at most 128)"
            )));
        }
    }
    let mut build_args = c.build_args;
    for raw in &args.build_args {
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (raw.clone(), env(raw).ok_or_else(|| {
                Error::Usage(format!("--build-arg {raw}: no `=` and ${raw} is not set; write --build-arg {raw}=VALUE"))
            })?),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            return Err(Error::Usage(format!(
                "--build-arg {raw:?}: `{key}` is not a valid ARG name"
            )));
        }
        if key == "SOURCE_DATE_EPOCH" {
            return Err(Error::Usage(
                "--build-arg SOURCE_DATE_EPOCH: use --source-date-epoch; docker repro sets it"
                    .into(),
            ));
        }
        build_args.insert(key, value);
    }
    let target = args.target.clone().or(c.target).unwrap_or_default();
    let platform = args.platform.clone().or(c.platform);
    let builder = args.builder.clone().or(c.builder).unwrap_or_default();
    for (flag, value) in [("--target", &target), ("--builder", &builder)] {
        if value.starts_with('-')
            || value
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(Error::Usage(format!(
                "{flag} {value:?} is not a valid name"
            )));
        }
    }
    let lock = args
        .lock
        .clone()
        .or(c.lock)
        .unwrap_or_else(|| PathBuf::from(crate::lockfile::DEFAULT_PATH));
    let lock = if lock.is_absolute() {
        lock
    } else {
        project.join(lock)
    };
    Ok(Inputs {
        image,
        base_file,
        release_file,
        context,
        tags,
        target,
        platform,
        builder,
        lock,
        args: build_args,
    })
}

fn check_relative(flag: &str, path: &str) -> Result<()> {
    let p = Path::new(path);
    if path.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::Usage(format!(
            "{flag} {path:?} must be a relative path inside the project (it is looked up in the committed source)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn release_args(argv: &[&str]) -> ReleaseArgs {
        let mut full = vec!["docker repro", "release"];
        full.extend(argv);
        match crate::cli::Cli::try_parse_from(full).unwrap().command {
            crate::cli::Command::Release(a) => a,
            _ => unreachable!(),
        }
    }

    fn project(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("CurveNet")
            .tempdir()
            .unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "FROM scratch\n").unwrap();
        }
        dir
    }

    #[test]
    fn seed_layout_is_found_and_image_defaults_to_directory() {
        let dir = project(&[SEED_BASE, SEED_RELEASE, "Dockerfile"]);
        let i = inputs(dir.path(), &release_args(&[]), Config::default(), &|_| None).unwrap();
        assert_eq!(i.release_file, SEED_RELEASE);
        assert_eq!(i.base_file.as_deref(), Some(SEED_BASE));
        assert!(i.image.starts_with("curvenet"));
        assert_eq!(i.lock, dir.path().join("repro.lock"));
    }

    #[test]
    fn single_dockerfile_and_flags_over_config() {
        let dir = project(&["Dockerfile"]);
        let config: Config = toml::from_str("[release]\nimage = \"fromconfig\"\ntags = [\"a\"]\n[release.build_args]\nX = \"1\"\nY = \"1\"\n").unwrap();
        let args = release_args(&[
            "--image",
            "flag",
            "--tag",
            "b",
            "--build-arg",
            "Y=2",
            "--build-arg",
            "Z",
        ]);
        let i = inputs(dir.path(), &args, config, &|k| {
            (k == "Z").then(|| "env".to_string())
        })
        .unwrap();
        assert_eq!(i.release_file, "Dockerfile");
        assert_eq!(i.base_file, None);
        assert_eq!(i.image, "flag");
        assert_eq!(i.tags, ["a", "b"]);
        assert_eq!(
            i.args
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["X=1", "Y=2", "Z=env"]
        );
    }

    #[test]
    fn bad_inputs_are_usage_errors_naming_the_flag() {
        let dir = project(&["Dockerfile"]);
        let cases: &[(&[&str], &str)] = &[
            (&["--image", "Bad Name"], "--image"),
            (&["--image", "x:1"], "without tag"),
            (&["--tag=-x"], "--tag"),
            (&["--context", "../up"], "--context"),
            (&["--file", "/etc/Dockerfile"], "--file"),
            (&["--build-arg", "NOPE"], "--build-arg NOPE"),
            (
                &["--build-arg", "SOURCE_DATE_EPOCH=1"],
                "--source-date-epoch",
            ),
        ];
        for (argv, needle) in cases {
            let err = inputs(dir.path(), &release_args(argv), Config::default(), &|_| {
                None
            })
            .unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?}");
            assert!(err.to_string().contains(needle), "{argv:?}: {err}");
        }
        let empty = project(&[]);
        let err = inputs(empty.path(), &release_args(&[]), Config::default(), &|_| {
            None
        })
        .unwrap_err();
        assert!(err.to_string().contains("no Dockerfile found"), "{err}");
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let dir = project(&["Dockerfile"]);
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[release]\nimgae = \"typo\"\n",
        )
        .unwrap();
        let err = Config::load(dir.path(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("imgae"), "{err}");
    }
}
