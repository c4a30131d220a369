//! A registry's HTTP API (the OCI distribution spec), for what docker's CLI cannot do: push a
//! blob and an artifact manifest, ask for an image's referrers, and fetch a manifest or a blob
//! with a bound on its size. Images themselves are pushed and pulled by docker.
//!
//! `ReadOnlyRegistry` reads an image that is only in a registry by digest, anonymously, for
//! `inspect NAME@DIGEST`.
//!
//! Credentials: none, or those `docker login` stored (inline in the docker config's
//! `auths.<host>.auth`, or by the credential helper of `credHelpers.<host>` or `credsStore`),
//! sent for a Basic challenge or to the Bearer token service a 401 names.

use std::io::Read;
use std::time::Duration;

use crate::engine::process::Deadline;
use crate::error::{Error, Result};
use crate::image::digest::Digest;
use crate::image::reference::Reference;

/// One repository of one registry.
pub struct Registry {
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://ghcr.io`.
    base: String,
    host: String,
    /// The repository path, `lab/curvenet` (`library/ubuntu` on Docker Hub).
    repository: String,
    /// The `Authorization` header value once a challenge was answered.
    authorization: std::cell::RefCell<Option<String>>,
    /// For messages: the repository as the user wrote it.
    shown: String,
}

/// A fetched document: its bytes and the media type the registry gave.
pub struct Document {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// What a registry answered about the referrers of a digest.
pub enum Referrers {
    /// The referrers API answered with this index.
    Api(Vec<u8>),
    /// No referrers API (404): the `sha256-<hex>` tag schema applies.
    NoApi,
}

/// What a PUT of a manifest answered.
pub struct Put {
    /// The registry said it recorded the manifest's subject (`OCI-Subject`), so its referrers
    /// API lists it and no fallback tag is needed.
    pub subject_recorded: bool,
}

impl Registry {
    /// The registry holding `repository` (a reference without tag or digest).
    pub fn new(repository: &str) -> Result<Registry> {
        let reference = Reference::split(repository);
        let name = reference.repository();
        let (host, path) = if reference.has_registry() {
            let (host, path) = name
                .split_once('/')
                .expect("a registry host is followed by a path");
            (host.to_string(), path.to_string())
        } else if name.contains('/') {
            ("registry-1.docker.io".to_string(), name.to_string())
        } else {
            (
                "registry-1.docker.io".to_string(),
                format!("library/{name}"),
            )
        };
        // As docker does by default: a registry on this machine speaks plain HTTP.
        let local =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let scheme = if local { "http" } else { "https" };
        let timeout = Deadline::lookup()?.limit;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(30)))
            .timeout(timeout)
            .user_agent(concat!("docker-repro/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Registry {
            agent,
            base: format!("{scheme}://{host}"),
            host,
            repository: path,
            authorization: std::cell::RefCell::new(None),
            shown: name.to_string(),
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }

    /// Sends a request, answering one authentication challenge. `Ok(Err(status))` is the
    /// registry's answer with an error status; `Err` means it was not reached.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<std::result::Result<ureq::Response, u16>> {
        for attempt in 0..2 {
            let mut request = self.agent.request(method, url);
            for (k, v) in headers {
                request = request.set(k, v);
            }
            if let Some(auth) = self.authorization.borrow().as_deref() {
                request = request.set("Authorization", auth);
            }
            let answer = match body {
                Some(bytes) => request.send_bytes(bytes),
                None => request.call(),
            };
            match answer {
                Ok(response) => return Ok(Ok(response)),
                Err(ureq::Error::Status(401, response)) if attempt == 0 => {
                    let challenge = response
                        .header("www-authenticate")
                        .unwrap_or("")
                        .to_string();
                    match self.answer(&challenge)? {
                        Some(auth) => *self.authorization.borrow_mut() = Some(auth),
                        None => return Ok(Err(401)),
                    }
                }
                Err(ureq::Error::Status(code, _)) => return Ok(Err(code)),
                Err(ureq::Error::Transport(t)) => {
                    if crate::cancel::requested() {
                        return Err(Error::Interrupted);
                    }
                    return Err(Error::Failed(format!(
                        "could not reach the registry {} ({}); check the network and the registry",
                        self.host,
                        crate::ui::escape(&crate::error::clip(&t.to_string()))
                    )));
                }
            }
        }
        Ok(Err(401))
    }

    /// The `Authorization` value that answers `challenge`, if one can be had.
    fn answer(&self, challenge: &str) -> Result<Option<String>> {
        let basic = stored_credentials(&self.host);
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(basic.map(|b| format!("Basic {b}")));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let param = |key: &str| {
            params.split(',').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k.eq_ignore_ascii_case(key)).then(|| v.trim_matches('"').to_string())
            })
        };
        let Some(realm) = param("realm") else {
            return Ok(None);
        };
        let mut request = self.agent.get(&realm).query(
            "scope",
            &format!("repository:{}:pull,push", self.repository),
        );
        if let Some(service) = param("service") {
            request = request.query("service", &service);
        }
        if let Some(b) = &basic {
            request = request.set("Authorization", &format!("Basic {b}"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(..)) => return Ok(None),
            Err(ureq::Error::Transport(t)) => {
                return Err(Error::Failed(format!(
                    "could not reach the token service of {} ({}); check the network",
                    self.host,
                    crate::ui::escape(&crate::error::clip(&t.to_string()))
                )))
            }
        };
        let bytes = read_bounded(response, 1 << 20).ok().flatten();
        let token = bytes
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str().map(String::from))
            });
        Ok(token.map(|t| format!("Bearer {t}")))
    }

    fn refused(&self, what: &str, status: u16) -> Error {
        let fix = match status {
            401 | 403 => "; `docker login` to it with an account that may do that",
            _ => "",
        };
        Error::Failed(format!(
            "the registry {} answered {status} to {what} in {}{fix}",
            self.host, self.shown
        ))
    }

    /// The manifest or index `reference` (a tag or a digest), at most `limit` bytes; `None`
    /// when the registry has none. A document fetched by digest is checked against it.
    pub fn manifest(&self, reference: &str, limit: u64) -> Result<Option<Document>> {
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
        let response = match self.send(
            "GET",
            &self.url(&format!("manifests/{reference}")),
            &[("Accept", accept)],
            None,
        )? {
            Ok(r) => r,
            Err(404) => return Ok(None),
            Err(status) => return Err(self.refused(&format!("a request for {reference}"), status)),
        };
        let media_type = response.content_type().to_string();
        let what = format!("{}@{reference}", self.shown);
        let bytes = read_bounded(response, limit)
            .map_err(|e| self.unreadable(&what, e))?
            .ok_or_else(|| too_large(&what, limit))?;
        if let Ok(digest) = Digest::parse(reference) {
            check_digest(&what, &digest, &bytes)?;
        }
        Ok(Some(Document { bytes, media_type }))
    }

    /// The blob `digest`, checked against it, refused past `limit` bytes without reading
    /// more than that.
    pub fn blob(&self, digest: &Digest, limit: u64, what: &str) -> Result<Vec<u8>> {
        let response = match self.send("GET", &self.url(&format!("blobs/{digest}")), &[], None)? {
            Ok(r) => r,
            Err(status) => {
                return Err(self.refused(&format!("a request for {what} ({digest})"), status))
            }
        };
        let announced = response
            .header("content-length")
            .and_then(|l| l.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(too_large(what, limit));
        }
        let bytes = read_bounded(response, limit)
            .map_err(|e| self.unreadable(what, e))?
            .ok_or_else(|| too_large(what, limit))?;
        check_digest(what, digest, &bytes)?;
        Ok(bytes)
    }

    fn unreadable(&self, what: &str, e: std::io::Error) -> Error {
        Error::Failed(format!(
            "reading {what} from the registry {}: {e}; check the network and try again",
            self.host
        ))
    }

    /// Uploads a blob unless the registry has it already.
    pub fn push_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let held = self.send("HEAD", &self.url(&format!("blobs/{digest}")), &[], None)?;
        if held.is_ok() {
            return Ok(());
        }
        let started = match self.send("POST", &self.url("blobs/uploads/"), &[], Some(b""))? {
            Ok(r) => r,
            Err(status) => return Err(self.refused("starting an upload", status)),
        };
        let location = started.header("location").unwrap_or("").to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        if !location.starts_with(&self.base) {
            return Err(Error::Failed(format!(
                "the registry {} sent an upload location on another host; refusing to upload there",
                self.host
            )));
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        match self.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
        )? {
            Ok(_) => Ok(()),
            Err(status) => Err(self.refused(&format!("the upload of {digest}"), status)),
        }
    }

    /// Puts a manifest or index under `reference` (its digest, or a tag).
    pub fn push_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Put> {
        match self.send(
            "PUT",
            &self.url(&format!("manifests/{reference}")),
            &[("Content-Type", media_type)],
            Some(bytes),
        )? {
            Ok(response) => Ok(Put {
                subject_recorded: response.header("oci-subject").is_some(),
            }),
            Err(status) => Err(self.refused(&format!("the manifest {reference}"), status)),
        }
    }

    /// The referrers of `subject` through the referrers API, or that the registry has none.
    pub fn referrers(&self, subject: &Digest, limit: u64) -> Result<Referrers> {
        let response = match self.send(
            "GET",
            &self.url(&format!("referrers/{subject}")),
            &[("Accept", crate::image::referrer::INDEX_TYPE)],
            None,
        )? {
            Ok(r) => r,
            // No API: the spec's fallback. A registry that refuses the path (400, 405) has
            // none either.
            Err(404 | 400 | 405) => return Ok(Referrers::NoApi),
            Err(status) => return Err(self.refused(&format!("the referrers of {subject}"), status)),
        };
        let what = format!("the referrers list of {}@{subject}", self.shown);
        let bytes = read_bounded(response, limit)
            .map_err(|e| self.unreadable(&what, e))?
            .ok_or_else(|| too_large(&what, limit))?;
        Ok(Referrers::Api(bytes))
    }
}

/// Reads at most `limit` bytes of a response: `None` when it has more.
fn read_bounded(response: ureq::Response, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn too_large(what: &str, limit: u64) -> Error {
    Error::Failed(format!(
        "{what} is over the {} limit on it; refusing it unread (see \"Limits\" in the README)",
        crate::limits::human(limit)
    ))
}

fn check_digest(what: &str, digest: &Digest, bytes: &[u8]) -> Result<()> {
    let actual = Digest::of(bytes);
    if &actual != digest {
        return Err(Error::Failed(format!(
            "{what}: the registry sent bytes that hash to {actual}, not {digest}; the registry is not to be trusted"
        )));
    }
    Ok(())
}

/// Where `docker login` keeps the credentials of a registry, as the docker config says.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    /// `credHelpers.<host>`, else `credsStore`: the program `docker-credential-<name>`.
    Helper(String),
    /// `auths.<host>.auth`: base64 of `user:password`.
    Inline(String),
    None,
}

/// The keys `docker login` files a registry's credentials under.
fn server_keys(host: &str) -> Vec<String> {
    if host == "registry-1.docker.io" {
        vec!["https://index.docker.io/v1/".to_string()]
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    }
}

/// What the docker config `config` says about `host`, as docker's CLI reads it: a helper
/// named for the host first, then the config's store, then an inline entry.
fn stored_in(config: &serde_json::Value, host: &str) -> Stored {
    let keys = server_keys(host);
    let helper = config
        .get("credHelpers")
        .and_then(|h| keys.iter().find_map(|k| h.get(k)?.as_str()))
        .or_else(|| config.get("credsStore").and_then(|s| s.as_str()));
    if let Some(name) = helper.filter(|n| is_helper_name(n)) {
        return Stored::Helper(name.to_string());
    }
    let inline = config.get("auths").and_then(|auths| {
        keys.iter().find_map(|k| {
            auths
                .get(k)?
                .get("auth")?
                .as_str()
                .filter(|a| !a.is_empty())
                .map(String::from)
        })
    });
    inline.map_or(Stored::None, Stored::Inline)
}

/// A helper name is part of a program's name: letters, digits, `-`, `_`, `.`, never a path.
fn is_helper_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The base64 `user:password` that `docker login` stored for `host`, inline or through a
/// credential helper, if any. An identity token (OAuth refresh token) is not used.
fn stored_credentials(host: &str) -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let limit = crate::limits::Limit {
        what: "docker config",
        bytes: 1 << 20,
    };
    let bytes = crate::limits::read(&dir.join("config.json"), limit).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match stored_in(&config, host) {
        Stored::Inline(auth) => Some(auth),
        Stored::Helper(name) => from_helper(&name, host),
        Stored::None => None,
    }
}

/// `docker-credential-<name> get`, given the server on stdin as docker's CLI gives it.
fn from_helper(name: &str, host: &str) -> Option<String> {
    use base64::Engine as _;
    let helper =
        crate::engine::process::Tool::find(&format!("docker-credential-{name}"), "").ok()?;
    let server = server_keys(host).remove(0);
    let mut stream = helper
        .stream_with(&["get"], &Default::default(), Some(server.into_bytes()))
        .ok()?;
    let mut answer = Vec::new();
    (&mut stream).take(1 << 20).read_to_end(&mut answer).ok()?;
    stream.finish().ok()?;
    let answer: serde_json::Value = serde_json::from_slice(&answer).ok()?;
    let user = answer.get("Username")?.as_str()?;
    let secret = answer.get("Secret")?.as_str()?;
    if user == "<token>" || secret.is_empty() {
        return None;
    }
    Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_looked_for_where_docker_login_keeps_them() {
        let config = serde_json::json!({
            "auths": {
                "ghcr.io": {"auth": "dTpw"},
                "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
                "quay.io": {}
            },
            "credHelpers": {"gcr.io": "gcloud", "evil.example": "../../bin/sh"}
        });
        assert_eq!(stored_in(&config, "ghcr.io"), Stored::Inline("dTpw".into()));
        assert_eq!(
            stored_in(&config, "registry-1.docker.io"),
            Stored::Inline("aHViOnB3".into())
        );
        assert_eq!(
            stored_in(&config, "gcr.io"),
            Stored::Helper("gcloud".into())
        );
        // An entry without `auth` (a store holds it) and a helper name that is a path: none.
        assert_eq!(stored_in(&config, "quay.io"), Stored::None);
        assert_eq!(stored_in(&config, "evil.example"), Stored::None);
        assert_eq!(stored_in(&config, "127.0.0.1:5000"), Stored::None);
        // A store for every registry wins over inline entries, as in docker's CLI.
        let store =
            serde_json::json!({"credsStore": "desktop", "auths": {"ghcr.io": {"auth": "dTpw"}}});
        assert_eq!(
            stored_in(&store, "ghcr.io"),
            Stored::Helper("desktop".into())
        );
    }
}

/// What a manifest request accepts: OCI and Docker, images and indexes.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest or config read into memory; real ones are a few KiB.
const MAX_DOCUMENT: u64 = 4 << 20;

/// One repository of one registry, read anonymously by digest for `inspect NAME@DIGEST`.
pub struct ReadOnlyRegistry {
    /// For manifests, configs and tokens: the whole request within the lookup deadline.
    agent: ureq::Agent,
    /// For layers: each wait within the lookup deadline, the whole layer within the transfer one.
    layer_agent: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    base: String,
    /// `library/ubuntu`, `repro-test/busybox`.
    repository: String,
    /// What the user named, for messages.
    reference: String,
    token: std::cell::RefCell<Option<String>>,
}

impl ReadOnlyRegistry {
    /// The registry and repository of `reference`; `lookup` bounds connecting, each wait for
    /// bytes and a whole document, `transfer` a whole layer, so that an unreachable, stalled or
    /// trickling registry is an error, never a hang.
    pub fn for_reference(
        reference: &str,
        lookup: Duration,
        transfer: Duration,
    ) -> ReadOnlyRegistry {
        let normalised = Reference::split(reference).normalised();
        let name = Reference::split(&normalised).repository().to_string();
        let (host, repository) = name.split_once('/').unwrap_or(("docker.io", &name));
        let host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        // As docker does: a registry on the loopback interface speaks plain HTTP.
        let plain = host.starts_with("localhost") || host.starts_with("127.") || host == "[::1]";
        let scheme = if plain { "http" } else { "https" };
        ReadOnlyRegistry {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(lookup)
                .timeout_read(lookup)
                .timeout_write(lookup)
                .timeout(lookup)
                .build(),
            layer_agent: ureq::AgentBuilder::new()
                .timeout_connect(lookup)
                .timeout_read(lookup)
                .timeout_write(lookup)
                .timeout(transfer)
                .build(),
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            reference: reference.to_string(),
            token: std::cell::RefCell::new(None),
        }
    }

    /// The bytes of the manifest or index `digest`, as the registry sent them.
    pub fn manifest(&self, digest: &str) -> Result<Vec<u8>> {
        let response = self.get(&format!("manifests/{digest}"), Some(MANIFEST_TYPES))?;
        self.read_small(response, digest)
    }

    /// The bytes of a small blob (an image config).
    pub fn small_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let response = self.get(&format!("blobs/{digest}"), None)?;
        self.read_small(response, digest)
    }

    /// A blob (a layer) as a stream.
    pub fn blob(&self, digest: &str) -> Result<Box<dyn Read + Send + Sync>> {
        Ok(self
            .get_with(&self.layer_agent, &format!("blobs/{digest}"), None)?
            .into_reader())
    }

    fn read_small(&self, response: ureq::Response, digest: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.unreachable(&format!("reading {digest}"), &e.to_string()))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(Error::Failed(format!(
                "the registry of {} sent more than {MAX_DOCUMENT} bytes for {digest}, which is no manifest or config; refusing it",
                self.shown()
            )));
        }
        Ok(bytes)
    }

    fn get(&self, path: &str, accept: Option<&str>) -> Result<ureq::Response> {
        self.get_with(&self.agent, path, accept)
    }

    fn get_with(
        &self,
        agent: &ureq::Agent,
        path: &str,
        accept: Option<&str>,
    ) -> Result<ureq::Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let request = |token: Option<&str>| {
            let mut r = agent.get(&url);
            if let Some(accept) = accept {
                r = r.set("Accept", accept);
            }
            if let Some(token) = token {
                r = r.set("Authorization", &format!("Bearer {token}"));
            }
            r.call().map_err(Box::new)
        };
        let token = self.token.borrow().clone();
        match request(token.as_deref()) {
            Ok(response) => Ok(response),
            Err(e) => match *e {
                ureq::Error::Status(401, response) if token.is_none() => {
                    let challenge = response
                        .header("www-authenticate")
                        .unwrap_or("")
                        .to_string();
                    let token = self.anonymous_token(&challenge)?;
                    *self.token.borrow_mut() = Some(token.clone());
                    request(Some(&token)).map_err(|e| self.failure(path, *e))
                }
                other => Err(self.failure(path, other)),
            },
        }
    }

    /// The token a registry's `Bearer realm=…,service=…,scope=…` challenge hands to anyone.
    fn anonymous_token(&self, challenge: &str) -> Result<String> {
        let login = || {
            Error::Failed(format!(
                "the registry of {} wants a login to be read; inspect reads registries anonymously for now: `docker pull {}` and inspect the local image",
                self.shown(),
                self.shown()
            ))
        };
        let params = challenge
            .strip_prefix("Bearer ")
            .or_else(|| challenge.strip_prefix("bearer "))
            .ok_or_else(login)?;
        let field = |key: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_string())
            })
        };
        let realm = field("realm").ok_or_else(login)?;
        let mut request = self.agent.get(&realm);
        if let Some(service) = field("service") {
            request = request.query("service", &service);
        }
        let scope =
            field("scope").unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        request = request.query("scope", &scope);
        let response = request.call().map_err(|_| login())?;
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_DOCUMENT)
            .read_to_end(&mut body)
            .map_err(|e| self.unreachable("its token", &e.to_string()))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&body).map_err(|_| login())?;
        token.token.or(token.access_token).ok_or_else(login)
    }

    fn failure(&self, path: &str, e: ureq::Error) -> Error {
        match e {
            ureq::Error::Status(404, _) => Error::Failed(format!(
                "the registry of {} has no {}; check the digest (`docker buildx imagetools inspect {}`)",
                self.shown(),
                crate::ui::escape(path),
                self.shown()
            )),
            ureq::Error::Status(401 | 403, _) => Error::Failed(format!(
                "the registry of {} refused to serve it anonymously; `docker pull` it and inspect the local image",
                self.shown()
            )),
            ureq::Error::Status(code, _) => Error::Failed(format!(
                "the registry of {} answered {code} for {}; try again later or pull the image",
                self.shown(),
                crate::ui::escape(path)
            )),
            ureq::Error::Transport(t) => self.unreachable(path, &t.to_string()),
        }
    }

    fn unreachable(&self, what: &str, why: &str) -> Error {
        Error::Failed(format!(
            "could not read {} from the registry {} for {}: {}; check the network and the registry (a document and each wait are bounded by {}, a layer by {})",
            crate::ui::escape(what),
            self.base,
            self.shown(),
            crate::ui::escape(&crate::error::clip(why)),
            crate::engine::process::LOOKUP_TIMEOUT_VAR,
            crate::engine::process::TRANSFER_TIMEOUT_VAR
        ))
    }

    fn shown(&self) -> String {
        crate::ui::escape(&self.reference).into_owned()
    }
}

#[cfg(test)]
mod read_only_tests {
    use super::*;

    #[test]
    fn registry_and_repository_of_references() {
        let r = ReadOnlyRegistry::for_reference(
            "127.0.0.1:5000/repro-test/busybox@sha256:ab",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("http://127.0.0.1:5000", "repro-test/busybox")
        );
        let r = ReadOnlyRegistry::for_reference(
            "ubuntu@sha256:ab",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("https://registry-1.docker.io", "library/ubuntu")
        );
        let r = ReadOnlyRegistry::for_reference(
            "ghcr.io/lab/env:1@sha256:ab",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("https://ghcr.io", "lab/env")
        );
    }
}
