//! The `handover` binary: parse arguments, choose a reporter, call one library function,
//! print the result, and turn an error's class into the exit code. No pipeline code here.
//!
//! `run` dispatches to one function per command; each turns its arguments into the library's
//! options, calls the library, hands the summary to `cli::render` (or `cli::ui_delete`), and
//! returns the exit class when the command ran but did not succeed (a failed check, waiting
//! jobs). Exit codes and their meanings are in `cli::exit`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{AuditCommand, CertificateCommand, Cli, Command, render, ui, ui_delete};

use handover::{ExitClass, Home};

fn main() -> ExitCode {
    cli::shell::quiet_broken_pipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let json = cli::shell::json_requested(&args);
            return ExitCode::from(cli::shell::usage_error(&e, json));
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(class)) => ExitCode::from(class.code()),
        Err(e) => {
            let code = e.class().code();
            if json {
                render::json(&serde_json::json!({
                    "error": { "exit_code": code, "kind": e.kind(), "message": e.to_string() }
                }));
            }
            eprintln!("handover: error: {e}");
            ExitCode::from(code)
        }
    }
}

/// What every command gets: the home folder, the output mode and the reporter.
struct Ctx {
    home: Home,
    json: bool,
    quiet: bool,
    reporter: ui::TermReporter,
}

/// What a command returns: `None` when it succeeded, else the class it exits with although
/// it ran to the end (a failed verification, due jobs left waiting, a refused dry run).
type Outcome = handover::Result<Option<ExitClass>>;

fn run(cli: Cli) -> Outcome {
    ui::command_stops_itself(cli::shell::stops_itself(&cli.command));
    let cx = Ctx {
        home: Home::resolve(cli.home.clone()),
        json: cli.json,
        quiet: cli.quiet,
        reporter: ui::TermReporter::new(cli.quiet, cli.json),
    };
    match cli.command {
        Command::Keygen(a) => keygen(&cx, a),
        Command::Delegate(a) => delegate(&cx, a),
        Command::Export(a) => export(&cx, a),
        Command::List(a) => list(&cx, a.client.as_deref(), a.all),
        Command::Schedule(a) => schedule_deletion(&cx, a),
        Command::Hold(a) => hold(&cx, a),
        Command::Release(a) => release(&cx, a),
        Command::Jobs(a) => jobs(&cx, a.all),
        Command::RunDue(a) => run_due(&cx, a),
        Command::Timer(a) => timer(&cx, a),
        Command::Status(a) => status(&cx, a),
        Command::Evidence(a) => evidence(&cx, a),
        Command::Audit(AuditCommand::Rekey { reason }) => audit_rekey(&cx, &reason),
        Command::Audit(AuditCommand::Verify { against }) => audit_verify(&cx, &against),
        Command::Verify(a) => verify(&cx, a),
        Command::Confirm(a) => confirm(&cx, a),
        Command::Delete(a) => delete(&cx, a),
        Command::Shred(a) => shred(&cx, a),
        Command::Certificate(CertificateCommand::Show { id }) => certificate_show(&cx, &id),
        Command::Certificate(CertificateCommand::Check {
            cert,
            bag,
            signer,
            signer_key,
        }) => certificate_check(&cx, &cert, &bag, signer.as_deref(), signer_key.as_deref()),
        Command::Attest(a) => attest(&cx, a),
        Command::Void(a) => void(&cx, a),
        Command::Share(a) => share(&cx, a),
        Command::Client(c) => client(&cx, c),
        Command::Completions(a) => {
            cli::shell::completions(a.shell);
            Ok(None)
        }
        Command::Man(a) => man(&cx, &a),
    }
}

/// Prints `v` as the JSON document under `--json`, else as text with `text`.
fn show<T: serde::Serialize>(cx: &Ctx, v: &T, text: impl FnOnce(&T)) {
    if cx.json {
        render::json(v);
    } else {
        text(v);
    }
}

fn keygen(cx: &Ctx, a: cli::KeygenArgs) -> Outcome {
    let age = a.age;
    let opts = handover::KeygenOptions {
        out: a.out,
        age: a.age,
        no_password: a.no_password,
        organization: a.organization,
    };
    let s = handover::keygen(&cx.home, &opts, &cx.reporter)?;
    show(cx, &s, |s| render::keygen(s, age));
    Ok(None)
}

fn delegate(cx: &Ctx, a: cli::DelegateArgs) -> Outcome {
    let s = handover::delegate(&cx.home, a.organization.as_deref(), a.renew, &cx.reporter)?;
    show(cx, &s, render::delegation);
    Ok(None)
}

fn export(cx: &Ctx, a: cli::ExportArgs) -> Outcome {
    // Whatever the command line leaves out comes from the client's profile, if it has one.
    let req = handover::ExportRequest {
        data_dir: a.data_dir,
        recipients: a.recipients,
        recipient_files: a.recipient_files,
        out_dir: a.out,
        name: a.name,
        sign_key: a.sign_key,
        level: a.level,
        strict_names: a.strict_names,
        delete_after: a.delete_after,
        client_key: a.client_key,
        ..handover::ExportRequest::new(a.client)
    };
    let opts = handover::profile_options(&cx.home, &req)?;
    let s = handover::export(&cx.home, &opts, &cx.reporter)?;
    show(cx, &s, render::export);
    Ok(None)
}

fn list(cx: &Ctx, client: Option<&str>, all: bool) -> Outcome {
    let mut rows = handover::list(&cx.home)?;
    rows.retain(|h| client.is_none_or(|c| c == h.client));
    let before = rows.len();
    rows.retain(|h| all || h.voided_at.is_none());
    let receipts = handover::receipts(&cx.home)?;
    // The DELETED column: when each handover's deletion certificate was made.
    let deleted = handover::status(&cx.home, None)?
        .into_iter()
        .filter(|s| s.deleted.done)
        .filter_map(|s| Some((s.handover_id, s.deleted.at?)))
        .collect();
    render::list(&cx.home.dir, &rows, &receipts, &deleted, cx.json);
    hidden_voided(cx, before - rows.len(), "list");
    Ok(None)
}

fn schedule_deletion(cx: &Ctx, a: cli::ScheduleArgs) -> Outcome {
    let when = match (a.at, a.after) {
        (Some(t), _) => handover::When::At(t),
        (None, Some(d)) => handover::When::After(d),
        (None, None) => unreachable!("clap requires --at or --after"),
    };
    let s = handover::schedule(&cx.home, &a.id, when, a.allow_past, None)?;
    show(cx, &s, render::schedule);
    Ok(None)
}

fn hold(cx: &Ctx, a: cli::HoldArgs) -> Outcome {
    let s = handover::hold(&cx.home, &a.id, Some(&a.reason))?;
    show(cx, &s, |s| {
        eprintln!("handover {} is on hold: {}", s.handover_id, a.reason);
    });
    Ok(None)
}

fn release(cx: &Ctx, a: cli::IdArg) -> Outcome {
    let s = handover::hold(&cx.home, &a.id, None)?;
    show(cx, &s, |s| {
        eprintln!("hold lifted on handover {}", s.handover_id)
    });
    Ok(None)
}

fn jobs(cx: &Ctx, all: bool) -> Outcome {
    let mut jobs = handover::jobs(&cx.home, None)?;
    let before = jobs.len();
    jobs.retain(|j| all || j.status != "voided");
    if cx.json {
        render::json(&serde_json::json!({ "jobs": jobs }));
    } else if let Some(none) = cli::shell::no_state_yet(&cx.home.dir) {
        eprintln!("{none}");
    } else {
        render::jobs(&jobs);
    }
    hidden_voided(cx, before - jobs.len(), "jobs");
    Ok(None)
}

fn run_due(cx: &Ctx, a: cli::RunDueArgs) -> Outcome {
    let r = handover::run_due(&cx.home, a.dry_run, None, &cx.reporter)?;
    show(cx, &r, |r| render::run_due(r, cx.quiet));
    // Overdue work is said on stderr even with --quiet: cron and systemd mail what it prints.
    if !r.overdue.is_empty() {
        render::overdue(&r.now, &r.overdue, false);
    }
    Ok(r.class())
}

fn timer(cx: &Ctx, a: cli::TimerArgs) -> Outcome {
    let exe = std::env::current_exe().map_err(handover::Error::ProgramPath)?;
    // cron starts in $HOME and systemd in /: a relative home would name another folder there.
    let home = &Home::resolve(Some(
        std::path::absolute(&cx.home.dir).map_err(handover::Error::ProgramPath)?,
    ));
    let user = a
        .user
        .unwrap_or_else(|| cli::shell::service_user(&home.dir));
    match &a.out {
        Some(dir) => {
            let units = handover::timer_units(&exe, home, &user);
            let written = handover::write_timer_units(dir, &units)?;
            if cx.json {
                render::json(&serde_json::json!({ "written": written, "user": user }));
            } else {
                for p in &written {
                    eprintln!("wrote {}", p.display());
                }
                eprintln!(
                    "enable with: systemctl daemon-reload && systemctl enable --now handover-run-due.timer"
                );
            }
        }
        None => cli::shell::stdout_bytes(handover::timer(a.systemd, &exe, home, &user).as_bytes()),
    }
    // The unit would fail on every job if certificates cannot be signed unattended.
    if let Err(e) = handover::unattended_ready(home, &cx.reporter) {
        eprintln!("handover: warning: run-due will fail on every due job as things stand:\n{e}");
    }
    Ok(None)
}

fn status(cx: &Ctx, a: cli::StatusArgs) -> Outcome {
    if a.overdue {
        return overdue(cx, a.client.as_deref());
    }
    let rows = handover::status_of(&cx.home, a.client.as_deref(), a.all)?;
    if cx.json {
        render::json(&serde_json::json!({ "handovers": rows }));
    } else {
        render::status(&cx.home.dir, &rows);
    }
    if !a.all {
        let every = handover::status_of(&cx.home, a.client.as_deref(), true)?.len();
        hidden_voided(cx, every - rows.len(), "status");
    }
    Ok(None)
}

fn evidence(cx: &Ctx, a: cli::EvidenceArgs) -> Outcome {
    let s = handover::evidence(&cx.home, &a.id, &a.out, a.receipt.as_deref())?;
    show(cx, &s, render::evidence);
    Ok(None)
}

fn audit_rekey(cx: &Ctx, reason: &str) -> Outcome {
    let r = handover::audit_rekey(&cx.home, reason)?;
    show(cx, &r, render::rekey);
    Ok(None)
}

fn audit_verify(cx: &Ctx, against: &[std::path::PathBuf]) -> Outcome {
    let r = handover::audit_verify(&cx.home, against)?;
    show(cx, &r, render::audit_verify);
    Ok(None)
}

fn verify(cx: &Ctx, a: cli::VerifyArgs) -> Outcome {
    let opts = handover::VerifyOptions {
        archive: a.archive,
        identities: a.identities,
        manifest: a.manifest,
        signature: a.signature,
        signer: a.signer,
        signer_key: a.signer_key,
        extract: a.extract,
        keep_outside_links: a.keep_outside_links,
        receipt: a.receipt,
        sign_receipt: a.sign_receipt,
        clean: a.clean,
        list: a.list,
    };
    let report = handover::verify(&opts, &cx.reporter)?;
    if cx.json {
        render::json(&report);
    } else if let Some(entries) = &report.contents {
        render::contents(entries);
    }
    // Problems go to stderr under --json too, as errors do.
    if !cx.json || !report.ok {
        render::verify(&report);
    }
    Ok(report.class())
}

fn confirm(cx: &Ctx, a: cli::ConfirmArgs) -> Outcome {
    let target = match a.code {
        Some(code) => handover::ConfirmTarget::Code {
            handover: a.target,
            code,
        },
        None => handover::ConfirmTarget::Receipt(a.target.into()),
    };
    let opts = handover::ConfirmOptions {
        target,
        client_key: a.client_key,
    };
    let s = handover::confirm(&cx.home, &opts)?;
    show(cx, &s, render::confirm);
    Ok(None)
}

/// A dry run of `delete` or `shred` shows the plan and why the real run would be refused,
/// and exits as that run would.
fn refused(s: &handover::ShredSummary) -> Option<ExitClass> {
    s.refused.is_some().then_some(ExitClass::Refused)
}

fn delete(cx: &Ctx, a: cli::DeleteArgs) -> Outcome {
    let opts = handover::DeleteOptions {
        handover: a.handover,
        dry_run: a.sign.dry_run,
        yes: a.sign.yes,
        also: a.also,
        without_receipt: a.without_receipt,
        reason: a.reason,
        sign_key: a.sign.sign_key,
        operator: a.sign.operator,
        organization: a.sign.organization,
        names: a.sign.names.into(),
    };
    let s = handover::delete(&cx.home, &opts, &cx.reporter)?;
    ui_delete::print_summary(&s, cx.json, cx.quiet);
    Ok(refused(&s))
}

fn shred(cx: &Ctx, a: cli::ShredArgs) -> Outcome {
    let opts = handover::ShredOptions {
        paths: a.paths,
        dry_run: a.sign.dry_run,
        yes: a.sign.yes,
        out_dir: a.out,
        sign_key: a.sign.sign_key,
        operator: a.sign.operator,
        organization: a.sign.organization,
        names: a.sign.names.into(),
    };
    let s = handover::shred(&cx.home, &opts, &cx.reporter)?;
    ui_delete::print_summary(&s, cx.json, cx.quiet);
    Ok(refused(&s))
}

fn certificate_show(cx: &Ctx, id: &str) -> Outcome {
    let v = handover::certificate_show(&cx.home, id)?;
    ui_delete::print_certificate(&v, cx.json);
    Ok(None)
}

fn certificate_check(
    cx: &Ctx,
    cert: &std::path::Path,
    bag: &std::path::Path,
    signer: Option<&std::path::Path>,
    signer_key: Option<&str>,
) -> Outcome {
    let r = handover::certificate_check(cert, bag, signer, signer_key)?;
    ui_delete::print_coverage(&r, cx.json);
    Ok((!r.all_covered).then_some(ExitClass::Refused))
}

fn overdue(cx: &Ctx, client: Option<&str>) -> Outcome {
    let r = handover::overdue(&cx.home, client, None)?;
    if cx.json {
        render::json(&r);
    } else if r.overdue.is_empty() {
        eprintln!("nothing is overdue at {}", r.now);
    } else {
        render::overdue(&r.now, &r.overdue, true);
    }
    Ok(r.class())
}

fn attest(cx: &Ctx, a: cli::AttestArgs) -> Outcome {
    let s = handover::attest(
        &cx.home,
        &a.handover,
        a.step.into(),
        a.note.as_deref(),
        a.operator.as_deref(),
        None,
    )?;
    show(cx, &s, render::attest);
    Ok(None)
}

fn void(cx: &Ctx, a: cli::VoidArgs) -> Outcome {
    let s = handover::void(&cx.home, &a.id, &a.reason, None)?;
    show(cx, &s, render::void);
    Ok(None)
}

fn share(cx: &Ctx, a: cli::ShareArgs) -> Outcome {
    let s = handover::share(&cx.home, &a.id, a.expires)?;
    show(cx, &s, render::share);
    Ok(None)
}

/// Says on stderr (not under --json or --quiet) how many voided handovers a view left out.
fn hidden_voided(cx: &Ctx, n: usize, command: &str) {
    if n > 0 && !cx.json && !cx.quiet {
        render::hidden_voided(n, command);
    }
}

fn client(cx: &Ctx, c: cli::ClientCommand) -> Outcome {
    use cli::ClientCommand as C;
    match c {
        C::Add { name, set } => {
            let s = handover::client_add(&cx.home, &name, &set.changes(&[]))?;
            show(cx, &s, |s| render::client_changed("added", s));
        }
        C::Edit { name, set, clear } => {
            let s = handover::client_edit(&cx.home, &name, &set.changes(&clear))?;
            show(cx, &s, |s| render::client_changed("changed", s));
        }
        C::List => {
            let all = handover::clients(&cx.home)?;
            if cx.json {
                render::json(&serde_json::json!({ "clients": all }));
            } else {
                render::clients(&all);
            }
        }
        C::Show { name } => {
            let p = handover::client_show(&cx.home, &name)?;
            show(cx, &p, render::client);
        }
        C::Remove { name } => {
            let s = handover::client_remove(&cx.home, &name)?;
            show(cx, &s, |s| render::client_changed("removed", s));
        }
    }
    Ok(None)
}

fn man(cx: &Ctx, a: &cli::ManArgs) -> Outcome {
    let Some(dir) = &a.out else {
        if cli::shell::man(&a.command).is_none() {
            let e = <Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "no command `{}`; `handover --help` lists them",
                    a.command.join(" ")
                ),
            );
            std::process::exit(cli::shell::usage_error(&e, cx.json).into());
        }
        return Ok(None);
    };
    match cli::shell::man_to(dir) {
        Ok(names) => {
            if cx.json {
                render::json(&serde_json::json!({ "out_dir": dir, "pages": names }));
            } else if !cx.quiet {
                eprintln!(
                    "wrote {} in {}",
                    handover::plural(names.len() as u64, "manual page", "manual pages"),
                    dir.display()
                );
            }
            Ok(None)
        }
        Err(e) => Ok(Some(cli::shell::operational(
            cx.json,
            "io_error",
            &format!("cannot write the manual pages into {}: {e}", dir.display()),
        ))),
    }
}
