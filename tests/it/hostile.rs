//! Hostile archives: a genuine bag plus one malicious entry, re-encrypted to the client's key
//! by someone without the signing key. The entries are written in-process (support::tamper),
//! byte for byte as given, including the names GNU tar refuses to write, so these tests never
//! skip for want of a tool. `verify --extract` must refuse each with the entry named, exit 3,
//! and write nothing outside the target, nor leave the target or its staging directory.
use crate::common::*;
use crate::support;
use crate::support::tamper::{self, Raw, Tar};

use handover::{ProblemKind, VerifyReport};

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;

struct Case {
    env: Env,
    archive: PathBuf,
}

/// Exports the fixture, then rebuilds its archive with the bag plus what `extra` appends
/// (given the scratch directory's path, for entries that aim at it).
fn hostile(extra: impl FnOnce(&mut Tar<'_>, &Path)) -> Case {
    let env = Env::new();
    support::export(&env, &fixture("acme"), "acme-1");
    let archive = support::archive(&env, "acme-1");
    let work = env.path("work");
    tamper::unpack(&archive, &work);
    tamper::seal(&archive, |t| {
        tamper::append_tree(t, &work.join("acme-1"), Path::new("acme-1"));
        extra(t, env.dir.path());
    });
    Case { env, archive }
}

/// `verify --extract x --keep-outside-links` of the case's archive: its output and report.
fn verify(c: &Case) -> (Output, VerifyReport) {
    let o = support::verify_cmd(&c.env, &c.archive)
        .arg("--extract")
        .arg(c.env.path("x"))
        .arg("--keep-outside-links")
        .output()
        .unwrap();
    let r = parse(&o.stdout);
    (o, r)
}

/// The problem kinds of a report.
fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

/// Exit 3, the kind listed, the entry named; nothing outside, no target, no staging dir.
#[track_caller]
fn assert_refused(c: &Case, kind: ProblemKind, names: &str) {
    let (o, r) = verify(c);
    let err = assert_code(&o, 3);
    let kinds = kinds(&r);
    assert!(kinds.contains(&kind), "{kind:?} not in {kinds:?}\n{err}");
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
    let c = hostile(|t, _| {
        tamper::append_raw(
            t,
            b"acme-1/data/../../../escaped-dotdot",
            Raw::File(b"pwned"),
        )
    });
    assert_refused(&c, ProblemKind::UnsafePath, "escaped-dotdot");
}

#[test]
fn absolute_entry_is_refused() {
    let c = hostile(|t, scratch| {
        let name = scratch.join("abs-pwned");
        tamper::append_raw(t, name.as_os_str().as_bytes(), Raw::File(b"pwned"))
    });
    assert_refused(&c, ProblemKind::UnsafePath, "abs-pwned");
}

#[test]
fn escaping_symlink_and_a_file_through_it_are_refused() {
    let c = hostile(|t, scratch| {
        let target = scratch.as_os_str().as_bytes();
        tamper::append_raw(t, b"acme-1/data/esc", Raw::Symlink(target));
        tamper::append_raw(t, b"acme-1/data/esc/through-link", Raw::File(b"pwned"));
    });
    assert_refused(&c, ProblemKind::UnlistedSymlink, "data/esc");
    let (_, r) = verify(&c);
    let s = &r.problems;
    assert!(
        kinds(&r).contains(&ProblemKind::PathThroughSymlink),
        "{s:?}"
    );
    assert!(
        s.iter()
            .any(|p| p.message.contains("points outside the bag")),
        "{s:?}"
    );
    assert!(!c.env.path("through-link").exists());
}

#[test]
fn hard_link_to_etc_is_refused() {
    let c =
        hostile(|t, _| tamper::append_raw(t, b"acme-1/data/passwd", Raw::HardLink(b"/etc/passwd")));
    assert_refused(&c, ProblemKind::UnsafeHardLink, "data/passwd");
}

#[test]
fn hard_link_to_a_later_or_tag_file_is_refused() {
    let c = hostile(|t, _| {
        tamper::append_raw(t, b"acme-1/data/h", Raw::HardLink(b"acme-1/bag-info.txt"))
    });
    assert_refused(&c, ProblemKind::UnsafeHardLink, "data/h");
}

#[test]
fn device_and_fifo_entries_are_refused() {
    let c = hostile(|t, _| {
        tamper::append_raw(t, b"acme-1/data/null", Raw::CharDevice(1, 3));
        tamper::append_raw(t, b"acme-1/data/pipe", Raw::Fifo);
    });
    assert_refused(&c, ProblemKind::SpecialFile, "data/null");
    let (o, _) = verify(&c);
    assert!(String::from_utf8_lossy(&o.stderr).contains("data/pipe"));
}

#[test]
fn entry_outside_the_bag_folder_is_refused() {
    let c = hostile(|t, _| tamper::append_raw(t, b"elsewhere/readme.txt", Raw::File(b"x")));
    assert_refused(&c, ProblemKind::OutsideBag, "elsewhere/readme.txt");
}

#[test]
fn decompression_bomb_stops_at_the_declared_size() {
    // 1 GiB of zeros (about 40 KiB once compressed) where the manifest declares 5 KiB.
    let c = hostile(|t, _| tamper::append_raw(t, b"acme-1/data/bomb", Raw::Zeros(1 << 30)));
    let started = std::time::Instant::now();
    assert_refused(
        &c,
        ProblemKind::DecompressionLimitExceeded,
        "decompression bomb",
    );
    // It stopped near the limit (a few MiB) rather than inflating the whole gigabyte.
    assert!(started.elapsed().as_secs() < 20);
}

#[test]
fn file_and_directory_of_the_same_name_are_refused_not_an_io_error() {
    let c = hostile(|t, _| {
        tamper::append_raw(t, b"acme-1/data/twice", Raw::File(b"a file"));
        tamper::append_raw(t, b"acme-1/data/twice", Raw::Dir);
        tamper::append_raw(t, b"acme-1/data/twice/inside", Raw::File(b"x"));
    });
    assert_refused(&c, ProblemKind::DuplicateEntry, "data/twice");
}

/// The problems of a run, sorted (their order is not part of the report's contract), with
/// the counts.
fn outcome(o: &Output) -> (Option<i32>, Vec<(ProblemKind, String)>, [u64; 6]) {
    let r: VerifyReport = parse(&o.stdout);
    let mut p: Vec<_> = r
        .problems
        .iter()
        .map(|p| (p.kind, p.message.clone()))
        .collect();
    p.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    let counts = [
        r.files,
        r.directories,
        r.symlinks,
        r.hard_links,
        r.bytes,
        r.problems_not_listed,
    ];
    (o.status.code(), p, counts)
}

/// What verify remembers of each entry until the manifest arrives goes to sorted runs on
/// disk past a memory budget (1,000,000 files stay in bounded memory). A test-only point
/// spills every record: names given twice, hard links to earlier, later and linked files,
/// a file that is also a directory, an added file and a changed one must be judged exactly
/// as when everything stays in memory, with and without --extract.
#[test]
fn entries_spilled_to_disk_are_judged_as_in_memory() {
    let c = hostile(|t, _| {
        tamper::append_raw(t, b"acme-1/data/README.txt", Raw::File(b"a second README"));
        tamper::append_raw(
            t,
            b"acme-1/data/h1",
            Raw::HardLink(b"acme-1/data/README.txt"),
        );
        tamper::append_raw(t, b"acme-1/data/h2", Raw::HardLink(b"acme-1/data/h1"));
        tamper::append_raw(t, b"acme-1/data/h3", Raw::HardLink(b"acme-1/data/later"));
        tamper::append_raw(t, b"acme-1/data/later", Raw::File(b"later"));
        tamper::append_raw(t, b"acme-1/data/h1", Raw::File(b"h1 again"));
        tamper::append_raw(
            t,
            b"acme-1/data/notes",
            Raw::File(b"a file named like a folder"),
        );
    });
    let run = |spill: bool, extract: bool| {
        let mut cmd = support::verify_cmd(&c.env, &c.archive);
        if extract {
            cmd.arg("--extract").arg(c.env.path("x"));
        }
        if spill {
            cmd.env("HANDOVER_FAILPOINTS", "verify.spill_every_record=fail");
        }
        outcome(&cmd.output().unwrap())
    };
    for extract in [false, true] {
        let memory = run(false, extract);
        let (code, problems, _) = &memory;
        assert_eq!(*code, Some(3));
        let kinds: Vec<ProblemKind> = problems.iter().map(|p| p.0).collect();
        for k in [
            ProblemKind::DuplicateEntry,
            ProblemKind::UnsafeHardLink,
            ProblemKind::UnlistedFile,
        ] {
            assert!(kinds.contains(&k), "{k:?} not in {problems:#?}");
        }
        assert!(
            problems.iter().any(|p| p.1.contains("data/h3")),
            "{problems:#?}"
        );
        assert_eq!(run(true, extract), memory, "extract: {extract}");
    }
    assert!(!c.env.path("x").exists());
    assert!(listing(&c.env.path("tmp")).is_empty());
}
