//! Safe extraction for `verify --extract`: a staging directory beside the target, renamed to
//! the target only when everything verified.
//!
//! Must never write outside the staging directory, never follow a symlink while writing, and
//! never leave anything under the target's name unless [`Stage::commit`] ran. The rules:
//! - every file is created new (`O_CREAT|O_EXCL|O_NOFOLLOW`) in a directory this stage made;
//! - symlinks are created last, after every file and hard link, and only after checking that
//!   no directory on the way to them is a symlink; so nothing can be written through one;
//! - modes are the entry's permission bits masked by the umask, never setuid/setgid/sticky;
//! - directories stay 0700 while they are filled and get their own mode and mtime at the end;
//! - a stage dropped without `commit` removes its directory (`remove_dir_all` does not follow
//!   symlinks).
//!
//! Callers pass paths relative to the bag root that were already checked: no `..`, not
//! absolute. This module checks again and refuses such a path rather than trust the caller.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::home;

/// Only the permission bits survive: setuid, setgid and sticky are dropped.
const PERM_BITS: u32 = 0o777;

/// What every staging directory's name holds: `.DIR.handover-partial-RANDOM`.
const PARTIAL: &[u8] = b".handover-partial-";

/// A directory being filled beside the target.
pub struct Stage {
    root: PathBuf,
    /// The staging directory, open and locked (`flock`) while this stage lives: a later
    /// `verify` tells a live extraction from one whose process was killed by whether it can
    /// take the lock (the kernel drops it with the process).
    _lock: File,
    dest: PathBuf,
    umask: u32,
    /// Directories made (relative), with the mode and mtime they get at the end.
    dirs: Vec<(PathBuf, u32, u64)>,
    /// Directories known to exist as real directories of this stage: saves an lstat per
    /// path component per file (100,000 files in 1,000 folders).
    made: std::collections::HashSet<PathBuf>,
    committed: bool,
}

/// The process umask. Read by setting and restoring it: there is no other portable way; this
/// runs before the stage's threads exist.
fn umask() -> u32 {
    // SAFETY: umask only swaps the process's file mode mask.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

fn checked(rel: &Path) -> io::Result<&Path> {
    if rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(rel)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsafe path {}", crate::error::show(rel)),
        ))
    }
}

fn mtime(t: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(t)
}

impl Stage {
    /// Starts a staging directory beside `dest`, which must not exist.
    pub fn create(dest: &Path) -> io::Result<Stage> {
        if dest.symlink_metadata().is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the target exists",
            ));
        }
        let parent = home::parent_dir(dest);
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(dest.file_name().unwrap_or(OsStr::new("extract")));
        prefix.push(OsStr::from_bytes(PARTIAL));
        let root = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)?
            .keep();
        let lock = match lock_dir(&root) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_dir(&root);
                return Err(e);
            }
        };
        Ok(Stage {
            root,
            _lock: lock,
            dest: dest.to_path_buf(),
            umask: umask(),
            dirs: Vec::new(),
            made: std::collections::HashSet::new(),
            committed: false,
        })
    }

    /// The staging directory (for messages and tests).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn mode(&self, mode: u32) -> u32 {
        mode & PERM_BITS & !self.umask
    }

    /// Makes the parents of `rel` that are missing (0700 for now, 0777 less the umask later,
    /// as `tar` does for directories the archive does not list).
    fn parents(&mut self, rel: &Path) -> io::Result<()> {
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            cur.push(c);
            if self.made.contains(&cur) {
                continue;
            }
            let p = self.root.join(&cur);
            match p.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} is not a directory", crate::error::show(&cur)),
                    ));
                }
                Err(_) => {
                    fs::DirBuilder::new().mode(0o700).create(&p)?;
                    self.dirs.push((cur.clone(), 0o777, 0));
                }
            }
            self.made.insert(cur.clone());
        }
        Ok(())
    }

    /// Makes directory `rel` (or adopts it if an earlier entry made it).
    pub fn dir(&mut self, rel: &Path, mode: u32, mtime: u64) -> io::Result<()> {
        let rel = checked(rel)?;
        if rel.as_os_str().is_empty() {
            self.dirs.push((PathBuf::new(), mode, mtime));
            return Ok(());
        }
        self.parents(rel)?;
        let p = self.root.join(rel);
        match fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !p.symlink_metadata()?.is_dir() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        self.made.insert(rel.to_path_buf());
        self.dirs.push((rel.to_path_buf(), mode, mtime));
        Ok(())
    }

    /// Creates the new file `rel` for writing; never follows or replaces anything. It gets
    /// its final mode at creation (the kernel applies the umask; the descriptor stays
    /// writable even for a read-only mode), which saves an fchmod per file.
    pub fn file(&mut self, rel: &Path, mode: u32) -> io::Result<File> {
        crate::fault::point("extract.file");
        let rel = checked(rel)?;
        self.parents(rel)?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & PERM_BITS)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.root.join(rel))
    }

    /// Gives a written file its mtime.
    pub fn close_file(&self, f: File, mtime_secs: u64) -> io::Result<()> {
        f.set_modified(mtime(mtime_secs))
    }

    /// Makes `rel` another name of the already written file `target` (both relative).
    pub fn hard_link(&mut self, rel: &Path, target: &Path) -> io::Result<()> {
        let (rel, target) = (checked(rel)?, checked(target)?);
        self.parents(rel)?;
        // link(2) does not follow a symlink in `target` (Linux), and none exist yet anyway.
        fs::hard_link(self.root.join(target), self.root.join(rel))
    }

    /// Creates the symlink `rel` → `target`. Call only after every file was written: it
    /// refuses when a directory on the way is not a real directory of this stage.
    pub fn symlink(&mut self, rel: &Path, target: &[u8]) -> io::Result<()> {
        let rel = checked(rel)?;
        let mut cur = self.root.clone();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            cur.push(c);
            if !cur.symlink_metadata()?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a directory", crate::error::show(&cur)),
                ));
            }
        }
        std::os::unix::fs::symlink(OsStr::from_bytes(target), self.root.join(rel))
    }

    /// Gives directories their modes and mtimes (deepest first, after everything inside them
    /// exists), then renames the stage to the target without replacing anything. Returns the
    /// target and how the rename was made: on a filesystem that refuses `RENAME_NOREPLACE`
    /// (FUSE, NFS, SMB) a directory cannot be linked either, so the target is checked to be
    /// absent and then the stage renamed (`CheckThenRename`): only an empty directory that
    /// another process creates at the target in that instant could be replaced.
    pub(crate) fn commit(mut self) -> io::Result<(PathBuf, crate::fsx::NoReplace)> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mode, t) in &dirs {
            let p = self.root.join(rel);
            if *t > 0 {
                File::open(&p)?.set_modified(mtime(*t))?;
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(self.mode(*mode)))?;
        }
        if !dirs.iter().any(|(p, _, _)| p.as_os_str().is_empty()) {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(self.mode(0o777)))?;
        }
        let how = crate::util::rename_noreplace_how(&self.root, &self.dest, true)?;
        self.committed = true;
        home::sync_dir(home::parent_dir(&self.dest))?;
        Ok((self.dest.clone(), how))
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.committed {
            // A directory left 0500 by an entry's mode would stop the removal: open it up
            // first. Modes are only applied in `commit`, so this is belt and braces.
            let _ = fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700));
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Opens the directory at `path` and takes its `flock`, without waiting.
fn lock_dir(path: &Path) -> io::Result<File> {
    let d = File::open(path)?;
    try_lock(&d)?;
    Ok(d)
}

fn try_lock(d: &File) -> io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    flock(d, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)
}

/// A staging directory found beside a target: left by a `verify --extract` that was killed
/// (it holds unverified plaintext), or being filled by one that is running now.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Leftover {
    /// The staging directory.
    #[serde(serialize_with = "crate::util::path_text")]
    pub path: PathBuf,
    /// What became of it.
    pub state: LeftoverState,
}

/// The state of a partial extraction found beside a target (`--json`: snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LeftoverState {
    /// Its process is gone; it holds plaintext that was never verified.
    Abandoned,
    /// It was abandoned, and `--clean` removed it.
    Removed,
    /// A running verify holds it; it was not touched.
    InUse,
}

/// The staging directories in `dir` (`.*.handover-partial-*`, real directories, not
/// symlinks), and whether each was abandoned. With `clean`, abandoned ones are removed, by
/// handle and without following a symlink, while their lock is held.
pub fn leftovers(dir: &Path, clean: bool) -> io::Result<Vec<Leftover>> {
    let abs = crate::util::absolute(dir)?;
    let parent = match crate::fsx::open_dir_path(&abs) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (name, _) in crate::fsx::read_dir(&parent)? {
        let b = name.as_bytes();
        if !b.starts_with(b".") || !b.windows(PARTIAL.len()).any(|w| w == PARTIAL) {
            continue;
        }
        // Opened without following a symlink: a link named like a stage is not one.
        let Ok(d) = crate::fsx::open_dir_at(&parent, &name) else {
            continue;
        };
        let path = abs.join(&name);
        let state = match try_lock(&d) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => LeftoverState::InUse,
            Err(e) => return Err(e),
            Ok(()) if clean => {
                remove_tree(&d)?;
                crate::fsx::rmdir_at(&parent, &name)?;
                LeftoverState::Removed
            }
            Ok(()) => LeftoverState::Abandoned,
        };
        out.push(Leftover { path, state });
    }
    Ok(out)
}

/// Empties the directory `d`: its directories first made writable (an interrupted commit may
/// have left one read-only), then emptied and removed, depth first; never follows a symlink.
fn remove_tree(d: &File) -> io::Result<()> {
    rustix::fs::fchmod(d, rustix::fs::Mode::from_raw_mode(0o700))?;
    for (name, ft) in crate::fsx::read_dir(d)? {
        let is_dir = match ft {
            crate::fsx::FileType::Unknown => {
                let st = crate::fsx::lstat_at(d, &name)?;
                crate::fsx::FileType::from_raw_mode(st.st_mode as _)
                    == crate::fsx::FileType::Directory
            }
            ft => ft == crate::fsx::FileType::Directory,
        };
        if is_dir {
            remove_tree(&crate::fsx::open_dir_at(d, &name)?)?;
            crate::fsx::rmdir_at(d, &name)?;
        } else {
            crate::fsx::unlink_at(d, &name)?;
        }
    }
    Ok(())
}
