//! The one archive reader: an OCI image layout or a `docker save` archive, read from the
//! digest being verified (index → manifest → config and layers, each checked against its
//! digest), and the verified copy of chosen images that is what `docker load` is given. The
//! inventory, diff, verify and release read archives here and nowhere else.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::image::digest::Digest;
use crate::image::layer::{describe_tar_error, Hashing};
use crate::image::platform::Platform;
use crate::image::tarstream::{Kind, TarError, TarStream};

/// JSON documents of the outer archive (manifests, configs) larger than this are not kept:
/// 4 MiB, as registries limit manifests; parsed, a config costs several times its size.
pub(crate) const MAX_JSON: u64 = 4 << 20;
/// Overlay filesystems stack about 128 layers; an image listing more is not a real image.
pub(crate) const MAX_LAYERS: usize = 1000;
/// An archive's index lists a few images (base and release, or one per platform).
pub(crate) const MAX_INDEX_ENTRIES: usize = 64;

/// Why an image (its archive, a layer, or a file in a layer) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    #[error("layer {layer}, file /{file}: {message}")]
    File {
        layer: String,
        file: String,
        message: String,
    },
    #[error("{0}")]
    Archive(String),
    /// The archive is readable but does not lead to the image asked for.
    #[error("the archive does not hold image {0}: its index.json does not lead to that manifest")]
    NotHeld(String),
    #[error("interrupted")]
    Interrupted,
}

/// Strips `./`, `/` and resolves `..` lexically; `None` when the path climbs above the root.
pub fn normalise_path(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[derive(Deserialize)]
pub(crate) struct SaveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct OciDoc {
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
    #[serde(default)]
    config: Option<OciDescriptor>,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
pub(crate) struct OciDescriptor {
    digest: String,
    #[serde(default, rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<OciPlatform>,
}

#[derive(Deserialize)]
pub(crate) struct OciPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl OciPlatform {
    /// `os/arch[/variant]`, as buildx's `--platform` names it.
    fn name(&self) -> String {
        self.platform().to_string()
    }

    fn platform(&self) -> Platform {
        Platform::from_parts(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// The annotation BuildKit puts on an index entry that is an attestation (provenance, SBOM)
/// and not an image, and the one naming the image manifest it is about: containerd and
/// go-containerregistry skip such entries by these, and so does this reader.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const ATTESTATION_MANIFEST: &str = "attestation-manifest";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

impl OciDescriptor {
    /// The name an index entry gives its image (`io.containerd.image.name`, else the OCI
    /// `ref.name`), if any: untrusted text, to be matched or escaped, never believed.
    fn name(&self) -> Option<&str> {
        self.annotations
            .get("io.containerd.image.name")
            .or_else(|| self.annotations.get("org.opencontainers.image.ref.name"))
            .map(String::as_str)
    }

    /// An attestation manifest (what buildx adds by default since 0.10), told by its
    /// annotation, never guessed from its platform or media type.
    fn is_attestation(&self) -> bool {
        self.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
    }

    /// A document attached to an image of the layout (a lock, an SBOM), told by the
    /// annotation naming the image it refers to: never an image itself.
    fn subject(&self) -> Option<&str> {
        self.annotations
            .get(crate::image::referrer::LAYOUT_SUBJECT)
            .map(String::as_str)
    }
}

/// Where an OCI layout stores the blob `digest` (a checked digest; see [`checked_digest`]).
pub(crate) fn blob_path(digest: &str) -> String {
    match Digest::parse(digest) {
        Ok(d) => d.blob_path(),
        // Never a member of any archive: a path with the digest's text would be one.
        Err(_) => String::new(),
    }
}

/// A digest named by a manifest or index: only `sha256:` and 64 hex digits are believed, so
/// that every blob path built from one is a plain member name that is checked when read.
pub(crate) fn checked_digest(digest: &str) -> Result<String, ScanError> {
    Digest::parse(digest).map(String::from).map_err(|_| {
        ScanError::Archive(format!(
            "unsupported digest {:?} in the archive (only sha256 digests are read)",
            crate::ui::escape(&crate::error::clip(digest))
        ))
    })
}

/// The digest an archive member is stored under (`blobs/sha256/HEX`), if it is a blob.
pub fn digest_of_blob_path(path: &str) -> Option<String> {
    Digest::of_blob_path(path).map(String::from)
}

/// Where an archive file's image lives: its manifest, config, and each member's data offset.
pub struct ArchiveIndex {
    /// Member path → (offset of its data, size).
    pub members: HashMap<String, (u64, u64)>,
    pub manifest_digest: Option<String>,
    pub config_digest: Option<String>,
    pub config: serde_json::Value,
    /// Layer members, bottom first.
    pub layer_paths: Vec<String>,
}

impl ArchiveIndex {
    /// The layer digests (or member paths when the archive does not name blobs by digest).
    pub fn layer_names(&self) -> Vec<String> {
        self.layer_paths
            .iter()
            .map(|p| digest_of_blob_path(p).unwrap_or_else(|| p.clone()))
            .collect()
    }
}

/// One pass over an archive file's headers, seeking past data; JSON documents are read. The
/// image is the one `select` names.
pub fn index_archive(path: &std::path::Path, select: &Select) -> Result<ArchiveIndex, ScanError> {
    let (members, json, aliases) = archive_documents(path)?;
    let entry = manifest_layers(&json, &aliases, select)?;
    Ok(ArchiveIndex {
        members,
        manifest_digest: entry.manifest_digest,
        config_digest: entry.config_digest,
        config: entry.config,
        layer_paths: entry.layer_paths,
    })
}

/// An image index of several platforms in an archive: its digest, and each platform's
/// manifest digest, in the index's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIndex {
    pub digest: String,
    /// (`os/arch[/variant]`, manifest digest).
    pub platforms: Vec<(String, String)>,
}

/// The image index of an archive: `wanted` (an index `index.json` lists), else the archive's
/// one image when it is an image index (what buildx writes for several platforms). `None` when
/// the one image is a plain manifest (a single-platform build). Every document is checked
/// against its digest; a platform named twice is refused.
pub fn image_index(
    path: &std::path::Path,
    wanted: Option<&str>,
) -> Result<Option<PlatformIndex>, ScanError> {
    let (_, json, _) = archive_documents(path)?;
    let index = json
        .get("index.json")
        .ok_or_else(|| ScanError::Archive("no OCI index.json: not an OCI image layout".into()))?;
    let digest = match wanted {
        Some(wanted) => {
            let wanted = checked_digest(wanted)?;
            if !index_entries(index)?.contains(&wanted) {
                return Err(ScanError::NotHeld(wanted));
            }
            wanted
        }
        None => checked_digest(&single_manifest(index)?)?,
    };
    let doc = oci_doc(&json, &digest)?;
    if doc.config.is_some() || doc.manifests.is_empty() {
        return match wanted {
            Some(_) => Err(ScanError::Archive(format!(
                "{digest} is an image manifest, not an image index of several platforms"
            ))),
            None => Ok(None),
        };
    }
    if doc.manifests.len() > MAX_INDEX_ENTRIES {
        return Err(ScanError::Archive(format!(
            "image index {digest} lists {} manifests, more than {MAX_INDEX_ENTRIES}",
            doc.manifests.len()
        )));
    }
    let mut platforms: Vec<(String, String)> = Vec::new();
    for m in &doc.manifests {
        let Some(platform) = &m.platform else {
            return Err(ScanError::Archive(format!(
                "image index {digest} lists manifest {} without a platform",
                crate::ui::escape(&crate::error::clip(&m.digest))
            )));
        };
        let name = platform.name();
        if platforms.iter().any(|(p, _)| *p == name) {
            return Err(ScanError::Archive(format!(
                "image index {digest} lists platform {} twice; refusing an index whose platforms are ambiguous",
                crate::ui::escape(&crate::error::clip(&name))
            )));
        }
        platforms.push((name, checked_digest(&m.digest)?));
    }
    Ok(Some(PlatformIndex { digest, platforms }))
}

/// The bytes of an image index that the archive's `index.json` lists, checked against its
/// digest: what [`crate::image::tie::tie`] ties to the lock.
pub fn index_document(path: &std::path::Path, wanted: &str) -> Result<Vec<u8>, ScanError> {
    let (_, json, _) = archive_documents(path)?;
    let index = json
        .get("index.json")
        .ok_or_else(|| ScanError::Archive("no OCI index.json: not an OCI image layout".into()))?;
    let wanted = checked_digest(wanted)?;
    if !index_entries(index)?.contains(&wanted) {
        return Err(ScanError::NotHeld(wanted));
    }
    let path = blob_path(&wanted);
    let bytes = json
        .get(&path)
        .ok_or_else(|| ScanError::Archive(format!("image index {wanted} is not in the archive")))?;
    check_json_digest(bytes, &path, Some(&wanted))?;
    Ok(bytes.clone())
}

pub(crate) type ArchiveDocuments = (
    HashMap<String, (u64, u64)>,
    HashMap<String, Vec<u8>>,
    HashMap<String, String>,
);

/// One pass over an archive file's headers, seeking past data: each member's data offset and
/// size, the JSON documents (read whole), and the links.
pub(crate) fn archive_documents(path: &std::path::Path) -> Result<ArchiveDocuments, ScanError> {
    let open = || {
        std::fs::File::open(path)
            .map_err(|e| ScanError::Archive(format!("{}: {e}", path.display())))
    };
    // Forwards only: a skip that does not fit an i64 is an error, never a seek backwards.
    let seek: fn(&mut BufReader<std::fs::File>, u64) -> io::Result<()> = |r, n| {
        let n = i64::try_from(n).map_err(|_| io::Error::other("seek past any file"))?;
        r.seek_relative(n)
    };
    let file = open()?;
    let length = file
        .metadata()
        .map_err(|e| ScanError::Archive(format!("{}: {e}", path.display())))?
        .len();
    let mut outer = TarStream::with_seek(BufReader::with_capacity(1 << 16, file), seek, length);
    let mut json: HashMap<String, Vec<u8>> = HashMap::new();
    let mut json_total = 0;
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut members: HashMap<String, (u64, u64)> = HashMap::new();
    let unreadable = |e: TarError| match e {
        TarError::Interrupted => ScanError::Interrupted,
        e => ScanError::Archive(format!(
            "the image archive is unreadable: {}",
            describe_tar_error(e)
        )),
    };
    while let Some(header) = outer.next_header().map_err(unreadable)? {
        let Some(member) = normalise_path(&header.path) else {
            continue;
        };
        if is_entry_point(&member) {
            check_entry_point(&member, &header)?;
        }
        match header.kind {
            Kind::Symlink | Kind::Hardlink => {
                if let Some(target) = link_target(&member, &header) {
                    aliases.insert(member, target);
                }
            }
            Kind::File => {
                members.insert(member.clone(), (outer.offset(), header.size));
                let entry = is_entry_point(&member);
                if entry || header.size <= MAX_JSON && json_total + header.size <= 4 * MAX_JSON {
                    let mut first = [0u8; 1];
                    let n = outer.data().read(&mut first).map_err(|e| {
                        ScanError::Archive(format!("the image archive is truncated ({e})"))
                    })?;
                    if entry || n == 1 && (first[0] == b'{' || first[0] == b'[') {
                        let mut bytes = first.to_vec();
                        outer.data().read_to_end(&mut bytes).map_err(|e| {
                            ScanError::Archive(format!("the image archive is truncated ({e})"))
                        })?;
                        json_total += header.size;
                        insert_json(&mut json, member, bytes)?;
                    }
                }
            }
            _ => {}
        }
    }
    if !outer.reached_end_marker() {
        return Err(ScanError::Archive(TRUNCATED.into()));
    }
    Ok((members, json, aliases))
}

/// The image of an archive file, from its headers and JSON documents alone (layers are not
/// read): what a build just wrote, to lock and compare. The same reader as the inventory's,
/// so an archive means one thing everywhere.
pub fn read_image(
    path: &std::path::Path,
    select: &Select,
) -> Result<crate::image::oci::OciImage, ScanError> {
    let index = index_archive(path, select)?;
    let (Some(manifest_digest), Some(config_digest)) =
        (index.manifest_digest.clone(), index.config_digest.clone())
    else {
        return Err(ScanError::Archive(
            "no OCI index.json: not an OCI image layout".into(),
        ));
    };
    let config = serde_json::to_vec(&index.config).unwrap_or_default();
    let layers = index.layer_names();
    Ok(crate::image::oci::OciImage {
        manifest_digest,
        config_digest,
        layer_instructions: crate::image::oci::layer_instructions(&config, layers.len()),
        layers,
    })
}

/// One image to copy into a verified layout: the image `select` names in `archive`, to be
/// loaded under `name`.
#[derive(Debug, Clone)]
pub struct LayoutImage<'a> {
    pub archive: &'a std::path::Path,
    pub select: Select,
    pub name: String,
    /// The image index (listed in the archive's `index.json`) this manifest is one platform
    /// of: the layout then names the index, once for all its platforms, as the image.
    pub index: Option<String>,
}

/// Writes to `out` a fresh OCI archive holding exactly the images asked for and nothing else:
/// each the one its `select` leads to, named as asked, every blob copied from its archive and
/// checked against its digest on the way, a blob two images share stored once. Loading this
/// copy instead of the original means an archive cannot choose which tags it moves (its own
/// `manifest.json` tags and index annotations are dropped), and what is loaded is the verified
/// bytes even if the file changes meanwhile. Returns the manifest digests, in order.
pub fn write_verified_layout(
    out: &std::path::Path,
    images: &[LayoutImage],
) -> Result<Vec<String>, ScanError> {
    write_layout_with(out, images, &[], "")
}

/// [`write_verified_layout`], with documents attached to its images as `release --archive`
/// writes them: each `(document, subject digest)` an artifact manifest referring to that
/// image's index or manifest, listed in `index.json` with the `io.containerd.manifest.subject`
/// annotation (as containerd and buildx record referrers in a layout). `created` is the
/// artifacts' creation time (the release's epoch), so the same release writes the same bytes.
pub fn write_layout_with(
    out: &std::path::Path,
    images: &[LayoutImage],
    attachments: &[(crate::image::referrer::Attachment, String)],
    created: &str,
) -> Result<Vec<String>, ScanError> {
    let mut layout = Layout::create(out)?;
    // Each copied manifest and index, by digest: the media type and size a subject names.
    let mut documents: HashMap<String, (String, usize)> = HashMap::new();
    let media_type_of = |bytes: &[u8], default: &str| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(String::from))
            .unwrap_or_else(|| default.to_string())
    };
    let mut digests = Vec::new();
    let mut indexes_named = std::collections::HashSet::new();
    for image in images {
        let ArchiveIndex {
            members,
            manifest_digest,
            config_digest,
            layer_paths,
            ..
        } = index_archive(image.archive, &image.select)?;
        let (Some(manifest_digest), Some(config_digest)) = (manifest_digest, config_digest) else {
            return Err(ScanError::Archive(
                "the archive has no OCI index, so its content cannot be tied to a digest; use the archive `docker repro release --archive` wrote".into(),
            ));
        };
        let from = (image.archive, &members);
        let manifest = layout.copy_document(from, &blob_path(&manifest_digest))?;
        documents.insert(
            manifest_digest.clone(),
            (
                media_type_of(&manifest, "application/vnd.oci.image.manifest.v1+json"),
                manifest.len(),
            ),
        );
        for member in std::iter::once(blob_path(&config_digest)).chain(layer_paths.iter().cloned())
        {
            layout.copy(from, &member)?;
        }
        let config_path = blob_path(&config_digest);
        match &image.index {
            // One platform of an image index: the layout names the index, once for all its
            // platforms, as the image.
            Some(index) => {
                let held = image_index(image.archive, Some(index))?
                    .ok_or_else(|| ScanError::Archive(format!("{index} is not an image index")))?;
                if !held.platforms.iter().any(|(_, m)| *m == manifest_digest) {
                    return Err(ScanError::Archive(format!(
                        "image index {index} does not list manifest {manifest_digest}"
                    )));
                }
                let bytes = layout.copy_document(from, &blob_path(index))?;
                documents.insert(
                    index.clone(),
                    (
                        media_type_of(&bytes, "application/vnd.oci.image.index.v1+json"),
                        bytes.len(),
                    ),
                );
                if indexes_named.insert(index.clone()) {
                    let media_type = "application/vnd.oci.image.index.v1+json";
                    layout.name((index, media_type, bytes.len()), &image.name);
                    layout.describe(&config_path, &layer_paths, &image.name);
                }
            }
            None => {
                let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
                    .ok()
                    .and_then(|v| v.get("mediaType")?.as_str().map(String::from))
                    .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
                layout.name((&manifest_digest, &media_type, manifest.len()), &image.name);
                layout.describe(&config_path, &layer_paths, &image.name);
            }
        }
        digests.push(manifest_digest);
    }
    for (attachment, subject) in attachments {
        let (media_type, size) = documents.get(subject).ok_or_else(|| {
            ScanError::Archive(format!("{subject} is not an image of this archive"))
        })?;
        let subject = crate::image::referrer::Descriptor {
            media_type: media_type.clone(),
            digest: subject.clone(),
            size: *size as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        let artifact = crate::image::referrer::artifact(attachment, &subject, created);
        layout.attach(&artifact, &subject.digest)?;
    }
    layout.finish()?;
    Ok(digests)
}

/// An OCI layout being written: each blob once, and the images it names.
struct Layout<'a> {
    out: &'a std::path::Path,
    tar: tar::Builder<io::BufWriter<std::fs::File>>,
    copied: std::collections::HashSet<String>,
    /// `index.json`'s entries.
    named: Vec<serde_json::Value>,
    /// `manifest.json`'s entries, for engines that read the `docker save` form.
    described: Vec<serde_json::Value>,
}

impl<'a> Layout<'a> {
    fn create(out: &'a std::path::Path) -> Result<Layout<'a>, ScanError> {
        let file = std::fs::File::create(out)
            .map_err(|e| ScanError::Archive(format!("{}: {e}", out.display())))?;
        Ok(Layout {
            out,
            tar: tar::Builder::new(io::BufWriter::new(file)),
            copied: std::collections::HashSet::new(),
            named: Vec::new(),
            described: Vec::new(),
        })
    }

    /// Copies the blob `member` of an archive once, checked against its digest. A blob copied
    /// before is not read again (a layer base and release share is read once).
    fn copy(
        &mut self,
        from: (&std::path::Path, &HashMap<String, (u64, u64)>),
        member: &str,
    ) -> Result<(), ScanError> {
        if self.copied.insert(member.to_string()) {
            copy_blob(from.0, from.1, member, &mut self.tar, true)?;
        }
        Ok(())
    }

    /// [`Layout::copy`] for a document whose bytes are needed (a manifest, an index): read
    /// and checked again when it was copied before.
    fn copy_document(
        &mut self,
        (archive, members): (&std::path::Path, &HashMap<String, (u64, u64)>),
        member: &str,
    ) -> Result<Vec<u8>, ScanError> {
        let first = self.copied.insert(member.to_string());
        copy_blob(archive, members, member, &mut self.tar, first)
    }

    /// Names the image `(digest, media type, size)` in `index.json`, as `docker load` tags it.
    fn name(&mut self, (digest, media_type, size): (&str, &str, usize), name: &str) {
        let full_name = crate::image::reference::normalise_ref(name);
        let tag = full_name.rsplit_once(':').map_or("latest", |(_, t)| t);
        self.named.push(serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {
                "io.containerd.image.name": full_name,
                "org.opencontainers.image.ref.name": tag,
            },
        }));
    }

    /// Stores an artifact's blobs and manifest, and lists it in `index.json` as attached to
    /// `subject`.
    fn attach(
        &mut self,
        artifact: &crate::image::referrer::Artifact,
        subject: &str,
    ) -> Result<(), ScanError> {
        let out = self.out;
        let written = |e: io::Error| ScanError::Archive(format!("{}: {e}", out.display()));
        let manifest = (
            artifact.descriptor.digest.clone(),
            artifact.manifest.clone(),
        );
        for (digest, bytes) in artifact.blobs.iter().chain(std::iter::once(&manifest)) {
            let member = blob_path(digest);
            if self.copied.insert(member.clone()) {
                append_member(
                    &mut self.tar,
                    &member,
                    &mut bytes.as_slice(),
                    bytes.len() as u64,
                )
                .map_err(written)?;
            }
        }
        let mut entry = serde_json::to_value(&artifact.descriptor).expect("json");
        entry["annotations"][crate::image::referrer::LAYOUT_SUBJECT] = subject.into();
        self.named.push(entry);
        Ok(())
    }

    /// Describes an image in `manifest.json` by its config and layers.
    fn describe(&mut self, config_path: &str, layer_paths: &[String], name: &str) {
        self.described.push(serde_json::json!({
            "Config": config_path,
            "RepoTags": [name],
            "Layers": layer_paths,
        }));
    }

    fn finish(mut self) -> Result<(), ScanError> {
        use std::io::Write;
        let out = self.out;
        let written = |e: io::Error| ScanError::Archive(format!("{}: {e}", out.display()));
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": self.named,
        });
        for (member, bytes) in [
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("index.json", serde_json::to_vec(&index).expect("json")),
            (
                "manifest.json",
                serde_json::to_vec(&self.described).expect("json"),
            ),
        ] {
            append_member(
                &mut self.tar,
                member,
                &mut bytes.as_slice(),
                bytes.len() as u64,
            )
            .map_err(written)?;
        }
        self.tar
            .into_inner()
            .and_then(|mut w| w.flush())
            .map_err(written)
    }
}

pub(crate) fn append_member(
    tar: &mut tar::Builder<io::BufWriter<std::fs::File>>,
    member: &str,
    data: &mut dyn Read,
    size: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, member, data)
}

/// The data of the archive member `member` (where `members` says it lies), read from its
/// start, and its size.
pub(crate) fn open_member(
    archive: &std::path::Path,
    members: &HashMap<String, (u64, u64)>,
    member: &str,
) -> Result<(io::Take<std::fs::File>, u64), ScanError> {
    use std::io::{Seek, SeekFrom};
    let &(offset, size) = members.get(member).ok_or_else(|| {
        let name = digest_of_blob_path(member).unwrap_or_else(|| member.to_string());
        ScanError::Archive(format!("{name} is listed but not in the archive"))
    })?;
    let mut source = std::fs::File::open(archive)
        .map_err(|e| ScanError::Archive(format!("{}: {e}", archive.display())))?;
    source
        .seek(SeekFrom::Start(offset))
        .map_err(|e| ScanError::Archive(format!("{}: {e}", archive.display())))?;
    Ok((source.take(size), size))
}

/// Copies one blob of `archive` into `tar` (unless `write` is false: a manifest seen before is
/// only read again), checking it against the digest it is stored under. Returns its bytes when
/// it is small enough to be a manifest, else nothing.
pub(crate) fn copy_blob(
    archive: &std::path::Path,
    members: &HashMap<String, (u64, u64)>,
    member: &str,
    tar: &mut tar::Builder<io::BufWriter<std::fs::File>>,
    write: bool,
) -> Result<Vec<u8>, ScanError> {
    let expected = digest_of_blob_path(member)
        .ok_or_else(|| ScanError::Archive(format!("{member} is not named by a sha256 digest")))?;
    let (source, size) = open_member(archive, members, member)?;
    let state = Rc::new(RefCell::new((Sha256::new(), 0u64)));
    let mut reader = Counting {
        inner: Hashing {
            inner: source,
            state: state.clone(),
        },
        count: 0,
        progress: &mut |_| {},
    };
    let mut kept = Vec::new();
    if size <= MAX_JSON {
        reader
            .read_to_end(&mut kept)
            .map_err(|e| stopped_or(format!("the archive is truncated ({e})")))?;
        if write {
            append_member(tar, member, &mut kept.as_slice(), size)
        } else {
            Ok(())
        }
    } else if write {
        append_member(tar, member, &mut reader, size)
    } else {
        io::copy(&mut reader, &mut io::sink()).map(|_| ())
    }
    .map_err(|e| stopped_or(format!("copying {expected}: {e}")))?;
    let (hasher, read) = state.borrow().clone();
    let actual = Digest::from_hasher(hasher);
    if read != size || actual.as_str() != expected {
        return Err(ScanError::Archive(format!(
            "blob {expected} hashes to {actual}; the archive is corrupt or changed while it was read"
        )));
    }
    Ok(kept)
}

/// Where a link member of an outer archive points (legacy `docker save` links layers):
/// symlinks are relative to their directory, hard links to the archive root.
pub(crate) fn link_target(
    member: &str,
    header: &crate::image::tarstream::Header,
) -> Option<String> {
    let dir = member.rsplit_once('/').map_or("", |(d, _)| d);
    let relative = header.kind == Kind::Symlink && !header.link.starts_with('/') && !dir.is_empty();
    normalise_path(&if relative {
        format!("{dir}/{}", header.link)
    } else {
        header.link.clone()
    })
}

pub(crate) const TRUNCATED: &str = "the image archive is truncated: it stops before tar's end-of-archive blocks; copy or download it again";

/// The image an archive holds, as reached from its entry point.
pub(crate) struct Entry {
    pub(crate) manifest_digest: Option<String>,
    pub(crate) config_digest: Option<String>,
    pub(crate) config: serde_json::Value,
    pub(crate) layer_paths: Vec<String>,
}

/// `index.json` and `manifest.json` at the top: where a reader starts. Each is read whatever
/// its first byte, must be a plain file of at most [`MAX_JSON`] bytes, and is never skipped,
/// so that a reader cannot be steered from one entry point to the other.
pub(crate) fn is_entry_point(member: &str) -> bool {
    member == "index.json" || member == "manifest.json"
}

pub(crate) fn check_entry_point(
    member: &str,
    header: &crate::image::tarstream::Header,
) -> Result<(), ScanError> {
    if header.kind != Kind::File {
        return Err(ScanError::Archive(format!(
            "{member} is not a plain file in the archive; refusing an entry point that points elsewhere"
        )));
    }
    if header.size > MAX_JSON {
        return Err(ScanError::Archive(format!(
            "{member} is {} bytes, more than the {MAX_JSON}-byte limit for an image index",
            header.size
        )));
    }
    Ok(())
}

/// A JSON member seen twice would let one reader believe one copy and another reader the other.
pub(crate) fn insert_json(
    json: &mut HashMap<String, Vec<u8>>,
    member: String,
    bytes: Vec<u8>,
) -> Result<(), ScanError> {
    if json.contains_key(&member) {
        return Err(ScanError::Archive(format!(
            "{member} appears twice in the archive; refusing an archive whose copies could disagree"
        )));
    }
    json.insert(member, bytes);
    Ok(())
}

/// Which image of an archive to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// The archive's one image: its `index.json` lists one manifest (or one image index with
    /// one platform), or its legacy `manifest.json` lists one image.
    Only,
    /// The image whose manifest has this digest, reached from `index.json`: listed there, or
    /// listed by an image index listed there (one platform of several). A verifier asks for
    /// the digest its lock names, so an archive may hold several images (base and release).
    Manifest(String),
    /// The image `index.json` names so (as `docker load` would tag it), or whose entry has
    /// this digest: what a user asks for by name. Never used for a verdict.
    Named(String),
    /// The image for this platform of the archive's one image (`name: None`) or of the one
    /// named so: what a user asks for with `--platform`. Never used for a verdict.
    ForPlatform {
        name: Option<String>,
        platform: Platform,
    },
}

/// Which image the archive holds. With an OCI `index.json`, every byte is reached from the
/// manifest digest: index → manifest → config and layers, each named by its digest (and checked
/// against it when read). A `manifest.json` beside it (`docker save` writes both) must describe
/// only images `index.json` leads to, or the archive is refused: two entry points that disagree
/// are how one image's digest is shown while another image's content is read. Only a legacy
/// archive with `manifest.json` alone is read through it, and then no manifest digest is known.
pub(crate) fn manifest_layers(
    json: &HashMap<String, Vec<u8>>,
    aliases: &HashMap<String, String>,
    select: &Select,
) -> Result<Entry, ScanError> {
    let resolve = |p: &str| aliases.get(p).cloned().unwrap_or_else(|| p.to_string());
    let saved: Option<Vec<SaveManifest>> = json
        .get("manifest.json")
        .map(|bytes| -> Result<Vec<SaveManifest>, ScanError> {
            let manifests: Vec<SaveManifest> = serde_json::from_slice(bytes).map_err(|e| {
                ScanError::Archive(format!("manifest.json is not a docker save manifest: {e}"))
            })?;
            if manifests.is_empty() {
                return Err(ScanError::Archive("manifest.json lists no image".into()));
            }
            Ok(manifests)
        })
        .transpose()?;
    // A platform asked for, to be checked against the config of a single-platform image.
    let mut unchecked_platform = match select {
        Select::ForPlatform { platform, .. } if !json.contains_key("index.json") => Some(platform),
        _ => None,
    };
    let (manifest_digest, config_digest, config_path, layer_paths) = if let Some(index) =
        json.get("index.json")
    {
        let digest = match select {
            Select::Only => only_manifest(json, index)?,
            Select::Manifest(wanted) => reachable_manifest(json, index, wanted)?,
            Select::Named(name) => {
                let digest = named_manifest(index, name)?;
                only_platform(json, digest, &Platform::host(), false)?
            }
            Select::ForPlatform { name, platform } => {
                let listed = match name {
                    Some(name) => named_manifest(index, name)?,
                    None => checked_digest(&single_manifest(index)?)?,
                };
                let digest = only_platform(json, listed.clone(), platform, true)?;
                if digest == listed {
                    // No index chose it by platform: its config must say the platform.
                    unchecked_platform = Some(platform);
                }
                digest
            }
        };
        let (config_digest, layer_paths) = image_manifest(json, &digest)?;
        let config_path = blob_path(&config_digest);
        if let Some(saved) = &saved {
            let images = reachable_images(json, index)?;
            for entry in saved {
                let described = (
                    resolve(&entry.config),
                    entry.layers.iter().map(|l| resolve(l)).collect::<Vec<_>>(),
                );
                if !images
                    .iter()
                    .any(|(c, l)| *c == described.0 && *l == described.1)
                {
                    return Err(ScanError::Archive(format!(
                        "manifest.json and index.json describe different images (index.json: manifest {digest}); refusing an archive with two entry points that disagree"
                    )));
                }
            }
        }
        (Some(digest), Some(config_digest), config_path, layer_paths)
    } else if let Some(mut saved) = saved {
        if saved.len() > 1 {
            return Err(ScanError::Archive(format!(
                "the archive holds {} images and no OCI index to tell them apart; save one image at a time",
                saved.len()
            )));
        }
        let saved = saved.remove(0);
        let config_path = resolve(&saved.config);
        let config_digest = digest_of_blob_path(&config_path).or_else(|| {
            let stem = config_path.rsplit('/').next()?.strip_suffix(".json")?;
            digest_of_blob_path(&format!("blobs/sha256/{stem}"))
        });
        (
            None,
            config_digest,
            config_path,
            saved.layers.iter().map(|l| resolve(l)).collect(),
        )
    } else {
        return Err(ScanError::Archive("neither manifest.json nor index.json in the archive; is it a `docker save` or OCI image archive?".into()));
    };
    let config: serde_json::Value = match json.get(&config_path) {
        Some(bytes) => {
            check_json_digest(bytes, &config_path, config_digest.as_deref())?;
            serde_json::from_slice(bytes).map_err(|e| {
                ScanError::Archive(format!(
                    "the image config {config_path} is not valid JSON: {e}"
                ))
            })?
        }
        None => {
            return Err(ScanError::Archive(format!(
                "the image config {config_path} is not in the archive"
            )))
        }
    };
    if let Some(platform) = unchecked_platform {
        // A single-platform image says its platform in its config only.
        let field = |k: &str| config.get(k).and_then(serde_json::Value::as_str);
        let own = Platform::from_parts(
            field("os").unwrap_or(""),
            field("architecture").unwrap_or(""),
            field("variant"),
        );
        if !platform.accepts(&own) {
            return Err(ScanError::Archive(format!(
                "the image is for {}, not {platform}",
                crate::ui::escape(&crate::error::clip(&own.to_string()))
            )));
        }
    }
    Ok(Entry {
        manifest_digest,
        config_digest,
        config,
        layer_paths,
    })
}

/// The one image of an index: it lists one manifest, or one image index (of this host's
/// platform when it holds several).
pub(crate) fn only_manifest(
    json: &HashMap<String, Vec<u8>>,
    index: &[u8],
) -> Result<String, ScanError> {
    only_platform(
        json,
        checked_digest(&single_manifest(index)?)?,
        &Platform::host(),
        false,
    )
}

/// `digest`, or the image manifest of the image index `digest` for `wanted`. Attestation
/// entries are skipped (each must be about an image the index lists); an index of one image
/// gives it whatever its platform unless a platform was asked for (`explicit`); an index of
/// several gives the one for `wanted`, and two for the same platform are refused.
pub(crate) fn only_platform(
    json: &HashMap<String, Vec<u8>>,
    digest: String,
    wanted: &Platform,
    explicit: bool,
) -> Result<String, ScanError> {
    let doc = oci_doc(json, &digest)?;
    if doc.manifests.is_empty() || doc.config.is_some() {
        return Ok(digest);
    }
    let images = runnable_images(&doc, &digest)?;
    if let ([(_, one)], false) = (images.as_slice(), explicit) {
        return Ok(one.clone());
    }
    let listed = || {
        let names: Vec<String> = images
            .iter()
            .map(|(p, _)| p.as_ref().map_or("no platform".into(), |p| p.to_string()))
            .collect();
        crate::ui::escape(&crate::error::clip(&names.join(", "))).into_owned()
    };
    let matching: Vec<&String> = images
        .iter()
        .filter(|(p, _)| p.as_ref().is_some_and(|p| wanted.accepts(p)))
        .map(|(_, d)| d)
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ScanError::Archive(format!(
            "image index {digest} has no image for {wanted}; it holds {}: choose one with --platform",
            listed()
        ))),
        _ => Err(ScanError::Archive(format!(
            "image index {digest} holds {} images for {wanted} ({}); name the variant with --platform",
            matching.len(),
            listed()
        ))),
    }
}

/// The image manifests an image index lists, with their platforms, less its attestations.
/// Refused: an index of no image, one platform listed twice, an attestation about a manifest
/// the index does not list (what it attests would not be what is read).
fn runnable_images(
    doc: &OciDoc,
    digest: &str,
) -> Result<Vec<(Option<Platform>, String)>, ScanError> {
    if doc.manifests.len() > MAX_INDEX_ENTRIES {
        return Err(ScanError::Archive(format!(
            "image index {digest} lists {} manifests, more than {MAX_INDEX_ENTRIES}",
            doc.manifests.len()
        )));
    }
    let mut images: Vec<(Option<Platform>, String)> = Vec::new();
    for m in doc.manifests.iter().filter(|m| !m.is_attestation()) {
        let platform = m.platform.as_ref().map(OciPlatform::platform);
        if let Some(p) = &platform {
            if images.iter().any(|(q, _)| q.as_ref() == Some(p)) {
                return Err(ScanError::Archive(format!(
                    "image index {digest} lists platform {} twice; refusing an index whose images are ambiguous",
                    crate::ui::escape(&crate::error::clip(&p.to_string()))
                )));
            }
        }
        images.push((platform, checked_digest(&m.digest)?));
    }
    for m in doc.manifests.iter().filter(|m| m.is_attestation()) {
        let subject = m.annotations.get(REFERENCE_DIGEST);
        let listed = match subject {
            Some(s) => images.iter().any(|(_, d)| d == s),
            None => false,
        };
        if !listed {
            return Err(ScanError::Archive(format!(
                "image index {digest} lists an attestation {} about {}, which is not an image it lists; refusing a confusing index",
                crate::ui::escape(&crate::error::clip(&m.digest)),
                crate::ui::escape(&crate::error::clip(subject.map_or("no manifest", String::as_str)))
            )));
        }
    }
    if images.is_empty() {
        return Err(ScanError::Archive(format!(
            "image index {digest} lists attestations only, no image"
        )));
    }
    Ok(images)
}

/// `wanted`, if `index.json` leads to it: listed there, or by an image index listed there.
pub(crate) fn reachable_manifest(
    json: &HashMap<String, Vec<u8>>,
    index: &[u8],
    wanted: &str,
) -> Result<String, ScanError> {
    let wanted = checked_digest(wanted)?;
    for listed in index_entries(index)? {
        if listed == wanted {
            return Ok(wanted);
        }
        // A listed document that is not in the archive (a platform `docker save` left out)
        // leads nowhere; the wanted one must still be found, or the archive lacks it.
        if let Ok(doc) = oci_doc(json, &listed) {
            if doc.config.is_none() && doc.manifests.len() <= MAX_INDEX_ENTRIES {
                for inner in &doc.manifests {
                    if checked_digest(&inner.digest)? == wanted {
                        return Ok(wanted);
                    }
                }
            }
        }
    }
    Err(ScanError::NotHeld(wanted))
}

/// The config digest and layer members of the image manifest `digest`.
pub(crate) fn image_manifest(
    json: &HashMap<String, Vec<u8>>,
    digest: &str,
) -> Result<(String, Vec<String>), ScanError> {
    let doc = oci_doc(json, digest)?;
    if !doc.manifests.is_empty() {
        return Err(ScanError::Archive(format!(
            "manifest {digest} is {} (it has manifests); refusing an ambiguous document",
            if doc.config.is_some() {
                "both an index and a manifest"
            } else {
                "an image index, not an image manifest"
            }
        )));
    }
    let config = doc
        .config
        .as_ref()
        .ok_or_else(|| ScanError::Archive(format!("manifest {digest} has no config")))?;
    if doc.layers.len() > MAX_LAYERS {
        return Err(ScanError::Archive(format!(
            "manifest {digest} lists {} layers, more than the {MAX_LAYERS} any engine stacks",
            doc.layers.len()
        )));
    }
    let layers = doc
        .layers
        .iter()
        .map(|l| checked_digest(&l.digest).map(|d| blob_path(&d)))
        .collect::<Result<_, _>>()?;
    Ok((checked_digest(&config.digest)?, layers))
}

/// Every image (config member, layer members) `index.json` leads to and the archive holds.
pub(crate) fn reachable_images(
    json: &HashMap<String, Vec<u8>>,
    index: &[u8],
) -> Result<Vec<(String, Vec<String>)>, ScanError> {
    let mut images = Vec::new();
    for listed in index_entries(index)? {
        let Ok(doc) = oci_doc(json, &listed) else {
            continue;
        };
        let digests: Vec<String> = if doc.config.is_none() && !doc.manifests.is_empty() {
            doc.manifests
                .iter()
                .take(MAX_INDEX_ENTRIES)
                .map(|m| checked_digest(&m.digest))
                .collect::<Result<_, _>>()?
        } else {
            vec![listed]
        };
        for digest in digests {
            if let Ok((config, layers)) = image_manifest(json, &digest) {
                images.push((blob_path(&config), layers));
            }
        }
    }
    Ok(images)
}

/// The digests `index.json` lists.
pub(crate) fn index_entries(index: &[u8]) -> Result<Vec<String>, ScanError> {
    let doc: OciDoc = serde_json::from_slice(index)
        .map_err(|e| ScanError::Archive(format!("index.json is not an OCI index: {e}")))?;
    if doc.manifests.is_empty() {
        return Err(ScanError::Archive("index.json lists no image".into()));
    }
    if doc.manifests.len() > MAX_INDEX_ENTRIES {
        return Err(ScanError::Archive(format!(
            "index.json lists {} images, more than the {MAX_INDEX_ENTRIES} an archive of a release holds",
            doc.manifests.len()
        )));
    }
    doc.manifests
        .iter()
        .filter(|m| m.subject().is_none())
        .map(|m| checked_digest(&m.digest))
        .collect()
}

/// A blob stored under its digest (or named by one) must hash to it.
pub(crate) fn check_json_digest(
    bytes: &[u8],
    path: &str,
    named: Option<&str>,
) -> Result<(), ScanError> {
    for expected in digest_of_blob_path(path)
        .into_iter()
        .chain(named.map(String::from))
    {
        let actual = Digest::of(bytes);
        if actual.as_str() != expected {
            return Err(ScanError::Archive(format!(
                "{path} hashes to {actual}; the archive is corrupt"
            )));
        }
    }
    Ok(())
}

/// The documents of `artifact_type` attached to the layout's images (`index.json` entries
/// annotated with the image they refer to), each `(subject, bytes)`: its artifact manifest
/// checked against its digest and against the subject its entry names, which must be an image
/// the layout lists; the document at most `limit` bytes, checked against its digest.
pub fn attached(
    path: &std::path::Path,
    artifact_type: &str,
    limit: u64,
) -> Result<Vec<(String, Vec<u8>)>, ScanError> {
    use crate::image::referrer::attached_blob;
    let (members, json, _) = archive_documents(path)?;
    let index = json
        .get("index.json")
        .ok_or_else(|| ScanError::Archive("no OCI index.json: not an OCI image layout".into()))?;
    let images = index_entries(index)?;
    let doc: OciDoc = serde_json::from_slice(index)
        .map_err(|e| ScanError::Archive(format!("index.json is not an OCI index: {e}")))?;
    let mut found = Vec::new();
    for entry in &doc.manifests {
        let Some(subject) = entry.subject() else {
            continue;
        };
        if entry.artifact_type.as_deref() != Some(artifact_type) {
            continue;
        }
        let digest = checked_digest(&entry.digest)?;
        let subject = checked_digest(subject)?;
        let reachable = images.contains(&subject)
            || images.iter().any(|i| {
                oci_doc(&json, i).is_ok_and(|d| d.manifests.iter().any(|m| m.digest == subject))
            });
        if !reachable {
            return Err(ScanError::Archive(format!(
                "index.json attaches {digest} to {subject}, which is not an image of the archive; refusing a confusing index"
            )));
        }
        let member = blob_path(&digest);
        let manifest = json.get(&member).ok_or_else(|| {
            ScanError::Archive(format!("{digest} is listed but not in the archive"))
        })?;
        check_json_digest(manifest, &member, Some(&digest))?;
        let blob = attached_blob(manifest, &subject, artifact_type)
            .map_err(|e| ScanError::Archive(format!("the artifact {digest} {e}")))?;
        if blob.size > limit {
            return Err(ScanError::Archive(format!(
                "the attached {artifact_type} is {} bytes, over the {} limit on it; refusing it unread",
                blob.size,
                crate::limits::human(limit)
            )));
        }
        let blob_member = blob_path(&checked_digest(&blob.digest)?);
        let (source, size) = open_member(path, &members, &blob_member)?;
        if size > limit {
            return Err(ScanError::Archive(format!(
                "{blob_member} is {size} bytes, over the {} limit on an attached {artifact_type}; refusing it unread",
                crate::limits::human(limit)
            )));
        }
        let mut bytes = Vec::new();
        let mut source = source;
        source
            .read_to_end(&mut bytes)
            .map_err(|e| stopped_or(format!("the archive is truncated ({e})")))?;
        check_json_digest(&bytes, &blob_member, None)?;
        found.push((subject, bytes));
    }
    Ok(found)
}

pub(crate) fn single_manifest(index: &[u8]) -> Result<String, ScanError> {
    let doc: OciDoc = serde_json::from_slice(index)
        .map_err(|e| ScanError::Archive(format!("index.json is not an OCI index: {e}")))?;
    let images: Vec<&OciDescriptor> = doc
        .manifests
        .iter()
        .filter(|m| m.subject().is_none())
        .collect();
    match images.as_slice() {
        [one] => Ok(one.digest.clone()),
        [] => Err(ScanError::Archive("index.json lists no image".into())),
        many => {
            let names: Vec<String> = many
                .iter()
                .take(8)
                .map(|m| {
                    crate::ui::escape(&crate::error::clip(m.name().unwrap_or(&m.digest)))
                        .into_owned()
                })
                .collect();
            Err(ScanError::Archive(format!(
                "index.json lists {} images ({}{}); name the one to read by its name or manifest digest",
                many.len(),
                names.join(", "),
                if many.len() > 8 { ", ..." } else { "" }
            )))
        }
    }
}

/// The manifest digest of the image `index.json` names `name` (as `docker load` would tag it,
/// or by its own digest).
pub(crate) fn named_manifest(index: &[u8], name: &str) -> Result<String, ScanError> {
    let doc: OciDoc = serde_json::from_slice(index)
        .map_err(|e| ScanError::Archive(format!("index.json is not an OCI index: {e}")))?;
    let full = crate::image::reference::normalise_ref(name);
    let matching: Vec<&OciDescriptor> = doc
        .manifests
        .iter()
        .filter(|m| {
            m.digest == name
                || m.name()
                    .is_some_and(|n| n == name || crate::image::reference::normalise_ref(n) == full)
        })
        .collect();
    match matching.as_slice() {
        [one] => checked_digest(&one.digest),
        [] => Err(ScanError::Archive(format!(
            "the archive has no image named {}",
            crate::ui::escape(&crate::error::clip(name))
        ))),
        _ => Err(ScanError::Archive(format!(
            "the archive names {} images {}; name one by its manifest digest",
            matching.len(),
            crate::ui::escape(&crate::error::clip(name))
        ))),
    }
}

pub(crate) fn oci_doc(json: &HashMap<String, Vec<u8>>, digest: &str) -> Result<OciDoc, ScanError> {
    let bytes = json
        .get(&blob_path(digest))
        .ok_or_else(|| ScanError::Archive(format!("manifest {digest} is not in the archive")))?;
    check_json_digest(bytes, &blob_path(digest), Some(digest))?;
    serde_json::from_slice(bytes)
        .map_err(|e| ScanError::Archive(format!("manifest {digest} is not valid JSON: {e}")))
}

/// Reports progress, and stops the read when the user interrupts (an `Other` error: readers
/// retry `ErrorKind::Interrupted`).
pub(crate) struct Counting<'a, R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
    pub(crate) progress: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if crate::cancel::requested() {
            return Err(io::Error::other("interrupted"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.progress)(self.count);
        Ok(n)
    }
}

pub(crate) fn stopped_or(message: String) -> ScanError {
    if crate::cancel::requested() {
        ScanError::Interrupted
    } else {
        ScanError::Archive(message)
    }
}
