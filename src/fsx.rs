//! Filesystem access by handle: every walk, open, overwrite, rename and unlink of the client's
//! tree goes through a directory descriptor and one name, never through a path that the
//! kernel resolves again. A directory swapped for a symlink after we looked at it cannot send
//! us elsewhere: names are opened with `O_NOFOLLOW`, directories with `O_DIRECTORY|O_NOFOLLOW`,
//! and a root path is opened with `openat2(RESOLVE_NO_SYMLINKS)` (on kernels without openat2,
//! one component at a time with `O_NOFOLLOW`).
//!
//! Built on `rustix`, the safe syscall layer under `cap-std` (already in our tree through
//! `tempfile`): it has openat2, renameat2 and linkat with typed flags, so no unsafe code here.
//! `cap-std` itself was the alternative; its `Dir` hides the descriptor we need for fstat,
//! fsync and dev/ino checks, and resolves multi-component paths itself, which is what this
//! module exists to avoid.
//!
//! Must not: take a path with more than one component below a handle, or follow a symlink.
#![allow(dead_code)] // the walkers move onto it in the commits that follow

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags};

pub use rustix::fs::{Access, FileType, Stat};

fn err(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Flags every open shares: never a controlling terminal, never inherited, never wait on a
/// FIFO or a lease.
fn base() -> OFlags {
    OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK
}

/// One name: refuses empty names, `.`, `..` and anything with a `/`.
fn one(name: &OsStr) -> io::Result<&OsStr> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a single name: {}", name.to_string_lossy()),
        ));
    }
    Ok(name)
}

/// Opens an absolute path as a directory, refusing a symlink anywhere on the way (`ELOOP`).
/// `..` components are refused: the caller resolves them physically first.
pub fn open_dir_path(path: &Path) -> io::Result<File> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an absolute path without '..': {}", path.display()),
        ));
    }
    let flags = base() | OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
    match rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => return Ok(File::from(fd)),
        // Kernels before 5.6 (and some sandboxes) lack openat2: walk it ourselves.
        Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => {}
        Err(e) => return Err(err(e)),
    }
    let mut dir =
        File::from(rustix::fs::openat(rustix::fs::CWD, "/", flags, Mode::empty()).map_err(err)?);
    for c in path.components() {
        if let Component::Normal(name) = c {
            dir = open_dir_at(&dir, name)?;
        }
    }
    Ok(dir)
}

/// Opens the directory `name` inside `dir`, not following a symlink.
pub fn open_dir_at(dir: &File, name: &OsStr) -> io::Result<File> {
    let flags = base() | OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
    rustix::fs::openat(dir.as_fd(), one(name)?, flags, Mode::empty())
        .map(File::from)
        .map_err(err)
}

/// Opens the regular file (or whatever it is: check with fstat) `name` inside `dir` for
/// reading, and writing when `write`, not following a symlink.
pub fn open_file_at(dir: &File, name: &OsStr, write: bool) -> io::Result<File> {
    let rw = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let flags = base() | rw | OFlags::NOFOLLOW;
    rustix::fs::openat(dir.as_fd(), one(name)?, flags, Mode::empty())
        .map(File::from)
        .map_err(err)
}

/// `lstat` of `name` inside `dir`.
pub fn lstat_at(dir: &File, name: &OsStr) -> io::Result<Stat> {
    rustix::fs::statat(dir.as_fd(), one(name)?, AtFlags::SYMLINK_NOFOLLOW).map_err(err)
}

/// `fstat` of an open file or directory.
pub fn fstat(f: &File) -> io::Result<Stat> {
    rustix::fs::fstat(f.as_fd()).map_err(err)
}

/// Device and inode of a stat, the identity the plan records and every later step compares.
#[allow(clippy::unnecessary_cast)] // st_dev/st_ino widths differ between architectures
pub fn id(st: &Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// Whether we may `mode` (e.g. write and search) the entry `name` of `dir`, or `dir` itself when
/// `name` is `None`, by the effective ids (`faccessat` with `AT_EACCESS`), never following a
/// symlink. Kernels before 5.8 lack `faccessat2`, which `AT_SYMLINK_NOFOLLOW` needs: there the
/// check follows a symlink swapped in, which only asks a question about its target.
pub fn access_at(dir: &File, name: Option<&OsStr>, mode: Access) -> io::Result<()> {
    let name = match name {
        Some(n) => one(n)?,
        None => OsStr::new("."),
    };
    let flags = AtFlags::EACCESS | AtFlags::SYMLINK_NOFOLLOW;
    match rustix::fs::accessat(dir.as_fd(), name, mode, flags) {
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            rustix::fs::accessat(dir.as_fd(), name, mode, AtFlags::EACCESS).map_err(err)
        }
        r => r.map_err(err),
    }
}

/// The target of the symlink `name` inside `dir`.
pub fn readlink_at(dir: &File, name: &OsStr) -> io::Result<OsString> {
    rustix::fs::readlinkat(dir.as_fd(), one(name)?, Vec::new())
        .map(|c| OsString::from_vec(c.into_bytes()))
        .map_err(err)
}

/// The names in `dir` (without `.` and `..`), sorted bytewise, with the type readdir gave
/// (`Unknown` on filesystems that do not say: lstat then).
pub fn read_dir(dir: &File) -> io::Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir.as_fd()).map_err(err)? {
        let e = e.map_err(err)?;
        let n = e.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        out.push((OsString::from_vec(n.to_vec()), e.file_type()));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Removes the non-directory `name` from `dir`.
pub fn unlink_at(dir: &File, name: &OsStr) -> io::Result<()> {
    rustix::fs::unlinkat(dir.as_fd(), one(name)?, AtFlags::empty()).map_err(err)
}

/// Removes the empty directory `name` from `dir`.
pub fn rmdir_at(dir: &File, name: &OsStr) -> io::Result<()> {
    rustix::fs::unlinkat(dir.as_fd(), one(name)?, AtFlags::REMOVEDIR).map_err(err)
}

/// Raises the soft limit on open descriptors to the hard limit. A walk by handle keeps one
/// descriptor open per level of depth, and the usual soft limit (1024) would make a tree
/// deeper than that fail where a path walk did not. Best effort: a failure leaves the limit.
pub fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

/// How a rename that must not replace anything was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReplace {
    /// `renameat2(RENAME_NOREPLACE)`: atomic, the kernel refuses an existing target.
    Renameat2,
    /// The filesystem refused RENAME_NOREPLACE (FUSE, NFS, SMB…): `linkat` (which never
    /// replaces) then unlink of the old name.
    LinkUnlink,
    /// Neither is supported: checked that the target is absent, then a plain rename. Only
    /// used for names we made random (128 bits), so only a deliberate race could collide.
    CheckThenRename,
}

impl NoReplace {
    /// For certificates and logs.
    pub fn describe(self) -> &'static str {
        match self {
            NoReplace::Renameat2 => "renameat2(RENAME_NOREPLACE)",
            NoReplace::LinkUnlink => "link then unlink (the filesystem refused RENAME_NOREPLACE)",
            NoReplace::CheckThenRename => {
                "check then rename (the filesystem refused RENAME_NOREPLACE and hard links)"
            }
        }
    }
}

fn unsupported(e: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP || e == Errno::PERM
}

/// Renames `from` in `dir` to `to` in `to_dir`, never replacing an existing `to`. Where the
/// filesystem does not support RENAME_NOREPLACE, falls back as [`NoReplace`] says, and
/// returns which way it went. `allow_check` permits the last, racy fallback (for random names).
pub fn rename_noreplace_at(
    dir: &File,
    from: &OsStr,
    to_dir: &File,
    to: &OsStr,
    allow_check: bool,
) -> io::Result<NoReplace> {
    let (from, to) = (one(from)?, one(to)?);
    // Test builds: `fsx.renameat2=fail` and `fsx.linkat=fail` act as a filesystem (FUSE, NFS,
    // SMB) that refuses these calls with EINVAL, so the fallbacks are tested without one.
    let renamed = if crate::fault::fails("fsx.renameat2") {
        Err(rustix::io::Errno::INVAL)
    } else {
        rustix::fs::renameat_with(
            dir.as_fd(),
            from,
            to_dir.as_fd(),
            to,
            RenameFlags::NOREPLACE,
        )
    };
    match renamed {
        Ok(()) => return Ok(NoReplace::Renameat2),
        Err(e) if unsupported(e) => {}
        Err(e) => return Err(err(e)),
    }
    // A directory cannot be hard-linked: linkat gives EPERM, and we go on to the check.
    let linked = if crate::fault::fails("fsx.linkat") {
        Err(rustix::io::Errno::INVAL)
    } else {
        rustix::fs::linkat(dir.as_fd(), from, to_dir.as_fd(), to, AtFlags::empty())
    };
    match linked {
        Ok(()) => {
            // Test builds: `fsx.linked` stops a run here, with both names on the file.
            crate::fault::point("fsx.linked");
            rustix::fs::unlinkat(dir.as_fd(), from, AtFlags::empty()).map_err(err)?;
            return Ok(NoReplace::LinkUnlink);
        }
        Err(e) if unsupported(e) || e == rustix::io::Errno::ISDIR => {}
        Err(e) => return Err(err(e)),
    }
    if !allow_check {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the filesystem supports neither RENAME_NOREPLACE nor hard links, so the new name cannot be claimed safely",
        ));
    }
    match rustix::fs::statat(to_dir.as_fd(), to, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(io::Error::from_raw_os_error(libc::EEXIST)),
        Err(e) if e == rustix::io::Errno::NOENT => {}
        Err(e) => return Err(err(e)),
    }
    rustix::fs::renameat(dir.as_fd(), from, to_dir.as_fd(), to).map_err(err)?;
    Ok(NoReplace::CheckThenRename)
}

/// The id of the mount an open file or directory is on (`statx` `STATX_MNT_ID`, Linux 5.8+;
/// None where the kernel does not say). Unlike the device number it tells a bind mount of
/// the same filesystem from its surroundings.
pub fn mount_id(f: &File) -> Option<u64> {
    let sx = rustix::fs::statx(
        f.as_fd(),
        "",
        AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()?;
    (sx.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0).then_some(sx.stx_mnt_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_on_the_way_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::os::unix::fs::symlink(&real, t.path().join("link")).unwrap();
        assert!(open_dir_path(&real.join("sub")).is_ok());
        let e = open_dir_path(&t.path().join("link").join("sub")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let d = open_dir_path(t.path()).unwrap();
        assert!(open_dir_at(&d, OsStr::new("link")).is_err());
        assert!(open_dir_at(&d, OsStr::new("real/sub")).is_err());
        assert!(open_dir_at(&d, OsStr::new("..")).is_err());
        assert!(open_dir_path(&t.path().join("real/../real")).is_err());
    }

    #[test]
    fn rename_never_replaces() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"a").unwrap();
        std::fs::write(t.path().join("b"), b"b").unwrap();
        let d = open_dir_path(t.path()).unwrap();
        let e = rename_noreplace_at(&d, OsStr::new("a"), &d, OsStr::new("b"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        let how = rename_noreplace_at(&d, OsStr::new("a"), &d, OsStr::new("c"), true).unwrap();
        assert_eq!(how, NoReplace::Renameat2);
        assert_eq!(std::fs::read(t.path().join("b")).unwrap(), b"b");
        assert_eq!(std::fs::read(t.path().join("c")).unwrap(), b"a");
    }
}
