//! No client file name in clear after a deletion (issue 9): the certificate lists each path
//! as a salted SHA-256, the state database keeps only that form once the job is done, the
//! evidence pack and the audit log carry no name either; the client checks coverage on the
//! bag it extracted with `handover certificate check`; `--names clear` keeps names.

use std::path::{Path, PathBuf};

use handover::VerifyReport;

use crate::common::*;
use crate::deletion::*;

/// Distinctive parts of the client's file and folder names: none may survive a deletion.
const NEEDLES: &[&str] = &["Quixotic", "Zoë", "Ärztebrief", "Krankenakte", "日本語"];

/// A client tree whose names a search can find: unicode, spaces, a dash.
fn client_tree(root: &Path) {
    std::fs::create_dir_all(root.join("Vertraulich Krankenakte/sub dir")).unwrap();
    std::fs::write(
        root.join("Patient Quixotic Zoë – results.pdf"),
        pattern(5000),
    )
    .unwrap();
    std::fs::write(
        root.join("Vertraulich Krankenakte/Ärztebrief Müller.txt"),
        pattern(100),
    )
    .unwrap();
    std::fs::write(
        root.join("Vertraulich Krankenakte/sub dir/日本語 ファイル.bin"),
        pattern(70_000),
    )
    .unwrap();
    std::fs::write(root.join("plain.txt"), b"x").unwrap();
}

/// An exported handover of the client tree, extracted by the client (the bag in `bag/`)
/// and confirmed with the receipt code. Returns (env, handover id, data dir, bag dir).
fn exported_and_received() -> (Env, String, PathBuf, PathBuf) {
    let (World { env, data, .. }, s, id) = World::exported("clients/acme", client_tree);
    let bag = env.path("bag");
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(&s.archive_path)
        .arg("-i")
        .arg(env.path("client.agekey"))
        .arg("--extract")
        .arg(&bag)
        .output()
        .unwrap();
    assert_ok(&o);
    let code = parse::<VerifyReport>(&o.stdout).receipt_code.unwrap();
    assert_ok(&env.run(&["confirm", &id, "--code", &code]));
    assert!(bag.join("data/plain.txt").is_file(), "the bag is extracted");
    (env, id, data, bag)
}

fn delete(env: &Env, id: &str, extra: &[&str]) -> ShredSummary {
    let o = env
        .cmd()
        .args(["--json", "delete", "--yes", id])
        .args(extra)
        .output()
        .unwrap();
    summary(&o)
}

/// Which needles occur in `bytes`.
fn found(bytes: &[u8]) -> Vec<&'static str> {
    NEEDLES
        .iter()
        .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
        .copied()
        .collect()
}

/// Every value of every row of every table of the database, as bytes (BLOBs included): what
/// `sqlite3 state.db .dump` holds.
fn dump(db: &Path) -> Vec<u8> {
    let c = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "deletion_entries"), "{tables:?}");
    let mut out = Vec::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        out.extend_from_slice(b)
                    }
                    v => out.extend_from_slice(format!("{v:?}").as_bytes()),
                }
                out.push(b'|');
            }
            out.push(b'\n');
        }
    }
    out
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.extend(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn check(env: &Env, cert: &Path, bag: &Path) -> std::process::Output {
    env.cmd()
        .args(["--json", "certificate", "check"])
        .arg(cert)
        .arg("--bag")
        .arg(bag)
        .output()
        .unwrap()
}

#[test]
fn after_a_delete_no_client_file_name_is_in_the_certificate_the_evidence_or_the_database() {
    let (env, id, data, _bag) = exported_and_received();
    let d = delete(&env, &id, &[]);
    assert!(!data.exists());
    let cert_path = d.certificate_path.clone().unwrap();
    let cert_bytes = std::fs::read(&cert_path).unwrap();
    assert_eq!(found(&cert_bytes), Vec::<&str>::new(), "in the certificate");

    // The salted form, recomputable as documented: sha256("SALT:PATH").
    let c = certificate(&env, &d);
    assert_eq!(c["names"], "salted_sha256");
    let salt = c["names_salt"].as_str().unwrap();
    assert_eq!(salt.len(), 64);
    for e in c["entries"].as_array().unwrap() {
        assert!(e.get("path").is_none(), "{e}");
        assert_eq!(e["path_sha256"].as_str().unwrap().len(), 64, "{e}");
    }
    let want =
        sha256_hex(format!("{salt}:Vertraulich Krankenakte/Ärztebrief Müller.txt").as_bytes());
    let e = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path_sha256"] == want.as_str())
        .expect("the letter is listed under its salted hash");
    assert_eq!(e["bytes"], 100);
    assert_eq!(e["sha256"], sha256_hex(&pattern(100)).as_str());
    // The source root is hashed too; the outbox files keep their names.
    for r in c["roots"].as_array().unwrap() {
        let outbox = ["archive", "manifest", "signature"].contains(&r["label"].as_str().unwrap());
        assert_eq!(r.get("path").is_some(), outbox, "{r}");
        assert_eq!(r.get("path_sha256").is_some(), !outbox, "{r}");
    }

    // The evidence pack: every file of it.
    let ev = env.path("evidence");
    let o = env
        .cmd()
        .args(["--json", "evidence", &id, "--out"])
        .arg(&ev)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        ev.join("deletion").is_dir(),
        "the pack holds the certificate"
    );
    assert_eq!(
        found(&all_bytes(&ev)),
        Vec::<&str>::new(),
        "in the evidence pack"
    );

    // The state database: every value of every table, and the file's raw bytes (freed pages
    // and free blocks included: secure_delete zeroes them).
    let db = env.home().join("state.db");
    assert_eq!(
        found(&dump(&db)),
        Vec::<&str>::new(),
        "in a dump of state.db"
    );
    assert_eq!(
        sql_query(
            &db,
            "SELECT count(*) FROM deletion_entries WHERE CAST(rel_path AS TEXT) LIKE 'salted-sha256:%'"
        ),
        sql_query(
            &db,
            "SELECT count(*) FROM deletion_entries WHERE rel_path != ''"
        ),
    );
    assert_eq!(
        sql_query(&db, "SELECT names FROM deletion_jobs"),
        "salted_sha256"
    );
    assert_eq!(
        found(&std::fs::read(&db).unwrap()),
        Vec::<&str>::new(),
        "in the raw state.db"
    );
}

#[test]
fn a_shredded_file_named_after_a_client_is_hashed_as_a_root() {
    let (env, _) = Env::with_keys();
    let f = env.path("Patient Quixotic Zoë.pdf");
    std::fs::write(&f, pattern(4096)).unwrap();
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&f)
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(!f.exists());
    let cert = std::fs::read(s.certificate_path.as_ref().unwrap()).unwrap();
    assert_eq!(found(&cert), Vec::<&str>::new(), "in the certificate");
    let db = env.home().join("state.db");
    assert_eq!(
        found(&dump(&db)),
        Vec::<&str>::new(),
        "in a dump of state.db"
    );
    assert_eq!(
        found(&std::fs::read(&db).unwrap()),
        Vec::<&str>::new(),
        "in the raw state.db"
    );
}

#[test]
fn the_client_sees_which_of_its_files_the_certificate_covers() {
    let (env, id, _data, bag) = exported_and_received();
    let d = delete(&env, &id, &[]);
    let cert = d.certificate_path.clone().unwrap();

    let o = check(&env, &cert, &bag);
    assert_ok(&o);
    let r = json(&o.stdout);
    assert_eq!(r["all_covered"], true, "{r}");
    assert_eq!(r["names"], "salted_sha256");
    assert_eq!(r["signature_file"], true);
    assert_eq!(r["signature_valid"], true);
    assert_eq!(r["covered"].as_array().unwrap().len(), 4, "{r}");
    assert!(r["not_covered"].as_array().unwrap().is_empty());
    // Every file's SHA-256 was compared with the bag's manifest.
    for f in r["covered"].as_array().unwrap() {
        assert_eq!(f["sha256_compared"], true, "{f}");
    }

    // A file the certificate does not cover: exit 3, named in both forms of output.
    std::fs::write(
        bag.join("data/Vertraulich Krankenakte/new Quixotic.txt"),
        b"kept",
    )
    .unwrap();
    let o = check(&env, &cert, &bag);
    assert_code(&o, 3);
    let r = json(&o.stdout);
    assert_eq!(r["all_covered"], false);
    let missing = r["not_covered"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{r}");
    assert_eq!(
        missing[0]["path"],
        "Vertraulich Krankenakte/new Quixotic.txt"
    );
    assert_eq!(r["covered"].as_array().unwrap().len(), 4);
    let o = env
        .cmd()
        .args(["certificate", "check"])
        .arg(&cert)
        .arg("--bag")
        .arg(&bag)
        .output()
        .unwrap();
    assert_code(&o, 3);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("new Quixotic.txt") && out.contains("NOT covered"),
        "{out}"
    );

    // A file whose content differs from what was deleted is not covered either.
    std::fs::remove_file(bag.join("data/Vertraulich Krankenakte/new Quixotic.txt")).unwrap();
    std::fs::write(bag.join("data/plain.txt"), b"y").unwrap();
    let o = check(&env, &cert, &bag);
    assert_code(&o, 3);
    let r = json(&o.stdout);
    let why = r["not_covered"][0]["reason"].as_str().unwrap_or_default();
    assert!(why.contains("SHA-256"), "{r}");
    assert_eq!(r["not_covered"][0]["path"], "plain.txt");
}

#[test]
fn names_clear_keeps_the_names_in_the_certificate_and_the_database() {
    let (env, id, _data, bag) = exported_and_received();
    let d = delete(&env, &id, &["--names", "clear"]);
    let c = certificate(&env, &d);
    assert_eq!(c["names"], "clear");
    assert!(c.get("names_salt").is_none());
    let paths: Vec<&str> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"Vertraulich Krankenakte/Ärztebrief Müller.txt"),
        "{paths:?}"
    );
    let db = env.home().join("state.db");
    assert_eq!(found(&dump(&db)).len(), NEEDLES.len(), "kept in clear");
    assert_eq!(sql_query(&db, "SELECT names FROM deletion_jobs"), "clear");
    // The client's check works on names in clear too.
    let o = check(&env, d.certificate_path.as_deref().unwrap(), &bag);
    assert_ok(&o);
    assert_eq!(json(&o.stdout)["names"], "clear");
}

/// `run-due` records a failure in the audit log, which is kept forever: the failure here (a
/// hard link to a file outside the data) names a client file, and the event must not.
#[test]
fn a_failed_run_due_records_no_client_file_name_in_the_audit_log() {
    let (env, id, data, _bag) = exported_and_received();
    let outside = env.path("elsewhere");
    std::fs::create_dir(&outside).unwrap();
    std::fs::hard_link(
        data.join("Vertraulich Krankenakte/Ärztebrief Müller.txt"),
        outside.join("copy"),
    )
    .unwrap();
    assert_ok(&env.run(&["schedule", &id, "--at", "2099-01-01"]));
    let o = env.run_at("2099-02-01T00:00:00Z", &["--json", "run-due"]);
    assert_code(&o, 3);
    let r = json(&o.stdout);
    assert_eq!(r["failed"], 1, "{r}");
    // The operator still sees the whole message.
    assert!(
        r["jobs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Ärztebrief"),
        "{r}"
    );
    let db = env.home().join("state.db");
    let events = sql_query(
        &db,
        "SELECT details FROM audit_events WHERE command = 'run-due'",
    );
    assert!(
        events.contains("hard_link") || events.contains("deletion_blocked"),
        "{events}"
    );
    assert!(events.contains("withheld"), "{events}");
    assert_eq!(found(events.as_bytes()), Vec::<&str>::new(), "{events}");
}

/// Found by attacking `certificate check`: a certificate of another deletion (a shred of a
/// look-alike copy of the bag), or one without a valid signature, vouches for nothing.
#[test]
fn a_decoy_or_unsigned_certificate_covers_nothing() {
    let (env, _id, _data, bag) = exported_and_received();
    // The provider shreds a copy that looks like the bag's data, not the client's source.
    let decoy = env.path("decoy");
    copy_tree(&bag.join("data"), &decoy);
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&decoy)
        .output()
        .unwrap();
    let s = summary(&o);
    let cert = s.certificate_path.clone().unwrap();
    let o = check(&env, &cert, &bag);
    assert_code(&o, 3);
    let r = json(&o.stdout);
    assert_eq!(r["all_covered"], false, "{r}");
    assert!(
        r["refused"].as_str().unwrap().contains("not of handover"),
        "{r}"
    );
    // Without its signature file, even a matching certificate proves nothing.
    let mut sig = cert.clone().into_os_string();
    sig.push(".minisig");
    std::fs::remove_file(&sig).unwrap();
    let r = json(&check(&env, &cert, &bag).stdout);
    assert!(
        r["refused"].as_str().unwrap().contains("no signature"),
        "{r}"
    );
}

/// With the provider's public key, the client also learns the certificate is the provider's:
/// signed by the delegated certificate key that handover.pub authorises. Another key is
/// refused (exit 3), however well the files match.
#[test]
fn certificate_check_with_the_providers_key_says_whose_it_is() {
    let (env, id, _data, bag) = exported_and_received();
    let d = delete(&env, &id, &[]);
    let cert = d.certificate_path.clone().unwrap();
    let with = |key: &Path| {
        env.cmd()
            .args(["--json", "certificate", "check"])
            .arg(&cert)
            .arg("--bag")
            .arg(&bag)
            .arg("--signer")
            .arg(key)
            .output()
            .unwrap()
    };
    let o = with(&env.home().join("handover.pub"));
    assert_ok(&o);
    let r = json(&o.stdout);
    assert_eq!(r["provider_authorised"], true, "{r}");
    assert_eq!(r["all_covered"], true, "{r}");

    let o = with(&fixture("keys/client.pub"));
    assert_code(&o, 3);
    let r = json(&o.stdout);
    assert_eq!(r["provider_authorised"], false, "{r}");
    assert!(
        r["refused"]
            .as_str()
            .unwrap()
            .contains("not the provider's"),
        "{r}"
    );

    // Without --signer, as before: no provider field at all.
    let r = json(&check(&env, &cert, &bag).stdout);
    assert!(r.get("provider_authorised").is_none(), "{r}");
}
