//! `handover shred`: the plan's blockers, symlinks, dry runs, duplicates, interruption, and the
//! proof that the bytes are gone, on the test machine's disk and on tmpfs.

use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::deletion::*;

fn shred_json(env: &Env, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.args(["--json", "shred", "--yes"]).args(args);
    c.output().unwrap()
}

#[test]
fn symlink_to_a_file_outside_goes_and_its_target_stays() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    std::fs::write(env.path("outside.txt"), b"keep me").unwrap();
    std::os::unix::fs::symlink(env.path("outside.txt"), tree.join("a/link-out")).unwrap();
    // Names in clear: this test reads the entries by path.
    let s = summary(&shred_json(
        &env,
        &["--names", "clear", tree.to_str().unwrap()],
    ));
    assert!(!tree.exists(), "the tree is gone");
    assert_eq!(std::fs::read(env.path("outside.txt")).unwrap(), b"keep me");
    let c = certificate(&env, &s);
    let link = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "a/link-out")
        .expect("the link is listed");
    assert_eq!(link["kind"], "symlink");
    assert_eq!(link["status"], "deleted");
    assert_eq!(c["totals"]["files"], 7);
    assert_eq!(c["totals"]["symlinks"], 2);
    minisign_verifies(&env, &s);
}

#[test]
fn a_symlink_given_as_the_path_is_removed_not_followed() {
    let env = Env::keyed();
    std::fs::write(env.path("target.txt"), b"keep me").unwrap();
    std::os::unix::fs::symlink(env.path("target.txt"), env.path("link")).unwrap();
    summary(&shred_json(&env, &[env.path("link").to_str().unwrap()]));
    assert!(env.path("link").symlink_metadata().is_err());
    assert_eq!(std::fs::read(env.path("target.txt")).unwrap(), b"keep me");
}

#[test]
fn hard_link_with_a_twin_outside_is_refused_and_nothing_is_deleted() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    std::fs::hard_link(tree.join("a/f1.bin"), env.path("twin.bin")).unwrap();
    let before = state_of(&tree);
    let o = shred_json(&env, &[tree.to_str().unwrap()]);
    let err = assert_code(&o, 3);
    assert!(err.contains("hard link"), "{err}");
    assert!(err.contains("f1.bin"), "{err}");
    assert_eq!(state_of(&tree), before);
    // Both names inside the set: fine.
    let both = shred_json(
        &env,
        &[
            tree.to_str().unwrap(),
            env.path("twin.bin").to_str().unwrap(),
        ],
    );
    summary(&both);
    assert!(!tree.exists() && !env.path("twin.bin").exists());
}

/// One file among many cannot be opened: the plan fails and nothing is deleted. Root ignores
/// permissions, so as root the binary runs as `nobody` (common::unprivileged) on a tree that
/// user owns.
#[test]
fn one_unreadable_file_fails_the_plan_and_nothing_is_deleted() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let locked = tree.join("a/b/f2.bin");
    let bin = env.path("handover-bin");
    if is_root() {
        share_with_unprivileged(&env, &[env.dir.path()]);
        // A copy of the binary in the (now world-readable) scratch directory: the build
        // directory may sit under a home that `nobody` cannot enter (/root is 0700).
        std::fs::copy(env!("CARGO_BIN_EXE_handover"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = || {
        let mut c = if is_root() {
            let mut c = Command::new(&bin);
            c.arg("--home").arg(env.home());
            unprivileged(c)
        } else {
            env.cmd()
        };
        c.args(["shred", "--yes"])
            .arg(&tree)
            .env_remove("HANDOVER_HOME")
            .output()
            .unwrap()
    };
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let before = state_of(&tree);
    let err = assert_code(&run(), 3);
    assert!(err.contains("f2.bin"), "{err}");
    assert!(err.contains("cannot be opened for writing"), "{err}");
    assert!(
        err.contains("has 1 blocker(s)"),
        "only the locked file blocks: {err}"
    );
    assert_eq!(state_of(&tree), before, "nothing may change");
    // Readable again: the same unprivileged run now deletes everything.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_ok(&run());
    assert!(!tree.exists());
}

#[test]
fn dry_run_changes_nothing() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let before = state_of(&tree);
    let db = env.home().join("state.db");
    let db_before = std::fs::read(&db).ok();
    let o = env
        .cmd()
        .args(["--json", "shred", "--dry-run"])
        .arg(&tree)
        .output()
        .unwrap();
    let s = summary(&o);
    assert!(s.dry_run);
    assert_eq!(s.plan.files, 7);
    assert_eq!(s.plan.directories, 5);
    assert!(s.certificate_id.is_none());
    assert_eq!(state_of(&tree), before);
    // keygen made the database (it is an audited event); a dry run leaves it byte for byte.
    assert_eq!(
        std::fs::read(&db).ok(),
        db_before,
        "a dry run records nothing"
    );
}

#[test]
fn without_yes_and_without_a_terminal_it_refuses() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let before = state_of(&tree);
    let o = env
        .cmd()
        .arg("shred")
        .arg(&tree)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = assert_code(&o, 3);
    assert!(err.contains("stdin is not a terminal"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(state_of(&tree), before);
}

#[test]
fn root_home_directories_and_the_handover_home_are_refused() {
    let env = Env::keyed();
    let fake_home = env.path("someone");
    make_tree(&fake_home);
    for (path, what) in [
        ("/".to_string(), "root directory"),
        (fake_home.display().to_string(), "home directory"),
        (env.home().display().to_string(), "handover home"),
        (env.dir.path().display().to_string(), "home directory"),
    ] {
        let o = env
            .cmd()
            .env("HOME", &fake_home)
            .args(["shred", "--yes", "--dry-run", &path])
            .output()
            .unwrap();
        let err = assert_code(&o, 3);
        assert!(err.contains(what), "{path}: {err}");
    }
    for dot in [".", "..", "tree/.", "tree/a/.."] {
        let o = env
            .cmd()
            .current_dir(env.dir.path())
            .args(["shred", "--yes", "--dry-run", dot])
            .output()
            .unwrap();
        let err = assert_code(&o, 3);
        assert!(err.contains("'.' or '..'"), "{dot}: {err}");
    }
    assert_eq!(count_files(&fake_home), 7);
    assert!(env.home().join("handover.key").exists());
}

#[test]
fn a_path_given_twice_or_nested_is_deleted_once() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let t = tree.to_str().unwrap();
    let nested = tree.join("a");
    let file = tree.join("a/f1.bin");
    let o = shred_json(
        &env,
        &[
            t,
            t,
            nested.to_str().unwrap(),
            file.to_str().unwrap(),
            &format!("{t}/./a/../a"),
        ],
    );
    let s = summary(&o);
    assert_eq!(s.plan.roots.len(), 1);
    let c = certificate(&env, &s);
    let paths = entry_paths(&c);
    assert_eq!(c["totals"]["files"], 7);
    assert_eq!(
        paths.len(),
        7 + 5 + 1,
        "files, directories, the inner symlink"
    );
    assert!(!tree.exists());
}

/// Kills the process (a real SIGKILL, through the test-only shred.* failpoints) after some
/// files are unlinked; the same command again finishes the job, and the certificate lists each
/// entry once.
#[test]
fn an_interrupted_shred_is_finished_by_running_it_again() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    for i in 0..20 {
        std::fs::write(tree.join(format!("a/b/many-{i:02}")), pattern(5000 + i)).unwrap();
    }
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .env("HANDOVER_FAILPOINTS", "shred.unlinked=kill@5")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "killed by a signal");
    let left = count_files(&tree);
    assert!(left > 0 && left < 27, "part way: {left} files left");
    let s = summary(&shred_json(&env, &[tree.to_str().unwrap()]));
    assert!(s.resumed);
    assert!(!tree.exists());
    let c = certificate(&env, &s);
    entry_paths(&c);
    assert_eq!(c["totals"]["files"], 27);
    assert_eq!(c["totals"]["vanished"], 0);
    assert_eq!(c["runs"], 2);
    for e in c["entries"].as_array().unwrap() {
        assert_eq!(e["status"], "deleted", "{e}");
    }
    minisign_verifies(&env, &s);
}

/// Runs the fd proof in `dir`: a descriptor opened before `shred` reads none of the original
/// bytes afterwards. The run is first killed after every file was overwritten and verified but
/// before any was unlinked, so the descriptor sees what the overwrite left in the file's own
/// blocks; the second run finishes, after which the inode is truncated and unlinked.
///
/// Where the plan says the files will not be overwritten (copy-on-write, overlay, network),
/// there is nothing to prove about the bytes: the run must instead say so (a downgrade).
fn fd_proof(env: &Env, dir: &Path) -> ShredSummary {
    let tree = dir.join("tree");
    make_tree(&tree);
    let plan = summary(
        &env.cmd()
            .args(["--json", "shred", "--dry-run"])
            .arg(&tree)
            .output()
            .unwrap(),
    );
    let overwritten = plan.plan.overwrite_files;
    if overwritten < 7 {
        eprintln!(
            "files here are not overwritten: {}",
            serde_json::to_value(&plan.plan.filesystems).unwrap()
        );
        let s = summary(&shred_json(env, &[tree.to_str().unwrap()]));
        assert!(s.downgraded);
        return s;
    }
    let victim = tree.join("f5.bin");
    let original = std::fs::read(&victim).unwrap();
    let fd = std::fs::File::open(&victim).unwrap();
    let o = env
        .cmd()
        .args(["--json", "shred", "--yes"])
        .arg(&tree)
        .env("HANDOVER_FAILPOINTS", "shred.verified=kill@6")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "killed after the overwrite");
    let mut now = vec![0u8; original.len()];
    fd.read_exact_at(&mut now, 0).unwrap();
    let windows = |b: &[u8]| b.windows(MARKER.len()).any(|w| w == MARKER);
    assert!(
        !windows(&now),
        "an original 32-byte run survived the overwrite"
    );
    for (i, (a, b)) in original.chunks(4096).zip(now.chunks(4096)).enumerate() {
        assert_ne!(a, b, "block {i} unchanged");
    }
    let s = summary(&shred_json(env, &[tree.to_str().unwrap()]));
    let m = fd.metadata().unwrap();
    assert_eq!(m.nlink(), 0, "unlinked");
    assert_eq!(m.len(), 0, "truncated: the descriptor reaches no data");
    let mut rest = Vec::new();
    (&fd).read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    s
}

#[test]
fn after_shred_a_descriptor_opened_before_reads_none_of_the_original_bytes() {
    let env = Env::keyed();
    let fs = fs_type(env.dir.path());
    let c = certificate(&env, &fd_proof(&env, env.dir.path()));
    let methods: Vec<&str> = c["sanitization"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["method"].as_str().unwrap())
        .collect();
    eprintln!("test directory filesystem: {fs}; methods {methods:?}");
    match fs.as_str() {
        // ext2/3/4 and xfs overwrite in place: Clear on a rotational disk, best effort (with a
        // reason) on flash or with data journalling.
        "ext2/ext3" | "xfs" => {
            for s in c["sanitization"].as_array().unwrap() {
                assert!(
                    s["method"] == "clear"
                        || (s["method"] == "overwrite_best_effort" && s["reason"].is_string()),
                    "{s}"
                );
            }
        }
        _ => {
            for s in c["sanitization"].as_array().unwrap() {
                assert_ne!(s["method"], "clear", "{fs} is not in-place: {s}");
                assert!(s["reason"].is_string());
            }
        }
    }
    assert_eq!(c["verification"]["result"], "passed");
}

/// On tmpfs the overwrite still happens (pages are rewritten in place), but swapped-out copies
/// are out of reach: the certificate must say "overwrite_best_effort" with that reason, never
/// Clear, and the summary must flag the downgrade.
#[test]
fn on_tmpfs_the_certificate_records_the_downgrade() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || fs_type(shm) != "tmpfs" {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("/dev/shm must be a tmpfs in CI");
        }
        eprintln!("SKIPPED: /dev/shm is not a tmpfs here");
        return;
    }
    let env = Env::keyed();
    let dir = tempfile::Builder::new()
        .prefix("handover-test-")
        .tempdir_in(shm)
        .unwrap();
    let s = fd_proof(&env, dir.path());
    assert!(s.downgraded);
    let c = certificate(&env, &s);
    let san = c["sanitization"].as_array().unwrap();
    assert!(!san.is_empty());
    for x in san {
        assert_eq!(x["filesystem"], "tmpfs");
        assert_eq!(x["method"], "overwrite_best_effort");
        assert_ne!(x["nist_category"], "Clear");
        assert!(x["reason"].as_str().unwrap().contains("swapped out"), "{x}");
    }
    assert!(
        c["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("tmpfs"))
    );
    minisign_verifies(&env, &s);
}

/// A single file given as the path, killed after it was unlinked but before that was
/// recorded: the path no longer exists, yet running the command again finishes the job.
#[test]
fn an_interrupted_shred_of_one_file_finishes_although_the_file_is_gone() {
    let env = Env::keyed();
    let f = env.path("one.bin");
    std::fs::write(&f, pattern(10_000)).unwrap();
    let o = env
        .cmd()
        .args(["shred", "--yes"])
        .arg(&f)
        .env("HANDOVER_FAILPOINTS", "shred.unlinked=kill@1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None);
    assert!(!f.exists());
    let s = summary(&shred_json(&env, &[f.to_str().unwrap()]));
    let c = certificate(&env, &s);
    assert_eq!(c["totals"]["files"], 1);
    assert_eq!(c["entries"][0]["status"], "deleted");
    assert_eq!(c["totals"]["overwritten_files"], 1);
    // Without a job to finish, a missing path is a blocker.
    let o = shred_json(&env, &[f.to_str().unwrap()]);
    let err = assert_code(&o, 3);
    assert!(err.contains("one.bin"), "{err}");
}

/// An outside tree full of marker files (the provider's own data), and a snapshot of it.
fn outside_tree(env: &Env) -> (std::path::PathBuf, crate::deletion::Snapshot) {
    let outside = env.path("outside");
    make_tree(&outside);
    let before = state_of(&outside);
    (outside, before)
}

/// `tree/a` becomes a symlink to a tree outside after the plan read `tree`'s names but before
/// it looked at any (`plan.readdir`, hit 1 is the root's). The walk must see a symlink and
/// never go through it: the link is unlinked, its target and the moved directory stay byte
/// for byte, and the certificate lists nothing under `a/`.
#[test]
fn a_directory_swapped_for_a_symlink_during_the_plan_is_never_followed() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let (outside, before) = outside_tree(&env);
    let mut cmd = env.cmd();
    // Names in clear: the certificate is searched by path.
    cmd.args(["--json", "shred", "--yes", "--names", "clear"])
        .arg(&tree);
    let p = run_paused(cmd, "plan.readdir", 1, &env.path("fp"));
    swap_for_symlink(&tree.join("a"), &env.path("stash"), &outside);
    let stash = state_of(&env.path("stash"));
    let s = summary(&p.resume());
    assert!(tree.symlink_metadata().is_err(), "the tree is gone");
    assert_eq!(state_of(&outside), before, "the outside tree is untouched");
    assert_eq!(
        state_of(&env.path("stash")),
        stash,
        "the moved directory too"
    );
    let c = certificate(&env, &s);
    no_entry_under(&c, 0, "a");
    let a = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "a")
        .expect("the symlink is listed");
    assert_eq!(a["kind"], "symlink");
    assert_eq!(c["totals"]["files"], 2, "f0.bin and f5.bin only");
}

/// The same swap after the plan's lstat saw a directory and before it opened it
/// (`plan.opening`: hit 1 is the root, hit 2 `a`): opened with O_NOFOLLOW it fails, and the
/// run refuses (exit 3) with nothing touched anywhere.
#[test]
fn a_directory_swapped_between_lstat_and_open_is_a_blocker() {
    let env = Env::keyed();
    let tree = env.path("tree");
    make_tree(&tree);
    let (outside, before) = outside_tree(&env);
    let mut cmd = env.cmd();
    cmd.args(["shred", "--yes"]).arg(&tree);
    let p = run_paused(cmd, "plan.opening", 2, &env.path("fp"));
    swap_for_symlink(&tree.join("a"), &env.path("stash"), &outside);
    let (in_tree, stash) = (state_of(&tree), state_of(&env.path("stash")));
    let err = assert_code(&p.resume(), 3);
    assert!(err.contains("became a symlink"), "{err}");
    assert!(err.contains("tree/a"), "{err}");
    assert_eq!(state_of(&outside), before);
    assert_eq!(state_of(&env.path("stash")), stash);
    assert_eq!(state_of(&tree), in_tree, "nothing deleted");
}

/// `link/../victim` is `victim` beside the directory `link` points into, as the kernel and
/// rm(1) resolve it; the `./victim` a textual reading gives stays.
#[test]
fn dot_dot_after_a_symlink_is_resolved_the_way_rm_does() {
    let env = Env::keyed();
    std::fs::create_dir_all(env.path("real/sub")).unwrap();
    std::fs::write(env.path("real/victim"), pattern(5000)).unwrap();
    std::fs::create_dir(env.path("work")).unwrap();
    std::fs::write(env.path("work/victim"), b"not this one").unwrap();
    std::os::unix::fs::symlink(env.path("real/sub"), env.path("work/link")).unwrap();
    let want = std::fs::canonicalize(env.path("real/victim")).unwrap();
    let before = state_of(&env.path("work"));
    let o = env
        .cmd()
        .current_dir(env.path("work"))
        .args(["--json", "shred", "--yes", "link/../victim"])
        .output()
        .unwrap();
    let s = summary(&o);
    assert_eq!(s.plan.roots[0].path, want.to_str().unwrap());
    assert!(env.path("real/victim").symlink_metadata().is_err());
    assert!(env.path("real/sub").is_dir());
    assert_eq!(state_of(&env.path("work")), before, "./victim stays");
}

/// A directory on the way to the root is replaced by a symlink to an outside tree after the
/// path was resolved and before its parent is opened (`plan.resolved`): the handle-based open
/// refuses the symlink, the run exits 3 and neither tree changes.
#[test]
fn a_symlink_swapped_into_the_parent_path_after_resolution_is_refused() {
    let env = Env::keyed();
    let victim = env.path("p/q/victim");
    make_tree(&victim);
    make_tree(&env.path("outside/q/victim"));
    let before = state_of(&env.path("outside"));
    let mut cmd = env.cmd();
    cmd.args(["shred", "--yes"]).arg(&victim);
    let p = run_paused(cmd, "plan.resolved", 1, &env.path("fp"));
    swap_for_symlink(&env.path("p"), &env.path("p-real"), &env.path("outside"));
    let moved = state_of(&env.path("p-real"));
    let err = assert_code(&p.resume(), 3);
    assert!(err.contains("replaced by a symlink"), "{err}");
    assert_eq!(state_of(&env.path("outside")), before);
    assert_eq!(state_of(&env.path("p-real")), moved);
    assert_eq!(count_files(&env.path("p-real")), 7);
}

/// A bind mount of an outside directory (same filesystem, same st_dev) dropped onto a
/// directory of the tree while the plan walks it is refused by its mount id, never walked.
/// Needs root for `mount --bind` (as the suite runs in CI); says so and skips elsewhere.
#[test]
fn a_bind_mount_dropped_in_during_the_plan_is_never_walked() {
    let env = Env::keyed();
    let tree = env.path("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/a"), b"x").unwrap();
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious"), b"the provider's secret").unwrap();
    let before = state_of(&outside);
    let mut cmd = env.cmd();
    cmd.args(["--json", "shred", "--yes"]).arg(&tree);
    let paused = run_paused(cmd, "plan.readdir", 1, &env.path("fp"));
    let mounted = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&outside)
        .arg(tree.join("sub"))
        .status()
        .is_ok_and(|s| s.success());
    let o = paused.resume();
    if mounted {
        let _ = std::process::Command::new("umount")
            .arg(tree.join("sub"))
            .status();
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "mount --bind failed under CI=true: this test needs root"
        );
        eprintln!("SKIPPED: mount --bind is not permitted here (needs root)");
        return;
    }
    assert_eq!(
        state_of(&outside),
        before,
        "nothing outside the root changed"
    );
    let err = assert_code(&o, 3);
    assert!(err.contains("mounted here"), "{err}");
}
