//! Content digests: `sha256:` and 64 lowercase hex digits, the only kind docker repro reads
//! or writes. Parsed, computed, shortened and turned into blob paths here and nowhere else, so
//! that a digest from a lock, an archive or a registry means one thing everywhere.

use sha2::{Digest as _, Sha256};

/// A checked `sha256:<64 lowercase hex>` digest. Read by serde through [`Digest::parse`], so a
/// lock holding another string is refused as it is read.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(text: String) -> Result<Digest, String> {
        Digest::parse(&text).map_err(|why| format!("{} {why}", crate::error::quote(&text)))
    }
}

impl std::ops::Deref for Digest {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl PartialEq<Digest> for str {
    fn eq(&self, other: &Digest) -> bool {
        self == other.0
    }
}

impl PartialEq<&Digest> for String {
    fn eq(&self, other: &&Digest) -> bool {
        *self == other.0
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Digest {
    /// The digest `text` is, or why it is not one (an error quotes no part of `text`).
    pub fn parse(text: &str) -> Result<Digest, &'static str> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or("is not a sha256:<64 hex> digest")?;
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Digest(text.to_string()))
        } else {
            Err("is not a sha256:<64 hex> digest")
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of what `hasher` has seen.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("sha256:{:x}", hasher.finalize()))
    }

    /// The digest a member of an OCI layout is stored under (`blobs/sha256/HEX`), if any.
    pub fn of_blob_path(path: &str) -> Option<Digest> {
        let hex = path.strip_prefix("blobs/sha256/")?;
        Digest::parse(&format!("sha256:{hex}")).ok()
    }

    /// Where an OCI layout stores this blob.
    pub fn blob_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// `sha256:` and the first 12 hex digits, for tables.
    pub fn short(&self) -> String {
        format!("sha256:{}", &self.hex()[..12])
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_with_64_lowercase_hex_digits_is_a_digest() {
        let zeros = format!("sha256:{}", "0".repeat(64));
        let d = Digest::parse(&zeros).unwrap();
        assert_eq!(d.hex(), "0".repeat(64));
        assert_eq!(d.short(), "sha256:000000000000");
        assert_eq!(d.blob_path(), format!("blobs/sha256/{}", "0".repeat(64)));
        assert_eq!(Digest::of_blob_path(&d.blob_path()), Some(d));
        for bad in [
            "",
            "sha256:",
            "sha512:00",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "0".repeat(63)),
            &format!("sha256:{}/../x", "0".repeat(64)),
            &format!("md5:{}", "0".repeat(64)),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Digest::of_blob_path("blobs/sha256/../../etc/passwd"), None);
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
