//! Clamping the file times of an image's layers to `SOURCE_DATE_EPOCH` after the build, what
//! BuildKit's `rewrite-timestamp` does while it exports, done here instead: BuildKit before 0.14
//! (moby/buildkit#4805) and before 0.24 for a base given as a named context rewrites every layer,
//! the base's too, which on a large image costs longer than the build. Here a layer is read
//! only when it may hold a newer time, and rewritten only when it does; every other blob stays
//! byte for byte as the build wrote it.
//!
//! A layer's tar stream keeps its encoding: only the time fields of its headers change (the
//! ustar mtime, GNU atime and ctime, PAX `mtime`, `atime` and `ctime` records), and only those
//! the engine's reader (Go's `archive/tar`, as `tarstream` reads) takes as times; each
//! checksum is computed again, and the stream is compressed as it was stored (gzip or zstd, at
//! fixed levels, so the same input always gives the same bytes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::image::archive::{
    append_member, archive_documents, blob_path, checked_digest, copy_blob, open_member,
    stopped_or, ScanError,
};
use crate::image::digest::Digest;
use crate::image::encoder::{compressor, Encoding};
use crate::image::layer::{open_layer, Stored};
use crate::image::tarstream::{
    decode_block, go_numeric, parse_pax_time, pax_records, Header, Piece, TarError, TarStream,
    Time, BLOCK,
};

/// index.json → image index → manifest: an index nested deeper is not an image.
const MAX_DEPTH: usize = 3;

/// Copies the tar stream `input` to `output` with every mtime, atime and ctime later than
/// `epoch` set to `epoch`, every other byte as it was. Returns whether any time was clamped.
/// The stream is read by [`TarStream`], so entries, their data and their times are those the
/// engine reads; a header whose rewrite would read otherwise is an error, never written.
pub fn clamp_times(input: impl Read, output: impl Write, epoch: u64) -> io::Result<bool> {
    clamp(input, output, epoch, false)
}

/// Whether the tar stream `input` holds a time later than `epoch`: read up to the first one,
/// or whole when there is none.
pub fn holds_later_time(input: impl Read, epoch: u64) -> io::Result<bool> {
    clamp(input, io::sink(), epoch, true)
}

fn clamp(
    input: impl Read,
    mut output: impl Write,
    epoch: u64,
    stop_at_first: bool,
) -> io::Result<bool> {
    if epoch >= 8u64.pow(11) {
        return Err(invalid(format!(
            "SOURCE_DATE_EPOCH {epoch} does not fit a tar header's time field"
        )));
    }
    let mut tar = TarStream::recording(input);
    let mut changed = false;
    loop {
        let header = tar.next_header().map_err(tar_error)?;
        let mut pieces = tar.take_pieces();
        let Some(header) = header else {
            // The end-of-archive blocks and whatever follows them, as they were.
            for piece in &pieces {
                write_piece(&mut output, piece)?;
            }
            io::copy(tar.inner_mut(), &mut output)?;
            return Ok(changed);
        };
        if clamp_pieces(&mut pieces, epoch)? {
            check_read_alike(&pieces, &header, epoch)?;
            changed = true;
            if stop_at_first {
                return Ok(true);
            }
        }
        for piece in &pieces {
            write_piece(&mut output, piece)?;
        }
        let copied = io::copy(&mut tar.data(), &mut output)?;
        if copied != header.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside an entry",
            ));
        }
    }
}

fn tar_error(e: TarError) -> io::Error {
    match e {
        TarError::Io(e) => e,
        other => invalid(other.to_string()),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn write_piece(output: &mut impl Write, piece: &Piece) -> io::Result<()> {
    match piece {
        Piece::Bytes(bytes) => output.write_all(bytes),
        Piece::Header(block) => output.write_all(&block[..]),
        Piece::Extended { data, padding } => {
            output.write_all(data)?;
            output.write_all(padding)
        }
    }
}

/// Clamps, in the headers that lead to one entry, each time Go reads that is later than
/// `epoch`: every header's mtime field, a GNU or STAR header's atime and ctime where Go reads
/// them as times (a GNU atime Go cannot parse makes those bytes a name prefix: they are left
/// alone), and the `mtime`, `atime` and `ctime` records of a PAX header (not a global one,
/// which applies to no entry). Whether anything changed.
fn clamp_pieces(pieces: &mut [Piece], epoch: u64) -> io::Result<bool> {
    let mut changed = false;
    for i in 0..pieces.len() {
        let records = match (&pieces[i], pieces.get(i + 1)) {
            (Piece::Header(block), Some(Piece::Extended { data, .. })) if block[156] == b'x' => {
                clamp_pax(data, epoch)?
            }
            _ => None,
        };
        let Piece::Header(block) = &mut pieces[i] else {
            continue;
        };
        let format = decode_block(block).map_err(tar_error)?.format;
        let mut block_changed = false;
        for field in format.time_fields(block) {
            block_changed |= clamp_field(&mut block[field], epoch);
        }
        if let Some(records) = &records {
            write_octal(&mut block[124..136], records.len() as u64);
            block_changed = true;
        }
        if block_changed {
            block[148..156].fill(b' ');
            let sum: u32 = block.iter().map(|&b| b as u32).sum();
            block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            changed = true;
        }
        if let Some(records) = records {
            let padding = vec![0u8; padding(records.len() as u64) as usize];
            pieces[i + 1] = Piece::Extended {
                data: records,
                padding,
            };
        }
    }
    Ok(changed)
}

/// The rewritten headers must lead a reader to the same entry with only its times clamped:
/// the same path, type, size, link and owner. A header where they would not is refused
/// rather than written, since the clamp must never move or change a file.
fn check_read_alike(pieces: &[Piece], before: &Header, epoch: u64) -> io::Result<()> {
    let mut bytes = Vec::new();
    for piece in pieces.iter().skip_while(|p| !matches!(p, Piece::Header(_))) {
        write_piece(&mut bytes, piece)?;
    }
    let limit = Time::from_seconds(epoch as i64);
    let clamp = |t: Time| t.min(limit);
    let expected = Header {
        modified: clamp(before.modified),
        mtime: clamp(before.modified).seconds,
        accessed: before.accessed.map(clamp),
        changed: before.changed.map(clamp),
        ..before.clone()
    };
    let after = TarStream::new(&bytes[..]).next_header();
    match after {
        Ok(Some(after)) if after == expected => Ok(()),
        _ => Err(invalid(format!(
            "clamping the times of {:?} would change how the engine reads it; the layer is refused, not clamped",
            crate::error::clip(&before.path)
        ))),
    }
}

fn write_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    field.copy_from_slice(format!("{value:0width$o}\0").as_bytes());
}

/// Sets a time field Go reads as later than `epoch` to `epoch`; whether it did.
fn clamp_field(field: &mut [u8], epoch: u64) -> bool {
    match go_numeric(field) {
        Some(time) if time > epoch as i64 => {
            write_octal(field, epoch);
            true
        }
        _ => false,
    }
}

/// The records of a PAX header with each time Go reads as later than `epoch` clamped (`None`
/// when none is). An empty or unreadable time record is left as it is: Go then keeps the
/// header's own field (clamped with it) or refuses the entry.
fn clamp_pax(data: &[u8], epoch: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(data.len());
    let mut changed = false;
    let limit = Time::from_seconds(epoch as i64);
    for record in pax_records(data).map_err(tar_error)? {
        let later = matches!(record.key, b"mtime" | b"atime" | b"ctime")
            && parse_pax_time(record.value).is_some_and(|t| t > limit);
        if later {
            out.extend_from_slice(&pax_record(record.key, epoch.to_string().as_bytes()));
            changed = true;
        } else {
            out.extend_from_slice(record.bytes);
        }
    }
    Ok(changed.then_some(out))
}

/// One PAX record, `LENGTH KEY=VALUE\n`, whose length counts its own digits.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut length = rest + 1;
    while rest + length.to_string().len() != length {
        length = rest + length.to_string().len();
    }
    let mut record = format!("{length} ").into_bytes();
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// What [`clamp_archive`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Clamped {
    /// Layers rewritten, by their digest before.
    pub rewritten: Vec<String>,
    /// Layers read and found to hold no later time, left as they were.
    pub unchanged: usize,
    /// Layers not read at all: ones the caller knows hold no later time.
    pub known: usize,
}

/// Writes to `output` the OCI archive `input` (as buildx writes it) with the file times of its
/// layers clamped to `epoch` (see [`clamp_times`]). A layer in `known` (a base the release is
/// built on, already clamped to this epoch, or a registry base's layer, kept as pulled) is not
/// read. With `reencode`, every other layer is written by this tool's own encoder, compressed
/// as `reencode` says whatever variant the build exported, whether or not a time needed clamping, so that no byte of a layer the build made is BuildKit's
/// compression (which depends on the Go that built dockerd, and on which compressed variant of
/// a layer the engine already holds); without it (locks cut before), only layers holding a later
/// time are rewritten. Each rewritten layer changes its
/// config's diff ID and its manifest, and so every document above it; a document with nothing
/// under it rewritten keeps its bytes, unless `configs` puts every config into the canonical
/// form (see [`crate::image::canonical`]). Every layer read must hash, uncompressed, to the
/// diff ID its config lists for it. `progress` hears of each layer rewritten.
pub fn clamp_archive<'a>(
    input: &'a Path,
    output: &Path,
    epoch: i64,
    known: impl Into<Known<'a>>,
    reencode: Reencode,
    configs: Configs<'_>,
    progress: &dyn Fn(&str),
) -> Result<Clamped, ScanError> {
    let known = known.into();
    let epoch = u64::try_from(epoch)
        .map_err(|_| ScanError::Archive(format!("SOURCE_DATE_EPOCH {epoch} is before 1970")))?;
    let (members, json, _) = archive_documents(input)?;
    let index = json
        .get("index.json")
        .ok_or_else(|| ScanError::Archive("no OCI index.json: not an OCI image layout".into()))?
        .clone();
    let file = File::create(output)
        .map_err(|e| ScanError::Archive(format!("{}: {e}", output.display())))?;
    let mut writer = Writer {
        input,
        output,
        members,
        json,
        epoch,
        known,
        reencode,
        configs,
        progress,
        tar: tar::Builder::new(BufWriter::with_capacity(1 << 20, file)),
        written: HashSet::new(),
        documents: HashMap::new(),
        layers: HashMap::new(),
        done: Clamped::default(),
    };
    let mut index: Value = serde_json::from_slice(&index)
        .map_err(|e| ScanError::Archive(format!("index.json is not JSON: {e}")))?;
    writer.descriptors(&mut index, 0)?;
    let written = |e: io::Error| ScanError::Archive(format!("{}: {e}", output.display()));
    let index = serde_json::to_vec(&index).expect("json");
    for (member, bytes) in [
        ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        ("index.json", &index[..]),
    ] {
        append_member(&mut writer.tar, member, &mut &bytes[..], bytes.len() as u64)
            .map_err(written)?;
    }
    writer
        .tar
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(written)?;
    Ok(writer.done)
}

/// The layers of the image the built one stands on (a base the release is built on, clamped to
/// this epoch already, or a registry base's, kept as pulled): not read again.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub layers: &'a BTreeSet<String>,
    /// They were left out of the export (the engine's store holds them): one missing from the
    /// input is missing from the output too, where any other missing blob is an error.
    pub left_out: bool,
}

impl<'a> From<&'a BTreeSet<String>> for Known<'a> {
    fn from(layers: &'a BTreeSet<String>) -> Self {
        Known {
            layers,
            left_out: false,
        }
    }
}

/// Which layers are written again, and how they are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reencode {
    /// Only layers holding a later time, compressed as they were stored (`timestamps =
    /// "clamped"`).
    Later,
    /// Every layer, compressed as it was stored (`timestamps = "encoded"` in a lock cut before
    /// the canonical config).
    EveryAsStored,
    /// Every layer, compressed this way whatever variant the build exported, by this encoder.
    Every(Stored, Encoding),
}

/// What becomes of the image configs of an archive.
#[derive(Debug, Clone, Copy)]
pub enum Configs<'a> {
    /// Each config as the build wrote it, its diff IDs updated (locks cut before the canonical
    /// form).
    AsBuilt,
    /// Each config in the canonical form; the map holds, by platform (`os/arch[/variant]`), the
    /// history of the image the built stage stands on, as its own config lists it (no entry for
    /// a platform: it stands on none whose config is known).
    Canonical(&'a BTreeMap<String, Vec<Value>>),
}

/// A layer as rewritten: its blob's digest and size, and its tar stream's digest (diff ID).
#[derive(Debug, Clone)]
struct NewLayer {
    digest: String,
    size: u64,
    diff_id: String,
    stored: Stored,
}

struct Writer<'a> {
    input: &'a Path,
    output: &'a Path,
    members: HashMap<String, (u64, u64)>,
    json: HashMap<String, Vec<u8>>,
    epoch: u64,
    known: Known<'a>,
    reencode: Reencode,
    configs: Configs<'a>,
    progress: &'a dyn Fn(&str),
    tar: tar::Builder<BufWriter<File>>,
    /// Blob members already in the output.
    written: HashSet<String>,
    /// Documents (manifests, indexes) by their digest before: their digest and size after.
    documents: HashMap<String, (String, u64)>,
    /// Layers by their digest before: `None` when left as they were.
    layers: HashMap<String, Option<NewLayer>>,
    done: Clamped,
}

impl Writer<'_> {
    /// Rewrites every descriptor of an index's `manifests` to the document it now leads to;
    /// whether any of them now leads to another document.
    fn descriptors(&mut self, index: &mut Value, depth: usize) -> Result<bool, ScanError> {
        if depth >= MAX_DEPTH {
            return Err(ScanError::Archive(
                "image indexes nest too deep to be an image".into(),
            ));
        }
        let Some(manifests) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
            return Err(ScanError::Archive(
                "an image index lists no manifests".into(),
            ));
        };
        let mut changed = false;
        for descriptor in manifests {
            let before = descriptor_digest(descriptor)?;
            let (digest, size) = self.document(&before, depth + 1)?;
            changed |= digest != before;
            descriptor["digest"] = Value::from(digest);
            descriptor["size"] = Value::from(size);
        }
        Ok(changed)
    }

    /// The manifest or index `digest` in the output, with what it leads to: its digest and size
    /// there.
    fn document(&mut self, digest: &str, depth: usize) -> Result<(String, u64), ScanError> {
        if let Some(done) = self.documents.get(digest) {
            return Ok(done.clone());
        }
        let bytes = self.json_blob(digest)?;
        let mut doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScanError::Archive(format!("{digest} is not JSON: {e}")))?;
        let changed = if doc.get("manifests").is_some() {
            self.descriptors(&mut doc, depth)?
        } else if doc.get("layers").is_some() {
            self.manifest(&mut doc)?
        } else {
            false
        };
        let done = if changed {
            let bytes = serde_json::to_vec(&doc).expect("json");
            (self.put_document(&bytes)?, bytes.len() as u64)
        } else {
            self.copy(digest)?;
            (digest.to_string(), bytes.len() as u64)
        };
        self.documents.insert(digest.to_string(), done.clone());
        Ok(done)
    }

    /// Clamps a manifest's layers, rewriting its config's diff IDs to match; whether anything
    /// changed.
    fn manifest(&mut self, manifest: &mut Value) -> Result<bool, ScanError> {
        let config_digest = descriptor_digest(&manifest["config"])?;
        let Some(layers) = manifest["layers"].as_array_mut() else {
            return Err(ScanError::Archive(
                "a manifest's layers are not a list".into(),
            ));
        };
        let mut config: Value = serde_json::from_slice(&self.json_blob(&config_digest)?)
            .map_err(|e| ScanError::Archive(format!("config {config_digest} is not JSON: {e}")))?;
        let listed: Vec<String> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .filter(|ids| ids.len() == layers.len())
            .map(|ids| {
                ids.iter()
                    .map(|id| id.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .ok_or_else(|| {
                ScanError::Archive(format!(
                    "config {config_digest} does not list one diff ID per layer"
                ))
            })?;
        let mut rewritten = Vec::new();
        for (i, layer) in layers.iter_mut().enumerate() {
            let digest = descriptor_digest(layer)?;
            let size = layer["size"].as_u64().unwrap_or_default();
            if let Some(new) = self.layer(&digest, size, &listed[i])? {
                layer["digest"] = Value::from(new.digest.clone());
                layer["size"] = Value::from(new.size);
                let media_type = layer["mediaType"].as_str().unwrap_or_default();
                layer["mediaType"] = Value::from(layer_media_type(media_type, new.stored));
                rewritten.push((i, new.diff_id));
            } else if !self.left_out(&digest)? {
                self.copy(&digest)?;
            }
        }
        let canonical = match self.configs {
            Configs::AsBuilt => false,
            Configs::Canonical(bases) => {
                let platform = crate::image::canonical::config_platform(&config);
                crate::image::canonical::canonicalise(
                    &mut config,
                    bases.get(&platform).map(Vec::as_slice),
                )
                .map_err(|e| {
                    ScanError::Archive(format!(
                        "the image config {config_digest} cannot be put into the canonical form: {e}"
                    ))
                })?;
                true
            }
        };
        let rewritten_none = rewritten.is_empty();
        if rewritten_none && !canonical {
            self.copy(&config_digest)?;
            return Ok(false);
        }
        if let Some(diff_ids) = config
            .pointer_mut("/rootfs/diff_ids")
            .and_then(Value::as_array_mut)
        {
            for (i, diff_id) in rewritten {
                diff_ids[i] = Value::from(diff_id);
            }
        }
        let bytes = serde_json::to_vec(&config).expect("json");
        if bytes == self.json_blob(&config_digest)? {
            // The same config (a re-encoded layer of the same tar keeps its diff ID): the
            // manifest changed only if a layer's blob did.
            self.copy(&config_digest)?;
            return Ok(!rewritten_none);
        }
        manifest["config"]["digest"] = Value::from(self.put_document(&bytes)?);
        manifest["config"]["size"] = Value::from(bytes.len() as u64);
        Ok(true)
    }

    /// The layer `digest` rewritten with its times clamped, or `None` when it holds no later
    /// time (then it is copied as it is).
    /// `diff_id` is what the config lists for it: the layer's tar stream must hash to it.
    fn layer(
        &mut self,
        digest: &str,
        size: u64,
        diff_id: &str,
    ) -> Result<Option<NewLayer>, ScanError> {
        if let Some(done) = self.layers.get(digest) {
            return Ok(done.clone());
        }
        let new = if self.known.layers.contains(digest) {
            self.done.known += 1;
            None
        } else if self.reencode == Reencode::Later
            && !self.layer_holds_later_time(digest, size, diff_id)?
        {
            self.done.unchanged += 1;
            None
        } else {
            (self.progress)(&format!(
                "writing layer {} with file times clamped to SOURCE_DATE_EPOCH ({})",
                Digest::parse(digest).map(|d| d.short()).unwrap_or_default(),
                megabytes(size)
            ));
            let new = self.rewrite_layer(digest, size, diff_id)?;
            self.done.rewritten.push(digest.to_string());
            Some(new)
        };
        self.layers.insert(digest.to_string(), new.clone());
        Ok(new)
    }

    /// Opens the layer `digest` of the input for its tar stream.
    fn open(
        &self,
        digest: &str,
        size: u64,
    ) -> Result<crate::image::layer::OpenLayer<'static>, ScanError> {
        let (blob, stored_size) = open_member(self.input, &self.members, &blob_path(digest))?;
        if stored_size != size {
            return Err(ScanError::Archive(format!(
                "layer {digest} is {stored_size} bytes in the archive, its manifest says {size}"
            )));
        }
        open_layer(io::BufReader::with_capacity(1 << 16, blob), size).map_err(|message| {
            ScanError::Layer {
                layer: digest.to_string(),
                message,
            }
        })
    }

    /// Whether the layer `digest` holds a time later than the epoch (read whole, and checked
    /// against its digest).
    fn layer_holds_later_time(
        &self,
        digest: &str,
        size: u64,
        diff_id: &str,
    ) -> Result<bool, ScanError> {
        let mut layer = HashingReader::new(self.open(digest, size)?);
        let later = clamp_times(&mut layer, io::sink(), self.epoch)
            .map_err(|e| layer_error(digest, e.to_string()))?;
        let layer = layer.finish(digest, diff_id)?;
        layer
            .finish(Some(digest))
            .map_err(|m| layer_error(digest, m))?;
        Ok(later)
    }

    /// Writes the layer `digest` with its times clamped into the output, compressed as it was
    /// stored. Its member's header is written last, once the digest it is named by is known.
    fn rewrite_layer(
        &mut self,
        digest: &str,
        size: u64,
        listed: &str,
    ) -> Result<NewLayer, ScanError> {
        let mut layer = HashingReader::new(self.open(digest, size)?);
        let (stored, encoding) = match self.reencode {
            Reencode::Every(stored, encoding) => (stored, encoding),
            Reencode::Later | Reencode::EveryAsStored => {
                (layer.inner.stored(), Encoding::SingleStream)
            }
        };
        let output = self.output;
        let written = |e: io::Error| stopped_or(format!("{}: {e}", output.display()));
        let out = self.tar.get_mut();
        out.flush().map_err(written)?;
        let start = out.get_mut().stream_position().map_err(written)?;
        out.write_all(&[0u8; BLOCK]).map_err(written)?;
        let (diff_id, (new_digest, new_size)) = {
            let blob = HashingWriter::new(&mut *out);
            let mut tar = HashingWriter::new(compressor(stored, encoding, blob).map_err(written)?);
            clamp_times(&mut layer, &mut tar, self.epoch)
                .map_err(|e| layer_error(digest, e.to_string()))?;
            let (diff_id, _) = tar.digest();
            let HashingWriter { inner, .. } = tar;
            (diff_id, inner.finish().map_err(written)?.digest())
        };
        let layer = layer.finish(digest, listed)?;
        layer
            .finish(Some(digest))
            .map_err(|m| layer_error(digest, m))?;
        let member = blob_path(&new_digest);
        let mut header = tar::Header::new_ustar();
        header.set_path(&member).map_err(written)?;
        header.set_size(new_size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        out.write_all(&[0u8; BLOCK][..padding(new_size) as usize])
            .map_err(written)?;
        out.flush().map_err(written)?;
        let file = out.get_mut();
        if self.written.insert(member) {
            file.seek(SeekFrom::Start(start)).map_err(written)?;
            file.write_all(header.as_bytes()).map_err(written)?;
            file.seek(SeekFrom::End(0)).map_err(written)?;
        } else {
            // The same bytes are in the output already: take this copy back out.
            file.set_len(start).map_err(written)?;
            file.seek(SeekFrom::Start(start)).map_err(written)?;
        }
        Ok(NewLayer {
            digest: new_digest,
            size: new_size,
            diff_id,
            stored,
        })
    }

    /// A manifest, config or index's bytes, checked against its digest.
    fn json_blob(&self, digest: &str) -> Result<Vec<u8>, ScanError> {
        let digest = checked_digest(digest)?;
        let bytes = self.json.get(&blob_path(&digest)).ok_or_else(|| {
            ScanError::Archive(format!("{digest} is listed but not in the archive as JSON"))
        })?;
        if crate::image::oci::sha256_digest(bytes) != digest {
            return Err(ScanError::Archive(format!(
                "blob {digest} does not hash to its digest; the archive is corrupt"
            )));
        }
        Ok(bytes.clone())
    }

    /// Copies the blob `digest` from the input, once, checked against its digest.
    /// Whether the layer `digest` is a known one left out of the input (see [`Known`]).
    fn left_out(&self, digest: &str) -> Result<bool, ScanError> {
        Ok(self.known.left_out
            && self.known.layers.contains(digest)
            && !self
                .members
                .contains_key(&blob_path(&checked_digest(digest)?)))
    }

    fn copy(&mut self, digest: &str) -> Result<(), ScanError> {
        let member = blob_path(&checked_digest(digest)?);
        if self.written.insert(member.clone()) {
            copy_blob(self.input, &self.members, &member, &mut self.tar, true)?;
        }
        Ok(())
    }

    /// Writes a new document, once; its digest.
    fn put_document(&mut self, bytes: &[u8]) -> Result<String, ScanError> {
        let digest = crate::image::oci::sha256_digest(bytes);
        let member = blob_path(&digest);
        if self.written.insert(member.clone()) {
            append_member(&mut self.tar, &member, &mut &bytes[..], bytes.len() as u64)
                .map_err(|e| ScanError::Archive(format!("{}: {e}", self.output.display())))?;
        }
        Ok(digest)
    }
}

/// The media type of a layer now stored as `stored`: the same when it says so already (a
/// Docker gzip type stays one), else the OCI type of that compression.
fn layer_media_type(current: &str, stored: Stored) -> &str {
    const OCI: &str = "application/vnd.oci.image.layer.v1.tar";
    const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    match stored {
        Stored::Gzip if current == DOCKER_GZIP => DOCKER_GZIP,
        Stored::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Stored::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Stored::Plain => OCI,
    }
}

/// A descriptor's digest, checked.
fn descriptor_digest(descriptor: &Value) -> Result<String, ScanError> {
    checked_digest(descriptor["digest"].as_str().unwrap_or_default())
}

fn layer_error(digest: &str, message: String) -> ScanError {
    if crate::cancel::requested() {
        ScanError::Interrupted
    } else {
        ScanError::Layer {
            layer: digest.to_string(),
            message,
        }
    }
}

fn megabytes(size: u64) -> String {
    format!("{:.1} MB", size as f64 / 1e6)
}

/// Hashes a layer's tar stream as it is read, for the check against the config's diff ID.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads the rest of the stream, then checks its digest against `diff_id`, what the
    /// config lists for the layer `digest`: a layer whose files are not the ones the config
    /// names is refused, since its rewrite would carry a diff ID no build wrote.
    fn finish(mut self, digest: &str, diff_id: &str) -> Result<R, ScanError> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| layer_error(digest, e.to_string()))?;
        let actual: String = Digest::from_hasher(self.hasher).into();
        if actual != diff_id {
            return Err(layer_error(
                digest,
                format!(
                    "its tar stream hashes to {actual}, but the image config lists the diff ID {} for it; the build's output does not hold together",
                    crate::error::clip(diff_id)
                ),
            ));
        }
        Ok(self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes and counts what is written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and size of what was written so far.
    fn digest(&self) -> (String, u64) {
        (Digest::from_hasher(self.hasher.clone()).into(), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if crate::cancel::requested() {
            return Err(io::Error::other("interrupted"));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 1_700_000_000;

    fn entry(b: &mut tar::Builder<Vec<u8>>, mut header: tar::Header, path: &str, data: &[u8]) {
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut header, path, data).unwrap();
    }

    fn ustar(mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(mtime);
        h
    }

    fn clamped(input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let changed = clamp_times(input, &mut out, EPOCH).unwrap();
        (out, changed)
    }

    /// (path, mtime, data) of each entry, as the tar crate reads them.
    fn entries(bytes: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, e.header().mtime().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn only_times_later_than_the_epoch_change_and_nothing_else_does() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, ustar(EPOCH - 5), "old.txt", b"old");
        entry(&mut b, ustar(EPOCH + 99), "new.txt", b"new contents");
        entry(&mut b, ustar(EPOCH), "same.txt", b"");
        let input = b.into_inner().unwrap();
        let (out, changed) = clamped(&input);
        assert!(changed);
        assert_eq!(out.len(), input.len());
        assert_eq!(
            entries(&out),
            [
                ("old.txt".into(), EPOCH - 5, b"old".to_vec()),
                ("new.txt".into(), EPOCH, b"new contents".to_vec()),
                ("same.txt".into(), EPOCH, vec![]),
            ]
        );
        // Only the clamped header's time and checksum differ.
        let differing: Vec<usize> = (0..input.len()).filter(|&i| input[i] != out[i]).collect();
        assert!(
            differing
                .iter()
                .all(|&i| (1024 + 136..1024 + 156).contains(&i)),
            "{differing:?}"
        );
        // A second pass changes nothing, and the scan agrees with both passes.
        let (again, changed) = clamped(&out);
        assert!(!changed);
        assert_eq!(again, out);
        assert!(holds_later_time(&input[..], EPOCH).unwrap());
        assert!(!holds_later_time(&out[..], EPOCH).unwrap());
        // The scan stops at the first later time: a stream cut after it still answers.
        assert!(holds_later_time(&input[..1024 + 512], EPOCH).unwrap());
    }

    #[test]
    fn gnu_atime_and_ctime_and_pax_times_are_clamped_too() {
        let mut b = tar::Builder::new(Vec::new());
        let mut gnu = tar::Header::new_gnu();
        gnu.set_mtime(EPOCH + 1);
        gnu.as_gnu_mut().unwrap().set_atime(EPOCH + 2);
        gnu.as_gnu_mut().unwrap().set_ctime(EPOCH - 2);
        entry(&mut b, gnu, "gnu.txt", b"g");
        // A PAX header as Go's writer makes it for sub-second times, and one whose time equals
        // the epoch exactly (kept) or by a fraction (clamped).
        let records = [
            pax_record(b"mtime", format!("{}.25", EPOCH + 10).as_bytes()),
            pax_record(b"atime", format!("{EPOCH}.000").as_bytes()),
            pax_record(b"ctime", format!("{EPOCH}.5").as_bytes()),
            pax_record(b"path", b"pax.txt"),
        ]
        .concat();
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_cksum();
        b.append(&pax, &records[..]).unwrap();
        entry(&mut b, ustar(EPOCH + 10), "short", b"p");
        let (out, changed) = clamped(&b.into_inner().unwrap());
        assert!(changed);
        let mut archive = tar::Archive::new(&out[..]);
        let mut read = archive.entries().unwrap();
        let gnu = read.next().unwrap().unwrap();
        let header = gnu.header().as_gnu().unwrap();
        assert_eq!(gnu.header().mtime().unwrap(), EPOCH);
        assert_eq!(header.atime().unwrap(), EPOCH);
        assert_eq!(header.ctime().unwrap(), EPOCH - 2);
        let mut pax = read.next().unwrap().unwrap();
        assert_eq!(pax.path().unwrap().to_str(), Some("pax.txt"));
        let times: Vec<(String, String)> = pax
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| r.unwrap())
            .map(|r| (r.key().unwrap().to_string(), r.value().unwrap().to_string()))
            .filter(|(k, _)| k != "path")
            .collect();
        let epoch = EPOCH.to_string();
        assert_eq!(
            times,
            [
                ("mtime".to_string(), epoch.clone()),
                ("atime".to_string(), format!("{EPOCH}.000")),
                ("ctime".to_string(), epoch),
            ]
        );
        assert_eq!(pax.header().mtime().unwrap(), EPOCH);
    }

    #[test]
    fn a_pax_record_counts_its_own_length() {
        for value in ["", "7", "123456789", &"x".repeat(86), &"x".repeat(95)] {
            let record = pax_record(b"k", value.as_bytes());
            let (length, _) = std::str::from_utf8(&record)
                .unwrap()
                .split_once(' ')
                .unwrap();
            assert_eq!(length.parse::<usize>().unwrap(), record.len(), "{value:?}");
        }
        let later =
            |text: &[u8]| parse_pax_time(text).map(|t| t > Time::from_seconds(EPOCH as i64));
        assert_eq!(later(b"1700000001"), Some(true));
        assert_eq!(later(b"01700000000.1"), Some(true));
        assert_eq!(later(b"+1700000000.1"), Some(true));
        assert_eq!(later(b"1700000000.0"), Some(false));
        assert_eq!(later(b"-99999999999"), Some(false));
        assert_eq!(later(b"999"), Some(false));
        assert_eq!(later(b"1e9"), None);
        assert_eq!(later(b""), None);
    }

    /// A PAX extended header holding `records`, padded to whole blocks.
    fn pax_header(records: &[u8]) -> Vec<u8> {
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_cksum();
        let mut bytes = pax.as_bytes().to_vec();
        bytes.extend_from_slice(records);
        bytes.resize(BLOCK + records.len().div_ceil(BLOCK) * BLOCK, 0);
        bytes
    }

    #[test]
    fn a_pax_size_record_sets_the_next_entrys_data_and_links_carry_none() {
        // A size record longer than the header's: the entry's data is what the record says.
        let mut bytes = pax_header(&pax_record(b"size", b"600"));
        let mut big = ustar(EPOCH + 1);
        big.set_size(0);
        big.set_entry_type(tar::EntryType::Regular);
        big.set_path("big").unwrap();
        big.set_cksum();
        bytes.extend_from_slice(big.as_bytes());
        bytes.extend_from_slice(&[7u8; 1024]);
        let mut link = ustar(EPOCH + 1);
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(512);
        link.set_path("link").unwrap();
        link.set_link_name("big").unwrap();
        link.set_cksum();
        bytes.extend_from_slice(link.as_bytes());
        bytes.extend_from_slice(&[0u8; 1024]);
        let (out, changed) = clamped(&bytes);
        assert!(changed);
        assert_eq!(out.len(), bytes.len());
        // The link's header follows the PAX header, the entry's header and its 600 bytes padded.
        let link_at = 1024 + 512 + 1024;
        assert_eq!(&out[link_at..link_at + 4], b"link");
        assert_eq!(
            go_numeric(&out[link_at + 136..link_at + 148]),
            Some(EPOCH as i64)
        );
    }

    #[test]
    fn a_pax_size_skips_a_gnu_long_name_and_sizes_the_entry_after_it() {
        let mut bytes = pax_header(&pax_record(b"size", b"600"));
        let name = "d/".repeat(60) + "file";
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        long.set_cksum();
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.resize(bytes.len() + 512 - name.len(), 0);
        let mut file = ustar(EPOCH + 1);
        file.set_size(0);
        file.set_entry_type(tar::EntryType::Regular);
        file.set_cksum();
        bytes.extend_from_slice(file.as_bytes());
        bytes.extend_from_slice(&[7u8; 1024]);
        let mut after = ustar(EPOCH + 1);
        after.set_path("after").unwrap();
        after.set_size(0);
        after.set_entry_type(tar::EntryType::Regular);
        after.set_cksum();
        let after_at = bytes.len();
        bytes.extend_from_slice(after.as_bytes());
        bytes.extend_from_slice(&[0u8; 1024]);
        let (out, changed) = clamped(&bytes);
        assert!(changed);
        assert_eq!(out.len(), bytes.len());
        assert_eq!(&out[after_at..after_at + 5], b"after");
        assert_eq!(
            go_numeric(&out[after_at + 136..after_at + 148]),
            Some(EPOCH as i64)
        );
    }

    #[test]
    fn broken_streams_are_errors_not_panics() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, ustar(EPOCH + 1), "f", &[1u8; 700]);
        let good = b.into_inner().unwrap();
        for cut in [100, 512, 700, 1200] {
            assert!(
                clamp_times(&good[..cut], io::sink(), EPOCH).is_err(),
                "{cut}"
            );
        }
        let mut bad = good.clone();
        bad[136..148].copy_from_slice(b"notanumber!\0");
        assert!(clamp_times(&bad[..], io::sink(), EPOCH).is_err());
        assert!(clamp_times(&good[..], io::sink(), 8u64.pow(11)).is_err());
    }

    #[test]
    fn a_real_buildkit_copy_layer_is_clamped_and_keeps_its_files() {
        // The COPY layer of a release built by BuildKit 0.13 without rewrite-timestamp: the
        // directories and files carry the build's and the checkout's times.
        let blob = include_bytes!("../../tests/fixtures/layers/buildkit-copy.tar.gz");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut tar)
            .unwrap();
        let before = entries(&tar);
        assert!(before.iter().all(|(_, mtime, _)| *mtime > EPOCH));
        let (out, changed) = clamped(&tar);
        assert!(changed);
        let after = entries(&out);
        assert_eq!(after.len(), before.len());
        for ((path, _, data), (path2, mtime, data2)) in before.iter().zip(&after) {
            assert_eq!((path, data), (path2, data2));
            assert_eq!(*mtime, EPOCH);
        }
        let mut stream = crate::image::tarstream::TarStream::new(&out[..]);
        while let Some(h) = stream.next_header().unwrap() {
            assert_eq!(h.mtime, EPOCH as i64, "{}", h.path);
        }
    }

    fn layer_tar(mtime: u64) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, ustar(mtime), "app/file.txt", b"contents");
        b.into_inner().unwrap()
    }

    fn gzip(tar: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn sha(bytes: &[u8]) -> String {
        crate::image::oci::sha256_digest(bytes)
    }

    /// An OCI archive of one image whose layers are these blobs (and their tar streams).
    fn archive(dir: &Path, layers: &[(Vec<u8>, Vec<u8>)]) -> std::path::PathBuf {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(t, _)| sha(t)).collect::<Vec<_>>()},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
            "layers": layers.iter().map(|(_, b)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b), "size": b.len()})).collect::<Vec<_>>(),
        }))
        .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len(),
                "annotations": {"io.containerd.image.name": "example.com/app:1"}}],
        }))
        .unwrap();
        let path = dir.join("in.tar");
        let mut b = tar::Builder::new(Vec::new());
        let blobs = [config.clone(), manifest.clone()];
        for blob in blobs.iter().chain(layers.iter().map(|(_, b)| b)) {
            let mut h = tar::Header::new_ustar();
            h.set_size(blob.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, blob_path(&sha(blob)), &blob[..])
                .unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(index.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "index.json", &index[..]).unwrap();
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        path
    }

    /// Two builders compressed the same tar differently (another Go, another variant the
    /// engine held): re-encoded, both give the same archive, and a known layer is kept.
    #[test]
    fn reencoding_makes_the_same_tars_the_same_bytes_whoever_compressed_them() {
        let dir = tempfile::tempdir().unwrap();
        let old = layer_tar(EPOCH - 100);
        let pulled = layer_tar(EPOCH - 200);
        let pulled_blob = gzip(&pulled);
        let level = |tar: &[u8], n: u32| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(n));
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        };
        let known = BTreeSet::from([sha(&pulled_blob)]);
        let clamp = |name: &str, blob: Vec<u8>| {
            let input = archive(
                &dir.path().join(name),
                &[(pulled.clone(), pulled_blob.clone()), (old.clone(), blob)],
            );
            let out = dir.path().join(format!("{name}.out"));
            let done = clamp_archive(
                &input,
                &out,
                EPOCH as i64,
                &known,
                Reencode::Every(Stored::Gzip, Encoding::SingleStream),
                Configs::AsBuilt,
                &|_| {},
            )
            .unwrap();
            (std::fs::read(&out).unwrap(), done)
        };
        std::fs::create_dir_all(dir.path().join("one")).unwrap();
        std::fs::create_dir_all(dir.path().join("two")).unwrap();
        let (one, done) = clamp("one", level(&old, 1));
        let (two, _) = clamp("two", level(&old, 9));
        assert_ne!(level(&old, 1), level(&old, 9));
        assert_eq!(one, two, "the same tar, re-encoded, is the same archive");
        // An engine that held an uncompressed or zstd variant of the layer exports that one:
        // re-encoded in the lock's compression, it is the same archive too.
        std::fs::create_dir_all(dir.path().join("plain")).unwrap();
        std::fs::create_dir_all(dir.path().join("zstd")).unwrap();
        let (plain, _) = clamp("plain", old.clone());
        let (zstd, _) = clamp("zstd", zstd::encode_all(&old[..], 19).unwrap());
        assert_eq!(one, plain, "an uncompressed variant");
        assert_eq!(one, zstd, "a zstd variant");
        assert_eq!(
            (done.rewritten.len(), done.unchanged, done.known),
            (1, 0, 1)
        );
    }

    #[test]
    fn an_archive_keeps_every_blob_that_needs_no_clamp_and_ties_the_new_layer_to_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let old = layer_tar(EPOCH - 100);
        let new = layer_tar(EPOCH + 100);
        let known_tar = layer_tar(EPOCH + 200);
        let known_blob = zstd::encode_all(&known_tar[..], 1).unwrap();
        let input = archive(
            dir.path(),
            &[
                (old.clone(), gzip(&old)),
                (new.clone(), gzip(&new)),
                (known_tar.clone(), known_blob.clone()),
            ],
        );
        let known = BTreeSet::from([sha(&known_blob)]);
        let heard = std::cell::RefCell::new(Vec::new());
        let clamp = |out: &str| {
            let out = dir.path().join(out);
            let done = clamp_archive(
                &input,
                &out,
                EPOCH as i64,
                &known,
                Reencode::Later,
                Configs::AsBuilt,
                &|m| heard.borrow_mut().push(m.to_string()),
            )
            .unwrap();
            (out, done)
        };
        let (out, done) = clamp("out.tar");
        assert_eq!(done.rewritten, [sha(&gzip(&new))]);
        assert_eq!((done.unchanged, done.known), (1, 1));
        assert_eq!(heard.borrow().len(), 1, "{heard:?}");
        let image =
            crate::image::archive::read_image(&out, &crate::image::archive::Select::Only).unwrap();
        assert_eq!(image.layers[0], sha(&gzip(&old)));
        assert_eq!(image.layers[2], sha(&known_blob));
        assert_ne!(image.layers[1], sha(&gzip(&new)));
        // The new layer's blob, its tar stream and the config's diff ID agree.
        let (members, json, _) = archive_documents(&out).unwrap();
        let config: Value =
            serde_json::from_slice(&json[&blob_path(&image.config_digest)]).unwrap();
        let (offset, size) = members[&blob_path(&image.layers[1])];
        let bytes = std::fs::read(&out).unwrap();
        let blob = &bytes[offset as usize..(offset + size) as usize];
        assert_eq!(sha(blob), image.layers[1]);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][1], sha(&tar));
        assert_eq!(config["rootfs"]["diff_ids"][0], sha(&old));
        assert_eq!(
            entries(&tar),
            [("app/file.txt".into(), EPOCH, b"contents".to_vec())]
        );
        // The image's name is kept, and the same input gives the same bytes.
        assert!(json["index.json"]
            .windows(17)
            .any(|w| w == b"example.com/app:1"));
        let (again, _) = clamp("again.tar");
        assert_eq!(std::fs::read(again).unwrap(), bytes);
    }

    #[test]
    fn a_layer_whose_tar_is_not_the_configs_diff_id_is_refused_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let listed = layer_tar(EPOCH - 100);
        let shipped = layer_tar(EPOCH - 50);
        // The config lists the diff ID of one tar; the blob holds another.
        let input = archive(dir.path(), &[(listed, gzip(&shipped))]);
        let out = dir.path().join("out.tar");
        for reencode in [
            Reencode::Every(Stored::Gzip, Encoding::SingleStream),
            Reencode::Later,
        ] {
            let err = clamp_archive(
                &input,
                &out,
                EPOCH as i64,
                &BTreeSet::new(),
                reencode,
                Configs::AsBuilt,
                &|_| {},
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(&format!(
                    "its tar stream hashes to {}, but the image config lists the diff ID",
                    sha(&shipped)
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn the_canonical_form_rewrites_a_config_even_when_no_layer_changes() {
        let dir = tempfile::tempdir().unwrap();
        let old = layer_tar(EPOCH - 100);
        let blob = gzip(&old);
        let input = archive(dir.path(), &[(old.clone(), blob.clone())]);
        let out = dir.path().join("out.tar");
        let base = BTreeMap::from([(
            "linux/amd64".to_string(),
            vec![serde_json::json!({"created": "2020-01-01T00:00:00Z"})],
        )]);
        // The test archive's config has no history: a base with one entry cannot be its base.
        let known = BTreeSet::from([sha(&blob)]);
        let err = clamp_archive(
            &input,
            &out,
            EPOCH as i64,
            &known,
            Reencode::Every(Stored::Gzip, Encoding::SingleStream),
            Configs::Canonical(&base),
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cannot be put into the canonical form: its history has 0 entries, fewer than the 1 its base image gave it"),
            "{err}"
        );
        // With no base, the config is written by this tool (keys sorted) and the layer kept.
        let before =
            crate::image::archive::read_image(&input, &crate::image::archive::Select::Only)
                .unwrap();
        clamp_archive(
            &input,
            &out,
            EPOCH as i64,
            &known,
            Reencode::Every(Stored::Gzip, Encoding::SingleStream),
            Configs::Canonical(&BTreeMap::new()),
            &|_| {},
        )
        .unwrap();
        let after =
            crate::image::archive::read_image(&out, &crate::image::archive::Select::Only).unwrap();
        assert_eq!(after.layers, before.layers);
        let (_, json, _) = archive_documents(&out).unwrap();
        let config: Value =
            serde_json::from_slice(&json[&blob_path(&after.config_digest)]).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha(&old));
    }

    #[test]
    fn an_archive_with_nothing_to_clamp_keeps_its_digests() {
        let dir = tempfile::tempdir().unwrap();
        let old = layer_tar(EPOCH);
        let input = archive(dir.path(), &[(old.clone(), gzip(&old))]);
        let before =
            crate::image::archive::read_image(&input, &crate::image::archive::Select::Only)
                .unwrap();
        let out = dir.path().join("out.tar");
        let done = clamp_archive(
            &input,
            &out,
            EPOCH as i64,
            &BTreeSet::new(),
            Reencode::Later,
            Configs::AsBuilt,
            &|_| {},
        )
        .unwrap();
        assert!(done.rewritten.is_empty());
        let after =
            crate::image::archive::read_image(&out, &crate::image::archive::Select::Only).unwrap();
        assert_eq!(after, before);
        // A blob that does not hash to its name is refused, not copied.
        let mut bytes = std::fs::read(&input).unwrap();
        let (members, _, _) = archive_documents(&input).unwrap();
        let (offset, _) = members[&blob_path(&before.layers[0])];
        bytes[offset as usize + 20] ^= 1;
        std::fs::write(&input, bytes).unwrap();
        assert!(clamp_archive(
            &input,
            &out,
            EPOCH as i64,
            &BTreeSet::new(),
            Reencode::Later,
            Configs::AsBuilt,
            &|_| {}
        )
        .is_err());
    }
}
