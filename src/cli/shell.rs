//! Fitting the shell and the system: completion scripts and the manual page (generated from
//! the clap definitions in `cli`, so they cannot drift from the parser), stdout that ends
//! quietly on a closed pipe, usage errors as the `--json` error document, and the user a
//! systemd unit runs as. Binary only: the library never prints.

use std::ffi::OsString;
use std::io::{self, Write};

use clap::CommandFactory;

use super::Cli;

/// Writes `bytes` to stdout. A closed pipe (`handover man | head -1`) ends the process with
/// exit 0 and no message: Rust ignores SIGPIPE, so a closed reader shows up as an EPIPE write
/// error, and stopping quietly is what `cat` and `grep` do (ripgrep does the same).
pub fn stdout_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("handover: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Writes to stdout through a buffer, with the closed-pipe rule of [`stdout_bytes`]: for
/// output too large to build in memory first (`verify --list` of a million files).
pub fn stdout_stream(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    let mut out = io::BufWriter::with_capacity(64 << 10, io::stdout().lock());
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("handover: error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Installs a panic hook that turns the panic of `println!` on a closed stdout into a quiet
/// exit 0 (see [`stdout_bytes`]): the tables of `list`, `jobs` and `status` are printed with
/// `println!`, and `handover list | head -1` must not print a panic. Any other panic keeps
/// the default report.
pub fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // std's own wording (library/std/src/io/stdio.rs, `print_to`); the error's text is
        // the OS's for EPIPE.
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// `completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "handover", &mut buf);
    stdout_bytes(&buf);
}

/// The command tree as the manual pages show it: built, so each command is named
/// `handover-NAME` and its page is handover-NAME(1), without clap's `help` command.
fn man_tree() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// One page in roff: its footer names the program and version, as on handover(1).
fn man_page(cmd: clap::Command) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(format!("handover {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .expect("rendering into memory cannot fail");
    buf
}

/// `man [COMMAND...]`: the page of `handover` or of one command, in roff on stdout. `None`
/// when no such command exists.
pub fn man(command: &[String]) -> Option<()> {
    let mut cmd = man_tree();
    for word in command {
        cmd = cmd.find_subcommand(word)?.clone();
    }
    stdout_bytes(&man_page(cmd));
    Some(())
}

/// `man --out DIR`: every page written into `dir` (created if missing, older pages
/// replaced); returns the file names.
pub fn man_to(dir: &std::path::Path) -> io::Result<Vec<String>> {
    fn write(
        cmd: &clap::Command,
        dir: &std::path::Path,
        names: &mut Vec<String>,
    ) -> io::Result<()> {
        let name = format!(
            "{}.1",
            cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
        );
        std::fs::write(dir.join(&name), man_page(cmd.clone()))?;
        names.push(name);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub, dir, names)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    write(&man_tree(), dir, &mut names)?;
    Ok(names)
}

/// Whether `--json` was among the arguments before `--`, for a usage error that clap found
/// before it could parse the flag itself.
pub fn json_requested(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Reports a clap error and returns the exit code. `--help` and `--version` print as clap
/// prints them (exit 0); a usage error under `--json` also prints the JSON error document on
/// stdout, as every other error does (kind `usage`, exit 2).
pub fn usage_error(e: &clap::Error, json: bool) -> u8 {
    use clap::error::ErrorKind;
    // What the user asked for, never an error: printed as clap prints it, exit 0.
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let code = super::exit::USAGE;
    if json {
        let message = e.render().to_string();
        let message = message
            .trim_end()
            .strip_prefix("error: ")
            .unwrap_or(message.trim_end());
        super::render::json(&serde_json::json!({
            "error": { "exit_code": code, "kind": "usage", "message": message }
        }));
    }
    // clap's own rendering on stderr (with colour on a terminal), as without --json.
    let _ = e.print();
    code
}

/// The user a service made by `timer` runs as: the owner of the home folder when it exists
/// (its keys are 0600 and the owner's; under `sudo` the effective user is root, not them),
/// else the user running this command, else `$USER`.
pub fn service_user(home: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail.
    let uid = std::fs::metadata(home)
        .map(|m| m.uid())
        .unwrap_or_else(|_| unsafe { libc::geteuid() });
    // SAFETY: getpwuid returns a pointer into static storage or null; the name is copied out
    // before any other call could overwrite it, and this binary calls it from one thread.
    let name = unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    name.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}

/// Whether `command` checks the stop flag and stops at a boundary with its progress recorded
/// (see `ui::command_stops_itself`).
pub fn stops_itself(command: &super::Command) -> bool {
    use super::Command;
    matches!(
        command,
        Command::Export(_) | Command::Delete(_) | Command::Shred(_) | Command::RunDue(_)
    )
}

/// Turns echo and line editing back on for the controlling terminal, which a password prompt
/// turns off, before the process ends at a Ctrl-C: the prompt's own restore never runs then.
pub fn restore_terminal() {
    use std::os::fd::AsRawFd;
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return;
    };
    let fd = tty.as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on an open descriptor with a termios we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            t.c_lflag |= libc::ECHO | libc::ICANON;
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

/// What `list`, `status` and `jobs` say when the home holds no state database (a new home,
/// or a mistyped --home or HANDOVER_HOME): "no state here yet", with the path.
pub fn no_state_yet(home: &std::path::Path) -> Option<String> {
    let db = home.join("state.db");
    (!db.exists()).then(|| {
        format!(
            "no state here yet: {} does not exist.\nA new home starts with `handover keygen`; if you meant another one, check --home and HANDOVER_HOME.",
            db.display()
        )
    })
}

/// Reports an operational failure of the binary's own work (not the library's): the JSON
/// error document under `--json`, the message on stderr; returns the class to exit with.
pub fn operational(json: bool, kind: &str, message: &str) -> handover::ExitClass {
    let class = handover::ExitClass::Operational;
    if json {
        super::render::json(&serde_json::json!({
            "error": { "exit_code": class.code(), "kind": kind, "message": message }
        }));
    }
    eprintln!("handover: error: {message}");
    class
}
