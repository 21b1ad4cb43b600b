//! A killed `verify --extract` (issue 8): its staging directory, full of plaintext nobody
//! verified, is reported by the next verify and removed by `--clean`; a running extraction's
//! staging directory is never touched. Kills are real SIGKILLs through the test build's
//! failpoints (`extract.file`).
use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

use handover::VerifyReport;

/// A handover of the shipped fixture, as `acme-1`, in out/; returns the env and the archive.
fn handover() -> (Env, PathBuf) {
    let env = Env::new();
    support::export(&env, &fixture("acme"), "acme-1");
    let archive = support::archive(&env, "acme-1");
    (env, archive)
}

fn partials(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.contains(".handover-partial-"))
        .collect()
}

fn spawn_verify(env: &Env, archive: &Path, target: &str, spec: &str, extra: &[&str]) -> Child {
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    support::verify_cmd(env, archive)
        .arg("--extract")
        .arg(env.path(target))
        .args(extra)
        .env("HANDOVER_FAILPOINTS", spec)
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn verify(env: &Env, archive: &Path, target: &str, extra: &[&str]) -> (i32, VerifyReport, String) {
    let o = spawn_verify(env, archive, target, "", extra)
        .wait_with_output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        parse(&o.stdout),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Each partial extraction of a report: its path, and its state as `--json` names it (the
/// state's type is not re-exported at the crate root, so it is compared by that name).
fn states(r: &VerifyReport) -> Vec<(String, String)> {
    r.partial_extractions
        .iter()
        .map(|p| {
            let state = serde_json::to_value(p.state).unwrap();
            (
                p.path.to_str().unwrap().to_string(),
                state.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_killed_extractions_partial_directory_is_reported_then_cleaned() {
    let (env, archive) = handover();
    let o = spawn_verify(&env, &archive, "x", "extract.file=kill@2", &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        None,
        "not killed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let left = partials(env.dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".x.handover-partial-"));
    let partial = env.dir.path().join(&left[0]);
    assert!(!env.path("x").exists());

    // The next verify (to the same target) reports it, and leaves it.
    let (code, j, err) = verify(&env, &archive, "x", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        states(&j),
        vec![(
            partial.to_str().unwrap().to_string(),
            "abandoned".to_string()
        )]
    );
    assert!(err.contains(&left[0]) && err.contains("--clean"), "{err}");
    assert!(partial.is_dir());
    assert!(env.path("x").is_dir());

    // --clean removes it (and only it: the verified extraction stays).
    let before = snapshot(&env.path("x"));
    let (code, j, err) = verify(&env, &archive, "y", &["--clean"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(states(&j)[0].1, "removed");
    assert!(err.contains("removed"), "{err}");
    assert!(!partial.exists());
    assert_eq!(partials(env.dir.path()), Vec::<String>::new());
    assert_eq!(snapshot(&env.path("x")), before);
    assert!(env.path("y").is_dir());
}

/// A stage that a running verify is filling is in use: reported as such, never removed.
#[test]
fn a_running_extraction_is_left_alone_even_with_clean() {
    let (env, archive) = handover();
    let mut child = spawn_verify(&env, &archive, "x", "extract.file=pause@2", &[]);
    let flag = env.path("fp/extract.file.reached");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !flag.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "verify ended without pausing"
        );
        assert!(Instant::now() < deadline, "never paused");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, j, err) = verify(&env, &archive, "y", &["--clean"]);
    fs::write(env.path("fp/extract.file.go"), b"").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(states(&j).len(), 1);
    assert_eq!(states(&j)[0].1, "in_use");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(env.path("x").is_dir() && env.path("y").is_dir());
    assert_eq!(snapshot(&env.path("x")), snapshot(&env.path("y")));
    assert_eq!(partials(env.dir.path()), Vec::<String>::new());
}
