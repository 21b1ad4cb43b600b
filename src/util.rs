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
/// rename would silently replace). Where the filesystem refuses `RENAME_NOREPLACE` (FUSE, NFS
/// and SMB answer EINVAL), a file is linked under the new name (`link` never replaces) and its
/// old name unlinked; a directory, which cannot be linked, is refused there: see
/// [`rename_noreplace_how`] for the one caller that accepts a checked rename.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    rename_noreplace_how(from, to, false).map(drop)
}

/// [`rename_noreplace`], returning which way it went. With `allow_check`, where neither
/// `RENAME_NOREPLACE` nor a hard link works (a directory on FUSE/NFS), checks that `to` is
/// absent and then renames: racy, so only for a source with a random name whose target the
/// caller just found absent (extraction's staging directory): the one thing a concurrent
/// process could slip in between is an empty directory at `to`, which would be replaced.
pub(crate) fn rename_noreplace_how(
    from: &Path,
    to: &Path,
    allow_check: bool,
) -> std::io::Result<crate::fsx::NoReplace> {
    use rustix::fs::{CWD, RenameFlags};
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(crate::fsx::NoReplace::Renameat2),
        Err(e) if noreplace_unsupported(e) => rename_fallback(from, to, allow_check),
        Err(e) => Err(e.into()),
    }
}

fn noreplace_unsupported(e: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP
}

/// The ways of [`rename_noreplace_how`] after `RENAME_NOREPLACE` was refused.
fn rename_fallback(
    from: &Path,
    to: &Path,
    allow_check: bool,
) -> std::io::Result<crate::fsx::NoReplace> {
    use crate::fsx::NoReplace;
    use rustix::fs::{AtFlags, CWD};
    use rustix::io::Errno;
    match rustix::fs::linkat(CWD, from, CWD, to, AtFlags::empty()) {
        Ok(()) => {
            if let Err(e) = rustix::fs::unlink(from) {
                // Two names for one file are not a rename: undo, so the caller's cleanup of
                // `from` does not leave a published `to` behind.
                let _ = rustix::fs::unlink(to);
                return Err(e.into());
            }
            return Ok(NoReplace::LinkUnlink);
        }
        // A directory cannot be hard-linked (EPERM), nor can files on some filesystems.
        Err(e) if e == Errno::PERM || e == Errno::ISDIR || noreplace_unsupported(e) => {}
        Err(e) => return Err(e.into()),
    }
    if !allow_check {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the filesystem supports neither RENAME_NOREPLACE nor hard links here, so the new name cannot be claimed without a risk of replacing something",
        ));
    }
    match rustix::fs::statat(CWD, to, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(std::io::Error::from_raw_os_error(libc::EEXIST)),
        Err(e) if e == Errno::NOENT => {}
        Err(e) => return Err(e.into()),
    }
    rustix::fs::rename(from, to)?;
    Ok(NoReplace::CheckThenRename)
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

/// The host name (uname nodename), as certificates and delegations name it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Parses `--at`: a date (`2027-01-31`, midnight UTC) or an RFC 3339 time.
pub fn parse_at(s: &str) -> std::result::Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(time::UtcOffset::UTC));
    }
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            format!("{s:?} is not a date (2027-01-31) or an RFC 3339 time (2027-01-31T09:00:00Z)")
        })?;
    Ok(d.midnight().assume_utc())
}

/// Parses `--after`/`--delete-after`: a whole number of days, hours or weeks (`30d`, `12h`, `2w`).
pub fn parse_after(s: &str) -> std::result::Result<time::Duration, String> {
    let bad = || format!("{s:?} is not a delay; use a number with d, h or w, e.g. 30d");
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    match unit {
        "d" => Ok(time::Duration::days(n)),
        "h" => Ok(time::Duration::hours(n)),
        "w" => Ok(time::Duration::weeks(n)),
        _ => Err(bad()),
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The size of the buffers and chunks on the data path (file reads, tar entries, the chunks
/// between the age, zstd and output stages): 1 MiB. 64 KiB–1 MiB measured best; tar-rs's own
/// 8 KiB copy was ~10 % slower (shared/bench/NOTES.md).
pub(crate) const IO_BUF: usize = 1 << 20;

/// Why [`hash_copy`] stopped early: reading failed, or the sink refused a chunk.
pub(crate) enum CopyError<E> {
    Read(std::io::Error),
    Sink(E),
}

/// Reads `r` to its end, or to `limit` bytes, through `buf`: each chunk is hashed, then handed
/// to `sink` (to write it, count it, check for cancellation). Returns the SHA-256 and the bytes
/// read, fewer than `limit` when the reader ended first. An interrupted read is retried, as
/// `io::copy` does.
pub(crate) fn hash_copy<E>(
    r: &mut impl std::io::Read,
    limit: u64,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<([u8; 32], u64), CopyError<E>> {
    let mut h = Sha256::new();
    let mut done = 0u64;
    while done < limit {
        let want = (limit - done).min(buf.len() as u64) as usize;
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        h.update(&buf[..n]);
        sink(&buf[..n]).map_err(CopyError::Sink)?;
        done += n as u64;
    }
    Ok((h.finalize().into(), done))
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

/// Replaces, in a message meant for the audit log, every line that names a path under one
/// of `roots` (or the root itself) with a line that says a path was withheld. Audit events
/// cannot be rewritten after the fact, so what may name a client's file never goes in.
pub fn redact_lines(message: &str, roots: &[String]) -> String {
    message
        .lines()
        .map(|l| {
            if roots.iter().any(|r| !r.is_empty() && l.contains(r.as_str())) {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!(
                    "{indent}[a line naming a path under the handover's data was withheld from the audit log: it may name a client file]"
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a client or handover name is safe as part of a file name: 1 to 64 letters, digits,
/// `.`, `_` or `-`, not starting with `.` or `-`. Export and client profiles share the rule.
pub fn is_safe_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && !v.starts_with(['.', '-'])
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// A count with its noun, singular for exactly one: `plural(1, "file", "files")` is
/// "1 file", `plural(0, ...)` "0 files".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Bytes for people, in binary units: "512 B", "1.50 KiB", "3.20 GiB". Every table and
/// message uses this one function (the binary's `list`, `status`, `export`, `verify`), so
/// they all speak the same units.
pub fn human_bytes(n: u64) -> String {
    const PREFIXES: [&str; 8] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < PREFIXES.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}B", PREFIXES[i])
}

/// Who runs a command, as certificates and attestations name them: as given, else `$USER`
/// or `$LOGNAME`, else the login name of the process's uid (`/etc/passwd`), else `uid N`.
pub fn operator_name(given: Option<&str>) -> String {
    given
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
        })
}

/// The login name of `uid` from `/etc/passwd`, if listed.
fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read("/etc/passwd").ok()?;
    text.split(|&b| b == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        (f.len() >= 3 && f[2] == uid.to_string().as_bytes())
            .then(|| String::from_utf8_lossy(f[0]).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_naming_a_root_are_withheld() {
        let m = "2 blockers:\n  - /c/Patient X/a.pdf: busy\nrun again";
        let r = redact_lines(m, &["/c/Patient X".into()]);
        assert!(!r.contains("Patient"), "{r}");
        assert!(r.starts_with("2 blockers:\n  [a line") && r.ends_with("\nrun again"));
    }

    /// What FUSE/NFS get once `RENAME_NOREPLACE` was refused: a file is linked then
    /// unlinked, a directory is refused unless a checked rename is allowed, and neither way
    /// replaces anything.
    #[test]
    fn the_fallbacks_never_replace() {
        use crate::fsx::NoReplace;
        let t = tempfile::tempdir().unwrap();
        let p = |n: &str| t.path().join(n);
        std::fs::write(p("a"), b"a").unwrap();
        std::fs::write(p("b"), b"b").unwrap();
        let e = rename_fallback(&p("a"), &p("b"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(
            rename_fallback(&p("a"), &p("c"), false).unwrap(),
            NoReplace::LinkUnlink
        );
        assert!(!p("a").exists());
        assert_eq!(std::fs::read(p("c")).unwrap(), b"a");
        assert_eq!(std::fs::read(p("b")).unwrap(), b"b");

        std::fs::create_dir(p("d")).unwrap();
        std::fs::create_dir(p("empty")).unwrap();
        let e = rename_fallback(&p("d"), &p("e"), false).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
        let e = rename_fallback(&p("d"), &p("empty"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(
            rename_fallback(&p("d"), &p("e"), true).unwrap(),
            NoReplace::CheckThenRename
        );
        assert!(p("e").is_dir() && !p("d").exists() && p("empty").is_dir());
    }

    #[test]
    fn receipt_codes_are_grouped_and_normalize_to_themselves() {
        let c = receipt_code();
        assert_eq!(c.len(), 24);
        assert_eq!(normalize_code(&c.to_lowercase()), c);
        assert_ne!(receipt_code(), c);
    }

    #[test]
    fn plurals_and_units() {
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(0, "file", "files"), "0 files");
        assert_eq!(plural(2, "directory", "directories"), "2 directories");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.00 GiB");
    }
}
