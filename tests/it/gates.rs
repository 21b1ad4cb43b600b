//! The gates around deletion (issue 8): holds refuse every deleting path, a source shared by
//! several handovers needs all of them clear, one deletion per handover (or per paths) at a
//! time, the home's keys and database cannot be shredded, a missing audit key says how to
//! recover, and concurrent first use of a fresh home works.
//!
//! Races are forced with the test build's pause failpoints, never with sleeps: a deletion
//! held mid-overwrite (`shred.verified`, after its first file was overwritten and read
//! back), a hold placed between plan and job start (`shred.before_job_start`), processes
//! lined up before migrating (`store.migrate`).

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use handover::ExportSummary;
use handover::RunDueReport;

use crate::common::*;
use crate::deletion::*;
use sha2::Digest;

/// An exported handover of a fresh tree under `clients/acme`; returns (env, id, summary).
fn exported() -> (Env, String, ExportSummary) {
    let (World { env, .. }, s, id) = World::exported("clients/acme", make_tree);
    (env, id, s)
}

/// The client verifies the handover and the provider confirms its receipt code.
fn receive(env: &Env, s: &ExportSummary) {
    let code = receipt_code(env, &s.archive_path, &env.path("client.agekey"));
    assert_ok(&env.run(&["confirm", &s.handover_id, "--code", &code]));
}

/// Everything a deletion could touch, byte for byte, except the home (whose database records
/// the runs), the scratch folder's own entry and the tests' pause folders.
fn outside_home(env: &Env) -> Snapshot {
    Snapshot(
        state_of(env.dir.path())
            .into_iter()
            .filter(|(p, _)| {
                let rel = p.strip_prefix(env.dir.path()).unwrap();
                let top = rel.components().next().map(|c| c.as_os_str().to_owned());
                // The scratch folder itself: its mtime moves when a test adds a pause folder.
                top.is_some()
                    && !matches!(top.as_ref().and_then(|t| t.to_str()), Some("home" | "tmp"))
                    && !top.is_some_and(|t| t.to_string_lossy().starts_with("fp"))
            })
            .collect(),
    )
}

/// A [`state_of`] snapshot whose mismatch names the paths that differ, not their bytes.
#[derive(PartialEq)]
struct Snapshot(std::collections::BTreeMap<PathBuf, (String, Vec<u8>, i64)>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut h = sha2::Sha256::new();
        for (p, (k, d, t)) in &self.0 {
            h.update(format!("{}{k}{t}", p.display()).as_bytes());
            h.update(d);
        }
        write!(
            f,
            "{} paths, digest {}: {:?}",
            self.0.len(),
            hex::encode(h.finalize()),
            self.0.keys().collect::<Vec<_>>()
        )
    }
}

/// The `error.kind` of a `--json` run that failed with `code`; returns (kind, stderr).
fn refused(o: &Output, code: i32) -> (String, String) {
    let err = assert_code(o, code);
    let kind = json(&o.stdout)["error"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (kind, err)
}

/// `handover ARGS` with pause failpoints, its pause folder `dir`, started in the background.
fn spawn_paused(env: &Env, points: &str, dir: &Path, args: &[&str]) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    env.cmd()
        .args(args)
        .env("HANDOVER_FAILPOINTS", points)
        .env("HANDOVER_FAILPOINT_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the process reached pause point `name` (it wrote `name.reached`), failing if
/// it exited first.
fn wait_reached(child: &mut Child, dir: &Path, name: &str) {
    let reached = dir.join(format!("{name}.reached"));
    while !reached.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited ({status}) before reaching {name}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn go(dir: &Path, name: &str) {
    std::fs::write(dir.join(format!("{name}.go")), b"").unwrap();
}

/// The deletion certificates written beside the archive.
fn certificates_in(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.ends_with(".deletion-certificate.json"))
        .collect()
}

/// The newest job of a handover, read from the state database as the store orders it:
/// (state, runs). A running job sorts first, so "done" means no running job is left.
fn job_of(env: &Env, id: &str) -> (String, u32) {
    let row = sql_query(
        &env.home().join("state.db"),
        &format!(
            "SELECT state, runs FROM deletion_jobs WHERE handover_id = '{id}' \
             ORDER BY (state = 'running') DESC, created_at DESC, rowid DESC LIMIT 1"
        ),
    );
    let (state, runs) = row.split_once('|').expect("a job");
    (state.to_string(), runs.parse().unwrap())
}

fn out_dir(s: &ExportSummary) -> PathBuf {
    s.archive_path.parent().unwrap().to_path_buf()
}

#[test]
fn a_hold_refuses_every_deleting_path_and_status_agrees() {
    let (env, id, s) = exported();
    receive(&env, &s);
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation hold, case 123"]));
    let before = outside_home(&env);
    let data = env.path("clients/acme");

    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", &id]), 3);
    assert_eq!(kind, "handover_held", "{err}");
    assert!(
        err.contains("case 123") && err.contains("handover release"),
        "{err}"
    );

    // A dry run shows the plan, names the hold, and exits as the real run would.
    let o = env.run(&["--json", "delete", "--dry-run", &id]);
    assert_code(&o, 3);
    let d: ShredSummary = parse(&o.stdout);
    assert!(d.dry_run);
    assert_eq!(d.plan.files, 7 + 3);
    assert_eq!(d.refused.as_ref().unwrap().kind.as_str(), "handover_held");
    assert_eq!(d.handovers[0].handover_id, id.as_str());
    assert_eq!(
        d.handovers[0].hold.as_deref(),
        Some("litigation hold, case 123")
    );
    let text = env.run(&["delete", "--dry-run", &id]);
    let err = assert_code(&text, 3);
    assert!(err.contains("ON HOLD") && err.contains("REFUSED"), "{err}");

    // shred of the source, of a file inside it, of a folder containing it, of the archive.
    for p in [
        data.clone(),
        data.join("a/f1.bin"),
        env.path("clients"),
        s.archive_path.clone(),
    ] {
        let o = env
            .cmd()
            .args(["--json", "shred", "--yes"])
            .arg(&p)
            .output()
            .unwrap();
        let (kind, err) = refused(&o, 3);
        assert_eq!(kind, "handover_held", "{}: {err}", p.display());
        assert!(err.contains(&id), "{err}");
    }

    // run-due waits (exit 4); jobs and status say held, never deleted.
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-01", "--allow-past"]));
    let r = env.run(&["--json", "run-due"]);
    assert_code(&r, 4);
    assert_eq!(
        parse::<RunDueReport>(&r.stdout).jobs[0].result.as_str(),
        "held"
    );
    let st: Statuses = parse(&env.run(&["--json", "status"]).stdout);
    assert!(st.handovers[0].hold.done);
    assert!(!st.handovers[0].deleted.done);
    assert_eq!(outside_home(&env), before, "a held handover was touched");

    // Released, it is deleted; a hold afterwards is refused, so status never shows both.
    assert_ok(&env.run(&["release", &id]));
    assert_ok(&env.run(&["--json", "delete", "--yes", &id]));
    assert!(!data.exists());
    let (kind, err) = refused(&env.run(&["--json", "hold", &id, "--reason", "late"]), 3);
    assert_eq!(kind, "hold_after_deletion", "{err}");
    assert!(err.contains("handover evidence"), "{err}");
    let st = json(&env.run(&["--json", "status"]).stdout);
    assert_eq!(st["handovers"][0]["hold"]["done"], false);
    assert_eq!(st["handovers"][0]["deleted"]["done"], true);
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn a_hold_committed_while_delete_plans_wins() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let before = outside_home(&env);
    let dir = env.path("fp");
    let mut del = spawn_paused(
        &env,
        "shred.before_job_start=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut del, &dir, "shred.before_job_start");
    // The plan is made; the hold commits before the job starts.
    assert_ok(&env.run(&["hold", &id, "--reason", "regulator asked"]));
    go(&dir, "shred.before_job_start");
    let o = del.wait_with_output().unwrap();
    let (kind, err) = refused(&o, 3);
    assert_eq!(kind, "handover_held", "{err}");
    assert!(err.contains("regulator asked"), "{err}");
    assert_eq!(outside_home(&env), before);
}

#[test]
fn a_source_shared_by_two_handovers_needs_both_clear() {
    let World {
        env,
        recipient,
        data,
    } = World::new("clients/acme", make_tree);
    let one = env.export_with(&data, &["-r", &recipient, "--name", "one"]);
    let two = env.export_with(&data, &["-r", &recipient, "--name", "two"]);
    let (id1, id2) = (one.handover_id.as_str(), two.handover_id.as_str());
    receive(&env, &one);
    let before = outside_home(&env);

    // Handover two has no receipt: deleting the shared source is refused, both are named.
    let o = env.run(&["--json", "delete", "--dry-run", id1]);
    assert_code(&o, 3);
    let d: ShredSummary = parse(&o.stdout);
    assert_eq!(
        d.refused.as_ref().unwrap().kind.as_str(),
        "shared_path_not_clear"
    );
    let named: Vec<&str> = d.handovers.iter().map(|h| h.handover_id.as_str()).collect();
    assert!(named.contains(&id1) && named.contains(&id2), "{d:?}");
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", id1]), 3);
    assert_eq!(kind, "shared_path_not_clear", "{err}");
    assert!(
        err.contains(id2) && err.contains("handover confirm"),
        "{err}"
    );

    // Held, handover two refuses the deletion of one as well.
    assert_ok(&env.run(&["hold", id2, "--reason", "dispute"]));
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", id1]), 3);
    assert_eq!(kind, "handover_held", "{err}");
    assert!(err.contains(id2) && err.contains("dispute"), "{err}");
    assert_eq!(outside_home(&env), before);

    // Released and received, both are clear: the shared source goes.
    assert_ok(&env.run(&["release", id2]));
    receive(&env, &two);
    assert_ok(&env.run(&["--json", "delete", "--yes", id1]));
    assert!(!data.exists());
    assert!(two.archive_path.exists());
}

#[test]
fn two_deletes_at_once_run_one_job() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let dir = env.path("fp");
    let mut first = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut first, &dir, "shred.verified");
    let second = env.run(&["--json", "delete", "--yes", &id]);
    let (kind, err) = refused(&second, 3);
    assert_eq!(kind, "deletion_running", "{err}");
    assert!(
        err.contains(&format!("process {}", first.id())),
        "names the other process: {err}"
    );
    assert!(!err.contains("mismatch"), "{err}");
    go(&dir, "shred.verified");
    let o = first.wait_with_output().unwrap();
    let d = summary(&o);
    assert!(!env.path("clients/acme").exists());
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
    assert_eq!(job_of(&env, &id), ("done".to_string(), 1));
    // Run again, it finds the job done.
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", &id]), 3);
    assert_eq!(kind, "already_deleted");
    assert!(err.contains(d.certificate_id.as_deref().unwrap()), "{err}");
}

#[test]
fn delete_beside_run_due_runs_one_job() {
    let (env, id, s) = exported();
    receive(&env, &s);
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-01", "--allow-past"]));
    // run-due first, held inside its deletion; delete beside it refuses.
    let dir = env.path("fp");
    let mut due = spawn_paused(&env, "shred.verified=pause", &dir, &["--json", "run-due"]);
    wait_reached(&mut due, &dir, "shred.verified");
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", &id]), 3);
    assert_eq!(kind, "deletion_running", "{err}");
    assert!(err.contains(&format!("process {}", due.id())), "{err}");
    let j: Jobs = parse(&env.run(&["--json", "jobs"]).stdout);
    assert_eq!(j.jobs[0].status.as_str(), "running", "{:?}", j.jobs);
    go(&dir, "shred.verified");
    let o = due.wait_with_output().unwrap();
    assert_ok(&o);
    assert_eq!(parse::<RunDueReport>(&o.stdout).deleted, 1);
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
    assert_eq!(job_of(&env, &id).0, "done");
    let j: Jobs = parse(&env.run(&["--json", "jobs"]).stdout);
    assert_eq!(j.jobs[0].status.as_str(), "done", "{:?}", j.jobs);
}

#[test]
fn run_due_beside_a_running_delete_leaves_the_job_to_it() {
    let (env, id, s) = exported();
    receive(&env, &s);
    assert_ok(&env.run(&["schedule", &id, "--at", "2020-01-01", "--allow-past"]));
    let dir = env.path("fp");
    let mut del = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut del, &dir, "shred.verified");
    let r = env.run(&["--json", "run-due"]);
    assert_ok(&r);
    let v: RunDueReport = parse(&r.stdout);
    assert_eq!(v.jobs[0].result.as_str(), "running_elsewhere", "{v:?}");
    assert!(
        v.jobs[0].detail.contains(&format!("process {}", del.id())),
        "{v:?}"
    );
    go(&dir, "shred.verified");
    assert_ok(&del.wait_with_output().unwrap());
    // The next run-due closes the job with the delete's certificate.
    let r = env.run(&["--json", "run-due"]);
    assert_ok(&r);
    assert_eq!(
        parse::<RunDueReport>(&r.stdout).jobs[0].result.as_str(),
        "deleted"
    );
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
}

#[test]
fn a_killed_deletes_lease_is_taken_over_by_the_next_run() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let o = env
        .cmd()
        .args(["--json", "delete", "--yes", &id])
        .env("HANDOVER_FAILPOINTS", "shred.verified=kill")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "killed by SIGKILL");
    assert_eq!(job_of(&env, &id).0, "running");
    // The next run takes the dead process's lease over, and holds it: a third is refused.
    let dir = env.path("fp");
    let mut next = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut next, &dir, "shred.verified");
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", &id]), 3);
    assert_eq!(kind, "deletion_running", "{err}");
    assert!(err.contains(&format!("process {}", next.id())), "{err}");
    go(&dir, "shred.verified");
    let d = summary(&next.wait_with_output().unwrap());
    assert!(d.resumed);
    assert_eq!(job_of(&env, &id), ("done".to_string(), 2));
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
}

#[test]
fn two_shreds_of_overlapping_paths_run_one_job() {
    let env = Env::keyed();
    let tree = env.path("scratch/tree");
    make_tree(&tree);
    let keep = env.path("keep");
    make_tree(&keep);
    let kept = state_of(&keep);
    let dir = env.path("fp");
    let t = tree.to_str().unwrap();
    let mut first = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "shred", "--yes", t],
    );
    wait_reached(&mut first, &dir, "shred.verified");
    let inside = tree.join("a");
    for p in [t, inside.to_str().unwrap()] {
        let (kind, err) = refused(&env.run(&["--json", "shred", "--yes", p]), 3);
        assert_eq!(kind, "deletion_running", "{p}: {err}");
        assert!(err.contains(&format!("process {}", first.id())), "{err}");
    }
    go(&dir, "shred.verified");
    summary(&first.wait_with_output().unwrap());
    assert!(!tree.exists());
    assert_eq!(
        certificates_in(&env.home().join("certificates")).len(),
        1,
        "one certificate"
    );
    assert_eq!(state_of(&keep), kept);
}

#[test]
fn the_homes_keys_and_database_cannot_be_shredded() {
    let (env, _, _) = exported();
    let home = env.home();
    assert_ok(&env.run(&["keygen", "--age"]));
    std::fs::write(home.join("other.key"), b"a key\n").unwrap();
    std::fs::create_dir_all(home.join("certificates")).unwrap();
    let real = std::fs::canonicalize(&home).unwrap();
    let link = env.path("home-link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let before = state_of(&home);
    let shred = |h: &Path, p: &Path| {
        env.cmd_with_home(h)
            .args(["--json", "shred", "--yes"])
            .arg(p)
            .output()
            .unwrap()
    };
    let names = [
        "audit.key",
        "audit.pub",
        "handover.key",
        "handover.pub",
        "age.key",
        "other.key",
        "state.db",
        "certificates",
        "state.db-wal",
        "state.db-shm",
        "state.db-journal",
    ];
    for name in names {
        // Through the home as given, through its link, and with the home given as the link.
        for (h, p) in [
            (&home, home.join(name)),
            (&home, link.join(name)),
            (&link, real.join(name)),
            (&link, link.join(name)),
        ] {
            let o = shred(h, &p);
            let (kind, err) = refused(&o, 3);
            assert_eq!(kind, "deletion_blocked", "{}: {err}", p.display());
            assert!(
                err.contains(&format!(
                    "{}: is or holds the handover home",
                    real.join(name).display()
                )) || err.contains(&format!("{}: is or holds the handover home", p.display())),
                "{}: {err}",
                p.display()
            );
        }
    }
    // The link that names the home is refused too.
    let (kind, err) = refused(&shred(&link, &link), 3);
    assert_eq!(kind, "deletion_blocked", "{err}");
    assert_eq!(state_of(&home), before, "the home changed");
    assert!(link.is_symlink());
    // Matched by the whole name: files that only start like one are ordinary files.
    for name in ["state.db.bak", "certificates-old.txt"] {
        std::fs::write(home.join(name), b"copy\n").unwrap();
        assert_ok(&shred(&home, &home.join(name)));
        assert!(!home.join(name).exists());
    }
    assert_ok(&env.run(&["audit", "verify"]));
}

#[test]
fn a_missing_audit_key_says_how_to_recover_and_rekey_is_audited() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let old_pub = std::fs::read_to_string(env.home().join("audit.pub")).unwrap();
    std::fs::remove_file(env.home().join("audit.key")).unwrap();
    let before = outside_home(&env);
    let events = json(&env.run(&["--json", "audit", "verify"]).stdout)["events"]
        .as_u64()
        .unwrap();

    // A hold cannot be signed into the log: refused, saying exactly why and how to go on.
    let (kind, err) = refused(&env.run(&["--json", "hold", &id, "--reason", "case 9"]), 1);
    assert_eq!(kind, "audit_key_missing", "{err}");
    assert!(!err.contains("already exists"), "{err}");
    assert!(
        err.contains("audit.key is missing")
            && err.contains("Restore audit.key from your backup")
            && err.contains("handover audit rekey --reason"),
        "{err}"
    );
    // Nor can anything be deleted meanwhile (a deletion's certificate is audited).
    let (kind, _) = refused(&env.run(&["--json", "delete", "--yes", &id]), 1);
    assert_eq!(kind, "audit_key_missing");
    assert_eq!(outside_home(&env), before, "deleted without an audit key");
    assert!(
        !env.home().join("audit.key").exists(),
        "no key made silently"
    );

    // Re-keying checks the log with the old audit.pub and records itself.
    let (kind, _) = refused(&env.run(&["--json", "audit", "rekey", "--reason", " "]), 3);
    assert_eq!(kind, "reason_required");
    let r = env.run(&["--json", "audit", "rekey", "--reason", "laptop stolen"]);
    assert_ok(&r);
    let r = json(&r.stdout);
    assert_eq!(r["previous_head_verified"], true);
    assert_eq!(r["event_seq"].as_u64().unwrap(), events + 1);
    let kept = PathBuf::from(r["previous_public_key"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(kept).unwrap(), old_pub);
    assert_ok(&env.run(&["hold", &id, "--reason", "case 9"]));
    let v = json(&env.run(&["--json", "audit", "verify"]).stdout);
    assert_eq!(v["events"].as_u64().unwrap(), events + 2);
    assert_eq!(v["key_id"], r["new_key_id"]);
    let (kind, _) = refused(
        &env.run(&["--json", "audit", "rekey", "--reason", "again"]),
        3,
    );
    assert_eq!(kind, "audit_key_present");
}

#[test]
fn eight_commands_at_once_on_a_fresh_home_all_succeed() {
    let env = Env::new();
    // Each process pauses after reading the schema version of the empty database and before
    // migrating; all are released together.
    let mut children = Vec::new();
    for i in 0..8 {
        let dir = env.path(&format!("fp{i}"));
        // run-due opens (and so creates) the database; jobs no longer does on a home
        // without one, it says there is no state yet.
        let args: &[&str] = if i == 0 {
            &["keygen", "--no-password"]
        } else {
            &["--json", "run-due"]
        };
        children.push((
            dir.clone(),
            spawn_paused(&env, "store.migrate=pause", &dir, args),
        ));
    }
    for (dir, c) in &mut children {
        wait_reached(c, dir, "store.migrate");
    }
    for (dir, _) in &children {
        go(dir, "store.migrate");
    }
    for (_, c) in children {
        let o = c.wait_with_output().unwrap();
        assert_ok(&o);
    }
    let v = json(&env.run(&["--json", "audit", "verify"]).stdout);
    assert_eq!(v["events"], 1, "the keygen");
}

/// `shred --yes PATH` is refused (exit 3) with error `kind`, and nothing outside the home
/// changed.
fn assert_shred_refused(env: &Env, path: &Path, kind: &str) {
    let before = outside_home(env);
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(path)
        .output()
        .unwrap();
    let (got, err) = refused(&o, 3);
    assert_eq!(got, kind, "{err}");
    assert_eq!(outside_home(env), before);
}

// ---- Found by attacking the gates (each failed before its fix) ----------------------------

/// A home named `LINK/..` is, for the kernel, the parent of LINK's target: its keys and
/// database are protected by their inodes, however the home or the files were named.
#[test]
fn a_home_named_through_a_symlink_and_dotdot_is_still_protected() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("real/sub")).unwrap();
    std::fs::create_dir_all(env.path("x")).unwrap();
    std::os::unix::fs::symlink(env.path("real/sub"), env.path("x/lnk")).unwrap();
    let home = env.path("x/lnk/..");
    let o = env
        .cmd_with_home(&home)
        .args(["keygen", "--no-password"])
        .output()
        .unwrap();
    assert_ok(&o);
    let key = env.path("real/audit.key");
    let db = env.path("real/state.db");
    let before = (std::fs::read(&key).unwrap(), std::fs::read(&db).unwrap());
    let o = env
        .cmd_with_home(&home)
        .args(["--json", "shred", "--yes"])
        .arg(&key)
        .arg(&db)
        .output()
        .unwrap();
    let (kind, err) = refused(&o, 3);
    assert_eq!(kind, "deletion_blocked", "{err}");
    assert!(err.contains("handover home's own"), "{err}");
    assert_eq!(
        (std::fs::read(&key).unwrap(), std::fs::read(&db).unwrap()),
        before
    );
}

/// A hold cleared in the schedules table alone stops `shred` of the held source too, not only
/// `delete`: every handover a run touches is checked against the audit log.
#[test]
fn a_hold_cleared_with_sql_still_stops_shred_of_the_source() {
    let (env, id, s) = exported();
    receive(&env, &s);
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation"]));
    sql_exec(
        &env.home().join("state.db"),
        "UPDATE schedules SET hold_reason = NULL, held_at = NULL",
    );
    assert_shred_refused(&env, &env.path("clients/acme"), "audit_gate_mismatch");
}

/// A held source moved away with a symlink left in its place: the hold follows the data.
#[test]
fn a_held_source_moved_behind_a_symlink_is_still_held() {
    let (env, id, _) = exported();
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation"]));
    let src = env.path("clients/acme");
    let moved = env.path("clients/acme-moved");
    std::fs::rename(&src, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &src).unwrap();
    assert_shred_refused(&env, &moved, "handover_held");
}

/// A handover exported over a tree and held while a `shred` of that tree plans: the run reads
/// the handovers again once its lease is taken, and the hold wins.
#[test]
fn a_handover_recorded_and_held_while_shred_plans_wins() {
    let (env, recipient) = Env::with_keys();
    let tree = env.path("tree");
    make_tree(&tree.join("src"));
    let dir = env.path("fp");
    let mut run = spawn_paused(
        &env,
        "shred.before_job_start=pause",
        &dir,
        &["--json", "shred", "--yes", tree.to_str().unwrap()],
    );
    wait_reached(&mut run, &dir, "shred.before_job_start");
    let s = env.export(&tree.join("src"), &recipient);
    let id = s.handover_id.as_str();
    assert_ok(&env.run(&["hold", id, "--reason", "litigation"]));
    let before = outside_home(&env);
    go(&dir, "shred.before_job_start");
    let o = run.wait_with_output().unwrap();
    let (kind, err) = refused(&o, 3);
    assert_eq!(kind, "handover_held", "{err}");
    assert_eq!(outside_home(&env), before);
    assert!(tree.join("src/f0.bin").exists());
}

/// The lease is also a kernel lock: deleting its row with SQL does not let a second deletion
/// of the same handover run beside the first.
#[test]
fn a_lease_row_deleted_with_sql_does_not_let_a_second_delete_run() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let dir = env.path("fp");
    let mut first = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut first, &dir, "shred.verified");
    sql_exec(
        &env.home().join("state.db"),
        "DELETE FROM deletion_leases; DELETE FROM deletion_lease_paths;",
    );
    let (kind, err) = refused(&env.run(&["--json", "delete", "--yes", &id]), 3);
    assert_eq!(kind, "deletion_running", "{err}");
    go(&dir, "shred.verified");
    let o = first.wait_with_output().unwrap();
    assert_ok(&o);
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
}

/// A hold placed while a deletion runs stops it at the next file boundary (exit 3): no
/// certificate claims a deletion finished under a hold. Released, the same command resumes.
#[test]
fn a_hold_placed_while_delete_runs_stops_it() {
    let (env, id, s) = exported();
    receive(&env, &s);
    let dir = env.path("fp");
    let mut first = spawn_paused(
        &env,
        "shred.verified=pause",
        &dir,
        &["--json", "delete", "--yes", &id],
    );
    wait_reached(&mut first, &dir, "shred.verified");
    assert_ok(&env.run(&["hold", &id, "--reason", "litigation, placed mid-run"]));
    go(&dir, "shred.verified");
    let o = first.wait_with_output().unwrap();
    let (kind, err) = refused(&o, 3);
    assert_eq!(kind, "handover_held", "{err}");
    assert!(certificates_in(&out_dir(&s)).is_empty());
    assert!(env.path("clients/acme").exists(), "stopped before the end");
    assert_ok(&env.run(&["release", &id]));
    let o = env.run(&["--json", "delete", "--yes", &id]);
    assert_ok(&o);
    assert!(!env.path("clients/acme").exists());
    assert_eq!(certificates_in(&out_dir(&s)).len(), 1);
}
