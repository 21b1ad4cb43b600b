//! `handover delete`: gated on the client's receipt, covers every local copy the handover
//! recorded, hashes what it destroys, resumes after a kill, and refuses a second time.
//!
//! The receipt is confirmed the way a provider does it: the client's `verify` gives the code,
//! `confirm --code` records it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handover::ExportSummary;

use crate::common::*;
use crate::deletion::*;

/// An exported handover of a fresh tree; returns (env, export summary, data dir).
fn exported() -> (Env, ExportSummary, PathBuf) {
    let (World { env, data, .. }, s, _) = World::exported("clients/acme", make_tree);
    (env, s, data)
}

fn id(s: &ExportSummary) -> String {
    s.handover_id.clone()
}

fn delete(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["--json", "delete", "--yes"])
        .args(args)
        .output()
        .unwrap()
}

/// SHA-256 of every regular file under `data`, keyed by the path relative to it.
fn sums(data: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(data)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(data).unwrap();
            (rel.to_str().unwrap().to_string(), sha256_file(e.path()))
        })
        .collect()
}

fn outputs(s: &ExportSummary) -> Vec<PathBuf> {
    export_outputs(s)
        .iter()
        .map(|(_, p)| p.to_path_buf())
        .collect()
}

#[test]
fn without_a_receipt_delete_is_refused_and_nothing_changes() {
    let (env, s, data) = exported();
    let before = state_of(&data);
    let o = delete(&env, &[&id(&s)]);
    let err = assert_code(&o, 3);
    assert!(err.contains("no receipt is recorded"), "{err}");
    assert!(err.contains("handover confirm"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["error"]["exit_code"], 3);
    assert_eq!(state_of(&data), before);
    for p in outputs(&s) {
        assert!(p.exists(), "{}", p.display());
    }
}

#[test]
fn after_the_receipt_every_local_copy_goes_and_the_certificate_says_what_it_was() {
    let (env, s, data) = exported();
    let hid = id(&s);
    confirm_receipt(&env, &hid);
    let before = sums(&data);
    let extra = env.path("scratch-copy");
    make_tree(&extra);
    let o = delete(
        &env,
        &[
            &hid[..8],
            "--also",
            extra.to_str().unwrap(),
            "--operator",
            "Ada",
            "--organization",
            "Acme IT",
            // In clear: this test compares the entries' paths with the tree's.
            "--names",
            "clear",
        ],
    );
    let d = summary(&o);
    assert!(!data.exists() && !extra.exists());
    for p in outputs(&s) {
        assert!(!p.exists(), "{} remains", p.display());
    }
    // Written beside the archive, named after the handover.
    let cert_path = d.certificate_path.clone().unwrap();
    assert_eq!(cert_path.parent(), outputs(&s)[0].parent());
    assert_eq!(
        cert_path.file_name().unwrap().to_str().unwrap(),
        format!("{}.deletion-certificate.json", s.name)
    );
    let c = certificate(&env, &d);
    assert_eq!(c["handover"]["handover_id"], hid.as_str());
    assert_eq!(c["handover"]["client"], "acme");
    assert_eq!(c["receipt"]["method"], "code");
    assert!(c["without_receipt_reason"].is_null());
    assert_eq!(c["operator"]["name"], "Ada");
    assert_eq!(c["operator"]["organization"], "Acme IT");
    let labels: Vec<&str> = c["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    for l in ["source", "archive", "manifest", "signature", "also"] {
        assert!(labels.contains(&l), "{l} in {labels:?}");
    }
    // The hash of every source file, taken just before its overwrite, is the one sha256sum
    // gave before the deletion (and so the one in the archive's SHA256SUMS).
    let src = c["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "source")
        .unwrap()["index"]
        .clone();
    let got: BTreeMap<String, String> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["root"] == src && e["kind"] == "file")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, before);
    let archive = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["recorded_sha256"] == s.archive_sha256.as_str())
        .expect("the archive is listed with its recorded hash");
    assert_eq!(archive["sha256"], archive["recorded_sha256"]);
    entry_paths(&c);
    minisign_verifies(&env, &d);

    // For people: the signature is checked against the key the certificate names.
    let shown = env.run(&[
        "certificate",
        "show",
        &d.certificate_id.as_deref().unwrap()[..6],
    ]);
    assert_ok(&shown);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("Signature:   valid"), "{text}");
    assert!(text.contains("Receipt:     confirmed"), "{text}");

    // Once certified, a second delete refuses and names the certificate.
    let again = delete(&env, &[&hid]);
    let err = assert_code(&again, 3);
    assert!(err.contains(d.certificate_id.as_deref().unwrap()), "{err}");
}

#[test]
fn without_receipt_needs_a_reason_which_goes_into_the_certificate_and_database() {
    let (env, s, data) = exported();
    let hid = id(&s);
    let o = env
        .cmd()
        .args(["delete", "--yes", &hid, "--without-receipt"])
        .output()
        .unwrap();
    assert_code(&o, 2);
    let o = delete(&env, &[&hid, "--without-receipt", "--reason", "   "]);
    assert_code(&o, 3);
    assert!(data.exists());
    let reason = "client unreachable; contract ended 2026-10-31";
    let d = summary(&delete(
        &env,
        &[&hid, "--without-receipt", "--reason", reason],
    ));
    let c = certificate(&env, &d);
    assert_eq!(c["without_receipt_reason"], reason);
    assert!(c["receipt"].is_null());
    let db = sql_query(
        &env.home().join("state.db"),
        &format!("SELECT without_receipt_reason FROM deletion_jobs WHERE handover_id = '{hid}'"),
    );
    assert_eq!(db.trim(), reason);
    assert!(!data.exists());
}

#[test]
fn dry_run_changes_nothing() {
    let (env, s, data) = exported();
    confirm_receipt(&env, &id(&s));
    let before = state_of(&data);
    let o = env
        .cmd()
        .args(["--json", "delete", "--dry-run", &id(&s)])
        .output()
        .unwrap();
    let d = summary(&o);
    assert!(d.dry_run);
    assert_eq!(d.plan.files, 7 + 3);
    assert_eq!(state_of(&data), before);
    for p in outputs(&s) {
        assert!(p.exists());
    }
}

/// Killed twice (a real SIGKILL through the test-only shred.* failpoints): once after
/// some files were overwritten and verified but before the batch was recorded, once after
/// some were unlinked. The third run finishes; the certificate lists every entry once, and
/// the hashes are those of the original bytes even for files overwritten by a killed run.
#[test]
fn an_interrupted_delete_is_finished_by_running_it_again() {
    let (env, s, data) = exported();
    let hid = id(&s);
    confirm_receipt(&env, &hid);
    let before = sums(&data);
    for kill in ["shred.verified=kill@3", "shred.unlinked=kill@4"] {
        let o = env
            .cmd()
            .args(["--json", "delete", "--yes", &hid])
            .env("HANDOVER_FAILPOINTS", kill)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), None, "{kill}: killed by a signal");
    }
    assert!(count_files(&data) < 7, "the second run deleted some files");
    // In clear: the entries' paths are compared with the tree's.
    let d = summary(&delete(&env, &[&hid, "--names", "clear"]));
    assert!(d.resumed);
    assert!(!data.exists());
    let c = certificate(&env, &d);
    assert_eq!(c["runs"], 3);
    entry_paths(&c);
    assert_eq!(c["totals"]["files"], 7 + 3);
    assert_eq!(c["totals"]["vanished"], 0);
    let got: BTreeMap<String, String> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["root"] == 0 && e["kind"] == "file")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, before);
    minisign_verifies(&env, &d);
}

#[test]
fn when_every_recorded_path_is_gone_there_is_nothing_to_certify() {
    let (env, s, data) = exported();
    confirm_receipt(&env, &id(&s));
    std::fs::remove_dir_all(&data).unwrap();
    for p in outputs(&s) {
        std::fs::remove_file(p).unwrap();
    }
    let o = delete(&env, &[&id(&s)]);
    let err = assert_code(&o, 3);
    assert!(err.contains("nothing to delete"), "{err}");
}

/// While `delete` plans, `a` in the source becomes a symlink to a tree of the provider's own
/// (after the source's names were read, before any was looked at: `plan.readdir`, hit 1). The
/// walk must not go through it: the link is unlinked, the outside tree and the moved
/// directory stay byte for byte, and the certificate lists nothing under `a/`.
#[test]
fn a_source_directory_swapped_for_a_symlink_during_the_plan_is_never_followed() {
    let (env, s, data) = exported();
    let hid = id(&s);
    confirm_receipt(&env, &hid);
    let outside = env.path("provider-secrets");
    make_tree(&outside);
    let before = state_of(&outside);
    let mut cmd = env.cmd();
    // Names in clear: the certificate is searched by path.
    cmd.args(["--json", "delete", "--yes", "--names", "clear", &hid]);
    let p = run_paused(cmd, "plan.readdir", 1, &env.path("fp"));
    swap_for_symlink(&data.join("a"), &env.path("stash"), &outside);
    let stash = state_of(&env.path("stash"));
    let d = summary(&p.resume());
    assert!(data.symlink_metadata().is_err(), "the source is gone");
    assert_eq!(state_of(&outside), before, "the outside tree is untouched");
    assert_eq!(
        state_of(&env.path("stash")),
        stash,
        "the moved directory too"
    );
    let c = certificate(&env, &d);
    let src = root_index(&c, "source");
    no_entry_under(&c, src, "a");
    let a = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["root"] == src && e["path"] == "a")
        .expect("the symlink is listed");
    assert_eq!(a["kind"], "symlink");
}

/// The same swap between the plan's lstat of `a` and its open (`plan.opening`: hit 1 is the
/// source, hit 2 `a`): a blocker, exit 3, nothing touched.
#[test]
fn a_source_directory_swapped_between_lstat_and_open_is_a_blocker() {
    let (env, s, data) = exported();
    let hid = id(&s);
    confirm_receipt(&env, &hid);
    let outside = env.path("provider-secrets");
    make_tree(&outside);
    let before = state_of(&outside);
    let mut cmd = env.cmd();
    cmd.args(["delete", "--yes", &hid]);
    let p = run_paused(cmd, "plan.opening", 2, &env.path("fp"));
    swap_for_symlink(&data.join("a"), &env.path("stash"), &outside);
    let (in_data, stash) = (state_of(&data), state_of(&env.path("stash")));
    let err = assert_code(&p.resume(), 3);
    assert!(err.contains("became a symlink"), "{err}");
    assert_eq!(state_of(&outside), before);
    assert_eq!(state_of(&env.path("stash")), stash);
    assert_eq!(state_of(&data), in_data, "nothing deleted");
    for p in outputs(&s) {
        assert!(p.exists(), "{}", p.display());
    }
}

/// The source was moved and a symlink left in its place. Deleting the symlink would certify
/// a deletion while the data lives on, so `delete` refuses (exit 3) and names the path; the
/// moved data and every output stay.
#[test]
fn a_recorded_source_replaced_by_a_symlink_is_refused() {
    let (env, s, data) = exported();
    let hid = id(&s);
    confirm_receipt(&env, &hid);
    let moved = env.path("moved-acme");
    std::fs::rename(&data, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &data).unwrap();
    let before = state_of(&moved);
    let o = delete(&env, &[&hid]);
    let err = assert_code(&o, 3);
    assert!(err.contains("now a symlink"), "{err}");
    assert!(err.contains(data.to_str().unwrap()), "{err}");
    assert_eq!(state_of(&moved), before, "the moved data is untouched");
    assert!(data.symlink_metadata().unwrap().file_type().is_symlink());
    for p in outputs(&s) {
        assert!(p.exists(), "{}", p.display());
    }
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["error"]["exit_code"], 3);
}
