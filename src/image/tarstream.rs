//! A streaming tar reader for untrusted image layers. The `tar` crate reads GNU long-name and
//! PAX headers of any declared size into memory; a layer must not be able to make us allocate
//! gigabytes, so this reader bounds every header, checks every checksum, bounds every declared
//! size (by what is left of a file, and by [`MAX_ENTRY`]), adds offsets with checked
//! arithmetic, seeks only forwards, and stops between headers when the user interrupts.

use std::io::{self, Read};

/// Largest GNU long name or PAX header accepted.
pub const MAX_EXTENDED_HEADER: u64 = 1 << 20;
/// Largest entry accepted (1 TiB): far beyond any real file or layer, far below the sizes
/// whose padding or sum overflows.
pub const MAX_ENTRY: u64 = 1 << 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// As stored: may be absolute or contain `..`; callers treat it as data.
    pub path: String,
    pub kind: Kind,
    pub size: u64,
    pub link: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch (PAX fractions dropped).
    pub mtime: i64,
    /// `SCHILY.xattr.*` PAX records, sorted.
    pub xattrs: Vec<(String, String)>,
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
    #[error("interrupted")]
    Interrupted,
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

    /// Makes `size` the current entry's size, refusing a size no archive can hold.
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

    fn advance(&mut self, n: u64) -> Result<(), TarError> {
        self.offset = self
            .offset
            .checked_add(n)
            .ok_or_else(|| TarError::Corrupt("offset overflows".into()))?;
        Ok(())
    }

    /// Where the next unread byte is in the archive: after `next_header`, where the entry's
    /// data starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next entry's header, skipping the rest of the previous entry.
    /// After [`Self::next_header`] gave `None`: did the archive end with tar's end-of-archive
    /// block, or did the bytes just stop (a truncated file or stream)?
    pub fn reached_end_marker(&self) -> bool {
        self.end_marker
    }

    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut pax: Vec<(String, String)> = Vec::new();
        loop {
            if crate::cancel::requested() {
                return Err(TarError::Interrupted);
            }
            self.skip_rest()?;
            if self.done {
                return Ok(None);
            }
            let mut block = [0u8; 512];
            if !read_block(&mut self.inner, &mut block)? {
                self.done = true;
                return Ok(None);
            }
            self.advance(512)?;
            if block.iter().all(|b| *b == 0) {
                self.done = true;
                self.end_marker = true;
                return Ok(None);
            }
            verify_checksum(&block)?;
            let size = parse_size(&block[124..136])?;
            self.set_entry_size(size)?;
            let typeflag = block[156];
            match typeflag {
                b'L' | b'K' | b'x' | b'g' => {
                    let kind = match typeflag {
                        b'L' => "GNU long name",
                        b'K' => "GNU long link",
                        _ => "PAX",
                    };
                    if size > MAX_EXTENDED_HEADER {
                        return Err(TarError::Gigantic { kind, size });
                    }
                    let data = self.read_data(size)?;
                    match typeflag {
                        b'L' => long_name = Some(c_string(&data)),
                        b'K' => long_link = Some(c_string(&data)),
                        b'x' => pax = parse_pax(&data)?,
                        _ => {
                            // As Go's archive/tar (which unpacks layers in the engine): a
                            // global header is an entry of its own, which ends the pending
                            // extended headers, and the engine creates nothing for it.
                            long_name = None;
                            long_link = None;
                            pax.clear();
                        }
                    }
                    continue;
                }
                _ => {}
            }
            // Read exactly as Go's archive/tar reads it, since that is what the engine
            // unpacks: the name prefix is 155 bytes (USTAR) or 131 (STAR, told by its
            // trailer); PAX records apply first and GNU long names override them.
            let ustar = &block[257..263] == b"ustar\0";
            let star = ustar && &block[508..512] == b"tar\0";
            let mut path = c_string(&block[0..100]);
            if ustar {
                let prefix = c_string(&block[345..if star { 476 } else { 500 }]);
                if !prefix.is_empty() {
                    path = format!("{prefix}/{path}");
                }
            }
            let mut link = c_string(&block[157..257]);
            let mut mode = parse_octal(&block[100..108]).unwrap_or(0) as u32;
            let mut uid = parse_octal(&block[108..116]).unwrap_or(0);
            let mut gid = parse_octal(&block[116..124]).unwrap_or(0);
            let mut mtime = parse_octal(&block[136..148]).unwrap_or(0) as i64;
            let mut xattrs = Vec::new();
            mode &= 0o7777;
            for (key, value) in pax {
                match key.as_str() {
                    "path" => path = value,
                    "linkpath" => link = value,
                    "uid" => uid = value.parse().unwrap_or(uid),
                    "gid" => gid = value.parse().unwrap_or(gid),
                    "mtime" => {
                        mtime = value
                            .split('.')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(mtime)
                    }
                    k if k.starts_with("SCHILY.xattr.") => {
                        xattrs.push((k["SCHILY.xattr.".len()..].to_string(), value))
                    }
                    "size" => {
                        let size: u64 = value
                            .parse()
                            .map_err(|_| TarError::Corrupt(format!("PAX size {value:?}")))?;
                        self.set_entry_size(size)?;
                    }
                    _ => {}
                }
            }
            if let Some(n) = long_name {
                path = n;
            }
            if let Some(l) = long_link {
                link = l;
            }
            let kind = match typeflag {
                b'0' | 0 | b'7' => Kind::File,
                b'5' => Kind::Dir,
                b'2' => Kind::Symlink,
                b'1' => Kind::Hardlink,
                _ => Kind::Other,
            };
            xattrs.sort();
            // Only the old regular type (NUL) with a trailing slash is a directory.
            let kind = if typeflag == 0 && path.ends_with('/') {
                Kind::Dir
            } else {
                kind
            };
            return Ok(Some(Header {
                path,
                kind,
                size: self.remaining,
                link,
                mode,
                uid,
                gid,
                mtime,
                xattrs,
            }));
        }
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

    /// A reader over the rest of the current entry's data.
    pub fn data(&mut self) -> EntryReader<'_, R> {
        EntryReader { stream: self }
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        // Both are bounded by `set_entry_size`, so the sum cannot overflow.
        let skip = self.remaining + self.padding;
        if skip > 0 {
            if let Some(seek) = self.seek {
                seek(&mut self.inner, skip)?;
            } else {
                let copied = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
                if copied < skip {
                    return Err(TarError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer is truncated",
                    )));
                }
            }
            self.advance(skip)?;
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
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
fn read_block<R: Read>(r: &mut R, block: &mut [u8; 512]) -> Result<bool, TarError> {
    let mut filled = 0;
    while filled < 512 {
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

fn verify_checksum(block: &[u8; 512]) -> Result<(), TarError> {
    let stored = parse_octal(&block[148..156])
        .ok_or_else(|| TarError::Corrupt("unreadable checksum".into()))?;
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u64
            }
        })
        .sum();
    if stored != sum {
        return Err(TarError::Corrupt(format!(
            "checksum {stored} does not match {sum}"
        )));
    }
    Ok(())
}

fn parse_size(field: &[u8]) -> Result<u64, TarError> {
    if field[0] & 0x80 != 0 {
        // GNU base-256 for sizes of 8 GiB and more.
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|x| x.checked_add(*b as u64))
                .ok_or_else(|| TarError::Corrupt("size overflows".into()))?;
        }
        return Ok(v);
    }
    parse_octal(field).ok_or_else(|| {
        TarError::Corrupt(format!("size field {:?}", String::from_utf8_lossy(field)))
    })
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn parse_pax(data: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| TarError::Corrupt("PAX record without length".into()))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|l| *l > space && *l <= rest.len())
            .ok_or_else(|| TarError::Corrupt("PAX record length".into()))?;
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            ));
        }
        rest = &rest[len..];
    }
    Ok(out)
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
        // The same in the header's own base-256 size field.
        let mut h = tar::Header::new_gnu();
        h.set_size(u64::MAX - 100);
        h.set_path("big").unwrap();
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
}
