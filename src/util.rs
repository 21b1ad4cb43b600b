//! Small shared helpers: UTC time, random ids and codes, hashing, path checks.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in UTC, to the second (every time the tool records is UTC, RFC 3339).
pub fn now() -> OffsetDateTime {
    crate::fault::now()
        .unwrap_or_else(OffsetDateTime::now_utc)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
}

/// RFC 3339 in UTC, e.g. `2026-11-25T10:15:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC times format")
}

/// `20261125T101500Z`, for file names.
pub fn compact_timestamp(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .expect("UTC times format")
}

/// `n` random bytes from the OS, hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode(b)
}

/// Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or retyped survives.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A receipt code: 20 symbols of 5 random bits (100 bits) in groups of four,
/// e.g. `7K2M-9QXP-4HRT-B0CW-ZN3E`.
pub fn receipt_code() -> String {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).expect("the OS random source works");
    let mut s = String::with_capacity(24);
    for (i, v) in b.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(CODE_ALPHABET[(v & 31) as usize] as char);
    }
    s
}

/// Puts a code typed by a person into canonical form: upper case, Crockford's look-alikes
/// mapped (O→0, I/L→1), spaces and dashes removed then regrouped by four.
pub fn normalize_code(s: &str) -> String {
    let clean: Vec<char> = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    let mut out = String::new();
    for (i, c) in clean.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(*c);
    }
    out
}

/// Renames `from` to `to`, failing if `to` exists (even as an empty directory, which a plain
/// rename would silently replace).
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Serializes a path as text: as it is when UTF-8, else with the other bytes escaped (`\xFF`)
/// as messages and `non_utf8_names` show them. serde's own `PathBuf` serializer fails on such
/// a path, which made `--json` panic after a successful export into a non-UTF-8 `--out`.
pub fn path_text<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    match p.to_str() {
        Some(t) => s.serialize_str(t),
        None => s.serialize_str(&crate::error::show(p)),
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An absolute form of `p` without touching the filesystem (`..` resolved lexically).
pub fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir()?
    };
    let mut out = PathBuf::new();
    for c in base.join(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Where `p` will be once created: its deepest existing ancestor resolved by the filesystem
/// (symlinks followed, as `create_dir_all` will follow them), then the missing components
/// appended; they do not exist yet, so none is a symlink and `..` among them is lexical.
pub fn resolve_future(p: &Path) -> std::io::Result<PathBuf> {
    let abs = std::env::current_dir()?.join(p);
    let comps: Vec<Component> = abs.components().collect();
    for n in (1..=comps.len()).rev() {
        let existing: PathBuf = comps[..n].iter().collect();
        match std::fs::canonicalize(&existing) {
            Ok(mut out) => {
                for c in &comps[n..] {
                    match c {
                        Component::ParentDir => {
                            out.pop();
                        }
                        Component::Normal(s) => out.push(s),
                        _ => {}
                    }
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_codes_are_grouped_and_normalize_to_themselves() {
        let c = receipt_code();
        assert_eq!(c.len(), 24);
        assert_eq!(normalize_code(&c.to_lowercase()), c);
        assert_ne!(receipt_code(), c);
    }
}
