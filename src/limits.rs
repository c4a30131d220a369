//! Bounds on the files docker repro reads whole into memory: a Dockerfile, a lock and
//! `repro.toml` can come from a stranger (a paper's repository, a downloaded lock), so each is
//! read only when it is a regular file no larger than its limit. The README's "Limits" table
//! lists every bound with what it defends.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A kind of file read whole, and the most bytes it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, as a message names it ("Dockerfile").
    pub what: &'static str,
    pub bytes: u64,
}

/// The largest real Dockerfiles are tens of KiB; 4 MiB is 100,000 long lines.
pub const DOCKERFILE: Limit = Limit {
    what: "Dockerfile",
    bytes: 4 << 20,
};

/// A lock of eight images (base and release on four platforms) of 5,000 packages each is
/// 1.9 MiB, about 52 bytes a package (measured as the README's "Limits" says); 16 MiB holds
/// eight times that.
pub const LOCK: Limit = Limit {
    what: "repro.lock",
    bytes: 16 << 20,
};

/// `repro.toml` holds a few settings and lists of paths.
pub const CONFIG: Limit = Limit {
    what: "repro.toml",
    bytes: 1 << 20,
};

/// Why a bounded file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: no such file", .path.display())]
    NotFound { path: PathBuf },
    #[error("{}: {kind}, not a regular file; a {what} is read only from a regular file, so name the file itself", .path.display())]
    NotRegular {
        path: PathBuf,
        what: &'static str,
        kind: &'static str,
    },
    #[error("{}: {size} bytes, over the {} limit on a {what}; this is not a {what} docker repro reads (see \"Limits\" in the README)", .path.display(), human(*.limit))]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        /// "more than N" when the file grew past the limit while it was read.
        size: String,
        limit: u64,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { path, source } => Error::io(path, source),
            other => Error::Failed(other.to_string()),
        }
    }
}

/// `1 MiB`, `16 MiB`, or bytes when the value is no whole number of MiB.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads `path` whole when it is a regular file of at most `limit.bytes`. It is looked at
/// before it is opened (a FIFO with no writer would block the open, `/dev/zero` never ends),
/// opened without blocking in case it was swapped since, looked at again, and read through a
/// bound in case it grows while it is read.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ReadError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(ReadError::NotRegular {
                path: path.to_path_buf(),
                what: limit.what,
                kind: kind_of(meta),
            });
        }
        if meta.len() > limit.bytes {
            return Err(too_large(path, limit, meta.len().to_string()));
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(io)?)?;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    check(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(path, limit, format!("more than {}", limit.bytes)));
    }
    Ok(bytes)
}

fn too_large(path: &Path, limit: Limit, size: String) -> ReadError {
    ReadError::TooLarge {
        path: path.to_path_buf(),
        what: limit.what,
        size,
        limit: limit.bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit {
        what: "test file",
        bytes: 10,
    };

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("at");
        std::fs::write(&at, b"0123456789").unwrap();
        assert_eq!(read(&at, SMALL).unwrap(), b"0123456789");
        let over = dir.path().join("over");
        std::fs::write(&over, b"0123456789x").unwrap();
        assert_eq!(
            read(&over, SMALL).unwrap_err().to_string(),
            format!(
                "{}: 11 bytes, over the 10 bytes limit on a test file; this is not a test file docker repro reads (see \"Limits\" in the README)",
                over.display()
            )
        );
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_before_they_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path this test owns.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A FIFO with no writer: opening it for reading would block this test forever.
        for (path, kind) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
        ] {
            let err = read(path, SMALL).unwrap_err();
            assert!(
                matches!(err, ReadError::NotRegular { kind: k, .. } if k == kind),
                "{err}"
            );
        }
        assert!(matches!(
            read(&dir.path().join("none"), SMALL).unwrap_err(),
            ReadError::NotFound { .. }
        ));
    }

    #[test]
    fn limits_print_in_mib() {
        assert_eq!(human(LOCK.bytes), "16 MiB");
        assert_eq!(human(DOCKERFILE.bytes), "4 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
