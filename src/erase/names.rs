//! How a deletion names what it deleted, once it is done (issue 9): by default a salted
//! SHA-256 of each path, so that the certificate, the state database and the evidence pack
//! hold no client file name ("Patient X – results.pdf") in clear; `--names clear` keeps them.
//!
//! The form, so that a client can recompute it with `sha256sum` alone:
//!
//! ```text
//! path_sha256 = lowercase hex SHA-256 of the bytes  SALT ":" PATH
//! ```
//!
//! where SALT is the certificate's `names_salt` (64 lowercase hex characters, random per
//! certificate) and PATH is the entry's path relative to its root exactly as the filesystem
//! stores it (raw bytes, `/`-separated, no leading `./`, no percent-encoding; empty for the
//! root itself). In a bag, PATH is the path under `data/`: `printf '%s:%s' "$SALT"
//! "reports/Patient X – results.pdf" | sha256sum`. A root (given as an absolute path) is
//! hashed the same way over its absolute path.
//!
//! A salted hash is not encryption: whoever guesses a name and has the certificate can
//! confirm the guess. It keeps names from being read, listed or searched; the salt keeps one
//! certificate's hashes from being matched against another's.

use sha2::{Digest, Sha256};

/// How names are kept after a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Names {
    /// Salted SHA-256 of each path (the default).
    #[default]
    SaltedSha256,
    /// In clear, percent-encoded like a BagIt path (`--names clear`).
    Clear,
}

impl Names {
    /// The value of the certificate's `names` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Names::SaltedSha256 => "salted_sha256",
            Names::Clear => "clear",
        }
    }
}

/// A fresh salt: 32 random bytes, as lowercase hex.
pub fn new_salt() -> String {
    crate::util::random_hex(32)
}

/// The salted hash of `path` (see the module documentation for the exact form).
pub fn path_sha256(salt: &str, path: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(path);
    hex::encode(h.finalize())
}

/// What the database keeps in place of a path once the job is done: the hash, marked so
/// that nobody reads it as a name.
pub fn stored_form(hash: &str) -> Vec<u8> {
    format!("salted-sha256:{hash}").into_bytes()
}

/// Whether a root with this label keeps its path in clear. The outbox files (archive,
/// manifest, signature) are named after the handover's name, which the provider chose and
/// which the signed manifest and the handover record already carry; the client's own
/// directory (`source`) and any other path may name a client or a client's file.
pub fn root_in_clear(label: &str) -> bool {
    matches!(label, "archive" | "manifest" | "signature" | "stale_temp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_form() {
        // printf '%s:%s' abc 'a b/ü.pdf' | sha256sum
        let want = {
            let mut h = Sha256::new();
            h.update("abc:a b/ü.pdf".as_bytes());
            hex::encode(h.finalize())
        };
        assert_eq!(path_sha256("abc", "a b/ü.pdf".as_bytes()), want);
        assert_ne!(path_sha256("abd", b"x"), path_sha256("abc", b"x"));
    }
}
