//! Certificates that hold up: signed unattended by the delegated certificate key (run-due
//! under `env -i` with a password-protected provider key), checkable with minisign alone, and
//! honest about the media (NIST SP 800-88 Rev. 2 terms; no Clear on a virtual disk).

use std::io::Cursor;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use handover::DelegationSummary;
use handover::RunDueReport;
use handover::{ExportSummary, KeygenSummary, ShredSummary, VerifyReport};

use crate::common::*;

const PASSWORD: &str = "correct horse battery staple";
const NOW: &str = "2099-01-02T00:00:00Z";

/// `handover ARGS` with the provider key's password in the environment.
fn with_password(env: &Env, args: &[&str]) -> Output {
    env.cmd()
        .env("HANDOVER_KEY_PASSWORD", PASSWORD)
        .args(args)
        .output()
        .unwrap()
}

/// `env -i PATH=/usr/bin:/bin HANDOVER_FAKE_NOW=… handover --home H ARGS`: what cron runs,
/// with no password, no terminal, no HOME, nothing.
fn unattended(env: &Env, args: &[&str]) -> Output {
    Command::new("/usr/bin/env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("HANDOVER_FAKE_NOW={NOW}"))
        .arg(env!("CARGO_BIN_EXE_handover"))
        .arg("--home")
        .arg(env.home())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A home whose provider key is password-protected, the client's age key, and one export of
/// a copy of the fixture (exported with the password), received by code and due; returns
/// (env, handover id, data dir).
fn due_with_protected_key() -> (Env, String, PathBuf) {
    let env = Env::new();
    assert_ok(&with_password(
        &env,
        &["keygen", "--organization", "Acme Hosting Ltd"],
    ));
    assert_ok(&env.run(&[
        "keygen",
        "--age",
        "--out",
        env.path("client").to_str().unwrap(),
    ]));
    let recipient = recipient_of(&env.path("client/age.key"));
    let data = env.path("acme-data");
    sh(
        &format!("cp -a '{}' '{}'", fixture("acme").display(), data.display()),
        Path::new("/"),
    );
    let o = env
        .cmd()
        .env("HANDOVER_KEY_PASSWORD", PASSWORD)
        .args(["--json", "export"])
        .arg(&data)
        .args([
            "--client",
            "acme",
            "--name",
            "acme-final",
            "-r",
            &recipient,
            "--out",
        ])
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    let e: ExportSummary = parse(&o.stdout);
    let id = e.handover_id;
    let v = env
        .cmd()
        .args(["--json", "verify"])
        .arg(&e.archive_path)
        .arg("-i")
        .arg(env.path("client/age.key"))
        .arg("--signer")
        .arg(env.home().join("handover.pub"))
        .output()
        .unwrap();
    assert_ok(&v);
    let code = parse::<VerifyReport>(&v.stdout).receipt_code.unwrap();
    assert_ok(&env.run(&["confirm", &id, "--code", &code]));
    assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-01"]));
    (env, id, data)
}

fn minisig_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Checks a minisign signature in-process, the way `minisign -V` does (prehashed).
fn verifies(pk: &minisign::PublicKey, data: &[u8], sig: &str) -> bool {
    let Ok(b) = minisign::SignatureBox::from_string(sig) else {
        return false;
    };
    minisign::verify(pk, &b, Cursor::new(data), true, false, false).is_ok()
}

fn public_key_file(p: &Path) -> minisign::PublicKey {
    minisign::PublicKeyBox::from_string(&std::fs::read_to_string(p).unwrap())
        .unwrap()
        .into_public_key()
        .unwrap()
}

#[test]
fn keygen_makes_an_authorised_certificate_key() {
    let env = Env::new();
    let o = with_password(
        &env,
        &["--json", "keygen", "--organization", "Acme Hosting Ltd"],
    );
    assert_ok(&o);
    let k: KeygenSummary = parse(&o.stdout);
    assert!(k.password_protected);
    let h = env.home();
    let key = std::fs::metadata(h.join("cert.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    // Unencrypted: it loads with no password at all.
    let text = std::fs::read_to_string(h.join("cert.key")).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&text)
        .unwrap()
        .into_unencrypted_secret_key()
        .expect("cert.key needs no password");
    let cert_pk = minisign::PublicKey::from_secret_key(&sk).unwrap();
    assert_eq!(
        cert_pk.to_base64(),
        public_key_file(&h.join("cert.pub")).to_base64()
    );
    // The delegation names the key, its purpose, the organisation and the time, and the
    // provider key signed it.
    let doc = std::fs::read(h.join("cert-delegation.json")).unwrap();
    let sig = std::fs::read_to_string(h.join("cert-delegation.json.minisig")).unwrap();
    assert!(verifies(
        &public_key_file(&h.join("handover.pub")),
        &doc,
        &sig
    ));
    assert!(!verifies(&cert_pk, &doc, &sig));
    let d: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(d["purpose"], "deletion certificates");
    assert_eq!(d["organization"], "Acme Hosting Ltd");
    assert_eq!(
        d["delegated_key"]["public_key"],
        cert_pk.to_base64().as_str()
    );
    assert_eq!(d["provider_key"]["key_id"], k.key_id.as_str());
    assert_eq!(
        k.certificate_key.as_ref().unwrap().key_id,
        d["delegated_key"]["key_id"].as_str().unwrap()
    );
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
    // The trusted comment, which minisign -V prints once checked, names the delegated key.
    assert!(sig.contains(&cert_pk.to_base64()), "{sig}");
    // Recorded in the audit log.
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn run_due_under_env_i_signs_with_the_delegated_key() {
    let (env, id, data) = due_with_protected_key();
    let o = unattended(&env, &["--json", "run-due"]);
    assert_ok(&o);
    let r: RunDueReport = parse(&o.stdout);
    assert_eq!(r.deleted, 1, "{r:?}");
    assert!(!data.exists(), "the due job's data is gone");
    let cert_id = r.jobs[0].certificate_id.clone().unwrap();

    // The certificate and its delegation, beside the archive.
    let out = env.path("out");
    let cert_path = out.join("acme-final.deletion-certificate.json");
    let deleg_path = out.join("acme-final.cert-delegation.json");
    let cert_bytes = std::fs::read(&cert_path).unwrap();
    let cert: serde_json::Value = serde_json::from_slice(&cert_bytes).unwrap();
    let deleg_bytes = std::fs::read(&deleg_path).unwrap();
    let deleg_sig = std::fs::read_to_string(minisig_of(&deleg_path)).unwrap();
    // The delegation verifies against handover.pub, and names the key that signed the
    // certificate, which verifies against it; the provider key did not sign the certificate.
    let provider = public_key_file(&env.home().join("handover.pub"));
    assert!(verifies(&provider, &deleg_bytes, &deleg_sig));
    let d: serde_json::Value = serde_json::from_slice(&deleg_bytes).unwrap();
    let delegated =
        minisign::PublicKey::from_base64(d["delegated_key"]["public_key"].as_str().unwrap())
            .unwrap();
    let cert_sig = std::fs::read_to_string(minisig_of(&cert_path)).unwrap();
    assert!(verifies(&delegated, &cert_bytes, &cert_sig));
    assert!(!verifies(&provider, &cert_bytes, &cert_sig));
    assert_eq!(cert["signer"]["key_id"], d["delegated_key"]["key_id"]);
    // Embedded too, byte for byte.
    assert_eq!(
        cert["delegation"]["document"].as_str().unwrap().as_bytes(),
        &deleg_bytes[..]
    );
    assert_eq!(cert["delegation"]["signature"].as_str().unwrap(), deleg_sig);
    assert_eq!(
        cert["delegation"]["file_name"],
        "acme-final.cert-delegation.json"
    );
    // A tampered certificate no longer verifies.
    let mut bad = cert_bytes.clone();
    let n = bad.len() - 3;
    bad[n] ^= 1;
    assert!(!verifies(&delegated, &bad, &cert_sig));

    // handover itself checks both, and the job is done.
    let show = env.run(&["certificate", "show", &cert_id]);
    assert_ok(&show);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("Signature:   valid"), "{text}");
    assert!(text.contains("Delegation:  valid"), "{text}");
    // The receipt line says what it proves, as confirm, status and the evidence report do.
    assert!(text.contains("proof code)"), "{text}");
    let j: Jobs = parse(&env.run(&["--json", "jobs"]).stdout);
    assert_eq!(j.jobs[0].handover_id, id);
    assert_eq!(j.jobs[0].status.as_str(), "done");
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn minisign_cli_checks_certificate_and_delegation() {
    if !require_tool("minisign") {
        return;
    }
    let (env, _id, _data) = due_with_protected_key();
    assert_ok(&unattended(&env, &["--json", "run-due"]));
    let out = env.path("out");
    let pubkey = env.home().join("handover.pub");
    // The two commands of the README, exactly.
    let o = Command::new("minisign")
        .args(["-Vm", "acme-final.cert-delegation.json", "-p"])
        .arg(&pubkey)
        .current_dir(&out)
        .output()
        .unwrap();
    assert_ok(&o);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    let key = shown
        .split_whitespace()
        .find(|w| w.starts_with("(RW"))
        .map(|w| w.trim_matches(|c| c == '(' || c == ')').to_string())
        .unwrap_or_else(|| panic!("the trusted comment names the key: {shown}"));
    let o = Command::new("minisign")
        .args(["-Vm", "acme-final.deletion-certificate.json", "-P", &key])
        .current_dir(&out)
        .output()
        .unwrap();
    assert_ok(&o);
    // The provider key alone does not verify the certificate: the delegation is needed.
    let o = Command::new("minisign")
        .args(["-Vm", "acme-final.deletion-certificate.json", "-p"])
        .arg(&pubkey)
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn without_a_delegation_run_due_and_timer_say_what_to_run_once() {
    let (env, id, data) = due_with_protected_key();
    // A home from before cert.key existed.
    for f in [
        "cert.key",
        "cert.pub",
        "cert-delegation.json",
        "cert-delegation.json.minisig",
    ] {
        std::fs::remove_file(env.home().join(f)).unwrap();
    }
    let o = unattended(&env, &["--quiet", "run-due"]);
    let err = assert_code(&o, 1);
    assert!(err.contains("handover --home"), "{err}");
    assert!(err.contains("delegate"), "{err}");
    assert!(err.contains("password-protected"), "{err}");
    assert!(data.exists(), "nothing deleted without a certificate key");
    assert_eq!(
        parse::<Jobs>(&env.run(&["--json", "jobs"]).stdout).jobs[0].handover_id,
        id
    );
    // No key was made behind the user's back, and no password was asked for.
    for f in ["cert.key", "cert.pub", "cert-delegation.json"] {
        assert!(!listing(&env.home()).contains(&f.to_string()), "{f}");
    }

    let t = env.run(&["timer", "--cron"]);
    assert_ok(&t);
    let warn = String::from_utf8_lossy(&t.stderr);
    assert!(
        warn.contains("warning") && warn.contains("delegate"),
        "{warn}"
    );

    // Once, interactively (the password from the environment here): then cron works.
    let o = with_password(
        &env,
        &["--json", "delegate", "--organization", "Acme Hosting Ltd"],
    );
    assert_ok(&o);
    assert!(parse::<DelegationSummary>(&o.stdout).created);
    let t = env.run(&["timer", "--cron"]);
    assert!(!String::from_utf8_lossy(&t.stderr).contains("warning"));
    let o = unattended(&env, &["--json", "run-due"]);
    assert_ok(&o);
    assert_eq!(parse::<RunDueReport>(&o.stdout).deleted, 1);
    assert!(!data.exists());
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn an_older_home_gets_its_delegation_at_the_next_export() {
    let env = Env::new();
    assert_ok(&with_password(&env, &["keygen"]));
    for f in [
        "cert.key",
        "cert.pub",
        "cert-delegation.json",
        "cert-delegation.json.minisig",
    ] {
        std::fs::remove_file(env.home().join(f)).unwrap();
    }
    let o = env
        .cmd()
        .env("HANDOVER_KEY_PASSWORD", PASSWORD)
        .args(["export"])
        .arg(fixture("acme"))
        .args(["--client", "acme", "-R"])
        .arg(fixture("keys/client.recipients"))
        .arg("--out")
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    let h = env.home();
    assert_eq!(
        std::fs::metadata(h.join("cert.key")).unwrap().mode() & 0o777,
        0o600
    );
    let doc = std::fs::read(h.join("cert-delegation.json")).unwrap();
    let sig = std::fs::read_to_string(h.join("cert-delegation.json.minisig")).unwrap();
    assert!(verifies(
        &public_key_file(&h.join("handover.pub")),
        &doc,
        &sig
    ));
    // Nothing was written into the client's data or the output beyond the handover.
    assert!(!env.path("out").join("cert.key").exists());
}

/// The device of `p` is a virtio (or Xen) disk, per sysfs.
fn on_virtio_disk(p: &Path) -> bool {
    let dev = std::fs::metadata(p).unwrap().dev();
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    let Ok(real) = std::fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")) else {
        return false;
    };
    let name = real.file_name().unwrap().to_string_lossy().into_owned();
    let parent = real
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver = |d: &Path| {
        std::fs::read_link(d.join("device/driver"))
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    name.starts_with("vd")
        || parent.starts_with("vd")
        || driver(&real).as_deref() == Some("virtio_blk")
        || real.parent().and_then(driver).as_deref() == Some("virtio_blk")
}

#[test]
fn on_a_virtio_disk_a_shred_is_best_effort_never_clear() {
    let env = Env::keyed();
    // A directory on / (the test's temp dir lives under /tmp, on the root filesystem here).
    let dir = tempfile::Builder::new()
        .prefix("handover-virtio-")
        .tempdir_in("/var/tmp")
        .unwrap();
    if !on_virtio_disk(dir.path()) {
        eprintln!("SKIPPED: /var/tmp is not on a virtio disk here");
        return;
    }
    let fs_type = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir.path())
        .output()
        .unwrap();
    let fs_type = String::from_utf8_lossy(&fs_type.stdout).trim().to_string();
    std::fs::write(dir.path().join("a.txt"), vec![b'x'; 10_000]).unwrap();
    std::fs::write(dir.path().join("b.bin"), vec![7u8; 70_000]).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::rename(dir.path().join("a.txt"), tree.join("a.txt")).unwrap();
    std::fs::rename(dir.path().join("b.bin"), tree.join("b.bin")).unwrap();
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .args(["--out"])
        .arg(env.path("certs"))
        .output()
        .unwrap();
    assert_ok(&o);
    let s: ShredSummary = parse(&o.stdout);
    assert!(s.downgraded);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.certificate_path.unwrap()).unwrap()).unwrap();
    assert!(
        c["standard"]
            .as_str()
            .unwrap()
            .contains("NIST SP 800-88 Rev. 2"),
        "{c}"
    );
    assert!(!c["standard"].as_str().unwrap().contains("Rev. 1,"));
    let san = c["sanitization"].as_array().unwrap();
    assert!(!san.is_empty());
    for x in san {
        assert_ne!(x["nist_category"], "Clear", "{x}");
        assert_ne!(x["sanitization_method"], "Clear", "{x}");
        assert_ne!(x["method"], "clear", "{x}");
        if fs_type.starts_with("ext") || fs_type == "xfs" {
            // In place, but on a virtual disk: overwritten, best effort, with the reason.
            assert_eq!(x["method"], "overwrite_best_effort", "{x}");
            assert_eq!(x["sanitization_method"], "none (best effort)");
            assert_eq!(x["technique"], "overwrite");
            assert_eq!(
                x["reason"], "virtual disk: the physical media are unknown",
                "{x}"
            );
            // The media are named as sysfs described them, and why they count as virtual.
            assert!(x["media"]["virtual_because"].is_string(), "{x}");
            assert!(!x["media"]["name"].as_str().unwrap().is_empty(), "{x}");
        }
    }
    assert!(c["scope"].as_str().unwrap().contains("file level only"));
    // The summary shown to the operator says it too.
    let text = env.run(&["certificate", "show", c["certificate_id"].as_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("NIST SP 800-88 Rev. 2: method"), "{text}");
    if fs_type.starts_with("ext") || fs_type == "xfs" {
        assert!(
            text.contains("virtual disk: the physical media are unknown"),
            "{text}"
        );
    }
}

#[test]
fn the_evidence_report_states_the_scope_and_the_caveats() {
    let (env, id, _data) = due_with_protected_key();
    assert_ok(&unattended(&env, &["--json", "run-due"]));
    let ev = env.path("evidence");
    let o = env
        .cmd()
        .args(["evidence", &id, "--out"])
        .arg(&ev)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        ev.join("deletion/acme-final.cert-delegation.json")
            .is_file()
    );
    assert!(
        ev.join("deletion/acme-final.cert-delegation.json.minisig")
            .is_file()
    );
    let virtio = on_virtio_disk(&env.path("out"));
    for f in ["report.md", "report.html"] {
        let r = std::fs::read_to_string(ev.join(f)).unwrap();
        for needle in [
            "What the deletion certificate claims",
            "NIST SP 800-88 Rev. 2",
            "file level only",
            "directory blocks and its journal",
            "no whole-media Clear, Purge or Destroy",
            "sanitization method:",
            "technique:",
            "authorised to sign deletion certificates",
        ] {
            assert!(r.contains(needle), "{f} lacks {needle:?}:\n{r}");
        }
        if virtio {
            assert!(
                r.contains("virtual disk: the physical media are unknown"),
                "{f}:\n{r}"
            );
        }
    }
    let md = std::fs::read_to_string(ev.join("report.md")).unwrap();
    assert!(
        md.contains("minisign -Vm deletion/acme-final.cert-delegation.json -p provider.pub"),
        "{md}"
    );
    assert!(
        md.contains("minisign -Vm deletion/acme-final.deletion-certificate.json -P RW"),
        "{md}"
    );
}

/// `delegate` on a home whose delegation is valid has nothing to sign: it says so without
/// asking for the provider key's password (none is given here, and no terminal).
#[test]
fn delegate_with_a_valid_delegation_needs_no_password() {
    let env = Env::new();
    assert_ok(&with_password(&env, &["keygen"]));
    let o = env.run(&["--json", "delegate"]);
    assert_ok(&o);
    let s: DelegationSummary = parse(&o.stdout);
    assert!(!s.created);
    // --renew signs a new one: that needs the password, and says so.
    let o = env.run(&["delegate", "--renew"]);
    let err = assert_code(&o, 1);
    assert!(err.contains("password"), "{err}");
}
