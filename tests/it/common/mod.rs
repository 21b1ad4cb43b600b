//! Shared helpers for the integration tests: run the real binary with a temporary home,
//! make keys, require the standard tools the interoperability tests use, and run a real S3
//! server for the object-storage tests ([`S3`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use handover::{ExportSummary, VerifyReport};
use sha2::{Digest, Sha256};

mod s3;
pub use s3::S3;

/// The crate's top folder (fixtures live there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures").join(rel)
}

/// A scratch area with a home folder, removed when dropped.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A fresh temporary directory with `home/` inside it.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("handover-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("home")).unwrap();
        // TMPDIR for the binary, so a test can see that a failed export left no spool or
        // temp file behind anywhere, not only in --out. Mode 1777 like /tmp: the tests that
        // run the binary as another user need it too.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        Env { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// `handover --home <home> ARGS...`, with HANDOVER_KEY_PASSWORD cleared.
    pub fn cmd(&self) -> Command {
        self.cmd_with_home(&self.home())
    }

    /// `handover --home HOME ARGS...`, otherwise as [`cmd`](Self::cmd).
    pub fn cmd_with_home(&self, home: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_handover"));
        c.arg("--home").arg(home);
        c.env_remove("HANDOVER_KEY_PASSWORD");
        c.env_remove("HANDOVER_HOME");
        c.env("TMPDIR", self.path("tmp"));
        c
    }

    /// Runs the binary with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run handover")
    }

    /// Runs with the clock set to `now` (RFC 3339), through the test build's fault module.
    pub fn run_at(&self, now: &str, args: &[&str]) -> Output {
        self.cmd()
            .env("HANDOVER_FAKE_NOW", now)
            .args(args)
            .output()
            .expect("run handover")
    }

    /// An unencrypted provider signing key in the home, and a client age identity at
    /// `client.agekey`; returns the client's recipient (age1...).
    pub fn keys(&self) -> String {
        let o = self.run(&["keygen", "--no-password"]);
        assert_ok(&o);
        let o = self.run(&[
            "keygen",
            "--age",
            "--out",
            self.path("client").to_str().unwrap(),
        ]);
        assert_ok(&o);
        std::fs::rename(self.path("client/age.key"), self.path("client.agekey")).unwrap();
        recipient_of(&self.path("client.agekey"))
    }

    /// Exports `data` for client `acme` to `out/` with `--json` and returns the summary.
    pub fn export(&self, data: &Path, recipient: &str) -> ExportSummary {
        self.export_with(data, &["-r", recipient])
    }

    /// `handover --json export DATA --client acme --out out/ ARGS...`, which must succeed;
    /// returns its summary.
    pub fn export_with(&self, data: &Path, args: &[&str]) -> ExportSummary {
        let o = self
            .cmd()
            .args(["--json", "export"])
            .arg(data)
            .args(["--client", "acme", "--out"])
            .arg(self.path("out"))
            .args(args)
            .output()
            .unwrap();
        assert_ok(&o);
        parse(&o.stdout)
    }
}

/// The set-up most tests share, in one place: a scratch area whose home has an unencrypted
/// provider signing key and a client age identity (`client.agekey`), and a data tree the
/// test made at `data`. Destructure it to keep the names a test uses:
/// `let World { env, recipient, data } = World::new("data", small_tree);`
pub struct World {
    pub env: Env,
    /// The client's age recipient (`age1...`).
    pub recipient: String,
    /// The tree to export, made by the `make` given to [`World::new`].
    pub data: PathBuf,
}

impl World {
    /// A fresh [`Env`] with provider and client keys ([`Env::with_keys`]) and a tree made by
    /// `make` at `data_rel` inside it.
    pub fn new(data_rel: &str, make: impl FnOnce(&Path)) -> World {
        let (env, recipient) = Env::with_keys();
        let data = env.path(data_rel);
        make(&data);
        World {
            env,
            recipient,
            data,
        }
    }

    /// As [`World::new`], then the tree exported for client `acme` to `out/` with `--json`;
    /// returns the world, the export summary and its handover id.
    pub fn exported(data_rel: &str, make: impl FnOnce(&Path)) -> (World, ExportSummary, String) {
        let w = World::new(data_rel, make);
        let s = w.env.export(&w.data, &w.recipient);
        let id = s.handover_id.clone();
        (w, s, id)
    }
}

/// The three files an export writes, each with its summary field's name: the archive, the
/// manifest and the manifest's signature.
pub fn export_outputs(s: &ExportSummary) -> [(&'static str, &Path); 3] {
    [
        ("archive_path", &s.archive_path),
        ("manifest_path", &s.manifest_path),
        ("signature_path", &s.signature_path),
    ]
}

/// A fresh [`Env::keyed`] home with `fixtures/acme` exported to the shipped test client
/// (`-R fixtures/keys/client.recipients`) and `extra` export arguments; returns it and the
/// handover id.
pub fn fixture_exported(extra: &[&str]) -> (Env, String) {
    let env = Env::keyed();
    let recipients = fixture("keys/client.recipients");
    let mut args = vec!["-R", recipients.to_str().unwrap()];
    args.extend_from_slice(extra);
    let id = env.export_with(&fixture("acme"), &args).handover_id;
    (env, id)
}

impl Env {
    /// A fresh scratch area whose home has an unencrypted provider signing key
    /// (`keygen --no-password`), and nothing else.
    pub fn keyed() -> Env {
        let env = Env::new();
        assert_ok(&env.run(&["keygen", "--no-password"]));
        env
    }

    /// A fresh scratch area with the provider key and a client age identity ([`Env::keys`]);
    /// returns it and the client's recipient.
    pub fn with_keys() -> (Env, String) {
        let env = Env::new();
        let recipient = env.keys();
        (env, recipient)
    }
}

/// The `# public key:` line of an age identity file.
pub fn recipient_of(identity: &Path) -> String {
    let text = std::fs::read_to_string(identity).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("identity file has a public key line")
        .to_string()
}

/// Panics with the process's stderr unless it exited 0.
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Asserts the exit code and returns stderr as text.
pub fn assert_code(o: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "stderr:\n{err}");
    err
}

/// Whether an external program is on PATH. Under CI (`CI=true`) a missing tool is a failure,
/// never a skip: the interoperability promise is tested there. Elsewhere the test says loudly
/// that it did not run and returns false.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("{name} is required in CI (install it: .ci/run does)");
        }
        eprintln!("SKIPPED: {name} is not installed (run .ci/run to install it)");
    }
    found
}

/// Runs a shell pipeline, panicking with its stderr on failure; returns stdout.
pub fn sh(script: &str, cwd: &Path) -> Vec<u8> {
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; {script}"))
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Every name in `dir`, hidden ones included, sorted; empty when `dir` does not exist.
pub fn listing(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    }
}

/// The stdout of a `--json` run: exactly one JSON document (trailing text is an error).
pub fn json(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(stdout)
        )
    })
}

/// The stdout of a `--json` run read into the library's own summary type `T` (exactly one
/// document; a missing or mistyped field fails the test).
pub fn parse<T: serde::de::DeserializeOwned>(stdout: &[u8]) -> T {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one {} ({e}):\n{}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(stdout)
        )
    })
}

/// `jobs --json`: the deletion jobs, each in the library's own type.
#[derive(serde::Deserialize)]
pub struct Jobs {
    pub jobs: Vec<handover::JobView>,
}

/// `status --json`: the offboarding checklist of each handover.
#[derive(serde::Deserialize)]
pub struct Statuses {
    pub handovers: Vec<handover::StatusView>,
}

/// Asserts that every object key in `v`, at any depth, is snake_case.
pub fn assert_snake_case_keys(v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                assert!(
                    !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                        && !k.starts_with('_'),
                    "JSON key {k:?} is not snake_case"
                );
                assert_snake_case_keys(v);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(assert_snake_case_keys),
        _ => {}
    }
}

impl Env {
    /// The home's signing key.
    pub fn sign_key(&self) -> PathBuf {
        self.home().join("handover.key")
    }

    /// The home's public key.
    pub fn public_key(&self) -> PathBuf {
        self.home().join("handover.pub")
    }

    /// How many handovers `list --json` shows.
    pub fn recorded(&self) -> usize {
        let o = self.run(&["--json", "list"]);
        assert_ok(&o);
        json(&o.stdout)["handovers"]
            .as_array()
            .expect("list --json has a handovers array")
            .len()
    }

    /// Asserts that a failed run left nothing: `out` absent or empty (no temp files either),
    /// the binary's TMPDIR empty, and no handover recorded.
    pub fn assert_nothing_left(&self, out: &Path) {
        assert_eq!(
            listing(out),
            Vec::<String>::new(),
            "a failed export left files in {}",
            out.display()
        );
        assert_eq!(
            listing(&self.path("tmp")),
            Vec::<String>::new(),
            "a failed export left files in its TMPDIR"
        );
        assert_eq!(self.recorded(), 0, "a failed export was recorded");
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The user the permission tests run the binary as when they run as root (nobody).
pub const UNPRIVILEGED_ID: u32 = 65534;

/// `cmd` as it must run for a permission test: unchanged for an ordinary user; as root,
/// where `chmod 000` does not stop reads, as nobody: the child sets its uid and gid (and
/// clears its supplementary groups, which std does when dropping from root) before exec, so
/// no `setpriv` program is needed and the test never skips.
pub fn unprivileged(mut cmd: Command) -> Command {
    use std::os::unix::process::CommandExt;
    if is_root() {
        cmd.uid(UNPRIVILEGED_ID).gid(UNPRIVILEGED_ID);
    }
    cmd
}

/// Makes `env`'s scratch area usable by [`unprivileged`] runs: the top folder traversable and
/// `owned` (recursively) owned by that user. Nothing to do for an ordinary user.
pub fn share_with_unprivileged(env: &Env, owned: &[&Path]) {
    if !is_root() {
        return;
    }
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fn chown_r(p: &Path) {
        std::os::unix::fs::lchown(p, Some(UNPRIVILEGED_ID), Some(UNPRIVILEGED_ID)).unwrap();
        if fs::symlink_metadata(p).unwrap().is_dir() {
            for e in fs::read_dir(p).unwrap() {
                chown_r(&e.unwrap().path());
            }
        }
    }
    for p in owned {
        chown_r(p);
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    let mut f = fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// What a tree entry is, as a round trip must keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { size: u64, sha256: String },
    Dir,
    Symlink { target: Vec<u8> },
}

/// One entry of a tree: kind, permission bits and mtime (None for symlinks, whose mode is
/// meaningless and whose mtime a client's tar need not restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub mode: Option<u32>,
    pub mtime: Option<i64>,
}

/// Every entry below `root` (the root itself under the empty path), by relative path bytes.
/// Symlinks are read, never followed.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<Vec<u8>, Node>) {
        let p = root.join(rel);
        let m = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            Kind::Symlink {
                target: fs::read_link(&p).unwrap().as_os_str().as_bytes().to_vec(),
            }
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File {
                size: m.len(),
                sha256: sha256_file(&p),
            }
        } else {
            panic!("unexpected file type at {}", p.display())
        };
        let plain = !ft.is_symlink();
        out.insert(
            rel.as_os_str().as_bytes().to_vec(),
            Node {
                kind,
                mode: plain.then(|| m.mode() & 0o7777),
                mtime: plain.then(|| m.mtime()),
            },
        );
        if ft.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                walk(root, &rel.join(e.unwrap().file_name()), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

/// Payload counts of a snapshot, the root excluded: (files, directories, symlinks, bytes).
pub fn counts(snap: &BTreeMap<Vec<u8>, Node>) -> (u64, u64, u64, u64) {
    let (mut files, mut dirs, mut links, mut bytes) = (0, 0, 0, 0);
    for (rel, n) in snap {
        if rel.is_empty() {
            continue;
        }
        match &n.kind {
            Kind::File { size, .. } => {
                files += 1;
                bytes += size;
            }
            Kind::Dir => dirs += 1,
            Kind::Symlink { .. } => links += 1,
        }
    }
    (files, dirs, links, bytes)
}

/// Groups of relative paths that are hard links to one file (nlink > 1, same inode).
pub fn hard_link_groups(root: &Path) -> Vec<Vec<Vec<u8>>> {
    let mut by_inode: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    for rel in snapshot(root).keys() {
        let m = fs::symlink_metadata(root.join(OsStr::from_bytes(rel))).unwrap();
        if m.is_file() && m.nlink() > 1 {
            by_inode
                .entry((m.dev(), m.ino()))
                .or_default()
                .push(rel.clone());
        }
    }
    by_inode.into_values().filter(|g| g.len() > 1).collect()
}

/// Decodes every `%XX` of a BagIt path (RFC 8493 §2.1.3, generalised to any byte).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("a %XX escape");
            out.push(u8::from_str_radix(hex, 16).expect("a %XX escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Sets a path's mtime (whole seconds, as tar stores them; negative before 1970).
pub fn set_mtime(p: &Path, secs: i64) {
    let t = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    let f = fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    f.set_modified(t)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", p.display()));
}

/// Deterministic bytes that do not compress (xorshift64*), for trees that must be big on disk.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What [`make_edge_tree`] made, for the checks that need to know.
pub struct EdgeTree {
    /// Relative paths that are not UTF-8 (a non-UTF-8 folder's children included).
    pub non_utf8: Vec<Vec<u8>>,
    /// Names that must never appear outside the encryption (the outer manifest).
    pub distinctive: Vec<&'static str>,
}

/// Builds, in `root` (which must not exist), a tree of every case a round trip must keep:
/// odd names (spaces, NFC and NFD unicode, newline, CR, backslash, tab, `%`, leading dash,
/// 255-byte names, non-UTF-8 bytes), relative paths of 99/100/101 bytes and in-tar paths
/// (`tar_prefix` + relative path) of 99/100/101 bytes, a path over 255 bytes, empty files and
/// nested empty directories, symlinks (inside, to a folder, absolute to `outside`, relative
/// escaping, dangling, a target over 100 bytes, targets with odd or non-UTF-8 bytes), a
/// hard-link pair and a hard link to a path over 100 bytes, a sparse file (16 MiB hole
/// and a tail), modes 0600/0444/0755 and a 0700 folder, and distinct explicit mtimes (a file
/// and a folder dated before 1970, a file dated 2300).
pub fn make_edge_tree(root: &Path, outside: &Path, tar_prefix: &str) -> EdgeTree {
    fs::create_dir(root).unwrap();
    let m = Maker {
        root,
        when: std::cell::Cell::new(1_600_000_000),
    };
    odd_names(&m);
    let deep_file = long_names(&m, tar_prefix);
    empties_and_links(&m, outside, &deep_file);
    sparse_times_modes_bytes(&m);
    close_folders(&m);
    EdgeTree {
        non_utf8: vec![
            b"bytes/dir-\xff".to_vec(),
            b"bytes/dir-\xff/inside.txt".to_vec(),
            b"bytes/invalid-\xff\xfe.bin".to_vec(),
            b"bytes/latin1-caf\xe9.txt".to_vec(),
        ],
        distinctive: vec![
            "plain.txt",
            "hard-a.txt",
            "run.sh",
            "two  spaces",
            "-leading-dash",
            "readonly-0444",
            "データ",
            "bottom.txt",
        ],
    }
}

/// Makes the entries of an edge tree below `root`, named by raw path bytes, each file with an
/// explicit mode and mtime (`next_time` hands out distinct ones, an hour apart).
struct Maker<'a> {
    root: &'a Path,
    when: std::cell::Cell<i64>,
}

impl Maker<'_> {
    fn next_time(&self) -> i64 {
        self.when.set(self.when.get() + 3_601);
        self.when.get()
    }

    fn p(&self, rel: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel))
    }

    fn mkdir(&self, rel: &[u8], mode: u32) {
        fs::create_dir_all(self.p(rel)).unwrap();
        fs::set_permissions(self.p(rel), fs::Permissions::from_mode(mode)).unwrap();
    }

    fn file(&self, rel: &[u8], body: &[u8], mode: u32, t: i64) {
        let path = self.p(rel);
        let mut f = fs::File::create(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        f.write_all(body).unwrap();
        drop(f);
        set_mtime(&path, t);
        // chmod last: it leaves the mtime alone, and a 0444 file could not be opened again.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn link(&self, rel: &[u8], target: &[u8]) {
        std::os::unix::fs::symlink(OsStr::from_bytes(target), self.p(rel)).unwrap();
    }
}

/// Spaces, NFC and NFD unicode, newline, CR, backslash, tab, `%`, leading dash.
fn odd_names(m: &Maker<'_>) {
    m.file(b"plain.txt", b"hello, plain file\n", 0o644, m.next_time());
    m.mkdir(b"with space", 0o755);
    m.file(
        b"with space/two  spaces.txt",
        b"spaces\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"with space/ leading space.txt",
        b"lead\n",
        0o644,
        m.next_time(),
    );
    m.mkdir("unicode/日本語".as_bytes(), 0o755);
    m.file(
        "unicode/caf\u{e9}.txt".as_bytes(),
        b"NFC\n",
        0o644,
        m.next_time(),
    );
    m.file(
        "unicode/cafe\u{301}.txt".as_bytes(),
        b"NFD\n",
        0o644,
        m.next_time(),
    );
    m.file(
        "unicode/日本語/データ.txt".as_bytes(),
        "データ\n".as_bytes(),
        0o644,
        m.next_time(),
    );
    m.mkdir(b"weird", 0o755);
    m.file(
        b"weird/new\nline.txt",
        b"newline in name\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"weird/carriage\rreturn.txt",
        b"CR in name\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"weird/back\\slash.txt",
        b"backslash in name\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"weird/tab\there.txt",
        b"tab in name\n",
        0o644,
        m.next_time(),
    );
    m.file(b"weird/100%-done.txt", b"percent\n", 0o644, m.next_time());
    m.file(
        b"weird/%41%2F-not-escapes.txt",
        b"literal %41\n",
        0o644,
        m.next_time(),
    );
    m.file(b"weird/-leading-dash.txt", b"dash\n", 0o644, m.next_time());
    m.file(
        b"weird/--help",
        b"looks like an option\n",
        0o644,
        m.next_time(),
    );
}

/// 255-byte names, relative and in-tar paths of 99/100/101 bytes, a path over 255 bytes;
/// returns that deep file's relative path.
fn long_names(m: &Maker<'_>, tar_prefix: &str) -> String {
    m.mkdir(b"long", 0o755);
    let n255 = format!("long/{}.txt", "n".repeat(251));
    m.file(n255.as_bytes(), b"255-byte name\n", 0o644, m.next_time());
    let u255 = format!("long/{}x", "\u{e9}".repeat(127));
    m.file(
        u255.as_bytes(),
        b"255-byte UTF-8 name\n",
        0o644,
        m.next_time(),
    );
    // Relative paths of 99, 100 and 101 bytes, then in-tar paths of 99, 100 and 101 bytes:
    // the ustar name field holds 100.
    m.mkdir(b"ustar", 0o755);
    for len in [99usize, 100, 101] {
        for (tag, want) in [("r", len), ("t", len - tar_prefix.len())] {
            let mut rel = format!("ustar/{tag}{len}-");
            assert!(want > rel.len(), "tar prefix {tar_prefix:?} too long");
            rel.push_str(&"x".repeat(want - rel.len()));
            assert_eq!(rel.len(), want);
            m.file(
                rel.as_bytes(),
                format!("{tag} {len}\n").as_bytes(),
                0o644,
                m.next_time(),
            );
        }
    }
    let mut deep = String::from("deep");
    for i in 0..6 {
        deep.push_str(&format!("/level{i}-{}", "d".repeat(40)));
    }
    m.mkdir(deep.as_bytes(), 0o755);
    let deep_file = format!("{deep}/bottom.txt");
    assert!(deep_file.len() > 255);
    m.file(deep_file.as_bytes(), b"deep\n", 0o644, m.next_time());
    deep_file
}

/// Empty files and nested empty folders, symlinks of every kind, hard links.
fn empties_and_links(m: &Maker<'_>, outside: &Path, deep_file: &str) {
    m.mkdir(b"empty/empty-dir", 0o755);
    m.mkdir(b"empty/nested/a/b", 0o755);
    m.file(b"empty/empty.txt", b"", 0o644, m.next_time());
    m.mkdir(b"links", 0o755);
    m.link(b"links/to-file", b"../plain.txt");
    m.link(b"links/to-dir", b"../unicode");
    m.link(b"links/absolute-outside", outside.as_os_str().as_bytes());
    m.link(b"links/relative-escaping", b"../../outside.txt");
    m.link(b"links/dangling", b"does-not-exist");
    m.link(b"links/long-target", format!("../{deep_file}").as_bytes());
    m.link(b"links/non-utf8-target", b"../bytes/invalid-\xff\xfe.bin");
    m.link(b"links/odd-target", b"../weird/tab\there.txt");
    m.link(b"links/percent-target", b"../weird/100%-done.txt");
    m.link(b"links/newline-target", b"../weird/new\nline.txt");
    m.file(
        b"links/hard-a.txt",
        b"hard link pair: one inode\n",
        0o644,
        m.next_time(),
    );
    fs::hard_link(m.p(b"links/hard-a.txt"), m.p(b"links/hard-b.txt")).unwrap();
    // A hard link to a file whose path is over 100 bytes: the tar link name needs a long-name
    // entry too. ("deep" sorts before "links", so the deep name is stored first.)
    fs::hard_link(m.p(deep_file.as_bytes()), m.p(b"links/hard-to-deep.txt")).unwrap();
}

/// A sparse file, dates before 1970 and past 2242, modes, non-UTF-8 names.
fn sparse_times_modes_bytes(m: &Maker<'_>) {
    m.mkdir(b"sparse", 0o755);
    {
        let path = m.p(b"sparse/hole-16MiB-then-tail.bin");
        let mut f = fs::File::create(&path).unwrap();
        f.seek(SeekFrom::Start(16 << 20)).unwrap();
        f.write_all(b"tail after the hole\n").unwrap();
        drop(f);
        set_mtime(&path, m.next_time());
    }
    // Dates tar needs care for: before 1970 (negative) and past 2242 (beyond 11 octal digits).
    m.mkdir(b"times/before-1970", 0o755);
    m.file(b"times/1960.txt", b"dated 1960\n", 0o644, -315_619_200);
    m.file(b"times/2300.txt", b"dated 2300\n", 0o644, 10_413_792_000);
    m.mkdir(b"modes", 0o755);
    m.file(
        b"modes/private-0600.txt",
        b"private\n",
        0o600,
        m.next_time(),
    );
    m.file(
        b"modes/readonly-0444.txt",
        b"read only\n",
        0o444,
        m.next_time(),
    );
    m.file(
        b"modes/run.sh",
        b"#!/bin/sh\necho hi\n",
        0o755,
        m.next_time(),
    );
    m.mkdir(b"modes/private-dir-0700", 0o755);
    m.mkdir(b"modes/setgid-2775", 0o755);
    m.mkdir(b"modes/sticky-1777", 0o755);
    m.file(
        b"modes/private-dir-0700/inside.txt",
        b"in a 0700 dir\n",
        0o600,
        m.next_time(),
    );
    m.mkdir(b"bytes/dir-\xff", 0o755);
    m.file(
        b"bytes/latin1-caf\xe9.txt",
        b"latin-1 byte in name\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"bytes/invalid-\xff\xfe.bin",
        b"0xFF 0xFE in name\n",
        0o644,
        m.next_time(),
    );
    m.file(
        b"bytes/dir-\xff/inside.txt",
        b"in a non-UTF-8 folder\n",
        0o644,
        m.next_time(),
    );
}

/// Folder mtimes and the modes that would stop later writes, set last.
fn close_folders(m: &Maker<'_>) {
    // Folders last, deepest first, so that nothing created later moves their mtimes; the
    // 0700 folder is closed only then.
    fn dirs_below(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs_below(&e.path(), out);
                out.push(e.path());
            }
        }
    }
    let mut dirs = Vec::new();
    dirs_below(m.root, &mut dirs);
    for d in &dirs {
        set_mtime(d, m.next_time());
    }
    set_mtime(&m.p(b"times/before-1970"), -1_000_000);
    fs::set_permissions(
        m.p(b"modes/private-dir-0700"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    // Shared-folder bits: setgid and sticky folders keep them too.
    for (rel, mode) in [
        (&b"modes/setgid-2775"[..], 0o2775),
        (b"modes/sticky-1777", 0o1777),
    ] {
        let t = fs::metadata(m.p(rel)).unwrap().modified().unwrap();
        fs::set_permissions(m.p(rel), fs::Permissions::from_mode(mode)).unwrap();
        fs::File::open(m.p(rel)).unwrap().set_modified(t).unwrap();
    }
    set_mtime(m.root, m.next_time());
}

/// Signs `data` with the unencrypted minisign secret key in `key_file`, as `minisign -S -s
/// KEY` would, in-process; returns the `.minisig` text.
pub fn minisign_sign(key_file: &Path, data: &[u8]) -> String {
    let text = fs::read_to_string(key_file).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&text)
        .and_then(|b| b.into_unencrypted_secret_key())
        .expect("an unencrypted minisign secret key");
    minisign::sign(None, &sk, std::io::Cursor::new(data), None, None)
        .expect("sign")
        .into_string()
}

/// Checks the minisign signature `sig_file` of `file` with the public key file `pub_file`
/// in-process (the minisign crate), then with the real `minisign -V` when it is installed.
pub fn assert_minisign_verifies(file: &Path, sig_file: &Path, pub_file: &Path) {
    let pk = minisign::PublicKeyBox::from_string(&fs::read_to_string(pub_file).unwrap())
        .and_then(|b| b.into_public_key())
        .expect("a minisign public key");
    let sig = minisign::SignatureBox::from_string(&fs::read_to_string(sig_file).unwrap())
        .expect("a minisign signature");
    let data = fs::read(file).unwrap();
    minisign::verify(&pk, &sig, std::io::Cursor::new(&data), true, false, false)
        .unwrap_or_else(|e| panic!("the signature of {} does not verify: {e}", file.display()));
    if require_tool("minisign") {
        let o = Command::new("minisign")
            .arg("-Vm")
            .arg(file)
            .arg("-x")
            .arg(sig_file)
            .arg("-p")
            .arg(pub_file)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "minisign -V {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Checks a deletion certificate as a client would with minisign alone: when it was signed
/// by the delegated certificate key, first the delegation beside it against the provider's
/// public key, then the certificate against the key the delegation names; otherwise the
/// certificate against the provider's key.
pub fn assert_certificate_verifies(cert: &Path, provider_pub: &Path) {
    let sig = |p: &Path| {
        let mut s = p.as_os_str().to_owned();
        s.push(".minisig");
        PathBuf::from(s)
    };
    let c: serde_json::Value = serde_json::from_slice(&fs::read(cert).unwrap()).unwrap();
    let Some(name) = c["delegation"]["file_name"].as_str() else {
        return assert_minisign_verifies(cert, &sig(cert), provider_pub);
    };
    let d = cert.with_file_name(name);
    assert_minisign_verifies(&d, &sig(&d), provider_pub);
    let dv: serde_json::Value = serde_json::from_slice(&fs::read(&d).unwrap()).unwrap();
    let key = dv["delegated_key"]["public_key"].as_str().unwrap();
    assert_eq!(
        key,
        c["signer"]["public_key"].as_str().unwrap(),
        "signed by the delegated key"
    );
    let dir = tempfile::tempdir().unwrap();
    let pk = dir.path().join("cert.pub");
    fs::write(
        &pk,
        format!("untrusted comment: delegated certificate key\n{key}\n"),
    )
    .unwrap();
    assert_minisign_verifies(cert, &sig(cert), &pk);
}

/// Runs SQL statements on the home's state database in-process (rusqlite, the same bundled
/// SQLite the binary uses), as someone editing it behind the tool's back with `sqlite3`
/// would: no sqlite3 program needed.
pub fn sql_exec(db: &Path, statements: &str) {
    let c = rusqlite::Connection::open(db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.execute_batch(statements)
        .unwrap_or_else(|e| panic!("`{statements}` failed: {e}"));
}

/// Every row of `query` on `db`, each column as text joined by `|`, rows joined by newlines:
/// what `sqlite3 DB QUERY` prints.
pub fn sql_query(db: &Path, query: &str) -> String {
    let c = rusqlite::Connection::open(db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    let mut st = c.prepare(query).unwrap();
    let n = st.column_count();
    let rows = st
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => String::new(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
                .map(|cols| cols.join("|"))
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap_or_else(|e| panic!("`{query}` failed: {e}"));
    rows.join("\n")
}

/// Copies the tree at `src` to `dst` (which must not exist) as `cp -a` would for what the
/// tests use: folders, files and symlinks, with permission bits and mtimes.
pub fn copy_tree(src: &Path, dst: &Path) {
    let m = fs::symlink_metadata(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let ft = m.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).unwrap(), dst).unwrap();
        return;
    }
    if ft.is_dir() {
        fs::create_dir(dst).unwrap();
        for e in fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &dst.join(e.file_name()));
        }
    } else {
        fs::copy(src, dst).unwrap();
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777)).unwrap();
    let f = fs::File::open(dst).unwrap();
    f.set_modified(m.modified().unwrap()).unwrap();
}

/// The filesystem `statfs` reports for a path, named as `stat -f -c %T` names it (the names
/// the tests compare with), in-process.
pub fn fs_type(p: &Path) -> String {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path and `s` a writable statfs buffer; a zeroed
    // statfs is a valid value of this plain C struct.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c.as_ptr(), &mut s) };
    assert_eq!(
        r,
        0,
        "statfs {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between C libraries
    let magic = s.f_type as u64;
    match magic {
        0xEF53 => "ext2/ext3".into(),
        0x5846_5342 => "xfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x6573_5546 => "fuseblk".into(),
        0x6969 => "nfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        other => format!("UNKNOWN ({other:#x})"),
    }
}

/// Checks a `sha256sum`-format file (`HASH  PATH` lines) in `dir` in-process, then with the
/// real `sha256sum -c` when it is installed.
pub fn assert_sha256sums(dir: &Path, sums_file: &str) {
    let text = fs::read_to_string(dir.join(sums_file)).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let (hash, name) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("not a sha256sum line: {line:?}"));
        assert!(
            !hash.starts_with('\\'),
            "escaped names are not expected here: {line:?}"
        );
        assert_eq!(sha256_file(&dir.join(name)), hash, "{name} in {sums_file}");
        n += 1;
    }
    assert!(n > 0, "{sums_file} lists nothing");
    if require_tool("sha256sum") {
        sh(&format!("sha256sum -c --quiet {sums_file}"), dir);
    }
}

/// Confirms the client's receipt as a client and provider would: `verify` with the client's
/// identity gives the receipt code, `confirm --code` records it (audited, so the deletion
/// gate accepts it).
pub fn confirm_receipt(env: &Env, handover_id: &str) {
    let list = json(&env.run(&["--json", "list"]).stdout);
    let archive = list
        .as_array()
        .or_else(|| list["handovers"].as_array())
        .expect("list --json prints the handovers")
        .iter()
        .find(|h| h["handover_id"] == handover_id)
        .expect("the handover is listed")["archive_path"]
        .as_str()
        .unwrap()
        .to_string();
    let code = receipt_code(env, Path::new(&archive), &env.path("client.agekey"));
    assert_ok(&env.run(&["confirm", handover_id, "--code", &code]));
}

/// The client's side of a receipt: `verify ARCHIVE -i IDENTITY` must pass; returns the
/// receipt code it prints.
pub fn receipt_code(env: &Env, archive: &Path, identity: &Path) -> String {
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(archive)
        .arg("-i")
        .arg(identity)
        .output()
        .unwrap();
    assert_ok(&o);
    parse::<VerifyReport>(&o.stdout)
        .receipt_code
        .expect("a verified handover prints its receipt code")
}

/// Runs `cmd` as the session leader of a new pseudo-terminal, as a shell would run it in a
/// terminal window; returns the child, the terminal's master side, what the terminal shows
/// (filled as it comes by a thread), and that thread, which ends once the last process on
/// the terminal has closed it.
pub fn spawn_in_pty(
    mut cmd: std::process::Command,
) -> (
    std::process::Child,
    std::fs::File,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors into the given ints; the other pointers may be
    // null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: setsid and ioctl are async-signal-safe; nothing is allocated between fork and
    // exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(cmd);
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reader = master.try_clone().unwrap();
    let sink = shown.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (child, master, shown, thread)
}
