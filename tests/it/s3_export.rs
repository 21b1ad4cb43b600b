//! Issue 12: export into a bucket, links for the client, and verify from them, against the
//! real SeaweedFS server of `common::S3`, checked with `aws`, `curl` and the standard tools.

use std::path::Path;
use std::process::Output;

use handover::{ExportSummary, ShareSummary, VerifyReport};

use crate::common::*;

/// `handover ARGS...` in `env` with the S3 server's credentials and endpoint.
fn run(env: &Env, s3: &S3, args: &[&str]) -> Output {
    let mut c = env.cmd();
    s3.env(&mut c);
    c.args(args).output().expect("run handover")
}

/// Exports `data` for `acme` into `s3://BUCKET/PREFIX/` with the shipped client recipients.
fn export_to(env: &Env, s3: &S3, data: &Path, url: &str, extra: &[&str]) -> ExportSummary {
    let recipients = fixture("keys/client.recipients");
    let mut args = vec![
        "--json",
        "export",
        data.to_str().unwrap(),
        "--client",
        "acme",
        "-R",
        recipients.to_str().unwrap(),
        "--out",
        url,
    ];
    args.extend_from_slice(extra);
    let o = run(env, s3, &args);
    assert_ok(&o);
    parse(&o.stdout)
}

/// A data folder with `bytes` of incompressible data: more than one 8 MiB part.
fn big_data(env: &Env, bytes: usize) -> std::path::PathBuf {
    let d = env.path("big");
    std::fs::create_dir_all(&d).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(d.join("random.bin"), data).unwrap();
    std::fs::write(d.join("note.txt"), "hello\n").unwrap();
    d
}

/// The whole client side through a versioned bucket: export into it, `share`, download the
/// archive with curl and open it with age, zstd, tar and sha256sum; verify straight from the
/// links with a receipt; confirm it.
#[test]
fn s3_offboarding_through_a_bucket_with_links() {
    let Some(s3) = S3::get() else { return };
    for t in ["curl", "age", "zstd", "tar", "sha256sum"] {
        if !require_tool(t) {
            return;
        }
    }
    let env = Env::keyed();
    let b = s3.bucket("offboard");
    // A copy: delete removes the exported data directory.
    let data = env.path("acme");
    sh(
        &format!("cp -a '{}' '{}'", fixture("acme").display(), data.display()),
        &env.path(""),
    );
    let s = export_to(&env, s3, &data, &format!("s3://{b}/acme/"), &[]);
    let key = |p: &Path| {
        p.to_str()
            .unwrap()
            .strip_prefix(&format!("s3://{b}/"))
            .expect("outputs are named by their bucket URL")
            .to_string()
    };
    // The three objects are there, and no upload is left incomplete.
    let vs = s3.versions(&b, "acme/");
    for p in [&s.archive_path, &s.manifest_path, &s.signature_path] {
        assert!(vs.iter().any(|v| v.0 == key(p) && !v.2), "{p:?} in {vs:?}");
    }
    assert_eq!(vs.len(), 3, "{vs:?}");
    assert!(s3.multipart_uploads(&b, "").is_empty());

    let o = run(
        &env,
        s3,
        &["--json", "share", &s.handover_id, "--expires", "1d"],
    );
    assert_ok(&o);
    let links: ShareSummary = parse(&o.stdout);
    let o = run(&env, s3, &["share", &s.name]);
    assert_ok(&o);
    let lines: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "share prints three links on stdout: {lines:?}"
    );
    assert!(lines[0].contains(&key(&s.archive_path)), "{lines:?}");

    // Standard tools only: curl | age -d | zstd -d | tar -x, then sha256sum -c in the bag.
    let out = env.path("std");
    std::fs::create_dir(&out).unwrap();
    let identity = fixture("keys/client.agekey");
    sh(
        &format!(
            "curl -fsS '{}' | age -d -i '{}' | zstd -d | tar -x && cd {} && sha256sum -c --quiet SHA256SUMS",
            links.archive_url,
            identity.display(),
            s.name
        ),
        &out,
    );

    // verify streams from the links and writes a receipt; confirm takes it.
    let receipt = env.path("receipt.json");
    let o = env
        .cmd()
        .args(["--json", "verify", &links.archive_url])
        .args(["--manifest", &links.manifest_url])
        .args(["--signature", &links.signature_url])
        .arg("-i")
        .arg(&identity)
        .arg("--signer")
        .arg(env.home().join("handover.pub"))
        .arg("--receipt")
        .arg(&receipt)
        .output()
        .unwrap();
    assert_ok(&o);
    let r: VerifyReport = parse(&o.stdout);
    assert!(r.ok && r.signer_authenticated);
    let shown = r.archive_path.to_str().unwrap();
    assert!(
        !shown.contains("X-Amz-Signature"),
        "the report names the link without its signature: {shown}"
    );
    let o = run(&env, s3, &["confirm", receipt.to_str().unwrap()]);
    assert_ok(&o);

    delete_and_find_nothing(&env, s3, &s, &b, &data);

    // The share is in the audit log with its expiry, never with the links.
    let o = run(&env, s3, &["audit", "verify"]);
    assert_ok(&o);
    let log = std::fs::read(env.home().join("state.db")).unwrap_or_default();
    let sig = links.archive_url.split("X-Amz-Signature=").nth(1).unwrap();
    assert!(
        !log.windows(sig.len()).any(|w| w == sig.as_bytes()),
        "a link's signature was stored in the database"
    );
}

/// A presigned link without the manifest's and signature's own links is refused with what
/// to pass; an expired link says it expired and what to ask for.
#[test]
fn s3_verify_link_errors_say_what_to_do() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("links");
    let s = export_to(&env, s3, &fixture("acme"), &format!("s3://{b}/x/"), &[]);
    let archive_key = format!("x/{}.tar.zst.age", s.name);
    let manifest_key = format!("x/{}.manifest.json", s.name);
    let identity = fixture("keys/client.agekey");
    let verify = |args: &[&str]| {
        env.cmd()
            .args(["--json", "verify"])
            .args(args)
            .arg("-i")
            .arg(&identity)
            .output()
            .unwrap()
    };
    let fresh = s3.presign(&b, &archive_key, 600);
    let o = verify(&[&fresh]);
    assert_code(&o, 1);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "links_needed", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--manifest URL --signature URL"),
        "{e}"
    );

    let manifest = s3.presign(&b, &manifest_key, 600);
    let signature = s3.presign(&b, &format!("{manifest_key}.minisig"), 600);
    let expired = s3.presign(&b, &archive_key, 1);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let o = verify(&[&expired, "--manifest", &manifest, "--signature", &signature]);
    assert_code(&o, 1);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "link_expired", "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("expired") && m.contains("handover share"), "{m}");
    assert!(!m.contains("X-Amz-Signature"), "{m}");

    // verify s3://... reads the object and the manifest beside it with the credentials.
    let mut c = env.cmd();
    s3.env(&mut c);
    let o = c
        .args(["--json", "verify", &format!("s3://{b}/{archive_key}"), "-i"])
        .arg(&identity)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(parse::<VerifyReport>(&o.stdout).ok);
}

/// Wrong credentials: a clear error naming what to check, exit 1, before any work; the
/// secret is never printed.
#[test]
fn s3_wrong_credentials_exit_1_with_a_clear_error() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("creds");
    let recipients = fixture("keys/client.recipients");
    let mut c = env.cmd();
    s3.env(&mut c);
    let o = c
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-4711")
        .args(["--json", "export"])
        .arg(fixture("acme"))
        .args(["--client", "acme", "-R"])
        .arg(&recipients)
        .args(["--out", &format!("s3://{b}/acme/")])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "remote_credentials", "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("AWS_SECRET_ACCESS_KEY") && m.contains(&b), "{m}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.contains("not-the-secret-4711"), "{all}");
    assert!(s3.versions(&b, "").is_empty());
    // Nothing recorded either.
    let o = env.run(&["--json", "list"]);
    assert_ok(&o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("acme-"));
}

/// An export killed half way through its upload leaves an incomplete multipart upload; the
/// next export (here a local one) aborts it and says so, and the bucket is left as before.
#[test]
fn s3_killed_upload_is_cleaned_by_the_next_run() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("killed");
    let data = big_data(&env, 30 << 20);
    let recipients = fixture("keys/client.recipients");
    let mut c = env.cmd();
    s3.env(&mut c);
    let o = c
        .env("HANDOVER_FAILPOINTS", "remote.complete=kill")
        .arg("export")
        .arg(&data)
        .args(["--client", "acme", "-R"])
        .arg(&recipients)
        .args(["--out", &format!("s3://{b}/acme/")])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the failpoint kills the export");
    let left = s3.multipart_uploads(&b, "acme/");
    assert_eq!(
        left.len(),
        1,
        "the killed upload is left incomplete: {left:?}"
    );
    assert!(s3.versions(&b, "acme/").is_empty());

    let mut c = env.cmd();
    s3.env(&mut c);
    let o = c
        .arg("export")
        .arg(fixture("acme"))
        .args(["--client", "other", "-R"])
        .arg(&recipients)
        .arg("--out")
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("left by an export that was killed"), "{err}");
    assert!(s3.multipart_uploads(&b, "acme/").is_empty());
    assert!(s3.versions(&b, "acme/").is_empty());
    let o = env.run(&["audit", "verify"]);
    assert_ok(&o);
}

/// A bucket key that has ever held a version (here only a delete marker) is refused as an
/// output: every version under an export's keys must be its own, for the clean-up to delete.
#[test]
fn s3_export_refuses_a_key_with_history() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("history");
    let key = "acme/taken.tar.zst.age";
    s3.put(&b, key, b"someone else's");
    s3.delete(&b, key);
    let recipients = fixture("keys/client.recipients");
    let mut c = env.cmd();
    s3.env(&mut c);
    let o = c
        .args(["--json", "export"])
        .arg(fixture("acme"))
        .args(["--client", "acme", "--name", "taken", "-R"])
        .arg(&recipients)
        .args(["--out", &format!("s3://{b}/acme")])
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["kind"], "output_exists");
    assert_eq!(s3.versions(&b, "acme/").len(), 2);
}

/// Starts an export of 64 MiB of random data into `s3://B/acme/`, paused after its third
/// part (OpenDAL starts the multipart upload a part behind the writes); returns the child and
/// its fault-point folder.
fn paused_upload(
    env: &Env,
    s3: &S3,
    b: &str,
    abort_fails: bool,
) -> (std::process::Child, std::path::PathBuf) {
    let data = big_data(env, 64 << 20);
    let fp = env.path("fp");
    std::fs::create_dir_all(&fp).unwrap();
    let mut points = "remote.part=pause@3".to_string();
    if abort_fails {
        points.push_str(";remote.abort=fail");
    }
    let mut c = env.cmd();
    s3.env(&mut c);
    let child = c
        .env("HANDOVER_FAILPOINTS", points)
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .arg("export")
        .arg(&data)
        .args(["--client", "acme", "-R"])
        .arg(fixture("keys/client.recipients"))
        .args(["--out", &format!("s3://{b}/acme/")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reached = fp.join("remote.part.reached");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never sent a part"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (child, fp)
}

/// Ctrl-C (SIGTERM here) during the upload: exit 130, the upload aborted, no part and no
/// object left, nothing recorded.
#[test]
fn s3_interrupted_upload_leaves_nothing() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("interrupted");
    let (child, fp) = paused_upload(&env, s3, &b, false);
    assert_eq!(
        s3.multipart_uploads(&b, "acme/").len(),
        1,
        "a part is uploaded"
    );
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::fs::write(fp.join("remote.part.go"), b"").unwrap();
    let o = child.wait_with_output().unwrap();
    let err = assert_code(&o, 130);
    assert!(err.contains("interrupted"), "{err}");
    assert!(s3.multipart_uploads(&b, "acme/").is_empty());
    assert!(s3.versions(&b, "acme/").is_empty());
    let o = env.run(&["--json", "list"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("acme-"));
}

/// When the abort itself fails, the upload stays recorded, and the next export aborts it.
#[test]
fn s3_failed_abort_is_finished_by_the_next_run() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("abortfails");
    let (child, fp) = paused_upload(&env, s3, &b, true);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::fs::write(fp.join("remote.part.go"), b"").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_code(&o, 130);
    assert_eq!(
        s3.multipart_uploads(&b, "acme/").len(),
        1,
        "the abort failed: the upload is still there"
    );
    let o = run(
        &env,
        s3,
        &[
            "export",
            fixture("acme").to_str().unwrap(),
            "--client",
            "other",
            "-R",
            fixture("keys/client.recipients").to_str().unwrap(),
            "--out",
            env.path("out").to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("left by an export that was killed"));
    assert!(s3.multipart_uploads(&b, "acme/").is_empty());
}

/// A bucket name means one bucket only at one service: with AWS_ENDPOINT_URL pointing
/// elsewhere, share and delete refuse (exit 3) and name the recorded endpoint; nothing is
/// listed or deleted there, and the objects stay.
#[test]
fn s3_another_endpoint_is_refused() {
    let Some(s3) = S3::get() else { return };
    let env = Env::keyed();
    let b = s3.bucket("endpoint");
    let data = env.path("acme");
    sh(
        &format!("cp -a '{}' '{}'", fixture("acme").display(), data.display()),
        &env.path(""),
    );
    let s = export_to(&env, s3, &data, &format!("s3://{b}/acme/"), &[]);
    let elsewhere = |args: &[&str]| {
        let mut c = env.cmd();
        s3.env(&mut c);
        c.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(args)
            .output()
            .unwrap()
    };
    let o = elsewhere(&["--json", "share", &s.handover_id]);
    assert_code(&o, 3);
    let e = json(&o.stdout);
    assert_eq!(e["error"]["kind"], "other_endpoint", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(s3.endpoint()),
        "{e}"
    );
    let o = elsewhere(&[
        "delete",
        &s.handover_id,
        "--without-receipt",
        "--reason",
        "test",
        "--yes",
    ]);
    let err = assert_code(&o, 3);
    assert!(
        err.contains("other_endpoint") || err.contains("this run points to"),
        "{err}"
    );
    assert_eq!(s3.versions(&b, "acme/").len(), 3);
    assert!(data.exists(), "nothing local was deleted either");
}

/// `delete` of a bucket handover: every version of its keys goes, the summary and the
/// evidence report count the bucket entries, the local data directory goes too.
fn delete_and_find_nothing(env: &Env, s3: &S3, s: &ExportSummary, b: &str, data: &Path) {
    // delete: every version of the three keys goes, and the bucket holds nothing of it.
    let o = run(env, s3, &["delete", &s.handover_id, "--yes"]);
    assert_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("deleted in a bucket: 3 object versions, markers and uploads"),
        "{err}"
    );
    let o = run(
        env,
        s3,
        &[
            "evidence",
            &s.handover_id,
            "--out",
            env.path("ev").to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    let report = std::fs::read_to_string(env.path("ev/report.md")).unwrap();
    assert!(
        report.contains("and 3 object versions, markers and uploads in a bucket (logical delete)"),
        "{report}"
    );
    let left = s3.versions(b, "");
    assert!(left.is_empty(), "versions or delete markers left: {left:?}");
    assert!(
        !data.exists(),
        "the local data directory is deleted with the objects"
    );
    assert!(s3.multipart_uploads(b, "").is_empty());
}
