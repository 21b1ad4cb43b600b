//! Issue 12, sources: `export s3://BUCKET/PREFIX/` against the real S3 server (SeaweedFS,
//! `common::S3`). The objects under the prefix become the bag's files, each read by the
//! version listed and recorded; an object written during the export fails it as a changed
//! file does; a key that cannot be a path is refused before any output.

use std::fs;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `handover --json export SRC --client acme --out OUT -r CLIENT` against the server, with
/// the failpoints `spec` (empty: none).
fn export(env: &Env, s3: &S3, src: &str, out: &Path, recipient: &str, spec: &str) -> Child {
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    let mut c = env.cmd();
    s3.env(&mut c)
        .args(["--json", "export", src, "--client", "acme", "--out"])
        .arg(out)
        .args(["-r", recipient])
        .env("HANDOVER_FAILPOINTS", spec)
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("run handover")
}

/// Waits until the export pauses at `name`; false when it ended first.
fn reached(env: &Env, child: &mut Child, name: &str) -> bool {
    let flag = env.path("fp").join(format!("{name}.reached"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !flag.exists() {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "{name} was never reached");
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// A versioned prefix with nested keys, a folder marker and an older version of one key is
/// exported to a local outbox: `verify` passes, the extracted files are the objects' current
/// contents, and the `objects` table records the version id of every object read.
#[test]
fn s3_source_prefix_exports_current_versions() {
    let Some(s3) = S3::get() else { return };
    let (env, recipient) = Env::with_keys();
    let b = s3.bucket("src-export");
    let old = s3.put(&b, "acme/a.txt", b"old contents\n").unwrap();
    let files: [(&str, &[u8]); 3] = [
        ("acme/a.txt", b"current contents\n"),
        ("acme/d/e/f.txt", b"nested\n"),
        ("acme/d.txt", b"beside the folder\n"),
    ];
    let mut versions = Vec::new();
    for (k, body) in files {
        versions.push((k, s3.put(&b, k, body).expect("a version id")));
    }
    s3.put(&b, "acme/empty/", b"");
    s3.put(&b, "other/not-this.txt", b"outside the prefix\n");

    let out = env.path("out");
    let o = export(&env, s3, &format!("s3://{b}/acme/"), &out, &recipient, "")
        .wait_with_output()
        .unwrap();
    assert_ok(&o);
    let summary = json(&o.stdout);
    assert_eq!(summary["files"], 3, "{summary}");
    // d, d/e and the folder marker's empty/.
    assert_eq!(summary["directories"], 3, "{summary}");

    let archive = summary["archive_path"].as_str().unwrap();
    let got = env.path("got");
    let v = env.run(&[
        "verify",
        archive,
        "-i",
        env.path("client.agekey").to_str().unwrap(),
        "--signer",
        env.public_key().to_str().unwrap(),
        "--extract",
        got.to_str().unwrap(),
    ]);
    assert_ok(&v);
    for (k, body) in files {
        let rel = k.strip_prefix("acme/").unwrap();
        assert_eq!(fs::read(got.join("data").join(rel)).unwrap(), body, "{rel}");
    }
    assert!(
        got.join("data/empty").is_dir(),
        "the folder marker is a folder"
    );
    assert!(!got.join("data/not-this.txt").exists());

    let id = summary["handover_id"].as_str().unwrap();
    let rows = sql_query(
        &env.home().join("state.db"),
        &format!(
            "SELECT key, version_id, bytes FROM objects WHERE handover_id = '{id}' AND role = 'source' ORDER BY key"
        ),
    );
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (k, v) in &versions {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("{k}|{v}|"))),
            "{k} is recorded with the version read, {v}: {rows:?}"
        );
    }
    assert!(!rows.iter().any(|r| r.contains(&old)), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.starts_with("acme/empty/|")),
        "{rows:?}"
    );
    let src = sql_query(
        &env.home().join("state.db"),
        &format!("SELECT source_path FROM handovers WHERE id = '{id}'"),
    );
    assert_eq!(src, format!("s3://{b}/acme/"));

    into_a_bucket(&env, s3, &b, &recipient);
}

/// The same prefix exported into the bucket (two clients in one process): never inside the
/// source prefix; beside it, the outputs and the sources are all recorded.
fn into_a_bucket(env: &Env, s3: &S3, b: &str, recipient: &str) {
    let inside = export(
        env,
        s3,
        &format!("s3://{b}/acme/"),
        Path::new(&format!("s3://{b}/acme/outbox/")),
        recipient,
        "",
    )
    .wait_with_output()
    .unwrap();
    let err = assert_code(&inside, 1);
    assert_eq!(
        json(&inside.stdout)["error"]["kind"],
        "out_inside_data",
        "{err}"
    );
    let o = export(
        env,
        s3,
        &format!("s3://{b}/acme/"),
        Path::new(&format!("s3://{b}/outbox/")),
        recipient,
        "",
    )
    .wait_with_output()
    .unwrap();
    assert_ok(&o);
    let id = json(&o.stdout)["handover_id"].as_str().unwrap().to_string();
    let roles = sql_query(
        &env.home().join("state.db"),
        &format!(
            "SELECT role, count(*) FROM objects WHERE handover_id = '{id}' GROUP BY role ORDER BY role"
        ),
    );
    assert_eq!(roles, "archive|1\nmanifest|1\nsignature|1\nsource|4");
}

/// An object overwritten while the export runs (after it was read, in a versioned bucket;
/// before it is read, in one without versions) fails the export with `file_changed`, exit 1,
/// and leaves nothing: no outputs, no temp files, no handover recorded.
#[test]
fn s3_source_object_overwritten_during_export_fails_it() {
    let Some(s3) = S3::get() else { return };
    for (versioned, overwrite) in [(true, "acme/a.txt"), (false, "acme/b.txt")] {
        let (env, recipient) = Env::with_keys();
        let b = if versioned {
            s3.bucket("src-changed")
        } else {
            s3.unversioned_bucket("src-changed-plain")
        };
        s3.put(&b, "acme/a.txt", b"first object\n");
        s3.put(&b, "acme/b.txt", b"second object\n");
        let out = env.path("out");
        // Paused after the first object (a.txt) is read.
        let mut child = export(
            &env,
            s3,
            &format!("s3://{b}/acme/"),
            &out,
            &recipient,
            "export.remote_object=pause",
        );
        assert!(
            reached(&env, &mut child, "export.remote_object"),
            "the export ended before the pause point: {:?}",
            child.wait_with_output().unwrap()
        );
        s3.put(&b, overwrite, b"written during the export\n");
        fs::write(env.path("fp").join("export.remote_object.go"), b"").unwrap();
        let o: Output = child.wait_with_output().unwrap();
        let err = assert_code(&o, 1);
        assert_eq!(json(&o.stdout)["error"]["kind"], "file_changed", "{err}");
        assert!(err.contains(&format!("s3://{b}/{overwrite}")), "{err}");
        env.assert_nothing_left(&out);
    }
}

/// A key that cannot be a path of the bag is refused before any output, naming it. SeaweedFS
/// itself refuses `..` and `.` segments and folds `//`, so the key here is the one such a
/// service still takes: a file `a` beside objects under `a/`.
#[test]
fn s3_source_bad_key_is_refused_before_any_output() {
    let Some(s3) = S3::get() else { return };
    let (env, recipient) = Env::with_keys();
    let b = s3.bucket("src-badkey");
    s3.put(&b, "acme/a", b"a file\n");
    s3.put(&b, "acme/a/b", b"a file inside a folder a\n");
    let out = env.path("out");
    let o = export(&env, s3, &format!("s3://{b}/acme/"), &out, &recipient, "")
        .wait_with_output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "bad_key", "{err}");
    assert!(err.contains(&format!("s3://{b}/acme/a:")), "{err}");
    assert!(err.contains(&format!("s3://{b}/acme/a/b")), "{err}");
    assert!(!out.exists(), "the output folder was created");
    env.assert_nothing_left(&out);
}

/// A source prefix exported and then deleted: every version of every source key goes (the
/// older one too) with its delete markers, and the certificate lists the keys as logical
/// deletes. What was not exported stays: an object outside the prefix, and a key deleted
/// before the export (only its old version and a delete marker left; README says so). Before that, a version written after the
/// export (never handed over) makes delete refuse in the plan, exit 3, nothing touched.
#[test]
fn s3_source_prefix_deleted_with_all_its_versions() {
    let Some(s3) = S3::get() else { return };
    let (env, recipient) = Env::with_keys();
    let b = s3.bucket("src-delete");
    s3.put(&b, "acme/a.txt", b"old\n");
    s3.put(&b, "acme/a.txt", b"current\n");
    s3.put(&b, "acme/sub/b.txt", b"b\n");
    s3.put(&b, "acme/gone.txt", b"deleted before the export\n");
    s3.delete(&b, "acme/gone.txt");
    s3.put(&b, "acme-other/keep.txt", b"not the client's\n");
    let out = env.path("out");
    let o = export(&env, s3, &format!("s3://{b}/acme/"), &out, &recipient, "")
        .wait_with_output()
        .unwrap();
    assert_ok(&o);
    let id = json(&o.stdout)["handover_id"].as_str().unwrap().to_string();
    confirm_receipt(&env, &id);

    // A version written after the export blocks the deletion.
    let newer = s3
        .put(&b, "acme/sub/b.txt", b"written after the export\n")
        .unwrap();
    let run = |args: &[&str]| {
        let mut c = env.cmd();
        s3.env(&mut c);
        c.args(args).output().unwrap()
    };
    let o = run(&["delete", &id, "--yes"]);
    let err = assert_code(&o, 3);
    assert!(
        err.contains("acme/sub/b.txt") && err.contains(&newer),
        "{err}"
    );
    assert_eq!(s3.versions(&b, "acme/").len(), 6, "nothing was touched");

    // The provider decides: the newer version goes by hand, then delete runs.
    s3.aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        &b,
        "--key",
        "acme/sub/b.txt",
        "--version-id",
        &newer,
    ]);
    let o = run(&["--json", "delete", &id, "--yes"]);
    assert_ok(&o);
    let left = s3.versions(&b, "");
    let mut left_keys: Vec<&str> = left.iter().map(|v| v.0.as_str()).collect();
    left_keys.dedup();
    assert_eq!(
        left_keys,
        ["acme-other/keep.txt", "acme/gone.txt"],
        "{left:?}"
    );
    let cert = json(&o.stdout);
    let text = cert.to_string();
    assert!(text.contains("logical_delete"), "{text}");
}
