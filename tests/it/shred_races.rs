//! The deletion run against a tree that changes under it: directories and files swapped for
//! symlinks, entries removed by someone else, between the recorded plan and the first
//! operation (forced with the test-only `exec.start` pause); filesystems that refuse
//! `RENAME_NOREPLACE` (a failpoint, and a real FUSE mount with bindfs); Ctrl-C in a terminal
//! and SIGTERM. Every test checks that nothing outside the roots changed, byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::deletion::*;

/// A tree outside the roots with the same layout as the tree, so that any operation that
/// followed a swapped-in symlink by name would land on one of its entries.
fn outside_twin(env: &Env) -> PathBuf {
    let out = env.path("outside");
    make_tree(&out);
    fs::create_dir(out.join("a/sub")).unwrap();
    out
}

/// `handover --json ARGS...` started with `points` set, paused at `point`: returns the child
/// once `point` is reached. Panics when the process ends without reaching it.
fn start_paused(env: &Env, points: &str, point: &str, args: &[&str]) -> Child {
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    let mut cmd = env.cmd();
    cmd.args(args)
        .env("HANDOVER_FAILPOINTS", points)
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    wait_reached(env, &mut child, point);
    child
}

fn wait_reached(env: &Env, child: &mut Child, point: &str) {
    let reached = env.path("fp").join(format!("{point}.reached"));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the run ended ({st}) without reaching the failpoint {point}");
        }
        assert!(Instant::now() < until, "{point} not reached in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn release(env: &Env, point: &str) {
    fs::write(env.path("fp").join(format!("{point}.go")), b"").unwrap();
}

fn certificates(env: &Env) -> Vec<String> {
    listing(&env.home().join("certificates"))
}

/// A directory inside the tree is swapped for a symlink to a twin tree outside after the plan
/// was recorded: nothing outside changes (not a file, not the empty directory an rmdir by
/// path would remove), the run fails with the swapped path named, exit 3, no certificate.
#[test]
fn a_directory_swapped_for_a_symlink_after_the_plan_is_not_followed() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    fs::create_dir(tree.join("a/sub")).unwrap();
    let outside = outside_twin(&env);
    let before = state_of(&outside);
    let child = start_paused(
        &env,
        "exec.start=pause",
        "exec.start",
        &["--json", "shred", "--yes", tree.to_str().unwrap()],
    );
    fs::rename(tree.join("a"), env.path("a-moved")).unwrap();
    std::os::unix::fs::symlink(outside.join("a"), tree.join("a")).unwrap();
    release(&env, "exec.start");
    let o = child.wait_with_output().unwrap();
    assert_eq!(state_of(&outside), before, "the outside tree changed");
    let err = assert_code(&o, 3);
    assert!(err.contains("was replaced since the plan"), "{err}");
    assert!(err.contains("tree/a"), "{err}");
    assert!(certificates(&env).is_empty(), "a certificate was issued");
    // The moved directory is the planned one: its files were not touched either.
    assert_eq!(count_files(&env.path("a-moved")), 5);
    assert_eq!(
        fs::read(env.path("a-moved/f1.bin")).unwrap(),
        pattern(100),
        "a file of the swapped-out directory was touched"
    );
}

/// A file is swapped for a symlink to a file outside after the plan: the target is not read,
/// written, truncated or unlinked; the run fails naming the file (a failed check, exit 3, not
/// an I/O error), for shred and for delete's hashing pass alike.
#[test]
fn a_file_swapped_for_a_symlink_after_the_plan_is_not_followed() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let outside = outside_twin(&env);
    let before = state_of(&outside);
    let child = start_paused(
        &env,
        "exec.start=pause",
        "exec.start",
        &["--json", "shred", "--yes", tree.to_str().unwrap()],
    );
    fs::remove_file(tree.join("a/f1.bin")).unwrap();
    std::os::unix::fs::symlink(outside.join("a/f1.bin"), tree.join("a/f1.bin")).unwrap();
    release(&env, "exec.start");
    let o = child.wait_with_output().unwrap();
    assert_eq!(state_of(&outside), before, "the outside tree changed");
    let err = assert_code(&o, 3);
    assert!(err.contains("f1.bin"), "{err}");
    assert!(err.contains("symlink"), "{err}");
    assert!(certificates(&env).is_empty());
    // The symlink itself is left for the user to look at.
    assert!(
        tree.join("a/f1.bin")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
}

/// Entries removed by someone else between the plan and the run: the certificate lists
/// them as `vanished`, not `deleted`, and the run succeeds.
#[test]
fn entries_deleted_by_someone_else_after_the_plan_are_certified_vanished() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let child = start_paused(
        &env,
        "exec.start=pause",
        "exec.start",
        &[
            "--json",
            "shred",
            "--yes",
            "--names",
            "clear",
            tree.to_str().unwrap(),
        ],
    );
    // A file that would be overwritten, and a symlink that would only be unlinked.
    fs::remove_file(tree.join("a/f1.bin")).unwrap();
    fs::remove_file(tree.join("inner-link")).unwrap();
    release(&env, "exec.start");
    let o = child.wait_with_output().unwrap();
    let s = summary(&o);
    assert!(!tree.exists());
    let c = certificate(&env, &s);
    assert_eq!(c["totals"]["vanished"], 2, "{c}");
    for e in c["entries"].as_array().unwrap() {
        let vanished = e["path"] == "a/f1.bin" || e["path"] == "inner-link";
        let want = if vanished { "vanished" } else { "deleted" };
        assert_eq!(e["status"], want, "{e}");
    }
    assert_eq!(c["totals"]["files"], 6);
    let warned = &s.warnings;
    assert!(warned.iter().any(|w| w.contains("f1.bin")), "{warned:?}");
}

/// A filesystem that refuses `renameat2(RENAME_NOREPLACE)` (simulated with a failpoint): the
/// files are moved to their random names by link then unlink, the certificate says so, and a
/// run killed between the link and the unlink is finished by running it again.
#[test]
fn without_rename_noreplace_a_fallback_is_used_and_recorded() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .env(
            "HANDOVER_FAILPOINTS",
            "fsx.renameat2=fail;fsx.linked=kill@3",
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "killed between link and unlink");
    let left = count_files(&tree);
    assert!(left > 0, "part way");
    // No file under its real name was truncated.
    for (p, (kind, data, _)) in state_of(&tree) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        // The tree's own files are f0.bin..f5.bin (a random 32-hex name may start with 'f'
        // too, and `a/empty` is empty from the start).
        if kind == "file" && name.ends_with(".bin") {
            assert!(!data.is_empty(), "{} left truncated", p.display());
        }
    }
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .env("HANDOVER_FAILPOINTS", "fsx.renameat2=fail")
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(!tree.exists());
    let c = certificate(&env, &s);
    entry_paths(&c);
    assert_eq!(c["totals"]["files"], 7);
    assert_eq!(c["runs"], 2);
    let notes: Vec<String> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "file")
        .map(|e| e["note"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        notes
            .iter()
            .filter(|n| n.contains("link then unlink"))
            .count()
            >= 5,
        "{notes:?}"
    );
    assert!(
        c["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("RENAME_NOREPLACE")),
        "{}",
        c["warnings"]
    );
}

/// Neither RENAME_NOREPLACE nor hard links: the last fallback (check, then rename to the
/// random name) is used and recorded.
#[test]
fn without_rename_noreplace_or_hard_links_check_then_rename_is_recorded() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes", "--names", "clear"])
        .arg(&tree)
        .env("HANDOVER_FAILPOINTS", "fsx.renameat2=fail;fsx.linkat=fail")
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(!tree.exists());
    let c = certificate(&env, &s);
    let f = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "f0.bin")
        .unwrap()
        .clone();
    assert!(
        f["note"].as_str().unwrap().contains("check then rename"),
        "{f}"
    );
}

/// Unmounts a FUSE mount when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount").arg("-u").arg(&self.0).status();
    }
}

/// A real FUSE filesystem (bindfs over a scratch directory), where renameat2 with
/// RENAME_NOREPLACE fails with EINVAL: the deletion ends with a certificate (logical delete,
/// with the reason), exit 0, the files gone, and nothing outside the mount changed.
#[test]
fn on_fuse_the_deletion_finishes_with_a_logical_delete_certificate() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !require_tool("bindfs") {
        return;
    }
    let env = Env::keyed();
    let (src, mnt) = (env.path("fuse-src"), env.path("fuse-mnt"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let outside = outside_twin(&env);
    let before = state_of(&outside);
    let st = Command::new("bindfs")
        .arg(&src)
        .arg(&mnt)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    if !st.status.success() {
        let why = String::from_utf8_lossy(&st.stderr);
        assert!(!ci, "bindfs could not mount in CI: {why}");
        eprintln!("SKIPPED: FUSE cannot be mounted here: {why}");
        return;
    }
    let _m = Mount(mnt.clone());
    assert!(fs_type(&mnt).starts_with("fuse"), "{}", fs_type(&mnt));
    let tree = mnt.join("tree");
    make_tree(&tree);
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(!tree.exists());
    assert_eq!(
        listing(&src),
        Vec::<String>::new(),
        "left behind under the mount"
    );
    let c = certificate(&env, &s);
    assert_eq!(c["totals"]["files"], 7);
    let san = c["sanitization"].as_array().unwrap();
    assert!(!san.is_empty());
    for x in san {
        assert_eq!(x["method"], "logical_delete", "{x}");
        assert!(x["reason"].as_str().unwrap().contains("fuse"), "{x}");
    }
    assert!(
        c["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("RENAME_NOREPLACE")),
        "{}",
        c["warnings"]
    );
    assert_eq!(state_of(&outside), before);
}

/// Checks an interrupted run: exit 130, exactly the first file gone, every other entry as it
/// was; then the same command finishes the job with one certificate covering both runs.
fn interrupted_then_resumed(env: &Env, tree: &Path, before: &BTreeMapState, code: Option<i32>) {
    assert_eq!(code, Some(130), "exit code of the interrupted run");
    let after = state_of(tree);
    let gone: Vec<&PathBuf> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    assert_eq!(gone.len(), 1, "exactly the first file is gone: {gone:?}");
    for (p, v) in &after {
        if v.0 != "dir" {
            assert_eq!(before.get(p), Some(v), "{} changed", p.display());
        }
    }
    assert!(certificates(env).is_empty(), "no certificate yet");
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(tree)
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(s.resumed);
    assert!(!tree.exists());
    let c = certificate(env, &s);
    entry_paths(&c);
    assert_eq!(c["runs"], 2);
    assert_eq!(c["totals"]["files"], 7);
    assert_eq!(c["totals"]["vanished"], 0);
}

type BTreeMapState = std::collections::BTreeMap<PathBuf, (String, Vec<u8>, i64)>;

/// Ctrl-C typed in the terminal while the first file is being deleted: that file is
/// finished and recorded, nothing else is touched, the run exits 130 and says how to go on.
#[test]
fn ctrl_c_in_a_terminal_stops_after_the_current_file_and_the_run_resumes() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let outside = outside_twin(&env);
    let (before, before_out) = (state_of(&tree), state_of(&outside));
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["shred", "--yes"])
        .arg(&tree)
        .env(
            "HANDOVER_FAILPOINTS",
            "shred.overwritten=pause;signal.caught=pause",
        )
        .env("HANDOVER_FAILPOINT_DIR", &fp);
    let (mut child, mut master, out, reader) = spawn_in_pty(cmd);
    wait_reached(&env, &mut child, "shred.overwritten");
    std::io::Write::write_all(&mut master, b"\x03").unwrap();
    // The terminal delivers SIGINT asynchronously: the run goes on once the flag is raised.
    wait_reached(&env, &mut child, "signal.caught");
    release(&env, "signal.caught");
    release(&env, "shred.overwritten");
    let st = child.wait().unwrap();
    drop(master);
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
    assert!(text.contains("interrupted"), "{text}");
    assert!(
        text.contains("run the same command again") || text.contains("Run the same command again"),
        "{text}"
    );
    interrupted_then_resumed(&env, &tree, &before, st.code());
    assert_eq!(state_of(&outside), before_out);
}

/// SIGTERM (a service manager stopping the job): the same as Ctrl-C.
#[test]
fn sigterm_stops_after_the_current_file_and_the_run_resumes() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let before = state_of(&tree);
    let mut child = start_paused(
        &env,
        "shred.overwritten=pause;signal.caught=pause",
        "shred.overwritten",
        &["shred", "--yes", tree.to_str().unwrap()],
    );
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    wait_reached(&env, &mut child, "signal.caught");
    release(&env, "signal.caught");
    release(&env, "shred.overwritten");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("interrupted"), "{err}");
    interrupted_then_resumed(&env, &tree, &before, o.status.code());
}

/// Found by attacking the run: a hard link from outside the roots made after the plan (a
/// dedupe tool replacing an outside copy with a link) must not have its bytes overwritten or
/// truncated: the file fails, nothing outside changes.
#[test]
fn a_hard_link_made_from_outside_after_the_plan_is_not_overwritten() {
    let env = Env::keyed();
    let tree = env.path("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a"), b"client data").unwrap();
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["--json", "shred", "--yes"]).arg(&tree);
    let paused = run_paused(cmd, "exec.start", 1, &env.path("fp"));
    std::fs::hard_link(tree.join("a"), outside.join("backup-copy")).unwrap();
    let o = paused.resume();
    assert_eq!(
        std::fs::read(outside.join("backup-copy")).unwrap(),
        b"client data",
        "the outside name keeps its bytes"
    );
    let err = assert_code(&o, 3);
    assert!(err.contains("gained a hard link"), "{err}");
}
