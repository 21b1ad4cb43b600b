//! Naming a handover: every command that takes one accepts its name, its client's name (when
//! that client has exactly one handover in progress) and a unique id prefix of at least 4
//! characters; anything that fits several is an error listing them, as an admin sees it.

use std::path::PathBuf;

use handover::ExportSummary;

use crate::common::*;
use crate::deletion::*;

/// A home with keys and a data tree; exports it for client `acme` under each of `names`.
fn exported_as(names: &[&str]) -> (Env, PathBuf, Vec<ExportSummary>) {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let out = names
        .iter()
        .map(|n| env.export_with(&data, &["-r", &recipient, "--name", n]))
        .collect();
    (env, data, out)
}

fn json_run(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd().arg("--json").args(args).output().unwrap()
}

fn handover_id_of(o: &std::process::Output) -> String {
    assert_ok(o);
    json(&o.stdout)["handover_id"]
        .as_str()
        .expect("a handover_id")
        .to_string()
}

#[test]
fn a_name_a_client_and_a_prefix_each_pick_the_handover_on_every_command() {
    let (env, _data, s) = exported_as(&["acme-20261201T101500Z"]);
    let id = s[0].handover_id.clone();
    let name = "acme-20261201T101500Z";
    for args in [
        vec!["hold", name, "--reason", "litigation"],
        vec!["release", "acme"],
        vec!["hold", &id[..4], "--reason", "again"],
        vec!["release", &id[..12]],
        vec!["schedule", name, "--after", "30d"],
        vec!["schedule", "acme", "--after", "31d"],
    ] {
        assert_eq!(handover_id_of(&json_run(&env, &args)), id, "{args:?}");
    }
    // status: a client's handovers, or the one a name or prefix picks.
    for r in ["acme", name, &id[..6]] {
        let st: Statuses = parse(&json_run(&env, &["status", r]).stdout);
        assert_eq!(st.handovers.len(), 1, "{r}");
        assert_eq!(st.handovers[0].handover_id, id, "{r}");
    }
    // evidence by name, confirm --code by client, delete by name.
    let ev = env.path("evidence");
    let o = json_run(&env, &["evidence", name, "--out", ev.to_str().unwrap()]);
    assert_eq!(handover_id_of(&o), id);
    let code = receipt_code(&env, &s[0].archive_path, &env.path("client.agekey"));
    assert_ok(&env.run(&["confirm", "acme", "--code", &code]));
    let o = json_run(&env, &["delete", "--yes", name]);
    assert_ok(&o);
    assert_eq!(json(&o.stdout)["handover_id"], id.as_str());
    assert!(!s[0].archive_path.exists());
}

#[test]
fn a_client_with_two_handovers_in_progress_is_ambiguous_and_the_error_lists_both() {
    let (env, _data, s) = exported_as(&["acme-one", "acme-two"]);
    let o = json_run(&env, &["hold", "acme", "--reason", "x"]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_id_ambiguous");
    assert!(err.contains("\"acme\" matches 2 handovers"), "{err}");
    for h in &s {
        let line = err
            .lines()
            .find(|l| l.contains(&h.handover_id))
            .unwrap_or_else(|| panic!("{} not listed:\n{err}", h.handover_id));
        assert!(line.contains(&h.name), "{line}");
        assert!(line.contains("exported"), "{line}");
    }
    assert!(err.contains("Give the name or the id"), "{err}");
    // Nothing was held.
    let st: Statuses = parse(&json_run(&env, &["status"]).stdout);
    assert!(st.handovers.iter().all(|h| !h.hold.done));

    // Once one is voided, the client names the other.
    assert_ok(&env.run(&["void", "acme-one", "--reason", "test export"]));
    let o = json_run(&env, &["hold", "acme", "--reason", "x"]);
    assert_eq!(handover_id_of(&o), s[1].handover_id);
}

#[test]
fn the_same_name_twice_is_ambiguous_and_the_id_still_picks_one() {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let a = env.export_with(&data, &["-r", &recipient, "--name", "acme-x"]);
    let b = env
        .cmd()
        .args(["--json", "export"])
        .arg(&data)
        .args(["--client", "acme", "--out"])
        .arg(env.path("out2"))
        .args(["-r", &recipient, "--name", "acme-x"])
        .output()
        .unwrap();
    assert_ok(&b);
    let b: ExportSummary = parse(&b.stdout);
    let o = json_run(&env, &["status", "acme-x"]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_id_ambiguous");
    assert!(
        err.contains(&a.handover_id) && err.contains(&b.handover_id),
        "{err}"
    );
    let o = json_run(&env, &["hold", &b.handover_id, "--reason", "x"]);
    assert_eq!(handover_id_of(&o), b.handover_id);
}

#[test]
fn a_prefix_under_four_characters_says_so_and_an_unknown_name_points_to_list() {
    let (env, _data, s) = exported_as(&["acme-one"]);
    let short = &s[0].handover_id[..3];
    for args in [
        vec!["hold", short, "--reason", "x"],
        vec!["delete", "--yes", short],
        vec!["schedule", short, "--after", "1d"],
    ] {
        let o = json_run(&env, &args);
        let err = assert_code(&o, 1);
        assert_eq!(
            json(&o.stdout)["error"]["kind"],
            "handover_id_too_short",
            "{args:?}"
        );
        assert!(err.contains("too short"), "{err}");
        assert!(err.contains("at least 4 characters"), "{err}");
    }
    let o = json_run(&env, &["evidence", "globex", "--out", "x"]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_not_found");
    assert!(err.contains("handover list"), "{err}");
}

#[test]
fn a_client_whose_handovers_are_all_finished_lists_them_instead_of_guessing() {
    let (env, _data, s) = exported_as(&["acme-one"]);
    assert_ok(&env.run(&["void", "acme", "--reason", "wrong recipient"]));
    let o = json_run(&env, &["hold", "acme", "--reason", "x"]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_not_found");
    assert!(err.contains("no handover in progress"), "{err}");
    let line = err.lines().find(|l| l.contains(&s[0].handover_id)).unwrap();
    assert!(
        line.contains("acme-one") && line.contains("voided"),
        "{line}"
    );
    // The name still names it.
    let st: Statuses = parse(&json_run(&env, &["status", "acme-one"]).stdout);
    assert_eq!(st.handovers.len(), 1);
}

#[test]
fn help_says_what_a_handover_argument_may_be() {
    for cmd in [
        "hold", "release", "schedule", "delete", "evidence", "void", "confirm",
    ] {
        let o = Env::new().run(&[cmd, "--help"]);
        assert_ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("its client's name"), "{cmd}:\n{out}");
        assert!(
            out.contains("at least\n") || out.contains("at least 4"),
            "{cmd}:\n{out}"
        );
    }
}

/// After the deletion, the client's name still names its only handover: the evidence pack is
/// asked for once everything is done.
#[test]
fn a_clients_only_handover_is_named_by_the_client_after_its_deletion() {
    let (env, _data, s) = exported_as(&["acme-done"]);
    confirm_receipt(&env, &s[0].handover_id);
    assert_ok(&env.run(&["delete", "acme", "--yes"]));
    let out = env.path("evidence-acme");
    let o = json_run(&env, &["evidence", "acme", "--out", out.to_str().unwrap()]);
    assert_eq!(handover_id_of(&o), s[0].handover_id);
    assert!(out.join("report.md").is_file());
    // Deleting again says it is done, naming the certificate (not "no handover").
    let o = json_run(&env, &["delete", "acme", "--yes"]);
    assert_ne!(json(&o.stdout)["error"]["kind"], "handover_not_found");
}

/// A handover named like another client, and a client named like an id prefix: each reading
/// is tried, and a reference that fits two handovers is refused with both listed, never sent
/// to one of them (a hold on the wrong handover lets run-due delete the held one).
#[test]
fn a_reference_with_two_readings_is_refused_not_guessed() {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let export = |client: &str, extra: &[&str]| -> ExportSummary {
        let o = env
            .cmd()
            .args(["--json", "export"])
            .arg(&data)
            .args(["--client", client, "-r", &recipient, "--out"])
            .arg(env.path("out"))
            .args(extra)
            .output()
            .unwrap();
        assert_ok(&o);
        parse(&o.stdout)
    };
    let beta = export("beta", &[]);
    let named_beta = export("acme", &["--name", "beta"]);
    let o = json_run(
        &env,
        &["hold", "beta", "--reason", "litigation (client beta)"],
    );
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_id_ambiguous");
    assert!(
        err.contains(&beta.handover_id) && err.contains(&named_beta.handover_id),
        "{err}"
    );
    let held = sql_query(
        &env.home().join("state.db"),
        "SELECT count(*) FROM schedules WHERE hold_reason IS NOT NULL",
    );
    assert_eq!(held.trim(), "0", "no hold was placed on either");

    // A client named like the start of another handover's id, whose own handover is voided:
    // its name lists its handovers, it does not fall through to the prefix.
    let prefix = named_beta.handover_id[..6].to_string();
    let hex = export(&prefix, &[]);
    assert_ok(&env.run(&["void", &hex.handover_id, "--reason", "test"]));
    let o = json_run(&env, &["hold", &prefix, "--reason", "x"]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_not_found");
    assert!(err.contains(&hex.handover_id), "{err}");
}

/// A client named with 32 hex characters that are another handover's id: two readings,
/// refused, not sent to the handover with that id.
#[test]
fn a_client_named_like_a_full_id_is_not_taken_for_that_id() {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let first = env.export_with(&data, &["-r", &recipient]);
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(&data)
        .args(["--client", &first.handover_id, "-r", &recipient, "--out"])
        .arg(env.path("out2"))
        .output()
        .unwrap();
    assert_ok(&o);
    let o = json_run(&env, &["hold", &first.handover_id, "--reason", "x"]);
    assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "handover_id_ambiguous");
}

/// `list CLIENT` shows one client's handovers, for an admin with many clients.
#[test]
fn list_takes_a_client() {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let acme = env.export_with(&data, &["-r", &recipient]);
    let o = env
        .cmd()
        .args(["export"])
        .arg(&data)
        .args(["--client", "beta", "-r", &recipient, "--out"])
        .arg(env.path("out-beta"))
        .output()
        .unwrap();
    assert_ok(&o);
    let o = env.run(&["list", "acme"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&acme.handover_id[..8]), "{out}");
    assert!(!out.contains("beta-"), "{out}");
    let all = env.run(&["list"]);
    assert!(String::from_utf8_lossy(&all.stdout).contains("beta-"));
}
