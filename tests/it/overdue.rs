//! Overdue work and the whole offboarding checklist (issue 11), with the real binary and a
//! clock the test sets (`HANDOVER_FAKE_NOW`): each overdue category is listed with exit 4 and
//! disappears once resolved (exit 0); `attest` is audited and shown in `status`, `status
//! --json` and the evidence report; `run-due --quiet` still prints the overdue summary.

use std::path::PathBuf;
use std::process::Output;

use handover::{OverdueKind, OverdueReport, RunDueReport};

use crate::common::*;

/// Well after any export a test makes today: every receipt is long pending by then.
const LATER: &str = "2099-01-02T00:00:00Z";
/// The deletion date the tests schedule, a day before [`LATER`].
const DUE: &str = "2099-01-01";

/// A home with keys and one export of a copy of the sample client (`acme`), named `name`;
/// returns (env, handover id, data dir).
fn exported(name: &str) -> (Env, String, PathBuf) {
    let (env, recipient) = Env::with_keys();
    let id = export_another(&env, name, &recipient).0;
    let data = env.path(name);
    (env, id, data)
}

/// Exports another copy of the sample client as `name`; returns (id, data dir).
fn export_another(env: &Env, name: &str, recipient: &str) -> (String, PathBuf) {
    let data = env.path(name);
    copy_tree(&fixture("acme"), &data);
    let s = env.export_with(&data, &["-r", recipient, "--name", name]);
    (s.handover_id, data)
}

/// `status --overdue --json` at `now` (None: the clock); returns the exit code and the report.
fn overdue_at(env: &Env, now: Option<&str>) -> (i32, OverdueReport) {
    let o = match now {
        Some(t) => env.run_at(t, &["--json", "status", "--overdue"]),
        None => env.run(&["--json", "status", "--overdue"]),
    };
    let code = o.status.code().expect("exited");
    (code, parse(&o.stdout))
}

fn kinds(r: &OverdueReport) -> Vec<OverdueKind> {
    r.overdue.iter().map(|i| i.kind).collect()
}

/// Asserts `status --overdue` at `now` lists exactly `expected` (exit 4), or nothing (exit 0).
fn assert_overdue(env: &Env, now: Option<&str>, expected: &[OverdueKind]) -> OverdueReport {
    let (code, r) = overdue_at(env, now);
    assert_eq!(kinds(&r), expected, "{r:?}");
    assert_eq!(code, if expected.is_empty() { 0 } else { 4 }, "{r:?}");
    r
}

fn attest(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["attest"];
    all.extend_from_slice(args);
    env.run(&all)
}

#[test]
fn a_pending_receipt_is_overdue_after_14_days_until_confirmed() {
    let (env, id, _) = exported("acme-1");
    assert_overdue(&env, None, &[]);
    let text = env.run(&["status", "--overdue"]);
    assert!(assert_code(&text, 0).contains("nothing is overdue"));

    // 13 days on it is not overdue yet; 15 days on it is.
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let at = |days: i64| {
        (created + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    assert_overdue(&env, Some(&at(13)), &[]);
    let r = assert_overdue(&env, Some(&at(15)), &[OverdueKind::ReceiptPending]);
    let item = &r.overdue[0];
    assert_eq!(item.handover_id.as_deref(), Some(id.as_str()));
    assert_eq!(item.client, "acme");
    assert!(item.detail.contains("threshold 14 days"), "{item:?}");
    assert!(item.next_step.contains("handover confirm"), "{item:?}");

    // Text goes to stdout, one line per item and what to do next.
    let o = env.run_at(&at(15), &["status", "--overdue"]);
    assert_code(&o, 4);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!("overdue at {}: 1 item\n", at(15))),
        "{out}"
    );
    assert!(
        out.contains("receipt_pending") && out.contains(&id),
        "{out}"
    );
    assert!(out.contains("next: "), "{out}");

    // Confirmed: the receipt is no longer overdue, but access revocation now is, until
    // attested.
    confirm_receipt(&env, &id);
    assert_overdue(&env, Some(&at(15)), &[OverdueKind::AccessNotRevoked]);
    assert_ok(&attest(
        &env,
        &["acme", "access-revocation", "--note", "VPN off"],
    ));
    assert_overdue(&env, Some(&at(15)), &[]);
    assert_overdue(&env, Some(LATER), &[]);
}

#[test]
fn a_due_deletion_waiting_for_a_receipt_or_a_hold_is_overdue() {
    let (env, id, _) = exported("acme-1");
    assert_ok(&env.run(&["schedule", &id, "--at", DUE]));
    assert_overdue(
        &env,
        Some("2098-12-31T00:00:00Z"),
        &[OverdueKind::ReceiptPending],
    );
    let r = assert_overdue(
        &env,
        Some(LATER),
        &[OverdueKind::ReceiptPending, OverdueKind::DeletionWaiting],
    );
    assert!(
        r.overdue[1].detail.contains("receipt is not confirmed"),
        "{r:?}"
    );

    confirm_receipt(&env, &id);
    assert_ok(&attest(&env, &[&id[..8], "access-revoked"]));
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation hold\nsecond line"]));
    let r = assert_overdue(&env, Some(LATER), &[OverdueKind::DeletionWaiting]);
    assert_eq!(
        r.overdue[0].detail,
        format!("deletion due since {DUE}T00:00:00Z but on hold: litigation hold")
    );
    assert!(r.overdue[0].next_step.contains("handover release"));

    // run-due --quiet: the jobs wait (exit 4) and the summary is on stderr all the same.
    let o = env.run_at(LATER, &["--quiet", "run-due"]);
    let err = assert_code(&o, 4);
    assert!(
        err.contains("overdue at 2099-01-02T00:00:00Z: 1 item"),
        "{err}"
    );
    assert!(err.contains("deletion_waiting"), "{err}");
    // --json: a field of the report, and stdout stays one document.
    let o = env.run_at(LATER, &["--json", "--quiet", "run-due"]);
    let rep: RunDueReport = parse(&o.stdout);
    assert_eq!(rep.overdue.len(), 1);
    assert_eq!(rep.overdue[0].kind, OverdueKind::DeletionWaiting);

    // Released, the deletion is due and nothing waits on anyone: not overdue.
    assert_ok(&env.run(&["release", &id]));
    assert_overdue(&env, Some(LATER), &[]);
    let o = env.run_at(LATER, &["--quiet", "run-due"]);
    assert_ok(&o);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The keys a deletion certificate is signed with, moved away so a deletion fails before it
/// touches anything.
const SIGNING_FILES: [&str; 5] = [
    "handover.key",
    "cert.key",
    "cert.pub",
    "cert-delegation.json",
    "cert-delegation.json.minisig",
];

#[test]
fn a_failed_deletion_is_overdue_until_a_run_succeeds() {
    let (env, id, data) = exported("acme-1");
    confirm_receipt(&env, &id);
    assert_ok(&attest(&env, &["acme", "access-revocation"]));
    assert_ok(&env.run(&["schedule", &id, "--at", DUE]));
    let aside = env.path("aside");
    std::fs::create_dir(&aside).unwrap();
    for f in SIGNING_FILES {
        std::fs::rename(env.home().join(f), aside.join(f)).unwrap();
    }
    let o = env.run_at(LATER, &["--quiet", "run-due"]);
    let err = assert_code(&o, 1);
    assert!(
        err.contains("deletion_failed"),
        "the summary even with --quiet:\n{err}"
    );
    assert!(data.exists());
    let r = assert_overdue(&env, Some(LATER), &[OverdueKind::DeletionFailed]);
    assert!(!r.overdue[0].detail.contains('\n'));
    assert!(
        r.overdue[0]
            .detail
            .starts_with("the last deletion attempt failed: ")
    );

    for f in SIGNING_FILES {
        std::fs::rename(aside.join(f), env.home().join(f)).unwrap();
    }
    let o = env.run_at(LATER, &["--quiet", "run-due"]);
    assert_ok(&o);
    assert!(!data.exists());
    assert_overdue(&env, Some(LATER), &[]);
}

#[test]
fn an_interrupted_deletion_is_stuck_until_finished() {
    let (env, id, data) = exported("acme-1");
    confirm_receipt(&env, &id);
    assert_ok(&attest(&env, &["acme", "access-revocation"]));
    assert_ok(&env.run(&["schedule", &id, "--at", DUE]));
    let o = env
        .cmd()
        .env("HANDOVER_FAKE_NOW", LATER)
        .env("HANDOVER_FAILPOINTS", "shred.unlinked=kill@2")
        .args(["--quiet", "run-due"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "killed by a signal");
    let r = assert_overdue(&env, Some(LATER), &[OverdueKind::DeletionStuck]);
    assert!(r.overdue[0].detail.contains("was interrupted"), "{r:?}");
    assert!(
        r.overdue[0]
            .next_step
            .contains(&format!("handover delete {id}"))
    );

    assert_ok(&env.run_at(LATER, &["--quiet", "run-due"]));
    assert!(!data.exists());
    assert_overdue(&env, Some(LATER), &[]);
}

#[test]
fn attest_is_audited_and_shown_in_status_json_and_evidence() {
    let (env, id, _) = exported("acme-1");
    confirm_receipt(&env, &id);
    let o = env.run(&[
        "--json",
        "attest",
        "acme",
        "access-revoked",
        "--note",
        "VPN and SSO accounts disabled",
        "--operator",
        "Jo Admin",
    ]);
    assert_ok(&o);
    let s = json(&o.stdout);
    assert_eq!(s["step"], "access_revocation");
    assert_eq!(s["operator"], "Jo Admin");
    assert_eq!(s["handover_id"], id.as_str());
    assert_ok(&env.run(&[
        "attest",
        "acme-1",
        "final-billing",
        "--operator",
        "Jo Admin",
    ]));

    // Audited, with typed details, and the chain still verifies.
    let db = env.home().join("state.db");
    let rows = sql_query(
        &db,
        "SELECT details FROM audit_events WHERE command = 'attest' ORDER BY seq",
    );
    let first: serde_json::Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
    let at = first["attested_at"].as_str().expect("the time is audited");
    assert!(handover::parse_at(at).is_ok(), "{at}");
    assert_eq!(
        rows.lines().next().unwrap(),
        format!(
            r#"{{"attested_at":"{at}","note":"VPN and SSO accounts disabled","operator":"Jo Admin","step":"access_revocation"}}"#
        )
    );
    assert_eq!(rows.lines().count(), 2);
    assert_ok(&env.run(&["audit", "verify"]));

    // status --json: every step, typed.
    let st: Statuses = parse(&env.run(&["--json", "status", "acme"]).stdout);
    let steps: Vec<(&str, bool)> = st.handovers[0]
        .checklist
        .iter()
        .map(|s| (s.step.as_str(), s.done))
        .collect();
    assert_eq!(
        steps,
        [
            ("notification_and_end_date", false),
            ("data_exported", true),
            ("data_receipt_confirmed", true),
            ("knowledge_and_data_transfer", false),
            ("final_billing", true),
            ("access_revocation", true),
            ("data_deleted", false),
            ("feedback", false),
        ]
    );
    let revoked = &st.handovers[0].checklist[5];
    assert_eq!(revoked.by.as_deref(), Some("Jo Admin"));
    assert_eq!(revoked.detail, "VPN and SSO accounts disabled");
    assert_eq!(revoked.source, handover::StepSource::Attested);

    // status text: the attested steps under the recorded ones.
    let o = env.run(&["status", "acme"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("  [x] access revoked")
            && l.ends_with("by Jo Admin: VPN and SSO accounts disabled")),
        "{out}"
    );
    assert!(out.contains("  [ ] feedback            -  "), "{out}");

    // The evidence report.
    let ev = env.path("evidence");
    assert_ok(&env.run(&["evidence", &id, "--out", ev.to_str().unwrap()]));
    let md = std::fs::read_to_string(ev.join("report.md")).unwrap();
    for needle in [
        "- [x] **Access revoked**: attested ",
        "by Jo Admin: VPN and SSO accounts disabled",
        "- [ ] **Feedback collected**: not attested",
        "- [ ] **Notification and end date**: not attested",
        "| Attested by Jo Admin: access revoked (VPN and SSO accounts disabled) |",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}:\n{md}");
    }
}

#[test]
fn attest_names_a_handover_as_every_command_does() {
    let (env, recipient) = Env::with_keys();
    let (a, _) = export_another(&env, "acme-1", &recipient);
    let (b, _) = export_another(&env, "acme-2", &recipient);
    // As every command names a handover: ambiguity is exit 1, the candidates listed.
    let o = env.run(&["--json", "attest", "acme", "feedback"]);
    assert_code(&o, 1);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "handover_id_ambiguous");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&a) && msg.contains(&b) && msg.contains("acme-2"),
        "{msg}"
    );
    // The handover's name is not.
    assert_ok(&env.run(&["attest", "acme-2", "feedback"]));
    assert_code(&env.run(&["attest", "nobody", "feedback"]), 1);
    assert_code(&env.run(&["attest", "acme-2", "lunch"]), 2);
}

#[test]
fn the_evidence_report_says_who_how_to_check_no_hold_and_one_line_per_event() {
    let (env, id, _) = exported("acme-1");
    confirm_receipt(&env, &id);
    assert_ok(&env.run(&["schedule", &id, "--at", DUE]));
    // A failed run-due records a multi-line error in the audit log.
    let aside = env.path("aside");
    std::fs::create_dir(&aside).unwrap();
    for f in SIGNING_FILES {
        std::fs::rename(env.home().join(f), aside.join(f)).unwrap();
    }
    assert_code(&env.run_at(LATER, &["--quiet", "run-due"]), 1);
    for f in SIGNING_FILES {
        std::fs::rename(aside.join(f), env.home().join(f)).unwrap();
    }
    let o = env
        .cmd()
        .env("HANDOVER_FAKE_NOW", LATER)
        .args(["--quiet", "run-due"])
        .output()
        .unwrap();
    assert_ok(&o);

    let ev = env.path("evidence");
    assert_ok(&env.run_at(LATER, &["evidence", &id, "--out", ev.to_str().unwrap()]));
    let md = std::fs::read_to_string(ev.join("report.md")).unwrap();
    let html = std::fs::read_to_string(ev.join("report.html")).unwrap();
    let events = sql_query(
        &env.home().join("state.db"),
        &format!("SELECT count(*) FROM audit_events WHERE handover_id = '{id}'"),
    );
    let timeline = md
        .split("## Timeline (UTC)\n\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    assert_eq!(
        timeline.lines().count() - 2,
        events.trim().parse::<usize>().unwrap(),
        "one line per event:\n{timeline}"
    );
    // The failed attempt's error has two lines; its row joins them.
    assert!(
        timeline.contains("(os error 2) / Create one with `handover keygen`"),
        "{timeline}"
    );
    for r in [&md, &html] {
        for needle in [
            "How to check this pack",
            "sha256sum -c SHA256SUMS",
            "minisign -Vm manifest/acme-1.manifest.json -p provider.pub",
            "minisign -Vm deletion/acme-1.deletion-certificate.json",
            "Operator: ",
            "Organisation: ",
            "Scope of the deletion certificate",
            "no whole-media Clear, Purge or Destroy was performed. File names were replaced",
            "no hold: nothing holds back this deletion",
        ] {
            assert!(r.contains(needle), "lacks {needle:?}:\n{r}");
        }
    }
    assert!(md.contains("- **Hold**: no hold"), "{md}");
    assert!(!md.contains("[ ] **Hold**"), "{md}");
    assert!(
        html.contains("<li><strong>Hold</strong>: no hold"),
        "{html}"
    );
    // Every command the report gives names a file that is in the pack.
    let pack = listing(&ev);
    for l in md.lines().filter(|l| l.starts_with("minisign -Vm ")) {
        let file = l.split_whitespace().nth(2).unwrap();
        assert!(ev.join(file).is_file(), "{file} not in the pack: {pack:?}");
    }
    assert_sha256sums(&ev, "SHA256SUMS");
}

#[test]
fn help_teaches_attest_and_status_overdue() {
    let env = Env::new();
    let o = env.run(&["attest", "--help"]);
    assert_ok(&o);
    let h = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "handover attest acme access-revocation --note",
        "access-revocation",
        "final-billing",
        "Exit status:",
        "3  refused: the audit log does not verify",
        "1  operational error, or HANDOVER names no handover or several",
    ] {
        assert!(h.contains(needle), "{h}");
    }
    let o = env.run(&["status", "--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(
        h.contains("--overdue") && h.contains("4  with --overdue"),
        "{h}"
    );
}

#[test]
fn an_attestation_added_behind_the_tool_is_named_by_audit_verify() {
    let (env, id, _) = exported("acme-1");
    assert_ok(&attest(
        &env,
        &["acme", "feedback", "--operator", "Jo Admin"],
    ));
    assert_ok(&env.run(&["audit", "verify"]));
    sql_exec(
        &env.home().join("state.db"),
        &format!(
            "INSERT INTO attestations (handover_id, step, attested_at, operator)
             VALUES ('{id}', 'access_revocation', '2026-01-01T00:00:00Z', 'nobody')"
        ),
    );
    let o = env.run(&["--json", "audit", "verify"]);
    assert_code(&o, 3);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "audit_gate_mismatch");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "the attestations table holds 2 attestations, the audited events 1 attestation"
        ),
        "{msg}"
    );
}

/// What client profiles and `void` change in the overdue list: a profile's own receipt
/// threshold, a contract that ended with nothing exported, and a voided handover that is
/// never overdue.
#[test]
fn profiles_and_void_shape_what_is_overdue() {
    let (env, recipient) = Env::with_keys();
    // beta's contract ended; nothing exported for it yet.
    assert_ok(&env.run(&[
        "client",
        "add",
        "beta",
        "-r",
        &recipient,
        "--contract-end",
        "2026-01-31",
    ]));
    let r = assert_overdue(&env, None, &[OverdueKind::ContractEndedNoExport]);
    assert_eq!(r.overdue[0].client, "beta");
    assert!(
        r.overdue[0].next_step.contains("export --client beta"),
        "{r:?}"
    );

    // acme allows 3 days for its receipt: pending after 4 days, not after 2.
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "-r",
        &recipient,
        "--receipt-days",
        "3",
    ]));
    let id = export_another(&env, "acme-data", &recipient).0;
    let created = {
        let l: serde_json::Value =
            serde_json::from_slice(&env.run(&["--json", "list"]).stdout).unwrap();
        handover::parse_at(l["handovers"][0]["created_at"].as_str().unwrap()).unwrap()
    };
    let at = |days: i64| handover_time(created + time::Duration::days(days));
    assert_overdue(&env, Some(&at(2)), &[OverdueKind::ContractEndedNoExport]);
    assert_overdue(
        &env,
        Some(&at(4)),
        &[
            OverdueKind::ContractEndedNoExport,
            OverdueKind::ReceiptPending,
        ],
    );

    // Voided, the handover is never overdue; and a voided export does not count as beta's.
    assert_ok(&env.run(&["void", &id, "--reason", "test export"]));
    assert_overdue(&env, Some(&at(4)), &[OverdueKind::ContractEndedNoExport]);
}

fn handover_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Without --operator, the attestation names the client profile's operator.
#[test]
fn attest_takes_the_profiles_operator() {
    let (env, recipient) = Env::with_keys();
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "-r",
        &recipient,
        "--operator",
        "J. Doe",
    ]));
    export_another(&env, "acme-1", &recipient);
    let o = env
        .cmd()
        .env_remove("HANDOVER_OPERATOR")
        .args(["--json", "attest", "acme", "feedback"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(json(&o.stdout)["operator"], "J. Doe");
}

/// When access ended is what an auditor asks: an attestation's time moved with sqlite3 (to
/// before the export, say) is caught, as its step, operator and note are.
#[test]
fn an_attestation_time_moved_behind_the_tool_is_caught() {
    let (env, _id, _) = exported("acme-1");
    assert_ok(&attest(
        &env,
        &["acme", "access-revocation", "--note", "VPN off"],
    ));
    sql_exec(
        &env.home().join("state.db"),
        "UPDATE attestations SET attested_at = '2026-10-01T09:00:00Z'",
    );
    let o = env.run(&["--json", "audit", "verify"]);
    assert_code(&o, 3);
    let msg = json(&o.stdout)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("different steps, operators, notes or times"),
        "{msg}"
    );
}

/// Next steps name the real handover, never a placeholder: the checklist's attest hint and
/// the hold refusal's release command.
#[test]
fn next_steps_name_the_handover() {
    let (env, id, _) = exported("acme-1");
    let o = env.run(&["status"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("handover attest acme-1 final-billing"),
        "{out}"
    );
    assert!(!out.contains("CLIENT"), "{out}");
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation"]));
    let o = env.run(&["delete", &id, "--yes", "--without-receipt", "--reason", "x"]);
    let err = assert_code(&o, 3);
    assert!(err.contains(&format!("`handover release {id}`")), "{err}");
}
