//! A registry's HTTP API (the OCI distribution spec), for what docker's CLI cannot do: push a
//! blob and an artifact manifest, ask for an image's referrers, and fetch a manifest or a blob
//! with a bound on its size. Images themselves are pushed and pulled by docker.
//!
//! Credentials: none, or those `docker login` stored inline in the docker config
//! (`auths.<host>.auth`), sent for a Basic challenge or to the Bearer token service a 401
//! names; credential helpers (`credsStore`, `credHelpers`) are not asked.

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
            401 | 403 => "; `docker login` to it with an account that may write there (credential helpers are not asked: see the README)",
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

/// The base64 `user:password` that `docker login` stored inline for `host`, if any.
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
    let auths = config.get("auths")?.as_object()?;
    let keys = [
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    let docker_hub = ["https://index.docker.io/v1/".to_string()];
    let candidates = if host == "registry-1.docker.io" {
        &docker_hub[..]
    } else {
        &keys[..]
    };
    candidates.iter().find_map(|k| {
        auths
            .get(k)?
            .get("auth")?
            .as_str()
            .filter(|a| !a.is_empty())
            .map(String::from)
    })
}
