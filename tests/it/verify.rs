//! `handover verify` end to end: the good path, every failure case of issue 3, hostile archives
//! and interoperability with the standard tools. Each failure asserts the exit code, a message
//! naming the problem, the `--json` kind, and that nothing was written outside the target or
//! left under a name that looks verified.
use crate::common::*;
use crate::support;

use handover::{ProblemKind, VerifyReport};

use std::path::{Path, PathBuf};
use std::process::Output;

/// A handover of `data` made with the shipped test keys, named `acme-1`.
struct Handover {
    env: Env,
    id: String,
    archive: PathBuf,
    manifest: PathBuf,
}

fn handover_of(data: &Path) -> Handover {
    let env = Env::new();
    let id = support::export(&env, data, "acme-1");
    Handover {
        id,
        archive: support::archive(&env, "acme-1"),
        manifest: env.path("out/acme-1.manifest.json"),
        env,
    }
}

fn handover() -> Handover {
    handover_of(&fixture("acme"))
}

/// Runs `--json verify ARCHIVE -i client.agekey --signer provider.pub --extract <env>/x EXTRA`.
fn run_verify(h: &Handover, extra: &[&str]) -> Output {
    support::verify_cmd(&h.env, &h.archive)
        .arg("--extract")
        .arg(h.env.path("x"))
        .args(extra)
        .output()
        .unwrap()
}

/// As [`run_verify`], for a run that judged the archive (passed or refused): its output
/// and the report it printed.
fn verify(h: &Handover, extra: &[&str]) -> (Output, VerifyReport) {
    let o = run_verify(h, extra);
    let r = parse(&o.stdout);
    (o, r)
}

/// The problem kinds of a report.
fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

/// Asserts a refused verification: exit 3, `kind` among the problems, `phrase` on stderr,
/// and no extraction target, no staging directory, nothing new in the scratch area.
#[track_caller]
fn assert_refused(h: &Handover, o: &Output, r: &VerifyReport, kind: ProblemKind, phrase: &str) {
    let err = assert_code(o, 3);
    assert!(
        kinds(r).contains(&kind),
        "kind {kind:?} not in {:?}\nstderr:\n{err}",
        kinds(r)
    );
    assert!(err.contains(phrase), "stderr lacks {phrase:?}:\n{err}");
    let name = kind.as_str();
    assert!(err.contains(name), "stderr lacks the kind {name}:\n{err}");
    assert!(!r.ok);
    assert!(r.receipt_code.is_none(), "no receipt code on failure");
    assert_nothing_left(h);
}

/// Nothing under the target's name, no staging directory, no stray file in the scratch area.
#[track_caller]
fn assert_nothing_left(h: &Handover) {
    assert!(!h.env.path("x").exists(), "the target must not exist");
    // tmp/ is the binary's TMPDIR (common::Env); it must hold nothing either.
    assert!(
        listing(&h.env.path("tmp")).is_empty(),
        "a file was left in TMPDIR"
    );
    for p in tree(h.env.dir.path()) {
        let s = p.to_string_lossy();
        if s == "tmp" {
            continue;
        }
        assert!(
            s.starts_with("home") || s.starts_with("out") || s.starts_with("work"),
            "unexpected file left behind: {s}"
        );
    }
}

/// Rebuilds the archive after `change` edits the unpacked bag, encrypted to the client's key:
/// what someone without the signing key can do. In-process (support::tamper), so it never
/// skips for want of the `age`, `zstd` or `tar` programs.
fn repack(h: &Handover, change: impl FnOnce(&Path)) {
    support::tamper::repack(&h.archive, &h.env.path("work"), "acme-1", change);
}

/// Re-hashes the bag's tag files as someone without the signing key would: every payload
/// file into manifest-sha256.txt (and its SHA256SUMS copy), then the tag files into
/// tagmanifest-sha256.txt, paths percent-encoded as RFC 8493 asks.
fn rehash_bag(bag: &Path) {
    use std::os::unix::ffi::OsStrExt;
    fn encode(rel: &[u8]) -> String {
        let s = String::from_utf8(rel.to_vec()).expect("the fixture's names are UTF-8");
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    let mut payload: Vec<Vec<u8>> = walkdir::WalkDir::new(bag.join("data"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(bag)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        })
        .collect();
    payload.sort();
    let lines = |names: &[Vec<u8>]| -> String {
        names
            .iter()
            .map(|rel| {
                let p = bag.join(std::ffi::OsStr::from_bytes(rel));
                format!("{}  {}\n", sha256_file(&p), encode(rel))
            })
            .collect()
    };
    let manifest = lines(&payload);
    std::fs::write(bag.join("manifest-sha256.txt"), &manifest).unwrap();
    std::fs::write(bag.join("SHA256SUMS"), &manifest).unwrap();
    let tags: Vec<Vec<u8>> = [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "SHA256SUMS",
        "symlinks.txt",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    std::fs::write(bag.join("tagmanifest-sha256.txt"), lines(&tags)).unwrap();
}

#[test]
fn good_handover_verifies_extracts_and_prints_the_code() {
    let h = handover();
    let (o, j) = verify(&h, &[]);
    assert_ok(&o);
    assert!(j.ok, "{:?}", j.problems);
    assert_eq!(j.handover_id, h.id);
    assert_eq!(j.files, 12);
    assert_eq!(j.symlinks, 1);
    assert!(j.signer_authenticated);
    let code = j.receipt_code.as_deref().unwrap();
    let bag_info = std::fs::read_to_string(h.env.path("x/bag-info.txt")).unwrap();
    assert!(bag_info.contains(&format!("Handover-Receipt-Code: {code}")));
    assert_eq!(
        std::fs::read(h.env.path("x/data/invoices/INV-0001.csv")).unwrap(),
        std::fs::read(fixture("acme/invoices/INV-0001.csv")).unwrap()
    );
    assert_eq!(
        std::fs::read_link(h.env.path("x/data/links/latest-invoice.csv")).unwrap(),
        PathBuf::from("../invoices/INV-0003.csv")
    );
    if require_tool("sha256sum") {
        sh("sha256sum -c --quiet SHA256SUMS", &h.env.path("x"));
    }
    // The text form names the summary and the code.
    std::fs::remove_dir_all(h.env.path("x")).unwrap();
    let o = h
        .env
        .cmd()
        .arg("verify")
        .arg(&h.archive)
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .arg("--signer-key")
        .arg(
            std::fs::read_to_string(fixture("keys/provider.pub"))
                .unwrap()
                .lines()
                .nth(1)
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("receipt code: {code}")), "{err}");
    assert!(err.contains(&h.id) && err.contains("12 files"), "{err}");
}

#[test]
fn without_signer_it_warns_loudly_and_prints_the_key_id() {
    let h = handover();
    let o = h
        .env
        .cmd()
        .args(["--json", "verify"])
        .arg(&h.archive)
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .output()
        .unwrap();
    assert_ok(&o);
    let j: VerifyReport = parse(&o.stdout);
    assert!(!j.signer_authenticated);
    let err = String::from_utf8_lossy(&o.stderr);
    let id = j.signer_key_id.as_str();
    assert!(
        err.contains("SIGNER IS NOT AUTHENTICATED") && err.contains(id),
        "{err}"
    );
}

#[test]
fn wrong_identity_is_refused() {
    let h = handover();
    let o = h.env.run(&[
        "keygen",
        "--age",
        "--out",
        h.env.path("other").to_str().unwrap(),
    ]);
    assert_ok(&o);
    let o = h
        .env
        .cmd()
        .args(["--json", "verify"])
        .arg(&h.archive)
        .arg("-i")
        .arg(h.env.path("other/age.key"))
        .arg("--signer")
        .arg(fixture("keys/provider.pub"))
        .arg("--extract")
        .arg(h.env.path("x"))
        .output()
        .unwrap();
    let j = parse(&o.stdout);
    std::fs::remove_dir_all(h.env.path("other")).unwrap();
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::NoMatchingIdentity,
        "none of the identities",
    );
}

#[test]
fn openssh_identity_decrypts() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let env = Env::new();
    sh("ssh-keygen -q -t ed25519 -N '' -f id", env.dir.path());
    let pubkey = std::fs::read_to_string(env.path("id.pub")).unwrap();
    let o = env
        .cmd()
        .args(["export"])
        .arg(fixture("acme"))
        .args(["--client", "acme", "--name", "acme-1", "-r", pubkey.trim()])
        .arg("--sign-key")
        .arg(fixture("keys/provider.key"))
        .arg("--out")
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    let o = env
        .cmd()
        .arg("verify")
        .arg(env.path("out/acme-1.tar.zst.age"))
        .arg("-i")
        .arg(env.path("id"))
        .arg("--signer")
        .arg(fixture("keys/provider.pub"))
        .output()
        .unwrap();
    assert_ok(&o);
}

#[test]
fn manifest_signature_invalid_after_an_edit() {
    let h = handover();
    let text = std::fs::read_to_string(&h.manifest).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sha = j["archive"]["sha256"].as_str().unwrap();
    std::fs::write(&h.manifest, text.replace(sha, &"0".repeat(64))).unwrap();
    let (o, j) = verify(&h, &[]);
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::ManifestSignatureInvalid,
        "changed after signing",
    );
    assert!(kinds(&j).contains(&ProblemKind::ArchiveHashMismatch));
}

#[test]
fn manifest_resigned_by_another_key_is_refused() {
    let h = handover();
    let o = h.env.run(&[
        "keygen",
        "--no-password",
        "--out",
        h.env.path("work/k").to_str().unwrap(),
    ]);
    assert_ok(&o);
    let text = std::fs::read_to_string(&h.manifest).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sha = j["archive"]["sha256"].as_str().unwrap();
    std::fs::write(&h.manifest, text.replace(sha, &"0".repeat(64))).unwrap();
    std::fs::remove_file(h.env.path("out/acme-1.manifest.json.minisig")).unwrap();
    // Signed in-process with the minisign crate, as `minisign -S` would: never skipped.
    let sig = minisign_sign(
        &h.env.path("work/k/handover.key"),
        &std::fs::read(&h.manifest).unwrap(),
    );
    std::fs::write(h.env.path("out/acme-1.manifest.json.minisig"), sig).unwrap();
    let (o, j) = verify(&h, &[]);
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::ManifestSignedByOtherKey,
        "not by the signer's key",
    );
}

#[test]
fn manifest_signature_missing_is_refused() {
    let h = handover();
    std::fs::remove_file(h.env.path("out/acme-1.manifest.json.minisig")).unwrap();
    let (o, j) = verify(&h, &[]);
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::ManifestSignatureMissing,
        "no signature",
    );
}

/// Truncates the archive to `len` bytes.
fn truncate(h: &Handover, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&h.archive)
        .unwrap();
    f.set_len(len).unwrap();
}

/// A handover big enough for several age chunks (64 KiB each).
fn big_handover() -> Handover {
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    // Incompressible, so the archive spans several chunks: bytes from a simple LCG.
    let mut x: u64 = 42;
    let bytes: Vec<u8> = (0..300_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(data.join("blob.bin"), bytes).unwrap();
    let h = handover_of(&data);
    drop(env);
    h
}

#[test]
fn archive_truncated_in_the_header() {
    let h = handover();
    truncate(&h, 60);
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::ArchiveTruncated, "truncated");
    assert!(kinds(&j).contains(&ProblemKind::ArchiveSizeMismatch));
}

#[test]
fn archive_truncated_in_the_middle() {
    let h = big_handover();
    let len = std::fs::metadata(&h.archive).unwrap().len();
    truncate(&h, len / 2);
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::ArchiveTruncated, "truncated");
}

#[test]
fn archive_truncated_in_the_last_chunk() {
    let h = big_handover();
    let len = std::fs::metadata(&h.archive).unwrap().len();
    truncate(&h, len - 10);
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::ArchiveTruncated, "truncated");
}

#[test]
fn one_flipped_ciphertext_byte_is_refused() {
    let h = big_handover();
    let mut b = std::fs::read(&h.archive).unwrap();
    let i = b.len() - 100_000;
    b[i] ^= 1;
    std::fs::write(&h.archive, b).unwrap();
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::ArchiveCorrupt, "authentication");
}

#[test]
fn archive_swapped_with_another_handovers() {
    let h = handover();
    let other = handover();
    std::fs::copy(&other.archive, &h.archive).unwrap();
    let (o, j) = verify(&h, &[]);
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::ArchiveHashMismatch,
        "not the archive the provider signed",
    );
    assert!(
        kinds(&j).contains(&ProblemKind::HandoverIdMismatch),
        "{:?}",
        kinds(&j)
    );
}

// An archive that is not age at all, or empty: fixtures/vectors/archive (tests/it/vectors.rs).

#[test]
fn file_changed_in_the_bag_is_refused() {
    let h = handover();
    repack(&h, |bag| {
        std::fs::write(bag.join("data/invoices/INV-0002.csv"), "total,0\n").unwrap();
    });
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::FileHashMismatch, "INV-0002.csv");
}

#[test]
fn file_added_to_the_bag_is_refused() {
    let h = handover();
    repack(&h, |bag| {
        std::fs::write(bag.join("data/invoices/INV-9999.csv"), "total,1000000\n").unwrap();
    });
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::UnlistedFile, "INV-9999.csv");
    assert!(kinds(&j).contains(&ProblemKind::CountMismatch));
}

#[test]
fn file_removed_from_the_bag_is_refused() {
    let h = handover();
    repack(&h, |bag| {
        std::fs::remove_file(bag.join("data/invoices/INV-0001.csv")).unwrap();
    });
    let (o, j) = verify(&h, &[]);
    assert_refused(&h, &o, &j, ProblemKind::MissingFile, "INV-0001.csv");
}

#[test]
fn bag_rehashed_without_the_signing_key_is_refused() {
    // The attacker changes a file and recomputes every manifest, but cannot sign.
    let h = handover();
    repack(&h, |bag| {
        std::fs::write(bag.join("data/invoices/INV-0002.csv"), "total,0\n").unwrap();
        rehash_bag(bag);
    });
    let (o, j) = verify(&h, &[]);
    assert_refused(
        &h,
        &o,
        &j,
        ProblemKind::TagmanifestMismatch,
        "tagmanifest-sha256.txt",
    );
    assert!(
        kinds(&j).contains(&ProblemKind::BagSignatureInvalid),
        "{:?}",
        kinds(&j)
    );
}

#[test]
fn extract_target_that_exists_is_refused_untouched() {
    let h = handover();
    std::fs::create_dir(h.env.path("x")).unwrap();
    let o = run_verify(&h, &[]);
    assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "extract_target_exists");
    assert!(tree(&h.env.path("x")).is_empty());
}

#[test]
fn symlink_pointing_outside_is_reported_and_created_only_on_request() {
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", data.join("host")).unwrap();
    let h = handover_of(&data);
    let (o, j) = verify(&h, &[]);
    assert_ok(&o);
    assert_eq!(j.outside_links[0].path, "data/host");
    assert!(!j.outside_links[0].created);
    assert!(String::from_utf8_lossy(&o.stderr).contains("points outside the bag"));
    assert!(h.env.path("x/data/a.txt").is_file());
    assert!(h.env.path("x/data/host").symlink_metadata().is_err());
    std::fs::remove_dir_all(h.env.path("x")).unwrap();
    let (o, j) = verify(&h, &["--keep-outside-links"]);
    assert_ok(&o);
    assert!(j.outside_links[0].created);
    assert_eq!(
        std::fs::read_link(h.env.path("x/data/host")).unwrap(),
        PathBuf::from("/etc/hostname")
    );
}

#[test]
fn modes_are_masked_and_setuid_dropped_mtimes_kept() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    let f = data.join("tool");
    std::fs::write(&f, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let ro = data.join("ro.txt");
    std::fs::write(&ro, "r").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mtime = std::fs::metadata(&f).unwrap().mtime();
    let h = handover_of(&data);
    let (o, _) = verify(&h, &[]);
    assert_ok(&o);
    let m = std::fs::metadata(h.env.path("x/data/tool")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o755 & !0o022 & 0o7777, "no setuid");
    assert_eq!(m.mtime(), mtime);
    let m = std::fs::metadata(h.env.path("x/data/ro.txt")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o444);
}

#[test]
fn hard_links_extract_as_one_inode() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a"), "same").unwrap();
    std::fs::hard_link(data.join("a"), data.join("b")).unwrap();
    let h = handover_of(&data);
    let (o, j) = verify(&h, &[]);
    assert_ok(&o);
    assert_eq!(j.hard_links, 1);
    let (a, b) = (
        std::fs::metadata(h.env.path("x/data/a")).unwrap(),
        std::fs::metadata(h.env.path("x/data/b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn extracted_bag_validates_with_bagit_py_and_sha256sum() {
    if !require_tool("bagit.py") || !require_tool("sha256sum") {
        return;
    }
    // bagit.py cannot validate symlinks or non-UTF-8 names, and it does not decode `%25` in
    // manifest paths (RFC 8493 §2.1.3 requires it; bagit.py 1.8 decodes only CR and LF): a
    // tree without those.
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir_all(data.join("sub dir/deeper")).unwrap();
    std::fs::write(data.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(data.join("sub dir/fully done.txt"), "beta\n").unwrap();
    std::fs::write(data.join("sub dir/deeper/café.md"), "gamma\n").unwrap();
    std::fs::write(data.join("empty"), "").unwrap();
    let h = handover_of(&data);
    let (o, _) = verify(&h, &[]);
    assert_ok(&o);
    sh("bagit.py --validate . 2>&1", &h.env.path("x"));
    sh("sha256sum -c --quiet SHA256SUMS", &h.env.path("x"));
    sh(
        "sha256sum -c --quiet tagmanifest-sha256.txt",
        &h.env.path("x"),
    );
}

#[test]
fn archive_made_by_standard_tools_alone_verifies() {
    for t in ["tar", "zstd", "age", "minisign", "sha256sum", "find"] {
        if !require_tool(t) {
            return;
        }
    }
    let env = Env::new();
    let o = env.run(&[
        "keygen",
        "--no-password",
        "--out",
        env.path("k").to_str().unwrap(),
    ]);
    assert_ok(&o);
    let code = "ABCD-EFGH-JKMN-PQRS-TVWX";
    let id = "0123456789abcdef0123456789abcdef";
    let bag = env.path("std/bag1");
    std::fs::create_dir_all(bag.join("data/docs")).unwrap();
    std::fs::write(bag.join("data/docs/letter.txt"), "Dear client,\n").unwrap();
    std::fs::write(bag.join("data/table.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(
        bag.join("bagit.txt"),
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )
    .unwrap();
    let bytes = 13 + 8;
    std::fs::write(
        bag.join("bag-info.txt"),
        format!(
            "Payload-Oxum: {bytes}.2\nExternal-Identifier: {id}\nHandover-Receipt-Code: {code}\n"
        ),
    )
    .unwrap();
    let key = env.path("k/handover.key");
    sh(
        &format!(
            "find data -type f -print0 | sort -z | xargs -0 sha256sum > manifest-sha256.txt && \
             sha256sum bagit.txt bag-info.txt manifest-sha256.txt > tagmanifest-sha256.txt && \
             minisign -S -s {k} -m tagmanifest-sha256.txt && \
             cd .. && tar -cf - bag1 | zstd -q | age -R {r} > ../bag1.tar.zst.age",
            k = key.display(),
            r = fixture("keys/client.recipients").display()
        ),
        &bag,
    );
    let archive = env.path("bag1.tar.zst.age");
    let sha = String::from_utf8(sh(
        "sha256sum bag1.tar.zst.age | cut -d' ' -f1",
        env.dir.path(),
    ))
    .unwrap();
    let tm =
        String::from_utf8(sh("sha256sum tagmanifest-sha256.txt | cut -d' ' -f1", &bag)).unwrap();
    let pubkey = std::fs::read_to_string(env.path("k/handover.pub")).unwrap();
    let manifest = serde_json::json!({
        "format": "handover-manifest/1", "handover_id": id, "client": "acme", "name": "bag1",
        "created_at": "2026-11-25T10:15:00Z", "tool": {"name": "shell", "version": "1"},
        "signer": {"public_key": pubkey.lines().nth(1).unwrap(), "key_id": "unused"},
        "recipients": [], "archive": {"file_name": "bag1.tar.zst.age",
            "bytes": std::fs::metadata(&archive).unwrap().len(), "sha256": sha.trim()},
        "payload": {"files": 2, "directories": 1, "symlinks": 0, "hard_links": 0, "bytes": bytes},
        "bag": {"top_folder": "bag1", "tagmanifest_sha256": tm.trim()},
        "compression": {"algorithm": "zstd", "level": 3, "workers": 1, "window_log_max": 27, "frame_checksum": true},
        "encryption": "age-encryption.org/v1",
        "receipt_code_sha256": String::from_utf8(sh(&format!("printf %s {code} | sha256sum | cut -d' ' -f1"), env.dir.path())).unwrap().trim(),
    });
    std::fs::write(
        env.path("bag1.manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    sh(
        &format!("minisign -S -s {} -m bag1.manifest.json", key.display()),
        env.dir.path(),
    );
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(&archive)
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .arg("--signer")
        .arg(env.path("k/handover.pub"))
        .arg("--extract")
        .arg(env.path("x"))
        .output()
        .unwrap();
    assert_ok(&o);
    let j: VerifyReport = parse(&o.stdout);
    assert_eq!(j.receipt_code.as_deref(), Some(code));
    assert_eq!(j.files, 2);
    sh("sha256sum -c --quiet manifest-sha256.txt", &env.path("x"));
}

#[test]
fn verify_without_extract_writes_nothing() {
    let h = handover();
    let before = tree(h.env.dir.path());
    let o = support::verify_cmd(&h.env, &h.archive).output().unwrap();
    assert_ok(&o);
    assert_eq!(tree(h.env.dir.path()), before);
}

#[test]
fn help_lists_the_exit_codes() {
    let env = Env::new();
    for cmd in ["verify", "confirm"] {
        let o = env.run(&[cmd, "--help"]);
        assert_ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("3  a check failed"), "{out}");
        assert!(out.contains("2  usage error"), "{out}");
    }
    // A usage error is clap's 2, distinct from a failed check's 3.
    let o = env.run(&["verify", "x.tar.zst.age"]);
    assert_code(&o, 2);
}
