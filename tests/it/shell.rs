//! Fitting the shell and the system, through the real binary: completion scripts that each
//! shell parses, a manual page that man and groff read without warnings, systemd units and a
//! crontab line for a home path with a space and a `%`, the output contracts (JSON usage
//! errors, a closed pipe, Ctrl-C) and the messages that help (plurals, the `list` table, a
//! home without state, `-r FILE`, a password typed twice differently, a dry run before the
//! receipt).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handover::ShredSummary;

use crate::common::*;

fn stdout_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs `prog ARGS` with `input` on stdin; returns its output.
fn run_with_stdin(prog: &str, args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn completions_parse_in_each_shell() {
    let env = Env::new();
    for (shell, checker) in [
        ("bash", Some("bash")),
        ("zsh", Some("zsh")),
        ("fish", Some("fish")),
        ("elvish", None),
        ("powershell", None),
    ] {
        let o = env.run(&["completions", shell]);
        assert_ok(&o);
        let script = o.stdout;
        assert!(
            String::from_utf8_lossy(&script).contains("run-due"),
            "the {shell} script knows the commands"
        );
        let Some(prog) = checker else { continue };
        if !require_tool(prog) {
            continue;
        }
        let check = run_with_stdin(prog, &["-n"], &script);
        assert!(
            check.status.success(),
            "{prog} -n on the {shell} completion: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // An unknown shell is a usage error.
    assert_code(&env.run(&["completions", "tcsh"]), 2);
}

#[test]
fn man_page_reads_back_without_warnings() {
    let env = Env::new();
    let o = env.run(&["man"]);
    assert_ok(&o);
    let page = env.path("handover.1");
    fs::write(&page, &o.stdout).unwrap();
    let roff = stdout_text(&o);
    assert!(roff.contains(".TH handover 1"), "{roff}");
    for word in ["completions", "run\\-due", "Exit status"] {
        assert!(roff.contains(word), "{word} in the page");
    }
    // One command's page, and every page written into a folder.
    let o = env.run(&["man", "certificate", "check"]);
    assert_ok(&o);
    assert!(stdout_text(&o).contains(".TH handover-certificate-check 1"));
    assert_code(&env.run(&["man", "no-such-command"]), 2);
    let dir = env.path("man1");
    let o = env.run(&["--json", "man", "--out", dir.to_str().unwrap()]);
    assert_ok(&o);
    let pages = listing(&dir);
    assert_eq!(
        json(&o.stdout)["pages"].as_array().unwrap().len(),
        pages.len()
    );
    for p in ["handover.1", "handover-export.1", "handover-audit-verify.1"] {
        assert!(pages.contains(&p.to_string()), "{p} in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
    if require_tool("groff") {
        for p in std::iter::once(page.clone()).chain(pages.iter().map(|p| dir.join(p))) {
            let g = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&p)
                .output()
                .unwrap();
            assert!(g.status.success());
            let warned = String::from_utf8_lossy(&g.stderr);
            assert_eq!(warned, "", "groff warnings on {}", p.display());
        }
    }
    if require_tool("man") {
        let m = Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        assert_eq!(String::from_utf8_lossy(&m.stderr), "", "man warnings");
        assert!(String::from_utf8_lossy(&m.stdout).contains("completions"));
    }
}

/// A scratch area whose home and program paths hold a space and a `%`, the two characters
/// systemd and cron read specially; returns it, the home and a copy of the binary there.
fn awkward_paths() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let home = env.path("Client Files/100% handover");
    fs::create_dir_all(&home).unwrap();
    let bin_dir = env.path("bin dir%h");
    fs::create_dir_all(&bin_dir).unwrap();
    let exe = bin_dir.join("handover");
    fs::copy(env!("CARGO_BIN_EXE_handover"), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    (env, home, exe)
}

/// Runs the copied binary `exe` with `args`. Another test thread that forks while the copy
/// was still open for writing holds it open for a moment, and exec then fails with ETXTBSY
/// ("Text file busy"): try again for a while.
fn run_copy(exe: &Path, home: &Path, args: &[&str]) -> Output {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match Command::new(exe)
            .arg("--home")
            .arg(home)
            .args(args)
            .output()
        {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r.unwrap(),
        }
    }
}

#[test]
fn systemd_units_for_a_home_with_a_space_verify() {
    let (env, home, exe) = awkward_paths();
    let units = env.path("units");
    let units_arg = units.to_str().unwrap();
    let o = run_copy(&exe, &home, &["timer", "--systemd", "--out", units_arg]);
    assert_ok(&o);
    assert_eq!(
        listing(&units),
        ["handover-run-due.service", "handover-run-due.timer"]
    );
    let service = fs::read_to_string(units.join("handover-run-due.service")).unwrap();
    assert!(
        service.contains("\nUser=")
            && service.contains("\nSuccessExitStatus=4\n")
            // Not --quiet: what waits is reported in the journal.
            && service.contains("\" run-due\n")
            && service.contains("Client Files/100%% handover\"")
            && service.contains("/bin dir%%h/handover\""),
        "{service}"
    );
    // What was printed before still is, with the same units.
    let printed = run_copy(&exe, &home, &["timer", "--systemd"]);
    assert_ok(&printed);
    assert!(stdout_text(&printed).contains(&service));
    // An existing unit is never overwritten.
    let again = run_copy(
        &exe,
        &home,
        &["--json", "timer", "--systemd", "--out", units_arg],
    );
    assert_code(&again, 1);
    assert_eq!(json(&again.stdout)["error"]["kind"], "io_error");

    if require_tool("systemd-analyze") {
        let v = Command::new("systemd-analyze")
            .arg("verify")
            .arg(units.join("handover-run-due.service"))
            .arg(units.join("handover-run-due.timer"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(v.status.success(), "systemd-analyze verify: {err}");
        assert!(!err.contains("handover-run-due"), "{err}");
    }
}

#[test]
fn the_crontab_line_runs_with_the_exact_paths() {
    let (_env, home, exe) = awkward_paths();
    let o = run_copy(&exe, &home, &["timer", "--cron"]);
    assert_ok(&o);
    let text = stdout_text(&o);
    let line = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .expect("a crontab line");
    // Five time fields, then the command; no bare % (cron would cut the command there).
    let command: String = line.splitn(6, ' ').nth(5).unwrap().to_string();
    assert!(!command.replace("\\%", "").contains('%'), "{command}");
    assert!(command.ends_with(" --quiet run-due"), "{command}");
    // Run it as cron would: `\%` becomes `%`, then sh runs the rest. `list` stands in for
    // run-due, so that the home it was given is the one that answers.
    let as_cron = command
        .replace("\\%", "%")
        .replace(" --quiet run-due", " list");
    let r = Command::new("sh").arg("-c").arg(&as_cron).output().unwrap();
    assert_ok(&r);
    let said = String::from_utf8_lossy(&r.stderr);
    assert!(
        said.contains(&home.join("state.db").display().to_string()),
        "{said}"
    );
}

#[test]
fn usage_errors_under_json_print_the_error_document() {
    let env = Env::new();
    for args in [
        &["--json", "export"][..],
        &["--json", "no-such-command"],
        &["--json", "list", "--no-such-flag"],
        &["--json", "timer"],
        &["--json", "schedule", "abcd", "--at", "not a date"],
        &["timer", "--json", "--cron", "--out", "x"],
        &["--json"],
    ] {
        let o = env.run(args);
        let err = assert_code(&o, 2);
        let doc = json(&o.stdout);
        assert_eq!(doc["error"]["kind"], "usage", "{args:?}");
        assert_eq!(doc["error"]["exit_code"], 2, "{args:?}");
        assert!(
            !doc["error"]["message"].as_str().unwrap().is_empty(),
            "{args:?}"
        );
        assert!(err.contains("error"), "clap's text stays on stderr: {err}");
    }
    // Without --json, stdout stays empty; --help is not an error.
    let o = env.run(&["export"]);
    assert_code(&o, 2);
    assert!(o.stdout.is_empty());
    let o = env.run(&["--json", "--help"]);
    assert_ok(&o);
    assert!(stdout_text(&o).contains("Usage"));
}

/// Runs `handover ARGS` with stdout a pipe whose reader is already closed.
fn into_closed_pipe(env: &Env, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = env
        .cmd()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = Vec::new();
    c.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    let status = c.wait().unwrap();
    Output {
        status,
        stdout: Vec::new(),
        stderr: err,
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let (env, _id) = fixture_exported(&[]);
    for args in [
        &["list"][..],
        &["--json", "list"],
        &["status"],
        &["man"],
        &["completions", "bash"],
        &["timer", "--cron"],
    ] {
        let o = into_closed_pipe(&env, args);
        let err = assert_code(&o, 0);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // As a shell user types it, with pipefail.
    let o = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" --home \"$1\" list | head -1; \"$0\" man | head -1")
        .arg(env!("CARGO_BIN_EXE_handover"))
        .arg(env.home())
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

fn wait_reached(fp: &Path, child: &mut Child, point: &str) {
    let reached = fp.join(format!("{point}.reached"));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the run ended ({st}) before the failpoint {point}");
        }
        assert!(Instant::now() < until, "{point} not reached in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sigint(child: &Child) {
    // SAFETY: sending a signal to our own child has no memory-safety preconditions.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0);
}

/// Waits for `child` (at most 60 s) and returns its exit code.
fn exit_code(child: &mut Child) -> Option<i32> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        assert!(Instant::now() < until, "the run did not end in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ctrl_c_exits_130_in_long_commands() {
    let (env, _id) = fixture_exported(&[]);
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    let list = json(&env.run(&["--json", "list"]).stdout);
    let archive = list["handovers"][0]["archive_path"]
        .as_str()
        .unwrap()
        .to_string();

    // verify never looks at the stop flag: it stops at the signal, extracting nothing.
    let dest = env.path("extracted");
    let mut child = env
        .cmd()
        .arg("verify")
        .arg(&archive)
        .arg("-i")
        .arg(fixture("keys/client.agekey"))
        .arg("--extract")
        .arg(&dest)
        .env("HANDOVER_FAILPOINTS", "extract.file=pause")
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_reached(&fp, &mut child, "extract.file");
    sigint(&child);
    assert_eq!(exit_code(&mut child), Some(130), "verify after Ctrl-C");
    assert!(!dest.exists());
    fs::write(fp.join("extract.file.go"), b"").unwrap();

    // export stops at the next file, removes its temporary outputs and exits 130.
    let out = env.path("out2");
    let mut child = env
        .cmd()
        .arg("export")
        .arg(fixture("acme"))
        .args(["--client", "acme", "-R"])
        .arg(fixture("keys/client.recipients"))
        .arg("--out")
        .arg(&out)
        .env(
            "HANDOVER_FAILPOINTS",
            "export.file=pause;signal.caught=pause",
        )
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_reached(&fp, &mut child, "export.file");
    sigint(&child);
    wait_reached(&fp, &mut child, "signal.caught");
    fs::write(fp.join("signal.caught.go"), b"").unwrap();
    fs::write(fp.join("export.file.go"), b"").unwrap();
    let code = exit_code(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, Some(130), "export after Ctrl-C: {err}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

#[test]
fn counts_are_singular_for_one() {
    let (env, recipient) = Env::with_keys();
    let data = env.path("one");
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::write(data.join("sub/only.txt"), b"x").unwrap();
    std::os::unix::fs::symlink("sub/only.txt", data.join("link")).unwrap();
    let o = env
        .cmd()
        .arg("export")
        .arg(&data)
        .args(["--client", "solo", "-r", &recipient, "--out"])
        .arg(env.path("out"))
        .output()
        .unwrap();
    let err = assert_code(&o, 0);
    assert!(err.contains("1 file, 1 dir, 1 symlink,"), "{err}");
    let o = env.run(&["status"]);
    let status = stdout_text(&o);
    assert!(status.contains("1 file, 1 B;"), "{status}");
    let id = json(&env.run(&["--json", "list"]).stdout)["handovers"][0]["handover_id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = env.run(&["delete", "--dry-run", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("plan: "), "{err}");
    for wrong in ["1 files", "1 dirs", "1 symlinks", "(s)", "(y/ies)"] {
        assert!(!err.contains(wrong), "{wrong}: {err}");
        assert!(!status.contains(wrong), "{wrong}: {status}");
    }
}

#[test]
fn list_fits_100_columns_with_deleted_and_status_uses_the_same_units() {
    let (env, recipient) = Env::with_keys();
    let data = env.path("clients/acme");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("a.bin"), noise(3000, 1)).unwrap();
    let long = "acme-holdings-international-and-partners";
    let s = env.export_with(&data, &["-r", &recipient, "--name", long]);
    let data2 = env.path("clients/globex");
    fs::create_dir_all(&data2).unwrap();
    fs::write(data2.join("b.bin"), noise(10, 2)).unwrap();
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(&data2)
        .args(["--client", "globex", "-r", &recipient, "--out"])
        .arg(env.path("out"))
        .output()
        .unwrap();
    assert_ok(&o);
    confirm_receipt(&env, &s.handover_id);
    assert_ok(&env.run(&["delete", "--yes", &s.handover_id]));

    let o = env.run(&["list"]);
    assert_ok(&o);
    let table = stdout_text(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].ends_with("DELETED"), "{table}");
    for l in &lines {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    // No paths: the deleted archive's is stale, and none fits.
    assert!(
        !table.contains(&env.path("out").display().to_string()),
        "{table}"
    );
    let deleted = lines
        .iter()
        .find(|l| l.starts_with(&s.handover_id[..8]))
        .unwrap();
    let listed = json(&env.run(&["--json", "list"]).stdout);
    let today = &listed["handovers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["handover_id"] == s.handover_id.as_str())
        .unwrap()["deleted_at"];
    let day = &today.as_str().expect("deleted_at in list --json")[..10];
    assert!(deleted.ends_with(day), "{deleted}");
    assert!(deleted.contains("acme-hold\u{2026}"), "{deleted}");
    let other = lines.iter().find(|l| l.contains("globex")).unwrap();
    assert!(other.ends_with(" -"), "not deleted: {other}");

    // The SIZE of list is the size status shows.
    let size = handover::human_bytes(3000);
    assert!(deleted.contains(&size), "{deleted}");
    let status = stdout_text(&env.run(&["status"]));
    assert!(status.contains(&format!("1 file, {size};")), "{status}");
}

#[test]
fn a_home_without_state_says_so_with_its_path() {
    let env = Env::new();
    let typo = env.path("hmoe");
    for home in [env.home(), typo.clone()] {
        for cmd in ["list", "status", "jobs"] {
            let o = env.cmd_with_home(&home).arg(cmd).output().unwrap();
            let err = assert_code(&o, 0);
            assert!(
                err.contains("no state here yet")
                    && err.contains(&home.join("state.db").display().to_string()),
                "{cmd}: {err}"
            );
            assert!(o.stdout.is_empty());
        }
        assert!(!home.join("state.db").exists(), "nothing was created");
    }
    assert!(!typo.exists());
}

#[test]
fn recipient_flag_given_a_file_suggests_the_file_flag() {
    let env = Env::keyed();
    let file = fixture("keys/client.recipients");
    let o = env
        .cmd()
        .args(["--json", "export"])
        .arg(fixture("acme"))
        .args(["--client", "acme", "-r"])
        .arg(&file)
        .arg("--out")
        .arg(env.path("out"))
        .output()
        .unwrap();
    let err = assert_code(&o, 1);
    assert!(err.contains(&format!("use -R {}", file.display())), "{err}");
    assert_eq!(json(&o.stdout)["error"]["kind"], "recipient_invalid");
}

#[test]
fn delete_dry_run_before_the_receipt_shows_the_plan() {
    let (env, id) = fixture_exported(&[]);
    let o = env.run(&["delete", "--dry-run", &id]);
    let err = assert_code(&o, 3);
    assert!(err.contains("plan: ") && err.contains("dry run"), "{err}");
    assert!(err.contains("will wait for it"), "{err}");
    let o = env.run(&["--json", "delete", "--dry-run", &id]);
    assert_code(&o, 3);
    let s: ShredSummary = parse(&o.stdout);
    assert!(s.dry_run && s.plan.files > 0);
    assert_eq!(s.refused.unwrap().kind, "no_receipt");
    // Without --dry-run it is refused as before, and nothing was deleted either way.
    let (_, code) = (0, assert_code(&env.run(&["delete", "--yes", &id]), 3));
    assert!(code.contains("no receipt"), "{code}");
    let list = json(&env.run(&["--json", "list"]).stdout);
    let archive = list["handovers"][0]["archive_path"].as_str().unwrap();
    assert!(Path::new(archive).exists());
}

fn wait_shown(shown: &Arc<Mutex<Vec<u8>>>, text: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&shown.lock().unwrap()).contains(text) {
        assert!(
            Instant::now() < until,
            "{text:?} not shown: {}",
            String::from_utf8_lossy(&shown.lock().unwrap())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn keygen_says_when_the_two_passwords_differ() {
    let env = Env::new();
    let mut cmd = env.cmd();
    cmd.args(["--quiet", "keygen"]);
    let (mut child, mut master, shown, _reader) = spawn_in_pty(cmd);
    wait_shown(&shown, "Password to protect");
    master.write_all(b"first secret\n").unwrap();
    wait_shown(&shown, "Same password again");
    master.write_all(b"other secret\n").unwrap();
    let code = exit_code(&mut child);
    std::thread::sleep(Duration::from_millis(100));
    let text = String::from_utf8_lossy(&shown.lock().unwrap()).to_string();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("passwords typed differ"), "{text}");
    assert!(!env.home().join("handover.key").exists());
}

#[test]
fn ctrl_c_stops_run_due_with_130_and_the_job_resumes() {
    let (env, recipient) = Env::with_keys();
    let data = env.path("clients/acme");
    fs::create_dir_all(&data).unwrap();
    for i in 0..3 {
        fs::write(data.join(format!("f{i}.bin")), noise(2000, i)).unwrap();
    }
    let s = env.export(&data, &recipient);
    confirm_receipt(&env, &s.handover_id);
    assert_ok(&env.run(&[
        "schedule",
        &s.handover_id,
        "--at",
        "2020-01-01",
        "--allow-past",
    ]));
    let fp = env.path("fp");
    fs::create_dir_all(&fp).unwrap();
    let mut child = env
        .cmd()
        .args(["--json", "run-due"])
        .env(
            "HANDOVER_FAILPOINTS",
            "shred.overwritten=pause;signal.caught=pause",
        )
        .env("HANDOVER_FAILPOINT_DIR", &fp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_reached(&fp, &mut child, "shred.overwritten");
    sigint(&child);
    wait_reached(&fp, &mut child, "signal.caught");
    fs::write(fp.join("signal.caught.go"), b"").unwrap();
    fs::write(fp.join("shred.overwritten.go"), b"").unwrap();
    let code = exit_code(&mut child);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(code, Some(130), "{}", String::from_utf8_lossy(&out));
    let r: handover::RunDueReport = parse(&out);
    assert!(r.interrupted && r.deleted == 0, "{r:?}");
    // The next run finishes the job.
    let o = env.run(&["--json", "run-due"]);
    assert_ok(&o);
    assert_eq!(parse::<handover::RunDueReport>(&o.stdout).deleted, 1);
    assert!(!data.exists());
}

#[test]
fn the_service_runs_as_the_owner_of_the_home_or_the_user_given() {
    let env = Env::new();
    let o = env.run(&["timer", "--systemd", "--user", "backup-operator"]);
    assert_ok(&o);
    assert!(stdout_text(&o).contains("\nUser=backup-operator\n"));
    if !is_root() {
        eprintln!("SKIPPED: the home's owner can only be another user's when run as root");
        return;
    }
    // `sudo handover timer ...` on someone's home: the unit runs as that someone, whose
    // keys the home holds, not as root.
    let home = env.path("nobodys-home");
    fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let o = env
        .cmd_with_home(&home)
        .args(["timer", "--systemd"])
        .output()
        .unwrap();
    assert_ok(&o);
    let units = stdout_text(&o);
    let user = units.lines().find_map(|l| l.strip_prefix("User=")).unwrap();
    assert_ne!(user, "root", "{units}");
}

/// cron starts in $HOME and systemd in /: a home given as a relative path goes into the line
/// and the unit as the absolute path it named where `timer` ran.
#[test]
fn timer_makes_a_relative_home_absolute() {
    let env = Env::new();
    let abs = env.path("rel-home");
    for (args, quoted) in [
        (&["timer", "--cron"][..], format!("'{}'", abs.display())),
        (
            &["timer", "--systemd"][..],
            format!("\"{}\"", abs.display()),
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_handover"))
            .current_dir(env.path(""))
            .arg("--home")
            .arg("rel-home")
            .args(args)
            .env_remove("HANDOVER_HOME")
            .output()
            .unwrap();
        assert_ok(&o);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(&format!("--home {quoted}")),
            "{args:?}:\n{text}"
        );
    }
}
