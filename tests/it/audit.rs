//! The audit log names the first row that was edited, deleted or reordered, when the state
//! database is changed behind the tool's back (with SQL run in-process, so no test skips).
use handover::AuditReport;
use handover::ShredSummary;

use crate::common::*;

/// A home with a key and three exports: four audit rows (keygen, export ×3).
fn home_with_events() -> Env {
    let env = Env::keyed();
    for i in 1..=3 {
        let o = env
            .cmd()
            .arg("export")
            .arg(fixture("acme"))
            .args(["--client", "acme", "-R"])
            .arg(fixture("keys/client.recipients"))
            .arg("--out")
            .arg(env.path("out"))
            .args(["--name", &format!("n{i}")])
            .output()
            .unwrap();
        assert_ok(&o);
    }
    env
}

fn sql(env: &Env, statement: &str) {
    sql_exec(&env.home().join("state.db"), statement);
}

fn verify_fails_at(env: &Env, row: i64) -> String {
    let o = env.run(&["audit", "verify"]);
    let err = assert_code(&o, 3);
    assert!(
        err.contains(&format!("tampered with at row {row}")),
        "expected row {row} to be named:\n{err}"
    );
    err
}

#[test]
fn intact_log_verifies() {
    let env = home_with_events();
    let o = env.run(&["--json", "audit", "verify"]);
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["events"], 4);
    assert_eq!(r["head_seq"], 4);
}

#[test]
fn edited_row_is_named() {
    let env = home_with_events();
    sql(
        &env,
        "UPDATE audit_events SET at = '2020-01-01T00:00:00Z' WHERE seq = 3",
    );
    let err = verify_fails_at(&env, 3);
    assert!(err.contains("edited"), "{err}");
}

#[test]
fn deleted_row_is_named() {
    let env = home_with_events();
    sql(&env, "DELETE FROM audit_events WHERE seq = 2");
    let err = verify_fails_at(&env, 2);
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn reordered_rows_are_named() {
    let env = home_with_events();
    // Swap the contents of rows 2 and 3, hashes included.
    sql(
        &env,
        "UPDATE audit_events SET seq = -1 WHERE seq = 2; \
         UPDATE audit_events SET seq = 2 WHERE seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE seq = -1;",
    );
    verify_fails_at(&env, 2);
}

#[test]
fn removed_last_row_is_caught_by_the_signed_head() {
    let env = home_with_events();
    sql(&env, "DELETE FROM audit_events WHERE seq = 4");
    let err = verify_fails_at(&env, 4);
    assert!(err.contains("signed head"), "{err}");
}

#[test]
fn re_pointing_the_head_at_an_earlier_row_is_caught_by_the_kept_heads() {
    let env = home_with_events();
    // Someone without audit.key drops the last row and re-points the latest head at row 3:
    // every signed head is kept, and the one of row 4 still names a row that is gone.
    sql(
        &env,
        "DELETE FROM audit_events WHERE seq = 4; \
               UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)",
    );
    let err = verify_fails_at(&env, 4);
    assert!(err.contains("signed head"), "{err}");
}

// ---- Issue 9: a log the provider's own tools cannot quietly rewrite --------------------
// These edit the database in-process with rusqlite (a dependency of the crate), as an
// attacker with write access to state.db would, so they never need the sqlite3 tool.

/// `--json delete --yes ID --without-receipt --reason test`: the deletion that needs no
/// receipt, so that only the audit gates can refuse it.
fn delete_anyway(env: &Env, id: &str) -> std::process::Output {
    env.run(&[
        "--json",
        "delete",
        "--yes",
        id,
        "--without-receipt",
        "--reason",
        "test",
    ])
}

fn db(env: &Env) -> rusqlite::Connection {
    rusqlite::Connection::open(env.home().join("state.db")).unwrap()
}

/// The row hash exactly as handover computes it (SHA-256 of the JSON array of the fields).
fn row_hash(seq: i64, at: &str, cmd: &str, hid: Option<&str>, details: &str, prev: &str) -> String {
    let canon = serde_json::json!([seq, at, cmd, hid, details, prev]).to_string();
    sha256_hex(canon.as_bytes())
}

/// Deletes every audit row of `command` and re-chains the rest with correct hashes, as
/// someone who read the source would: only the signed heads can tell.
fn delete_and_rechain(env: &Env, command: &str) {
    let c = db(env);
    c.execute("DELETE FROM audit_events WHERE command = ?1", [command])
        .unwrap();
    let rows: Vec<(i64, String, String, Option<String>, String)> = c
        .prepare("SELECT seq, at, command, handover_id, details FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    c.execute("DELETE FROM audit_events", []).unwrap();
    let mut prev = "0".repeat(64);
    for (i, (_, at, cmd, hid, details)) in rows.iter().enumerate() {
        let seq = i as i64 + 1;
        let h = row_hash(seq, at, cmd, hid.as_deref(), details, &prev);
        c.execute(
            "INSERT INTO audit_events (seq, at, command, handover_id, details, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![seq, at, cmd, hid, details, prev, h],
        )
        .unwrap();
        prev = h;
    }
}

/// A home with the test keys and one export of the fixture named `n1`; returns the env and the
/// handover id.
fn exported() -> (Env, String) {
    fixture_exported(&["--name", "n1"])
}

/// The receipt code of handover `n1`, as the client's `verify` prints it.
fn n1_code(env: &Env) -> String {
    receipt_code(
        env,
        &env.path("out/n1.tar.zst.age"),
        &fixture("keys/client.agekey"),
    )
}

#[test]
fn a_rechained_log_is_refused_before_anything_is_signed_over_it() {
    let (env, id) = exported();
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation hold, case 123"]));
    assert_ok(&env.run(&["schedule", &id, "--after", "30d"]));
    // The attacker removes the hold event, re-chains, and clears the hold in the table.
    delete_and_rechain(&env, "hold");
    db(&env)
        .execute(
            "UPDATE schedules SET hold_reason = NULL, held_at = NULL",
            [],
        )
        .unwrap();
    // The next ordinary command refuses to sign the forged head.
    let code = n1_code(&env);
    let err = assert_code(&env.run(&["confirm", &id, "--code", &code]), 3);
    assert!(err.contains("tampered with at row"), "{err}");
    assert!(err.contains("rewritten"), "{err}");
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("rewritten"), "{err}");
    // And nothing was deleted.
    let err = assert_code(&delete_anyway(&env, &id), 3);
    assert!(err.contains("tampered"), "{err}");
    assert!(env.path("out/n1.tar.zst.age").exists());
}

#[test]
fn a_receipt_row_inserted_with_sql_does_not_open_the_way_to_deletion() {
    let (env, id) = exported();
    db(&env)
        .execute(
            "INSERT INTO receipts (handover_id, confirmed_at, method) VALUES (?1, '2026-12-01T00:00:00Z', 'code')",
            [&id],
        )
        .unwrap();
    let o = env.run(&["--json", "delete", "--yes", &id]);
    let err = assert_code(&o, 3);
    assert!(err.contains("no audited confirm event"), "{err}");
    assert_eq!(json(&o.stdout)["error"]["kind"], "audit_gate_mismatch");
    assert!(env.path("out/n1.tar.zst.age").exists(), "nothing deleted");
    assert!(fixture("acme").exists());
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("no audited confirm event"), "{err}");
}

#[test]
fn a_hold_cleared_in_the_table_alone_still_holds() {
    let (env, id) = exported();
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation"]));
    db(&env)
        .execute(
            "UPDATE schedules SET hold_reason = NULL, held_at = NULL",
            [],
        )
        .unwrap();
    let err = assert_code(&delete_anyway(&env, &id), 3);
    assert!(err.contains("hold"), "{err}");
    assert!(env.path("out/n1.tar.zst.age").exists());
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("removed outside handover"), "{err}");
}

#[test]
fn missing_signed_heads_are_an_error_and_block_appends() {
    let (env, id) = exported();
    db(&env)
        .execute_batch("DELETE FROM audit_heads; DELETE FROM audit_head;")
        .unwrap();
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(
        err.contains("signed heads of the chain are missing"),
        "{err}"
    );
    let err = assert_code(&env.run(&["hold", &id, "--reason", "x"]), 3);
    assert!(
        err.contains("signed heads of the chain are missing"),
        "{err}"
    );
}

#[test]
fn a_restored_head_over_a_longer_chain_is_caught() {
    let (env, id) = exported();
    let c = db(&env);
    let (seq, hash, sig): (i64, String, String) = c
        .query_row(
            "SELECT seq, hash, signature FROM audit_heads ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    drop(c);
    assert_ok(&env.run(&["hold", &id, "--reason", "x"]));
    // Remove the newest head and put the old one back as the latest.
    let c = db(&env);
    c.execute("DELETE FROM audit_heads WHERE seq > ?1", [seq])
        .unwrap();
    c.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2, signature = ?3",
        rusqlite::params![seq, hash, sig],
    )
    .unwrap();
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("carry no signed head"), "{err}");
}

#[test]
fn a_rollback_to_an_older_database_is_caught_by_the_documents_that_left_it() {
    let (env, _) = exported();
    let backup = env.path("state.db.bak");
    std::fs::copy(env.home().join("state.db"), &backup).unwrap();
    // A second handover, confirmed with a receipt: its manifest and the client's receipt
    // carry the checkpoint of their moment.
    let s = env.export_with(
        &fixture("acme"),
        &[
            "-R",
            fixture("keys/client.recipients").to_str().unwrap(),
            "--name",
            "n2",
        ],
    );
    let id2 = s.handover_id;
    let receipt = env.path("receipt.json");
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(env.path("out/n2.tar.zst.age"))
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .arg("--receipt")
        .arg(&receipt)
        .output()
        .unwrap();
    assert_ok(&o);
    assert_ok(&env.run(&["confirm", receipt.to_str().unwrap()]));
    assert_ok(&env.run(&["hold", &id2, "--reason", "after the receipt"]));
    let pack = env.path("evidence");
    assert_ok(&env.run(&["evidence", &id2, "--out", pack.to_str().unwrap()]));
    let manifest = env.path("out/n2.manifest.json");
    let m = json(&std::fs::read(&manifest).unwrap());
    assert!(m["audit_checkpoint"]["seq"].as_i64().unwrap() >= 2, "{m}");
    let r = json(&std::fs::read(&receipt).unwrap());
    assert_eq!(r["audit_checkpoint"], m["audit_checkpoint"]);

    // Intact, and consistent with every anchor.
    let o = env.run(&[
        "--json",
        "audit",
        "verify",
        "--against",
        manifest.to_str().unwrap(),
        "--against",
        receipt.to_str().unwrap(),
        "--against",
        pack.to_str().unwrap(),
    ]);
    assert_ok(&o);
    assert_eq!(parse::<AuditReport>(&o.stdout).anchors.len(), 3);

    // Roll the database back to the copy taken before the second export.
    std::fs::copy(&backup, env.home().join("state.db")).unwrap();
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(env.home().join(format!("state.db{ext}")));
    }
    assert_ok(&env.run(&["audit", "verify"])); // the database alone cannot tell
    for anchor in [&manifest, &receipt, &pack] {
        let err = assert_code(
            &env.run(&["audit", "verify", "--against", anchor.to_str().unwrap()]),
            3,
        );
        assert!(err.contains("rolled back"), "{}: {err}", anchor.display());
    }
}

#[test]
fn a_deletion_certificate_is_an_anchor_too() {
    let env = Env::keyed();
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), b"client bytes").unwrap();
    let s = env.export_with(
        &data,
        &[
            "-R",
            fixture("keys/client.recipients").to_str().unwrap(),
            "--name",
            "n1",
        ],
    );
    let id = s.handover_id;
    let o = delete_anyway(&env, &id);
    assert_ok(&o);
    let cert = parse::<ShredSummary>(&o.stdout).certificate_path.unwrap();
    let c = json(&std::fs::read(&cert).unwrap());
    assert!(c["audit_checkpoint"]["seq"].as_i64().is_some(), "{c}");
    assert_ok(&env.run(&["audit", "verify", "--against", cert.to_str().unwrap()]));
    // Forged checkpoint: another hash at that row.
    let mut forged = c.clone();
    forged["audit_checkpoint"]["hash"] = serde_json::json!("00".repeat(32));
    let f = env.path("forged.json");
    std::fs::write(&f, serde_json::to_vec(&forged).unwrap()).unwrap();
    let err = assert_code(
        &env.run(&["audit", "verify", "--against", f.to_str().unwrap()]),
        3,
    );
    assert!(err.contains("not signed by this home's audit key"), "{err}");
}

// ---- Found by attacking the evidence (each failed before its fix) -------------------------

#[test]
fn a_handover_row_pointed_at_other_data_does_not_open_the_way_to_deletion() {
    let (env, id) = exported();
    let other = env.path("other-client");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), b"another client's file").unwrap();
    db(&env)
        .execute(
            "UPDATE handovers SET source_path = CAST(?1 AS BLOB)",
            [other.to_str().unwrap()],
        )
        .unwrap();
    let o = delete_anyway(&env, &id);
    let err = assert_code(&o, 3);
    assert!(err.contains("recorded paths"), "{err}");
    assert_eq!(
        std::fs::read(other.join("keep.txt")).unwrap(),
        b"another client's file"
    );
    assert_code(&env.run(&["audit", "verify"]), 3);
}

#[test]
fn receipt_times_and_keys_edited_with_sql_are_caught() {
    let (env, id) = exported();
    let code = n1_code(&env);
    assert_ok(&env.run(&["confirm", &id, "--code", &code]));
    db(&env)
        .execute(
            "UPDATE receipts SET confirmed_at = '2020-01-01T00:00:00Z'",
            [],
        )
        .unwrap();
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("confirmation time"), "{err}");
    let err = assert_code(&env.run(&["delete", "--yes", &id]), 3);
    assert!(err.contains("confirmation time"), "{err}");
}

#[test]
fn a_key_file_dropped_into_the_home_cannot_vouch_for_a_rewritten_log() {
    let (env, id) = exported();
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation"]));
    // The attacker can write the home but read no key: a key pair of their own, named like a
    // key an `audit rekey` replaced, and a log re-signed with it.
    let fake = env.path("fake");
    std::fs::create_dir(&fake).unwrap();
    let o = env
        .cmd_with_home(&fake)
        .args(["keygen", "--no-password"])
        .output()
        .unwrap();
    assert_ok(&o);
    std::fs::copy(
        fake.join("audit.pub"),
        env.home().join("audit.pub.replaced-20200101T000000Z"),
    )
    .unwrap();
    delete_and_rechain(&env, "hold");
    let c = db(&env);
    let rows: Vec<(i64, String)> = c
        .prepare("SELECT seq, hash FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let sk = minisign::SecretKeyBox::from_string(
        &std::fs::read_to_string(fake.join("audit.key")).unwrap(),
    )
    .unwrap()
    .into_unencrypted_secret_key()
    .unwrap();
    c.execute("DELETE FROM audit_heads", []).unwrap();
    for (seq, hash) in &rows {
        let msg = format!("handover-audit-head\nseq={seq}\nhash={hash}\n");
        let sig = minisign::sign(
            None,
            &sk,
            std::io::Cursor::new(msg.as_bytes()),
            Some("audit-head"),
            None,
        )
        .unwrap()
        .into_string();
        c.execute(
            "INSERT INTO audit_heads (seq, hash, signature) VALUES (?1, ?2, ?3)",
            rusqlite::params![seq, hash, sig],
        )
        .unwrap();
    }
    c.execute(
        "UPDATE schedules SET hold_reason = NULL, held_at = NULL",
        [],
    )
    .unwrap();
    drop(c);
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("does not verify"), "{err}");
    assert_code(&delete_anyway(&env, &id), 3);
}

#[test]
fn after_an_honest_rekey_the_documents_made_before_it_still_anchor_the_log() {
    let (env, _) = exported();
    std::fs::remove_file(env.home().join("audit.key")).unwrap();
    assert_ok(&env.run(&["audit", "rekey", "--reason", "disk lost"]));
    let manifest = env.path("out/n1.manifest.json");
    assert_ok(&env.run(&["audit", "verify", "--against", manifest.to_str().unwrap()]));
}

#[test]
fn a_schedule_moved_earlier_in_another_offset_is_caught() {
    let (env, id) = exported();
    assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-02"]));
    // Sorts after the audited due time as text, but means a day earlier.
    db(&env)
        .execute(
            "UPDATE schedules SET due_at = '2099-01-02t00:00:00+23:59'",
            [],
        )
        .unwrap();
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(err.contains("moved earlier"), "{err}");
}

#[test]
fn handover_details_edited_with_sql_are_caught() {
    let (env, _) = exported();
    db(&env)
        .execute("UPDATE handovers SET files = 999, client = 'globex'", [])
        .unwrap();
    let err = assert_code(&env.run(&["audit", "verify"]), 3);
    assert!(
        err.contains("is not what the export event audited"),
        "{err}"
    );
}

#[test]
fn a_done_job_inserted_with_sql_does_not_close_a_scheduled_deletion() {
    let env = Env::keyed();
    let keys = fixture("keys/client.recipients");
    let mk = |name: &str| {
        let d = env.path(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("f"), name.as_bytes()).unwrap();
        env.export_with(&d, &["-R", keys.to_str().unwrap(), "--name", name])
            .handover_id
    };
    let (a, b) = (mk("a"), mk("b"));
    let o = delete_anyway(&env, &a);
    assert_ok(&o);
    let cert = parse::<ShredSummary>(&o.stdout).certificate_id.unwrap();
    assert_ok(&env.run(&["schedule", &b, "--at", "2099-01-01"]));
    db(&env)
        .execute(
            "INSERT INTO deletion_jobs (id, kind, handover_id, roots_key, created_at, state, runs, certificate_id) \
             VALUES ('f00d', 'delete', ?1, 'x', '2026-12-01T00:00:00Z', 'done', 1, ?2)",
            rusqlite::params![b, cert],
        )
        .unwrap();
    let code = receipt_code(
        &env,
        &env.path("out/b.tar.zst.age"),
        &fixture("keys/client.agekey"),
    );
    assert_ok(&env.run(&["confirm", &b, "--code", &code]));
    // run-due must not close B as "deleted earlier" on the strength of A's certificate: the
    // forged row is reported (refused, exit 3) and B's data is kept for the operator to see.
    let o = env.run_at("2099-01-02T00:00:00Z", &["--json", "run-due"]);
    let r = json(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{r}");
    assert_eq!(r["jobs"][0]["result"], "failed", "{r}");
    assert!(
        r["jobs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("outside handover"),
        "{r}"
    );
    assert!(env.path("b/f").exists());
}

/// A document given to --against that cannot be read is a mistyped path (exit 1), not a
/// failed check (exit 3).
#[test]
fn an_against_file_that_cannot_be_read_is_an_operational_error() {
    let env = home_with_events();
    let missing = env.path("no-such-manifest.json");
    let o = env.run(&[
        "--json",
        "audit",
        "verify",
        "--against",
        missing.to_str().unwrap(),
    ]);
    let err = assert_code(&o, 1);
    assert!(err.contains("cannot read it"), "{err}");
    assert_eq!(json(&o.stdout)["error"]["kind"], "audit_anchor_unusable");
}
