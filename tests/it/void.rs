//! `handover void`: a handover never delivered (a test export, a wrong recipient) is
//! withdrawn, audited, left out of list/status/jobs, and its own files are deleted without a
//! receipt with the reason in the certificate. Refused once delivered or deleted; a void
//! written with sqlite3 opens no way to a deletion.

use std::path::PathBuf;

use handover::ExportSummary;

use crate::common::*;
use crate::deletion::*;

const NAME: &str = "acme-20261201T101500Z";

/// A home with keys and `clients/acme` exported as NAME with `extra` arguments.
fn exported(extra: &[&str]) -> (Env, ExportSummary, PathBuf) {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let mut args = vec!["-r", recipient.as_str(), "--name", NAME];
    args.extend_from_slice(extra);
    let s = env.export_with(&data, &args);
    (env, s, data)
}

fn json_run(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd().arg("--json").args(args).output().unwrap()
}

fn kind(o: &std::process::Output) -> String {
    json(&o.stdout)["error"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn voided_at(env: &Env, id: &str) -> String {
    sql_query(
        &env.home().join("state.db"),
        &format!("SELECT voided_at FROM handovers WHERE id = '{id}'"),
    )
}

fn assert_untouched(s: &ExportSummary, data: &std::path::Path) {
    for (_, p) in export_outputs(s) {
        assert!(p.exists(), "{}", p.display());
    }
    assert!(data.exists());
}

#[test]
fn a_void_is_audited_and_leaves_list_status_and_jobs_unless_all() {
    let (env, s, _data) = exported(&["--delete-after", "30d"]);
    let id = s.handover_id.clone();
    let o = json_run(
        &env,
        &["void", NAME, "--reason", "test export, sent to nobody"],
    );
    assert_ok(&o);
    let v = json(&o.stdout);
    assert_eq!(v["handover_id"], id.as_str());
    assert_eq!(v["reason"], "test export, sent to nobody");
    assert!(v["voided_at"].as_str().unwrap().ends_with('Z'));
    let o = env.run(&["void", &id, "--reason", "again"]);
    assert!(assert_code(&o, 3).contains("already voided"));

    // The audit log holds it, and verifies.
    let events = sql_query(
        &env.home().join("state.db"),
        &format!("SELECT command, details FROM audit_events WHERE handover_id = '{id}'"),
    );
    let line = events
        .lines()
        .find(|l| l.starts_with("void|"))
        .expect(&events);
    assert!(
        line.contains("\"reason\":\"test export, sent to nobody\""),
        "{line}"
    );
    assert_ok(&env.run(&["audit", "verify"]));

    // Hidden by default, shown and marked with --all.
    let listed = |args: &[&str]| json(&json_run(&env, args).stdout)["handovers"].clone();
    assert_eq!(listed(&["list"]).as_array().unwrap().len(), 0);
    let all = listed(&["list", "--all"]);
    assert_eq!(all[0]["handover_id"], id.as_str());
    assert!(all[0]["voided_at"].is_string());
    let text = String::from_utf8_lossy(&env.run(&["list", "--all"]).stdout).to_string();
    assert!(text.contains("VOIDED"), "{text}");
    let plain = env.run(&["list"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains(&id));
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(
        err.contains("1 voided handover is not shown: handover list --all"),
        "{err}"
    );

    let st: Statuses = parse(&json_run(&env, &["status"]).stdout);
    assert!(st.handovers.is_empty());
    let st: Statuses = parse(&json_run(&env, &["status", "--all"]).stdout);
    assert_eq!(
        st.handovers[0].void_reason.as_deref(),
        Some("test export, sent to nobody")
    );
    let text = String::from_utf8_lossy(&env.run(&["status", "--all"]).stdout).to_string();
    assert!(text.contains("VOIDED"), "{text}");

    let j: Jobs = parse(&json_run(&env, &["jobs"]).stdout);
    assert!(j.jobs.is_empty());
    let j: Jobs = parse(&json_run(&env, &["jobs", "--all"]).stdout);
    assert_eq!(j.jobs[0].status, "voided");

    // run-due leaves it: no receipt will ever come, so it does not wait on one (exit 0).
    let o = env.run_at("2030-01-01T00:00:00Z", &["run-due"]);
    assert_ok(&o);
    assert!(s.archive_path.exists());
}

#[test]
fn a_voided_handover_is_deleted_without_a_receipt_and_the_certificate_says_why() {
    let (env, s, data) = exported(&[]);
    let id = s.handover_id.clone();
    assert_ok(&env.run(&["void", NAME, "--reason", "wrong recipient"]));
    let before = state_of(&data);
    let o = json_run(&env, &["delete", "--yes", &id]);
    assert_ok(&o);
    for (_, p) in export_outputs(&s) {
        assert!(!p.exists(), "{}", p.display());
    }
    // The client's data directory was never handed over: the redo needs it.
    assert_eq!(state_of(&data), before);
    let cert_path = json(&o.stdout)["certificate_path"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = json(&std::fs::read(&cert_path).unwrap());
    assert_eq!(cert["void"]["reason"], "wrong recipient");
    assert!(cert["void"]["voided_at"].is_string());
    assert_eq!(cert["without_receipt_reason"], "voided");
    assert!(cert["receipt"].is_null());
    assert!(!cert["roots"].to_string().contains("\"source\""));
    assert_certificate_verifies(std::path::Path::new(&cert_path), &env.public_key());
    let cert_id = cert["certificate_id"].as_str().unwrap();
    let shown = env.run(&["certificate", "show", cert_id]);
    assert_ok(&shown);
    let text = String::from_utf8_lossy(&shown.stdout).to_string()
        + &String::from_utf8_lossy(&shown.stderr);
    assert!(
        text.contains("Voided:") && text.contains("wrong recipient"),
        "{text}"
    );
    assert_ok(&env.run(&["audit", "verify"]));

    // The evidence report shows the void.
    let ev = env.path("evidence");
    assert_ok(&env.run(&["evidence", &id, "--out", ev.to_str().unwrap()]));
    let md = std::fs::read_to_string(ev.join("report.md")).unwrap();
    assert!(md.contains("Voided"), "{md}");
    assert!(md.contains("wrong recipient"), "{md}");
}

#[test]
fn a_certificate_without_a_void_has_no_void_field() {
    let (env, s, _data) = exported(&[]);
    let o = json_run(
        &env,
        &[
            "delete",
            "--yes",
            &s.handover_id,
            "--without-receipt",
            "--reason",
            "client gone",
        ],
    );
    assert_ok(&o);
    let cert =
        std::fs::read_to_string(json(&o.stdout)["certificate_path"].as_str().unwrap()).unwrap();
    assert!(!cert.contains("\"void\""), "{cert}");
    // Deleted: too late to void.
    let o = json_run(&env, &["void", &s.handover_id, "--reason", "x"]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "void_after_deletion");
}

/// After a void, a receipt is refused: the handover is recorded as never delivered, and a
/// receipt would let `delete` go on to the client's data directory.
#[test]
fn a_receipt_for_a_voided_handover_is_refused() {
    let (env, s, data) = exported(&[]);
    let code = receipt_code(&env, &s.archive_path, &env.path("client.agekey"));
    assert_ok(&env.run(&["void", NAME, "--reason", "wrong recipient"]));
    let o = json_run(&env, &["confirm", &s.handover_id, "--code", &code]);
    let err = assert_code(&o, 3);
    assert_eq!(kind(&o), "handover_voided");
    assert!(
        err.contains("was voided") && err.contains("wrong recipient"),
        "{err}"
    );
    let receipts = sql_query(
        &env.home().join("state.db"),
        "SELECT count(*) FROM receipts",
    );
    assert_eq!(receipts.trim(), "0");
    assert_untouched(&s, &data);
}

#[test]
fn void_is_refused_once_the_receipt_is_confirmed() {
    let (env, s, data) = exported(&[]);
    confirm_receipt(&env, &s.handover_id);
    let o = json_run(&env, &["void", NAME, "--reason", "oops"]);
    let err = assert_code(&o, 3);
    assert_eq!(kind(&o), "void_after_receipt");
    assert!(err.contains("receipt was confirmed"), "{err}");
    assert_eq!(voided_at(&env, &s.handover_id), "");
    assert_untouched(&s, &data);
}

#[test]
fn a_receipt_removed_by_hand_does_not_let_a_delivered_handover_be_voided() {
    let (env, s, data) = exported(&[]);
    confirm_receipt(&env, &s.handover_id);
    sql_exec(&env.home().join("state.db"), "DELETE FROM receipts");
    let o = json_run(&env, &["void", &s.handover_id, "--reason", "oops"]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "void_after_receipt");
    assert_eq!(voided_at(&env, &s.handover_id), "");
    assert_untouched(&s, &data);
}

#[test]
fn a_void_set_by_hand_is_refused_by_delete_and_by_audit_verify() {
    let (env, s, data) = exported(&[]);
    let db = env.home().join("state.db");
    sql_exec(
        &db,
        "UPDATE handovers SET voided_at = '2026-12-01T10:00:00Z', void_reason = 'sqlite3'",
    );
    for args in [
        vec!["delete", "--yes", s.handover_id.as_str()],
        vec!["delete", "--dry-run", s.handover_id.as_str()],
        vec!["audit", "verify"],
    ] {
        let o = json_run(&env, &args);
        let err = assert_code(&o, 3);
        assert_eq!(kind(&o), "audit_gate_mismatch", "{args:?}");
        assert!(err.contains("voided"), "{err}");
    }
    assert_untouched(&s, &data);
}

#[test]
fn a_void_reason_edited_or_cleared_by_hand_is_caught() {
    let (env, s, data) = exported(&[]);
    let db = env.home().join("state.db");
    assert_ok(&env.run(&["void", NAME, "--reason", "test export"]));
    sql_exec(&db, "UPDATE handovers SET void_reason = 'something else'");
    let o = json_run(&env, &["delete", "--yes", &s.handover_id]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "audit_gate_mismatch");
    assert_untouched(&s, &data);
    // Cleared: stricter for a deletion (it wants a receipt again), but audit verify sees it.
    sql_exec(
        &db,
        "UPDATE handovers SET voided_at = NULL, void_reason = NULL",
    );
    let o = json_run(&env, &["audit", "verify"]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "audit_gate_mismatch");
    let o = json_run(&env, &["delete", "--yes", &s.handover_id]);
    assert_code(&o, 3);
    assert_untouched(&s, &data);
}

#[test]
fn void_needs_a_reason() {
    let (env, s, _data) = exported(&[]);
    let o = json_run(&env, &["void", NAME, "--reason", "  "]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "reason_required");
    assert_eq!(voided_at(&env, &s.handover_id), "");
    assert_code(&env.run(&["void", NAME]), 2);
}

#[test]
fn a_voided_test_export_does_not_block_the_real_handover_that_shares_its_source() {
    let (env, test, data) = exported(&[]);
    assert_ok(&env.run(&["void", NAME, "--reason", "test export"]));
    let recipient = recipient_of(&env.path("client.agekey"));
    let real = env.export_with(&data, &["-r", &recipient, "--name", "acme-real"]);
    confirm_receipt(&env, &real.handover_id);
    // The client's name now means the real one: the test export is voided.
    let o = json_run(&env, &["delete", "--yes", "acme"]);
    assert_ok(&o);
    assert_eq!(json(&o.stdout)["handover_id"], real.handover_id.as_str());
    assert!(!data.exists());
    // The voided one's files are still there until it is deleted itself.
    assert!(test.archive_path.exists());
    assert_ok(&json_run(&env, &["delete", "--yes", &test.handover_id]));
    assert!(!test.archive_path.exists());
}

#[test]
fn a_void_set_by_hand_on_a_handover_sharing_the_source_does_not_clear_it() {
    let (env, test, data) = exported(&[]);
    let recipient = recipient_of(&env.path("client.agekey"));
    let real = env.export_with(&data, &["-r", &recipient, "--name", "acme-real"]);
    confirm_receipt(&env, &real.handover_id);
    sql_exec(
        &env.home().join("state.db"),
        &format!(
            "UPDATE handovers SET voided_at = '2026-12-01T10:00:00Z', void_reason = 'x' WHERE id = '{}'",
            test.handover_id
        ),
    );
    let o = json_run(&env, &["delete", "--yes", &real.handover_id]);
    assert_code(&o, 3);
    assert_eq!(kind(&o), "audit_gate_mismatch");
    assert!(data.exists());
}

/// Voiding a held handover says the hold stays and how to release it: delete waits for it.
#[test]
fn a_void_of_a_held_handover_says_the_hold_stays() {
    let (env, s, data) = exported(&[]);
    assert_ok(&env.run(&["hold", NAME, "--reason", "litigation, case 123"]));
    let o = env.run(&["void", NAME, "--reason", "wrong recipient"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_ok(&o);
    assert!(err.contains("It is held (litigation, case 123)"), "{err}");
    assert!(
        err.contains(&format!("handover release {}", s.handover_id)),
        "{err}"
    );
    assert_code(&env.run(&["delete", NAME, "--yes"]), 3);
    assert_untouched(&s, &data);
}
