//! Where a project's inputs come from: flags, then `repro.toml`, then the layout on disk.

pub mod base_state;
pub mod confine;
pub mod fingerprint;
pub mod scaffold;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{clip, quote, Error, Result};
use crate::image::digest::Digest;
use crate::image::platform::Platforms;
use crate::image::reference::{image_name_from_dir, ImageRef};
use crate::lock;

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
    #[serde(default)]
    pub check: CheckConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Rules silenced for every Dockerfile of the project, as `check --ignore` silences them.
    #[serde(default, deserialize_with = "rule_list")]
    pub ignore: Vec<crate::check::suppress::Rule>,
}

/// `[check] ignore`: a list of rule names; anything else is named with the form it must take.
fn rule_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<crate::check::suppress::Rule>, D::Error> {
    use serde::de::Error as _;
    let shape = || {
        D::Error::custom(
            "[check] ignore must be a list of rule names, e.g. ignore = [\"apt-without-snapshot\"]",
        )
    };
    match toml::Value::deserialize(d)? {
        toml::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(name) => crate::check::suppress::parse_rule(&name)
                    .map(crate::check::suppress::Rule)
                    .map_err(|e| D::Error::custom(format!("[check] ignore: {e}"))),
                _ => Err(shape()),
            })
            .collect(),
        _ => Err(shape()),
    }
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
    /// `id=ID[,src=PATH|,env=VAR]`, as `--secret` takes them.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `default|ID[=PATH]`, as `--ssh` takes them.
    #[serde(default)]
    pub ssh: Vec<String>,
    pub network: Option<String>,
    /// `gzip` (the default) or `zstd`.
    pub compression: Option<crate::lock::Compression>,
    /// `NAME:IP`, as `--add-host` takes them.
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// As `--shm-size` takes it: `2g`, `512m`, bytes.
    pub shm_size: Option<String>,
    /// `TYPE=SOFT[:HARD]`, as `--ulimit` takes them.
    #[serde(default)]
    pub ulimits: Vec<String>,
    /// `NAME = "docker-image://REF"` or `NAME = "DIR"`, as `--build-context` takes them.
    #[serde(default)]
    pub build_contexts: BTreeMap<String, String>,
}

impl Config {
    /// Reads `project/repro.toml`, which must resolve inside `root` (the repository): a
    /// committed `repro.toml -> /somewhere` is refused, not read.
    pub fn load(root: &Path, project: &Path) -> Result<Config> {
        let path = crate::project::confine::confine(
            root,
            project,
            Path::new(CONFIG_FILE),
            "the configuration file",
        )?;
        match crate::limits::read(&path, crate::limits::CONFIG) {
            Ok(bytes) => toml::from_str(&String::from_utf8_lossy(&bytes))
                .map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.message()))),
            Err(crate::limits::ReadError::NotFound { .. }) => Ok(Config::default()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What the command line says about a release: each value not given is taken from repro.toml,
/// then from the defaults. The entry layer fills it from `release`'s flags, so that the core
/// does not depend on how the command line is parsed.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFlags {
    pub image: Option<String>,
    pub file: Option<String>,
    pub base_file: Option<String>,
    pub context: Option<String>,
    pub tags: Vec<String>,
    pub build_args: Vec<String>,
    pub secrets: Vec<String>,
    pub ssh: Vec<String>,
    pub network: Option<String>,
    pub add_hosts: Vec<String>,
    pub shm_size: Option<String>,
    pub ulimits: Vec<String>,
    pub build_contexts: Vec<String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub builder: Option<String>,
    pub lock: Option<PathBuf>,
    pub compression: Option<lock::Compression>,
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
    pub secrets: Vec<Secret>,
    pub ssh: Vec<Ssh>,
    pub network: crate::lock::Network,
    pub compression: crate::lock::Compression,
    /// `NAME:IP`, sorted by name.
    pub add_hosts: Vec<String>,
    /// The size of `/dev/shm` in the builds (`2g`); empty for buildx's default.
    pub shm_size: String,
    /// `TYPE=SOFT[:HARD]`, one per type, sorted by type.
    pub ulimits: Vec<String>,
    /// Named contexts, by name.
    pub contexts: BTreeMap<String, ContextSource>,
}

/// What a named build context (`--build-context NAME=VALUE`) reads: only what a rebuild can
/// read again from the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// `docker-image://REF`: resolved in its registry and pinned by digest at release.
    Image(String),
    /// A directory of the committed project, relative to it.
    Dir(String),
}

/// A BuildKit secret for the build: the lock records its id only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    /// A file buildx reads the value from.
    pub src: Option<String>,
    /// An environment variable buildx reads the value from.
    pub env: Option<String>,
}

impl Secret {
    /// The value of buildx's `--secret`, rebuilt from checked parts (never the raw flag).
    pub fn buildx_value(&self) -> String {
        match (&self.src, &self.env) {
            (Some(src), _) => format!("id={},src={src}", self.id),
            (None, Some(env)) => format!("id={},env={env}", self.id),
            (None, None) => format!("id={}", self.id),
        }
    }
}

/// An SSH agent socket or key for the build: the lock records its id only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    pub id: String,
    /// A key or agent socket; none for the agent at `$SSH_AUTH_SOCK`.
    pub path: Option<String>,
}

impl Ssh {
    /// The value of buildx's `--ssh`.
    pub fn buildx_value(&self) -> String {
        match &self.path {
            Some(path) => format!("{}={path}", self.id),
            None => self.id.clone(),
        }
    }
}

/// A path or variable name buildx will read: one CSV field, one line.
fn check_field(what: &str, value: &str) -> std::result::Result<(), String> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_control() || c == ',' || c == '"')
    {
        Err(format!(
            "has an empty {what} or one with a comma, a quote or a control character"
        ))
    } else {
        Ok(())
    }
}

/// `id=ID[,src=PATH|,env=VAR]` (also `source=`, and `type=file|env` as buildx takes it).
pub fn parse_secret(raw: &str) -> std::result::Result<Secret, String> {
    let mut id = None;
    let mut src = None;
    let mut env = None;
    let mut kind = None;
    for field in raw.split(',') {
        let (key, value) = field.split_once('=').ok_or_else(|| {
            format!(
                "has the field {} without `=`; write id=ID[,src=PATH|,env=VAR]",
                quote(field)
            )
        })?;
        let slot = match key {
            "id" => &mut id,
            "src" | "source" => &mut src,
            "env" => &mut env,
            "type" => &mut kind,
            other => {
                return Err(format!(
                    "has the unknown field {}; write id=ID[,src=PATH|,env=VAR]",
                    quote(other)
                ))
            }
        };
        if slot.replace(value.to_string()).is_some() {
            return Err(format!("gives {} twice", quote(key)));
        }
    }
    let id = id.ok_or("has no id; write id=ID[,src=PATH|,env=VAR]")?;
    lock::BuildId::try_from(id.clone()).map_err(|why| format!("id = {why}"))?;
    match kind.as_deref() {
        None | Some("file") => {}
        // buildx reads `type=env,src=VAR` as the variable VAR.
        Some("env") if env.is_none() => env = src.take().or_else(|| Some(id.clone())),
        Some("env") => {}
        Some(other) => return Err(format!("has type={}: use file or env", quote(other))),
    }
    if src.is_some() && env.is_some() {
        return Err("gives both src and env: the value comes from one of them".into());
    }
    if let Some(src) = &src {
        check_field("src", src)?;
    }
    if let Some(env) = &env {
        if env.is_empty()
            || env.starts_with(|c: char| c.is_ascii_digit())
            || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "has env={}, which is not a variable name",
                quote(env)
            ));
        }
    }
    Ok(Secret { id, src, env })
}

/// `default`, `ID` or `ID=PATH` (one key or agent socket).
pub fn parse_ssh(raw: &str) -> std::result::Result<Ssh, String> {
    let (id, path) = match raw.split_once('=') {
        Some((id, path)) => (id, Some(path)),
        None => (raw, None),
    };
    lock::BuildId::try_from(id.to_string()).map_err(|why| format!("id = {why}"))?;
    if let Some(path) = path {
        check_field("path", path)?;
    }
    Ok(Ssh {
        id: id.to_string(),
        path: path.map(str::to_string),
    })
}

/// Where buildx will read a secret from must be there now, not after a base build: a file
/// (relative to `dir`), or a set variable.
pub fn check_secret_source(
    secret: &Secret,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<(), String> {
    match (&secret.src, &secret.env) {
        (Some(src), _) if !dir.join(src).is_file() => {
            Err(format!("names {}, which is not a file here", quote(src)))
        }
        (None, Some(var)) if env(var).is_none() => Err(format!("names ${var}, which is not set")),
        // buildx reads `id=ID` alone from $ID if set, else from the file ID.
        (None, None) if env(&secret.id).is_none() && !dir.join(&secret.id).is_file() => Err(
            format!(
                "has no src or env, and neither ${} nor a file {} is here; write id={},src=PATH or id={},env=VAR",
                secret.id, secret.id, secret.id, secret.id
            ),
        ),
        _ => Ok(()),
    }
}

/// An SSH key or socket must be there; an agent needs `$SSH_AUTH_SOCK`.
pub fn check_ssh_source(
    ssh: &Ssh,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<(), String> {
    match &ssh.path {
        Some(path) if !dir.join(path).exists() => {
            Err(format!("names {}, which is not here", quote(path)))
        }
        None if env("SSH_AUTH_SOCK").is_none() => Err(format!(
            "needs an SSH agent, and $SSH_AUTH_SOCK is not set; start one, or name a key: --ssh {}=PATH",
            ssh.id
        )),
        _ => Ok(()),
    }
}

/// Parses and checks `--secret` values (after `[release] secrets`), one per id, the later
/// winning: every source checked before anything runs. Each value comes with how to show it
/// in an error: `--secret "id=x"`, or `[release] secrets = "id=x" in repro.toml`.
pub fn secrets<'a>(
    values: impl Iterator<Item = (String, &'a str)>,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Secret>> {
    last_per_id(
        values,
        parse_secret,
        |s| &s.id,
        |s| check_secret_source(s, dir, env),
    )
}

/// As [`secrets`], for `--ssh`.
pub fn ssh<'a>(
    values: impl Iterator<Item = (String, &'a str)>,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Ssh>> {
    last_per_id(
        values,
        parse_ssh,
        |s| &s.id,
        |s| check_ssh_source(s, dir, env),
    )
}

/// Parses every value, keeps the last per id, and checks the source of those kept (only the
/// value that wins is read by buildx, so only its source must be there).
fn last_per_id<'a, T>(
    values: impl Iterator<Item = (String, &'a str)>,
    parse: fn(&str) -> std::result::Result<T, String>,
    id: fn(&T) -> &String,
    check: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<Vec<T>> {
    let mut by_id = BTreeMap::new();
    for (shown, raw) in values {
        let value = parse(raw).map_err(|why| Error::Usage(format!("{shown} {why}")))?;
        by_id.insert(id(&value).clone(), (shown, value));
    }
    by_id
        .into_values()
        .map(|(shown, value)| {
            check(&value)
                .map(|_| value)
                .map_err(|why| Error::Usage(format!("{shown} {why}")))
        })
        .collect()
}

/// Checks `--add-host` values (after `[release] add_hosts`), one per name, the later winning.
pub fn add_hosts<'a>(values: impl Iterator<Item = (String, &'a str)>) -> Result<Vec<String>> {
    let mut by_name = BTreeMap::new();
    for (shown, raw) in values {
        let host: lock::AddHost = raw.parse().map_err(|_| {
            Error::Usage(format!(
                "{shown} is not NAME:IP (a host name, then an IPv4 or IPv6 address, e.g. pypi.lab:10.0.0.5)"
            ))
        })?;
        by_name.insert(host.name().to_string(), raw.to_string());
    }
    Ok(by_name.into_values().collect())
}

/// Checks `--ulimit` values (after `[release] ulimits`), one per type, the later winning;
/// each written as buildx takes it (`nofile=1024:4096`), sorted by type.
pub fn ulimits<'a>(values: impl Iterator<Item = (String, &'a str)>) -> Result<Vec<String>> {
    let mut by_type = BTreeMap::new();
    for (shown, raw) in values {
        let limit =
            lock::parse_ulimit(raw).map_err(|why| Error::Usage(format!("{shown} {why}")))?;
        by_type.insert(limit.kind.to_string(), limit.to_string());
    }
    Ok(by_type.into_values().collect())
}

/// `NAME=docker-image://REF` or `NAME=DIR`; every other form buildx takes is refused, since a
/// rebuild could not read it again from the lock.
pub fn parse_build_context(raw: &str) -> std::result::Result<(String, ContextSource), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("is not NAME=VALUE; {CONTEXT_FORMS}"))?;
    check_build_context(name, value).map(|source| (name.to_string(), source))
}

const CONTEXT_FORMS: &str = "use NAME=docker-image://REF (an image, pinned by digest) or NAME=DIR (a directory of the committed project)";

/// One named context: its name, and what it reads.
pub fn check_build_context(name: &str, value: &str) -> std::result::Result<ContextSource, String> {
    name.parse::<lock::ContextName>().map_err(|_| {
        format!(
            "has the name {}, which is not a context name: use lowercase letters and digits, joined by . _ or - (the name a Dockerfile uses in FROM NAME or COPY --from=NAME)",
            quote(name)
        )
    })?;
    if value.is_empty() {
        return Err(format!("has no VALUE; {CONTEXT_FORMS}"));
    }
    if let Some(reference) = value.strip_prefix(lock::IMAGE_CONTEXT) {
        let digest_ok = reference
            .split_once('@')
            .map_or(true, |(_, digest)| Digest::parse(digest).is_ok());
        if ImageRef::try_from(reference.to_string()).is_err()
            || !digest_ok
            || reference.contains("://")
        {
            return Err(format!(
                "names the image {}, which is not an image reference (such as ghcr.io/lab/deps:1)",
                quote(reference)
            ));
        }
        return Ok(ContextSource::Image(reference.to_string()));
    }
    let other_form = value.contains("://")
        || value.starts_with("target:")
        || value.starts_with("git@")
        || value.starts_with("github.com/");
    if other_form {
        return Err(format!(
            "is a kind of context docker repro cannot lock (oci-layout://, a URL, a git repository or target:); {CONTEXT_FORMS}"
        ));
    }
    if Path::new(value).is_absolute()
        || Path::new(value)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "names {}, outside the project: a directory outside the committed source cannot be rebuilt; commit it inside the project and name it by its relative path",
            quote(value)
        ));
    }
    lock::check_context_dir(value).map_err(|_| {
        format!(
            "names the directory {}, which is not one docker repro can lock: no leading `-`, control characters, `:` or `@` (buildx reads those as a URL, an image or a git remote); {CONTEXT_FORMS}",
            quote(value)
        )
    })?;
    Ok(ContextSource::Dir(value.to_string()))
}

/// Checks `--build-context` values (after `[release] build_contexts`), one per name, the later
/// winning.
pub fn build_contexts(
    config: &BTreeMap<String, String>,
    flags: &[String],
) -> Result<BTreeMap<String, ContextSource>> {
    let mut by_name = BTreeMap::new();
    for (name, value) in config {
        let source = check_build_context(name, value).map_err(|why| {
            Error::Usage(format!(
                "[release.build_contexts] {} = {} in {CONFIG_FILE} {why}",
                quote(name),
                quote(value)
            ))
        })?;
        by_name.insert(name.clone(), source);
    }
    for raw in flags {
        let (name, source) = parse_build_context(raw)
            .map_err(|why| Error::Usage(format!("--build-context {} {why}", quote(raw))))?;
        by_name.insert(name, source);
    }
    Ok(by_name)
}

/// A `--build-arg`/`[release.build_args]` key that is a proxy: refused, since proxies come
/// from the environment and are never recorded.
pub fn refuse_proxy_arg(shown: &str, key: &str) -> Result<()> {
    if lock::is_proxy_arg(key) {
        return Err(Error::Usage(format!(
            "{shown} sets the proxy {key}: proxies come from the environment, so set {key} there (docker repro passes it to the build by name, as BuildKit's predefined argument, and never records it)",
            key = clip(key)
        )));
    }
    Ok(())
}

/// Where a value came from, to name it in an error: the flag, or the key in `repro.toml`.
#[derive(Debug, Clone, Copy)]
struct From<'a> {
    flag: &'a str,
    key: &'a str,
    config: bool,
}

impl From<'_> {
    fn of<T>(flag: &'static str, key: &'static str, flag_value: &Option<T>) -> From<'static> {
        From {
            flag,
            key,
            config: flag_value.is_none(),
        }
    }

    /// `--image "X"`, or `image = "X" in repro.toml`.
    fn show(&self, value: &str) -> String {
        if self.config {
            format!("{} = {} in {CONFIG_FILE}", self.key, quote(value))
        } else {
            format!("{} {}", self.flag, quote(value))
        }
    }

    fn usage(&self, value: &str, why: &str) -> Error {
        Error::Usage(format!("{} {why}", self.show(value)))
    }
}

/// Merges flags over `repro.toml` over defaults, checking every value before anything runs:
/// a value docker or the lock would refuse is a usage error naming the flag or key, not a
/// failure after a full build.
pub fn inputs(
    project: &Path,
    args: &ReleaseFlags,
    config: Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Inputs> {
    let c = config.release;
    let image = image_name(project, args, &c)?;
    let (release_file, base_file) = dockerfiles(project, args, &c)?;
    let context_from = From::of("--context", "[release] context", &args.context);
    let context = args
        .context
        .clone()
        .or(c.context.clone())
        .unwrap_or_else(|| ".".into());
    check_relative(context_from, &context)?;
    let (target, platform, builder) = names(args, &c)?;
    let both = |key: &str, config: &'_ [String], flag: &str, flags: &'_ [String]| {
        config
            .iter()
            .map(|v| {
                (
                    format!("[release] {key} = {} in {CONFIG_FILE}", quote(v)),
                    v.clone(),
                )
            })
            .chain(
                flags
                    .iter()
                    .map(|v| (format!("{flag} {}", quote(v)), v.clone())),
            )
            .collect::<Vec<(String, String)>>()
    };
    let secrets = secrets(
        pairs(&both("secrets", &c.secrets, "--secret", &args.secrets)).into_iter(),
        project,
        env,
    )?;
    let ssh = ssh(
        pairs(&both("ssh", &c.ssh, "--ssh", &args.ssh)).into_iter(),
        project,
        env,
    )?;
    let add_hosts = add_hosts(
        pairs(&both(
            "add_hosts",
            &c.add_hosts,
            "--add-host",
            &args.add_hosts,
        ))
        .into_iter(),
    )?;
    let ulimits =
        ulimits(pairs(&both("ulimits", &c.ulimits, "--ulimit", &args.ulimits)).into_iter())?;
    Ok(Inputs {
        image,
        base_file,
        release_file,
        context,
        tags: tags(args, &c)?,
        target,
        platform,
        builder,
        lock: lock_path(project, args, &c)?,
        args: build_args(args, &c, env)?,
        secrets,
        ssh,
        network: network(args, &c)?,
        add_hosts,
        shm_size: shm_size(args, &c)?,
        ulimits,
        contexts: build_contexts(&c.build_contexts, &args.build_contexts)?,
        compression: args.compression.or(c.compression).unwrap_or_default(),
    })
}

/// (what to name in an error, value) pairs, borrowed.
fn pairs(values: &[(String, String)]) -> Vec<(String, &str)> {
    values
        .iter()
        .map(|(s, v)| (s.clone(), v.as_str()))
        .collect()
}

/// The image name: a repository, without tag or digest, that docker accepts.
fn image_name(project: &Path, args: &ReleaseFlags, c: &ReleaseConfig) -> Result<String> {
    let from = From::of("--image", "[release] image", &args.image);
    let image = args
        .image
        .clone()
        .or(c.image.clone())
        .unwrap_or_else(|| image_name_from_dir(project));
    if image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(from.usage(
            &image,
            "must be a repository name without tag or digest; tags come from --tag",
        ));
    }
    check_image_name(&image).map_err(|why| from.usage(&image, &why))?;
    Ok(image)
}

/// The release Dockerfile and the base one, named or found in the seed layout.
fn dockerfiles(
    project: &Path,
    args: &ReleaseFlags,
    c: &ReleaseConfig,
) -> Result<(String, Option<String>)> {
    let file_from = From::of("--file", "[release] file", &args.file);
    let base_from = From::of("--base-file", "[release] base_file", &args.base_file);
    let file = args.file.clone().or(c.file.clone());
    let base_file = args.base_file.clone().or(c.base_file.clone());
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
    check_relative(file_from, &release_file)?;
    if let Some(path) = &base_file {
        check_relative(base_from, path)?;
    }
    Ok((release_file, base_file))
}

/// The extra tags of the release, from repro.toml then the flags.
fn tags(args: &ReleaseFlags, c: &ReleaseConfig) -> Result<Vec<String>> {
    let config = From::of("--tag", "[release] tags", &None::<()>);
    let flag = From {
        flag: "--tag",
        key: "",
        config: false,
    };
    let tags: Vec<(From, &String)> = c
        .tags
        .iter()
        .map(|t| (config, t))
        .chain(args.tags.iter().map(|t| (flag, t)))
        .collect();
    for (from, tag) in &tags {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
        if !valid {
            return Err(from.usage(
                tag,
                "is not a valid tag: use letters, digits, _ . - (not first), at most 128",
            ));
        }
    }
    Ok(tags.into_iter().map(|(_, t)| t.clone()).collect())
}

/// The build arguments: repro.toml's, then the flags' over them (`KEY` alone takes `$KEY`).
/// Never a proxy, and refused before anything quotes a value that could hold a password.
fn build_args(
    args: &ReleaseFlags,
    c: &ReleaseConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut build_args = BTreeMap::new();
    for (key, value) in &c.build_args {
        check_build_arg(key, value).map_err(|why| {
            Error::Usage(format!(
                "[release.build_args] {} in {CONFIG_FILE} {why}",
                quote(key)
            ))
        })?;
        refuse_proxy_arg(
            &format!("[release.build_args] {} in {CONFIG_FILE}", quote(key)),
            key,
        )?;
        build_args.insert(key.clone(), value.clone());
    }
    for raw in &args.build_args {
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (
                raw.clone(),
                env(raw).ok_or_else(|| {
                    Error::Usage(format!(
                        "--build-arg {}: no `=` and ${} is not set; write --build-arg {}=VALUE",
                        clip(raw),
                        clip(raw),
                        clip(raw)
                    ))
                })?,
            ),
        };
        refuse_proxy_arg(&format!("--build-arg {}", quote(&key)), &key)?;
        check_build_arg(&key, &value)
            .map_err(|why| Error::Usage(format!("--build-arg {} {why}", quote(raw))))?;
        build_args.insert(key, value);
    }
    Ok(build_args)
}

/// The target stage, the platforms and the builder: words docker will take as they are.
fn names(args: &ReleaseFlags, c: &ReleaseConfig) -> Result<(String, Option<String>, String)> {
    let target_from = From::of("--target", "[release] target", &args.target);
    let builder_from = From::of("--builder", "[release] builder", &args.builder);
    let platform_from = From::of("--platform", "[release] platform", &args.platform);
    let target = args.target.clone().or(c.target.clone()).unwrap_or_default();
    let platform = args.platform.clone().or(c.platform.clone());
    let builder = args
        .builder
        .clone()
        .or(c.builder.clone())
        .unwrap_or_default();
    for (from, value) in [(target_from, &target), (builder_from, &builder)] {
        if value.starts_with('-')
            || value
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(from.usage(
                value,
                "is not a valid name (no leading `-`, whitespace or control characters)",
            ));
        }
    }
    if let Some(platform) = &platform {
        platform.parse::<Platforms>().map_err(|_| {
            platform_from.usage(
                platform,
                "is not a platform (os/arch[/variant], such as linux/amd64) or a comma-separated list of different ones (linux/amd64,linux/arm64)",
            )
        })?;
    }
    Ok((target, platform, builder))
}

/// Where the lock is written: a flag may name any path; repro.toml, part of the repository,
/// only one inside the project.
fn lock_path(project: &Path, args: &ReleaseFlags, c: &ReleaseConfig) -> Result<PathBuf> {
    let lock_from = From::of("--lock", "[release] lock", &args.lock);
    let lock = match (&args.lock, &c.lock) {
        (Some(flag), _) => flag.clone(),
        (None, Some(from_config)) => {
            check_relative(lock_from, &from_config.to_string_lossy())?;
            from_config.clone()
        }
        (None, None) => PathBuf::from(crate::lock::DEFAULT_PATH),
    };
    Ok(if lock.is_absolute() {
        lock
    } else {
        project.join(lock)
    })
}

/// The builds' network, buildx's default when none is given.
fn network(args: &ReleaseFlags, c: &ReleaseConfig) -> Result<lock::Network> {
    let network_from = From::of("--network", "[release] network", &args.network);
    let Some(name) = args.network.clone().or(c.network.clone()) else {
        return Ok(lock::Network::Default);
    };
    lock::Network::parse(&name).ok_or_else(|| {
        network_from.usage(&name, "is not a build network: use default, host or none")
    })
}

/// The size of the builds' /dev/shm, in lower case; empty for buildx's default.
fn shm_size(args: &ReleaseFlags, c: &ReleaseConfig) -> Result<String> {
    let shm_from = From::of("--shm-size", "[release] shm_size", &args.shm_size);
    let shm_size = args
        .shm_size
        .clone()
        .or(c.shm_size.clone())
        .unwrap_or_default();
    if !shm_size.is_empty() {
        lock::parse_size(&shm_size).map_err(|why| shm_from.usage(&shm_size, &why))?;
    }
    Ok(shm_size.to_ascii_lowercase())
}

/// A build argument docker takes and the lock can record.
pub fn check_build_arg(key: &str, value: &str) -> std::result::Result<(), String> {
    if key.is_empty()
        || key.starts_with(|c: char| c.is_ascii_digit())
        || !key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(format!(
            "has the name {}, which is not a valid ARG name: use letters, digits and _, not starting with a digit",
            quote(key)
        ));
    }
    if key == "SOURCE_DATE_EPOCH" {
        return Err("sets SOURCE_DATE_EPOCH: use --source-date-epoch; docker repro sets it".into());
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "has a control character in its value; {key} must be one line without control characters"
        ));
    }
    Ok(())
}

/// A repository name as docker's reference grammar has it: an optional registry host
/// (`host[:port]`, told apart by a `.` or `:` or `localhost`), then lowercase path components
/// `[a-z0-9]+` joined by `.`, `_`, `__` or dashes.
fn check_image_name(name: &str) -> std::result::Result<(), String> {
    const FIX: &str = "use lowercase letters, digits and . _ - inside each part, optionally after a registry host, e.g. curvenet or ghcr.io/lab/curvenet";
    if name.is_empty() || name.len() > 255 {
        return Err(format!(
            "is not a valid image name (1 to 255 characters); {FIX}"
        ));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (hostname, port) = host.split_once(':').unwrap_or((host, ""));
        let host_ok = !hostname.is_empty()
            && hostname.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && (port.is_empty() && !host.ends_with(':')
                || port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty());
        if !host_ok {
            return Err(format!(
                "has an invalid registry host {}; {FIX}",
                quote(host)
            ));
        }
    }
    for part in parts {
        let separators_ok = crate::image::reference::is_path_component(part);
        if !separators_ok {
            return Err(format!("is not a valid image name: the part {} must be lowercase letters and digits, joined by . _ __ or -; {FIX}", quote(part)));
        }
    }
    Ok(())
}

fn check_relative(from: From, path: &str) -> Result<()> {
    path.parse::<lock::RelativePath>().map(drop).map_err(|_| {
        from.usage(
            path,
            "must be a relative path inside the project, without `..` (it is looked up in the committed source)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn release_args(argv: &[&str]) -> ReleaseFlags {
        let mut full = vec!["docker repro", "release"];
        full.extend(argv);
        match crate::cli::Cli::try_parse_from(full).unwrap().command {
            crate::cli::Command::Release(a) => ReleaseFlags::from(&a),
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
    fn compression_comes_from_the_flag_then_repro_toml_then_gzip() {
        let dir = project(&["Dockerfile"]);
        let zstd: Config = toml::from_str("[release]\ncompression = \"zstd\"\n").unwrap();
        let none = || Config::default();
        let compression = |argv: &[&str], config: Config| {
            inputs(dir.path(), &release_args(argv), config, &|_| None)
                .unwrap()
                .compression
        };
        assert_eq!(compression(&[], none()), crate::lock::Compression::Gzip);
        assert_eq!(compression(&[], zstd), crate::lock::Compression::Zstd);
        let zstd: Config = toml::from_str("[release]\ncompression = \"zstd\"\n").unwrap();
        assert_eq!(
            compression(&["--compression", "gzip"], zstd),
            crate::lock::Compression::Gzip
        );
        let err = toml::from_str::<Config>("[release]\ncompression = \"lz4\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
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
    fn every_value_is_checked_up_front_naming_its_flag_or_key() {
        let dir = project(&["Dockerfile"]);
        let cases: &[(&[&str], &str)] = &[
            (
                &["--image", "UPPER"],
                "--image \"UPPER\" is not a valid image name",
            ),
            (&["--image", "ghcr.io/Lab/x"], "the part \"Lab\""),
            (
                &["--platform", "linux/amd64,linux/amd64"],
                "--platform \"linux/amd64,linux/amd64\" is not a platform",
            ),
            (&["--build-arg", "A B=1"], "not a valid ARG name"),
            (&["--build-arg", "=1"], "not a valid ARG name"),
            (&["--build-arg", "1A=1"], "not a valid ARG name"),
            (&["--build-arg", "X=a\nb"], "control character"),
            (&["--target=-x"], "--target \"-x\""),
        ];
        for (argv, needle) in cases {
            let err = inputs(dir.path(), &release_args(argv), Config::default(), &|_| {
                None
            })
            .unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?}");
            assert!(err.to_string().contains(needle), "{argv:?}: {err}");
            assert!(!err.to_string().contains('\n'), "{argv:?}: {err}");
        }
        let configs: &[(&str, &str)] = &[
            (
                "image = \"UPPER\"",
                "[release] image = \"UPPER\" in repro.toml is not a valid image name",
            ),
            (
                "platform = \"a,b\"",
                "[release] platform = \"a,b\" in repro.toml is not a platform",
            ),
            (
                "context = \"../x\"",
                "[release] context = \"../x\" in repro.toml must be a relative path",
            ),
            (
                "file = \"/etc/Dockerfile\"",
                "[release] file = \"/etc/Dockerfile\" in repro.toml",
            ),
            (
                "lock = \"/home/x/.bashrc\"",
                "[release] lock = \"/home/x/.bashrc\" in repro.toml",
            ),
            (
                "tags = [\"-x\"]",
                "[release] tags = \"-x\" in repro.toml is not a valid tag",
            ),
            (
                "target = \"a b\"",
                "[release] target = \"a b\" in repro.toml",
            ),
            (
                "[release.build_args]\n\"A B\" = \"1\"",
                "[release.build_args] \"A B\" in repro.toml has the name",
            ),
            (
                "[release.build_args]\n\"\" = \"1\"",
                "[release.build_args] \"\" in repro.toml has the name",
            ),
            (
                "[release.build_args]\nSOURCE_DATE_EPOCH = \"1\"",
                "--source-date-epoch",
            ),
        ];
        for (toml_text, needle) in configs {
            let config: Config = toml::from_str(&format!("[release]\n{toml_text}\n")).unwrap();
            let err = inputs(dir.path(), &release_args(&[]), config, &|_| None).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{toml_text}");
            assert!(err.to_string().contains(needle), "{toml_text}: {err}");
        }
        // A flag names the flag even when repro.toml has the key too.
        let config: Config = toml::from_str("[release]\nimage = \"ok\"\n").unwrap();
        let err = inputs(
            dir.path(),
            &release_args(&["--image", "NO"]),
            config,
            &|_| None,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("--image \"NO\""), "{err}");
    }

    #[test]
    fn build_inputs_from_flags_and_config_are_checked_up_front() {
        let dir = project(&["Dockerfile"]);
        std::fs::write(dir.path().join("pip.netrc"), "machine x\n").unwrap();
        let config: Config = toml::from_str(
            "[release]\nsecrets = [\"id=pip_index,src=absent\", \"id=tok,env=TOKEN\"]\nssh = [\"deploy=pip.netrc\"]\nnetwork = \"none\"\nadd_hosts = [\"pypi.lab:10.0.0.5\", \"deb.lab:10.0.0.6\"]\n",
        )
        .unwrap();
        let args = release_args(&[
            "--secret",
            "id=pip_index,src=pip.netrc",
            "--ssh",
            "default",
            "--network",
            "host",
            "--add-host",
            "pypi.lab:10.1.1.1",
        ]);
        let env = |k: &str| matches!(k, "TOKEN" | "SSH_AUTH_SOCK").then(|| "x".to_string());
        let i = inputs(dir.path(), &args, config, &env).unwrap();
        // One per id or name, the flag winning; sorted; values rebuilt from checked parts.
        assert_eq!(
            i.secrets
                .iter()
                .map(Secret::buildx_value)
                .collect::<Vec<_>>(),
            ["id=pip_index,src=pip.netrc", "id=tok,env=TOKEN"]
        );
        assert_eq!(
            i.ssh.iter().map(Ssh::buildx_value).collect::<Vec<_>>(),
            ["default", "deploy=pip.netrc"]
        );
        assert_eq!(i.network, lock::Network::Host);
        assert_eq!(i.add_hosts, ["deb.lab:10.0.0.6", "pypi.lab:10.1.1.1"]);
        let default = inputs(
            dir.path(),
            &release_args(&["--network", "default"]),
            Config::default(),
            &env,
        )
        .unwrap();
        assert_eq!(default.network, lock::Network::Default);

        let cases: &[(&[&str], &str)] = &[
            (
                &["--secret", "pip_index"],
                "has the field \"pip_index\" without `=`",
            ),
            (&["--secret", "id=a b,src=pip.netrc"], "is not a plain id"),
            (&["--secret", "id=--x"], "is not a plain id"),
            (
                &["--secret", "id=x,src=pip.netrc,env=TOKEN"],
                "both src and env",
            ),
            (
                &["--secret", "id=x,src=pip.netrc,required=true"],
                "unknown field",
            ),
            (&["--secret", "id=x,id=y,src=pip.netrc"], "twice"),
            (&["--secret", "id=x,src=absent"], "not a file here"),
            (&["--secret", "id=x,env=UNSET"], "$UNSET, which is not set"),
            (&["--secret", "id=x,env=A-B"], "not a variable name"),
            (&["--secret", "id=x,src=a\u{7}b"], "control character"),
            (&["--secret", "id=x,type=ssh"], "use file or env"),
            (&["--ssh", "de fault"], "is not a plain id"),
            (&["--ssh", "key=absent"], "not here"),
            (
                &["--network", "bridge"],
                "--network \"bridge\" is not a build network",
            ),
            (
                &["--add-host", "pypi.lab"],
                "--add-host \"pypi.lab\" is not NAME:IP",
            ),
            (&["--add-host", "pypi.lab:10.0.0.256"], "is not NAME:IP"),
            (&["--add-host=-x:10.0.0.1"], "is not NAME:IP"),
            (
                &["--build-arg", "http_proxy=http://u:p@proxy:3128"],
                "proxies come from the environment, so set http_proxy there",
            ),
            (
                &["--build-arg", "NO_PROXY=x"],
                "--build-arg \"NO_PROXY\" sets the proxy",
            ),
        ];
        for (argv, needle) in cases {
            let err = inputs(dir.path(), &release_args(argv), Config::default(), &env).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?}");
            let err = err.to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
            assert!(
                !err.contains('\n') && !err.contains("u:p@"),
                "{argv:?}: {err}"
            );
        }
        let no_agent = inputs(
            dir.path(),
            &release_args(&["--ssh", "default"]),
            Config::default(),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(no_agent.contains("$SSH_AUTH_SOCK is not set"), "{no_agent}");
        let configs: &[(&str, &str)] = &[
            (
                "secrets = [\"id=x,src=absent\"]",
                "[release] secrets = \"id=x,src=absent\" in repro.toml names",
            ),
            ("ssh = [\"a b\"]", "[release] ssh = \"a b\" in repro.toml"),
            (
                "network = \"bridge\"",
                "[release] network = \"bridge\" in repro.toml",
            ),
            (
                "add_hosts = [\"x\"]",
                "[release] add_hosts = \"x\" in repro.toml is not NAME:IP",
            ),
            (
                "[release.build_args]\nHTTP_PROXY = \"x\"",
                "[release.build_args] \"HTTP_PROXY\" in repro.toml sets the proxy",
            ),
        ];
        for (toml_text, needle) in configs {
            let config: Config = toml::from_str(&format!("[release]\n{toml_text}\n")).unwrap();
            let err = inputs(dir.path(), &release_args(&[]), config, &env).unwrap_err();
            assert!(err.to_string().contains(needle), "{toml_text}: {err}");
        }
    }

    #[test]
    fn shm_size_ulimits_and_named_contexts_are_checked_up_front() {
        let dir = project(&["Dockerfile"]);
        let config: Config = toml::from_str(
            "[release]\nshm_size = \"1g\"\nulimits = [\"nofile=1024\", \"stack=8192\"]\nbuild_contexts = { deps = \"docker-image://127.0.0.1:5000/lab/deps:1\", data = \"vendor/data\" }\n",
        )
        .unwrap();
        let from_config = inputs(dir.path(), &release_args(&[]), config, &|_| None).unwrap();
        assert_eq!(from_config.shm_size, "1g");
        assert_eq!(from_config.ulimits, ["nofile=1024", "stack=8192"]);
        assert_eq!(
            from_config.contexts,
            [
                ("data".to_string(), ContextSource::Dir("vendor/data".into())),
                (
                    "deps".to_string(),
                    ContextSource::Image("127.0.0.1:5000/lab/deps:1".into())
                ),
            ]
            .into()
        );
        // Flags win, one per type or name; limits written as buildx takes them, sorted.
        let config: Config = toml::from_str(
            "[release]\nshm_size = \"1g\"\nulimits = [\"nofile=1024\", \"stack=8192\"]\nbuild_contexts = { deps = \"docker-image://127.0.0.1:5000/lab/deps:1\" }\n",
        )
        .unwrap();
        let args = release_args(&[
            "--shm-size",
            "2G",
            "--ulimit",
            "nofile=065536:65536",
            "--ulimit",
            "memlock=-1",
            "--build-context",
            "deps=docker-image://busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--build-context",
            "src=.",
        ]);
        let i = inputs(dir.path(), &args, config, &|_| None).unwrap();
        assert_eq!(i.shm_size, "2g");
        assert_eq!(
            i.ulimits,
            ["memlock=-1", "nofile=65536:65536", "stack=8192"]
        );
        assert_eq!(
            i.contexts.get("deps"),
            Some(&ContextSource::Image(
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
                    .into()
            ))
        );
        assert_eq!(i.contexts.get("src"), Some(&ContextSource::Dir(".".into())));
        let none = inputs(dir.path(), &release_args(&[]), Config::default(), &|_| None).unwrap();
        assert!(none.shm_size.is_empty() && none.ulimits.is_empty() && none.contexts.is_empty());

        let cases: &[(&[&str], &str)] = &[
            (
                &["--shm-size", "2x"],
                "--shm-size \"2x\" is not a size: write a whole number of bytes, or of k, m or g (2g, 512m, 1073741824)",
            ),
            (&["--shm-size", "0"], "--shm-size \"0\" is no size"),
            (&["--shm-size=-1g"], "is not a size"),
            (&["--shm-size", "1.5g"], "is not a size"),
            (
                &["--ulimit", "nofile"],
                "--ulimit \"nofile\" is not TYPE=SOFT[:HARD]; write TYPE=SOFT[:HARD], e.g. nofile=1024:4096",
            ),
            (
                &["--ulimit", "files=1"],
                "--ulimit \"files=1\" names the limit \"files\", which docker does not know: use one of core, cpu,",
            ),
            (&["--ulimit", "nofile=lots"], "not a whole number"),
            (&["--ulimit", "nofile=2048:1024"], "soft limit above its hard limit"),
            (
                &["--build-context", "deps"],
                "--build-context \"deps\" is not NAME=VALUE; use NAME=docker-image://REF",
            ),
            (
                &["--build-context", "Deps=data"],
                "--build-context \"Deps=data\" has the name \"Deps\", which is not a context name",
            ),
            (&["--build-context=--x=data"], "is not a context name"),
            (
                &["--build-context", "data=/srv/data"],
                "--build-context \"data=/srv/data\" names \"/srv/data\", outside the project: a directory outside the committed source cannot be rebuilt",
            ),
            (&["--build-context", "data=../data"], "cannot be rebuilt"),
            (&["--build-context", "data="], "has no VALUE; use NAME=docker-image://REF"),
            (
                &["--build-context", "data=oci-layout:///srv/layout@sha256:00"],
                "is a kind of context docker repro cannot lock (oci-layout://, a URL, a git repository or target:); use NAME=docker-image://REF",
            ),
            (&["--build-context", "src=https://github.com/lab/x.git"], "cannot lock"),
            (&["--build-context", "src=git@github.com:lab/x.git"], "cannot lock"),
            (&["--build-context", "src=github.com/lab/x"], "cannot lock"),
            (&["--build-context", "base=target:builder"], "cannot lock"),
            (&["--build-context", "data=a:b"], "no leading `-`, control characters, `:` or `@`"),
            (&["--build-context=data=-rf"], "no leading `-`"),
            (
                &["--build-context", "deps=docker-image://a b"],
                "names the image \"a b\", which is not an image reference",
            ),
            (&["--build-context", "deps=docker-image://"], "not an image reference"),
            (&["--build-context", "deps=docker-image://x@sha256:1"], "not an image reference"),
            (&["--build-context=deps=docker-image://--privileged"], "not an image reference"),
        ];
        for (argv, needle) in cases {
            let err = inputs(dir.path(), &release_args(argv), Config::default(), &|_| {
                None
            })
            .unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?}");
            let err = err.to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
            assert!(!err.contains('\n'), "{argv:?}: {err}");
        }
        let configs: &[(&str, &str)] = &[
            (
                "shm_size = \"big\"",
                "[release] shm_size = \"big\" in repro.toml is not a size",
            ),
            (
                "ulimits = [\"nofile=x\"]",
                "[release] ulimits = \"nofile=x\" in repro.toml has a limit that is not a whole number",
            ),
            (
                "build_contexts = { data = \"/srv/data\" }",
                "[release.build_contexts] \"data\" = \"/srv/data\" in repro.toml names \"/srv/data\", outside the project",
            ),
            (
                "build_contexts = { \"a=b\" = \"data\" }",
                "[release.build_contexts] \"a=b\" = \"data\" in repro.toml has the name \"a=b\"",
            ),
        ];
        for (toml_text, needle) in configs {
            let config: Config = toml::from_str(&format!("[release]\n{toml_text}\n")).unwrap();
            let err = inputs(dir.path(), &release_args(&[]), config, &|_| None).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{toml_text}");
            assert!(err.to_string().contains(needle), "{toml_text}: {err}");
        }
    }

    #[test]
    fn image_names_follow_dockers_grammar() {
        for ok in [
            "curvenet",
            "ghcr.io/lab/curve-net",
            "127.0.0.1:5000/repro-test/busybox",
            "localhost/x",
            "Registry.Example:443/a/b",
            "a__b",
            "a--b.c_d",
        ] {
            assert_eq!(check_image_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "UPPER", "a_", "_a", "a___b", "a..b", "a/", "/a", "a//b", "host:/x", "-a", "a b", "",
        ] {
            assert!(check_image_name(bad).is_err(), "{bad}");
        }
        assert!(check_image_name(&"a".repeat(256)).is_err());
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
