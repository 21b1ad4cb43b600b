//! A whole offboarding with the real binary, as issue 5 describes it: export, verify with the
//! client's key, confirm, schedule, run-due before and after the date, status, audit verify,
//! evidence; then tampering with the database. And two run-due processes at once.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use handover::AuditReport;
use handover::EvidenceSummary;
use handover::RunDueReport;
use handover::{ExportSummary, VerifyReport};

use crate::common::*;

/// A copy of the sample client directory (deletion destroys it, so never the fixture itself).
fn client_copy(env: &Env, name: &str) -> PathBuf {
    let dst = env.path(name);
    copy_tree(&fixture("acme"), &dst);
    dst
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

/// Exports `data` as client `acme` under `name`; returns the export summary.
fn export(env: &Env, data: &Path, name: &str, recipient: &str) -> ExportSummary {
    env.export_with(data, &["-r", recipient, "--name", name])
}

/// The client verifies with its own key and the provider's public key; returns the report.
fn client_verifies(env: &Env, archive: &Path, receipt: Option<&Path>) -> VerifyReport {
    let mut c = env.cmd();
    c.args(["--json", "verify"])
        .arg(archive)
        .arg("-i")
        .arg(env.path("client.agekey"))
        .arg("--signer")
        .arg(env.home().join("handover.pub"));
    if let Some(r) = receipt {
        c.arg("--receipt").arg(r);
    }
    let o = c.output().unwrap();
    assert_ok(&o);
    let v: VerifyReport = parse(&o.stdout);
    assert!(v.ok, "{:?}", v.problems);
    v
}

#[test]
fn a_whole_offboarding() {
    let (env, recipient) = Env::with_keys();
    let data = client_copy(&env, "acme-data");
    let e = export(&env, &data, "acme-final", &recipient);
    let id = e.handover_id.clone();

    // The client checks what it got and writes a receipt; the provider confirms it.
    let receipt = env.path("receipt.json");
    let v = client_verifies(&env, &e.archive_path, Some(&receipt));
    assert_eq!(v.handover_id, id.as_str());
    assert_ok(&env.run(&["confirm", receipt.to_str().unwrap()]));

    let cert_id = deleted_when_due(&env, &id, &data, &e);
    checklist_and_audit_log_tell_the_story(&env, &cert_id);
    evidence_pack_opens_with_standard_tools(&env, &id, &receipt, &cert_id);
    an_edited_database_is_named(&env);
}

/// Deletion scheduled for a date: run-due before it does nothing, after it deletes the
/// source and the outputs without prompting and certifies; a second run finds nothing due.
/// Returns the certificate id.
fn deleted_when_due(env: &Env, id: &str, data: &Path, e: &ExportSummary) -> String {
    // Deletion 30 days after "now"; run-due before the date does nothing.
    assert_ok(&env.run(&["schedule", id, "--at", "2099-01-31"]));
    let before = env.run_at("2099-01-30T23:59:59Z", &["--json", "run-due"]);
    assert_ok(&before);
    assert_eq!(parse::<RunDueReport>(&before.stdout).deleted, 0);
    assert!(data.join("README.txt").is_file(), "nothing may run early");
    assert!(e.archive_path.is_file());

    // After the date it runs, without prompting, and certifies.
    let after = env
        .cmd()
        .args(["--json", "run-due"])
        .env("HANDOVER_FAKE_NOW", "2099-02-01T00:00:00Z")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&after);
    let r: RunDueReport = parse(&after.stdout);
    assert_eq!(r.deleted, 1, "{r:?}");
    let cert_id = r.jobs[0].certificate_id.clone().unwrap();
    assert!(!data.exists(), "the source data is gone");
    for (k, p) in export_outputs(e) {
        assert!(!p.exists(), "{k} is gone");
    }
    let cert = env.path("out/acme-final.deletion-certificate.json");
    assert!(cert.is_file(), "certificate beside the archive");
    assert_certificate_verifies(&cert, &env.home().join("handover.pub"));
    // A second run finds nothing due.
    let again = env.run_at("2099-02-02T00:00:00Z", &["--json", "run-due"]);
    assert_ok(&again);
    assert_eq!(parse::<RunDueReport>(&again.stdout).jobs.len(), 0);
    cert_id
}

/// The checklist shows every step, and the audit log holds the story, intact.
fn checklist_and_audit_log_tell_the_story(env: &Env, cert_id: &str) {
    let s: Statuses = parse(&env.run(&["--json", "status", "acme"]).stdout);
    let h = &s.handovers[0];
    for (step, s) in [
        ("exported", &h.exported),
        ("receipt_confirmed", &h.receipt_confirmed),
        ("deletion_scheduled", &h.deletion_scheduled),
        ("deleted", &h.deleted),
    ] {
        assert!(s.done, "{step}: {h:?}");
    }
    assert!(!h.hold.done);
    assert!(h.deleted.detail.contains(cert_id));

    // The audit log holds the story, intact.
    let a = env.run(&["--json", "audit", "verify"]);
    assert_ok(&a);
    let events = parse::<AuditReport>(&a.stdout).events;
    // keygen, export, confirm, schedule, delete (the engine's certificate), run-due
    assert_eq!(events, 6);
}

/// The evidence pack opens with standard tools.
fn evidence_pack_opens_with_standard_tools(env: &Env, id: &str, receipt: &Path, cert_id: &str) {
    let ev = env.path("evidence");
    let o = env
        .cmd()
        .args(["--json", "evidence", &id[..8], "--out"])
        .arg(&ev)
        .arg("--receipt")
        .arg(receipt)
        .output()
        .unwrap();
    assert_ok(&o);
    let pack: EvidenceSummary = parse(&o.stdout);
    assert!(pack.deletion_certificate);
    assert!(pack.receipt);
    assert!(pack.audit_log_intact);
    assert_sha256sums(&ev, "SHA256SUMS");
    assert_minisign_verifies(
        &ev.join("manifest/acme-final.manifest.json"),
        &ev.join("manifest/acme-final.manifest.json.minisig"),
        &ev.join("provider.pub"),
    );
    assert_certificate_verifies(
        &ev.join("deletion/acme-final.deletion-certificate.json"),
        &ev.join("provider.pub"),
    );
    assert!(ev.join("receipt/receipt.json").is_file());
    assert!(ev.join("receipt/confirmation.json").is_file());
    let report = std::fs::read_to_string(ev.join("report.md")).unwrap();
    for needle in [
        "[x] **Exported**",
        "[x] **Receipt confirmed**",
        "[x] **Deleted**",
        cert_id,
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }
    // Counts read as words: no "file(s)", and one of a thing is singular.
    assert!(!report.contains("(s)"), "{report}");
    assert!(report.contains("Exported 12 files ("), "{report}");
    let html = std::fs::read_to_string(ev.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("Timeline"));
    let lines = std::fs::read_to_string(ev.join("audit/events.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count(),
        5,
        "the handover's own events (not keygen)"
    );
}

/// Someone edits the database behind the tool's back: the log names the row.
fn an_edited_database_is_named(env: &Env) {
    let db = env.home().join("state.db");
    sql_exec(
        &db,
        "UPDATE audit_events SET details = replace(details, 'deleted', 'kept') WHERE command = 'delete'",
    );
    let bad = env.run(&["--json", "audit", "verify"]);
    let err = assert_code(&bad, 3);
    assert!(err.contains("row 5") && err.contains("edited"), "{err}");
    assert_eq!(json_of(&bad)["error"]["kind"], "audit_chain_broken");
}

#[test]
fn two_run_due_at_once_delete_each_job_exactly_once() {
    let (env, recipient) = Env::with_keys();
    let mut sources = Vec::new();
    for i in 0..3 {
        let data = client_copy(&env, &format!("client-{i}"));
        let e = export(&env, &data, &format!("job-{i}"), &recipient);
        let id = e.handover_id;
        let v = client_verifies(&env, &e.archive_path, None);
        let code = v.receipt_code.unwrap();
        assert_ok(&env.run(&["confirm", &id, "--code", &code]));
        assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-01"]));
        sources.push(data);
    }
    let start = |_| {
        env.cmd()
            .args(["--json", "run-due"])
            .env("HANDOVER_FAKE_NOW", "2099-01-02T00:00:00Z")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<std::process::Child> = (0..2).map(start).collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut deleted = 0;
    for o in &outs {
        assert_ok(o);
        deleted += parse::<RunDueReport>(&o.stdout).deleted;
    }
    assert_eq!(
        deleted, 3,
        "each job deleted by exactly one of the two runs"
    );
    for s in &sources {
        assert!(!s.exists());
    }
    // One certificate per handover, each listing every file of its source once.
    let db = env.home().join("state.db");
    let counts = sql_query(
        &db,
        "SELECT count(*) FROM certificates GROUP BY handover_id",
    );
    assert_eq!(counts.trim(), "1\n1\n1");
    let jobs: Jobs = parse(&env.run(&["--json", "jobs"]).stdout);
    for j in &jobs.jobs {
        assert_eq!(j.status.as_str(), "done", "{j:?}");
    }
    assert_ok(&env.run(&["audit", "verify"]));
}

/// An exported, received handover of a fresh copy of the fixture, scheduled in the past so
/// that it is due; returns (env, handover id, export summary).
fn due_handover() -> (Env, String, ExportSummary) {
    let (env, recipient) = Env::with_keys();
    let data = client_copy(&env, "acme-data");
    let e = export(&env, &data, "due", &recipient);
    let id = e.handover_id.clone();
    let v = client_verifies(&env, &e.archive_path, None);
    assert_ok(&env.run(&["confirm", &id, "--code", &v.receipt_code.unwrap()]));
    assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-01"]));
    (env, id, e)
}

#[test]
fn a_job_whose_files_are_already_gone_is_closed_not_retried() {
    let (env, id, e) = due_handover();
    std::fs::remove_dir_all(env.path("acme-data")).unwrap();
    for (_, p) in export_outputs(&e) {
        std::fs::remove_file(p).unwrap();
    }
    let r = env.run_at("2099-01-02T00:00:00Z", &["--json", "run-due"]);
    assert_ok(&r);
    let v: RunDueReport = parse(&r.stdout);
    assert_eq!(v.jobs[0].result.as_str(), "gone", "{v:?}");
    assert_eq!(v.failed, 0);
    let j: Jobs = parse(&env.run(&["--json", "jobs"]).stdout);
    assert_eq!(j.jobs[0].handover_id, id);
    assert_eq!(j.jobs[0].status.as_str(), "gone");
    // The next run has nothing to do: no error loop.
    let again = env.run_at("2099-01-03T00:00:00Z", &["--json", "run-due"]);
    assert_ok(&again);
    assert!(parse::<RunDueReport>(&again.stdout).jobs.is_empty());
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn a_hold_committed_while_run_due_waits_for_the_lock_wins() {
    let (env, id, _) = due_handover();
    let db = env.home().join("state.db");
    // Another process places the hold inside a write transaction and keeps it open for a
    // moment; run-due starts meanwhile and must wait for the lock. (A thread with its own
    // connection stands for that process: SQLite's locks are per connection and on the file.)
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        c.execute(
            "UPDATE schedules SET hold_reason='litigation hold', held_at='2099-01-01T00:00:00Z' WHERE handover_id=?1",
            [&id],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        c.execute_batch("COMMIT").unwrap();
    });
    locked.recv().unwrap();
    let r = env.run_at("2099-01-02T00:00:00Z", &["--json", "run-due"]);
    holder.join().expect("the holder committed");
    assert_code(&r, 4);
    let v: RunDueReport = parse(&r.stdout);
    assert_eq!(v.jobs[0].result.as_str(), "held", "{v:?}");
    assert_eq!(v.deleted, 0);
    assert!(
        env.path("acme-data/README.txt").is_file(),
        "a held job must not run"
    );
}
