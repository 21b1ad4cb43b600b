//! Planning a deletion: resolve the paths, refuse the unsafe ones, walk by directory handle
//! without following symlinks, and decide each file's method from its filesystem. Touches
//! nothing.
//!
//! Fault points (test builds only, see `crate::fault`): `plan.resolved` after a root's parent
//! was resolved and before it is opened; `plan.opening` after a directory's lstat and before
//! it is opened (the root directory is hit 1); `plan.readdir` after a directory's names were
//! read and before any is looked at (the root's is hit 1).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::erase::fsinfo::{self, FsClass, FsInfo};
use crate::error::Blocker;
use crate::fsx::{self, Access, FileType, Stat};
use crate::home::Home;
use crate::util;

use super::Request;

/// One filesystem and what deletion does on it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct FsMethod {
    /// The filesystem type: `ext4`, `xfs`, `btrfs`, ...
    pub filesystem: String,
    /// Where it is mounted (empty when not found).
    pub mount_point: String,
    /// `MAJ:MIN` of the filesystem's device.
    pub device: String,
    /// Whether sysfs calls the device rotational (None: no block device, or sysfs is silent).
    pub rotational: Option<bool>,
    /// `clear`, `overwrite_best_effort`, `logical_delete` or `unlink`.
    pub method: String,
    /// For people: what is done.
    pub description: String,
    /// Why the method is weaker than Clear, when it is.
    pub reason: Option<String>,
    /// How many deleted entries got this method on this filesystem.
    pub entries: u64,
    /// The bytes of those entries.
    pub bytes: u64,
}

/// A root after resolution.
pub(super) struct Root {
    pub(super) path: PathBuf,
    pub(super) label: String,
    pub(super) exists: bool,
    pub(super) fs: FsInfo,
    /// The parent directory, opened at resolution with no symlink on the way (`None` when a
    /// recorded path's parent is gone). The walk starts here; the run may use it too.
    pub(super) parent: Option<File>,
    /// dev/ino of the parent directory as opened at resolution ((0, 0) when it is gone): a
    /// later open of `path`'s parent must find this directory again.
    pub(super) parent_dev: u64,
    pub(super) parent_ino: u64,
    /// dev/ino of the root itself as lstat saw it at resolution ((0, 0) when it does not
    /// exist): the entry `path`'s name in the parent must still be this inode.
    pub(super) dev: u64,
    pub(super) ino: u64,
}

impl Root {
    /// Whether the root is still what resolution found: its parent path opens by handle (no
    /// symlink on the way) to the same directory, and the name there is the same inode. A
    /// root that vanished is left to the run, which reports it. Nothing is followed.
    pub(super) fn recheck(&self) -> Result<(), Blocker> {
        let (true, Some(name)) = (self.exists, self.path.file_name()) else {
            return Ok(());
        };
        let parent = crate::home::parent_dir(&self.path);
        let dir = fsx::open_dir_path(parent).map_err(|e| parent_blocker(&e, parent, &self.path))?;
        let pid = fsx::fstat(&dir).map_err(|e| io_blocker("unreadable", parent, &e))?;
        if fsx::id(&pid) != (self.parent_dev, self.parent_ino) {
            return Err(changed(&self.path, "its parent directory was replaced"));
        }
        match fsx::lstat_at(&dir, name) {
            Ok(st) if fsx::id(&st) != (self.dev, self.ino) => {
                Err(changed(&self.path, "was replaced"))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_blocker("unreadable", &self.path, &e)),
        }
    }
}

/// One entry found by the walk.
pub(super) struct Planned {
    pub(super) root_idx: u32,
    pub(super) rel: Vec<u8>,
    pub(super) kind: &'static str,
    pub(super) bytes: u64,
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) method: &'static str,
    pub(super) reason: Option<String>,
}

pub(super) fn io_blocker(kind: &'static str, path: &Path, e: &io::Error) -> Blocker {
    Blocker {
        kind,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub(super) fn entry_path(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// The SHA-256 that identifies a set of roots (sorted, NUL-separated).
pub(super) fn roots_key(roots: &[Root]) -> String {
    let mut h = Sha256::new();
    let mut paths: Vec<&[u8]> = roots
        .iter()
        .map(|r| r.path.as_os_str().as_bytes())
        .collect();
    paths.sort();
    for p in paths {
        h.update(p);
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// A root as resolution found it, before its filesystem is described.
pub(super) struct Resolved {
    pub(super) path: PathBuf,
    pub(super) label: String,
    pub(super) exists: bool,
    /// The parent directory, opened with no symlink on the way (None when it is gone).
    pub(super) parent: Option<File>,
    /// dev/ino of the parent as opened, and of the root as lstat saw it ((0, 0) when absent).
    pub(super) parent_id: (u64, u64),
    pub(super) id: (u64, u64),
    pub(super) is_dir: bool,
}

impl Resolved {
    /// A root that does not exist (gone since export, or removed by an interrupted run).
    fn absent(path: PathBuf, label: &str, parent: Option<File>, parent_id: (u64, u64)) -> Self {
        Resolved {
            path,
            label: label.to_string(),
            exists: false,
            parent,
            parent_id,
            id: (0, 0),
            is_dir: false,
        }
    }
}

/// Resolves the given paths: absolute, the parent directory resolved physically the way the
/// kernel would (symlinks followed, then `..` of their targets; the last component is kept,
/// so a symlink given as a path is itself deleted), the parent opened by handle with no
/// symlink on the way, duplicates and nested paths folded into the outermost one.
pub(super) fn resolve_roots(
    req: &Request,
    blockers: &mut Vec<Blocker>,
    missing: &mut Vec<Blocker>,
    warnings: &mut Vec<String>,
) -> Vec<Resolved> {
    let mut out: Vec<Resolved> = Vec::new();
    for (given, label) in &req.roots {
        // Paths export recorded (not --also ones the user typed) must still be themselves.
        let recorded = req.recorded && label != "also";
        let mut notes = Notes {
            blockers,
            missing,
            warnings,
        };
        if let Some(r) = resolve_one(given, label, recorded, &mut notes) {
            out.push(r);
        }
    }
    // Outermost first, then drop anything equal to or inside an earlier root.
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let mut kept: Vec<Resolved> = Vec::new();
    for r in out {
        if !kept.iter().any(|k| r.path.starts_with(&k.path)) {
            kept.push(r);
        }
    }
    kept
}

/// Where resolution reports what it found.
struct Notes<'a> {
    blockers: &'a mut Vec<Blocker>,
    missing: &'a mut Vec<Blocker>,
    warnings: &'a mut Vec<String>,
}

impl Notes<'_> {
    fn gone(&mut self, path: &Path, label: &str) {
        self.warnings.push(format!(
            "{} ({label}) no longer exists; nothing to delete there",
            crate::error::show(path)
        ));
    }
}

/// Resolves one given path; `None` when it is refused (a blocker) or left out.
fn resolve_one(given: &Path, label: &str, recorded: bool, n: &mut Notes) -> Option<Resolved> {
    // Like rm(1): `.` and `..` are refused; name the directory instead.
    let raw = given.as_os_str().as_bytes();
    if raw == b"." || raw == b".." || raw.ends_with(b"/.") || raw.ends_with(b"/..") {
        n.blockers.push(Blocker {
            kind: "dot_path",
            path: given.to_path_buf(),
            message: "refusing to delete '.' or '..'; name the directory instead".into(),
        });
        return None;
    }
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            n.blockers.push(io_blocker("unresolvable", given, &e));
            return None;
        }
    };
    // `..` is kept here for the kernel to resolve; `lexical` is only what the text says.
    let joined = cwd.join(given);
    let lexical = util::absolute(given).unwrap_or_else(|_| joined.clone());
    let gone = |n: &mut Notes, path: PathBuf| {
        n.gone(&path, label);
        Some(Resolved::absent(path, label, None, (0, 0)))
    };
    let (Some(parent), Some(name)) = (joined.parent(), joined.file_name()) else {
        n.blockers.push(Blocker {
            kind: "root_directory",
            path: given.to_path_buf(),
            message: "refusing to delete the root directory /".into(),
        });
        return None;
    };
    let name = name.to_os_string();
    // Physically, like the kernel and rm(1): `link/../x` is `x` beside the directory `link`
    // points into, not `./x`.
    let parent = match fs::canonicalize(parent) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound && recorded => return gone(n, lexical),
        Err(e) => {
            n.blockers.push(io_blocker("not_found", &lexical, &e));
            return None;
        }
    };
    let path = parent.join(&name);
    if recorded && path != lexical {
        n.blockers.push(Blocker {
            kind: "outside_registered_roots",
            path: lexical.clone(),
            message: format!(
                "recorded by export as this path, but it now resolves to {} (a directory on the way was replaced by a symlink?)",
                crate::error::show(&path)
            ),
        });
        return None;
    }
    // Test builds: a test swaps a directory on the way for a symlink here.
    crate::fault::point("plan.resolved");
    let dir = match fsx::open_dir_path(&parent) {
        Ok(d) => d,
        Err(e) if recorded && e.kind() == io::ErrorKind::NotFound => return gone(n, path),
        Err(e) => {
            n.blockers.push(parent_blocker(&e, &parent, &path));
            return None;
        }
    };
    let parent_id = fsx::fstat(&dir).map(|s| fsx::id(&s)).unwrap_or((0, 0));
    let st = match fsx::lstat_at(&dir, &name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if recorded {
                return gone(n, path);
            }
            // A blocker unless an interrupted job for these paths removed it: decided in
            // `run` once the job is looked up.
            n.missing.push(io_blocker("not_found", &path, &e));
            return Some(Resolved::absent(path, label, Some(dir), parent_id));
        }
        Err(e) => {
            n.blockers.push(io_blocker("unreadable", &path, &e));
            return None;
        }
    };
    let ft = FileType::from_raw_mode(st.st_mode as _);
    if recorded && ft == FileType::Symlink {
        n.blockers
            .push(symlink_root_blocker(&dir, &name, &path, label));
        return None;
    }
    Some(Resolved {
        path,
        label: label.to_string(),
        exists: true,
        parent: Some(dir),
        parent_id,
        id: fsx::id(&st),
        is_dir: ft == FileType::Directory,
    })
}

/// A recorded root that is now a symlink: the data was moved and a link left in its place.
/// Deleting the link would certify a deletion while the data lives on elsewhere.
fn symlink_root_blocker(dir: &File, name: &OsStr, path: &Path, label: &str) -> Blocker {
    let target = fsx::readlink_at(dir, name).unwrap_or_default();
    Blocker {
        kind: "root_is_symlink",
        path: path.to_path_buf(),
        message: format!(
            "recorded by export as the {label}, but it is now a symlink to {}: the data may have moved there. Delete it by its real path with `handover shred`, or remove the symlink, then run again",
            crate::error::show(Path::new(&target))
        ),
    }
}

/// Why the resolved parent of `path` could not be opened by handle. A symlink on the way
/// (`ELOOP`) or a file where a directory was (`ENOTDIR`) was swapped in since resolution.
fn parent_blocker(e: &io::Error, parent: &Path, path: &Path) -> Blocker {
    if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) {
        Blocker {
            kind: "changed",
            path: path.to_path_buf(),
            message: format!(
                "a directory on the way to it was replaced by a symlink or another file while the plan was made ({e}); nothing was touched: check what changed it, then run again"
            ),
        }
    } else {
        io_blocker("unreadable", parent, e)
    }
}

/// Whether a name in the handover home is the home's own state, matched by the whole name:
/// the keys (`audit.key`, `handover.key`, `age.key`, any `*.key`, and the `*.pub` beside
/// them), the state database with its `-wal`, `-shm` and `-journal` files, and
/// `certificates/`. A name that merely starts like one (`state.db.bak`) is not protected.
fn is_home_state(name: &OsStr) -> bool {
    let n = name.as_bytes();
    matches!(
        n,
        b"state.db"
            | b"state.db-wal"
            | b"state.db-shm"
            | b"state.db-journal"
            | b"certificates"
            | b"locks"
    ) || n.ends_with(b".key")
        || n.ends_with(b".pub")
}

/// Refuses roots that are `/`, a home directory or contain one, the handover home or its
/// state.
pub(super) fn safety_blockers(
    roots: &[Root],
    home: &Home,
    cert_dir: &Path,
    blockers: &mut Vec<Blocker>,
) {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let homes: Vec<(String, PathBuf)> = fsinfo::home_directories()
        .into_iter()
        .map(|(u, h)| (u, canon(&h)))
        .collect();
    let given_home = util::absolute(&home.dir).unwrap_or(home.dir.clone());
    let handover_home = canon(&given_home);
    let cert_dir = canon(&util::absolute(cert_dir).unwrap_or(cert_dir.to_path_buf()));
    let mounts = fsinfo::mount_points();
    for r in roots {
        let p = &r.path;
        if p.parent().is_none() {
            blockers.push(Blocker {
                kind: "root_directory",
                path: p.clone(),
                message: "refusing to delete the root directory /".into(),
            });
            continue;
        }
        for (user, h) in &homes {
            if h.starts_with(p) {
                blockers.push(Blocker {
                    kind: "home_directory",
                    path: p.clone(),
                    message: format!(
                        "is or contains the home directory {} of {user}",
                        crate::error::show(h)
                    ),
                });
                break;
            }
        }
        // The home as given (it may be a symlink) and as resolved: deleting the link that
        // names it, or anything the home holds, is refused either way.
        let protected = |home: &Path| {
            p.strip_prefix(home)
                .ok()
                .and_then(|rest| rest.components().next())
                .is_some_and(|c| is_home_state(c.as_os_str()))
                || home.starts_with(p)
        };
        if protected(&handover_home) || protected(&given_home) {
            blockers.push(Blocker {
                kind: "handover_home",
                path: p.clone(),
                message: format!(
                    "is or holds the handover home folder {} or its state (keys, state database, certificates): deleting it would lose the audit and signing keys",
                    crate::error::show(&handover_home)
                ),
            });
        }
        if cert_dir.starts_with(p) {
            blockers.push(Blocker {
                kind: "certificate_inside",
                path: p.clone(),
                message: format!(
                    "contains the directory the certificate is written to ({})",
                    crate::error::show(&cert_dir)
                ),
            });
        }
        if r.exists {
            for m in &mounts {
                if m.starts_with(p) {
                    blockers.push(Blocker {
                        kind: "mount_point",
                        path: m.clone(),
                        message: format!(
                            "a filesystem is mounted here, inside {}; unmount it or leave it out",
                            crate::error::show(p)
                        ),
                    });
                }
            }
        }
    }
}

/// How a regular file on `fs` will be deleted, and why it is not Clear when it is not.
pub(super) fn method_for(
    fs: &FsInfo,
    shared: Option<bool>,
    journalled: bool,
) -> (&'static str, Option<String>) {
    match fs.class {
        FsClass::InPlace => {
            if shared == Some(true) {
                ("logical_delete", Some("its blocks are shared with another file or a snapshot (reflink or dedupe): a rewrite would be copied elsewhere and leave the shared blocks as they are".into()))
            } else if fs.data_journal || journalled {
                ("overwrite_best_effort", Some("ext4 journals this file's data: earlier copies may remain in the journal until it is reused".into()))
            } else if let Some(why) = fs.media_caveat() {
                // A virtual disk's rotational flag is the hypervisor's default, not the media's.
                ("overwrite_best_effort", Some(why))
            } else {
                match fs.rotational {
                    Some(true) => ("clear", None),
                    Some(false) => ("overwrite_best_effort", Some("non-rotational media (SSD or flash): the device may remap the writes and keep the old cells until it erases them".into())),
                    None => ("overwrite_best_effort", Some("the kind of device could not be determined, so overwriting in place cannot be assumed".into())),
                }
            }
        }
        FsClass::CopyOnWrite => ("logical_delete", Some(format!("{} is copy-on-write or log-structured: a rewrite goes to new blocks, so overwriting cannot reach the old ones", fs.fs_type))),
        FsClass::Overlay => ("logical_delete", Some("overlay filesystem: writing would copy the file up and the lower layer keeps its copy; the name is removed with a whiteout".into())),
        FsClass::Memory => ("overwrite_best_effort", Some(format!("{} keeps files in memory: the pages are overwritten in place, but copies swapped out earlier are not reached", fs.fs_type))),
        FsClass::Network => ("logical_delete", Some(format!("{} stores the bytes on another system, which decides what happens to them", fs.fs_type))),
        FsClass::Unknown => ("overwrite_best_effort", Some(format!("{}: whether it rewrites in place is not known", fs.fs_type))),
    }
}

/// Describes a method for people.
pub fn describe_method(method: &str) -> &'static str {
    match method {
        "clear" => {
            "Clear: overwritten in place with a ChaCha20 keystream, read back from the device and compared, then truncated, renamed and unlinked"
        }
        "overwrite_best_effort" => {
            "overwrite, best effort: overwritten with a ChaCha20 keystream, read back and compared, then truncated, renamed and unlinked; the old blocks may survive elsewhere (see the reason)"
        }
        "logical_delete" => {
            "logical delete: not overwritten, because overwriting cannot reach the old blocks (see the reason); truncated (except on overlay, where that would copy the file up) and unlinked"
        }
        _ => {
            "unlinked: no file data of its own (directory, symlink, special file, or a further hard link to a file overwritten under its first name)"
        }
    }
}

/// Checks that entries of the open directory `dir` (at `path`) can be removed by us.
fn dir_blocker(dir: &File, path: &Path, blockers: &mut Vec<Blocker>) {
    if let Err(e) = fsx::access_at(dir, None, Access::WRITE_OK | Access::EXEC_OK) {
        blockers.push(Blocker {
            kind: "directory_not_writable",
            path: path.to_path_buf(),
            message: format!("entries cannot be removed from this directory: {e}"),
        });
    }
}

/// A directory being walked: its handle, its stat (for the sticky rule), the names still to
/// look at, and its path relative to the root.
struct Frame {
    dir: File,
    stat: Stat,
    names: std::vec::IntoIter<(OsString, FileType)>,
    rel: Vec<u8>,
}

/// One root's walk and where it reports.
struct Walk<'a> {
    idx: u32,
    root: &'a Root,
    planned: &'a mut Vec<Planned>,
    blockers: &'a mut Vec<Blocker>,
    links: &'a mut HashMap<(u64, u64), (u64, u64, PathBuf)>,
    euid: u32,
    root_dev: u64,
    /// The mount the root directory is on (set when it is opened): a directory on another
    /// mount, even a bind mount of the same filesystem dropped in during the walk, is a
    /// blocker, never walked.
    root_mnt: Option<u64>,
}

/// The blocker for an entry that is no longer what lstat (or resolution) showed.
fn changed(path: &Path, what: &str) -> Blocker {
    Blocker {
        kind: "changed",
        path: path.to_path_buf(),
        message: format!(
            "{what} while the plan was being made; nothing was touched: check what changes it, then run again"
        ),
    }
}

/// Walks one root by handle, appending planned entries (each directory before its children,
/// names bytewise: the run removes directories in reverse plan order) and blockers.
///
/// Starts at the parent opened at resolution and goes down one name at a time: each entry is
/// lstat'ed relative to its directory's handle, a directory is opened with
/// `O_DIRECTORY|O_NOFOLLOW` and must be the inode lstat showed, a file is opened with
/// `O_NOFOLLOW` and checked the same way. A directory swapped for a symlink before its lstat
/// is planned as a symlink (unlinked, its target untouched); swapped after, it is a blocker.
pub(super) fn walk_root(
    idx: u32,
    root: &Root,
    planned: &mut Vec<Planned>,
    blockers: &mut Vec<Blocker>,
    links: &mut HashMap<(u64, u64), (u64, u64, PathBuf)>,
) {
    let parent_path = crate::home::parent_dir(&root.path).to_path_buf();
    let (Some(parent), Some(name)) = (&root.parent, root.path.file_name()) else {
        return;
    };
    let pstat = match fsx::fstat(parent) {
        Ok(s) => s,
        Err(e) => return blockers.push(io_blocker("unreadable", &parent_path, &e)),
    };
    dir_blocker(parent, &parent_path, blockers);
    let st = match fsx::lstat_at(parent, name) {
        Ok(s) => s,
        Err(e) => return blockers.push(io_blocker("unreadable", &root.path, &e)),
    };
    if fsx::id(&st) != (root.dev, root.ino) {
        return blockers.push(changed(&root.path, "was replaced"));
    }
    let mut w = Walk {
        idx,
        root,
        planned,
        blockers,
        links,
        // SAFETY: geteuid has no preconditions.
        euid: unsafe { libc::geteuid() },
        root_dev: fsx::id(&st).0,
        root_mnt: None,
    };
    let mut stack: Vec<Frame> = Vec::new();
    if let Some(f) = w.entry(parent, &pstat, name, &st, Vec::new()) {
        stack.push(f);
    }
    while let Some(top) = stack.last_mut() {
        let Some((name, _)) = top.names.next() else {
            stack.pop();
            continue;
        };
        let mut rel = top.rel.clone();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let st = match fsx::lstat_at(&top.dir, &name) {
            Ok(s) => s,
            Err(e) => {
                let path = entry_path(&root.path, &rel);
                w.blockers.push(io_blocker("unreadable", &path, &e));
                continue;
            }
        };
        let next = w.entry(&top.dir, &top.stat, &name, &st, rel);
        if let Some(f) = next {
            stack.push(f);
        }
    }
}

impl Walk<'_> {
    /// Plans the entry `name` of `dir` (lstat `st`); returns the frame to walk when it is a
    /// directory that was opened and is still the one lstat showed.
    fn entry(
        &mut self,
        dir: &File,
        dstat: &Stat,
        name: &OsStr,
        st: &Stat,
        rel: Vec<u8>,
    ) -> Option<Frame> {
        let path = entry_path(&self.root.path, &rel);
        // Sticky directories (like /tmp): only the owner of an entry or of the directory
        // (or root) may remove the entry.
        if dstat.st_mode & libc::S_ISVTX != 0
            && self.euid != 0
            && st.st_uid != self.euid
            && dstat.st_uid != self.euid
        {
            self.blockers.push(Blocker {
                kind: "sticky_directory",
                path: path.clone(),
                message: "owned by another user in a sticky directory: it cannot be removed".into(),
            });
        }
        let (dev, ino) = fsx::id(st);
        let mut frame = None;
        let (kind, bytes, method, reason) = match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Directory => {
                frame = self.open_dir(dir, name, st, &path, &rel);
                ("dir", 0, "unlink", None)
            }
            FileType::Symlink => ("symlink", 0, "unlink", None),
            FileType::RegularFile => {
                // Names of one inode after the first are only unlinked: overwriting through
                // each name would rewrite the same blocks again (and fail the first name's
                // read-back).
                #[allow(clippy::unnecessary_cast)] // st_nlink's width differs by architecture
                let nlink = st.st_nlink as u64;
                let mut again = false;
                if nlink > 1 {
                    let e = self
                        .links
                        .entry((dev, ino))
                        .or_insert((nlink, 0, path.clone()));
                    e.1 += 1;
                    again = e.1 > 1;
                }
                if again {
                    ("hard_link", 0, "unlink", None)
                } else {
                    let (m, r) = plan_file(dir, name, &path, st, &self.root.fs, self.blockers);
                    ("file", st.st_size as u64, m, r)
                }
            }
            _ => ("other", 0, "unlink", None),
        };
        self.planned.push(Planned {
            root_idx: self.idx,
            rel,
            kind,
            bytes,
            dev,
            ino,
            method,
            reason,
        });
        frame
    }

    /// Opens the directory `name` of `dir` to walk it: refused (a blocker) when it is on
    /// another filesystem, is no longer a directory (a symlink swapped in), or is another
    /// directory than the one lstat showed.
    fn open_dir(
        &mut self,
        dir: &File,
        name: &OsStr,
        st: &Stat,
        path: &Path,
        rel: &[u8],
    ) -> Option<Frame> {
        if fsx::id(st).0 != self.root_dev {
            self.blockers.push(Blocker {
                kind: "other_filesystem",
                path: path.to_path_buf(),
                message: "another filesystem (or btrfs subvolume) starts here; leave it out or delete it separately".into(),
            });
            return None;
        }
        // Test builds: a test swaps the directory for a symlink between lstat and open.
        crate::fault::point("plan.opening");
        let child = match fsx::open_dir_at(dir, name) {
            Ok(c) => c,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                self.blockers.push(changed(
                    path,
                    "was a directory, then became a symlink or a file",
                ));
                return None;
            }
            Err(e) => {
                self.blockers.push(io_blocker("unreadable", path, &e));
                return None;
            }
        };
        let stat = match fsx::fstat(&child) {
            Ok(s) if fsx::id(&s) == fsx::id(st) => s,
            Ok(_) => {
                self.blockers
                    .push(changed(path, "was replaced by another directory"));
                return None;
            }
            Err(e) => {
                self.blockers.push(io_blocker("unreadable", path, &e));
                return None;
            }
        };
        let mnt = fsx::mount_id(&child);
        if rel.is_empty() {
            self.root_mnt = mnt;
        } else if let (Some(root), Some(here)) = (self.root_mnt, mnt)
            && root != here
        {
            self.blockers.push(Blocker {
                kind: "mount_point",
                path: path.to_path_buf(),
                message:
                    "a filesystem (or a bind mount) is mounted here: unmount it or leave it out"
                        .into(),
            });
            return None;
        }
        dir_blocker(&child, path, self.blockers);
        let names = match fsx::read_dir(&child) {
            Ok(n) => n,
            Err(e) => {
                self.blockers.push(io_blocker("unreadable", path, &e));
                return None;
            }
        };
        // Test builds: a test swaps an entry of this directory before it is looked at.
        crate::fault::point("plan.readdir");
        Some(Frame {
            dir: child,
            stat,
            names: names.into_iter(),
            rel: rel.to_vec(),
        })
    }
}

/// Checks that the regular file `name` of `dir` can be opened for writing (and read back),
/// and decides its method from the filesystem, shared extents and per-file data journalling.
fn plan_file(
    dir: &File,
    name: &OsStr,
    path: &Path,
    st: &Stat,
    fsi: &FsInfo,
    blockers: &mut Vec<Blocker>,
) -> (&'static str, Option<String>) {
    if fsi.class == FsClass::Overlay {
        // Opening a lower-layer file for writing copies it up, which would write the client's
        // data to a new place: ask the kernel with access(2) instead of opening.
        if let Err(e) = fsx::access_at(dir, Some(name), Access::READ_OK | Access::WRITE_OK) {
            blockers.push(io_blocker("not_writable", path, &e));
        }
        return method_for(fsi, None, false);
    }
    // O_NONBLOCK (fsx): a file under a lease held by another process fails instead of waiting.
    match fsx::open_file_at(dir, name, true) {
        Ok(f) => {
            if fsx::fstat(&f).is_ok_and(|m| fsx::id(&m) != fsx::id(st)) {
                blockers.push(changed(path, "was replaced by another file"));
                return method_for(fsi, None, false);
            }
            let shared = if st.st_size > 0 {
                fsinfo::has_shared_extents(&f)
            } else {
                Some(false)
            };
            let journalled = fsi.fs_type == "ext4" && fsinfo::journals_data(&f);
            method_for(fsi, shared, journalled)
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            blockers.push(changed(path, "was a file, then became a symlink"));
            method_for(fsi, None, false)
        }
        Err(e) => {
            blockers.push(Blocker {
                kind: "not_writable",
                path: path.to_path_buf(),
                message: format!("cannot be opened for writing and reading back: {e}"),
            });
            method_for(fsi, None, false)
        }
    }
}

/// Groups entries by root filesystem and method, for the plan and the certificate.
pub(crate) fn fs_methods<'a>(
    roots: &[(&FsInfo, u32)],
    entries: impl Iterator<Item = (u32, &'a str, &'a str, Option<&'a str>, u64)>,
) -> Vec<FsMethod> {
    let mut out: Vec<FsMethod> = Vec::new();
    for (root_idx, _kind, method, reason, bytes) in entries {
        let Some((fsi, _)) = roots.iter().find(|(_, i)| *i == root_idx) else {
            continue;
        };
        let m = FsMethod {
            filesystem: fsi.fs_type.clone(),
            mount_point: crate::error::show(&fsi.mount_point),
            device: fsi.device.clone(),
            rotational: fsi.rotational,
            method: method.to_string(),
            description: describe_method(method).to_string(),
            reason: reason.map(str::to_string),
            entries: 0,
            bytes: 0,
        };
        let slot = match out.iter_mut().find(|o| {
            o.filesystem == m.filesystem
                && o.device == m.device
                && o.mount_point == m.mount_point
                && o.method == m.method
                && o.reason == m.reason
        }) {
            Some(s) => s,
            None => {
                out.push(m);
                out.last_mut().expect("just pushed")
            }
        };
        slot.entries += 1;
        slot.bytes += bytes;
    }
    out
}

/// Blockers found by identity (device and inode), not by path, so no other spelling of a
/// path escapes them: a `..` after a symlink, a bind mount of the same filesystem, or the
/// same directory named twice all reach the same inodes.
/// - any entry that IS the handover home or one of its protected files (keys, state
///   database, certificates), however the home or the entry was named;
/// - a directory reached twice (two roots that are the same directory through a bind mount
///   or an alias): its files would be counted twice, and a hard link to a file outside the
///   paths would pass the "every name is inside" check;
/// - two file roots that are the same name in the same directory.
pub(super) fn identity_blockers(
    home: &Home,
    roots: &[Root],
    planned: &[Planned],
    blockers: &mut Vec<Blocker>,
) {
    use std::os::unix::fs::MetadataExt;
    let mut protected: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // The home as the kernel resolves it (`LINK/..` is the parent of LINK's target), as
    // resolved physically, and as written with `..` folded as text: every way it was named.
    let abs = util::absolute(&home.dir).ok();
    for dir in [
        Some(home.dir.clone()),
        fs::canonicalize(&home.dir).ok(),
        abs,
    ]
    .into_iter()
    .flatten()
    {
        let Ok(m) = fs::metadata(&dir) else { continue };
        protected.insert((m.dev(), m.ino()), dir.clone());
        let Ok(h) = fs::File::open(&dir) else {
            continue;
        };
        for (name, _) in fsx::read_dir(&h).unwrap_or_default() {
            if is_home_state(&name)
                && let Ok(st) = fsx::lstat_at(&h, &name)
            {
                protected.insert(fsx::id(&st), dir.join(&name));
            }
        }
    }
    let mut dirs: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for p in planned {
        let path = entry_path(&roots[p.root_idx as usize].path, &p.rel);
        if let Some(what) = protected.get(&(p.dev, p.ino)) {
            blockers.push(Blocker {
                kind: "handover_home",
                path: path.clone(),
                message: format!(
                    "is the handover home's own {} (the same file, reached by another path): state, keys and certificates are never deleted",
                    crate::error::show(what)
                ),
            });
        }
        if p.kind == "dir"
            && let Some(first) = dirs.insert((p.dev, p.ino), path.clone())
        {
            blockers.push(Blocker {
                kind: "reached_twice",
                path,
                message: format!(
                    "is the same directory as {} (a bind mount or another name for it): name it once",
                    crate::error::show(&first)
                ),
            });
        }
    }
    let mut names: HashMap<(u64, u64, &OsStr), &Path> = HashMap::new();
    for r in roots.iter().filter(|r| r.exists && r.parent.is_some()) {
        let Some(n) = r.path.file_name() else {
            continue;
        };
        if let Some(first) = names.insert((r.parent_dev, r.parent_ino, n), &r.path) {
            blockers.push(Blocker {
                kind: "reached_twice",
                path: r.path.clone(),
                message: format!(
                    "is the same entry as {} (reached through a bind mount or another name): name it once",
                    crate::error::show(first)
                ),
            });
        }
    }
}
