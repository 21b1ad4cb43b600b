//! Helpers shared by the deletion tests (`shred`, `delete`, `gates`, `names`, ...): trees with
//! known contents, snapshots to prove nothing changed, and reading certificates back.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use handover::ShredSummary;

use crate::common::*;

/// A 32-byte marker repeated to fill test files: easy to search for after deletion.
pub const MARKER: &[u8; 32] = b"ORIGINAL-CLIENT-DATA-0123456789!";

/// Makes a small tree: nested folders, files of several sizes (one over a megabyte), an
/// empty file, a symlink inside the tree.
pub fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
    let sizes = [1usize, 100, 4096, 4097, 65_000, 1_500_000];
    for (i, n) in sizes.iter().enumerate() {
        let dir = ["", "a", "a/b", "a/b/c", "a", ""][i];
        std::fs::write(root.join(dir).join(format!("f{i}.bin")), pattern(*n)).unwrap();
    }
    std::fs::write(root.join("a/empty"), b"").unwrap();
    std::os::unix::fs::symlink("f0.bin", root.join("inner-link")).unwrap();
}

/// `n` bytes of the marker pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(n).collect()
}

/// Path → (kind, content or link target, mtime), for "nothing changed" checks.
pub type Snapshot = BTreeMap<PathBuf, (String, Vec<u8>, i64)>;

/// A [`Snapshot`] of everything under `root` (nothing followed).
pub fn state_of(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    if root.symlink_metadata().is_err() {
        return out;
    }
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let (kind, data) = if m.is_dir() {
            ("dir", Vec::new())
        } else if m.file_type().is_symlink() {
            (
                "link",
                std::fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else {
            ("file", std::fs::read(e.path()).unwrap_or_default())
        };
        out.insert(e.path().to_path_buf(), (kind.to_string(), data, m.mtime()));
    }
    out
}

/// Number of regular files under `root`.
pub fn count_files(root: &Path) -> usize {
    state_of(root).values().filter(|v| v.0 == "file").count()
}

/// The `--json` summary of a successful `shred` or `delete` run, in the library's own type.
pub fn summary(o: &Output) -> ShredSummary {
    assert_ok(o);
    serde_json::from_slice(&o.stdout).expect("--json prints one ShredSummary")
}

/// The stored certificate named in a summary, via `certificate show --json`.
pub fn certificate(env: &Env, s: &ShredSummary) -> serde_json::Value {
    let id = s.certificate_id.as_deref().expect("a certificate id");
    let o = env.run(&["--json", "certificate", "show", id]);
    assert_ok(&o);
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The file written beside the outputs is byte for byte the stored document.
    let file = std::fs::read(s.certificate_path.as_ref().unwrap()).unwrap();
    assert_eq!(file, o.stdout, "certificate file and database copy differ");
    c
}

/// Checks the certificate's signature: in-process always, and with the real minisign CLI
/// when it is installed (common::assert_minisign_verifies).
pub fn minisign_verifies(env: &Env, s: &ShredSummary) {
    let cert = s.certificate_path.as_ref().unwrap();
    assert_certificate_verifies(cert, &env.home().join("handover.pub"));
}

/// Every entry path of a certificate, as `root:path` (`root:path_sha256` when the
/// certificate's names are salted), asserting each appears once.
pub fn entry_paths(c: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let p = e["path"].as_str().or(e["path_sha256"].as_str());
            format!("{}:{}", e["root"], p.expect("a path or its salted hash"))
        })
        .collect();
    let n = v.len();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), n, "an entry is listed twice: {c}");
    v
}

/// A run of the binary stopped at a `pause` failpoint (test builds only, see src/fault.rs),
/// so a test can change the tree at exactly that moment.
pub struct Paused {
    child: std::process::Child,
    dir: PathBuf,
    point: String,
}

/// Starts `cmd` with `POINT=pause@AT` and waits until the binary reached that point. Panics
/// (after killing the run) when it ends without reaching it: a binary without the point, or
/// a walk that never gets there, fails the test instead of hanging it.
pub fn run_paused(mut cmd: std::process::Command, point: &str, at: u32, dir: &Path) -> Paused {
    std::fs::create_dir_all(dir).unwrap();
    let mut child = cmd
        .env("HANDOVER_FAILPOINTS", format!("{point}=pause@{at}"))
        .env("HANDOVER_FAILPOINT_DIR", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reached = dir.join(format!("{point}.reached"));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !reached.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            panic!(
                "the run ended ({status}) without reaching {point}@{at}\nstderr:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if std::time::Instant::now() > until {
            child.kill().unwrap();
            panic!("{point}@{at} was not reached in 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Paused {
        child,
        dir: dir.to_path_buf(),
        point: point.to_string(),
    }
}

impl Paused {
    /// Lets the run go on and waits for it to end.
    pub fn resume(self) -> Output {
        std::fs::write(self.dir.join(format!("{}.go", self.point)), b"").unwrap();
        self.child.wait_with_output().unwrap()
    }
}

/// Moves the directory `dir` to `stash` and leaves in its place a symlink to `target`: the
/// swap an attacker makes to send a walk outside its roots.
pub fn swap_for_symlink(dir: &Path, stash: &Path, target: &Path) {
    std::fs::rename(dir, stash).unwrap();
    std::os::unix::fs::symlink(target, dir).unwrap();
}

/// The index of the certificate root labelled `label`.
pub fn root_index(c: &serde_json::Value, label: &str) -> u64 {
    c["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| panic!("no root labelled {label}: {c}"))["index"]
        .as_u64()
        .unwrap()
}

/// No certificate entry lies under `rel` of root `root` (the swapped directory's old contents
/// or the outside tree it pointed to).
pub fn no_entry_under(c: &serde_json::Value, root: u64, rel: &str) {
    let prefix = format!("{rel}/");
    for e in c["entries"].as_array().unwrap() {
        let p = e["path"].as_str().unwrap();
        assert!(
            !(e["root"] == root && p.starts_with(&prefix)),
            "the certificate lists {p} under the swapped directory: {e}"
        );
    }
}
