//! Proof of receipt: `verify --receipt [--sign-receipt]` on the client's side, `confirm` on
//! the provider's. A wrong code, a receipt for another handover or a tampered receipt is
//! refused with exit 3 and leaves the state database unchanged.
use crate::common::*;
use crate::support;

use handover::{ConfirmSummary, VerifyReport};

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

/// `handover --json confirm ARGS...`, succeeding or not.
fn confirm(s: &Setup, args: &[&str]) -> std::process::Output {
    s.env
        .cmd()
        .args(["--json", "confirm"])
        .args(args)
        .output()
        .unwrap()
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
    let o = confirm(s, args);
    let err = assert_code(&o, 3);
    assert_eq!(json(&o.stdout)["error"]["kind"], kind, "{err}");
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
    let o = confirm(
        &s,
        &[
            s.receipt.to_str().unwrap(),
            "--client-key",
            fixture("keys/client.pub").to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    let j: ConfirmSummary = parse(&o.stdout);
    assert!(!j.already_confirmed);
    assert_eq!(j.method, "receipt");
    assert!(j.client_key_authenticated);
    assert!(j.client_key_id.is_some());
    // No key was bound at export: the signature proves only that its key's holder signed.
    assert_eq!(j.proof, "unbound_signature");
    assert!(j.proof_meaning.contains("not bound at export"), "{j:?}");
    assert_eq!(received(&s).len(), 1);
    // A second confirmation says so, exits 0, and adds nothing.
    let o = confirm(&s, &[s.receipt.to_str().unwrap()]);
    assert_ok(&o);
    assert!(parse::<ConfirmSummary>(&o.stdout).already_confirmed);
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
    let o = confirm(&s, &[&s.id[..8], "--code", &code]);
    assert_ok(&o);
    let j: ConfirmSummary = parse(&o.stdout);
    assert_eq!(j.method, "code");
    assert_eq!(j.proof, "code");
    assert_eq!(received(&s)[0]["receipt"]["proof"], "code");
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

// A receipt for a handover not recorded here: fixtures/vectors/receipt (tests/it/vectors.rs).

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

// ---- Proof levels (issue 9): a key bound at export, upgrades, SSH signatures. ----

/// Exports `acme-1` with the client's public key `key` bound in the manifest; `recipient`
/// replaces the test client's age recipients when given. Returns the handover id.
fn export_bound(env: &Env, key: &std::path::Path, recipient: Option<&str>) -> String {
    let (recipients, provider) = (
        fixture("keys/client.recipients"),
        fixture("keys/provider.key"),
    );
    let mut args = vec!["--name", "acme-1", "--sign-key", provider.to_str().unwrap()];
    args.extend(["--client-key", key.to_str().unwrap()]);
    match recipient {
        Some(r) => args.extend(["-r", r]),
        None => args.extend(["-R", recipients.to_str().unwrap()]),
    }
    env.export_with(&fixture("acme"), &args).handover_id
}

/// `status --json` of the one handover.
fn status(env: &Env) -> serde_json::Value {
    let o = env.run(&["--json", "status"]);
    assert_ok(&o);
    json(&o.stdout)["handovers"][0].clone()
}

fn manifest(env: &Env) -> serde_json::Value {
    json(&std::fs::read(env.path("out/acme-1.manifest.json")).unwrap())
}

#[test]
fn manifest_binds_the_client_key_and_stays_signed() {
    let env = Env::new();
    export_bound(&env, &fixture("keys/client.pub"), None);
    let m = manifest(&env);
    let key = &m["client_key"];
    assert_eq!(key["kind"], "minisign");
    let pub_text = std::fs::read_to_string(fixture("keys/client.pub")).unwrap();
    assert_eq!(
        key["public_key"].as_str().unwrap(),
        pub_text.lines().nth(1).unwrap().trim(),
        "the bound key is the client's public key"
    );
    assert_eq!(key["key_id"].as_str().unwrap().len(), 16);
    // The manifest with the bound key is the signed one: the client's verify checks its
    // signature with the provider's key and passes.
    let o = support::verify_cmd(&env, &support::archive(&env, "acme-1"))
        .output()
        .unwrap();
    assert_ok(&o);
    let r: VerifyReport = parse(&o.stdout);
    assert!(r.ok, "{:?}", r.problems);
    assert!(r.signer_authenticated);
    // An export without --client-key binds nothing, and writes no such field.
    let other = Env::new();
    support::export(&other, &fixture("acme"), "acme-1");
    assert!(manifest(&other).get("client_key").is_none());
}

#[test]
fn receipt_signed_by_a_key_other_than_the_bound_one_is_refused() {
    let env = Env::new();
    export_bound(&env, &fixture("keys/client.pub"), None);
    // Signed with a key that is not the bound one (it names itself in the receipt, which
    // main accepted as the client's).
    let mut c = support::verify_cmd(&env, &support::archive(&env, "acme-1"));
    c.arg("--receipt")
        .arg(env.path("receipt.json"))
        .arg("--sign-receipt")
        .arg(fixture("keys/provider.key"));
    assert_ok(&c.output().unwrap());
    let db = std::fs::read(env.path("home/state.db")).unwrap();
    let o = env
        .cmd()
        .args(["--json", "confirm"])
        .arg(env.path("receipt.json"))
        .output()
        .unwrap();
    let err = assert_code(&o, 3);
    assert_eq!(
        json(&o.stdout)["error"]["kind"],
        "receipt_signed_by_other_key"
    );
    assert!(err.contains("not the client's key"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    // --client-key naming the signer's key cannot override the bound one either.
    let o = env
        .cmd()
        .args(["--json", "confirm"])
        .arg(env.path("receipt.json"))
        .arg("--client-key")
        .arg(fixture("keys/provider.pub"))
        .output()
        .unwrap();
    assert_code(&o, 3);
    assert_eq!(json(&o.stdout)["error"]["kind"], "client_key_not_bound");
    assert_eq!(
        std::fs::read(env.path("home/state.db")).unwrap(),
        db,
        "a refused confirmation changes nothing in the state database"
    );
    assert!(status(&env)["proof"].is_null());
}

#[test]
fn code_confirmation_is_upgraded_by_a_signed_receipt() {
    let env = Env::new();
    let id = export_bound(&env, &fixture("keys/client.pub"), None);
    let mut c = support::verify_cmd(&env, &support::archive(&env, "acme-1"));
    c.arg("--receipt")
        .arg(env.path("receipt.json"))
        .arg("--sign-receipt")
        .arg(fixture("keys/client.key"));
    assert_ok(&c.output().unwrap());
    let r = json(&std::fs::read(env.path("receipt.json")).unwrap());
    let code = r["receipt_code"].as_str().unwrap();

    // 1. The code: the weakest level, with its caveat wherever it is shown.
    let o = env.run(&["--json", "confirm", &id, "--code", code]);
    assert_ok(&o);
    let j: ConfirmSummary = parse(&o.stdout);
    assert_eq!(j.proof, "code");
    let first_at = j.confirmed_at;
    assert_eq!(status(&env)["proof"], "code");
    let o = env.run(&["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("proves the client's cooperation but not receipt to a third party"),
        "{text}"
    );
    let o = env.run(&["--json", "list"]);
    assert_eq!(json(&o.stdout)["handovers"][0]["receipt"]["proof"], "code");

    // 2. The client's signed receipt upgrades it instead of being refused.
    let o = env.run(&[
        "--json",
        "confirm",
        env.path("receipt.json").to_str().unwrap(),
    ]);
    assert_ok(&o);
    let j: ConfirmSummary = parse(&o.stdout);
    assert!(!j.already_confirmed);
    assert!(j.upgraded);
    assert_eq!(j.previous_proof.as_deref(), Some("code"));
    assert_eq!(j.proof, "client_signature");
    assert_eq!(
        j.confirmed_at, first_at,
        "the first confirmation's time stays"
    );
    let s = status(&env);
    assert_eq!(s["proof"], "client_signature");
    assert!(
        s["receipt_confirmed"]["detail"]
            .as_str()
            .unwrap()
            .contains("bound in the signed manifest"),
        "{s}"
    );
    let o = env.run(&["--json", "list"]);
    let row = &json(&o.stdout)["handovers"][0]["receipt"];
    assert_eq!(row["proof"], "client_signature");
    assert!(row["upgraded_at"].is_string());
    let o = env.run(&["list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("client_signature"));
    // The upgrade is an audited event, and the chain holds.
    assert_ok(&env.run(&["audit", "verify"]));
    let out = env.path("evidence");
    assert_ok(&env.run(&["evidence", &id, "--out", out.to_str().unwrap()]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("upgraded from code to client_signature"),
        "{report}"
    );
    assert!(report.contains("proof client_signature"), "{report}");

    // 3. A code after the signature is no downgrade: it says so, exits 0, changes nothing.
    let db = std::fs::read(env.path("home/state.db")).unwrap();
    let o = env.run(&["confirm", &id, "--code", code]);
    let err = assert_code(&o, 0);
    assert!(err.contains("already confirmed at a higher level"), "{err}");
    assert_eq!(std::fs::read(env.path("home/state.db")).unwrap(), db);
    assert_eq!(status(&env)["proof"], "client_signature");
}

/// An ed25519 SSH key pair at `env/NAME` (+ `.pub`); returns the public key line.
fn ssh_key(env: &Env, name: &str) -> String {
    sh(
        &format!("ssh-keygen -q -t ed25519 -N '' -C {name}@client -f {name}"),
        env.dir.path(),
    );
    std::fs::read_to_string(env.path(&format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh-keygen -Y sign -n NAMESPACE -f KEY receipt.json`, replacing any receipt.json.sig.
fn ssh_sign(env: &Env, key: &str, namespace: &str) {
    let _ = std::fs::remove_file(env.path("receipt.json.sig"));
    sh(
        &format!("ssh-keygen -q -Y sign -n {namespace} -f {key} receipt.json 2>/dev/null"),
        env.dir.path(),
    );
}

#[test]
fn ssh_ed25519_bound_key_accepts_its_signature_and_refuses_another() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let env = Env::new();
    // The client's only key is an SSH one: the archive is encrypted to it, and the same key
    // is bound for receipts.
    let line = ssh_key(&env, "id_ed25519");
    ssh_key(&env, "other");
    export_bound(&env, &env.path("id_ed25519.pub"), Some(&line));
    let m = manifest(&env);
    assert_eq!(m["client_key"]["kind"], "ssh-ed25519");
    assert_eq!(
        m["client_key"]["public_key"].as_str().unwrap(),
        line.rsplit_once(' ').unwrap().0
    );
    let fp = String::from_utf8(sh("ssh-keygen -lf id_ed25519.pub", env.dir.path())).unwrap();
    let fp = fp.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(m["client_key"]["key_id"], fp.as_str());
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(support::archive(&env, "acme-1"))
        .arg("-i")
        .arg(env.path("id_ed25519"))
        .arg("--signer")
        .arg(fixture("keys/provider.pub"))
        .arg("--receipt")
        .arg(env.path("receipt.json"))
        .output()
        .unwrap();
    assert_ok(&o);
    // verify tells the client how to sign for the key the provider bound.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ssh-keygen -Y sign -n handover-receipt"),
        "{err}"
    );
    // With the key the client decrypted with, not a guessed ~/.ssh path.
    assert!(
        err.contains(&format!("-f {}", env.path("id_ed25519").display())),
        "{err}"
    );
    let db = std::fs::read(env.path("home/state.db")).unwrap();
    let confirm = || {
        env.cmd()
            .args(["--json", "confirm"])
            .arg(env.path("receipt.json"))
            .output()
            .unwrap()
    };
    // Another SSH key: refused, nothing changed.
    ssh_sign(&env, "other", "handover-receipt");
    let o = confirm();
    let err = assert_code(&o, 3);
    let j = json(&o.stdout);
    assert_eq!(j["error"]["kind"], "receipt_signed_by_other_key", "{err}");
    assert!(err.contains(&fp), "the expected key is named: {err}");
    // The right key, but a signature made for another purpose: refused.
    ssh_sign(&env, "id_ed25519", "git");
    let o = confirm();
    assert_code(&o, 3);
    assert_eq!(
        json(&o.stdout)["error"]["kind"],
        "receipt_signature_namespace"
    );
    // The right key and namespace over a receipt changed after signing: ssh-keygen says no.
    ssh_sign(&env, "id_ed25519", "handover-receipt");
    let original = std::fs::read(env.path("receipt.json")).unwrap();
    edit_receipt_at(&env.path("receipt.json"), |r| {
        r["received_at"] = "2020-01-01T00:00:00Z".into()
    });
    let o = confirm();
    assert_code(&o, 3);
    assert_eq!(
        json(&o.stdout)["error"]["kind"],
        "receipt_signature_invalid"
    );
    assert_eq!(std::fs::read(env.path("home/state.db")).unwrap(), db);
    // The receipt as signed: accepted at the highest level.
    std::fs::write(env.path("receipt.json"), original).unwrap();
    let o = confirm();
    assert_ok(&o);
    let j: ConfirmSummary = parse(&o.stdout);
    assert_eq!(j.proof, "client_signature");
    assert_eq!(j.client_key_id.as_deref(), Some(fp.as_str()));
    assert_eq!(status(&env)["proof"], "client_signature");
    // The evidence pack keeps the SSH signature under its own name, with how to check it.
    let out = env.path("evidence");
    let id = m["handover_id"].as_str().unwrap();
    let o = env
        .cmd()
        .args(["evidence", id, "--out"])
        .arg(&out)
        .arg("--receipt")
        .arg(env.path("receipt.json"))
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(
        std::fs::read(out.join("receipt/receipt.json.sig")).unwrap(),
        std::fs::read(env.path("receipt.json.sig")).unwrap()
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("ssh-keygen -Y verify"), "{report}");
}

fn edit_receipt_at(p: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut r: serde_json::Value = json(&std::fs::read(p).unwrap());
    f(&mut r);
    std::fs::write(p, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
}
