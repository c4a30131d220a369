//! The lock and SBOMs attached to a pushed release as OCI referrers: attached by `release
//! --push`, fetched back by `verify REF@DIGEST`. Through the registry's referrers API where it
//! has one, else the `sha256-<hex>` tag the distribution spec defines for registries without.

use crate::engine::registry::{Referrers, Registry};
use crate::error::{Error, Result};
use crate::image::digest::Digest;
use crate::image::referrer::{self, Attachment, Descriptor, MAX_DOCUMENT};

/// Whether an attachment was new to the registry or found there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    Added,
    AlreadyThere,
}

/// The descriptor of the manifest or index `digest` as the registry serves it (its media type
/// and size, which a referrer's `subject` names), checked against the digest.
pub fn subject(registry: &Registry, digest: &Digest, shown: &str) -> Result<Descriptor> {
    let document = registry
        .manifest(digest.as_str(), MAX_DOCUMENT)?
        .ok_or_else(|| {
            Error::Failed(format!(
                "pushed {shown} but the registry does not serve {digest}; nothing was attached"
            ))
        })?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&document.bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(String::from))
        .unwrap_or(document.media_type);
    Ok(Descriptor::of(&media_type, &document.bytes))
}

/// Attaches `attachment` to `subject`: its blobs, its manifest by digest, and (without a
/// referrers API) an entry in the subject's fallback tag, unless that lists it already.
pub fn attach(
    registry: &Registry,
    subject: &Descriptor,
    attachment: &Attachment,
    created: &str,
) -> Result<Attached> {
    let artifact = referrer::artifact(attachment, subject, created);
    let subject_digest = Digest::parse(&subject.digest)
        .map_err(|why| Error::Failed(format!("the subject {why}")))?;
    let existed = registry
        .manifest(&artifact.descriptor.digest, MAX_DOCUMENT)?
        .is_some();
    if !existed {
        for (digest, bytes) in &artifact.blobs {
            registry.push_blob(digest, bytes)?;
        }
    }
    // Put again when it existed: the answer says whether the registry indexes subjects.
    let put = registry.push_manifest(
        &artifact.descriptor.digest,
        referrer::MANIFEST_TYPE,
        &artifact.manifest,
    )?;
    if put.subject_recorded {
        return Ok(if existed {
            Attached::AlreadyThere
        } else {
            Attached::Added
        });
    }
    let tag = referrer::fallback_tag(&subject_digest);
    let existing = registry.manifest(&tag, MAX_DOCUMENT)?;
    match referrer::with_added(
        existing.as_ref().map(|d| d.bytes.as_slice()),
        &artifact.descriptor,
    )
    .map_err(|e| refused_list(&subject_digest, &e))?
    {
        None => Ok(Attached::AlreadyThere),
        Some(index) => {
            registry.push_manifest(&tag, referrer::INDEX_TYPE, &index)?;
            Ok(Attached::Added)
        }
    }
}

fn refused_list(subject: &Digest, e: &referrer::ReferrerError) -> Error {
    Error::Failed(format!(
        "the referrers list of {subject} {e}; refusing it (remove the tag {} from the registry if it is not yours)",
        referrer::fallback_tag(subject)
    ))
}

/// The bytes of the lock attached to `subject` (at most [`crate::limits::LOCK`]), each
/// document on the way checked against its digest and against `subject`.
pub fn fetch_lock(registry: &Registry, subject: &Digest, shown: &str) -> Result<Vec<u8>> {
    let (list, via) = match registry.referrers(subject, MAX_DOCUMENT)? {
        Referrers::Api(list) => (list, "its referrers"),
        Referrers::NoApi => {
            match registry.manifest(&referrer::fallback_tag(subject), MAX_DOCUMENT)? {
                Some(document) => (document.bytes, "the tag schema's index"),
                None => (br#"{"manifests":[]}"#.to_vec(), "the tag schema's index"),
            }
        }
    };
    let locks =
        referrer::listed(&list, referrer::LOCK_TYPE).map_err(|e| refused_list(subject, &e))?;
    let entry = match locks.as_slice() {
        [one] => one,
        [] => {
            return Err(Error::Failed(format!(
                "{shown}: no lock is attached to it (looked in {via}); verify with the paper's repro.lock instead, or ask its authors to release with `docker repro release --push`"
            )))
        }
        many => {
            return Err(Error::Failed(format!(
                "{shown}: {} locks are attached to it; verify with the paper's own repro.lock, which says which release it is",
                many.len()
            )))
        }
    };
    let manifest_digest = Digest::parse(&entry.digest).expect("listed digests are checked");
    let manifest = registry
        .manifest(manifest_digest.as_str(), MAX_DOCUMENT)?
        .ok_or_else(|| {
            Error::Failed(format!(
                "{shown}: {via} lists the lock {manifest_digest}, which the registry does not serve"
            ))
        })?;
    let blob = referrer::attached_blob(&manifest.bytes, subject.as_str(), referrer::LOCK_TYPE)
        .map_err(|e| {
            Error::Failed(format!(
                "{shown}: the artifact {manifest_digest} that {via} lists as its lock {e}"
            ))
        })?;
    let limit = crate::limits::LOCK.bytes;
    if blob.size > limit {
        return Err(Error::Failed(format!(
            "{shown}: the attached lock is {} bytes, over the {} limit on a repro.lock; refusing it unread (see \"Limits\" in the README)",
            blob.size,
            crate::limits::human(limit)
        )));
    }
    let digest = Digest::parse(&blob.digest).expect("checked by attached_blob");
    registry.blob(&digest, limit, &format!("the lock attached to {shown}"))
}

/// A fetched lock must name the image it was attached to (its index or one of its
/// manifests): a lock attached to the wrong image says nothing about this one.
pub fn check_names(lock: &crate::lock::Lock, repository: &str, digest: &Digest) -> Result<()> {
    let names = lock
        .images
        .iter()
        .any(|i| i.engine_digest() == digest.as_str() || i.manifest_digest == digest.as_str());
    if names {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "{repository}@{digest}: the lock attached to it names other images ({}); refusing it: it is not this image's lock",
        lock.images
            .iter()
            .map(|i| crate::image::digest::Digest::parse(i.engine_digest()).map_or_else(|_| "?".into(), |d| d.short()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The lock an archive written by `release --archive` holds, attached to its images.
pub fn lock_in_archive(archive: &std::path::Path) -> Result<Vec<u8>> {
    use crate::image::archive::{attached, ScanError};
    let found =
        attached(archive, referrer::LOCK_TYPE, crate::limits::LOCK.bytes).map_err(|e| match e {
            ScanError::Interrupted => Error::Interrupted,
            other => Error::Failed(format!("{}: {other}", archive.display())),
        })?;
    let mut locks: Vec<(String, Vec<u8>)> = found;
    locks.sort();
    locks.dedup_by(|a, b| a.1 == b.1);
    match locks.len() {
        1 => {
            let (subject, bytes) = locks.remove(0);
            let text = String::from_utf8(bytes.clone()).map_err(|_| {
                Error::Failed(format!("{}: the attached lock is not UTF-8 text; refusing it", archive.display()))
            })?;
            let shown = std::path::PathBuf::from(format!("{} (its attached lock)", archive.display()));
            let lock = crate::lock::Lock::from_toml(&text, &shown)?;
            let digest = Digest::parse(&subject).map_err(|why| {
                Error::Failed(format!("{}: an attached lock's subject {why}", archive.display()))
            })?;
            check_names(&lock, &archive.display().to_string(), &digest)?;
            Ok(bytes)
        }
        0 => Err(Error::Failed(format!(
            "{}: no lock is attached inside it (archives written before locks were attached hold none); give the lock's path: docker repro verify path/to/repro.lock --archive {}",
            archive.display(),
            archive.display()
        ))),
        n => Err(Error::Failed(format!(
            "{}: {n} different locks are attached inside it; give the paper's repro.lock to say which release it is",
            archive.display()
        ))),
    }
}
