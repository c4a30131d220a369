//! A registry's HTTP API (OCI distribution v2), read-only and by digest: what `inspect
//! REF@DIGEST` needs of an image that is only in a registry (its manifests, config and layers),
//! without pulling it into the engine. Docker's CLI serves manifests (`buildx imagetools
//! inspect --raw`) but no blob, so blobs are fetched here. Nothing is trusted: the callers
//! check every document and every blob against the digest that named it.
//!
//! Registries are read anonymously, with the bearer token a registry hands out to anyone
//! (Docker Hub's and GHCR's public images); credentials from `docker login` are not used yet.

use std::io::Read;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::image::reference::Reference;

/// What a manifest request accepts: OCI and Docker, images and indexes.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest or config read into memory; real ones are a few KiB.
const MAX_DOCUMENT: u64 = 4 << 20;

/// One repository of one registry.
pub struct Registry {
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

impl Registry {
    /// The registry and repository of `reference`; `lookup` bounds connecting, each wait for
    /// bytes and a whole document, `transfer` a whole layer, so that an unreachable, stalled or
    /// trickling registry is an error, never a hang.
    pub fn for_reference(reference: &str, lookup: Duration, transfer: Duration) -> Registry {
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
        Registry {
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
mod tests {
    use super::*;

    #[test]
    fn registry_and_repository_of_references() {
        let r = Registry::for_reference(
            "127.0.0.1:5000/repro-test/busybox@sha256:ab",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("http://127.0.0.1:5000", "repro-test/busybox")
        );
        let r = Registry::for_reference(
            "ubuntu@sha256:ab",
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(
            (r.base.as_str(), r.repository.as_str()),
            ("https://registry-1.docker.io", "library/ubuntu")
        );
        let r = Registry::for_reference(
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
