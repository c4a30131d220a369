//! The one layer opener: a layer blob's compression found by its magic bytes (gzip, zstd or
//! none), its expansion bounded (a decompression bomb stops), and its bytes hashed against its
//! digest. The inventory, diff and verify open layers here and nowhere else.

use std::cell::RefCell;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

use crate::image::digest::Digest;
use crate::image::tarstream::TarError;

/// A layer may expand to at most this many times its compressed size, plus the floor.
pub(crate) const BOMB_RATIO: u64 = 1000;
pub(crate) const BOMB_FLOOR: u64 = 1 << 30;

pub(crate) fn describe_tar_error(e: TarError) -> String {
    match e {
        TarError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            format!("truncated ({io})")
        }
        TarError::Io(io) => format!("corrupt or truncated ({io})"),
        other => other.to_string(),
    }
}

/// Counts and hashes the compressed bytes of a layer as they are read.
pub(crate) struct Hashing<R> {
    pub(crate) inner: R,
    pub(crate) state: Rc<RefCell<(Sha256, u64)>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.state.borrow_mut();
        s.0.update(&buf[..n]);
        s.1 += n as u64;
        Ok(n)
    }
}

/// Refuses to produce more than `limit` bytes: a decompression bomb stops here.
pub(crate) struct Bounded<R> {
    inner: R,
    produced: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.produced > self.limit {
            return Err(io::Error::other(format!(
                "expands past {} bytes; refusing a decompression bomb",
                self.limit
            )));
        }
        Ok(n)
    }
}

/// How a layer blob is stored, told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Gzip,
    Zstd,
    Plain,
}

impl Stored {
    pub fn of(magic: &[u8]) -> Stored {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Stored::Gzip
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            Stored::Zstd
        } else {
            Stored::Plain
        }
    }
}

/// A layer blob's tar stream, whatever it is stored as: gzip, zstd or plain tar, told apart
/// by `magic` (its first bytes, already read from `rest`).
pub(crate) fn decompress<'a, R: Read + 'a>(
    magic: &[u8],
    rest: R,
) -> io::Result<Box<dyn Read + 'a>> {
    let head = io::Cursor::new(magic.to_vec());
    let reader = BufReader::with_capacity(1 << 16, head.chain(rest));
    Ok(match Stored::of(magic) {
        Stored::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Stored::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(reader)
                .map_err(|e| io::Error::other(format!("zstd: {e}")))?,
        ),
        Stored::Plain => Box::new(reader),
    })
}

/// Reads up to four bytes, for [`decompress`].
pub(crate) fn read_magic<R: Read>(reader: &mut R) -> io::Result<([u8; 4], usize)> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match reader.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok((magic, got))
}

/// The most a layer blob of `size` compressed bytes may expand to.
pub(crate) fn bomb_limit(size: u64) -> u64 {
    size.saturating_mul(BOMB_RATIO).saturating_add(BOMB_FLOOR)
}

/// A layer blob opened for its tar stream, the one way every reader of layers opens them:
/// gzip, zstd or plain told apart by magic bytes; the output bounded against decompression
/// bombs (1000:1 plus 1 GiB); the compressed bytes hashed for [`OpenLayer::finish`]; and
/// Ctrl-C stops a read.
pub struct OpenLayer<'a> {
    tar: Bounded<Box<dyn Read + 'a>>,
    hash: Rc<RefCell<(Sha256, u64)>>,
    stored: Stored,
}

/// Opens a layer blob of `size` compressed bytes (see [`OpenLayer`]).
pub fn open_layer<'a, R: Read + 'a>(blob: R, size: u64) -> Result<OpenLayer<'a>, String> {
    open_layer_within(blob, bomb_limit(size))
}

pub(crate) fn open_layer_within<'a, R: Read + 'a>(
    blob: R,
    limit: u64,
) -> Result<OpenLayer<'a>, String> {
    let hash = Rc::new(RefCell::new((Sha256::new(), 0u64)));
    let mut hashing = Hashing {
        inner: blob,
        state: hash.clone(),
    };
    // A short read must not hide the magic bytes, so read until there are four (or the end).
    let (magic, got) = read_magic(&mut hashing).map_err(|e| format!("unreadable ({e})"))?;
    let decoded = decompress(&magic[..got], hashing).map_err(|e| e.to_string())?;
    Ok(OpenLayer {
        tar: Bounded {
            inner: decoded,
            produced: 0,
            limit,
        },
        hash,
        stored: Stored::of(&magic[..got]),
    })
}

impl Read for OpenLayer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if crate::cancel::requested() {
            return Err(io::Error::other("interrupted"));
        }
        self.tar.read(buf)
    }
}

impl OpenLayer<'_> {
    /// How the blob is stored.
    pub fn stored(&self) -> Stored {
        self.stored
    }

    /// Reads the rest (gzip checks its CRC at the end, and the digest covers every byte), then
    /// checks the blob's sha256 against `digest` when one is given.
    pub fn finish(mut self, digest: Option<&str>) -> Result<(), String> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| format!("corrupt or truncated ({e})"))?;
        let OpenLayer { tar, hash, .. } = self;
        drop(tar);
        if let Some(expected) = digest {
            let (hasher, read) = Rc::try_unwrap(hash)
                .map(RefCell::into_inner)
                .unwrap_or_else(|rc| rc.borrow().clone());
            let actual = Digest::from_hasher(hasher);
            if actual.as_str() != expected {
                return Err(format!(
                    "its {read} bytes hash to {actual}; the blob is corrupt or truncated"
                ));
            }
        }
        Ok(())
    }
}
