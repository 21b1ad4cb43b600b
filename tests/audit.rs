//! The audit log names the first row that was edited, deleted or reordered, when the state
//! database is changed behind the tool's back (with SQL run in-process, so no test skips).
mod common;
use common::*;

/// A home with a key and three exports: four audit rows (keygen, export ×3).
fn home_with_events() -> Env {
    let env = Env::new();
    assert_ok(&env.run(&["keygen", "--no-password"]));
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
fn rewritten_chain_without_the_key_fails_the_head_signature() {
    let env = home_with_events();
    // Someone without audit.key re-points the head at an earlier row.
    sql(
        &env,
        "DELETE FROM audit_events WHERE seq = 4; \
               UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)",
    );
    let err = verify_fails_at(&env, 3);
    assert!(err.contains("signature"), "{err}");
}
