//! Helpers shared by the deletion tests (`tests/shred.rs`, `tests/delete.rs`): trees with
//! known contents, snapshots to prove nothing changed, and reading certificates back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

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
pub fn state_of(root: &Path) -> BTreeMap<PathBuf, (String, Vec<u8>, i64)> {
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

/// The `--json` summary of a successful run.
pub fn summary(o: &Output) -> serde_json::Value {
    assert_ok(o);
    serde_json::from_slice(&o.stdout).expect("--json prints one document")
}

/// The stored certificate named in a summary, via `certificate show --json`.
pub fn certificate(env: &Env, s: &serde_json::Value) -> serde_json::Value {
    let id = s["certificate_id"].as_str().expect("a certificate id");
    let o = env.run(&["--json", "certificate", "show", id]);
    assert_ok(&o);
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The file written beside the outputs is byte for byte the stored document.
    let file = std::fs::read(s["certificate_path"].as_str().unwrap()).unwrap();
    assert_eq!(file, o.stdout, "certificate file and database copy differ");
    c
}

/// Checks the certificate's signature with the real minisign CLI.
pub fn minisign_verifies(env: &Env, s: &serde_json::Value) {
    if !require_tool("minisign") {
        return;
    }
    let cert = s["certificate_path"].as_str().unwrap();
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(cert).unwrap()).unwrap();
    let check = |args: &[&str], key: &std::ffi::OsStr| {
        let o = std::process::Command::new("minisign")
            .args(args)
            .arg(key)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "minisign -V failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // Signed by the home's certificate key: its delegation (beside the certificate) against
    // handover.pub, then the certificate against the key the delegation authorises.
    if let Some(name) = c["delegation"]["file_name"].as_str() {
        let d = std::path::Path::new(cert).with_file_name(name);
        let dv: serde_json::Value = serde_json::from_slice(&std::fs::read(&d).unwrap()).unwrap();
        check(
            &["-V", "-m", d.to_str().unwrap(), "-p"],
            env.home().join("handover.pub").as_os_str(),
        );
        let key = dv["delegated_key"]["public_key"].as_str().unwrap();
        assert_eq!(key, c["signer"]["public_key"].as_str().unwrap());
        check(&["-V", "-m", cert, "-P"], std::ffi::OsStr::new(key));
    } else {
        check(
            &["-V", "-m", cert, "-p"],
            env.home().join("handover.pub").as_os_str(),
        );
    }
}

/// Every entry path of a certificate, as `root:path`, asserting each appears once.
pub fn entry_paths(c: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["root"], e["path"].as_str().unwrap()))
        .collect();
    let n = v.len();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), n, "an entry is listed twice: {c}");
    v
}

/// The filesystem `statfs` reports for a path, as `stat -f -c %T` names it.
pub fn fs_type(p: &Path) -> String {
    let out = sh(&format!("stat -f -c %T '{}'", p.display()), Path::new("/"));
    String::from_utf8_lossy(&out).trim().to_string()
}
