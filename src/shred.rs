//! Secure deletion (`shred`, `delete`): plan → record the job → overwrite with read-back
//! verification → truncate, rename, unlink, sync → signed certificate.
//!
//! Nothing is touched until the whole plan is known and free of blockers, and the job with its
//! plan is in the state database. The plan never follows a symlink. Where an overwrite cannot
//! reach the old blocks (copy-on-write, overlay, network, shared extents) the file is still
//! deleted, but the method recorded says so: this module never claims more than it did.
//!
//! Progress of a job is committed in batches, in an order that keeps a crash honest: a file is
//! marked `ready` (overwritten and verified, or needing no overwrite) before its name is
//! removed, so on a resumed run a missing name means either "we removed it" (`ready`) or
//! "something else did" (`pending`, reported as vanished).
//!
//! Test-only fault injection: `HANDOVER_TEST_KILL_AFTER=verified:N` or `done:N` makes the
//! process SIGKILL itself after the N-th file is verified or unlinked, to test resumption
//! after a real kill. It is never set in normal use.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::certificate;
use crate::error::{Blocker, Result, ShredError, StoreError};
use crate::fsinfo::{self, FsClass, FsInfo};
use crate::home::Home;
use crate::keys;
use crate::report::Reporter;
use crate::store::{EntryRecord, HandoverRecord, JobRecord, ReceiptRecord, RootRecord, Store};
use crate::util;

/// Overwrite and read-back chunk: 1 MiB, the buffer size export measured best for file I/O
/// (shared/bench/NOTES.md); a multiple of every block size and O_DIRECT alignment.
const CHUNK: usize = 1 << 20;
/// O_DIRECT buffer alignment: 4096 covers every logical block size Linux supports on x86.
const DIRECT_ALIGN: usize = 4096;
/// A batch ends after this many entries or bytes: one database commit per phase per batch
/// keeps per-file overhead low, and every file of a batch stays open between its overwrite
/// and its unlink (well below the usual 1024 open-file limit).
const BATCH_ENTRIES: usize = 256;
const BATCH_BYTES: u64 = 64 << 20;
/// ChaCha20 (RFC 8439) has a 32-bit block counter: 256 GiB per nonce. The keystream of a file
/// uses a new nonce every 64 GiB so any file size works.
const SEGMENT: u64 = 1 << 36;
/// Environment variable for test-only fault injection (see the module documentation).
pub const KILL_ENV: &str = "HANDOVER_TEST_KILL_AFTER";

/// `handover shred PATH...`: any files or trees.
#[derive(Debug, Clone, Default)]
pub struct ShredOptions {
    pub paths: Vec<PathBuf>,
    pub dry_run: bool,
    pub yes: bool,
    /// Where the certificate goes; default the home folder's `certificates/`.
    pub out_dir: Option<PathBuf>,
    pub sign_key: Option<PathBuf>,
    pub operator: Option<String>,
    pub organization: Option<String>,
}

/// `handover delete <handover-id>`: the handover's local copies, after receipt.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub handover: String,
    pub dry_run: bool,
    pub yes: bool,
    pub also: Vec<PathBuf>,
    pub without_receipt: bool,
    pub reason: Option<String>,
    pub sign_key: Option<PathBuf>,
    pub operator: Option<String>,
    pub organization: Option<String>,
}

/// One filesystem and what deletion does on it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct FsMethod {
    pub filesystem: String,
    pub mount_point: String,
    pub device: String,
    pub rotational: Option<bool>,
    /// `clear`, `overwrite_best_effort`, `logical_delete` or `unlink`.
    pub method: String,
    /// For people: what is done.
    pub description: String,
    /// Why the method is weaker than Clear, when it is.
    pub reason: Option<String>,
    pub entries: u64,
    pub bytes: u64,
}

/// One path the run was asked to delete.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRoot {
    pub path: PathBuf,
    pub label: String,
    pub exists: bool,
}

/// The plan: what will be deleted and how.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PlanSummary {
    pub roots: Vec<PlanRoot>,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub other: u64,
    pub bytes: u64,
    /// Files that will be overwritten before unlinking, and their bytes.
    pub overwrite_files: u64,
    pub overwrite_bytes: u64,
    pub filesystems: Vec<FsMethod>,
    /// On a resumed job: entries an earlier run already finished.
    pub already_done: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct ShredSummary {
    /// `delete` or `shred`.
    pub command: String,
    pub dry_run: bool,
    pub handover_id: Option<String>,
    pub job_id: Option<String>,
    /// True when this run finished an interrupted job.
    pub resumed: bool,
    pub plan: PlanSummary,
    pub files_overwritten: u64,
    pub bytes_overwritten: u64,
    pub files_verified: u64,
    pub files_logical_delete: u64,
    /// True when some entry got less than Clear (best effort or logical delete).
    pub downgraded: bool,
    pub certificate_id: Option<String>,
    pub certificate_path: Option<PathBuf>,
    pub signature_path: Option<PathBuf>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Deletes any files or trees, with a certificate.
pub fn shred(home: &Home, opts: &ShredOptions, reporter: &dyn Reporter) -> Result<ShredSummary> {
    let roots = opts
        .paths
        .iter()
        .map(|p| (p.clone(), "path".to_string()))
        .collect();
    let cert_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| home.dir.join("certificates"));
    run(
        home,
        Request {
            kind: "shred",
            handover: None,
            receipt: None,
            reason: None,
            roots,
            recorded: false,
            dry_run: opts.dry_run,
            yes: opts.yes,
            cert_dir,
            cert_name: None,
            sign_key: opts.sign_key.clone(),
            operator: opts.operator.clone(),
            organization: opts.organization.clone(),
            hash_files: false,
        },
        reporter,
    )
}

/// Deletes a handover's local copies once the client's receipt is confirmed.
pub fn delete(home: &Home, opts: &DeleteOptions, reporter: &dyn Reporter) -> Result<ShredSummary> {
    if !home.database().exists() {
        return Err(StoreError::NotFound(opts.handover.clone()).into());
    }
    let store = Store::open(&home.database())?;
    let h = store.handover(&opts.handover)?;
    if let Some(job) = store.deletion_job_for_handover(&h.handover_id)?
        && job.state == "done"
    {
        return Err(ShredError::AlreadyDeleted {
            handover_id: h.handover_id.clone(),
            certificate_id: job.certificate_id.unwrap_or_default(),
        }
        .into());
    }
    let receipt = store.receipt(&h.handover_id)?;
    let reason = if receipt.is_some() {
        if opts.without_receipt {
            reporter.warn("a receipt is recorded for this handover; --without-receipt is ignored");
        }
        None
    } else if opts.without_receipt {
        let r = opts.reason.clone().unwrap_or_default();
        if r.trim().is_empty() {
            return Err(ShredError::EmptyReason.into());
        }
        Some(r.trim().to_string())
    } else {
        return Err(ShredError::NoReceipt(h.handover_id.clone()).into());
    };
    drop(store);
    let mut roots = vec![
        (h.source_path.clone(), "source".to_string()),
        (h.archive_path.clone(), "archive".to_string()),
        (h.manifest_path.clone(), "manifest".to_string()),
        (h.signature_path.clone(), "signature".to_string()),
    ];
    roots.extend(opts.also.iter().map(|p| (p.clone(), "also".to_string())));
    let cert_dir = crate::home::parent_dir(&h.archive_path).to_path_buf();
    let name = h.name.clone();
    run(
        home,
        Request {
            kind: "delete",
            handover: Some(h),
            receipt,
            reason,
            roots,
            recorded: true,
            dry_run: opts.dry_run,
            yes: opts.yes,
            cert_dir,
            cert_name: Some(name),
            sign_key: opts.sign_key.clone(),
            operator: opts.operator.clone(),
            organization: opts.organization.clone(),
            hash_files: true,
        },
        reporter,
    )
}

/// Everything one run needs, whichever command started it.
struct Request {
    kind: &'static str,
    handover: Option<HandoverRecord>,
    receipt: Option<ReceiptRecord>,
    reason: Option<String>,
    roots: Vec<(PathBuf, String)>,
    /// The roots were recorded by export (delete): they must still resolve to themselves.
    recorded: bool,
    dry_run: bool,
    yes: bool,
    cert_dir: PathBuf,
    cert_name: Option<String>,
    sign_key: Option<PathBuf>,
    operator: Option<String>,
    organization: Option<String>,
    /// Hash each file just before it is overwritten (delete: so the client can match the
    /// certificate against the SHA256SUMS inside the archive they received).
    hash_files: bool,
}

/// A root after resolution.
struct Root {
    path: PathBuf,
    label: String,
    exists: bool,
    fs: FsInfo,
}

/// One entry found by the walk.
struct Planned {
    root_idx: u32,
    rel: Vec<u8>,
    kind: &'static str,
    bytes: u64,
    dev: u64,
    ino: u64,
    method: &'static str,
    reason: Option<String>,
}

fn io_blocker(kind: &'static str, path: &Path, e: &io::Error) -> Blocker {
    Blocker {
        kind,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn entry_path(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// The SHA-256 that identifies a set of roots (sorted, NUL-separated).
fn roots_key(roots: &[Root]) -> String {
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
fn resolve_roots(
    req: &Request,
    blockers: &mut Vec<Blocker>,
    missing: &mut Vec<Blocker>,
    warnings: &mut Vec<String>,
) -> Vec<(PathBuf, String, bool)> {
    let mut out: Vec<(PathBuf, String, bool)> = Vec::new();
    for (given, label) in &req.roots {
        // Paths export recorded (not --also ones the user typed) must still be themselves.
        let recorded = req.recorded && label != "also";
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

/// Refuses roots that are `/`, a home directory or contain one, or the handover home.
fn safety_blockers(roots: &[Root], home: &Home, cert_dir: &Path, blockers: &mut Vec<Blocker>) {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let homes: Vec<(String, PathBuf)> = fsinfo::home_directories()
        .into_iter()
        .map(|(u, h)| (u, canon(&h)))
        .collect();
    let handover_home = canon(&util::absolute(&home.dir).unwrap_or(home.dir.clone()));
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
        let own_files = [
            "state.db",
            "handover.key",
            "handover.pub",
            "age.key",
            "certificates",
        ];
        let in_home_state = p.strip_prefix(&handover_home).ok().is_some_and(|rest| {
            rest.components().next().is_some_and(|c| {
                let c = c.as_os_str().to_string_lossy();
                own_files.iter().any(|f| c.starts_with(f))
            })
        });
        if handover_home.starts_with(p) || in_home_state {
            blockers.push(Blocker {
                kind: "handover_home",
                path: p.clone(),
                message: format!(
                    "is or holds the handover home folder {} (state, keys and certificates)",
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
fn method_for(
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
fn dir_blocker(dir: &Path, blockers: &mut Vec<Blocker>) {
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
fn walk_root(
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
fn plan_file(
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

/// The test-only kill point (see the module documentation).
struct KillPoint {
    at: Option<(String, u64)>,
    verified: u64,
    done: u64,
}

impl KillPoint {
    fn from_env() -> KillPoint {
        let at = std::env::var(KILL_ENV).ok().and_then(|v| {
            let (p, n) = v.split_once(':')?;
            Some((p.to_string(), n.parse().ok()?))
        });
        KillPoint {
            at,
            verified: 0,
            done: 0,
        }
    }
    fn hit(&mut self, point: &str) {
        let n = if point == "verified" {
            self.verified += 1;
            self.verified
        } else {
            self.done += 1;
            self.done
        };
        if let Some((p, at)) = &self.at
            && p == point
            && *at == n
        {
            // SAFETY: raising a signal on ourselves has no memory-safety preconditions.
            unsafe {
                libc::raise(libc::SIGKILL);
            }
        }
    }
}

/// The whole run: resolve, plan, record, confirm, execute, certify.
fn run(home: &Home, req: Request, reporter: &dyn Reporter) -> Result<ShredSummary> {
    let started = Instant::now();
    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let resolved = resolve_roots(&req, &mut blockers, &mut missing, &mut warnings);

    let mut roots: Vec<Root> = Vec::new();
    for (path, label, exists) in resolved {
        let dir = if exists && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            path.clone()
        } else {
            crate::home::parent_dir(&path).to_path_buf()
        };
        let dev = fs::symlink_metadata(&dir).map(|m| m.dev()).unwrap_or(0);
        let fs = match fsinfo::describe(&dir, dev) {
            Ok(f) => f,
            // A recorded path that is gone: nothing will be deleted there.
            Err(_) if !exists => FsInfo {
                fs_type: "unknown".into(),
                class: FsClass::Unknown,
                mount_point: PathBuf::new(),
                source: String::new(),
                device: String::new(),
                rotational: None,
                data_journal: false,
                block_size: 4096,
            },
            Err(e) => {
                blockers.push(io_blocker("unreadable", &path, &e));
                continue;
            }
        };
        roots.push(Root {
            path,
            label,
            exists,
            fs,
        });
    }
    safety_blockers(&roots, home, &req.cert_dir, &mut blockers);

    let key = roots_key(&roots);
    // An unfinished job for the same paths is resumed rather than started again.
    let mut store = if home.database().exists() {
        Some(Store::open(&home.database())?)
    } else {
        None
    };
    let existing: Option<JobRecord> = match (&store, &req.handover) {
        (Some(s), Some(h)) => s
            .deletion_job_for_handover(&h.handover_id)?
            .filter(|j| j.state == "running"),
        (Some(s), None) => s.deletion_job(req.kind, &key, "running")?,
        _ => None,
    };
    if existing.is_some() {
        // Paths an interrupted run of this job already removed are expected to be gone.
        warnings.clear();
    } else {
        blockers.append(&mut missing);
    }
    let mut stored: Vec<EntryRecord> = Vec::new();
    if let (Some(job), Some(s)) = (&existing, &store) {
        let old_roots = s.deletion_roots(&job.job_id)?;
        let old: BTreeSet<&Path> = old_roots.iter().map(|r| r.path.as_path()).collect();
        let new: BTreeSet<&Path> = roots.iter().map(|r| r.path.as_path()).collect();
        if old != new {
            return Err(ShredError::JobRootsDiffer {
                job_id: job.job_id.clone(),
                roots: old_roots.into_iter().map(|r| r.path).collect(),
            }
            .into());
        }
        // Keep the job's root order: entries refer to roots by index.
        let mut reordered = Vec::new();
        for r in &old_roots {
            if let Some(i) = roots.iter().position(|x| x.path == r.path) {
                reordered.push(roots.swap_remove(i));
            }
        }
        roots = reordered;
        stored = s.deletion_entries(&job.job_id)?;
    }

    // Walk.
    let mut planned: Vec<Planned> = Vec::new();
    let mut links: HashMap<(u64, u64), (u64, u64, PathBuf)> = HashMap::new();
    // Names we renamed entries to on an interrupted run: not new entries.
    let tmp_names: HashSet<PathBuf> = stored
        .iter()
        .filter(|e| e.state == "ready")
        .map(|e| {
            let p = entry_path(&roots[e.root_idx as usize].path, &e.rel_path);
            crate::home::parent_dir(&p).join(&e.tmp_name)
        })
        .collect();
    for (i, r) in roots.iter().enumerate() {
        if r.exists {
            walk_root(i as u32, r, &mut planned, &mut blockers, &mut links);
        }
    }
    planned.retain(|p| !tmp_names.contains(&entry_path(&roots[p.root_idx as usize].path, &p.rel)));
    for (nlink, found, path) in links.values() {
        if found < nlink {
            blockers.push(Blocker {
                kind: "hard_link_outside",
                path: path.clone(),
                message: format!(
                    "has {nlink} hard links but only {found} inside the paths given: the data would survive under the other name(s); delete those too or leave this file out"
                ),
            });
        }
    }
    if !blockers.is_empty() {
        blockers.sort_by(|a, b| a.path.cmp(&b.path));
        blockers.dedup_by(|a, b| a.path == b.path && a.kind == b.kind);
        return Err(ShredError::Blocked(blockers).into());
    }

    // Merge with the stored plan of an interrupted job.
    let mut entries: Vec<EntryRecord> = Vec::new();
    let mut index: HashMap<(u32, Vec<u8>), usize> = HashMap::new();
    for (i, e) in stored.iter().enumerate() {
        index.insert((e.root_idx, e.rel_path.clone()), i);
    }
    let mut next_seq = stored.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    let mut seen = vec![false; stored.len()];
    for p in &planned {
        let fresh = |seq: u64| EntryRecord {
            seq,
            root_idx: p.root_idx,
            rel_path: p.rel.clone(),
            kind: p.kind.to_string(),
            bytes: p.bytes,
            dev: p.dev,
            ino: p.ino,
            method: p.method.to_string(),
            reason: p.reason.clone(),
            tmp_name: util::random_hex(16),
            state: "pending".into(),
            sha256: None,
            verification: None,
            note: None,
        };
        match index.get(&(p.root_idx, p.rel.clone())) {
            Some(&i) => {
                seen[i] = true;
                let old = &stored[i];
                let same = old.ino == p.ino && old.dev == p.dev && old.kind == p.kind;
                let mut e = fresh(old.seq);
                e.tmp_name = old.tmp_name.clone();
                match old.state.as_str() {
                    // Overwritten and verified (or needing no overwrite): only the unlink is
                    // left, provided it is still the same file.
                    "ready" | "done" if same => e = old.clone(),
                    // Hashed before its overwrite began (then perhaps failed): keep the hash
                    // of the original bytes; hashing again could read the overwrite.
                    "hashed" | "failed" if same && old.sha256.is_some() => {
                        e.state = "hashed".into();
                        e.sha256 = old.sha256.clone();
                    }
                    _ => {}
                }
                entries.push(e);
            }
            None => {
                entries.push(fresh(next_seq));
                next_seq += 1;
            }
        }
    }
    for (i, e) in stored.iter().enumerate() {
        if seen[i] {
            continue;
        }
        let mut e = e.clone();
        match e.state.as_str() {
            "done" | "vanished" | "ready" => {}
            _ => {
                e.state = "vanished".into();
                e.note = Some(
                    "was gone when the job resumed: removed by something other than this job, so it was not overwritten by it".into(),
                );
                warnings.push(format!(
                    "{} vanished before this job could delete it",
                    crate::error::show(&entry_path(&roots[e.root_idx as usize].path, &e.rel_path))
                ));
            }
        }
        entries.push(e);
    }
    entries.sort_by_key(|e| e.seq);
    if existing.is_none() && entries.is_empty() {
        return Err(ShredError::NothingToDelete.into());
    }

    let plan = plan_summary(&roots, &entries);
    let mut summary = ShredSummary {
        command: req.kind.to_string(),
        dry_run: req.dry_run,
        handover_id: req.handover.as_ref().map(|h| h.handover_id.clone()),
        job_id: existing.as_ref().map(|j| j.job_id.clone()),
        resumed: existing.is_some(),
        plan,
        files_overwritten: 0,
        bytes_overwritten: 0,
        files_verified: 0,
        files_logical_delete: 0,
        downgraded: false,
        certificate_id: None,
        certificate_path: None,
        signature_path: None,
        warnings: warnings.clone(),
        seconds: 0.0,
    };
    summary.downgraded = summary
        .plan
        .filesystems
        .iter()
        .any(|f| f.method != "clear" && f.method != "unlink");
    if req.dry_run {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    // The signing key is loaded before anything is touched: a wrong password must not
    // leave deleted files without a certificate.
    let key_path = req.sign_key.clone().unwrap_or_else(|| home.secret_key());
    let signer = keys::load_signer(&key_path, reporter)?;

    if !req.yes {
        if !reporter.can_ask() {
            return Err(ShredError::CannotAsk.into());
        }
        if !reporter.confirm(&confirm_question(&summary.plan)) {
            return Err(ShredError::Declined.into());
        }
    }

    // Record the job and its whole plan before touching anything.
    if store.is_none() {
        home.ensure().map_err(|source| StoreError::Home {
            path: home.dir.clone(),
            source,
        })?;
        store = Some(Store::open(&home.database())?);
    }
    let store = store.as_mut().expect("opened above");
    let job = match &existing {
        Some(j) => {
            let tx = store.begin()?;
            tx.resume_job(&j.job_id, req.reason.as_deref())?;
            for e in &entries {
                tx.upsert_entry(&j.job_id, e)?;
            }
            tx.commit()?;
            store.deletion_job_by_id(&j.job_id)?
        }
        None => {
            let j = JobRecord {
                job_id: util::random_hex(16),
                kind: req.kind.to_string(),
                handover_id: req.handover.as_ref().map(|h| h.handover_id.clone()),
                roots_key: key.clone(),
                created_at: util::rfc3339(util::now()),
                state: "running".into(),
                runs: 1,
                without_receipt_reason: req.reason.clone(),
                certificate_id: None,
            };
            let tx = store.begin()?;
            tx.insert_job(&j)?;
            for (i, r) in roots.iter().enumerate() {
                tx.insert_root(
                    &j.job_id,
                    i as u32,
                    &RootRecord {
                        path: r.path.clone(),
                        label: r.label.clone(),
                        fs_json: serde_json::to_string(&r.fs).expect("fs info serializes"),
                    },
                )?;
            }
            for e in &entries {
                tx.upsert_entry(&j.job_id, e)?;
            }
            tx.commit()?;
            j
        }
    };
    summary.job_id = Some(job.job_id.clone());

    let mut ex = Exec {
        store,
        job_id: job.job_id.clone(),
        roots: &roots,
        reporter,
        hash: req.hash_files,
        kill: KillPoint::from_env(),
        failures: Vec::new(),
        buf: vec![0u8; CHUNK + DIRECT_ALIGN],
        files_overwritten: 0,
        bytes_overwritten: 0,
        files_verified: 0,
    };
    reporter.start(
        req.kind,
        Some(summary.plan.overwrite_bytes),
        Some(entries.len() as u64),
    );
    let result = ex.run(&mut entries);
    reporter.finish();
    result?;
    summary.files_overwritten = ex.files_overwritten;
    summary.bytes_overwritten = ex.bytes_overwritten;
    summary.files_verified = ex.files_verified;
    if let Some((path, reason, _)) = ex.failures.first() {
        return Err(ShredError::Incomplete {
            job_id: job.job_id.clone(),
            failed: ex.failures.len(),
            first: path.clone(),
            first_reason: reason.clone(),
            io: ex.failures.iter().any(|f| f.2),
        }
        .into());
    }
    drop(ex);

    // Every entry is done: certify from what the database recorded over all runs.
    let cert = certificate::issue(
        store,
        &certificate::IssueInput {
            job_id: &job.job_id,
            handover: req.handover.as_ref(),
            receipt: req.receipt.as_ref(),
            operator: req.operator.clone(),
            organization: req.organization.clone(),
            signer: &signer,
            dir: &req.cert_dir,
            name: req.cert_name.clone(),
        },
    )?;
    summary.warnings.extend(cert.warnings.iter().cloned());
    summary.files_logical_delete = cert.logical_delete_files;
    summary.certificate_id = Some(cert.certificate_id);
    summary.certificate_path = Some(cert.json_path);
    summary.signature_path = Some(cert.signature_path);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn plan_summary(roots: &[Root], entries: &[EntryRecord]) -> PlanSummary {
    let mut p = PlanSummary {
        roots: roots
            .iter()
            .map(|r| PlanRoot {
                path: r.path.clone(),
                label: r.label.clone(),
                exists: r.exists,
            })
            .collect(),
        ..Default::default()
    };
    let todo: Vec<&EntryRecord> = entries
        .iter()
        .filter(|e| {
            let finished = e.state == "done" || e.state == "vanished";
            if finished {
                p.already_done += 1;
            }
            !finished
        })
        .collect();
    for e in &todo {
        match e.kind.as_str() {
            "file" => {
                p.files += 1;
                p.bytes += e.bytes;
                if e.method == "clear" || e.method == "overwrite_best_effort" {
                    p.overwrite_files += 1;
                    p.overwrite_bytes += e.bytes;
                }
            }
            "hard_link" => p.files += 1,
            "dir" => p.directories += 1,
            "symlink" => p.symlinks += 1,
            _ => p.other += 1,
        }
    }
    let fsr: Vec<(&FsInfo, u32)> = roots
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.fs, i as u32))
        .collect();
    p.filesystems = fs_methods(
        &fsr,
        todo.iter().map(|e| {
            (
                e.root_idx,
                e.kind.as_str(),
                e.method.as_str(),
                e.reason.as_deref(),
                e.bytes,
            )
        }),
    );
    p
}

/// The question asked before deleting: the plan in a few lines.
fn confirm_question(p: &PlanSummary) -> String {
    let mut q = format!(
        "About to delete {} file(s) ({} bytes), {} director(y/ies), {} symlink(s), {} other, under:\n",
        p.files, p.bytes, p.directories, p.symlinks, p.other
    );
    for r in &p.roots {
        q.push_str(&format!(
            "  {} ({})\n",
            crate::error::show(&r.path),
            r.label
        ));
    }
    for f in &p.filesystems {
        q.push_str(&format!(
            "  {} on {} ({}): {} entr(y/ies), {} bytes: {}\n",
            f.filesystem, f.mount_point, f.device, f.entries, f.bytes, f.method
        ));
        if let Some(r) = &f.reason {
            q.push_str(&format!("    because {r}\n"));
        }
    }
    q.push_str("This cannot be undone. Delete? [y/N] ");
    q
}

/// The execution state of one run.
struct Exec<'a> {
    store: &'a mut Store,
    job_id: String,
    roots: &'a [Root],
    reporter: &'a dyn Reporter,
    hash: bool,
    kill: KillPoint,
    /// (path, reason, was an I/O error).
    failures: Vec<(PathBuf, String, bool)>,
    buf: Vec<u8>,
    files_overwritten: u64,
    bytes_overwritten: u64,
    files_verified: u64,
}

/// A state change to commit for one entry.
struct Change {
    seq: u64,
    state: &'static str,
    sha256: Option<String>,
    verification: Option<String>,
    note: Option<String>,
}

fn change(seq: u64, state: &'static str) -> Change {
    Change {
        seq,
        state,
        sha256: None,
        verification: None,
        note: None,
    }
}

fn overwrites(e: &EntryRecord) -> bool {
    e.kind == "file" && (e.method == "clear" || e.method == "overwrite_best_effort")
}

/// Fills `buf` with the file's keystream at `offset` XORed in (zeros in → keystream out;
/// keystream read back → zeros out).
fn apply_keystream(seed: &[u8; 32], offset: u64, buf: &mut [u8]) {
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset + done as u64;
        let segment = at / SEGMENT;
        let within = at % SEGMENT;
        let n = ((SEGMENT - within) as usize).min(buf.len() - done);
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&segment.to_le_bytes());
        let mut c = ChaCha20::new(seed.into(), &nonce.into());
        c.seek(within);
        c.apply_keystream(&mut buf[done..done + n]);
        done += n;
    }
}

fn all_zero(b: &[u8]) -> bool {
    // SAFETY: u128 has no invalid bit patterns; align_to only reinterprets aligned middle.
    let (head, mid, tail) = unsafe { b.align_to::<u128>() };
    head.iter().all(|&x| x == 0) && mid.iter().all(|&x| x == 0) && tail.iter().all(|&x| x == 0)
}

/// The byte ranges of a file that hold data, each rounded out to `blk`: the whole length for
/// an ordinary file; for a sparse one only its data (holes have no blocks to overwrite, and
/// filling them could fill the disk).
fn data_ranges(f: &File, meta: &fs::Metadata, blk: u64) -> io::Result<Vec<(u64, u64)>> {
    let size = meta.len();
    let up = |x: u64| x.div_ceil(blk) * blk;
    if size == 0 {
        return Ok(Vec::new());
    }
    if meta.blocks() * 512 >= size {
        return Ok(vec![(0, up(size))]);
    }
    let fd = f.as_raw_fd();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos: i64 = 0;
    while (pos as u64) < size {
        // SAFETY: lseek on an open fd has no memory-safety preconditions.
        let d = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if d < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            // SEEK_DATA unsupported: treat the whole file as data.
            return Ok(vec![(0, up(size))]);
        }
        // SAFETY: as above.
        let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
        let h = if h < 0 { size as i64 } else { h };
        let start = (d as u64 / blk) * blk;
        let end = up(h as u64);
        match out.last_mut() {
            Some(l) if l.1 >= start => l.1 = l.1.max(end),
            _ => out.push((start, end)),
        }
        pos = h;
    }
    Ok(out)
}

/// An open regular file being overwritten in this batch.
struct Open {
    idx: usize,
    f: File,
    seed: [u8; 32],
    ranges: Vec<(u64, u64)>,
}

impl Exec<'_> {
    fn path_of(&self, e: &EntryRecord) -> PathBuf {
        entry_path(&self.roots[e.root_idx as usize].path, &e.rel_path)
    }

    fn fail(&mut self, e: &EntryRecord, reason: String, io: bool, changes: &mut Vec<Change>) {
        let path = self.path_of(e);
        self.failures.push((path, reason.clone(), io));
        let mut c = change(e.seq, "failed");
        c.note = Some(reason);
        changes.push(c);
    }

    fn commit(&mut self, changes: &[Change]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.store.begin()?;
        for c in changes {
            tx.set_entry_state(
                &self.job_id,
                c.seq,
                c.state,
                c.sha256.as_deref(),
                c.verification.as_deref(),
                c.note.as_deref(),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn run(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        let todo: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                let e = &entries[i];
                e.kind != "dir" && e.state != "done" && e.state != "vanished"
            })
            .collect();
        let mut start = 0;
        while start < todo.len() {
            let mut end = start;
            let mut bytes = 0u64;
            while end < todo.len()
                && end - start < BATCH_ENTRIES
                && (end == start || bytes < BATCH_BYTES)
            {
                bytes += entries[todo[end]].bytes;
                end += 1;
            }
            self.batch(entries, &todo[start..end])?;
            start = end;
        }
        self.directories(entries)
    }

    /// One batch of non-directory entries through hash → overwrite → verify → unlink.
    fn batch(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        // Phase A (delete only): hash the original bytes, committed before any overwrite, so
        // a resumed run still knows them.
        if self.hash {
            let mut changes = Vec::new();
            for &i in batch {
                let e = entries[i].clone();
                if e.kind != "file" || e.state != "pending" {
                    continue;
                }
                match self.hash_file(&e) {
                    Ok(h) => {
                        entries[i].state = "hashed".into();
                        entries[i].sha256 = Some(h.clone());
                        let mut c = change(e.seq, "hashed");
                        c.sha256 = Some(h);
                        changes.push(c);
                    }
                    Err((reason, io)) => {
                        entries[i].state = "failed".into();
                        self.fail(&e, reason, io, &mut changes);
                    }
                }
            }
            self.commit(&changes)?;
        }

        // Phase B: overwrite, sync, read back; mark ready.
        let mut changes = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if e.state == "failed" || e.state == "ready" {
                continue;
            }
            if !overwrites(&e) {
                entries[i].state = "ready".into();
                changes.push(change(e.seq, "ready"));
                continue;
            }
            match self.overwrite(&e) {
                Ok((f, seed, ranges)) => open.push(Open {
                    idx: i,
                    f,
                    seed,
                    ranges,
                }),
                Err((reason, io)) => {
                    entries[i].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
        }
        // fdatasync after all writes of the batch: the filesystem can commit them together.
        let mut synced: Vec<Open> = Vec::new();
        for o in open {
            match o.f.sync_data() {
                Ok(()) => synced.push(o),
                Err(err) => {
                    let e = entries[o.idx].clone();
                    entries[o.idx].state = "failed".into();
                    self.fail(&e, format!("fdatasync failed: {err}"), true, &mut changes);
                }
            }
        }
        let mut kept: Vec<(usize, File)> = Vec::new();
        for o in synced {
            let e = entries[o.idx].clone();
            let fsc = self.roots[e.root_idx as usize].fs.class;
            match self.verify(&o, fsc) {
                Ok(how) => {
                    self.files_verified += 1;
                    self.kill.hit("verified");
                    entries[o.idx].state = "ready".into();
                    let mut c = change(e.seq, "ready");
                    c.verification = Some(how);
                    changes.push(c);
                    kept.push((o.idx, o.f));
                }
                Err((reason, io)) => {
                    entries[o.idx].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
        }
        self.commit(&changes)?;

        // Phase C: truncate, rename, unlink; sync each directory once; confirm with lstat.
        let mut fds: HashMap<usize, File> = kept.into_iter().collect();
        let mut changes = Vec::new();
        let mut removed: Vec<(usize, PathBuf, PathBuf)> = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if e.state != "ready" {
                continue;
            }
            match self.unlink(&e, fds.remove(&i)) {
                Ok(Some((name, tmp))) => {
                    self.kill.hit("done");
                    removed.push((i, name, tmp));
                }
                Ok(None) => {
                    // Already gone after an interrupted run that had marked it ready.
                    entries[i].state = "done".into();
                    let mut c = change(e.seq, "done");
                    c.note = Some("already removed by the interrupted run".into());
                    changes.push(c);
                }
                Err((reason, io)) => {
                    entries[i].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
            self.reporter.file_done();
        }
        let dirs: BTreeSet<PathBuf> = removed
            .iter()
            .map(|(_, n, _)| crate::home::parent_dir(n).to_path_buf())
            .collect();
        for d in &dirs {
            if let Err(source) = crate::home::sync_dir(d) {
                return Err(ShredError::Io {
                    path: d.clone(),
                    source,
                }
                .into());
            }
        }
        for (i, name, tmp) in removed {
            let e = entries[i].clone();
            if fs::symlink_metadata(&name).is_ok() || fs::symlink_metadata(&tmp).is_ok() {
                entries[i].state = "failed".into();
                self.fail(&e, "still present after unlink".into(), true, &mut changes);
            } else {
                entries[i].state = "done".into();
                changes.push(change(e.seq, "done"));
            }
        }
        self.commit(&changes)
    }

    /// Opens an entry's file without following links and checks it is the planned one.
    fn open_checked(
        &self,
        e: &EntryRecord,
        write: bool,
    ) -> std::result::Result<File, (String, bool)> {
        let path = self.path_of(e);
        let f = fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(|err| (format!("cannot open: {err}"), true))?;
        let m = f
            .metadata()
            .map_err(|err| (format!("fstat: {err}"), true))?;
        if !m.is_file() || m.ino() != e.ino || m.dev() != e.dev {
            return Err((
                "was replaced by another file since the plan; not touched".into(),
                false,
            ));
        }
        Ok(f)
    }

    fn hash_file(&mut self, e: &EntryRecord) -> std::result::Result<String, (String, bool)> {
        let f = self.open_checked(e, false)?;
        let mut h = Sha256::new();
        let mut off = 0u64;
        loop {
            let n = f
                .read_at(&mut self.buf[..CHUNK], off)
                .map_err(|err| (format!("cannot read: {err}"), true))?;
            if n == 0 {
                break;
            }
            h.update(&self.buf[..n]);
            off += n as u64;
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Overwrites the file's data ranges with its keystream. The file stays open for the
    /// sync, the read-back and the truncation.
    #[allow(clippy::type_complexity)]
    fn overwrite(
        &mut self,
        e: &EntryRecord,
    ) -> std::result::Result<(File, [u8; 32], Vec<(u64, u64)>), (String, bool)> {
        let f = self.open_checked(e, true)?;
        let m = f
            .metadata()
            .map_err(|err| (format!("fstat: {err}"), true))?;
        let blk = m.blksize().max(512);
        let ranges = data_ranges(&f, &m, blk).map_err(|err| (format!("seek: {err}"), true))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| (format!("random source: {err}"), true))?;
        let off = self.buf.as_ptr().align_offset(DIRECT_ALIGN);
        for &(start, end) in &ranges {
            let mut pos = start;
            while pos < end {
                let n = ((end - pos) as usize).min(CHUNK);
                let b = &mut self.buf[off..off + n];
                b.fill(0);
                apply_keystream(&seed, pos, b);
                f.write_all_at(b, pos)
                    .map_err(|err| (format!("overwrite failed at byte {pos}: {err}"), true))?;
                pos += n as u64;
                self.bytes_overwritten += n as u64;
                self.reporter.bytes(n as u64);
            }
        }
        self.files_overwritten += 1;
        Ok((f, seed, ranges))
    }

    /// Reads the overwritten ranges back from the device and compares them with the
    /// keystream. Returns how it read.
    fn verify(&mut self, o: &Open, fsc: FsClass) -> std::result::Result<String, (String, bool)> {
        if o.ranges.is_empty() {
            return Ok("empty file: nothing to overwrite or read back".into());
        }
        let meta =
            o.f.metadata()
                .map_err(|err| (format!("fstat: {err}"), true))?;
        // O_DIRECT bypasses the page cache, so the comparison sees what the device returns.
        // Where the filesystem refuses it, drop the cached pages of the (now clean, synced)
        // file and read normally; on a memory filesystem the page cache is the storage.
        let direct = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(format!("/proc/self/fd/{}", o.f.as_raw_fd()))
            .ok()
            .filter(|d| {
                d.metadata()
                    .is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev())
            });
        let (reader, how) = match (&direct, fsc) {
            (_, FsClass::Memory) => (
                &o.f,
                "read back from memory (the filesystem's only storage) and compared",
            ),
            (Some(d), _) => (d, "read back from the device with O_DIRECT and compared"),
            (None, _) => {
                // SAFETY: fadvise on an open fd has no memory-safety preconditions.
                unsafe {
                    libc::posix_fadvise(o.f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
                }
                (
                    &o.f,
                    "read back after dropping the page cache (posix_fadvise DONTNEED) and compared",
                )
            }
        };
        let off = self.buf.as_ptr().align_offset(DIRECT_ALIGN);
        let mut fell_back = false;
        for &(start, end) in &o.ranges {
            let mut pos = start;
            while pos < end {
                let n = ((end - pos) as usize).min(CHUNK);
                let b = &mut self.buf[off..off + n];
                let mut got = 0;
                while got < n {
                    let r = if fell_back { &o.f } else { reader };
                    match r.read_at(&mut b[got..], pos + got as u64) {
                        Ok(0) => {
                            return Err((
                                format!("read back ended early at byte {}", pos + got as u64),
                                true,
                            ));
                        }
                        Ok(k) => got += k,
                        Err(err) if err.raw_os_error() == Some(libc::EINVAL) && !fell_back => {
                            // Alignment refused by this device: fall back to cached reads
                            // after dropping the cache.
                            fell_back = true;
                            // SAFETY: as above.
                            unsafe {
                                libc::posix_fadvise(
                                    o.f.as_raw_fd(),
                                    0,
                                    0,
                                    libc::POSIX_FADV_DONTNEED,
                                );
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => {
                            return Err((format!("read back failed at byte {pos}: {err}"), true));
                        }
                    }
                }
                apply_keystream(&o.seed, pos, b);
                if !all_zero(b) {
                    return Err((
                        format!(
                            "read-back mismatch in bytes {pos}..{}: the device did not return what was written",
                            pos + n as u64
                        ),
                        false,
                    ));
                }
                pos += n as u64;
            }
        }
        if fell_back {
            Ok(
                "read back after dropping the page cache (posix_fadvise DONTNEED) and compared"
                    .into(),
            )
        } else {
            Ok(how.into())
        }
    }

    /// Truncates (files), renames to the random name (files), unlinks. Returns the original
    /// and temporary names, or None when the entry was already gone.
    fn unlink(
        &mut self,
        e: &EntryRecord,
        fd: Option<File>,
    ) -> std::result::Result<Option<(PathBuf, PathBuf)>, (String, bool)> {
        let path = self.path_of(e);
        let dir = crate::home::parent_dir(&path).to_path_buf();
        let tmp = dir.join(&e.tmp_name);
        let overlay = self.roots[e.root_idx as usize].fs.class == FsClass::Overlay;
        let here = fs::symlink_metadata(&path).ok();
        let at_tmp = fs::symlink_metadata(&tmp).ok();
        let (target, meta) = match (here, at_tmp) {
            (Some(m), _) => (path.clone(), m),
            (None, Some(m)) => (tmp.clone(), m),
            (None, None) => return Ok(None),
        };
        if meta.ino() != e.ino || meta.dev() != e.dev {
            return Err((
                "was replaced by another entry since the plan; not touched".into(),
                false,
            ));
        }
        if e.kind == "file" {
            // Truncate first so that no other open descriptor can still read the data, then
            // hide the name. Not on overlay: opening a lower file for writing copies it up.
            if !overlay {
                let f = match fd {
                    Some(f) => f,
                    None => fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
                        .open(&target)
                        .map_err(|err| (format!("cannot open to truncate: {err}"), true))?,
                };
                f.set_len(0)
                    .map_err(|err| (format!("truncate failed: {err}"), true))?;
            }
            if target == path && !overlay {
                rename_noreplace(&path, &tmp)
                    .map_err(|err| (format!("rename to a random name failed: {err}"), true))?;
                let m = fs::symlink_metadata(&tmp)
                    .map_err(|err| (format!("lstat after rename: {err}"), true))?;
                if m.ino() != e.ino {
                    let _ = rename_noreplace(&tmp, &path);
                    return Err((
                        "was replaced during deletion; restored, not deleted".into(),
                        false,
                    ));
                }
                fs::remove_file(&tmp).map_err(|err| (format!("unlink failed: {err}"), true))?;
            } else {
                fs::remove_file(&target).map_err(|err| (format!("unlink failed: {err}"), true))?;
            }
        } else {
            fs::remove_file(&target).map_err(|err| (format!("unlink failed: {err}"), true))?;
        }
        Ok(Some((path, tmp)))
    }

    /// Removes directories bottom-up (reverse plan order: children before parents), then syncs
    /// every parent that remains, then confirms each is gone.
    fn directories(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        let dirs: Vec<usize> = (0..entries.len())
            .rev()
            .filter(|&i| {
                let e = &entries[i];
                e.kind == "dir" && e.state != "done" && e.state != "vanished"
            })
            .collect();
        if dirs.is_empty() {
            return Ok(());
        }
        let changes: Vec<Change> = dirs
            .iter()
            .filter(|&&i| entries[i].state != "ready")
            .map(|&i| change(entries[i].seq, "ready"))
            .collect();
        self.commit(&changes)?;
        let mut changes = Vec::new();
        let mut removed: Vec<usize> = Vec::new();
        let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
        let mut gone: HashSet<PathBuf> = HashSet::new();
        for &i in &dirs {
            let e = entries[i].clone();
            let path = self.path_of(&e);
            match fs::remove_dir(&path) {
                Ok(()) => {
                    parents.insert(crate::home::parent_dir(&path).to_path_buf());
                    gone.insert(path);
                    removed.push(i);
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    let mut c = change(e.seq, "done");
                    c.note = Some("already removed by the interrupted run".into());
                    changes.push(c);
                }
                Err(err) => {
                    let reason = if err.raw_os_error() == Some(libc::ENOTEMPTY) {
                        "directory not empty: something inside could not be deleted, or was created after the plan".to_string()
                    } else {
                        format!("rmdir failed: {err}")
                    };
                    self.fail(
                        &e,
                        reason,
                        err.raw_os_error() != Some(libc::ENOTEMPTY),
                        &mut changes,
                    );
                }
            }
            self.reporter.file_done();
        }
        for p in parents.iter().filter(|p| !gone.contains(*p)) {
            crate::home::sync_dir(p).map_err(|source| ShredError::Io {
                path: p.clone(),
                source,
            })?;
        }
        for i in removed {
            let e = entries[i].clone();
            if fs::symlink_metadata(self.path_of(&e)).is_ok() {
                self.fail(&e, "still present after rmdir".into(), true, &mut changes);
            } else {
                changes.push(change(e.seq, "done"));
            }
        }
        self.commit(&changes)
    }
}

/// rename(2) that never replaces an existing name (renameat2 RENAME_NOREPLACE).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let a = std::ffi::CString::new(from.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = std::ffi::CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both are NUL-terminated paths; renameat2 only reads them.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystream_is_position_independent() {
        let seed = [7u8; 32];
        let mut whole = vec![0u8; 8192];
        apply_keystream(&seed, 0, &mut whole);
        let mut tail = vec![0u8; 4096];
        apply_keystream(&seed, 4096, &mut tail);
        assert_eq!(&whole[4096..], &tail[..]);
        assert!(!all_zero(&whole));
        apply_keystream(&seed, 0, &mut whole);
        assert!(all_zero(&whole));
    }

    #[test]
    fn keystream_crosses_a_segment_boundary() {
        let seed = [1u8; 32];
        let mut b = vec![0u8; 128];
        apply_keystream(&seed, SEGMENT - 64, &mut b);
        let mut second = vec![0u8; 64];
        apply_keystream(&seed, SEGMENT, &mut second);
        assert_eq!(&b[64..], &second[..]);
    }
}
