//! Planning a deletion: resolve the paths, refuse the unsafe ones, walk without following
//! symlinks, and decide each file's method from its filesystem. Touches nothing.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::Blocker;
use crate::fsinfo::{self, FsClass, FsInfo};
use crate::home::Home;
use crate::util;

use super::{FsMethod, Request};

/// A root after resolution.
pub(super) struct Root {
    pub(super) path: PathBuf,
    pub(super) label: String,
    pub(super) exists: bool,
    pub(super) fs: FsInfo,
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

/// Resolves the given paths: absolute, the parent directory canonical (the last component is
/// kept, so a symlink given as a path is itself deleted), duplicates and nested paths folded
/// into the outermost one.
pub(super) fn resolve_roots(
    req: &Request,
    blockers: &mut Vec<Blocker>,
    missing: &mut Vec<Blocker>,
    warnings: &mut Vec<String>,
) -> Vec<(PathBuf, String, bool)> {
    let mut out: Vec<(PathBuf, String, bool)> = Vec::new();
    for (given, label) in &req.roots {
        // Paths export recorded (not --also ones the user typed) must still be themselves.
        let recorded = req.recorded && label != "also";
        // Like rm(1): `.` and `..` are refused; name the directory instead.
        let raw = given.as_os_str().as_bytes();
        if raw == b"." || raw == b".." || raw.ends_with(b"/.") || raw.ends_with(b"/..") {
            blockers.push(Blocker {
                kind: "dot_path",
                path: given.clone(),
                message: "refusing to delete '.' or '..'; name the directory instead".into(),
            });
            continue;
        }
        let abs = match util::absolute(given) {
            Ok(a) => a,
            Err(e) => {
                blockers.push(io_blocker("unresolvable", given, &e));
                continue;
            }
        };
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            blockers.push(Blocker {
                kind: "root_directory",
                path: abs.clone(),
                message: "refusing to delete the root directory /".into(),
            });
            continue;
        };
        let parent = match fs::canonicalize(parent) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound && recorded => {
                warnings.push(format!(
                    "{} ({label}) no longer exists; nothing to delete there",
                    crate::error::show(&abs)
                ));
                out.push((abs, label.clone(), false));
                continue;
            }
            Err(e) => {
                blockers.push(io_blocker("not_found", &abs, &e));
                continue;
            }
        };
        let path = parent.join(name);
        if recorded && path != abs {
            blockers.push(Blocker {
                kind: "outside_registered_roots",
                path: abs.clone(),
                message: format!(
                    "recorded by export as this path, but it now resolves to {} (a directory on the way was replaced by a symlink?)",
                    crate::error::show(&path)
                ),
            });
            continue;
        }
        let exists = match fs::symlink_metadata(&path) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if recorded {
                    warnings.push(format!(
                        "{} ({label}) no longer exists; nothing to delete there",
                        crate::error::show(&path)
                    ));
                } else {
                    // A blocker unless an interrupted job for these paths removed it: decided
                    // in `run` once the job is looked up.
                    missing.push(io_blocker("not_found", &path, &e));
                }
                false
            }
            Err(e) => {
                blockers.push(io_blocker("unreadable", &path, &e));
                continue;
            }
        };
        out.push((path, label.clone(), exists));
    }
    // Outermost first, then drop anything equal to or inside an earlier root.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(PathBuf, String, bool)> = Vec::new();
    for r in out {
        if !kept.iter().any(|k| r.0.starts_with(&k.0)) {
            kept.push(r);
        }
    }
    kept
}

/// Whether a name in the handover home is the home's own state, matched by the whole name:
/// the keys (`audit.key`, `handover.key`, `age.key`, any `*.key`, and the `*.pub` beside
/// them), the state database with its `-wal`, `-shm` and `-journal` files, and
/// `certificates/`. A name that merely starts like one (`state.db.bak`) is not protected.
fn is_home_state(name: &OsStr) -> bool {
    let n = name.as_bytes();
    matches!(
        n,
        b"state.db" | b"state.db-wal" | b"state.db-shm" | b"state.db-journal" | b"certificates"
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

/// Checks that entries of directory `dir` can be removed by us.
pub(super) fn dir_blocker(dir: &Path, blockers: &mut Vec<Blocker>) {
    let c = match std::ffi::CString::new(dir.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => return,
    };
    // SAFETY: c is NUL-terminated; faccessat only reads it.
    let r = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::W_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    if r != 0 {
        blockers.push(Blocker {
            kind: "directory_not_writable",
            path: dir.to_path_buf(),
            message: format!(
                "entries cannot be removed from this directory: {}",
                io::Error::last_os_error()
            ),
        });
    }
}

/// Walks one root, appending planned entries and blockers.
pub(super) fn walk_root(
    idx: u32,
    root: &Root,
    planned: &mut Vec<Planned>,
    blockers: &mut Vec<Blocker>,
    links: &mut HashMap<(u64, u64), (u64, u64, PathBuf)>,
) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let parent = crate::home::parent_dir(&root.path).to_path_buf();
    match fs::symlink_metadata(&parent) {
        Ok(_) => dir_blocker(&parent, blockers),
        Err(e) => blockers.push(io_blocker("unreadable", &parent, &e)),
    }
    let mut dir_meta: HashMap<PathBuf, fs::Metadata> = HashMap::new();
    if let Ok(m) = fs::symlink_metadata(&parent) {
        dir_meta.insert(parent.clone(), m);
    }
    let root_dev = fs::symlink_metadata(&root.path).map(|m| m.dev()).ok();
    let walker = walkdir::WalkDir::new(&root.path)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(&root.path).to_path_buf();
                let err = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("filesystem loop"));
                blockers.push(io_blocker("unreadable", &path, &err));
                continue;
            }
        };
        let path = entry.path();
        let rel = path
            .strip_prefix(&root.path)
            .expect("the walk stays under its root")
            .as_os_str()
            .as_bytes()
            .to_vec();
        if !path.starts_with(&root.path) {
            blockers.push(Blocker {
                kind: "outside_registered_roots",
                path: path.to_path_buf(),
                message: "outside the paths given".into(),
            });
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                let err = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("metadata"));
                blockers.push(io_blocker("unreadable", path, &err));
                continue;
            }
        };
        // Sticky directories (like /tmp): only the owner of an entry or of the directory
        // (or root) may remove the entry.
        if let Some(pm) = path.parent().and_then(|p| dir_meta.get(p))
            && pm.mode() & libc::S_ISVTX != 0
            && euid != 0
            && meta.uid() != euid
            && pm.uid() != euid
        {
            blockers.push(Blocker {
                kind: "sticky_directory",
                path: path.to_path_buf(),
                message: "owned by another user in a sticky directory: it cannot be removed".into(),
            });
        }
        let ft = meta.file_type();
        let (kind, bytes, method, reason) = if ft.is_dir() {
            if Some(meta.dev()) != root_dev {
                blockers.push(Blocker {
                    kind: "other_filesystem",
                    path: path.to_path_buf(),
                    message: "another filesystem (or btrfs subvolume) starts here; leave it out or delete it separately".into(),
                });
            }
            dir_blocker(path, blockers);
            dir_meta.insert(path.to_path_buf(), meta.clone());
            ("dir", 0, "unlink", None)
        } else if ft.is_symlink() {
            ("symlink", 0, "unlink", None)
        } else if ft.is_file() {
            // Names of one inode after the first are only unlinked: overwriting through each
            // name would rewrite the same blocks again (and fail the first name's read-back).
            let mut again = false;
            if meta.nlink() > 1 {
                let e = links.entry((meta.dev(), meta.ino())).or_insert((
                    meta.nlink(),
                    0,
                    path.to_path_buf(),
                ));
                e.1 += 1;
                again = e.1 > 1;
            }
            if again {
                ("hard_link", 0, "unlink", None)
            } else {
                let (method, reason) = plan_file(path, &meta, &root.fs, blockers);
                ("file", meta.len(), method, reason)
            }
        } else {
            ("other", 0, "unlink", None)
        };
        planned.push(Planned {
            root_idx: idx,
            rel,
            kind,
            bytes,
            dev: meta.dev(),
            ino: meta.ino(),
            method,
            reason,
        });
    }
}

/// Checks that a regular file can be opened for writing (and read back), and decides its
/// method from the filesystem, shared extents and per-file data journalling.
pub(super) fn plan_file(
    path: &Path,
    meta: &fs::Metadata,
    fsi: &FsInfo,
    blockers: &mut Vec<Blocker>,
) -> (&'static str, Option<String>) {
    if fsi.class == FsClass::Overlay {
        // Opening a lower-layer file for writing copies it up, which would write the client's
        // data to a new place: ask the kernel with access(2) instead of opening.
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
        // SAFETY: c is NUL-terminated; faccessat only reads it.
        let r = unsafe {
            libc::faccessat(
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::R_OK | libc::W_OK,
                libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            blockers.push(io_blocker(
                "not_writable",
                path,
                &io::Error::last_os_error(),
            ));
        }
        return method_for(fsi, None, false);
    }
    // O_NONBLOCK: a file under a lease held by another process fails instead of waiting.
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => {
            if let Ok(m) = f.metadata()
                && (m.ino() != meta.ino() || m.dev() != meta.dev())
            {
                blockers.push(Blocker {
                    kind: "changed",
                    path: path.to_path_buf(),
                    message: "was replaced while the plan was being made".into(),
                });
            }
            let shared = if meta.len() > 0 {
                fsinfo::has_shared_extents(&f)
            } else {
                Some(false)
            };
            let journalled = fsi.fs_type == "ext4" && fsinfo::journals_data(&f);
            method_for(fsi, shared, journalled)
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
