//! The one tar header reader: every layer and archive the project reads (the clamp, the
//! inventory, the archive reader, the file diff) is read here, and read as Go's `archive/tar`
//! reads it, since that is what the Docker engine and containerd unpack layers with. Where tar
//! readers disagree (which types carry data, the old NUL type with a trailing slash, the GNU
//! atime field that does not parse and so makes bytes 345–500 a name prefix, empty PAX records,
//! the characters a number may be padded with), a reader that disagrees with the engine can
//! be shown one file while the engine creates another. `tests/hostile/tar.rs` checks this
//! reader against Go's on every hostile layer and on thousands of mutated ones.
//!
//! It is also bounded, for untrusted input: every extended header is at most
//! [`MAX_EXTENDED_HEADER`] bytes (as Go's), every entry at most [`MAX_ENTRY`], every checksum
//! is checked, offsets are added with checked arithmetic, data is skipped forwards only, and
//! the reader stops between headers when the user interrupts.

use std::collections::BTreeMap;
use std::io::{self, Read};

/// Largest GNU long name or PAX header accepted (Go's limit too).
pub const MAX_EXTENDED_HEADER: u64 = 1 << 20;
/// Largest entry accepted (1 TiB): far beyond any real file or layer, far below the sizes
/// whose padding or sum overflows.
pub const MAX_ENTRY: u64 = 1 << 40;

pub const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

/// A point in time as Go's `time.Time` holds it: seconds since the epoch, and nanoseconds
/// after them (`0..1_000_000_000`, also for times before the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    pub seconds: i64,
    pub nanos: u32,
}

impl Time {
    pub const fn from_seconds(seconds: i64) -> Time {
        Time { seconds, nanos: 0 }
    }

    /// Go's `time.Unix(seconds, nanos)` for `nanos` within one second either way.
    fn unix(seconds: i64, nanos: i64) -> Time {
        if nanos < 0 {
            Time {
                seconds: seconds.wrapping_sub(1),
                nanos: (nanos + 1_000_000_000) as u32,
            }
        } else {
            Time {
                seconds,
                nanos: nanos as u32,
            }
        }
    }
}

/// Which header layout a block has, told as Go tells it: by its checksum and magic bytes,
/// and, for GNU, by whether its atime and ctime fields parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No magic: name, link and the numeric fields only.
    V7,
    /// `ustar\0` `00` (also PAX): a 155-byte name prefix at 345.
    Ustar,
    /// USTAR with STAR's `tar\0` trailer: a 131-byte prefix, then atime and ctime.
    Star,
    /// `ustar ` ` \0`: atime at 345 and ctime at 357, each read when its first byte is not NUL.
    Gnu,
    /// A GNU header whose atime or ctime does not parse: Go (for files written by Go before
    /// 1.8) reads bytes 345–500 as a USTAR name prefix instead, when they are ASCII.
    GnuWithPrefix,
}

impl Format {
    /// Where Go reads a time in a header of this format, besides the mtime at 136: a GNU
    /// atime or ctime only when its first byte is not NUL.
    pub fn time_fields(self, block: &[u8; BLOCK]) -> Vec<std::ops::Range<usize>> {
        let mut fields = Vec::with_capacity(3);
        fields.push(136..148);
        match self {
            Format::Gnu => fields.extend(
                [345..357, 357..369]
                    .into_iter()
                    .filter(|f| block[f.start] != 0),
            ),
            Format::Star => fields.extend([476..488, 488..500]),
            Format::V7 | Format::Ustar | Format::GnuWithPrefix => {}
        }
        fields
    }
}

/// One header block as Go's `readHeader` reads it, before extended headers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub format: Format,
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub size: i64,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub mtime: i64,
    pub atime: Option<i64>,
    pub ctime: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// As stored: may be absolute or contain `..`; callers treat it as data.
    pub path: String,
    pub kind: Kind,
    /// The type flag as Go reports it: the old NUL type is `0`, or `5` when the name ends
    /// in `/`.
    pub typeflag: u8,
    /// Bytes of data that follow the header: none for the types Go reads no data for (links,
    /// devices, directories, FIFOs), whatever their size field says.
    pub size: u64,
    /// The size Go reports (`Header.Size`): the size field or PAX `size`, even for a link;
    /// a sparse file's full size.
    pub declared_size: i64,
    pub link: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch (the whole seconds of `modified`).
    pub mtime: i64,
    pub modified: Time,
    /// The access and change times Go reads (GNU and STAR fields, PAX records), if any.
    pub accessed: Option<Time>,
    pub changed: Option<Time>,
    /// `SCHILY.xattr.*` PAX records, sorted.
    pub xattrs: Vec<(String, String)>,
}

/// What the reader passed over on its way to an entry's data, kept when asked for
/// ([`TarStream::recording`]) so that the clamp can write the stream again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes between headers: the previous entry's unread data and padding, a GNU sparse
    /// map's extension blocks, the end-of-archive blocks.
    Bytes(Vec<u8>),
    /// A header block.
    Header(Box<[u8; BLOCK]>),
    /// The data of the extended header (PAX records, GNU long name or link) just before it,
    /// and its padding.
    Extended { data: Vec<u8>, padding: Vec<u8> },
}

pub struct TarStream<R> {
    inner: R,
    /// Bytes of the archive consumed so far.
    offset: u64,
    /// Skips entry data by seeking instead of reading, for files.
    seek: Option<fn(&mut R, u64) -> io::Result<()>>,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    /// The archive's length, when known (a file): no entry may reach past it.
    length: Option<u64>,
    done: bool,
    /// Whether the end-of-archive block was read: a stream that simply stops is truncated.
    end_marker: bool,
    /// Everything passed over since the last [`TarStream::take_pieces`], when recording.
    pieces: Option<Vec<Piece>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("corrupt tar header ({0})")]
    Corrupt(String),
    #[error("a {kind} header of {size} bytes is larger than the {MAX_EXTENDED_HEADER}-byte limit")]
    Gigantic { kind: &'static str, size: u64 },
    #[error("an entry declares {size} bytes, more than the {MAX_ENTRY}-byte limit for one entry; the archive is corrupt or hostile")]
    TooLarge { size: u64 },
    #[error("an entry declares {size} bytes at offset {offset}, past the end of the {length}-byte archive; it is truncated or corrupt")]
    PastEnd { size: u64, offset: u64, length: u64 },
    #[error("{0} is a GNU sparse file in PAX form, which this reader does not expand; repack the layer without --sparse")]
    Sparse(String),
    #[error("interrupted")]
    Interrupted,
}

fn corrupt(what: impl Into<String>) -> TarError {
    TarError::Corrupt(what.into())
}

/// The types Go's reader gives no data, whatever their size field says.
fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1'..=b'6')
}

impl<R: Read> TarStream<R> {
    pub fn new(inner: R) -> Self {
        TarStream {
            inner,
            offset: 0,
            seek: None,
            remaining: 0,
            padding: 0,
            length: None,
            done: false,
            end_marker: false,
            pieces: None,
        }
    }

    /// A reader over a file of `length` bytes that skips data with `seek` (forwards, by at
    /// most [`MAX_ENTRY`] plus padding) instead of reading it. No entry may reach past `length`.
    pub fn with_seek(inner: R, seek: fn(&mut R, u64) -> io::Result<()>, length: u64) -> Self {
        TarStream {
            seek: Some(seek),
            length: Some(length),
            ..TarStream::new(inner)
        }
    }

    /// A reader that keeps every byte it passes over outside entry data, as [`Piece`]s.
    pub fn recording(inner: R) -> Self {
        TarStream {
            pieces: Some(Vec::new()),
            ..TarStream::new(inner)
        }
    }

    /// What was passed over since the last call (recording readers only).
    pub fn take_pieces(&mut self) -> Vec<Piece> {
        self.pieces.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, piece: Piece) {
        if let Some(pieces) = &mut self.pieces {
            pieces.push(piece);
        }
    }

    /// Makes `size` the current entry's data size, refusing a size no archive can hold.
    fn set_entry_size(&mut self, size: u64) -> Result<(), TarError> {
        if size > MAX_ENTRY {
            return Err(TarError::TooLarge { size });
        }
        let padding = (512 - size % 512) % 512;
        if let Some(length) = self.length {
            // The data must fit; a missing final padding is tolerated, as tar does.
            if self
                .offset
                .checked_add(size)
                .map_or(true, |end| end > length)
            {
                return Err(TarError::PastEnd {
                    size,
                    offset: self.offset,
                    length,
                });
            }
        }
        self.remaining = size;
        self.padding = padding;
        Ok(())
    }

    /// Go's `handleRegularFile`: the data that follows a header of this type and size.
    fn set_data(&mut self, typeflag: u8, size: i64) -> Result<(), TarError> {
        let size = if header_only(typeflag) { 0 } else { size };
        let size = u64::try_from(size).map_err(|_| corrupt(format!("negative size {size}")))?;
        self.set_entry_size(size)
    }

    fn advance(&mut self, n: u64) -> Result<(), TarError> {
        self.offset = self
            .offset
            .checked_add(n)
            .ok_or_else(|| corrupt("offset overflows"))?;
        Ok(())
    }

    /// Where the next unread byte is in the archive: after `next_header`, where the entry's
    /// data starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// After [`Self::next_header`] gave `None`: did the archive end with tar's end-of-archive
    /// block, or did the bytes just stop (a truncated file or stream)?
    pub fn reached_end_marker(&self) -> bool {
        self.end_marker
    }

    /// Reads one block, recording it; `None` at a clean end of stream.
    fn next_block(&mut self) -> Result<Option<Box<[u8; BLOCK]>>, TarError> {
        let mut block = Box::new([0u8; BLOCK]);
        if !read_block(&mut self.inner, &mut block)? {
            return Ok(None);
        }
        self.advance(BLOCK as u64)?;
        Ok(Some(block))
    }

    /// The next entry's header, skipping the rest of the previous entry. Extended headers
    /// (PAX, GNU long names and links) apply to the entry after them, as in Go's `Next`: PAX
    /// records replace the header's fields unless empty, a GNU long name or link wins over
    /// them, and a PAX global header is an entry of its own that the engine ignores, so it is
    /// skipped here and ends the extended headers before it.
    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        let mut long_name: Vec<u8> = Vec::new();
        let mut long_link: Vec<u8> = Vec::new();
        let mut pax: BTreeMap<String, String> = BTreeMap::new();
        loop {
            if crate::cancel::requested() {
                return Err(TarError::Interrupted);
            }
            self.skip_rest()?;
            if self.done {
                return Ok(None);
            }
            let Some(block) = self.next_block()? else {
                self.done = true;
                return Ok(None);
            };
            if block.iter().all(|b| *b == 0) {
                // Go ends at two zero blocks, or one and the end of the stream; a header
                // after one zero block is an error.
                self.done = true;
                self.end_marker = true;
                self.record(Piece::Bytes(block.to_vec()));
                let Some(second) = self.next_block()? else {
                    return Ok(None);
                };
                let zero = second.iter().all(|b| *b == 0);
                self.record(Piece::Bytes(second.to_vec()));
                if !zero {
                    return Err(corrupt("a header after an end-of-archive block"));
                }
                return Ok(None);
            }
            let raw = decode_block(&block)?;
            self.record(Piece::Header(block.clone()));
            match raw.typeflag {
                b'L' | b'K' | b'x' | b'g' => {
                    self.set_data(raw.typeflag, raw.size)?;
                    let kind = match raw.typeflag {
                        b'L' => "GNU long name",
                        b'K' => "GNU long link",
                        _ => "PAX",
                    };
                    if self.remaining > MAX_EXTENDED_HEADER {
                        return Err(TarError::Gigantic {
                            kind,
                            size: self.remaining,
                        });
                    }
                    let data = self.read_data(self.remaining)?;
                    let padding = self.read_padding()?;
                    match raw.typeflag {
                        b'L' => long_name = c_string(&data).to_vec(),
                        b'K' => long_link = c_string(&data).to_vec(),
                        b'x' => pax = pax_map(&data)?,
                        _ => {
                            pax_map(&data)?;
                            long_name.clear();
                            long_link.clear();
                            pax.clear();
                        }
                    }
                    self.record(Piece::Extended { data, padding });
                    continue;
                }
                // Go checks the header's own size before PAX records replace it; the data is
                // set up from the final size below.
                typeflag if raw.size < 0 && !header_only(typeflag) => {
                    return Err(corrupt(format!("negative size {}", raw.size)));
                }
                _ => {}
            }
            return self
                .entry(raw, &block, &pax, long_name, long_link)
                .map(Some);
        }
    }

    /// An entry's header from its block, the PAX records and GNU long names before it.
    fn entry(
        &mut self,
        raw: Block,
        block: &[u8; BLOCK],
        pax: &BTreeMap<String, String>,
        long_name: Vec<u8>,
        long_link: Vec<u8>,
    ) -> Result<Header, TarError> {
        let mut path = String::from_utf8_lossy(&raw.name).into_owned();
        let mut link = String::from_utf8_lossy(&raw.link).into_owned();
        let (mut uid, mut gid, mut size) = (raw.uid, raw.gid, raw.size);
        let mut modified = Time::from_seconds(raw.mtime);
        let mut accessed = raw.atime.map(Time::from_seconds);
        let mut changed = raw.ctime.map(Time::from_seconds);
        let mut xattrs = Vec::new();
        let bad = |key: &str, value: &str| {
            corrupt(format!(
                "PAX {key} {:?} is not a number",
                crate::error::clip(value)
            ))
        };
        for (key, value) in pax {
            if value.is_empty() {
                continue; // Go keeps the header's own field.
            }
            let number = || go_parse_int(value.as_bytes()).ok_or_else(|| bad(key, value));
            let time = || parse_pax_time(value.as_bytes()).ok_or_else(|| bad(key, value));
            match key.as_str() {
                "path" => path = value.clone(),
                "linkpath" => link = value.clone(),
                "uid" => uid = number()?,
                "gid" => gid = number()?,
                // A size past 2^63 is refused by Go as not a number; it is named as a size.
                "size" => {
                    size = number().map_err(|e| match value.parse::<u64>() {
                        Ok(size) => TarError::TooLarge { size },
                        Err(_) => e,
                    })?
                }
                "mtime" => modified = time()?,
                "atime" => accessed = Some(time()?),
                "ctime" => changed = Some(time()?),
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        xattrs.push((name.to_string(), value.clone()));
                    }
                }
            }
        }
        if !long_name.is_empty() {
            path = String::from_utf8_lossy(&long_name).into_owned();
        }
        if !long_link.is_empty() {
            link = String::from_utf8_lossy(&long_link).into_owned();
        }
        // The old regular type: a directory when the name ends in a slash (Go's rule, and so
        // the engine's), a regular file otherwise.
        let typeflag = match raw.typeflag {
            0 if path.ends_with('/') => b'5',
            0 => b'0',
            t => t,
        };
        self.set_data(typeflag, size)?;
        if typeflag == b'S' {
            size = self.old_gnu_sparse(&raw, block)?;
        } else if pax_sparse(pax) {
            return Err(TarError::Sparse(format!("{:?}", crate::error::clip(&path))));
        }
        let kind = match typeflag {
            b'0' | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink,
            b'1' => Kind::Hardlink,
            _ => Kind::Other,
        };
        xattrs.sort();
        Ok(Header {
            path,
            kind,
            typeflag,
            size: self.remaining,
            declared_size: size,
            link,
            mode: (raw.mode as u32) & 0o7777,
            uid: uid as u64,
            gid: gid as u64,
            mtime: modified.seconds,
            modified,
            accessed,
            changed,
            xattrs,
        })
    }

    /// Reads an old GNU sparse entry's map (and its extension blocks, which precede the data)
    /// and checks it as Go does; the file's full size. The data stays as stored: the engine
    /// does not unpack this type, and no caller reads it.
    fn old_gnu_sparse(&mut self, raw: &Block, block: &[u8; BLOCK]) -> Result<i64, TarError> {
        if !matches!(raw.format, Format::Gnu | Format::GnuWithPrefix) {
            return Err(corrupt("a sparse entry in a header that is not GNU"));
        }
        let full = go_numeric(&block[483..495]).ok_or_else(|| corrupt("sparse size"))?;
        let mut regions: Vec<(i64, i64)> = Vec::new();
        let mut current: Box<[u8; BLOCK]> = Box::new(*block);
        let (mut at, mut entries, mut extended_at) = (386, 4, 482);
        loop {
            for i in 0..entries {
                let entry = &current[at + i * 24..at + i * 24 + 24];
                if entry[0] == 0 {
                    break;
                }
                let offset = go_numeric(&entry[..12]).ok_or_else(|| corrupt("sparse offset"))?;
                let length = go_numeric(&entry[12..]).ok_or_else(|| corrupt("sparse length"))?;
                regions.push((offset, length));
                if regions.len() > 1 << 20 {
                    return Err(corrupt("a sparse map of more than a million regions"));
                }
            }
            if current[extended_at] == 0 {
                break;
            }
            let mut next = Box::new([0u8; BLOCK]);
            if !read_block(&mut self.inner, &mut next)? {
                return Err(TarError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.advance(BLOCK as u64)?;
            self.record(Piece::Bytes(next.to_vec()));
            current = next;
            (at, entries, extended_at) = (0, 21, 504);
        }
        let mut end = 0i64;
        for (offset, length) in regions {
            let valid = offset >= 0
                && length >= 0
                && offset <= i64::MAX - length
                && offset + length <= full
                && end <= offset;
            if !valid {
                return Err(corrupt("a sparse map out of order or past the file's size"));
            }
            end = offset + length;
        }
        if full < 0 {
            return Err(corrupt("a negative sparse size"));
        }
        Ok(full)
    }

    /// Reads the current entry's data, all of it (callers check the size first).
    pub fn read_data(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let take = size.min(self.remaining);
        let mut data = Vec::with_capacity(take.min(1 << 20) as usize);
        (&mut self.inner).take(take).read_to_end(&mut data)?;
        if (data.len() as u64) < take {
            return Err(TarError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends inside a file",
            )));
        }
        self.remaining -= take;
        self.advance(take)?;
        Ok(data)
    }

    /// Reads the padding after fully read data (Go tolerates a stream that ends in it).
    fn read_padding(&mut self) -> Result<Vec<u8>, TarError> {
        let mut padding = Vec::with_capacity(self.padding as usize);
        (&mut self.inner)
            .take(self.padding)
            .read_to_end(&mut padding)?;
        self.advance(padding.len() as u64)?;
        self.padding = 0;
        Ok(padding)
    }

    /// A reader over the rest of the current entry's data.
    pub fn data(&mut self) -> EntryReader<'_, R> {
        EntryReader { stream: self }
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        if self.pieces.is_some() {
            let data = self.read_data(self.remaining)?;
            let padding = self.read_padding()?;
            if !data.is_empty() || !padding.is_empty() {
                self.record(Piece::Bytes([data, padding].concat()));
            }
            return Ok(());
        }
        // Both are bounded by `set_entry_size`, so the sum cannot overflow.
        let data = self.remaining;
        let skip = self.remaining + self.padding;
        if skip > 0 {
            if let Some(seek) = self.seek {
                seek(&mut self.inner, skip)?;
                self.advance(skip)?;
            } else {
                let copied = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
                // As Go: a stream may end inside the padding of its last entry.
                if copied < data {
                    return Err(TarError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer is truncated",
                    )));
                }
                self.advance(copied)?;
            }
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    /// The underlying reader, for what follows the end of the archive.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

pub struct EntryReader<'a, R> {
    stream: &'a mut TarStream<R>,
}

impl<R: Read> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = (buf.len() as u64).min(self.stream.remaining) as usize;
        if max == 0 {
            return Ok(0);
        }
        let n = self.stream.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside a file",
            ));
        }
        self.stream.remaining -= n as u64;
        // Bounded by the entry's size, itself bounded by `set_entry_size`.
        self.stream.offset = self.stream.offset.saturating_add(n as u64);
        Ok(n)
    }
}

/// Fills `block`; false on a clean end of stream before the first byte.
fn read_block<R: Read>(r: &mut R, block: &mut [u8; BLOCK]) -> Result<bool, TarError> {
    let mut filled = 0;
    while filled < BLOCK {
        match r.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(TarError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive ends inside a header",
                )))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// A header block as Go's `readHeader` reads it: the checksum (unsigned or signed sum) must
/// match, and every numeric field Go parses must parse, else the engine refuses the layer.
pub fn decode_block(block: &[u8; BLOCK]) -> Result<Block, TarError> {
    let stored = parse_octal(&block[148..156]).ok_or_else(|| corrupt("unreadable checksum"))?;
    // Both sums Go accepts; the checksum field counts as eight spaces.
    let outside = || block[..148].iter().chain(&block[156..]);
    let unsigned = outside().map(|&b| b as i64).sum::<i64>() + 8 * 32;
    let signed = outside().map(|&b| b as i8 as i64).sum::<i64>() + 8 * 32;
    if stored != unsigned && stored != signed {
        return Err(corrupt(format!(
            "checksum {stored} does not match {unsigned}"
        )));
    }
    let mut format = if &block[257..263] == b"ustar\0" {
        if &block[508..512] == b"tar\0" {
            Format::Star
        } else {
            Format::Ustar
        }
    } else if &block[257..265] == b"ustar  \0" {
        Format::Gnu
    } else {
        Format::V7
    };
    let field = |name: &str, range: std::ops::Range<usize>| {
        go_numeric(&block[range.clone()]).ok_or_else(|| {
            corrupt(format!(
                "{name} field {:?}",
                String::from_utf8_lossy(c_string(&block[range.clone()]))
            ))
        })
    };
    let mut raw = Block {
        format,
        typeflag: block[156],
        name: c_string(&block[0..100]).to_vec(),
        link: c_string(&block[157..257]).to_vec(),
        size: field("size", 124..136)?,
        mode: field("mode", 100..108)?,
        uid: field("uid", 108..116)?,
        gid: field("gid", 116..124)?,
        mtime: field("mtime", 136..148)?,
        atime: None,
        ctime: None,
    };
    if format == Format::V7 {
        return Ok(raw);
    }
    field("devmajor", 329..337)?;
    field("devminor", 337..345)?;
    let prefix: &[u8] = match format {
        Format::Star => {
            raw.atime = Some(field("atime", 476..488)?);
            raw.ctime = Some(field("ctime", 488..500)?);
            c_string(&block[345..476])
        }
        Format::Gnu => {
            // `None` where Go cannot parse the field; `Some(None)` where it does not read it.
            let time = |range: std::ops::Range<usize>| match block[range.start] {
                0 => Some(None),
                _ => go_numeric(&block[range]).map(Some),
            };
            match (time(345..357), time(357..369)) {
                (Some(atime), Some(ctime)) => {
                    raw.atime = atime;
                    raw.ctime = ctime;
                    b""
                }
                _ => {
                    format = Format::GnuWithPrefix;
                    raw.format = format;
                    let prefix = c_string(&block[345..500]);
                    if prefix.is_ascii() {
                        prefix
                    } else {
                        b""
                    }
                }
            }
        }
        _ => c_string(&block[345..500]),
    };
    if !prefix.is_empty() {
        let mut name = prefix.to_vec();
        name.push(b'/');
        name.extend_from_slice(&raw.name);
        raw.name = name;
    }
    Ok(raw)
}

/// A numeric header field as Go's `parseNumeric` reads it: base-256 (two's complement) when
/// the first byte's high bit is set, else octal.
pub fn go_numeric(field: &[u8]) -> Option<i64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let invert = if field[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &byte) in field.iter().enumerate() {
            let mut c = byte ^ invert;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return None;
            }
            x = x << 8 | c as u64;
        }
        if x >> 63 > 0 {
            return None;
        }
        return Some(if invert == 0xff {
            !(x as i64)
        } else {
            x as i64
        });
    }
    parse_octal(field)
}

/// Octal as Go's `parseOctal` reads it: spaces and NULs trimmed from both ends (nothing
/// else: a tab is not padding), the text up to a NUL, digits 0–7 only, no sign.
fn parse_octal(field: &[u8]) -> Option<i64> {
    let padding = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !padding(b));
    let Some(start) = start else {
        return Some(0);
    };
    let end = field
        .iter()
        .rposition(|b| !padding(b))
        .map_or(start, |e| e + 1);
    let text = c_string(&field[start..end]);
    if text.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &digit in text {
        if !(b'0'..=b'7').contains(&digit) {
            return None;
        }
        x = x.checked_mul(8)?.checked_add((digit - b'0') as u64)?;
    }
    Some(x as i64)
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits only.
fn go_parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut x: i128 = 0;
    for &d in digits {
        x = x * 10 + (d - b'0') as i128;
        if x > 1 << 63 {
            return None;
        }
    }
    let x = if negative { -x } else { x };
    i64::try_from(x).ok()
}

/// A PAX time, `SECONDS[.FRACTION]` with an optional sign, as Go's `parsePAXTime` reads it;
/// `None` where Go refuses it.
pub fn parse_pax_time(text: &[u8]) -> Option<Time> {
    let (whole, fraction) = match text.iter().position(|b| *b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let seconds = go_parse_int(whole)?;
    if fraction.is_empty() {
        return Some(Time::from_seconds(seconds));
    }
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + fraction.get(i).map_or(0, |d| (d - b'0') as i64);
    }
    if whole.first() == Some(&b'-') {
        nanos = -nanos;
    }
    Some(Time::unix(seconds, nanos))
}

/// The text up to the first NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// One PAX record: its key, its value and all its bytes (`LENGTH KEY=VALUE\n`).
pub struct PaxRecord<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub bytes: &'a [u8],
}

/// The records of a PAX header, as Go's `parsePAXRecord` accepts them: a decimal length that
/// counts the whole record (at least 5), a space, a key with no `=` or NUL, `=`, the value (no
/// NUL in a path, link path or user or group name) and a newline. Anything else is an error.
pub fn pax_records(data: &[u8]) -> Result<Vec<PaxRecord<'_>>, TarError> {
    let malformed = || corrupt("malformed PAX record");
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(malformed)?;
        let length = go_parse_int(&rest[..space]).ok_or_else(malformed)?;
        if length < 5 || length as u64 > rest.len() as u64 || length as u64 <= space as u64 + 1 {
            return Err(malformed());
        }
        let length = length as usize;
        let (bytes, after) = rest.split_at(length);
        let body = bytes[space + 1..]
            .strip_suffix(b"\n")
            .ok_or_else(malformed)?;
        let equals = body.iter().position(|b| *b == b'=').ok_or_else(malformed)?;
        let (key, value) = (&body[..equals], &body[equals + 1..]);
        let nul_free = match key {
            b"path" | b"linkpath" | b"uname" | b"gname" => !value.contains(&0),
            _ => !key.contains(&0),
        };
        if key.is_empty() || !nul_free {
            return Err(malformed());
        }
        records.push(PaxRecord { key, value, bytes });
        rest = after;
    }
    Ok(records)
}

/// A PAX header's records as Go keeps them: a later record of a key replaces an earlier one,
/// and GNU sparse offsets and sizes must alternate, beginning with an offset.
fn pax_map(data: &[u8]) -> Result<BTreeMap<String, String>, TarError> {
    let mut map = BTreeMap::new();
    let mut sparse: Vec<String> = Vec::new();
    for record in pax_records(data)? {
        let key = String::from_utf8_lossy(record.key).into_owned();
        let value = String::from_utf8_lossy(record.value).into_owned();
        match key.as_str() {
            "GNU.sparse.offset" | "GNU.sparse.numbytes" => {
                let expected = if sparse.len() % 2 == 0 {
                    "GNU.sparse.offset"
                } else {
                    "GNU.sparse.numbytes"
                };
                if key != expected || value.contains(',') {
                    return Err(corrupt("GNU sparse records out of order"));
                }
                sparse.push(value);
            }
            _ => {
                map.insert(key, value);
            }
        }
    }
    if !sparse.is_empty() {
        map.insert("GNU.sparse.map".into(), sparse.join(","));
    }
    Ok(map)
}

/// Whether Go reads the entry these records precede as a GNU sparse file in PAX form.
fn pax_sparse(pax: &BTreeMap<String, String>) -> bool {
    let get = |key: &str| pax.get(key).map_or("", String::as_str);
    match (get("GNU.sparse.major"), get("GNU.sparse.minor")) {
        ("0", "0" | "1") | ("1", "0") => true,
        ("", "") => !get("GNU.sparse.map").is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn all(bytes: &[u8]) -> Result<Vec<(Header, Vec<u8>)>, TarError> {
        let mut t = TarStream::new(bytes);
        let mut out = Vec::new();
        while let Some(h) = t.next_header()? {
            let data = t.read_data(h.size)?;
            out.push((h, data));
        }
        Ok(out)
    }

    #[test]
    fn reads_what_the_tar_crate_writes_including_long_names_and_links() {
        let long = format!(
            "usr/lib/python3/dist-packages/{}.dist-info/METADATA",
            "a".repeat(150)
        );
        let bytes = archive(|b| {
            file(b, "var/lib/dpkg/status", b"Package: x\n");
            file(b, &long, b"Name: a\n");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "usr/lib/libcudnn.so.8", "libcudnn.so.8.9.7")
                .unwrap();
        });
        let entries = all(&bytes).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].0.path, "var/lib/dpkg/status");
        assert_eq!(entries[0].1, b"Package: x\n");
        assert_eq!(entries[1].0.path, long);
        assert_eq!(
            (entries[2].0.kind, entries[2].0.link.as_str()),
            (Kind::Symlink, "libcudnn.so.8.9.7")
        );
    }

    #[test]
    fn pax_path_and_size_override_the_header() {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("opt/{}/conda-meta/numpy-1.26.4-0.json", "x".repeat(120));
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_pax_extensions([("path", long.as_bytes())])
            .unwrap();
        b.append_data(&mut h, "short", &b"{}"[..]).unwrap();
        let entries = all(&b.into_inner().unwrap()).unwrap();
        assert_eq!(entries[0].0.path, long);
    }

    #[test]
    fn corrupt_truncated_and_gigantic_headers_are_errors() {
        let mut bytes = archive(|b| file(b, "a", b"hello"));
        bytes[10] ^= 0xff;
        assert!(matches!(all(&bytes), Err(TarError::Corrupt(_))));

        let bytes = archive(|b| file(b, "a", &[7u8; 4000]));
        assert!(matches!(all(&bytes[..1500]), Err(TarError::Io(_))));

        // A GNU long-name header that claims 8 GiB must fail before any allocation.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(8 << 30);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'a'; 4096]);
        assert!(matches!(
            all(&bytes),
            Err(TarError::Gigantic {
                kind: "GNU long name",
                ..
            })
        ));
    }

    /// A PAX `size` record for the next entry, then that entry's ustar header.
    fn pax_sized(size: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", size.as_bytes())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, "blobs/sha256/x", &[][..]).unwrap();
        b.append_data(&mut h, "after", &[][..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn sizes_near_two_to_the_64_are_refused_not_wrapped() {
        for size in [
            u64::MAX,
            u64::MAX - 511,
            u64::MAX - 600,
            1 << 63,
            MAX_ENTRY + 1,
        ] {
            let bytes = pax_sized(&size.to_string());
            assert!(
                matches!(all(&bytes), Err(TarError::TooLarge { size: s }) if s == size),
                "{size}"
            );
            let seek: fn(&mut &[u8], u64) -> io::Result<()> = |r, n| {
                *r = r.get(n as usize..).unwrap_or_default();
                Ok(())
            };
            let mut t = TarStream::with_seek(&bytes[..], seek, bytes.len() as u64);
            assert!(matches!(t.next_header(), Err(TarError::TooLarge { .. })));
        }
        // The same in the header's own base-256 size field: past 2^63 it is no number to Go.
        let mut h = tar::Header::new_gnu();
        h.set_size(u64::MAX - 100);
        h.set_path("big").unwrap();
        h.set_cksum();
        assert!(matches!(all(h.as_bytes()), Err(TarError::Corrupt(_))));
        h.set_size(1 << 62);
        h.set_cksum();
        assert!(matches!(all(h.as_bytes()), Err(TarError::TooLarge { .. })));
    }

    #[test]
    fn a_file_entry_reaching_past_the_end_of_the_file_is_refused() {
        let bytes = pax_sized("1000000");
        let seek: fn(&mut &[u8], u64) -> io::Result<()> = |r, n| {
            *r = r.get(n as usize..).unwrap_or_default();
            Ok(())
        };
        let mut t = TarStream::with_seek(&bytes[..], seek, bytes.len() as u64);
        let err = t.next_header().unwrap_err();
        assert!(
            matches!(
                err,
                TarError::PastEnd {
                    size: 1_000_000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("past the end"), "{err}");
        // Without a known length the stream finds the truncation when it reads.
        assert!(matches!(all(&bytes), Err(TarError::Io(_))));
    }

    /// One raw 512-byte header: name, type, size, USTAR prefix, and STAR's trailer if asked.
    fn raw(name: &str, typeflag: u8, size: usize, prefix: &str, star: bool) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..108].copy_from_slice(b"0000644\0");
        b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        b[136..148].copy_from_slice(b"00000000000\0");
        b[156] = typeflag;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        if star {
            b[508..512].copy_from_slice(b"tar\0");
        }
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&x| x as u32).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        b
    }

    fn with_data(mut header: Vec<u8>, data: &[u8]) -> Vec<u8> {
        header.extend_from_slice(data);
        header.resize(header.len().div_ceil(512) * 512, 0);
        header
    }

    fn pax_record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}")
    }

    fn names(bytes: &[u8]) -> Vec<(String, Kind)> {
        all(bytes)
            .unwrap()
            .into_iter()
            .map(|(h, _)| (h.path, h.kind))
            .collect()
    }

    /// What Go's archive/tar (the engine's unpacker) makes of header forms where readers
    /// have disagreed; each case here was once read otherwise, hiding a package database.
    #[test]
    fn headers_read_as_the_engine_reads_them() {
        let end = vec![0u8; 1024];
        // PAX path and a GNU long name on the same entry: the long name wins.
        let pax = pax_record("path", "usr/share/doc/decoy");
        let long = b"var/lib/dpkg/status\0";
        let mut a = with_data(
            raw("././@PaxHeader", b'x', pax.len(), "", false),
            pax.as_bytes(),
        );
        a.extend(with_data(
            raw("././@LongLink", b'L', long.len(), "", false),
            long,
        ));
        a.extend(with_data(raw("short", b'0', 1, "", false), b"x"));
        a.extend(&end);
        assert_eq!(names(&a), [("var/lib/dpkg/status".to_string(), Kind::File)]);

        // STAR: the prefix is 131 bytes, followed by times, not 155 bytes of name.
        let mut b = with_data(raw("status", b'0', 1, "var/lib/dpkg", true), b"x");
        b.extend(&end);
        assert_eq!(names(&b), [("var/lib/dpkg/status".to_string(), Kind::File)]);

        // A regular file ('0') whose name ends in `/` is a file; only the old NUL type is a
        // directory then.
        let mut c = with_data(raw("var/lib/dpkg/status/", b'0', 1, "", false), b"x");
        c.extend(raw("opt/dir/", 0, 0, "", false));
        c.extend(&end);
        assert_eq!(
            names(&c),
            [
                ("var/lib/dpkg/status/".to_string(), Kind::File),
                ("opt/dir/".to_string(), Kind::Dir)
            ]
        );

        // A global header ends the extended headers before it: they do not reach the entry.
        let mut d = with_data(
            raw("././@PaxHeader", b'x', pax.len(), "", false),
            pax.as_bytes(),
        );
        let global = pax_record("comment", "x");
        d.extend(with_data(
            raw("pax_global_header", b'g', global.len(), "", false),
            global.as_bytes(),
        ));
        d.extend(with_data(
            raw("var/lib/dpkg/status", b'0', 1, "", false),
            b"x",
        ));
        d.extend(&end);
        assert_eq!(names(&d), [("var/lib/dpkg/status".to_string(), Kind::File)]);
    }

    #[test]
    fn numbers_are_read_as_go_reads_them() {
        // Go trims spaces and NULs only: a tab is no padding, and no sign is allowed.
        assert_eq!(go_numeric(b"0000644\0"), Some(0o644));
        assert_eq!(go_numeric(b" 644 \0\0"), Some(0o644));
        assert_eq!(go_numeric(b"\0\0\0\0"), Some(0));
        assert_eq!(go_numeric(b"644\t\0\0\0"), None);
        assert_eq!(go_numeric(b"+644\0\0\0"), None);
        assert_eq!(go_numeric(b"648\0\0\0\0"), None);
        assert_eq!(go_numeric(b"6\0 4"), Some(6));
        // Base-256, both signs.
        assert_eq!(
            go_numeric(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some(256)
        );
        assert_eq!(go_numeric(&[0xff; 12]), Some(-1));
        assert_eq!(go_parse_int(b"+12"), Some(12));
        assert_eq!(go_parse_int(b"9223372036854775808"), None);
        assert_eq!(
            parse_pax_time(b"-1.5"),
            Some(Time {
                seconds: -2,
                nanos: 500_000_000
            })
        );
        assert_eq!(parse_pax_time(b"1.x"), None);
        assert_eq!(parse_pax_time(b""), None);
    }

    /// Headers Go gives no data whatever their size says, and the stream's end.
    #[test]
    fn links_and_old_directories_carry_no_data_and_a_header_after_the_end_is_an_error() {
        let end = vec![0u8; 1024];
        let inner = with_data(raw("var/lib/dpkg/status", b'0', 1, "", false), b"x");
        for (name, typeflag) in [("usr/bin/link", b'2'), ("opt/data/", 0)] {
            let mut a = raw(name, typeflag, inner.len(), "", false);
            a.extend(&inner);
            a.extend(&end);
            let read = names(&a);
            assert_eq!(
                read[1],
                ("var/lib/dpkg/status".to_string(), Kind::File),
                "{name}"
            );
        }
        let mut a = vec![0u8; 512];
        a.extend(raw("late", b'0', 0, "", false));
        assert!(matches!(all(&a), Err(TarError::Corrupt(_))));
        // One zero block and the end of the stream is an end, as for Go.
        let mut a = raw("a", b'0', 0, "", false);
        a.extend(&[0u8; 512]);
        assert_eq!(names(&a).len(), 1);
    }

    /// A GNU header whose atime does not parse has a name prefix instead, as Go reads it.
    #[test]
    fn a_gnu_atime_go_cannot_parse_makes_a_prefix() {
        let mut b = raw("atk", b'0', 0, "", false);
        b[257..265].copy_from_slice(b"ustar  \0");
        b[345..357].copy_from_slice(b"77777777777\t");
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&x| x as u32).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let block: [u8; BLOCK] = b[..512].try_into().unwrap();
        let decoded = decode_block(&block).unwrap();
        assert_eq!(decoded.format, Format::GnuWithPrefix);
        assert_eq!(decoded.name, b"77777777777\t/atk");
        // The mtime only: bytes 345 to 369 are part of the name.
        let fields = decoded.format.time_fields(&block);
        assert_eq!((fields.len(), fields[0].clone()), (1, 136..148));
    }
}
