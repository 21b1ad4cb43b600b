//! Issue 12, deletion in a bucket: `delete` of a handover exported into a bucket removes every
//! version of its keys, their delete markers and incomplete uploads, certifies each with
//! `logical_delete`, and refuses (exit 3, nothing touched) what Object Lock protects and an
//! `objects` table edited behind its back. Against the real server (`common::S3`), checked
//! with the `aws` CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use handover::{ExportSummary, VerifyReport};

/// A small client tree.
fn tree(d: &Path) {
    std::fs::create_dir_all(d.join("docs")).unwrap();
    std::fs::write(d.join("docs/contract.txt"), b"terms").unwrap();
    std::fs::write(d.join("notes.txt"), b"hello").unwrap();
}

/// `handover ARGS...` with the server's credentials and endpoint.
fn run(s3: &S3, env: &Env, args: &[&str]) -> Output {
    let mut c: Command = env.cmd();
    s3.env(&mut c).args(args).output().expect("run handover")
}

/// Exports `w.data` for acme into `s3://BUCKET/acme/`; returns the summary.
fn export_to(s3: &S3, w: &World, bucket: &str) -> ExportSummary {
    let out = format!("s3://{bucket}/acme/");
    let data = w.data.to_str().unwrap();
    let o = run(
        s3,
        &w.env,
        &[
            "--json",
            "export",
            data,
            "--client",
            "acme",
            "-r",
            &w.recipient,
            "--out",
            &out,
        ],
    );
    assert_ok(&o);
    parse(&o.stdout)
}

/// The key of an exported object (`s3://BUCKET/KEY`).
fn key_of(p: &Path, bucket: &str) -> String {
    p.to_str()
        .unwrap()
        .strip_prefix(&format!("s3://{bucket}/"))
        .expect("an object URL")
        .to_string()
}

/// The client's side: download the three objects with `aws`, `verify` and extract them, and
/// confirm the receipt code it prints; returns the extracted bag.
fn confirm_from_bucket(s3: &S3, env: &Env, s: &ExportSummary, bucket: &str) -> PathBuf {
    let dir = env.path("download");
    std::fs::create_dir_all(&dir).unwrap();
    for p in [&s.archive_path, &s.manifest_path, &s.signature_path] {
        let key = key_of(p, bucket);
        let name = key.rsplit('/').next().unwrap();
        std::fs::write(dir.join(name), s3.object(bucket, &key).expect("exported")).unwrap();
    }
    let archive = dir.join(key_of(&s.archive_path, bucket).rsplit('/').next().unwrap());
    let bag = env.path("bag");
    let o = env
        .cmd()
        .args(["--json", "verify"])
        .arg(&archive)
        .arg("-i")
        .arg(env.path("client.agekey"))
        .arg("--extract")
        .arg(&bag)
        .output()
        .unwrap();
    assert_ok(&o);
    let code = parse::<VerifyReport>(&o.stdout).receipt_code.unwrap();
    assert_ok(&env.run(&["confirm", &s.handover_id, "--code", &code]));
    bag
}

/// A whole deletion through a versioned bucket: the plan lists every version, the delete
/// marker and the incomplete upload of the handover's keys (and nothing else under the
/// prefix); the run removes them all, `aws` finds none, and the certificate lists each key
/// with `logical_delete`.
#[test]
fn s3_delete_removes_every_version_marker_and_upload() {
    let Some(s3) = S3::get() else { return };
    let w = World::new("data", tree);
    let b = s3.bucket("del-all");
    let s = export_to(s3, &w, &b);
    let [archive, manifest, sig] =
        [&s.archive_path, &s.manifest_path, &s.signature_path].map(|p| key_of(p, &b));
    let bag = confirm_from_bucket(s3, &w.env, &s, &b);
    // A version written over the signature after the export blocks the plan (it was never
    // handed over); once the provider removed it, a delete marker on the signature's key, an
    // incomplete upload on the archive's, and a neighbour that is no handover's and must
    // survive.
    newer_version_blocks(s3, &w.env, &s.handover_id, &b, &sig);
    s3.delete(&b, &sig);
    let upload = s3.incomplete_multipart(&b, &archive, &[b"part"]);
    s3.put(&b, "acme/neighbour.txt", b"not handed over");

    let o = run(
        s3,
        &w.env,
        &["--json", "delete", &s.handover_id, "--dry-run"],
    );
    assert_ok(&o);
    let plan = json(&o.stdout);
    let objects = plan["plan"]["objects"].as_array().expect("bucket entries");
    let has = |kind: &str, key: &str, v: &str| {
        objects.iter().any(|x| {
            x["kind"] == kind
                && x["url"] == format!("s3://{b}/{key}")
                && x["version_id"] == v
                && x["method"] == "logical_delete"
        })
    };
    let recorded = s3.versions(&b, &sig);
    let sig_version = &recorded
        .iter()
        .find(|v| v.0 == sig && !v.2)
        .expect("the signature")
        .1;
    assert!(has("object", &sig, sig_version), "{plan}");
    assert!(has("multipart_upload", &archive, &upload), "{plan}");
    assert_eq!(
        objects
            .iter()
            .filter(|x| x["kind"] == "delete_marker")
            .count(),
        1,
        "{plan}"
    );
    // Archive, manifest, signature, the marker, the upload.
    assert_eq!(objects.len(), 5, "{plan}");
    assert!(
        !objects
            .iter()
            .any(|x| x["url"].as_str().unwrap().contains("neighbour"))
    );
    let o = run(s3, &w.env, &["delete", &s.handover_id, "--dry-run"]);
    let text = assert_code(&o, 0);
    assert!(text.contains("logical_delete"), "{text}");
    assert!(text.contains(&format!("s3://{b}/{archive}")), "{text}");

    let o = run(s3, &w.env, &["--json", "delete", &s.handover_id, "--yes"]);
    assert_ok(&o);
    let done = json(&o.stdout);
    let left = s3.versions(&b, "acme/");
    assert_eq!(
        left,
        [("acme/neighbour.txt".to_string(), left[0].1.clone(), false)],
        "versions or delete markers of the handover's keys survived"
    );
    assert!(s3.multipart_uploads(&b, "acme/").is_empty());
    assert!(!w.data.exists(), "the local source was not deleted");

    let cert_path = done["certificate_path"].as_str().unwrap();
    let cert = json(&std::fs::read(cert_path).unwrap());
    let listed = cert["objects"]
        .as_array()
        .expect("the certificate lists objects");
    for key in [&archive, &manifest, &sig] {
        assert!(
            listed.iter().any(|x| x["key"] == key.as_str()
                && x["kind"] == "object"
                && x["method"] == "logical_delete"
                && x["status"] == "deleted"
                && x["reason"] == "the storage service decides when the bytes are gone"
                && x["version_id"].is_string()),
            "{key} not certified: {cert}"
        );
    }
    assert_certificate_verifies(Path::new(cert_path), &w.env.path("home/handover.pub"));
    let o = w.env.run(&[
        "certificate",
        "check",
        cert_path,
        "--bag",
        bag.to_str().unwrap(),
    ]);
    assert_ok(&o);
}

/// Object Lock on the archive's version refuses the plan, exit 3, naming the key and the
/// retain-until date; nothing is deleted, in the bucket or locally.
#[test]
fn s3_delete_refuses_an_object_lock() {
    let Some(s3) = S3::get() else { return };
    let w = World::new("data", tree);
    let b = s3.locked_bucket("del-lock");
    let s = export_to(s3, &w, &b);
    let archive = key_of(&s.archive_path, &b);
    let before = s3.versions(&b, "acme/");
    let v = &before.iter().find(|x| x.0 == archive).expect("archive").1;
    s3.aws(&[
        "s3api",
        "put-object-retention",
        "--bucket",
        &b,
        "--key",
        &archive,
        "--version-id",
        v,
        "--retention",
        "Mode=GOVERNANCE,RetainUntilDate=2099-01-01T00:00:00Z",
    ]);
    let o = run(
        s3,
        &w.env,
        &[
            "--json",
            "delete",
            &s.handover_id,
            "--without-receipt",
            "--reason",
            "test",
            "--yes",
        ],
    );
    assert_code(&o, 3);
    let e = json(&o.stdout)["error"].clone();
    assert_eq!(e["kind"], "deletion_blocked", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains(&archive), "{msg}");
    assert!(msg.contains("2099-01-01"), "{msg}");
    assert!(msg.contains("GOVERNANCE"), "{msg}");
    assert_eq!(s3.versions(&b, "acme/"), before, "something was deleted");
    assert!(w.data.exists(), "the local source was touched");
}

/// An `objects` row pointed at someone else's key with SQL is refused before anything is
/// listed or deleted: the export event audited other objects.
#[test]
fn s3_delete_refuses_an_edited_objects_table() {
    let Some(s3) = S3::get() else { return };
    let w = World::new("data", tree);
    let b = s3.bucket("del-edit");
    let s = export_to(s3, &w, &b);
    let victim = s3
        .put(&b, "other/victim.txt", b"someone else's")
        .expect("versioned");
    sql_exec(
        &w.env.path("home/state.db"),
        "UPDATE objects SET key = 'other/victim.txt' WHERE role = 'manifest'",
    );
    let o = run(
        s3,
        &w.env,
        &[
            "--json",
            "delete",
            &s.handover_id,
            "--without-receipt",
            "--reason",
            "test",
            "--yes",
        ],
    );
    assert_code(&o, 3);
    let e = json(&o.stdout)["error"].clone();
    assert_eq!(e["kind"], "audit_gate_mismatch", "{e}");
    assert_eq!(
        s3.object_version(&b, "other/victim.txt", &victim)
            .as_deref(),
        Some(&b"someone else's"[..])
    );
    assert!(w.data.exists());
}

/// A version written over `key` after the export blocks the plan (exit 3, key and version
/// named); the provider then removes it by hand.
fn newer_version_blocks(s3: &S3, env: &Env, id: &str, b: &str, key: &str) {
    let newer = s3
        .put(b, key, b"written after the export")
        .expect("versioned");
    let o = run(s3, env, &["--json", "delete", id, "--dry-run"]);
    let err = assert_code(&o, 3);
    assert!(err.contains(&newer) && err.contains(key), "{err}");
    let args = [
        "s3api",
        "delete-object",
        "--bucket",
        b,
        "--key",
        key,
        "--version-id",
        &newer,
    ];
    s3.aws(&args);
}
