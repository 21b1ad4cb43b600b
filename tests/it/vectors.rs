//! The named defect vectors of `fixtures/vectors/` (see its README): each a folder named for
//! its defect, with the input and `expect.txt`. One test per kind of input runs the real
//! binary on every vector of that kind, sharing one genuine export between them.
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Output;

use handover::{ProblemKind, VerifyReport};

use crate::common::*;
use crate::support;

/// What a vector's `expect.txt` asks of the run; `K` is a kind as the run reports it (a
/// [`ProblemKind`] for verify, an error kind's name for confirm).
struct Expect<K> {
    exit: i32,
    /// Problem or error kinds that must all be reported.
    kinds: Vec<K>,
    /// Phrases stderr must contain.
    stderr: Vec<String>,
}

/// A `kind:` line of a verify vector, as the problem kind it names: a name that no kind has
/// (one renamed, or mistyped) fails the vector here rather than as a kind not reported.
fn problem_kind(name: &str) -> ProblemKind {
    serde_json::from_value(serde_json::Value::from(name))
        .unwrap_or_else(|e| panic!("`kind: {name}` names no verify problem kind: {e}"))
}

impl<K: PartialEq + Debug> Expect<K> {
    /// Reads `DIR/expect.txt`, each `kind:` line through `kind`.
    fn read(dir: &Path, kind: impl Fn(&str) -> K) -> Expect<K> {
        let path = dir.join("expect.txt");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut x = Expect {
            exit: -1,
            kinds: Vec::new(),
            stderr: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}: not `key: value`: {line:?}", path.display()));
            match k {
                "exit" => x.exit = v.parse().expect("an exit code"),
                "kind" => x.kinds.push(kind(v)),
                "stderr" => x.stderr.push(v.to_string()),
                _ => panic!("{}: unknown key {k:?}", path.display()),
            }
        }
        assert!(x.exit >= 0, "{}: no `exit:` line", path.display());
        x
    }

    /// Asserts the exit code, every kind among `kinds`, every phrase on stderr; returns stderr.
    #[track_caller]
    fn check(&self, name: &str, o: &Output, kinds: &[K]) -> String {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(self.exit), "{name}: stderr:\n{err}");
        for k in &self.kinds {
            assert!(
                kinds.contains(k),
                "{name}: kind {k:?} not in {kinds:?}\n{err}"
            );
        }
        for p in &self.stderr {
            assert!(
                err.contains(p.as_str()),
                "{name}: stderr lacks {p:?}:\n{err}"
            );
        }
        err
    }
}

/// Every vector folder under `fixtures/vectors/<group>`, named `<group>/<folder>`, sorted.
fn vectors(group: &str) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(fixture("vectors").join(group))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = format!("{group}/{}", e.file_name().to_string_lossy());
            (name, e.path())
        })
        .filter(|(_, p)| p.is_dir())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no vectors in fixtures/vectors/{group}");
    v
}

/// The problem kinds of a `verify --json` report.
fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

/// The error kind of the error document a refused `--json` run printed, if it printed one.
fn error_kind(stdout: &[u8]) -> Vec<String> {
    let j: serde_json::Value = serde_json::from_slice(stdout).unwrap_or(serde_json::Value::Null);
    j["error"]["kind"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect()
}

/// Lays out in `at` the genuine export's archive, manifest and signature, each replaced by the
/// vector's `archive`, `manifest.json` or `manifest.json.minisig` when it has one (a vector
/// with a manifest but no signature gets none); returns the files laid out.
fn lay_out(env: &Env, dir: &Path, at: &Path) -> Vec<String> {
    std::fs::create_dir_all(at).unwrap();
    let own_manifest = dir.join("manifest.json").exists();
    let mut laid = Vec::new();
    for (file, own) in [
        ("acme-1.tar.zst.age", "archive"),
        ("acme-1.manifest.json", "manifest.json"),
        ("acme-1.manifest.json.minisig", "manifest.json.minisig"),
    ] {
        let from = if dir.join(own).exists() {
            dir.join(own)
        } else if own == "manifest.json.minisig" && own_manifest {
            continue;
        } else {
            env.path(&format!("out/{file}"))
        };
        std::fs::copy(from, at.join(file)).unwrap();
        laid.push(file.to_string());
    }
    laid
}

/// Each `archive/NAME` and `manifest/NAME` in place of a genuine export's archive or signed
/// manifest: refused as `expect.txt` says, with the kinds on stderr too, no receipt code,
/// nothing extracted and nothing left in the binary's TMPDIR.
#[test]
fn every_archive_and_manifest_vector_is_refused_and_extracts_nothing() {
    let env = Env::new();
    support::export(&env, &fixture("acme"), "acme-1");
    for (name, dir) in vectors("archive").into_iter().chain(vectors("manifest")) {
        let want = Expect::read(&dir, problem_kind);
        let at = env.path(&format!("v/{name}"));
        let laid = lay_out(&env, &dir, &at);
        let archive = at.join("acme-1.tar.zst.age");
        let target = env.path(&format!("x-{}", name.replace('/', "-")));
        let o = support::verify_cmd(&env, &archive)
            .arg("--extract")
            .arg(&target)
            .output()
            .unwrap();
        let r: VerifyReport = parse(&o.stdout);
        let err = want.check(&name, &o, &kinds(&r));
        for k in &want.kinds {
            let k = k.as_str();
            assert!(err.contains(k), "{name}: stderr lacks the kind {k}:\n{err}");
        }
        assert!(!r.ok, "{name}");
        assert!(
            r.receipt_code.is_none(),
            "{name}: no receipt code on failure"
        );
        assert!(!target.exists(), "{name}: the target must not exist");
        assert!(
            listing(&env.path("tmp")).is_empty(),
            "{name}: a file was left in TMPDIR"
        );
        assert_eq!(
            listing(env.dir.path()),
            ["home", "out", "tmp", "v"],
            "{name}: no staging directory or stray file may be left"
        );
        let mut laid = laid;
        laid.sort();
        assert_eq!(
            listing(&at),
            laid,
            "{name}: nothing may appear beside the archive"
        );
    }
}

/// Each `receipt/NAME/receipt.json` given to `confirm` in a home with one recorded handover:
/// refused as `expect.txt` says, and nothing recorded.
#[test]
fn every_receipt_vector_is_refused_and_records_nothing() {
    let env = Env::new();
    support::export(&env, &fixture("acme"), "acme-1");
    for (name, dir) in vectors("receipt") {
        let want = Expect::read(&dir, str::to_string);
        let o = env
            .cmd()
            .args(["--json", "confirm"])
            .arg(dir.join("receipt.json"))
            .output()
            .unwrap();
        want.check(&name, &o, &error_kind(&o.stdout));
        let list = json(&env.run(&["--json", "list"]).stdout);
        assert!(
            list["handovers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["receipt"].is_null()),
            "{name}: the database must be unchanged: {list}"
        );
    }
}
