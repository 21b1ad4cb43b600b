//! Shared helpers for the integration tests: run the real binary with a temporary home,
//! make keys, and require the standard tools the interoperability tests use.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        let mut c = Command::new(env!("CARGO_BIN_EXE_handover"));
        c.arg("--home").arg(self.home());
        c.env_remove("HANDOVER_KEY_PASSWORD");
        c.env_remove("HANDOVER_HOME");
        c
    }

    /// Runs the binary with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run handover")
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
    pub fn export(&self, data: &Path, recipient: &str) -> serde_json::Value {
        let o = self
            .cmd()
            .args(["--json", "export"])
            .arg(data)
            .args(["--client", "acme", "-r", recipient, "--out"])
            .arg(self.path("out"))
            .output()
            .unwrap();
        assert_ok(&o);
        serde_json::from_slice(&o.stdout).expect("export --json prints one JSON document")
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
