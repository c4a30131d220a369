//! The one registry client: a registry's HTTP API (the OCI distribution spec) for what
//! docker's CLI cannot do. `inspect NAME@DIGEST` reads an image that is only in a registry
//! (its manifests, configs and layers) without pulling it; `release --push` pushes the blobs
//! and artifact manifests that attach a lock and SBOMs to an image; `verify NAME@DIGEST` asks
//! for an image's referrers and fetches its lock. Images themselves are pushed and pulled by
//! docker.
//!
//! Authentication, one way for every request: a 401's challenge is answered with the
//! credentials `docker login` stored (inline in the docker config's `auths.<host>.auth`, or
//! by the credential helper of `credHelpers.<host>` or `credsStore`), for a Basic challenge or
//! to the Bearer token service it names; without stored credentials, with the anonymous
//! bearer token a registry hands to anyone (Docker Hub's and GHCR's public images).
//!
//! Deadlines: connecting and each wait for bytes are bounded by the lookup deadline
//! (`DOCKER_REPRO_LOOKUP_TIMEOUT`), and so is a whole small document (a manifest, a config, a
//! referrers list, a token, a lock); a whole layer or upload by the transfer deadline
//! (`DOCKER_REPRO_TRANSFER_TIMEOUT`), so that an unreachable, stalled or trickling registry is
//! an error, never a hang.
//!
//! Nothing a registry sends is trusted: a document fetched by digest and every blob read whole
//! are bounded in size and checked against their digest here; a layer is streamed, and the
//! one layer opener (`image::layer`) checks its digest as it is read.

use std::io::Read;
use std::time::Duration;

use crate::engine::process::{Deadline, LOOKUP_TIMEOUT_VAR, TRANSFER_TIMEOUT_VAR};
use crate::error::{Error, Result};
use crate::image::digest::Digest;
use crate::image::reference::Reference;

/// What a manifest request accepts: OCI and Docker, images and indexes.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The most a token service's answer may be; real ones are a few KiB.
const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// One repository of one registry.
pub struct Registry {
    /// For documents, tokens and small pushes: the whole request within the lookup deadline.
    documents: ureq::Agent,
    /// For layers and blob uploads: each wait within the lookup deadline, the whole transfer
    /// within the transfer one.
    transfers: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    base: String,
    /// `127.0.0.1:5000`, `ghcr.io`, `registry-1.docker.io`: where credentials are filed.
    host: String,
    /// The repository path, `lab/curvenet` (`library/ubuntu` on Docker Hub).
    repository: String,
    /// The `Authorization` header value once a challenge was answered.
    authorization: std::cell::RefCell<Option<String>>,
    /// For messages: the repository as the user wrote it, escaped.
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

/// Which deadline a request runs under.
#[derive(Clone, Copy)]
enum Size {
    /// A document, a token, a small blob: the lookup deadline for the whole request.
    Small,
    /// A layer or an upload: the transfer deadline for the whole request.
    Large,
}

impl Registry {
    /// The registry and repository of `reference` (a repository, with or without a tag or
    /// digest), under the deadlines `DOCKER_REPRO_LOOKUP_TIMEOUT` and
    /// `DOCKER_REPRO_TRANSFER_TIMEOUT` set (or their defaults).
    pub fn new(reference: &str) -> Result<Registry> {
        let lookup = Deadline::lookup()?.limit;
        let transfer = Deadline::transfer("a registry transfer")?.limit;
        Ok(Registry::with_deadlines(reference, lookup, transfer))
    }

    /// [`Registry::new`] with the deadlines given: `lookup` bounds connecting, each wait for
    /// bytes and a whole small request, `transfer` a whole layer or upload.
    pub fn with_deadlines(reference: &str, lookup: Duration, transfer: Duration) -> Registry {
        let normalised = Reference::split(reference).normalised();
        let name = Reference::split(&normalised).repository().to_string();
        let (host, repository) = name.split_once('/').unwrap_or(("docker.io", &name));
        let host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        // As docker does by default: a registry on the loopback interface speaks plain HTTP.
        let local =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let scheme = if local { "http" } else { "https" };
        let agent = |whole: Duration| {
            ureq::AgentBuilder::new()
                .timeout_connect(lookup)
                .timeout_read(lookup)
                .timeout_write(lookup)
                .timeout(whole)
                .user_agent(concat!("docker-repro/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Registry {
            documents: agent(lookup),
            transfers: agent(transfer),
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            repository: repository.to_string(),
            authorization: std::cell::RefCell::new(None),
            shown: crate::ui::escape(Reference::split(reference).repository()).into_owned(),
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }

    /// Sends a request, answering one authentication challenge. `Ok(Err(status))` is the
    /// registry's answer with an error status; `Err` means it was not reached or stopped at
    /// its deadline. `what` names the request in messages.
    fn send(
        &self,
        size: Size,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<std::result::Result<ureq::Response, u16>> {
        let agent = match size {
            Size::Small => &self.documents,
            Size::Large => &self.transfers,
        };
        for attempt in 0..2 {
            let mut request = agent.request(method, url);
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
                    let pushing = !matches!(method, "GET" | "HEAD");
                    match self.answer(&challenge, pushing)? {
                        Some(auth) => *self.authorization.borrow_mut() = Some(auth),
                        None => return Ok(Err(401)),
                    }
                }
                Err(ureq::Error::Status(code, _)) => return Ok(Err(code)),
                Err(ureq::Error::Transport(t)) => {
                    return Err(self.unreachable(method, what, &t.to_string()))
                }
            }
        }
        Ok(Err(401))
    }

    /// The `Authorization` value that answers `challenge`: the stored credentials for a Basic
    /// one; for a Bearer one, the token its service gives for them, or to anyone without them.
    fn answer(&self, challenge: &str, pushing: bool) -> Result<Option<String>> {
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
        // The scope the challenge asks for, as docker does; a challenge without one gets what
        // the request needs.
        let actions = if pushing { "pull,push" } else { "pull" };
        let scope =
            param("scope").unwrap_or_else(|| format!("repository:{}:{actions}", self.repository));
        let mut request = self.documents.get(&realm).query("scope", &scope);
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
                return Err(self.unreachable("GET", "a token for it", &t.to_string()))
            }
        };
        let bytes = read_bounded(response, MAX_TOKEN_ANSWER)
            .map_err(|e| self.unreadable("a token for it", &e.to_string()))?;
        let token = bytes
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str().map(String::from))
            });
        Ok(token.map(|t| format!("Bearer {t}")))
    }

    /// The one message of a request the registry answered with an error status; `what` is
    /// what was asked for, `the manifest sha256:… of NAME`, its untrusted parts escaped (as in
    /// every `what` here).
    fn refused(&self, what: &str, status: u16) -> Error {
        match status {
            404 => Error::Failed(format!(
                "the registry {} has no {what}; check the name and the digest (`docker buildx imagetools inspect {}@DIGEST`)",
                self.host, self.shown
            )),
            401 | 403 => Error::Failed(format!(
                "the registry {} refused {what} ({status}); `docker login {}` with an account that may read (or push to) {}",
                self.host, self.host, self.shown
            )),
            _ => Error::Failed(format!(
                "the registry {} answered {status} to a request for {what}; try again later",
                self.host
            )),
        }
    }

    /// The one message of a registry not reached, or that did not answer within a deadline.
    fn unreachable(&self, method: &str, what: &str, why: &str) -> Error {
        let verb = if matches!(method, "GET" | "HEAD") {
            "read"
        } else {
            "send"
        };
        self.failed(
            &format!(
                "could not reach the registry {}, so could not {verb}",
                self.host
            ),
            what,
            why,
        )
    }

    /// The one message of an answer that broke off or stalled while it was read.
    fn unreadable(&self, what: &str, why: &str) -> Error {
        self.failed(
            &format!("the registry {} stopped sending; could not read", self.host),
            what,
            why,
        )
    }

    fn failed(&self, failure: &str, what: &str, why: &str) -> Error {
        if crate::cancel::requested() {
            return Error::Interrupted;
        }
        Error::Failed(format!(
            "{failure} {what} ({}); check the network and the registry (connecting, each wait and a document are bounded by {LOOKUP_TIMEOUT_VAR}, a layer or upload by {TRANSFER_TIMEOUT_VAR})",
            crate::ui::escape(&crate::error::clip(why)),
        ))
    }

    /// Reads a small document's bytes whole: at most `limit`, else refused.
    fn read_document(&self, response: ureq::Response, what: &str, limit: u64) -> Result<Vec<u8>> {
        read_bounded(response, limit)
            .map_err(|e| self.unreadable(what, &e.to_string()))?
            .ok_or_else(|| too_large(what, limit))
    }

    /// The manifest or index `reference` (a tag or a digest), at most `limit` bytes; `None`
    /// when the registry has none. A document fetched by digest is checked against it.
    pub fn manifest(&self, reference: &str, limit: u64) -> Result<Option<Document>> {
        let what = format!("the manifest {reference} of {}", self.shown);
        let response = match self.send(
            Size::Small,
            "GET",
            &self.url(&format!("manifests/{reference}")),
            &[("Accept", MANIFEST_TYPES)],
            None,
            &what,
        )? {
            Ok(r) => r,
            Err(404) => return Ok(None),
            Err(status) => return Err(self.refused(&what, status)),
        };
        let media_type = response.content_type().to_string();
        let bytes = self.read_document(response, &what, limit)?;
        if let Ok(digest) = Digest::parse(reference) {
            check_digest(&what, &digest, &bytes)?;
        }
        Ok(Some(Document { bytes, media_type }))
    }

    /// The blob `digest` read whole (a config, a lock), checked against it, refused past
    /// `limit` bytes without reading more than that. `what` names it in messages.
    pub fn blob(&self, digest: &Digest, limit: u64, what: &str) -> Result<Vec<u8>> {
        let response = match self.send(
            Size::Small,
            "GET",
            &self.url(&format!("blobs/{digest}")),
            &[],
            None,
            what,
        )? {
            Ok(r) => r,
            Err(status) => return Err(self.refused(&format!("{what} ({digest})"), status)),
        };
        let announced = response
            .header("content-length")
            .and_then(|l| l.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(too_large(what, limit));
        }
        let bytes = self.read_document(response, what, limit)?;
        check_digest(what, digest, &bytes)?;
        Ok(bytes)
    }

    /// The layer `digest` as a stream, under the transfer deadline. Its bytes are checked
    /// against the digest by the one layer opener (`image::layer::open_layer`, whose `finish`
    /// is given the digest), which bounds what it decompresses to as well.
    pub fn layer(&self, digest: &Digest) -> Result<Box<dyn Read + Send + Sync>> {
        let what = format!("the layer {digest} of {}", self.shown);
        match self.send(
            Size::Large,
            "GET",
            &self.url(&format!("blobs/{digest}")),
            &[],
            None,
            &what,
        )? {
            Ok(response) => Ok(response.into_reader()),
            Err(status) => Err(self.refused(&what, status)),
        }
    }

    /// Uploads a blob unless the registry has it already.
    pub fn push_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let what = format!("the blob {digest} for {}", self.shown);
        let held = self.send(
            Size::Small,
            "HEAD",
            &self.url(&format!("blobs/{digest}")),
            &[],
            None,
            &what,
        )?;
        if held.is_ok() {
            return Ok(());
        }
        let started = match self.send(
            Size::Small,
            "POST",
            &self.url("blobs/uploads/"),
            &[],
            Some(b""),
            &what,
        )? {
            Ok(r) => r,
            Err(status) => {
                return Err(self.refused(&format!("an upload to {}", self.shown), status))
            }
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
            Size::Large,
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
            &what,
        )? {
            Ok(_) => Ok(()),
            Err(status) => Err(self.refused(&what, status)),
        }
    }

    /// Puts a manifest or index under `reference` (its digest, or a tag).
    pub fn push_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Put> {
        let what = format!("the manifest {reference} of {}", self.shown);
        match self.send(
            Size::Small,
            "PUT",
            &self.url(&format!("manifests/{reference}")),
            &[("Content-Type", media_type)],
            Some(bytes),
            &what,
        )? {
            Ok(response) => Ok(Put {
                subject_recorded: response.header("oci-subject").is_some(),
            }),
            Err(status) => Err(self.refused(&what, status)),
        }
    }

    /// The referrers of `subject` through the referrers API, at most `limit` bytes, or that
    /// the registry has none.
    pub fn referrers(&self, subject: &Digest, limit: u64) -> Result<Referrers> {
        let what = format!("the referrers of {}@{subject}", self.shown);
        let response = match self.send(
            Size::Small,
            "GET",
            &self.url(&format!("referrers/{subject}")),
            &[("Accept", crate::image::referrer::INDEX_TYPE)],
            None,
            &what,
        )? {
            Ok(r) => r,
            // No API: the spec's fallback. A registry that refuses the path (400, 405) has
            // none either.
            Err(404 | 400 | 405) => return Ok(Referrers::NoApi),
            Err(status) => return Err(self.refused(&what, status)),
        };
        Ok(Referrers::Api(self.read_document(response, &what, limit)?))
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

    #[test]
    fn registry_and_repository_of_references() {
        let second = Duration::from_secs(1);
        let r = Registry::with_deadlines(
            "127.0.0.1:5000/repro-test/busybox@sha256:ab",
            second,
            second,
        );
        assert_eq!(
            (r.base.as_str(), r.host.as_str(), r.repository.as_str()),
            (
                "http://127.0.0.1:5000",
                "127.0.0.1:5000",
                "repro-test/busybox"
            )
        );
        let r = Registry::with_deadlines("ubuntu@sha256:ab", second, second);
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("https://registry-1.docker.io", "library/ubuntu")
        );
        let r = Registry::with_deadlines("docker.io/lab/env", second, second);
        assert_eq!(
            (r.base.as_str(), r.host.as_str(), r.repository.as_str()),
            (
                "https://registry-1.docker.io",
                "registry-1.docker.io",
                "lab/env"
            )
        );
        let r = Registry::with_deadlines("ghcr.io/lab/env:1@sha256:ab", second, second);
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("https://ghcr.io", "lab/env")
        );
        let r = Registry::with_deadlines("localhost:5000/lab/env", second, second);
        assert_eq!(r.base, "http://localhost:5000");
    }
}
