//! Helpers shared by the verify, receipt and hostile tests: an export with the shipped test
//! keys and a `verify` command line with the client's identity and the provider's key. Kept
//! beside `common` (which every module shares) so each can grow on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Env, fixture};

pub mod tamper;

/// Exports `data` as `name` for client `acme` into `out/`, signed with the test provider key
/// and encrypted to the test client; returns the handover id.
pub fn export(env: &Env, data: &Path, name: &str) -> String {
    let (recipients, key) = (
        fixture("keys/client.recipients"),
        fixture("keys/provider.key"),
    );
    env.export_with(
        data,
        &[
            "--name",
            name,
            "-R",
            recipients.to_str().unwrap(),
            "--sign-key",
            key.to_str().unwrap(),
        ],
    )
    .handover_id
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
