//! Hostile archives: a genuine bag plus one malicious entry, re-encrypted to the client's key
//! by someone without the signing key (Python's tarfile writes the names GNU tar refuses to,
//! then `zstd` and `age -R`). `verify --extract` must refuse each with the entry named, exit 3,
//! and write nothing outside the target, nor leave the target or its staging directory.
mod common;
mod support;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

struct Case {
    env: Env,
    archive: PathBuf,
}

/// Exports the fixture, then rebuilds its archive with the bag plus `extra` (a Python snippet
/// that adds entries to the open tarfile `t`; `T` is the scratch directory's path).
fn hostile(extra: &str) -> Option<Case> {
    for t in ["age", "zstd", "tar", "python3"] {
        if !require_tool(t) {
            return None;
        }
    }
    let env = Env::new();
    support::export(&env, &fixture("acme"), "acme-1");
    let archive = support::archive(&env, "acme-1");
    let work = env.path("work");
    std::fs::create_dir(&work).unwrap();
    sh(
        &format!(
            "age -d -i {} {} | zstd -dq | tar -xf -",
            fixture("keys/client.agekey").display(),
            archive.display()
        ),
        &work,
    );
    let script = format!(
        "import io, sys, tarfile\n\
         T = {t:?}\n\
         def blob(t, name, data, **kw):\n    \
             i = tarfile.TarInfo(name); i.size = len(data)\n    \
             for k, v in kw.items(): setattr(i, k, v)\n    \
             t.addfile(i, io.BytesIO(data))\n\
         def special(t, name, typ, **kw):\n    \
             i = tarfile.TarInfo(name); i.type = typ\n    \
             for k, v in kw.items(): setattr(i, k, v)\n    \
             t.addfile(i)\n\
         with tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.GNU_FORMAT) as t:\n    \
             t.add('acme-1')\n{extra}\n",
        t = env.dir.path().to_str().unwrap(),
        extra = extra
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    std::fs::write(work.join("make.py"), script).unwrap();
    sh(
        &format!(
            "python3 make.py | zstd -q | age -R {} > {}",
            fixture("keys/client.recipients").display(),
            archive.display()
        ),
        &work,
    );
    Some(Case { env, archive })
}

fn verify(c: &Case) -> (Output, serde_json::Value) {
    let o = support::verify_cmd(&c.env, &c.archive)
        .arg("--extract")
        .arg(c.env.path("x"))
        .arg("--keep-outside-links")
        .output()
        .unwrap();
    let j = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, j)
}

/// Exit 3, the kind listed, the entry named; nothing outside, no target, no staging dir.
#[track_caller]
fn assert_refused(c: &Case, kind: &str, names: &str) {
    let (o, j) = verify(c);
    let err = assert_code(&o, 3);
    let kinds: Vec<&str> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&kind), "{kind} not in {kinds:?}\n{err}");
    assert!(
        err.contains(names),
        "stderr does not name {names:?}:\n{err}"
    );
    assert!(!c.env.path("x").exists());
    let mut left: Vec<String> = std::fs::read_dir(c.env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["home", "out", "tmp", "work"],
        "nothing else may appear"
    );
    assert!(
        listing(&c.env.path("tmp")).is_empty(),
        "nothing may be left in TMPDIR"
    );
    assert!(!Path::new("/etc/handover-pwned").exists());
}

#[test]
fn dotdot_entry_is_refused() {
    let Some(c) = hostile("blob(t, 'acme-1/data/../../../escaped-dotdot', b'pwned')") else {
        return;
    };
    assert_refused(&c, "unsafe_path", "escaped-dotdot");
}

#[test]
fn absolute_entry_is_refused() {
    let Some(c) = hostile("blob(t, T + '/abs-pwned', b'pwned')") else {
        return;
    };
    assert_refused(&c, "unsafe_path", "abs-pwned");
}

#[test]
fn escaping_symlink_and_a_file_through_it_are_refused() {
    let Some(c) = hostile(
        "special(t, 'acme-1/data/esc', tarfile.SYMTYPE, linkname=T)\n\
         blob(t, 'acme-1/data/esc/through-link', b'pwned')",
    ) else {
        return;
    };
    assert_refused(&c, "unlisted_symlink", "data/esc");
    let (_, j) = verify(&c);
    let s = j.to_string();
    assert!(s.contains("path_through_symlink"), "{s}");
    assert!(s.contains("points outside the bag"), "{s}");
    assert!(!c.env.path("through-link").exists());
}

#[test]
fn hard_link_to_etc_is_refused() {
    let Some(c) =
        hostile("special(t, 'acme-1/data/passwd', tarfile.LNKTYPE, linkname='/etc/passwd')")
    else {
        return;
    };
    assert_refused(&c, "unsafe_hard_link", "data/passwd");
}

#[test]
fn hard_link_to_a_later_or_tag_file_is_refused() {
    let Some(c) =
        hostile("special(t, 'acme-1/data/h', tarfile.LNKTYPE, linkname='acme-1/bag-info.txt')")
    else {
        return;
    };
    assert_refused(&c, "unsafe_hard_link", "data/h");
}

#[test]
fn device_and_fifo_entries_are_refused() {
    let Some(c) = hostile(
        "special(t, 'acme-1/data/null', tarfile.CHRTYPE, devmajor=1, devminor=3)\n\
         special(t, 'acme-1/data/pipe', tarfile.FIFOTYPE)",
    ) else {
        return;
    };
    assert_refused(&c, "special_file", "data/null");
    let (o, _) = verify(&c);
    assert!(String::from_utf8_lossy(&o.stderr).contains("data/pipe"));
}

#[test]
fn entry_outside_the_bag_folder_is_refused() {
    let Some(c) = hostile("blob(t, 'elsewhere/readme.txt', b'x')") else {
        return;
    };
    assert_refused(&c, "outside_bag", "elsewhere/readme.txt");
}

#[test]
fn decompression_bomb_stops_at_the_declared_size() {
    // 1 GiB of zeros (about 40 KiB once compressed) where the manifest declares 5 KiB.
    let Some(c) = hostile(
        "class Zeros(io.RawIOBase):\n    \
             def __init__(self, n): self.n = n\n    \
             def readable(self): return True\n    \
             def readinto(self, b):\n        \
                 k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k\n\
         i = tarfile.TarInfo('acme-1/data/bomb'); i.size = 1 << 30\n\
         t.addfile(i, io.BufferedReader(Zeros(1 << 30), 1 << 20))",
    ) else {
        return;
    };
    let started = std::time::Instant::now();
    assert_refused(&c, "decompression_limit_exceeded", "decompression bomb");
    // It stopped near the limit (a few MiB) rather than inflating the whole gigabyte.
    assert!(started.elapsed().as_secs() < 20);
}

#[test]
fn file_and_directory_of_the_same_name_are_refused_not_an_io_error() {
    let Some(c) = hostile(
        "blob(t, 'acme-1/data/twice', b'a file')\n\
         special(t, 'acme-1/data/twice', tarfile.DIRTYPE)\n\
         blob(t, 'acme-1/data/twice/inside', b'x')",
    ) else {
        return;
    };
    assert_refused(&c, "duplicate_entry", "data/twice");
}
