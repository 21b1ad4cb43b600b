//! Helpers shared by the verify, receipt and hostile tests: an export with the shipped test
//! keys and a `verify` command line with the client's identity and the provider's key. Kept
//! beside `tests/common` (which the other test files share) so each can grow on its own.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::{Env, assert_ok, fixture};

/// Exports `data` as `name` for client `acme` into `out/`, signed with the test provider key
/// and encrypted to the test client; returns the handover id.
pub fn export(env: &Env, data: &Path, name: &str) -> String {
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(data)
        .args(["--client", "acme", "--name", name, "-R"])
        .arg(fixture("keys/client.recipients"))
        .arg("--sign-key")
        .arg(fixture("keys/provider.key"))
        .arg("--out")
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    s["handover_id"].as_str().unwrap().to_string()
}

/// The archive `export` wrote for `name`.
pub fn archive(env: &Env, name: &str) -> PathBuf {
    env.path(&format!("out/{name}.tar.zst.age"))
}

/// `handover --json verify ARCHIVE -i client.agekey --signer provider.pub`; add more args.
pub fn verify_cmd(env: &Env, archive: &Path) -> Command {
    let mut c = env.cmd();
    c.args(["--json", "verify"])
        .arg(archive)
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .arg("--signer")
        .arg(fixture("keys/provider.pub"));
    c
}
