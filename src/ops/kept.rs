//! A base kept across releases: the locked base image found by its digest (never by a tag) in
//! an archive, the engine or its registry, checked blob by blob, for a release to be built on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::image::archive::{LayoutImage, Select};
use crate::inventory::layers::Merged;
use crate::lock;
use crate::ops::build::BasePin;
use crate::ops::report::Source;
use crate::ui::Ui;

/// The locked base image, by its digest, as a pin for the release build and where it was
/// found: the archive given, else the engine, else its registry (BuildKit pulls it by digest).
/// From the engine, a single-platform base whose manifest and config this machine keeps
/// ([`Documents`]) is named in place when `in_place` allows it (the builder reads the engine's
/// store, see [`Docker::builder_reads_engine_store`], and the caller needs no bytes of it);
/// any other is saved into `work/locked-base.tar`, then checked blob by blob. The inner `Err`
/// says why it is not here.
pub fn locked_base(
    all: &[&lock::Image],
    platform: &str,
    archive: Option<&Path>,
    in_place: bool,
    docker: &Docker,
    work: &Path,
    ui: &Ui,
) -> Result<std::result::Result<(BasePin, Source), String>> {
    let locked = all[0];
    // The image index of several platforms (each platform's manifest copied and checked),
    // else the one manifest.
    let digest = &locked.engine_digest().to_string();
    let locked_platform = locked.platform_name();
    let platform = if locked.platform.is_none() {
        platform
    } else {
        &locked_platform
    };
    let locked_layers = || {
        all.iter()
            .flat_map(|i| i.layers.iter().map(|l| l.to_string()))
            .collect()
    };
    let layout = work.join("locked-base-layout");
    let verified = work.join("locked-base.tar");
    let copy = |from: &Path| -> Result<()> {
        // The release is built on the index the pin names: it must list the locked manifests.
        if locked.index_digest.is_some() {
            crate::ops::tie::in_archive(from, digest, all)?.map_err(|why| {
                Error::Different(format!(
                    "the locked base {}: {why}; nothing was rebuilt on it",
                    locked.name
                ))
            })?;
        }
        let images: Vec<LayoutImage> = all
            .iter()
            .map(|i| LayoutImage {
                archive: from,
                select: Select::Manifest(i.manifest_digest.to_string()),
                name: i.name.to_string(),
                index: i.index_digest.as_ref().map(|d| d.to_string()),
            })
            .collect();
        crate::image::archive::write_verified_layout(&verified, &images)
            .map(|_| ())
            .map_err(|e| match e {
                crate::image::archive::ScanError::Interrupted => Error::Interrupted,
                other => Error::Failed(format!("{}: {other}", from.display())),
            })
    };
    if let Some(archive) = archive {
        ui.progress(&format!(
            "checking the locked base {} in {}",
            locked.name,
            archive.display()
        ));
        copy(archive)?;
        remember(all, &verified);
        return Ok(Ok((
            BasePin::archive(&verified, digest, &layout, locked_layers())?,
            Source::Archive,
        )));
    }
    if docker.image_id(digest)?.is_some() {
        let first_layers: Vec<String> = all[0].layers.iter().map(ToString::to_string).collect();
        let in_place = match (all, in_place, Documents::open()) {
            ([one], true, Some(documents)) if one.index_digest.is_none() => engine_pin(
                &Named {
                    manifest_digest: &one.manifest_digest,
                    config_digest: &one.config_digest,
                    layers: &first_layers,
                },
                &documents,
                &layout,
            )?,
            _ => None,
        };
        if let Some(pin) = in_place {
            ui.progress(&format!(
                "taking the locked base {digest} from the engine's store by its digest (not saved: its manifest and config, checked against the lock, are kept on this machine)"
            ));
            return Ok(Ok((pin, Source::Engine)));
        }
        ui.progress(&format!("taking the locked base {digest} from the engine"));
        let saved = work.join("engine-base.tar");
        docker.save_to(digest, &saved)?;
        copy(&saved)?;
        remember(all, &verified);
        return Ok(Ok((
            BasePin::archive(&verified, digest, &layout, locked_layers())?,
            Source::Engine,
        )));
    }
    if !crate::image::reference::repository(&locked.name).contains('/') {
        return Ok(Err(
            "is not in the engine and its name has no registry to pull it from".into(),
        ));
    }
    let pinned = crate::image::reference::pinned(&locked.name, digest);
    if locked.index_digest.is_some() {
        return match crate::ops::tie::in_registry(docker, &locked.name, digest, all)? {
            Ok(Ok(())) => Ok(Ok((
                BasePin::registry(&locked.name, digest, locked_layers()),
                Source::Registry,
            ))),
            Ok(Err(why)) => Err(Error::Different(format!(
                "the locked base {pinned}: {why}; nothing was rebuilt on it"
            ))),
            Err(why) => Ok(Err(format!(
                "is neither in the engine nor in its registry ({why})"
            ))),
        };
    }
    match docker.resolve(&pinned, platform)? {
        Ok(_) => Ok(Ok((
            BasePin::registry(&locked.name, digest, locked_layers()),
            Source::Registry,
        ))),
        Err(why) => Ok(Err(format!(
            "is neither in the engine nor in its registry ({why})"
        ))),
    }
}

/// The image documents (manifests and configs, a few kilobytes each) of the bases this machine
/// built, loaded or checked, kept by their digest in the user's cache directory
/// (`$XDG_CACHE_HOME/docker-repro/documents`, else `~/.cache/docker-repro/documents`). They
/// are what lets a release name a base the engine holds without `docker save`: the engine has
/// no other way to hand out an image's manifest and config byte for byte. Every document read
/// back is checked against its digest, and a missing or damaged one only costs that save.
pub struct Documents {
    dir: PathBuf,
}

/// `$XDG_CACHE_HOME/docker-repro/NAME`, else `~/.cache/docker-repro/NAME`; `None` where
/// neither names a directory.
fn cache_dir(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })?;
    Some(base.join("docker-repro").join(name))
}

/// The hex digits of a `sha256:` digest, in lower case: a file name that can be nothing else.
fn sha256_hex(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

impl Documents {
    /// The cache directory; `None` where neither `XDG_CACHE_HOME` nor `HOME` names one.
    pub fn open() -> Option<Documents> {
        Some(Documents {
            dir: cache_dir("documents")?,
        })
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        Some(self.dir.join(sha256_hex(digest)?))
    }

    /// The document `digest`, when kept here and its bytes still hash to it.
    pub fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.path(digest)?;
        let bytes = crate::limits::read(&path, DOCUMENT_MAX).ok()?;
        (crate::image::oci::sha256_digest(&bytes) == digest).then_some(bytes)
    }

    /// Keeps `bytes` under their digest. A cache that cannot be written costs the next release
    /// on this base a `docker save`, nothing else: the failure is not an error.
    pub fn put(&self, bytes: &[u8]) {
        let digest = crate::image::oci::sha256_digest(bytes);
        let Some(path) = self.path(&digest) else {
            return;
        };
        if path.exists() || std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let _ = crate::lock::write_atomic(&path, bytes);
    }

    /// Keeps the manifests and configs of the images `images` of the OCI archive `archive`.
    pub fn keep_from_archive(&self, archive: &Path, images: &[(&str, &str)]) {
        let Ok((_, json, _)) = crate::image::archive::archive_documents(archive) else {
            return;
        };
        for (manifest, config) in images {
            for digest in [manifest, config] {
                let member = format!("blobs/{}", digest.replacen(':', "/", 1));
                if let Some(bytes) = json.get(&member) {
                    if crate::image::oci::sha256_digest(bytes) == *digest {
                        self.put(bytes);
                    }
                }
            }
        }
    }
}

/// Keeps the manifests and configs of the locked images `all` from the checked archive
/// `archive`, so that the next release on this base need not save it.
pub fn remember(all: &[&lock::Image], archive: &Path) {
    if let Some(documents) = Documents::open() {
        let images: Vec<(&str, &str)> = all
            .iter()
            .map(|i| (i.manifest_digest.as_str(), i.config_digest.as_str()))
            .collect();
        documents.keep_from_archive(archive, &images);
    }
}

/// The merged scans ([`Merged`]) of the bases this machine built or released on, by each
/// base's manifest digest, in the user's cache directory (`docker-repro/merged`): what lets the
/// inventory of a release on a kept base read the release's own layers only, so that the
/// release's time does not grow with the base's size. A scan cannot be checked against a
/// digest, so one is used only where it gives, with the base's config, the very inventory the
/// lock records for the base; a missing or disagreeing one costs the release a read of the
/// base's layers, nothing else.
pub struct MergedScans {
    dir: PathBuf,
}

impl MergedScans {
    /// The cache directory; `None` where neither `XDG_CACHE_HOME` nor `HOME` names one.
    pub fn open() -> Option<MergedScans> {
        Some(MergedScans {
            dir: cache_dir("merged")?,
        })
    }

    fn path(&self, manifest_digest: &str) -> Option<PathBuf> {
        Some(
            self.dir
                .join(format!("{}.json", sha256_hex(manifest_digest)?)),
        )
    }

    /// Keeps `merged`, the scan of the image `manifest_digest`, in place of any kept before
    /// (which, unlike a document, no digest proves right). Not kept: not an error (the next
    /// release on it reads its layers).
    pub fn put(&self, manifest_digest: &str, merged: &Merged) {
        let Some(path) = self.path(manifest_digest) else {
            return;
        };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec(merged) {
            let _ = crate::lock::write_atomic(&path, &bytes);
        }
    }

    /// The merged scan of the registry image `image`, when kept here for its layers. Nothing
    /// vouches for it but this machine, which wrote it from layers it read and checked
    /// against their digests (see the threat model: the cache is its user's own).
    pub fn registry(&self, image: &crate::ops::build::RegistryImage) -> Option<Merged> {
        let path = self.path(&image.manifest_digest)?;
        let bytes = crate::limits::read(&path, MERGED_MAX).ok()?;
        let merged: Merged = serde_json::from_slice(&bytes).ok()?;
        (merged.layers == image.layers).then_some(merged)
    }

    /// The merged scan of the locked single-platform image `image`, whose config this
    /// machine's [`Documents`] keep, when its layers are the locked ones and it gives, with
    /// that config's environment, the inventory the lock records.
    pub fn agreeing(&self, image: &lock::Image, documents: &Documents) -> Option<Merged> {
        let path = self.path(&image.manifest_digest)?;
        let bytes = crate::limits::read(&path, MERGED_MAX).ok()?;
        let merged: Merged = serde_json::from_slice(&bytes).ok()?;
        let config: serde_json::Value =
            serde_json::from_slice(&documents.get(&image.config_digest)?).ok()?;
        let files = merged
            .files
            .iter()
            .map(|(path, found)| (path.clone(), std::sync::Arc::new(found.clone())))
            .collect();
        let env = crate::inventory::image_env(&config);
        let agrees = merged
            .layers
            .iter()
            .map(String::as_str)
            .eq(image.layers.iter().map(|l| l.as_str()))
            && crate::inventory::Inventory::from_files(&files, &env).to_lock() == image.inventory;
        agrees.then_some(merged)
    }
}

/// The largest merged scan the cache reads back: an image's package records (a huge dpkg
/// status is about 5 MB).
const MERGED_MAX: crate::limits::Limit = crate::limits::Limit {
    what: "cached merged scan",
    bytes: 256 << 20,
};

/// The largest document the cache reads back: an image config with a long history.
const DOCUMENT_MAX: crate::limits::Limit = crate::limits::Limit {
    what: "cached image document",
    bytes: 16 << 20,
};

/// One platform's image as a lock or a build names it: its manifest, config and layers.
pub struct Named<'a> {
    pub manifest_digest: &'a str,
    pub config_digest: &'a str,
    pub layers: &'a [String],
}

/// A pin to the single-platform image `image`, which the engine holds: an OCI layout under
/// `layout` holding only its manifest and config, from `documents`, each checked against the
/// digests `image` names (the manifest's config and layers included). BuildKit reads the rest,
/// every layer, by digest from the engine's content store, which checked each blob against its
/// digest when it entered the store: the base is neither saved nor sent again. `None` when a
/// document is missing or is not the one named.
pub fn engine_pin(
    image: &Named<'_>,
    documents: &Documents,
    layout: &Path,
) -> Result<Option<BasePin>> {
    let (Some(manifest), Some(config)) = (
        documents.get(image.manifest_digest),
        documents.get(image.config_digest),
    ) else {
        return Ok(None);
    };
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&manifest) else {
        return Ok(None);
    };
    let layers: Vec<&str> = parsed["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    if parsed["config"]["digest"].as_str() != Some(image.config_digest)
        || layers != image.layers.iter().map(String::as_str).collect::<Vec<_>>()
    {
        return Ok(None);
    }
    let Ok(config_json) = serde_json::from_slice::<serde_json::Value>(&config) else {
        return Ok(None);
    };
    let media_type = parsed["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": media_type,
            "digest": image.manifest_digest,
            "size": manifest.len(),
        }],
    });
    let blobs = layout.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    let write =
        |path: PathBuf, bytes: &[u8]| std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e));
    write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write(
        layout.join("index.json"),
        &serde_json::to_vec(&index).expect("json"),
    )?;
    for (digest, bytes) in [
        (image.manifest_digest, &manifest),
        (image.config_digest, &config),
    ] {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        write(blobs.join(hex), bytes)?;
    }
    Ok(Some(BasePin::documents_only(
        &layout.display().to_string(),
        image.manifest_digest,
        image.layers.iter().cloned().collect(),
        &config_json,
    )))
}

/// Copies the OCI archive `archive` to `out` without the blobs `omit`: for `docker load` of an
/// image whose other blobs (a base's layers) the engine holds already, which it then neither
/// reads nor stores again. Docker 26 and 28 (containerd store) load such an archive, taking
/// the missing blobs from their content store; `--archive` output is always complete.
pub fn without_blobs(archive: &Path, omit: &BTreeSet<String>, out: &Path) -> Result<()> {
    use std::io::{Read, Seek};
    let scan = |e: crate::image::archive::ScanError| match e {
        crate::image::archive::ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("{}: {other}", archive.display())),
    };
    let (members, _, _) = crate::image::archive::archive_documents(archive).map_err(scan)?;
    let omitted: BTreeSet<String> = omit
        .iter()
        .map(|digest| format!("blobs/{}", digest.replacen(':', "/", 1)))
        .collect();
    let mut names: Vec<&String> = members.keys().filter(|m| !omitted.contains(*m)).collect();
    names.sort();
    let mut input = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let file = std::fs::File::create(out).map_err(|e| Error::io(out, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    for name in names {
        let (offset, size) = members[name];
        input
            .seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| Error::io(archive, e))?;
        crate::image::archive::append_member(&mut tar, name, &mut (&mut input).take(size), size)
            .map_err(|e| Error::io(out, e))?;
    }
    tar.into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(|e| Error::io(out, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::oci::sha256_digest;

    fn documents(dir: &Path) -> Documents {
        Documents {
            dir: dir.join("documents"),
        }
    }

    const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","history":[{"created":"2024-05-01T12:00:00Z","created_by":"RUN x"}],"rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}"#;
    const LAYER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn manifest(config: &str, layer: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":1}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_document_is_read_back_only_while_it_hashes_to_its_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let docs = documents(tmp.path());
        let digest = sha256_digest(CONFIG);
        assert_eq!(docs.get(&digest), None, "nothing kept yet");
        docs.put(CONFIG);
        assert_eq!(docs.get(&digest).as_deref(), Some(CONFIG));
        // A damaged copy is as good as none: the base is then saved and checked.
        let path = docs.path(&digest).unwrap();
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(docs.get(&digest), None);
        assert_eq!(docs.get("sha256:../../etc/passwd"), None);
    }

    #[test]
    fn the_pin_holds_only_the_manifest_and_config_that_the_lock_names() {
        let tmp = tempfile::tempdir().unwrap();
        let docs = documents(tmp.path());
        let config_digest = sha256_digest(CONFIG);
        let manifest = manifest(&config_digest, LAYER);
        let manifest_digest = sha256_digest(&manifest);
        docs.put(CONFIG);
        docs.put(&manifest);
        let layers = vec![LAYER.to_string()];
        let named = Named {
            manifest_digest: &manifest_digest,
            config_digest: &config_digest,
            layers: &layers,
        };
        let layout = tmp.path().join("layout");
        let pin = engine_pin(&named, &docs, &layout).unwrap().unwrap();
        assert_eq!(
            pin.target,
            format!("oci-layout://{}@{manifest_digest}", layout.display())
        );
        assert_eq!(pin.layers, BTreeSet::from([LAYER.to_string()]));
        assert_eq!(
            pin.histories.unwrap()["linux/amd64"][0]["created_by"],
            "RUN x"
        );
        let mut blobs: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        blobs.sort();
        let mut wanted = vec![manifest_digest.clone(), config_digest.clone()];
        wanted.sort();
        assert_eq!(blobs, wanted, "no layer is in the layout");

        // A lock whose layers are not the manifest's gets no pin: the base is saved instead.
        let other = vec![LAYER.replace('2', "3")];
        let named = Named {
            layers: &other,
            ..named
        };
        assert!(engine_pin(&named, &docs, &tmp.path().join("other"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn an_archive_for_loading_leaves_out_only_the_blobs_named() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("in.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&archive).unwrap());
        let member = |tar: &mut tar::Builder<std::fs::File>, name: &str, data: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_path(name).unwrap();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append(&header, data).unwrap();
        };
        member(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        member(
            &mut tar,
            "index.json",
            br#"{"schemaVersion":2,"manifests":[]}"#,
        );
        member(&mut tar, "blobs/sha256/aa", b"base layer");
        member(&mut tar, "blobs/sha256/bb", b"release layer");
        tar.into_inner().unwrap();
        let out = tmp.path().join("out.tar");
        without_blobs(&archive, &BTreeSet::from(["sha256:aa".to_string()]), &out).unwrap();
        let mut read = tar::Archive::new(std::fs::File::open(&out).unwrap());
        let mut members = Vec::new();
        for entry in read.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = String::new();
            std::io::Read::read_to_string(&mut entry, &mut data).unwrap();
            members.push((entry.path().unwrap().display().to_string(), data));
        }
        members.sort();
        assert_eq!(
            members,
            vec![
                ("blobs/sha256/bb".to_string(), "release layer".to_string()),
                (
                    "index.json".to_string(),
                    r#"{"schemaVersion":2,"manifests":[]}"#.to_string()
                ),
                (
                    "oci-layout".to_string(),
                    r#"{"imageLayoutVersion":"1.0.0"}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_merged_scan_is_used_only_while_it_gives_the_locked_inventory_of_its_base() {
        use crate::inventory::layers::Found;
        let tmp = tempfile::tempdir().unwrap();
        let docs = documents(tmp.path());
        let scans = MergedScans {
            dir: tmp.path().join("merged"),
        };
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["CUDA_VERSION=12.1"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        docs.put(config);
        let merged = Merged {
            layers: vec![LAYER.to_string()],
            inert: Default::default(),
            files: [(
                "usr/lib/python3/dist-packages/a-1.dist-info/METADATA".to_string(),
                Found::PyMetadata {
                    name: "a".into(),
                    version: "1".into(),
                },
            )]
            .into(),
        };
        let files = merged
            .files
            .iter()
            .map(|(p, f)| (p.clone(), std::sync::Arc::new(f.clone())))
            .collect();
        let env = crate::inventory::image_env(&serde_json::from_slice(config).unwrap());
        let mut image = lock::Image {
            role: lock::Role::Base,
            name: "paper:base".into(),
            platform: None,
            index_digest: None,
            manifest_digest: crate::lock::tests::digest('a'),
            config_digest: crate::image::digest::Digest::parse(&sha256_digest(config)).unwrap(),
            layers: vec![crate::image::digest::Digest::parse(LAYER).unwrap()],
            needs: None,
            inventory: crate::inventory::Inventory::from_files(&files, &env).to_lock(),
            inventory_over: None,
            inventory_removed: Default::default(),
        };
        assert_eq!(scans.agreeing(&image, &docs), None, "nothing kept yet");
        scans.put(&image.manifest_digest, &merged);
        assert_eq!(scans.agreeing(&image, &docs), Some(merged.clone()));
        // The lock says otherwise: the scan is not the base's, whatever the cache holds.
        let mut other = image.clone();
        other.inventory.cuda.clear();
        assert_eq!(scans.agreeing(&other, &docs), None);
        // A scan that disagrees is replaced by the next one read.
        let mut wrong = merged.clone();
        wrong.files.clear();
        scans.put(&image.manifest_digest, &wrong);
        assert_eq!(scans.agreeing(&image, &docs), None);
        scans.put(&image.manifest_digest, &merged);
        assert_eq!(scans.agreeing(&image, &docs), Some(merged.clone()));
        image.layers.push(crate::lock::tests::digest('e'));
        assert_eq!(scans.agreeing(&image, &docs), None, "other layers");
    }
}
