//! Issue 2's promises about `export`, `keygen` and `list`, as a user sees them: exit codes,
//! messages that name the problem, and which files exist afterwards. Every failure case also
//! checks that nothing was left behind: no file in --out (temporary ones included), nothing
//! in the binary's TMPDIR, no handover recorded.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use handover::ExportSummary;

use crate::common::*;

/// A small client tree: a few files in a folder.
fn small_tree(root: &Path) {
    fs::create_dir_all(root.join("invoices")).unwrap();
    fs::write(root.join("README.txt"), "acme\n").unwrap();
    fs::write(root.join("invoices/INV-1.csv"), "1,2,3\n").unwrap();
    fs::write(root.join("invoices/INV-2.csv"), "4,5,6\n").unwrap();
}

/// `handover export DATA --client acme --out OUT` (recipients and options to be added).
fn export_cmd(env: &Env, data: &Path, out: &Path) -> Command {
    let mut c = env.cmd();
    c.arg("export")
        .arg(data)
        .args(["--client", "acme", "--out"])
        .arg(out);
    c
}

/// Runs `cmd` with `prelude` applied by a shell first (`ulimit`, `umask`, `trap`).
fn with_shell(cmd: &Command, prelude: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!("{prelude}; exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

fn stdout_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An export that failed before writing anything: exit 1, the message contains every
/// `needle`, and `out` was never even created.
fn assert_refused_before_output(env: &Env, o: &Output, out: &Path, needles: &[&str]) -> String {
    let err = assert_code(o, 1);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(
        err.starts_with("handover: error: "),
        "one error line first:\n{err}"
    );
    assert!(
        !out.exists(),
        "{} was created by a refused export",
        out.display()
    );
    env.assert_nothing_left(out);
    err
}

#[test]
fn export_writes_text_to_stderr_and_json_to_stdout() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);

    let o = export_cmd(&env, &data, &env.path("out"))
        .args(["-r", &r, "--name", "plain"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(stdout_text(&o), "", "without --json, stdout stays empty");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("3 files"), "{err}");
    assert!(err.contains("plain.tar.zst.age"), "{err}");
    assert_eq!(
        listing(&env.path("out")),
        [
            "plain.manifest.json",
            "plain.manifest.json.minisig",
            "plain.tar.zst.age"
        ]
    );

    let o = export_cmd(&env, &data, &env.path("out"))
        .args(["--json", "-r", &r, "--name", "json"])
        .output()
        .unwrap();
    assert_ok(&o);
    // The document itself: snake_case keys, and these fields present (not null).
    let doc = json(&o.stdout);
    assert_snake_case_keys(&doc);
    for k in [
        "handover_id",
        "archive_path",
        "manifest_path",
        "signature_path",
        "files",
        "bytes_in",
        "bytes_out",
        "seconds",
    ] {
        assert!(!doc[k].is_null(), "--json lacks {k}: {doc}");
    }
    let s: ExportSummary = parse(&o.stdout);
    assert_eq!(s.files, 3);
    assert_eq!(s.directories, 1);
    assert_eq!(s.bytes_in, 17);
    assert_eq!(s.handover_id.len(), 32);
    for (k, p) in export_outputs(&s) {
        assert!(p.is_file(), "{k} {}", p.display());
        assert_eq!(
            p.parent().unwrap(),
            fs::canonicalize(env.path("out")).unwrap()
        );
    }
    assert_eq!(s.bytes_out, fs::metadata(&s.archive_path).unwrap().len());
    // The default name is <client>-<UTC timestamp>.
    let o = export_cmd(&env, &data, &env.path("out2"))
        .args(["--json", "-r", &r])
        .output()
        .unwrap();
    assert_ok(&o);
    let name = parse::<ExportSummary>(&o.stdout).name;
    let stamp = name
        .strip_prefix("acme-")
        .expect("name starts with the client");
    assert!(
        stamp.len() == 16 && stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
}

#[test]
fn list_shows_every_handover_as_a_table_or_one_json_document() {
    let env = Env::new();
    // An empty home: nothing on stdout, a note on stderr, an empty JSON list.
    let o = env.run(&["list"]);
    assert_ok(&o);
    assert_eq!(stdout_text(&o), "");
    let o = env.run(&["--json", "list"]);
    assert_ok(&o);
    assert_eq!(json(&o.stdout), serde_json::json!({ "handovers": [] }));

    let r = env.keys();
    let data = env.path("data");
    small_tree(&data);
    let mut made = Vec::new();
    for (client, name) in [("acme", "first"), ("globex", "second")] {
        let o = env
            .cmd()
            .args(["--json", "export"])
            .arg(&data)
            .args(["--client", client, "--name", name, "-r", &r, "--out"])
            .arg(env.path("out"))
            .output()
            .unwrap();
        assert_ok(&o);
        made.push(parse::<ExportSummary>(&o.stdout));
    }

    let o = env.run(&["list"]);
    assert_ok(&o);
    let table = stdout_text(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and one row per handover:\n{table}"
    );
    assert!(lines[0].starts_with("ID ") && lines[0].contains("NAME"));
    // Two exports in the same second may list in either order. A row names the handover by
    // its name and the first 8 characters of its id, and fits 100 columns.
    for s in &made {
        let id = &s.handover_id[..8];
        let row = lines[1..]
            .iter()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
        assert!(row.contains(&s.name), "{row}");
        assert!(row.chars().count() <= 100, "{row}");
    }

    let o = env.run(&["--json", "list"]);
    assert_ok(&o);
    let l = json(&o.stdout);
    assert_snake_case_keys(&l);
    let rows = l["handovers"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for s in &made {
        let row = rows
            .iter()
            .find(|row| row["handover_id"] == s.handover_id.as_str())
            .unwrap_or_else(|| panic!("no row for {}", s.handover_id));
        for (k, v) in [
            ("handover_id", serde_json::json!(s.handover_id)),
            ("client", serde_json::json!(s.client)),
            ("archive_path", serde_json::json!(s.archive_path)),
            ("manifest_path", serde_json::json!(s.manifest_path)),
            ("signature_path", serde_json::json!(s.signature_path)),
            ("archive_sha256", serde_json::json!(s.archive_sha256)),
            ("files", serde_json::json!(s.files)),
        ] {
            assert_eq!(row[k], v, "{k}");
        }
        assert_eq!(
            row["source_path"],
            fs::canonicalize(&data).unwrap().to_str().unwrap()
        );
    }
}

#[test]
fn bad_recipients_are_refused_before_any_output() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");

    let o = export_cmd(&env, &data, &out)
        .args(["-r", "foo"])
        .output()
        .unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        // Not echoed: an unrecognised value could be a secret pasted in the wrong place.
        &[
            "invalid recipient (3 characters, not shown)",
            "unknown recipient type",
        ],
    );

    // A valid key with one character changed: the Bech32 checksum fails.
    let mut bad = r.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'q' { b'p' } else { b'q' };
    let bad = String::from_utf8(bad).unwrap();
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r, "-r", &bad])
        .output()
        .unwrap();
    assert_refused_before_output(&env, &o, &out, &["invalid recipient", "age1"]);

    let o = export_cmd(&env, &data, &out).output().unwrap();
    assert_refused_before_output(&env, &o, &out, &["no recipients", "-r"]);

    let o = export_cmd(&env, &data, &out)
        .arg("-R")
        .arg(env.path("missing.recipients"))
        .output()
        .unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        &["cannot read recipients file", "missing.recipients"],
    );

    // A recipients file with a bad line: named by file and line number, never quoted (a
    // line could be anything pasted into the wrong file).
    let rf = env.path("acme.recipients");
    fs::write(
        &rf,
        format!("# Acme\n\n{r}\nnot-a-key CONFIDENTIAL-LINE-CONTENT\n"),
    )
    .unwrap();
    let o = export_cmd(&env, &data, &out)
        .arg("-R")
        .arg(&rf)
        .output()
        .unwrap();
    let err = assert_refused_before_output(&env, &o, &out, &["acme.recipients", "line 4"]);
    assert!(!err.contains("CONFIDENTIAL"), "the line was echoed:\n{err}");
    assert!(!err.contains("not-a-key"), "the line was echoed:\n{err}");
}

#[test]
fn a_secret_key_given_as_recipient_is_refused_and_never_echoed() {
    let World {
        env,
        recipient: _,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    let secret = fs::read_to_string(env.path("client.agekey"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string();
    let body = secret["AGE-SECRET-KEY-1".len()..].to_ascii_lowercase();
    // No 6 characters in a row of the key's body may appear, in any case, in any output.
    let leaks = |text: &str| {
        let text = text.to_ascii_lowercase();
        body.as_bytes()
            .windows(6)
            .find(|w| text.contains(std::str::from_utf8(w).unwrap()))
            .map(|w| String::from_utf8_lossy(w).into_owned())
    };
    let rf = env.path("pasted.recipients");
    fs::write(&rf, format!("{secret}\n")).unwrap();
    let lower = secret.to_ascii_lowercase();
    let padded = format!("  {secret}  ");
    let cases: Vec<Vec<&OsStr>> = vec![
        vec!["-r".as_ref(), secret.as_ref()],
        vec!["-r".as_ref(), lower.as_ref()],
        vec!["-r".as_ref(), padded.as_ref()],
        vec!["-R".as_ref(), rf.as_os_str()],
    ];
    for args in cases {
        let o = export_cmd(&env, &data, &out)
            .arg("--json")
            .args(&args)
            .output()
            .unwrap();
        let err = assert_code(&o, 1);
        assert!(
            err.contains("recipient") || err.contains("line 1"),
            "{args:?}: {err}"
        );
        for (what, text) in [("stderr", err.clone()), ("stdout", stdout_text(&o))] {
            assert_eq!(
                leaks(&text),
                None,
                "{args:?}: the secret key leaks on {what}:\n{text}"
            );
        }
        env.assert_nothing_left(&out);
    }
}

#[test]
fn signing_key_problems_are_refused_before_any_output() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");

    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r, "--sign-key"])
        .arg(env.path("nowhere.key"))
        .output()
        .unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        &[
            "cannot read the signing key",
            "nowhere.key",
            "handover keygen",
        ],
    );

    fs::write(env.path("garbage.key"), "this is not a key\n").unwrap();
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r, "--sign-key"])
        .arg(env.path("garbage.key"))
        .output()
        .unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        &["garbage.key", "not a usable minisign secret key"],
    );

    // A home without a key, and no --sign-key.
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r])
        .arg("--home")
        .arg(env.path("empty-home"))
        .output()
        .unwrap();
    assert_refused_before_output(&env, &o, &out, &["cannot read the signing key"]);
}

#[test]
fn an_unreadable_signing_key_is_refused() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    share_with_unprivileged(&env, &[&env.home()]);
    fs::set_permissions(env.sign_key(), fs::Permissions::from_mode(0o000)).unwrap();
    let mut c = export_cmd(&env, &data, &out);
    c.args(["-r", &r]);
    let o = unprivileged(c).output().unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        &[
            "cannot read the signing key",
            "handover.key",
            "ermission denied",
        ],
    );
}

#[test]
fn a_wrong_or_missing_key_password_is_refused() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    let o = env
        .cmd()
        .env("HANDOVER_KEY_PASSWORD", "correct horse")
        .args(["keygen", "--out"])
        .arg(env.path("locked"))
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("password-protected"));
    let key = env.path("locked/handover.key");

    let o = export_cmd(&env, &data, &out)
        .env("HANDOVER_KEY_PASSWORD", "battery staple")
        .args(["-r", &r, "--sign-key"])
        .arg(&key)
        .output()
        .unwrap();
    let err = assert_refused_before_output(&env, &o, &out, &["wrong password", "handover.key"]);
    assert!(!err.contains("battery") && !err.contains("horse"), "{err}");

    // No password and no terminal to ask on.
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r, "--sign-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_refused_before_output(
        &env,
        &o,
        &out,
        &["password-protected", "HANDOVER_KEY_PASSWORD"],
    );

    // The right password works: the refusals above were about the password.
    let o = export_cmd(&env, &data, &out)
        .env("HANDOVER_KEY_PASSWORD", "correct horse")
        .args(["-r", &r, "--sign-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_ok(&o);
}

#[test]
fn an_output_directory_inside_the_data_directory_is_refused_and_not_created() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    std::os::unix::fs::symlink(&data, env.path("data-link")).unwrap();
    let before = snapshot(&data);
    // Plainly inside; inside after `..`; inside through a symlinked data path; inside
    // through a symlinked output path; the data directory itself.
    let cases: Vec<(PathBuf, PathBuf, PathBuf)> = vec![
        (data.clone(), data.join("out"), data.join("out")),
        (data.clone(), data.join("invoices/../out"), data.join("out")),
        (
            env.path("data-link"),
            env.path("data-link/out"),
            data.join("out"),
        ),
        (data.clone(), env.path("data-link/out"), data.join("out")),
        (data.clone(), data.clone(), data.clone()),
        // Relative, through the link and `..` (run from the scratch folder).
        (
            PathBuf::from("data"),
            PathBuf::from("data-link/invoices/../out"),
            data.join("out"),
        ),
    ];
    for (d, out, real) in cases {
        let o = export_cmd(&env, &d, &out)
            .current_dir(env.dir.path())
            .args(["-r", &r])
            .output()
            .unwrap();
        let err = assert_code(&o, 1);
        assert!(
            err.contains("is inside the data directory"),
            "{}: {err}",
            out.display()
        );
        if real != data {
            assert!(
                !real.exists(),
                "--out {} was created inside the client's data",
                out.display()
            );
        }
        assert_eq!(snapshot(&data), before, "the data directory changed");
        assert_eq!(env.recorded(), 0);
        assert_eq!(listing(&env.path("tmp")), Vec::<String>::new());
    }
}

#[test]
fn the_providers_home_or_signing_key_inside_the_data_is_refused() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let inner_home = data.join(".handover");
    let o = env
        .cmd_with_home(&inner_home)
        .args(["keygen", "--no-password"])
        .output()
        .unwrap();
    assert_ok(&o);
    let before = snapshot(&data);
    let out = env.path("out");
    // The home (with its key) in the data; a home that would be created in the data; the
    // signing key alone in the data.
    let cases: Vec<(PathBuf, Option<PathBuf>, &str)> = vec![
        (inner_home.clone(), None, "home folder"),
        (data.join("new-home"), Some(env.sign_key()), "home folder"),
        (
            env.home(),
            Some(inner_home.join("handover.key")),
            "signing key",
        ),
    ];
    for (home, key, what) in cases {
        let mut c = env.cmd_with_home(&home);
        c.arg("export")
            .arg(&data)
            .args(["--client", "acme", "-r", &r, "--out"])
            .arg(&out);
        if let Some(k) = &key {
            c.arg("--sign-key").arg(k);
        }
        let o = c.output().unwrap();
        let err = assert_code(&o, 1);
        assert!(
            err.contains(&format!("the {what}")) && err.contains("inside the data directory"),
            "{err}"
        );
        assert!(!out.exists());
        assert_eq!(snapshot(&data), before, "the data directory changed");
    }
    env.assert_nothing_left(&out);
}

#[test]
fn a_missing_data_directory_or_a_file_is_refused() {
    let (env, r) = Env::with_keys();
    let out = env.path("out");
    let o = export_cmd(&env, &env.path("no-such-dir"), &out)
        .args(["-r", &r])
        .output()
        .unwrap();
    assert_refused_before_output(&env, &o, &out, &["no-such-dir", "does not exist"]);

    fs::write(env.path("a-file.txt"), "not a folder\n").unwrap();
    let o = export_cmd(&env, &env.path("a-file.txt"), &out)
        .args(["-r", &r])
        .output()
        .unwrap();
    assert_refused_before_output(&env, &o, &out, &["a-file.txt", "is not a directory"]);
}

#[test]
fn an_output_path_that_is_a_file_is_refused() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    fs::write(&out, "a file\n").unwrap();
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r])
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains("cannot write") && err.contains("out"), "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "a file\n");
    assert_eq!(env.recorded(), 0);
}

#[test]
fn bad_names_and_levels_are_refused() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    for level in ["0", "23", "-1"] {
        let o = export_cmd(&env, &data, &out)
            .args(["-r", &r, &format!("--level={level}")])
            .output()
            .unwrap();
        let err = assert_code(&o, 2);
        assert!(err.contains("--level"), "{err}");
        env.assert_nothing_left(&out);
    }
    for (flag, value) in [
        ("--client", "../acme"),
        ("--client", ""),
        ("--name", "a/b"),
        ("--name", ".hidden"),
    ] {
        let mut c = env.cmd();
        c.arg("export")
            .arg(&data)
            .args(["-r", &r, "--out"])
            .arg(&out);
        if flag == "--name" {
            c.args(["--client", "acme"]);
        }
        let o = c.arg(format!("{flag}={value}")).output().unwrap();
        let err = assert_code(&o, 1);
        assert!(err.contains("invalid"), "{flag} {value:?}: {err}");
        env.assert_nothing_left(&out);
    }
}

#[test]
fn an_unreadable_file_or_folder_is_named_and_nothing_is_left() {
    let (env, r) = Env::with_keys();
    for (what, make) in [("file", "secret.txt"), ("folder", "locked")] {
        let data = env.path(&format!("data-{what}"));
        small_tree(&data);
        let target = data.join(make);
        if what == "file" {
            fs::write(&target, "unreadable\n").unwrap();
        } else {
            fs::create_dir(&target).unwrap();
            fs::write(target.join("inside.txt"), "x\n").unwrap();
        }
        fs::set_permissions(&target, fs::Permissions::from_mode(0o000)).unwrap();
        let out = env.path("out");
        fs::create_dir_all(&out).unwrap();
        share_with_unprivileged(&env, &[&env.home(), &out]);
        let mut c = export_cmd(&env, &data, &out);
        c.args(["-r", &r]);
        let o = unprivileged(c).output().unwrap();
        let err = assert_code(&o, 1);
        assert!(err.contains("cannot read"), "{what}: {err}");
        assert!(err.contains(make), "{what}: the message names it: {err}");
        assert!(err.contains("ermission denied"), "{what}: {err}");
        env.assert_nothing_left(&out);
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn a_file_that_changes_while_being_read_is_named_and_nothing_is_left() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    // A sparse 64 MiB file: reading it takes long enough for thousands of writes to land
    // while it is read, and costs no disk.
    let growing = data.join("growing.log");
    fs::File::create(&growing)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let out = env.path("out");
    // Appended to (size and mtime change), then rewritten in place (only the mtime changes).
    for append in [true, false] {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, writes, path) = (stop.clone(), writes.clone(), growing.clone());
            std::thread::spawn(move || {
                let f = fs::OpenOptions::new()
                    .append(append)
                    .write(true)
                    .open(&path)
                    .unwrap();
                // One byte per write: the file grows by about 1 MB/s at most, and the cap
                // bounds it even if the export hangs.
                while !stop.load(Ordering::Relaxed) && writes.load(Ordering::Relaxed) < 20_000_000 {
                    if append {
                        std::io::Write::write_all(&mut &f, b"x").unwrap();
                    } else {
                        f.write_all_at(b"y", 4096).unwrap();
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        while writes.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        let o = export_cmd(&env, &data, &out)
            .args(["-r", &r])
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let err = assert_code(&o, 1);
        assert!(
            err.contains("changed while it was being read"),
            "append={append}: {err}"
        );
        assert!(err.contains("growing.log"), "append={append}: {err}");
        env.assert_nothing_left(&out);
    }
}

#[test]
fn a_write_error_midway_leaves_no_file() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    // 1 MiB that does not compress: the archive must pass the 200 KiB limit.
    fs::write(data.join("photo.jpg"), noise(1 << 20, 42)).unwrap();
    let out = env.path("out");
    let mut c = export_cmd(&env, &data, &out);
    c.args(["-r", &r]);
    // Writes past 200 KiB fail with EFBIG, as on a full disk (SIGXFSZ ignored, or the
    // kernel would kill the process instead).
    let o = with_shell(&c, "trap '' XFSZ; ulimit -f 200")
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains("cannot write"), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains(".tar.zst.age"), "{err}");
    env.assert_nothing_left(&out);

    // The same export without the limit succeeds: the failure was the write.
    assert_ok(&c.output().unwrap());
}

#[test]
fn fifos_and_sockets_are_refused_by_name() {
    let (env, r) = Env::with_keys();
    let out = env.path("out");
    for kind in ["fifo", "socket"] {
        let data = env.path(&format!("data-{kind}"));
        small_tree(&data);
        let special = data.join(format!("invoices/the-{kind}"));
        let _listener;
        if kind == "fifo" {
            let c = std::ffi::CString::new(special.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        } else {
            _listener = std::os::unix::net::UnixListener::bind(&special).unwrap();
        }
        let o = export_cmd(&env, &data, &out)
            .args(["-r", &r])
            .output()
            .unwrap();
        let err = assert_code(&o, 1);
        assert!(err.contains(&format!("the-{kind}")), "{err}");
        assert!(err.contains(&format!("is a {kind}")), "{err}");
        env.assert_nothing_left(&out);
    }
}

#[test]
fn export_never_overwrites_an_existing_output() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.path("out");
    let run = || {
        export_cmd(&env, &data, &out)
            .args(["-r", &r, "--name", "final"])
            .output()
            .unwrap()
    };
    assert_ok(&run());
    let files = listing(&out);
    let hashes: Vec<String> = files.iter().map(|f| sha256_file(&out.join(f))).collect();
    let err = assert_code(&run(), 1);
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("final."), "{err}");
    assert_eq!(listing(&out), files, "no temp file left beside the outputs");
    let after: Vec<String> = files.iter().map(|f| sha256_file(&out.join(f))).collect();
    assert_eq!(after, hashes, "the first export's files are untouched");
    assert_eq!(env.recorded(), 1);

    // Any one of the three names taken is enough, and that file is left alone.
    let out2 = env.path("out2");
    fs::create_dir(&out2).unwrap();
    fs::write(out2.join("final.manifest.json"), "someone else's\n").unwrap();
    let o = export_cmd(&env, &data, &out2)
        .args(["-r", &r, "--name", "final"])
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains("final.manifest.json"), "{err}");
    assert_eq!(listing(&out2), ["final.manifest.json"]);
    assert_eq!(
        fs::read_to_string(out2.join("final.manifest.json")).unwrap(),
        "someone else's\n"
    );
    assert_eq!(env.recorded(), 1);
}

#[test]
fn keygen_writes_private_keys_0600_and_never_overwrites() {
    let env = Env::new();
    // Even with a umask that would leave the key open to everyone.
    let mut c = env.cmd();
    c.args(["keygen", "--no-password"]);
    let o = with_shell(&c, "umask 000").output().unwrap();
    assert_ok(&o);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&env.sign_key()), 0o600);
    assert_eq!(mode(&env.public_key()), 0o644);
    let key = fs::read(env.sign_key()).unwrap();
    let public = fs::read(env.public_key()).unwrap();
    assert!(String::from_utf8_lossy(&public).starts_with("untrusted comment: "));

    let o = env.run(&["keygen", "--no-password"]);
    let err = assert_code(&o, 1);
    assert!(
        err.contains("already exists") && err.contains("handover.key"),
        "{err}"
    );
    assert_eq!(
        fs::read(env.sign_key()).unwrap(),
        key,
        "the key was overwritten"
    );
    assert_eq!(fs::read(env.public_key()).unwrap(), public);
    // The home holds the pair, the audit log's own key, the certificate key with its
    // delegation, and the state database (keygen is an audited event); nothing else.
    assert_eq!(
        listing(&env.home()),
        [
            "audit.key",
            "audit.pub",
            "cert-delegation.json",
            "cert-delegation.json.minisig",
            "cert.key",
            "cert.pub",
            "handover.key",
            "handover.pub",
            "state.db"
        ]
    );

    // A lone public key is not replaced either (the pair would no longer match).
    let lone = env.path("lone");
    fs::create_dir(&lone).unwrap();
    fs::write(lone.join("handover.pub"), "mine\n").unwrap();
    let o = env.run(&["keygen", "--no-password", "--out", lone.to_str().unwrap()]);
    assert_code(&o, 1);
    assert_eq!(listing(&lone), ["handover.pub"]);

    // --json: one document, snake_case, naming what was written.
    let o = env.run(&[
        "--json",
        "keygen",
        "--no-password",
        "--out",
        env.path("k2").to_str().unwrap(),
    ]);
    assert_ok(&o);
    assert_snake_case_keys(&json(&o.stdout));
    let k: handover::KeygenSummary = parse(&o.stdout);
    assert!(!k.password_protected);
    assert_eq!(k.key_id.len(), 16);
    assert!(
        fs::read_to_string(env.path("k2/handover.pub"))
            .unwrap()
            .contains(&k.public_key)
    );

    let ages = env.path("ages");
    let o = with_shell(
        env.cmd().args(["keygen", "--age", "--out"]).arg(&ages),
        "umask 000",
    )
    .output()
    .unwrap();
    assert_ok(&o);
    assert_eq!(mode(&ages.join("age.key")), 0o600);
    let id = fs::read(ages.join("age.key")).unwrap();
    let o = env.run(&["--json", "keygen", "--age", "--out", ages.to_str().unwrap()]);
    let err = assert_code(&o, 1);
    assert_eq!(json(&o.stdout)["error"]["exit_code"], 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(ages.join("age.key")).unwrap(), id);
}

#[test]
fn strict_names_refuses_a_non_utf8_name_which_is_otherwise_kept_with_a_warning() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    fs::write(
        data.join(OsStr::from_bytes(b"invoices/caf\xe9-\xff.txt")),
        "latin-1\n",
    )
    .unwrap();
    let out = env.path("out");
    let o = export_cmd(&env, &data, &out)
        .args(["-r", &r, "--strict-names"])
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains("--strict-names"), "{err}");
    assert!(
        err.contains(r"caf\xE9-\xFF.txt"),
        "the message names the file: {err}"
    );
    env.assert_nothing_left(&out);

    // Without --strict-names: stored, and listed in a warning and in --json.
    let o = export_cmd(&env, &data, &out)
        .args(["--json", "-r", &r])
        .output()
        .unwrap();
    assert_ok(&o);
    let s: ExportSummary = parse(&o.stdout);
    assert_eq!(s.non_utf8_names, [r"invoices/caf\xE9-\xFF.txt"]);
    assert_eq!(s.files, 4);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains("warning") && l.contains(r"invoices/caf\xE9-\xFF.txt")),
        "{err}"
    );
    // --quiet silences the warning, not the data.
    let o = export_cmd(&env, &data, &env.path("out-quiet"))
        .args(["--quiet", "--json", "-r", &r])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_eq!(parse::<ExportSummary>(&o.stdout).files, 4);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
}

#[test]
fn a_json_error_is_one_document_on_stdout() {
    let World {
        env,
        recipient: _,
        data,
    } = World::new("data", small_tree);
    let o = export_cmd(&env, &data, &env.path("out"))
        .args(["--json", "-r", "foo"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let v = json(&o.stdout);
    assert_snake_case_keys(&v);
    assert_eq!(v["error"]["exit_code"], 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid recipient"),
        "{v}"
    );
    // --quiet silences progress and warnings, never the error.
    let o = export_cmd(&env, &data, &env.path("out"))
        .args(["--quiet", "-r", "foo"])
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains("invalid recipient"), "{err}");
    assert_eq!(stdout_text(&o), "");
}

#[test]
fn json_summary_survives_a_non_utf8_output_path() {
    let World {
        env,
        recipient: r,
        data,
    } = World::new("data", small_tree);
    let out = env.dir.path().join(OsStr::from_bytes(b"outbox-caf\xe9"));
    let o = export_cmd(&env, &data, &out)
        .args(["--json", "-r", &r, "--name", "n"])
        .output()
        .unwrap();
    assert_ok(&o);
    // The path as printed: its non-UTF-8 byte escaped, as a text field.
    let s: ExportSummary = parse(&o.stdout);
    let archive = s.archive_path.to_str().unwrap();
    assert!(
        archive.ends_with(r"outbox-caf\xE9/n.tar.zst.age"),
        "{archive}"
    );
    assert_eq!(listing(&out).len(), 3);
}

/// Ctrl-C or SIGTERM in the middle of an export: the run stops with an error, and its
/// temporary archive and spools are removed (nothing under a final name, nothing hidden).
#[test]
fn a_signal_mid_export_leaves_nothing_behind() {
    let (env, _) = Env::with_keys();
    let data = env.path("data");
    fs::create_dir(&data).unwrap();
    // 8 GiB of holes: cheap on disk, many seconds of reading and compressing.
    fs::File::create(data.join("big.bin"))
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let out = env.path("out");
    let child = env
        .cmd()
        .arg("export")
        .arg(&data)
        .args([
            "--client",
            "acme",
            "-r",
            &recipient_of(&env.path("client.agekey")),
        ])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary archive exists, then ask the process to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while listing(&out).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "export never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let err = assert_code(&o, 130);
    assert!(err.contains("interrupted"), "{err}");
    env.assert_nothing_left(&out);
}
