//! Issue 2's interoperability promise: an export opens with the standard tools alone. Each test
//! decrypts with the real `age -d`, decompresses with `zstd -d`, extracts with GNU `tar -x`,
//! then checks with `sha256sum -c`, `minisign -V` and `bagit.py --validate`, and compares the
//! extracted tree with the source byte for byte, mode for mode, mtime for mtime.
//! Under CI=true a missing tool fails the test; elsewhere the test says it did not run.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use handover::ExportSummary;

use crate::common::*;

/// The tools every round trip needs.
fn tools(extra: &[&str]) -> bool {
    ["age", "zstd", "tar", "sha256sum", "minisign"]
        .iter()
        .chain(extra)
        .all(|t| require_tool(t))
}

/// A path as a single-quoted shell word.
fn q(p: &Path) -> String {
    let s = p.to_str().expect("test paths are UTF-8");
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `age -d -i IDENTITY ARCHIVE | zstd -d | tar -xpf -` into a fresh `dest`; returns the one
/// folder the archive holds, after checking it is the only thing extracted.
fn open_with_standard_tools(archive: &Path, identity: &Path, dest: &Path) -> PathBuf {
    fs::create_dir(dest).unwrap();
    sh(
        &format!(
            "age -d -i {} {} | zstd -d -q | tar -xpf -",
            q(identity),
            q(archive)
        ),
        dest,
    );
    let top = listing(dest);
    assert_eq!(
        top.len(),
        1,
        "the archive holds one top folder, got {top:?}"
    );
    dest.join(&top[0])
}

/// Runs a program in `cwd`, returning (success, stdout + stderr).
fn run_tool(cwd: &Path, prog: &str, args: &[&OsStr]) -> (bool, String) {
    let o = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("run {prog}: {e}"));
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

/// Exports `src` as `name` to `out` with `--json`; returns (summary, stderr).
fn export(env: &Env, src: &Path, name: &str, recipient_args: &[&OsStr]) -> (ExportSummary, String) {
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(src)
        .args(["--client", "acme", "--name", name, "--out"])
        .arg(env.path("out"))
        .args(recipient_args)
        .output()
        .unwrap();
    assert_ok(&o);
    (
        parse(&o.stdout),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Splits a BagIt manifest line `HASH  PATH` (the path percent-decoded).
fn bagit_entries(text: &str) -> BTreeMap<Vec<u8>, String> {
    text.lines()
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("HASH  PATH");
            assert_eq!(hash.len(), 64, "line {l:?}");
            (percent_decode(path), hash.to_string())
        })
        .collect()
}

/// Every check of one round trip: the outer manifest and its signature, the bag's tag files
/// and theirs, and the extracted tree against `src`.
fn check_round_trip(
    env: &Env,
    src: &Path,
    summary: &ExportSummary,
    stderr: &str,
    identity: &Path,
    non_utf8: usize,
    distinctive: &[&str],
) {
    let name = summary.name.as_str();
    let archive = summary.archive_path.clone();
    let src_snap = snapshot(src);
    let m = check_outer_manifest(env, &src_snap, summary, distinctive);
    // Open it with age, zstd and GNU tar alone.
    let bag = open_with_standard_tools(&archive, identity, &env.path("x"));
    assert_eq!(bag.file_name().unwrap(), name);
    assert_eq!(
        listing(&bag),
        [
            "SHA256SUMS",
            "bag-info.txt",
            "bagit.txt",
            "data",
            "manifest-sha256.txt",
            "symlinks.txt",
            "tagmanifest-sha256.txt",
            "tagmanifest-sha256.txt.minisig",
        ]
    );

    let (files, _, _, bytes) = counts(&src_snap);
    check_bag_proofs(&bag, &env.public_key(), files, &m);
    check_bag_info(&bag, summary, &m, bytes, files);
    check_bag_lists(&bag, &src_snap);
    check_tree(&bag.join("data"), src, &src_snap, &m);
    check_non_utf8_warnings(summary, stderr, non_utf8);
}

/// The outer manifest: signed, true to the archive and the source's counts, naming no client
/// file. Returns it.
fn check_outer_manifest(
    env: &Env,
    src_snap: &BTreeMap<Vec<u8>, Node>,
    summary: &ExportSummary,
    distinctive: &[&str],
) -> serde_json::Value {
    let name = summary.name.as_str();
    let archive = summary.archive_path.clone();
    let manifest_path = summary.manifest_path.clone();
    let out = env.path("out");
    assert_eq!(
        listing(&out),
        [
            format!("{name}.manifest.json"),
            format!("{name}.manifest.json.minisig"),
            format!("{name}.tar.zst.age"),
        ],
        "export writes exactly three files"
    );
    let pubkey = env.public_key();

    // The outer manifest: signed, true to the archive, and naming no client file.
    let (ok, text) = run_tool(
        &out,
        "minisign",
        &[
            "-Vm".as_ref(),
            manifest_path.as_os_str(),
            "-p".as_ref(),
            pubkey.as_os_str(),
        ],
    );
    assert!(ok, "minisign rejects the manifest signature: {text}");
    let raw = fs::read(&manifest_path).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["format"], "handover-manifest/1");
    assert_eq!(m["handover_id"], summary.handover_id.as_str());
    assert_eq!(m["archive"]["file_name"], format!("{name}.tar.zst.age"));
    assert_eq!(m["archive"]["sha256"], sha256_file(&archive));
    assert_eq!(m["archive"]["bytes"], fs::metadata(&archive).unwrap().len());
    let pub_line = fs::read_to_string(&pubkey).unwrap();
    assert_eq!(
        Some(m["signer"]["public_key"].as_str().unwrap()),
        pub_line.lines().nth(1),
        "the manifest names the signer's public key"
    );
    let (files, dirs, links, bytes) = counts(src_snap);
    assert_eq!(m["payload"]["files"], files);
    assert_eq!(m["payload"]["directories"], dirs);
    assert_eq!(m["payload"]["symlinks"], links);
    assert_eq!(m["payload"]["bytes"], bytes);
    assert_eq!(summary.files, files);
    assert_eq!(summary.bytes_in, bytes);
    assert_eq!(m["compression"]["algorithm"], "zstd");
    assert_eq!(m["compression"]["frame_checksum"], true);
    let raw_text = String::from_utf8_lossy(&raw);
    for n in distinctive {
        assert!(
            !raw_text.contains(n),
            "the outer manifest names the client file {n:?}"
        );
    }

    m
}

/// The bag's own proofs: its signature, its tag manifest, every file's hash.
fn check_bag_proofs(bag: &Path, pubkey: &Path, files: u64, m: &serde_json::Value) {
    let (ok, text) = run_tool(
        bag,
        "minisign",
        &[
            "-Vm".as_ref(),
            "tagmanifest-sha256.txt".as_ref(),
            "-p".as_ref(),
            pubkey.as_os_str(),
        ],
    );
    assert!(ok, "minisign rejects the bag's signature: {text}");
    let (ok, text) = run_tool(
        bag,
        "sha256sum",
        &["-c".as_ref(), "tagmanifest-sha256.txt".as_ref()],
    );
    assert!(ok, "sha256sum -c tagmanifest-sha256.txt: {text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(": OK")).count(), 5);
    let (ok, text) = run_tool(
        bag,
        "sha256sum",
        &["-c".as_ref(), "--strict".as_ref(), "SHA256SUMS".as_ref()],
    );
    assert!(ok, "sha256sum -c SHA256SUMS: {text}");
    assert_eq!(
        text.lines().filter(|l| l.ends_with(": OK")).count() as u64,
        files,
        "SHA256SUMS lists every file: {text}"
    );
    assert_eq!(
        m["bag"]["tagmanifest_sha256"],
        sha256_file(&bag.join("tagmanifest-sha256.txt"))
    );
}

/// bag-info.txt: the counts, the id, and the receipt code whose hash the manifest holds.
fn check_bag_info(
    bag: &Path,
    summary: &ExportSummary,
    m: &serde_json::Value,
    bytes: u64,
    files: u64,
) {
    let info = fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let field = |k: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("bag-info.txt has no {k}:\n{info}"))
            .to_string()
    };
    assert_eq!(field("Payload-Oxum"), format!("{bytes}.{files}"));
    assert_eq!(field("External-Identifier"), summary.handover_id.as_str());
    assert_eq!(
        m["receipt_code_sha256"],
        sha256_hex(field("Handover-Receipt-Code").as_bytes())
    );
}

/// The BagIt manifest and symlinks.txt list exactly the source's files, hashes and links.
fn check_bag_lists(bag: &Path, src_snap: &BTreeMap<Vec<u8>, Node>) {
    // The BagIt manifest is UTF-8 text, and decodes to exactly the source's files and hashes.
    let bagit = String::from_utf8(fs::read(bag.join("manifest-sha256.txt")).unwrap())
        .expect("manifest-sha256.txt is UTF-8 (non-UTF-8 bytes percent-encoded)");
    let listed = bagit_entries(&bagit);
    let want: BTreeMap<Vec<u8>, String> = src_snap
        .iter()
        .filter_map(|(rel, n)| match &n.kind {
            Kind::File { sha256, .. } => Some(([b"data/", &rel[..]].concat(), sha256.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(listed, want, "manifest-sha256.txt against the source");

    // symlinks.txt lists every link and its target, exactly.
    let st = String::from_utf8(fs::read(bag.join("symlinks.txt")).unwrap())
        .expect("symlinks.txt is UTF-8");
    let listed: BTreeSet<(Vec<u8>, Vec<u8>)> = st
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').expect("LINK<TAB>TARGET");
            (percent_decode(a), percent_decode(b))
        })
        .collect();
    let want: BTreeSet<(Vec<u8>, Vec<u8>)> = src_snap
        .iter()
        .filter_map(|(rel, n)| match &n.kind {
            Kind::Symlink { target } => Some(([b"data/", &rel[..]].concat(), target.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(listed, want, "symlinks.txt against the source");
}

/// The tree itself: same entries, types, bytes, modes, mtimes, link targets, hard links.
fn check_tree(data: &Path, src: &Path, src_snap: &BTreeMap<Vec<u8>, Node>, m: &serde_json::Value) {
    let got = snapshot(data);
    let only_src: Vec<_> = src_snap.keys().filter(|k| !got.contains_key(*k)).collect();
    let only_got: Vec<_> = got.keys().filter(|k| !src_snap.contains_key(*k)).collect();
    assert!(
        only_src.is_empty() && only_got.is_empty(),
        "entries differ: missing {:?}, extra {:?}",
        only_src
            .iter()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        only_got
            .iter()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
    for (rel, n) in src_snap {
        assert_eq!(
            &got[rel],
            n,
            "{:?} differs after the round trip",
            String::from_utf8_lossy(rel)
        );
    }
    let groups = hard_link_groups(src);
    assert!(!groups.is_empty(), "the source tree has a hard-link pair");
    let extra_names: usize = groups.iter().map(|g| g.len() - 1).sum();
    assert_eq!(m["payload"]["hard_links"], extra_names as u64);
    for g in groups {
        let inodes: BTreeSet<u64> = g
            .iter()
            .map(|rel| {
                fs::metadata(data.join(OsStr::from_bytes(rel)))
                    .unwrap()
                    .ino()
            })
            .collect();
        assert_eq!(inodes.len(), 1, "hard links {g:?} extract as one inode");
    }
}

/// Non-UTF-8 names: in --json and in a warning each.
fn check_non_utf8_warnings(summary: &ExportSummary, stderr: &str, non_utf8: usize) {
    let listed = &summary.non_utf8_names;
    assert_eq!(listed.len(), non_utf8, "non_utf8_names: {listed:?}");
    for n in listed {
        let n = n.as_str();
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("warning") && l.contains("UTF-8") && l.contains(n)),
            "no warning names {n:?}; stderr:\n{stderr}"
        );
    }
}

#[test]
fn edge_tree_round_trips_through_age_zstd_and_gnu_tar() {
    if !tools(&[]) {
        return;
    }
    let (env, recipient) = Env::with_keys();
    fs::write(env.path("outside.txt"), "outside the data directory\n").unwrap();
    let src = env.path("src");
    let tree = make_edge_tree(&src, &env.path("outside.txt"), "edge/data/");
    let (summary, stderr) = export(&env, &src, "edge", &["-r".as_ref(), recipient.as_ref()]);
    check_round_trip(
        &env,
        &src,
        &summary,
        &stderr,
        &env.path("client.agekey"),
        tree.non_utf8.len(),
        &tree.distinctive,
    );
    // The percent-encoding itself, on names chosen for it.
    let bagit = fs::read_to_string(env.path("x/edge/manifest-sha256.txt")).unwrap();
    for enc in [
        "  data/bytes/invalid-%FF%FE.bin\n",
        "  data/bytes/latin1-caf%E9.txt\n",
        "  data/bytes/dir-%FF/inside.txt\n",
        "  data/weird/new%0Aline.txt\n",
        "  data/weird/carriage%0Dreturn.txt\n",
        "  data/weird/100%25-done.txt\n",
        "  data/weird/%2541%252F-not-escapes.txt\n",
    ] {
        assert!(bagit.contains(enc), "manifest-sha256.txt lacks {enc:?}");
    }
    // SHA256SUMS keeps the raw bytes, as coreutils does.
    let sums = fs::read(env.path("x/edge/SHA256SUMS")).unwrap();
    let raw: &[u8] = b"  data/bytes/invalid-\xff\xfe.bin\n";
    assert!(
        sums.windows(raw.len()).any(|w| w == raw),
        "SHA256SUMS stores non-UTF-8 names as raw bytes"
    );
}

#[test]
fn make_corpus_edge_profile_round_trips() {
    let script = repo().join("../shared/bench/make-corpus");
    if !script.exists() {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("{} is required in CI", script.display());
        }
        eprintln!("SKIPPED: {} not found", script.display());
        return;
    }
    if !tools(&["python3"]) {
        return;
    }
    let (env, recipient) = Env::with_keys();
    let src = env.path("corpus");
    let o = Command::new("python3")
        .arg(&script)
        .arg("edge")
        .arg(&src)
        .output()
        .unwrap();
    assert_ok(&o);
    let (summary, stderr) = export(&env, &src, "edge", &["-r".as_ref(), recipient.as_ref()]);
    let non_utf8 = snapshot(&src)
        .keys()
        .filter(|k| std::str::from_utf8(k).is_err())
        .count();
    assert!(non_utf8 > 0, "the edge corpus has non-UTF-8 names");
    check_round_trip(
        &env,
        &src,
        &summary,
        &stderr,
        &env.path("client.agekey"),
        non_utf8,
        &[
            "plain.txt",
            "hard-a.txt",
            "run.sh",
            "leading-dash",
            "self-loop",
        ],
    );
}

/// A tree bagit.py can judge: UTF-8 names only, no symlinks (it counts a symlink as an
/// unlisted payload file) and no `%` in a name (bagit.py 1.9 does not decode the `%25` that
/// RFC 8493 §2.1.3 requires); README, "Notes on fidelity".
fn bagit_friendly_tree(root: &Path) {
    let files: &[(&str, &[u8])] = &[
        ("plain.txt", b"plain\n"),
        ("with space/two  spaces.txt", b"spaces\n"),
        ("unicode/caf\u{e9}.txt", b"NFC\n"),
        ("unicode/日本語/データ.txt", "データ\n".as_bytes()),
        ("weird/new\nline.txt", b"newline in name\n"),
        ("weird/-leading-dash.txt", b"dash\n"),
        ("empty/empty.txt", b""),
        ("links/hard-a.txt", b"hard\n"),
    ];
    for (rel, body) in files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
    }
    fs::write(root.join("big.bin"), noise(300 << 10, 7)).unwrap();
    fs::hard_link(root.join("links/hard-a.txt"), root.join("links/hard-b.txt")).unwrap();
    fs::create_dir_all(root.join("empty/nested/dir")).unwrap();
    fs::write(
        root.join(format!("{}.txt", "n".repeat(251))),
        b"255-byte name\n",
    )
    .unwrap();
}

#[test]
fn bagit_py_validates_the_extracted_bag() {
    if !tools(&["bagit.py"]) {
        return;
    }
    let World {
        env,
        recipient,
        data: src,
    } = World::new("src", bagit_friendly_tree);
    let (summary, _) = export(&env, &src, "bag", &["-r".as_ref(), recipient.as_ref()]);
    let bag = open_with_standard_tools(
        &summary.archive_path,
        &env.path("client.agekey"),
        &env.path("x"),
    );
    let (ok, text) = run_tool(
        &env.path("x"),
        "bagit.py",
        &["--validate".as_ref(), bag.as_os_str()],
    );
    assert!(ok, "bagit.py --validate rejects the bag:\n{text}");
    assert!(text.contains("is valid"), "{text}");

    // The validator is not a rubber stamp: one changed payload byte and it refuses the bag.
    fs::write(bag.join("data/plain.txt"), "Plain\n").unwrap();
    let (ok, text) = run_tool(
        &env.path("x"),
        "bagit.py",
        &["--validate".as_ref(), bag.as_os_str()],
    );
    assert!(!ok, "bagit.py accepted a tampered bag:\n{text}");
}

#[test]
fn ssh_recipients_decrypt_with_their_ssh_keys() {
    if !tools(&["ssh-keygen"]) {
        return;
    }
    let (env, _) = Env::with_keys();
    for (kind, file) in [("ed25519", "id_ed25519"), ("rsa", "id_rsa")] {
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", kind, "-N", "", "-C", "client", "-f"])
            .arg(env.path(file));
        if kind == "rsa" {
            c.args(["-b", "2048"]);
        }
        assert_ok(&c.output().unwrap());
    }
    let ed = fs::read_to_string(env.path("id_ed25519.pub")).unwrap();
    // The RSA key goes through -R, in a file with a comment and a blank line.
    let rsa = fs::read_to_string(env.path("id_rsa.pub")).unwrap();
    fs::write(
        env.path("ssh.recipients"),
        format!("# the client's RSA key\n\n{rsa}"),
    )
    .unwrap();
    let src = env.path("src");
    bagit_friendly_tree(&src);
    let (summary, _) = export(
        &env,
        &src,
        "ssh",
        &[
            "-r".as_ref(),
            ed.trim().as_ref(),
            "-R".as_ref(),
            env.path("ssh.recipients").as_os_str(),
        ],
    );
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(&summary.manifest_path).unwrap()).unwrap();
    let recips: Vec<&str> = m["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(recips.len(), 2, "{recips:?}");
    assert!(recips[0].starts_with("ssh-ed25519 "), "{recips:?}");
    assert!(recips[1].starts_with("ssh-rsa "), "{recips:?}");
    let archive = summary.archive_path.clone();
    for (i, key) in ["id_ed25519", "id_rsa"].iter().enumerate() {
        let bag = open_with_standard_tools(&archive, &env.path(key), &env.path(&format!("x{i}")));
        let (ok, text) = run_tool(&bag, "sha256sum", &["-c".as_ref(), "SHA256SUMS".as_ref()]);
        assert!(ok, "{key}: {text}");
        assert_eq!(snapshot(&bag.join("data")), snapshot(&src), "{key}");
    }
}

#[test]
fn client_and_escrow_recipients_both_decrypt_and_no_one_else() {
    if !tools(&["age-keygen"]) {
        return;
    }
    let (env, client) = Env::with_keys();
    let o = env.run(&[
        "keygen",
        "--age",
        "--out",
        env.path("escrow").to_str().unwrap(),
    ]);
    assert_ok(&o);
    let escrow = recipient_of(&env.path("escrow/age.key"));
    fs::write(
        env.path("escrow.recipients"),
        format!("# escrow\n{escrow}\n"),
    )
    .unwrap();
    sh("age-keygen -o stranger.key 2>/dev/null", env.dir.path());
    let src = env.path("src");
    bagit_friendly_tree(&src);
    let (summary, _) = export(
        &env,
        &src,
        "two",
        &[
            "-r".as_ref(),
            client.as_ref(),
            "-R".as_ref(),
            env.path("escrow.recipients").as_os_str(),
        ],
    );
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(&summary.manifest_path).unwrap()).unwrap();
    assert_eq!(m["recipients"], serde_json::json!([client, escrow]));
    let archive = summary.archive_path.clone();
    for (i, id) in [env.path("client.agekey"), env.path("escrow/age.key")]
        .iter()
        .enumerate()
    {
        let bag = open_with_standard_tools(&archive, id, &env.path(&format!("x{i}")));
        assert_eq!(
            snapshot(&bag.join("data")),
            snapshot(&src),
            "{}",
            id.display()
        );
    }
    let (ok, text) = run_tool(
        env.dir.path(),
        "age",
        &[
            "-d".as_ref(),
            "-i".as_ref(),
            "stranger.key".as_ref(),
            "-o".as_ref(),
            "/dev/null".as_ref(),
            archive.as_os_str(),
        ],
    );
    assert!(
        !ok,
        "a key that is not a recipient decrypted the archive: {text}"
    );
}

#[test]
fn zstd_frames_have_a_checksum_and_a_window_plain_zstd_accepts() {
    if !tools(&[]) {
        return;
    }
    let World {
        env,
        recipient,
        data: src,
    } = World::new("src", bagit_friendly_tree);
    // Level 22 asks for the largest window; plain `zstd -d` (128 MiB limit) must still open it.
    for level in ["3", "22"] {
        let name = format!("level{level}");
        let (summary, _) = export(
            &env,
            &src,
            &name,
            &[
                "-r".as_ref(),
                recipient.as_ref(),
                "--level".as_ref(),
                level.as_ref(),
            ],
        );
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(&summary.manifest_path).unwrap()).unwrap();
        assert_eq!(m["compression"]["level"], level.parse::<i32>().unwrap());
        let stream = env.path(&format!("{name}.tar.zst"));
        sh(
            &format!(
                "age -d -i {} -o {} {}",
                q(&env.path("client.agekey")),
                q(&stream),
                q(&summary.archive_path)
            ),
            env.dir.path(),
        );
        let info =
            String::from_utf8(sh(&format!("zstd -lv {}", q(&stream)), env.dir.path())).unwrap();
        assert!(info.contains("Check: XXH64"), "no frame checksum:\n{info}");
        let window = info
            .lines()
            .find_map(|l| l.strip_prefix("Window Size: "))
            .and_then(|l| l.split_once("(")?.1.split_once(" B)"))
            .map(|(b, _)| b.parse::<u64>().unwrap())
            .unwrap_or_else(|| panic!("no window size:\n{info}"));
        assert!(
            window <= 1 << 27,
            "window {window} B needs zstd --long/--memory"
        );
        let bag = open_with_standard_tools(
            &summary.archive_path,
            &env.path("client.agekey"),
            &env.path(&format!("x{level}")),
        );
        assert_eq!(snapshot(&bag.join("data")), snapshot(&src));
    }
}
