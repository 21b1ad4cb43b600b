//! The deletion schedule as a user drives it: dates, holds, jobs, run-due's exit codes, the
//! clock check, timers, status, and a broken or locked database.
use handover::AuditReport;
use handover::{JobView, RunDueReport};

use crate::common::*;

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

/// `jobs --json` (at `now`, when given), read into the library's types.
fn jobs(env: &Env, now: Option<&str>) -> Vec<JobView> {
    let o = match now {
        Some(t) => env.run_at(t, &["--json", "jobs"]),
        None => env.run(&["--json", "jobs"]),
    };
    parse::<Jobs>(&o.stdout).jobs
}

#[test]
fn delete_after_schedules_relative_to_the_export() {
    let (env, id) = fixture_exported(&["--delete-after", "30d"]);
    let j = jobs(&env, None);
    assert_eq!(j[0].handover_id, id);
    assert_eq!(j[0].status.as_str(), "not_due");
    let due = j[0].due_at.as_deref().unwrap();
    let l = json(&env.run(&["--json", "list"]));
    let created = l["handovers"][0]["created_at"].as_str().unwrap();
    let (d, c) = (
        handover::parse_at(due).unwrap(),
        handover::parse_at(created).unwrap(),
    );
    assert_eq!(d - c, time::Duration::days(30));
}

#[test]
fn a_date_in_the_past_is_refused_unless_allowed() {
    let (env, id) = fixture_exported(&[]);
    let err = assert_code(&env.run(&["schedule", &id, "--at", "2020-01-31"]), 3);
    assert!(err.contains("in the past"), "{err}");
    assert!(jobs(&env, None).is_empty());
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-31", "--allow-past"]));
    let j = jobs(&env, None);
    assert_eq!(j[0].due_at.as_deref(), Some("2020-01-31T00:00:00Z"));
}

#[test]
fn bad_dates_and_missing_when_are_usage_errors() {
    let (env, id) = fixture_exported(&[]);
    assert_code(&env.run(&["schedule", &id, "--at", "31/01/2027"]), 2);
    assert_code(&env.run(&["schedule", &id, "--after", "30x"]), 2);
    assert_code(&env.run(&["schedule", &id]), 2);
    let err = assert_code(&env.run(&["schedule", "ffff0000", "--after", "1d"]), 1);
    assert!(err.contains("no handover matches"), "{err}");
}

#[test]
fn run_due_waits_for_holds_and_receipts_with_exit_4() {
    let (env, id) = fixture_exported(&[]);
    assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-01"]));
    // Not due yet: nothing to do, exit 0.
    let r = env.run_at("2098-12-31T23:00:00Z", &["--json", "run-due"]);
    assert_ok(&r);
    assert_eq!(parse::<RunDueReport>(&r.stdout).jobs.len(), 0);
    // Due, but held.
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation hold, case 123"]));
    let r = env.run_at("2099-01-02T00:00:00Z", &["--json", "run-due"]);
    assert_code(&r, 4);
    let v: RunDueReport = parse(&r.stdout);
    assert_eq!(v.jobs[0].result.as_str(), "held");
    assert!(v.jobs[0].detail.contains("case 123"));
    let j = jobs(&env, Some("2099-01-02T00:00:00Z"));
    assert_eq!(j[0].status.as_str(), "held");
    // Released, but no receipt yet.
    assert_ok(&env.run(&["release", &id]));
    let r = env.run_at("2099-01-02T00:00:00Z", &["--json", "run-due"]);
    assert_code(&r, 4);
    assert_eq!(
        parse::<RunDueReport>(&r.stdout).jobs[0].result.as_str(),
        "no_receipt"
    );
    // The source data is untouched throughout.
    assert!(std::path::Path::new(&fixture("acme/README.txt")).is_file());
}

#[test]
fn clock_behind_the_last_event_refuses_to_run() {
    let (env, id) = fixture_exported(&[]);
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-01", "--allow-past"]));
    let err = assert_code(&env.run_at("2001-01-01T00:00:00Z", &["run-due"]), 3);
    assert!(err.contains("clock is behind"), "{err}");
}

#[test]
fn status_shows_the_checklist() {
    let (env, id) = fixture_exported(&["--delete-after", "2w"]);
    assert_ok(&env.run(&["hold", &id[..8], "--reason", "regulator asked"]));
    let s: Statuses = parse(&env.run(&["--json", "status", "acme"]).stdout);
    let h = &s.handovers[0];
    assert_eq!(h.handover_id, id);
    assert!(h.exported.done);
    assert!(!h.receipt_confirmed.done);
    assert!(h.deletion_scheduled.done);
    assert!(h.hold.done);
    assert!(h.hold.detail.contains("regulator asked"));
    assert!(!h.deleted.done);
    let text = env.run(&["status"]);
    assert_ok(&text);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("[x] exported") && out.contains("[ ] receipt confirmed"),
        "{out}"
    );
    let other: Statuses = parse(&env.run(&["--json", "status", "other-client"]).stdout);
    assert!(other.handovers.is_empty());
}

#[test]
fn timer_prints_units_and_cron_lines() {
    let env = Env::new();
    let o = env.run(&["timer", "--systemd"]);
    assert_ok(&o);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("[Timer]") && t.contains("run-due") && t.contains("SuccessExitStatus=4"),
        "{t}"
    );
    let o = env.run(&["timer", "--cron"]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("run-due"));
    assert_code(&env.run(&["timer"]), 2);
}

#[test]
fn schedule_changes_are_audited() {
    let (env, id) = fixture_exported(&[]);
    assert_ok(&env.run(&["schedule", &id, "--after", "3d"]));
    assert_ok(&env.run(&["hold", &id, "--reason", "x"]));
    assert_ok(&env.run(&["release", &id]));
    let a: AuditReport = parse(&env.run(&["--json", "audit", "verify"]).stdout);
    assert_eq!(a.events, 5); // keygen, export, schedule, hold, release
}

#[test]
fn a_corrupt_database_is_a_clear_error() {
    let (env, id) = fixture_exported(&[]);
    std::fs::write(
        env.home().join("state.db"),
        b"this is not a database, just text padding it out to look like a file with a header",
    )
    .unwrap();
    let err = assert_code(&env.run(&["run-due"]), 1);
    assert!(err.contains("corrupt"), "{err}");
    assert_code(&env.run(&["schedule", &id, "--after", "1d"]), 1);
}

/// A state column edited by hand (an unknown word, or NULL where the schema says NOT NULL)
/// stops every command that reads it with one clear error, and nothing runs or is deleted.
#[test]
fn a_state_edited_by_hand_is_refused_as_such() {
    let env = Env::keyed();
    let recipients = fixture("keys/client.recipients");
    let s = env.export_with(&fixture("acme"), &["-R", recipients.to_str().unwrap()]);
    let (id, archive) = (s.handover_id, s.archive_path);
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-31", "--allow-past"]));
    let db = env.home().join("state.db");
    for (edit, shown) in [
        (
            // The schema's CHECK lists the states: someone turned it off first.
            "PRAGMA ignore_check_constraints = ON; UPDATE schedules SET state = 'erased'"
                .to_string(),
            r#"schedules.state holds "erased""#,
        ),
        (
            // The schema forbids NULL: someone rewrote it first.
            "PRAGMA writable_schema = ON; \
             UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') WHERE name = 'schedules'; \
             PRAGMA writable_schema = OFF;"
                .to_string(),
            "",
        ),
        (
            "UPDATE schedules SET state = NULL".to_string(),
            "schedules.state is NULL",
        ),
    ] {
        sql_exec(&db, &edit);
        if shown.is_empty() {
            continue;
        }
        for args in [
            &["--json", "jobs"][..],
            &["--json", "run-due"],
            &["--json", "status"],
        ] {
            let o = env.run(args);
            let err = assert_code(&o, 1);
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(doc["error"]["kind"], "database_corrupt", "{args:?}: {doc}");
            let message = doc["error"]["message"].as_str().unwrap();
            assert!(message.contains(shown), "{args:?}: {message}");
            assert!(message.contains("edited outside handover"), "{message}");
            assert!(!message.contains("Conversion error"), "{message}");
            assert!(err.contains(shown), "{err}");
        }
        assert!(
            archive.exists(),
            "nothing may be deleted on an edited state"
        );
    }
}

#[test]
fn a_locked_database_is_a_clear_error() {
    let (env, id) = fixture_exported(&[]);
    let db = env.home().join("state.db");
    // Another connection (a thread standing for another process) holds the write lock for
    // longer than the busy timeout: until the command has given up.
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        done.recv().ok();
        c.execute_batch("ROLLBACK").unwrap();
    });
    locked.recv().unwrap();
    let err = assert_code(&env.run(&["schedule", &id, "--after", "1d"]), 1);
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(err.contains("locked"), "{err}");
}

/// `run-due --dry-run` counts what would run, and says nothing was deleted.
#[test]
fn run_due_dry_run_counts_what_would_run() {
    let (env, recipient) = Env::with_keys();
    let id = env
        .export_with(&fixture("acme"), &["-r", &recipient])
        .handover_id;
    confirm_receipt(&env, &id);
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-31", "--allow-past"]));
    let o = env.run(&["run-due", "--dry-run"]);
    let err = assert_code(&o, 0);
    assert!(
        err.contains("(dry run, nothing deleted): 1 would run, 0 waiting, 0 failed"),
        "{err}"
    );
    let j = jobs(&env, None);
    assert_eq!(j[0].status.as_str(), "due", "still due after the dry run");
}
