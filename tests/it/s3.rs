//! Issue 12, object storage: handover against a real S3 server (SeaweedFS on 127.0.0.1,
//! started once per test process by `common::S3`), checked with the real `aws` CLI. Without
//! `weed` or `aws` these tests say they did not run; under CI=true they fail.

use std::process::{Command, Output};

use crate::common::*;

/// `curl URL`, whatever its outcome; stdout is the body, the last line of stderr the status.
fn curl(url: &str) -> Output {
    Command::new("curl")
        .args(["-sS", "--fail-with-body", "-o", "-", url])
        .output()
        .expect("run curl")
}

/// The harness itself against the server, as the product tests will use it: versions and
/// delete markers as `aws` lists them, and a presigned URL that a plain HTTP client can use
/// while the unsigned URL is refused.
#[test]
fn s3_harness_round_trip() {
    let Some(s3) = S3::get() else { return };
    if !require_tool("curl") {
        return;
    }
    let b = s3.bucket("round-trip");
    let key = "acme/a.txt";
    let v1 = s3
        .put(&b, key, b"first")
        .expect("a versioned bucket gives a version id");
    let v2 = s3.put(&b, key, b"second").expect("a version id");
    assert_ne!(v1, v2);
    assert_eq!(s3.object(&b, key).as_deref(), Some(&b"second"[..]));

    let url = s3.presign(&b, key, 300);
    assert!(url.starts_with(s3.endpoint()), "{url}");
    let o = curl(&url);
    assert_ok(&o);
    assert_eq!(o.stdout, b"second");
    let unsigned = url.split_once('?').expect("a presigned URL has a query").0;
    assert!(
        !curl(unsigned).status.success(),
        "the server serves objects without a signature: the credentials are not checked"
    );

    assert_eq!(s3.delete(&b, key)["DeleteMarker"], true);
    assert_eq!(s3.object(&b, key), None);
    assert_eq!(
        s3.object_version(&b, key, &v1).as_deref(),
        Some(&b"first"[..])
    );
    let vs = s3.versions(&b, "acme/");
    let mut kept: Vec<&str> = vs.iter().filter(|v| !v.2).map(|v| v.1.as_str()).collect();
    kept.sort_unstable();
    let mut want = [v1.as_str(), v2.as_str()];
    want.sort_unstable();
    assert_eq!(kept, want, "{vs:?}");
    let markers: Vec<_> = vs.iter().filter(|v| v.2).collect();
    assert_eq!(markers.len(), 1, "{vs:?}");
    assert_eq!(markers[0].0, key);
    assert!(s3.versions(&b, "other/").is_empty());
}

/// The harness's other set-ups: a retained version in an object-lock bucket cannot be
/// deleted, an incomplete multipart upload stays listed, and a bucket without versioning
/// keeps no versions.
#[test]
fn s3_harness_locks_and_leaves_uploads() {
    let Some(s3) = S3::get() else { return };
    let b = s3.locked_bucket("locked");
    let body = s3.scratch_file(b"kept");
    let put = s3.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &b,
        "--key",
        "k",
        "--body",
        body.to_str().unwrap(),
        "--object-lock-mode",
        "GOVERNANCE",
        "--object-lock-retain-until-date",
        "2099-01-01T00:00:00Z",
    ]);
    let v = put["VersionId"].as_str().expect("a version id");
    let o = s3.aws_output(&[
        "s3api",
        "delete-object",
        "--bucket",
        &b,
        "--key",
        "k",
        "--version-id",
        v,
    ]);
    assert!(!o.status.success(), "a retained version was deleted");
    assert_eq!(s3.object_version(&b, "k", v).as_deref(), Some(&b"kept"[..]));

    let id = s3.incomplete_multipart(&b, "up/big", &[b"part one", b"part two"]);
    assert_eq!(
        s3.multipart_uploads(&b, "up/"),
        [("up/big".to_string(), id)]
    );
    assert_eq!(s3.object(&b, "up/big"), None);

    let plain = s3.unversioned_bucket("plain");
    assert_eq!(s3.put(&plain, "k", b"x"), None);
    s3.delete(&plain, "k");
    assert_eq!(s3.object(&plain, "k"), None);
}
