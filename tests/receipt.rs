//! Proof of receipt: `verify --receipt [--sign-receipt]` on the client's side, `confirm` on
//! the provider's. A wrong code, a receipt for another handover or a tampered receipt is
//! refused with exit 3 and leaves the state database unchanged.
mod common;
mod support;
use common::*;

use std::path::PathBuf;

/// A provider home with one handover (two with `second`), verified by the client with a
/// receipt at `receipt.json` (signed with the client's key when `signed`).
struct Setup {
    env: Env,
    id: String,
    receipt: PathBuf,
}

fn export(env: &Env, name: &str) -> String {
    support::export(env, &fixture("acme"), name)
}

fn client_verify(env: &Env, name: &str, receipt: &str, signed: bool) -> std::process::Output {
    let mut c = support::verify_cmd(env, &support::archive(env, name));
    c.arg("--receipt").arg(env.path(receipt));
    if signed {
        c.arg("--sign-receipt").arg(fixture("keys/client.key"));
    }
    c.output().unwrap()
}

fn setup(signed: bool) -> Setup {
    let env = Env::new();
    let id = export(&env, "acme-1");
    assert_ok(&client_verify(&env, "acme-1", "receipt.json", signed));
    Setup {
        receipt: env.path("receipt.json"),
        env,
        id,
    }
}

fn confirm(s: &Setup, args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let o = s
        .env
        .cmd()
        .args(["--json", "confirm"])
        .args(args)
        .output()
        .unwrap();
    let j = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, j)
}

/// The confirmed receipts, from `list --json`.
fn received(s: &Setup) -> Vec<serde_json::Value> {
    let o = s.env.run(&["--json", "list"]);
    assert_ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    j["handovers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| !h["receipt"].is_null())
        .cloned()
        .collect()
}

#[track_caller]
fn assert_refused(s: &Setup, args: &[&str], kind: &str, phrase: &str) {
    let (o, j) = confirm(s, args);
    let err = assert_code(&o, 3);
    assert_eq!(j["error"]["kind"], kind, "{err}");
    assert!(err.contains(phrase), "stderr lacks {phrase:?}:\n{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    assert!(received(s).is_empty(), "the database must be unchanged");
}

fn edit_receipt(s: &Setup, f: impl FnOnce(&mut serde_json::Value)) {
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&s.receipt).unwrap()).unwrap();
    f(&mut r);
    std::fs::write(&s.receipt, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
}

#[test]
fn receipt_holds_what_was_verified() {
    let s = setup(false);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&s.receipt).unwrap()).unwrap();
    assert_eq!(r["handover_id"], s.id.as_str());
    assert_eq!(r["files"], 12);
    let m = std::fs::read(s.env.path("out/acme-1.manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&m).unwrap();
    assert_eq!(r["archive_sha256"], manifest["archive"]["sha256"]);
    // The code is the one the provider recorded (the manifest holds its SHA-256).
    let code = r["receipt_code"].as_str().unwrap();
    assert_eq!(manifest["receipt_code_sha256"], sha256_hex(code.as_bytes()));
    assert!(r["received_at"].as_str().unwrap().ends_with('Z'));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&s.receipt).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn signed_receipt_confirms_once_and_list_shows_it_received() {
    let s = setup(true);
    assert!(s.env.path("receipt.json.minisig").is_file());
    let (o, j) = confirm(
        &s,
        &[
            s.receipt.to_str().unwrap(),
            "--client-key",
            fixture("keys/client.pub").to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    assert_eq!(j["already_confirmed"], false);
    assert_eq!(j["method"], "receipt");
    assert_eq!(j["client_key_authenticated"], true);
    assert!(j["client_key_id"].as_str().is_some());
    assert_eq!(received(&s).len(), 1);
    // A second confirmation says so, exits 0, and adds nothing.
    let (o, j) = confirm(&s, &[s.receipt.to_str().unwrap()]);
    assert_ok(&o);
    assert_eq!(j["already_confirmed"], true);
    assert_eq!(received(&s).len(), 1);
    let o = s.env.run(&["list"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("RECEIVED"), "{table}");
    assert!(!table.lines().nth(1).unwrap().contains("  -  "), "{table}");
}

#[test]
fn code_confirms_with_an_id_prefix_and_sloppy_typing() {
    let s = setup(false);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&s.receipt).unwrap()).unwrap();
    let code = r["receipt_code"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let (o, j) = confirm(&s, &[&s.id[..8], "--code", &code]);
    assert_ok(&o);
    assert_eq!(j["method"], "code");
    assert_eq!(received(&s).len(), 1);
}

#[test]
fn wrong_code_is_refused() {
    let s = setup(false);
    assert_refused(
        &s,
        &[&s.id, "--code", "AAAA-BBBB-CCCC-DDDD-EEEE"],
        "wrong_receipt_code",
        "wrong receipt code",
    );
}

#[test]
fn receipt_with_a_wrong_code_is_refused() {
    let s = setup(false);
    edit_receipt(&s, |r| {
        r["receipt_code"] = "AAAA-BBBB-CCCC-DDDD-EEEE".into()
    });
    assert_refused(
        &s,
        &[s.receipt.to_str().unwrap()],
        "wrong_receipt_code",
        "wrong receipt code",
    );
}

#[test]
fn receipt_for_a_handover_not_recorded_here_is_refused() {
    let s = setup(false);
    let other = Env::new();
    export(&other, "acme-1");
    let o = other.cmd().arg("confirm").arg(&s.receipt).output().unwrap();
    let err = assert_code(&o, 3);
    assert!(err.contains("not recorded here"), "{err}");
}

#[test]
fn receipt_for_another_recorded_handover_is_refused() {
    let s = setup(false);
    let second = export(&s.env, "acme-2");
    edit_receipt(&s, |r| r["handover_id"] = second.as_str().into());
    assert_refused(
        &s,
        &[s.receipt.to_str().unwrap()],
        "receipt_archive_mismatch",
        "another archive",
    );
}

#[test]
fn tampered_signed_receipt_is_refused() {
    let s = setup(true);
    edit_receipt(&s, |r| r["received_at"] = "2020-01-01T00:00:00Z".into());
    assert_refused(
        &s,
        &[s.receipt.to_str().unwrap()],
        "receipt_signature_invalid",
        "changed after signing",
    );
}

#[test]
fn unsigned_receipt_with_client_key_is_refused() {
    let s = setup(false);
    assert_refused(
        &s,
        &[
            s.receipt.to_str().unwrap(),
            "--client-key",
            fixture("keys/client.pub").to_str().unwrap(),
        ],
        "receipt_signature_missing",
        "no signature",
    );
}

#[test]
fn receipt_signed_by_another_key_is_refused() {
    let s = setup(true);
    assert_refused(
        &s,
        &[
            s.receipt.to_str().unwrap(),
            "--client-key",
            fixture("keys/provider.pub").to_str().unwrap(),
        ],
        "receipt_signed_by_other_key",
        "not the client's key",
    );
}

#[test]
fn failed_verification_writes_no_receipt() {
    let env = Env::new();
    export(&env, "acme-1");
    std::fs::write(env.path("out/acme-1.tar.zst.age"), b"garbage").unwrap();
    let o = client_verify(&env, "acme-1", "receipt.json", true);
    assert_code(&o, 3);
    assert!(!env.path("receipt.json").exists());
    assert!(!env.path("receipt.json.minisig").exists());
}

#[test]
fn existing_receipt_is_never_overwritten() {
    let s = setup(false);
    let before = std::fs::read(&s.receipt).unwrap();
    let o = client_verify(&s.env, "acme-1", "receipt.json", false);
    let err = assert_code(&o, 1);
    assert!(err.contains("never overwritten"), "{err}");
    assert_eq!(std::fs::read(&s.receipt).unwrap(), before);
}
