//! Client profiles (issue 11), as an MSP's admin uses them: `client add` once, then
//! `export --client NAME` with nothing else; flags override the profile; the export records
//! what it took; a contract end schedules the deletion; every change is audited.

use std::path::Path;

use handover::ExportSummary;
use serde_json::Value;

use crate::common::*;

/// A world with keys and a small tree at `data`.
fn world() -> World {
    World::new("data", |d| {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.txt"), b"alpha").unwrap();
        std::fs::write(d.join("sub/b.txt"), b"beta").unwrap();
    })
}

fn p(env: &Env, rel: &str) -> String {
    env.path(rel).to_str().unwrap().to_string()
}

/// `handover --json ARGS`, which must succeed; returns the JSON document.
fn ok_json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = env.run(&all);
    assert_ok(&o);
    json(&o.stdout)
}

/// `handover --json export --client NAME ARGS`, which must succeed.
fn export_client(env: &Env, client: &str, args: &[&str]) -> (ExportSummary, Value) {
    let mut all = vec!["--json", "export", "--client", client];
    all.extend_from_slice(args);
    let o = env.run(&all);
    assert_ok(&o);
    (parse(&o.stdout), json(&o.stdout))
}

/// The audit rows of `command`, their details parsed.
fn audit_details(env: &Env, command: &str) -> Vec<Value> {
    sql_query(
        &env.home().join("state.db"),
        &format!("SELECT details FROM audit_events WHERE command = '{command}' ORDER BY seq"),
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

fn fields(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn export_uses_the_profile_and_flags_override_it() {
    let World {
        env,
        recipient,
        data,
    } = world();
    let o = env.run(&[
        "client",
        "add",
        "acme",
        "--data",
        data.to_str().unwrap(),
        "-r",
        &recipient,
        "--out",
        &p(&env, "outbox"),
        "--delete-after",
        "30d",
    ]);
    let err = assert_code(&o, 0);
    assert!(err.contains("client profile acme added"), "{err}");

    // Nothing but the client's name.
    let (s, v) = export_client(&env, "acme", &[]);
    assert!(s.archive_path.starts_with(env.path("outbox")), "{s:?}");
    assert_eq!(s.files, 2);
    assert_eq!(
        fields(&v["profile"]["from_profile"]),
        ["data_dir", "recipients", "out_dir", "delete_after"]
    );
    let created = handover::parse_at(&s.created_at).unwrap();
    let due = handover::parse_at(s.deletion_due_at.as_deref().unwrap()).unwrap();
    assert_eq!(due - created, time::Duration::days(30));
    // The client can open it with its own key.
    let o = env.run(&[
        "verify",
        s.archive_path.to_str().unwrap(),
        "-i",
        &p(&env, "client.agekey"),
        "--signer",
        &p(&env, "home/handover.pub"),
    ]);
    assert_ok(&o);

    // Flags given on the command line win; only the data directory still comes from it.
    let o = env.run(&["keygen", "--age", "--out", &p(&env, "other")]);
    assert_ok(&o);
    let other = recipient_of(&env.path("other/age.key"));
    let (s2, v2) = export_client(
        &env,
        "acme",
        &[
            "-r",
            &other,
            "--out",
            &p(&env, "elsewhere"),
            "--delete-after",
            "2d",
        ],
    );
    assert!(s2.archive_path.starts_with(env.path("elsewhere")));
    assert_eq!(fields(&v2["profile"]["from_profile"]), ["data_dir"]);
    let due = handover::parse_at(s2.deletion_due_at.as_deref().unwrap()).unwrap();
    assert_eq!(
        due - handover::parse_at(&s2.created_at).unwrap(),
        time::Duration::days(2)
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&s2.manifest_path).unwrap()).unwrap();
    assert_eq!(m["recipients"], serde_json::json!([other]));

    // The export events record what came from the profile, and the log still verifies.
    let events = audit_details(&env, "export");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["profile"]["client"], "acme");
    assert_eq!(fields(&events[1]["profile"]["from_profile"]), ["data_dir"]);
    assert_ok(&env.run(&["audit", "verify"]));

    // The text summary says it too.
    let o = env.run(&["export", "--client", "acme", "--name", "acme-third"]);
    let err = assert_code(&o, 0);
    assert!(
        err.contains("from client profile acme: data_dir, recipients, out_dir, delete_after"),
        "{err}"
    );
}

#[test]
fn escrow_recipients_are_added_even_when_r_overrides() {
    let World {
        env,
        recipient,
        data,
    } = world();
    assert_ok(&env.run(&["keygen", "--age", "--out", &p(&env, "escrow")]));
    let escrow = recipient_of(&env.path("escrow/age.key"));
    std::fs::write(
        env.path("acme.recipients"),
        format!("# acme\n{recipient}\n"),
    )
    .unwrap();
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "--data",
        data.to_str().unwrap(),
        "-R",
        &p(&env, "acme.recipients"),
        "--escrow",
        &escrow,
        "--out",
        &p(&env, "outbox"),
    ]));
    let (s, v) = export_client(&env, "acme", &[]);
    assert_eq!(
        fields(&v["profile"]["from_profile"]),
        ["data_dir", "recipient_files", "escrow", "out_dir"]
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&s.manifest_path).unwrap()).unwrap();
    assert_eq!(m["recipients"], serde_json::json!([recipient, escrow]));
    assert_eq!(s.deletion_due_at, None);
    // -r replaces the client's recipients; the escrow recipient stays.
    assert_ok(&env.run(&["keygen", "--age", "--out", &p(&env, "new")]));
    let new = recipient_of(&env.path("new/age.key"));
    let (s2, v2) = export_client(&env, "acme", &["-r", &new, "--name", "acme-2"]);
    assert_eq!(
        fields(&v2["profile"]["from_profile"]),
        ["data_dir", "escrow", "out_dir"]
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&s2.manifest_path).unwrap()).unwrap();
    assert_eq!(m["recipients"], serde_json::json!([new, escrow]));
    // The escrow key opens the archive too.
    assert_ok(&env.run(&[
        "verify",
        s.archive_path.to_str().unwrap(),
        "-i",
        &p(&env, "escrow/age.key"),
        "--signer",
        &p(&env, "home/handover.pub"),
    ]));
}

#[test]
fn an_export_without_a_profile_records_what_it_always_did() {
    let World {
        env,
        recipient,
        data,
    } = world();
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(&data)
        .args(["--client", "acme", "--out"])
        .arg(env.path("out"))
        .args(["-r", &recipient])
        .output()
        .unwrap();
    assert_ok(&o);
    let v = json(&o.stdout);
    assert!(v.get("profile").is_none(), "{v}");
    let e = &audit_details(&env, "export")[0];
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "archive_sha256",
            "bytes",
            "client",
            "client_key_id",
            "files",
            "name",
            "paths_sha256",
            "signer_key_id"
        ]
    );
}

#[test]
fn a_contract_end_schedules_the_deletion_even_in_the_past() {
    let World {
        env,
        recipient,
        data,
    } = world();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "client",
            "add",
            name,
            "--data",
            data.to_str().unwrap(),
            "-r",
            &recipient,
        ];
        let out = p(&env, "outbox");
        args.extend_from_slice(&["--out", &out]);
        args.extend_from_slice(extra);
        assert_ok(&env.run(&args));
    };
    // Ended long ago, with a delay: contract end + delay, in the past, is accepted.
    add(
        "old",
        &["--contract-end", "2020-01-01", "--delete-after", "10d"],
    );
    let (s, v) = export_client(&env, "old", &[]);
    assert_eq!(s.deletion_due_at.as_deref(), Some("2020-01-11T00:00:00Z"));
    assert_eq!(v["profile"]["contract_end"], "2020-01-01T00:00:00Z");
    assert_eq!(
        fields(&v["profile"]["from_profile"]),
        [
            "data_dir",
            "recipients",
            "out_dir",
            "delete_after",
            "contract_end"
        ]
    );
    let sched = audit_details(&env, "schedule");
    assert_eq!(sched[0]["due_at"], "2020-01-11T00:00:00Z");
    assert_eq!(sched[0]["allow_past"], true);
    let jobs = ok_json(&env, &["jobs"]);
    assert_eq!(jobs["jobs"][0]["due_at"], "2020-01-11T00:00:00Z");

    // Ending in the future, no delay: at the contract end itself.
    add("new", &["--contract-end", "2099-03-31T12:00:00Z"]);
    let (s, _) = export_client(&env, "new", &[]);
    assert_eq!(s.deletion_due_at.as_deref(), Some("2099-03-31T12:00:00Z"));
    assert_eq!(audit_details(&env, "schedule")[1]["allow_past"], false);

    // --delete-after on the command line counts from now, not from the contract end.
    let (s, v) = export_client(&env, "old", &["--delete-after", "1d", "--name", "old-2"]);
    let due = handover::parse_at(s.deletion_due_at.as_deref().unwrap()).unwrap();
    assert_eq!(
        due - handover::parse_at(&s.created_at).unwrap(),
        time::Duration::days(1)
    );
    assert!(v["profile"].get("contract_end").is_none(), "{v}");
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn edits_and_removals_are_audited_and_shown() {
    let World {
        env,
        recipient,
        data,
    } = world();
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "--data",
        data.to_str().unwrap(),
        "-r",
        &recipient,
        "--contract-end",
        "2027-01-31",
        "--operator",
        "J. Doe",
        "--organization",
        "Example MSP",
    ]));
    let v = ok_json(
        &env,
        &[
            "client",
            "edit",
            "acme",
            "--clear",
            "contract-end",
            "--receipt-days",
            "21",
            "--out",
            &p(&env, "outbox"),
        ],
    );
    assert_eq!(
        fields(&v["changed"]),
        ["out_dir", "contract_end", "receipt_days"]
    );
    assert_eq!(v["client"]["receipt_days"], 21);
    assert_eq!(v["client"]["contract_end"], Value::Null);

    // An edit that changes nothing records nothing.
    let before = audit_details(&env, "client_edit").len();
    let v = ok_json(&env, &["client", "edit", "acme", "--receipt-days", "21"]);
    assert_eq!(fields(&v["changed"]), Vec::<String>::new());
    assert_eq!(audit_details(&env, "client_edit").len(), before);

    let show = ok_json(&env, &["client", "show", "acme"]);
    assert_snake_case_keys(&show);
    assert_eq!(show["name"], "acme");
    assert_eq!(show["data_dir"], data.to_str().unwrap());
    assert_eq!(show["recipients"], serde_json::json!([recipient]));
    assert_eq!(show["operator"], "J. Doe");
    assert_eq!(show["organization"], "Example MSP");
    for k in [
        "escrow",
        "recipient_files",
        "client_key",
        "delete_after",
        "created_at",
        "updated_at",
    ] {
        assert!(show.get(k).is_some(), "{k} missing from {show}");
    }
    let list = ok_json(&env, &["client", "list"]);
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert_eq!(list["clients"][0], show);
    let o = env.run(&["client", "list"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("CLIENT") && out.contains("\nacme "),
        "{out}"
    );

    let v = ok_json(&env, &["client", "remove", "acme"]);
    assert_eq!(v["client"]["name"], "acme");
    let list = ok_json(&env, &["client", "list"]);
    assert_eq!(list["clients"], serde_json::json!([]));

    let added = audit_details(&env, "client_add");
    assert_eq!(added[0]["client"], "acme");
    assert_eq!(added[0]["settings"]["operator"], "J. Doe");
    assert!(fields(&added[0]["changed"]).contains(&"contract_end".to_string()));
    let edited = audit_details(&env, "client_edit");
    assert_eq!(
        fields(&edited[0]["changed"]),
        ["out_dir", "contract_end", "receipt_days"]
    );
    let removed = audit_details(&env, "client_remove");
    assert_eq!(removed[0]["settings"], Value::Null);
    let v = ok_json(&env, &["audit", "verify"]);
    assert_eq!(v["events"].as_u64(), v["head_seq"].as_u64());
}

/// Runs `handover --json ARGS`, asserts the exit code, and returns the error document.
fn refused(env: &Env, args: &[&str], code: i32) -> (Value, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = env.run(&all);
    let err = assert_code(&o, code);
    let v = if o.stdout.is_empty() {
        Value::Null
    } else {
        json(&o.stdout)
    };
    (v, err)
}

#[test]
fn bad_values_are_refused_with_a_next_step() {
    let World {
        env,
        recipient,
        data,
    } = world();
    let d = data.to_str().unwrap();
    let (v, err) = refused(&env, &["client", "add", "../acme", "--data", d], 3);
    assert_eq!(v["error"]["kind"], "bad_name");
    assert!(err.contains("invalid client name"), "{err}");

    let (v, err) = refused(&env, &["client", "add", "acme", "-r", "age1nope"], 3);
    assert_eq!(v["error"]["kind"], "recipient_invalid", "{v}");
    assert!(err.contains("client acme: invalid recipient"), "{err}");
    let (v, err) = refused(
        &env,
        &["client", "add", "acme", "-R", &p(&env, "missing.txt")],
        3,
    );
    assert!(v["error"]["kind"].is_string(), "{v}");
    assert!(err.contains("missing.txt"), "{err}");
    // Nothing was saved.
    let list = ok_json(&env, &["client", "list"]);
    assert_eq!(list["clients"], serde_json::json!([]));

    for (flag, value) in [
        ("--delete-after", "3x"),
        ("--contract-end", "31/01/2027"),
        ("--receipt-days", "0"),
    ] {
        let o = env.run(&["client", "add", "acme", flag, value]);
        let err = assert_code(&o, 2);
        assert!(err.contains(flag), "{err}");
    }

    assert_ok(&env.run(&["client", "add", "acme", "--data", d, "-r", &recipient]));
    let (v, err) = refused(&env, &["client", "add", "acme"], 3);
    assert_eq!(v["error"]["kind"], "client_exists");
    assert!(err.contains("handover client edit acme"), "{err}");
    let (v, err) = refused(&env, &["client", "edit", "acmee", "--out", "x"], 3);
    assert_eq!(v["error"]["kind"], "unknown_client");
    assert!(err.contains("handover client list"), "{err}");
    refused(&env, &["client", "show", "acmee"], 3);
    refused(&env, &["client", "remove", "acmee"], 3);

    // The profile has no outbox: export says which value is missing and how to record it.
    let (v, err) = refused(&env, &["export", "--client", "acme"], 3);
    assert_eq!(v["error"]["kind"], "missing_value");
    assert!(
        err.contains("export needs an output directory")
            && err.contains("handover client edit acme --out DIR"),
        "{err}"
    );
    // No profile at all, no DATA_DIR.
    let (v, err) = refused(&env, &["export", "--client", "zeta", "--out", "x"], 3);
    assert_eq!(v["error"]["kind"], "missing_value");
    assert!(
        err.contains("client zeta has no profile") && err.contains("handover client add zeta"),
        "{err}"
    );
    assert!(!env.path("x").exists());
}

#[test]
fn a_home_made_before_profiles_keeps_working() {
    let (env, id) = fixture_exported(&[]);
    let db = env.home().join("state.db");
    // As the version before profiles left it: no clients table, nor the tables of the
    // migrations after it (object storage: objects and remote_temps, then deletion_objects).
    let version: usize = sql_query(&db, "PRAGMA user_version")
        .trim()
        .parse()
        .unwrap();
    sql_exec(
        &db,
        &format!(
            "DROP TABLE clients; DROP TABLE objects; DROP TABLE remote_temps;
             DROP TABLE deletion_objects; PRAGMA user_version = {};",
            version - 3
        ),
    );
    let o = env.run(&["list"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_ok(&o);
    assert!(out.contains(&id[..8]), "{out}");
    assert_eq!(
        sql_query(&db, "PRAGMA user_version").trim(),
        version.to_string()
    );
    let recipients = fixture("keys/client.recipients");
    let data = fixture("acme");
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "--data",
        data.to_str().unwrap(),
        "-R",
        recipients.to_str().unwrap(),
        "--out",
        &p(&env, "outbox"),
    ]));
    let (s, _) = export_client(&env, "acme", &[]);
    assert!(Path::new(&s.archive_path).exists());
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn client_help_teaches_with_examples_and_exit_codes() {
    let env = Env::new();
    for sub in ["add", "edit", "list", "show", "remove"] {
        let o = env.run(&["client", sub, "--help"]);
        assert_ok(&o);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(
            help.contains("Example:") && help.contains("Exit status:"),
            "{sub}:\n{help}"
        );
    }
    let o = env.run(&["export", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("handover export --client acme"), "{help}");
}

#[test]
fn the_certificate_names_the_profiles_operator_and_organisation() {
    let World {
        env,
        recipient,
        data,
    } = world();
    assert_ok(&env.run(&[
        "client",
        "add",
        "acme",
        "--data",
        data.to_str().unwrap(),
        "-r",
        &recipient,
        "--out",
        &p(&env, "outbox"),
        "--operator",
        "J. Doe",
        "--organization",
        "Example MSP",
    ]));
    let (s, _) = export_client(&env, "acme", &[]);
    let o = env
        .cmd()
        .env_remove("HANDOVER_OPERATOR")
        .env_remove("HANDOVER_ORGANIZATION")
        .args([
            "delete",
            &s.handover_id,
            "--without-receipt",
            "--reason",
            "test",
        ])
        .args(["--yes"])
        .output()
        .unwrap();
    assert_ok(&o);
    let cert = s
        .archive_path
        .with_file_name(format!("{}.deletion-certificate.json", s.name));
    let c: Value = serde_json::from_slice(&std::fs::read(&cert).unwrap()).unwrap();
    assert_eq!(c["operator"]["name"], "J. Doe", "{c}");
    assert_eq!(c["operator"]["organization"], "Example MSP");
}

/// A profile edited with sqlite3 (an extra escrow recipient, another operator) is refused by
/// every use of it and named by `audit verify`, until it is recorded again (remove, add).
#[test]
fn a_profile_edited_behind_the_tool_is_refused_until_set_again() {
    let w = world();
    let env = &w.env;
    let (data, out) = (p(env, "data"), p(env, "out"));
    let add: &[&str] = &[
        "client",
        "add",
        "acme",
        "--data",
        &data,
        "-r",
        &w.recipient,
        "--out",
        &out,
        "--operator",
        "J. Doe",
    ];
    ok_json(env, add);
    ok_json(env, &["audit", "verify"]);
    let intruder = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    sql_exec(
        &env.home().join("state.db"),
        &format!("UPDATE clients SET escrow = '[\"{intruder}\"]', operator = 'Somebody Else'"),
    );
    let (v, err) = refused(env, &["export", "--client", "acme"], 3);
    assert_eq!(v["error"]["kind"], "audit_gate_mismatch");
    assert!(err.contains("client profile acme"), "{err}");
    assert!(!env.path("out").exists(), "nothing exported");
    let (v, _) = refused(env, &["audit", "verify"], 3);
    assert_eq!(v["error"]["kind"], "audit_gate_mismatch");

    // client edit would record the edited settings as the audited ones: refused too.
    let (v, _) = refused(
        env,
        &["client", "edit", "acme", "--out", &p(env, "out2")],
        3,
    );
    assert_eq!(v["error"]["kind"], "audit_gate_mismatch");
    // So does every other use of it, overdue work included.
    let (v, _) = refused(env, &["status", "--overdue"], 3);
    assert_eq!(v["error"]["kind"], "audit_gate_mismatch");

    // Recorded again through the tool (and audited), the profile is usable.
    ok_json(env, &["client", "remove", "acme"]);
    ok_json(env, add);
    ok_json(env, &["audit", "verify"]);
    let (s, _) = export_client(env, "acme", &[]);
    assert!(s.archive_path.exists());
}

/// Editing a profile's contract end or delay says that handovers already exported keep their
/// deletion dates, and how to move one.
#[test]
fn editing_the_dates_says_exported_handovers_keep_theirs() {
    let w = world();
    let env = &w.env;
    ok_json(
        env,
        &[
            "client",
            "add",
            "acme",
            "-r",
            &w.recipient,
            "--contract-end",
            "2027-01-31",
        ],
    );
    let o = env.run(&["client", "edit", "acme", "--contract-end", "2027-03-31"]);
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keep their deletion dates"), "{err}");
    assert!(
        err.contains("handover schedule HANDOVER --at DATE"),
        "{err}"
    );
    let o = env.run(&["client", "edit", "acme", "--operator", "Jo"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("deletion dates"));
}
