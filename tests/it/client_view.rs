//! The client's view of a handover: what `verify --list` shows, who else can open the archive,
//! and a passphrase-protected SSH identity.

use std::path::{Path, PathBuf};

use handover::{NoReporter, Reporter, VerifyOptions, VerifyReport};

use crate::common::*;

/// The shipped fixture exported to `recipients` (`-r`/`-R` arguments); the archive's path.
fn exported(env: &Env, recipients: &[&str]) -> PathBuf {
    env.export_with(&fixture("acme"), recipients).archive_path
}

fn verify_args<'a>(archive: &'a Path, identity: &'a Path, provider: &'a Path) -> Vec<&'a str> {
    vec![
        "verify",
        archive.to_str().unwrap(),
        "-i",
        identity.to_str().unwrap(),
        "--signer",
        provider.to_str().unwrap(),
    ]
}

#[test]
fn list_prints_the_contents_after_verifying_and_extracts_nothing() {
    let env = Env::keyed();
    let recipients = fixture("keys/client.recipients");
    let archive = exported(&env, &["-R", recipients.to_str().unwrap()]);
    let (id, provider) = (
        fixture("keys/client.agekey"),
        env.home().join("handover.pub"),
    );
    let before: Vec<_> = std::fs::read_dir(env.path("")).unwrap().collect();

    let mut args = verify_args(&archive, &id, &provider);
    args.push("--list");
    let o = env.run(&args);
    assert_ok(&o);
    let out = String::from_utf8(o.stdout).unwrap();
    // Names as they are (not BagIt's %XX), with mode, size and an RFC 3339 time.
    let line = out
        .lines()
        .find(|l| l.ends_with(" odd names/100%-done.txt"))
        .unwrap_or_else(|| panic!("listing:\n{out}"));
    assert!(line.starts_with("-0644 "), "{line}");
    assert!(
        line.contains(" 12 ") && line.contains('T') && line.contains('Z'),
        "{line}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("d0755") && l.ends_with(" invoices"))
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("l") && l.contains(" -> ../invoices/INV-0003.csv"))
    );
    assert_eq!(
        out.lines().count(),
        12 + 9 + 1,
        "one line per file, folder and link"
    );
    let after: Vec<_> = std::fs::read_dir(env.path("")).unwrap().collect();
    assert_eq!(before.len(), after.len(), "nothing extracted");

    let mut args = vec!["--json"];
    args.extend(verify_args(&archive, &id, &provider));
    args.push("--list");
    let r: VerifyReport = parse(&env.run(&args).stdout);
    let contents = r.contents.expect("contents with --list");
    assert_eq!(contents.len(), 12 + 9 + 1);
    let f = contents
        .entries()
        .map(Result::unwrap)
        .find(|e| e.path == "scripts/backup.sh")
        .unwrap();
    assert_eq!(
        (f.kind.as_str(), f.mode.as_str(), f.size),
        ("file", "0755", 64)
    );

    // Without --list, no contents; after a failed check, none either.
    let r: VerifyReport = parse(&env.run(&args[..args.len() - 1]).stdout);
    assert!(r.contents.is_none());
    let mut bytes = std::fs::read(&archive).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let o = env.run(&args);
    assert_code(&o, 3);
    let r: VerifyReport = parse(&o.stdout);
    assert!(
        !r.ok && r.contents.is_none(),
        "no listing of what did not verify"
    );
}

#[test]
fn verify_names_everyone_the_archive_is_encrypted_to() {
    let env = Env::keyed();
    let recipients = fixture("keys/client.recipients");
    let escrow = std::fs::read_to_string(fixture("keys/client-ssh-protected.pub")).unwrap();
    let escrow = escrow.trim();
    let archive = exported(&env, &["-R", recipients.to_str().unwrap(), "-r", escrow]);
    let (id, provider) = (
        fixture("keys/client.agekey"),
        env.home().join("handover.pub"),
    );
    let o = env.run(&verify_args(&archive, &id, &provider));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_ok(&o);
    assert!(
        err.contains("encrypted to 2 recipients (each can open it): "),
        "{err}"
    );
    // The canonical key text (the comment after the key is not part of it).
    let key_text: String = escrow.split(' ').take(2).collect::<Vec<_>>().join(" ");
    assert!(err.contains(&key_text) && err.contains("age1"), "{err}");

    let mut args = vec!["--json"];
    args.extend(verify_args(&archive, &id, &provider));
    let r: VerifyReport = parse(&env.run(&args).stdout);
    assert_eq!(r.recipients.len(), 2);
    assert!(r.recipients.contains(&key_text), "{:?}", r.recipients);
}

/// A host that answers the passphrase prompt, as a person at a terminal would.
struct Types(&'static str);

impl Reporter for Types {
    fn passphrase(&self, prompt: &str) -> Option<String> {
        assert!(prompt.contains("client-ssh-protected"), "{prompt}");
        Some(self.0.to_string())
    }
}

#[test]
fn a_passphrase_protected_ssh_identity_is_asked_for_its_passphrase() {
    let env = Env::keyed();
    let public = std::fs::read_to_string(fixture("keys/client-ssh-protected.pub")).unwrap();
    let archive = exported(&env, &["-r", public.trim()]);
    let key = fixture("keys/client-ssh-protected");

    // Nobody at a terminal: a clear refusal, nothing decrypted.
    let o = env.run(&verify_args(
        &archive,
        &key,
        &env.home().join("handover.pub"),
    ));
    let err = assert_code(&o, 1);
    assert!(
        err.contains("passphrase-protected and there is no terminal"),
        "{err}"
    );

    // Through the library, as the binary does on a terminal: the right passphrase opens it,
    // a wrong one is said to be wrong (not a damaged archive).
    let mut opts = VerifyOptions::new(&archive);
    opts.identities = vec![key];
    opts.signer = Some(env.home().join("handover.pub"));
    let r = handover::verify(&opts, &Types("correct horse")).unwrap();
    assert!(r.ok, "{:?}", r.problems);
    let e = handover::verify(&opts, &Types("wrong")).unwrap_err();
    assert_eq!(e.kind(), "identity_unusable");
    assert!(e.to_string().contains("passphrase typed"), "{e}");
    let e = handover::verify(&opts, &NoReporter).unwrap_err();
    assert!(e.to_string().contains("no terminal"), "{e}");
}
