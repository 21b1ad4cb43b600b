//! The `handover` binary: parse arguments, choose a reporter, call one library function,
//! print the result, and turn an error's class into the exit code. No pipeline code here.

mod cli;

use cli::{ui, ui_delete};

use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use cli::{AuditCommand, Cli, Command};
use handover::ledger::schedule;
use handover::{ExitClass, Home};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code(e.class());
            if json {
                print_json(&serde_json::json!({
                    "error": { "exit_code": code, "kind": e.kind(), "message": e.to_string() }
                }));
            }
            eprintln!("handover: error: {e}");
            ExitCode::from(code)
        }
    }
}

/// The one place where an exit class becomes a process exit code (2 is clap's).
fn exit_code(class: ExitClass) -> u8 {
    match class {
        ExitClass::Operational => 1,
        ExitClass::Refused => 3,
        ExitClass::Waiting => 4,
        ExitClass::Interrupted => 130,
    }
}

fn print_json<T: Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("summaries serialize")
    );
}

/// What `keygen` and `delegate` say about the certificate key.
fn print_delegation(s: &handover::keys::delegation::DelegationSummary) {
    eprintln!(
        "{} {} (unattended certificate key {}, mode 0600), authorised by the provider key in {}",
        if s.created { "wrote" } else { "already have" },
        s.key_path.display(),
        s.key_id,
        s.delegation_path.display()
    );
}

fn run(cli: Cli) -> handover::Result<ExitCode> {
    let home = Home::resolve(cli.home.clone());
    let reporter = ui::TermReporter::new(cli.quiet, cli.json);
    match cli.command {
        Command::Keygen(a) => {
            let s = handover::keygen(
                &home,
                &handover::KeygenOptions {
                    out: a.out,
                    age: a.age,
                    no_password: a.no_password,
                    organization: a.organization,
                },
                &reporter,
            )?;
            if cli.json {
                print_json(&s);
            } else if a.age {
                eprintln!("wrote age identity {}", s.secret_key_path.display());
                eprintln!("public key (give this to export -r): {}", s.public_key);
            } else {
                eprintln!(
                    "wrote {} (secret, mode 0600{}) and {}",
                    s.secret_key_path.display(),
                    if s.password_protected {
                        ", password-protected"
                    } else {
                        ", NOT password-protected"
                    },
                    s.public_key_path.display()
                );
                eprintln!("key id {}; public key {}", s.key_id, s.public_key);
                if let Some(c) = &s.certificate_key {
                    print_delegation(c);
                }
            }
        }
        Command::Delegate(a) => {
            let s = handover::delegate(&home, a.organization.as_deref(), a.renew, &reporter)?;
            if cli.json {
                print_json(&s);
            } else {
                print_delegation(&s);
            }
        }
        Command::Export(a) => {
            let s = handover::export(
                &home,
                &handover::ExportOptions {
                    data_dir: a.data_dir,
                    client: a.client,
                    recipients: handover::Recipients::parse(&a.recipients, &a.recipient_files)?,
                    out_dir: a.out,
                    name: a.name,
                    sign_key: a.sign_key,
                    level: a.level,
                    strict_names: a.strict_names,
                    delete_after: a.delete_after,
                    client_key: a.client_key,
                },
                &reporter,
            )?;
            if cli.json {
                print_json(&s);
            } else {
                eprintln!(
                    "handover {} for {}: {} files, {} dirs, {} symlinks, {} in, {} out, {:.1} s",
                    s.handover_id,
                    s.client,
                    s.files,
                    s.directories,
                    s.symlinks,
                    ui::human_bytes(s.bytes_in),
                    ui::human_bytes(s.bytes_out),
                    s.seconds
                );
                eprintln!("  archive   {}", s.archive_path.display());
                eprintln!("  manifest  {}", s.manifest_path.display());
                eprintln!("  signature {}", s.signature_path.display());
                eprintln!("signed by key {}", s.signer_key_id);
                if let Some(k) = &s.client_key_id {
                    eprintln!("client key {k} bound: confirm takes a signed receipt only from it");
                }
                if let Some(d) = &s.deletion_due_at {
                    eprintln!(
                        "deletion of the local copies scheduled for {d} (after the client's receipt)"
                    );
                }
            }
        }
        Command::List => {
            let rows = handover::list(&home)?;
            let receipts: std::collections::HashMap<_, _> = handover::receipts(&home)?
                .into_iter()
                .map(|r| (r.handover_id.clone(), r))
                .collect();
            let receipt_of = |id: &str| receipts.get(id);
            if cli.json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|h| ui::ListRow {
                        handover: h,
                        receipt: receipt_of(&h.handover_id),
                    })
                    .collect();
                print_json(&serde_json::json!({ "handovers": rows }));
            } else if rows.is_empty() {
                eprintln!("no handovers recorded in {}", home.dir.display());
            } else {
                println!(
                    "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  {:<20}  {:<17}  ARCHIVE",
                    "HANDOVER_ID", "CLIENT", "CREATED_AT", "FILES", "BYTES", "RECEIVED", "PROOF"
                );
                for r in rows {
                    let c = receipt_of(&r.handover_id);
                    println!(
                        "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  {:<20}  {:<17}  {}",
                        r.handover_id,
                        r.client,
                        r.created_at,
                        r.files,
                        ui::human_bytes(r.payload_bytes),
                        c.map_or("-", |c| c.confirmed_at.as_str()),
                        c.map_or("-", |c| c.proof.as_str()),
                        r.archive_path.display()
                    );
                }
                if receipts.values().any(|c| c.proof == "code") {
                    eprintln!("PROOF code: {}", handover::receive::receipt::CODE_CAVEAT);
                }
            }
        }
        Command::Schedule(a) => {
            let when = match (a.at, a.after) {
                (Some(t), _) => schedule::When::At(t),
                (None, Some(d)) => schedule::When::After(d),
                (None, None) => unreachable!("clap requires --at or --after"),
            };
            let s = schedule::schedule(&home, &a.id, when, a.allow_past, None)?;
            if cli.json {
                print_json(&s);
            } else {
                eprintln!(
                    "deletion of handover {} ({}) scheduled for {}{}",
                    s.handover_id,
                    s.client,
                    s.due_at,
                    s.previous_due_at
                        .as_ref()
                        .map(|p| format!(" (was {p})"))
                        .unwrap_or_default()
                );
            }
        }
        Command::Hold(a) => {
            let s = schedule::hold(&home, &a.id, Some(&a.reason))?;
            if cli.json {
                print_json(&s);
            } else {
                eprintln!("handover {} is on hold: {}", s.handover_id, a.reason);
            }
        }
        Command::Release(a) => {
            let s = schedule::hold(&home, &a.id, None)?;
            if cli.json {
                print_json(&s);
            } else {
                eprintln!("hold lifted on handover {}", s.handover_id);
            }
        }
        Command::Jobs => {
            let jobs = schedule::jobs(&home, None)?;
            if cli.json {
                print_json(&serde_json::json!({ "jobs": jobs }));
            } else if jobs.is_empty() {
                eprintln!("no deletion jobs");
            } else {
                println!(
                    "{:<32}  {:<16}  {:<20}  {:<13}  REASON",
                    "HANDOVER_ID", "CLIENT", "DUE_AT", "STATUS"
                );
                for j in jobs {
                    println!(
                        "{:<32}  {:<16}  {:<20}  {:<13}  {}",
                        j.handover_id,
                        j.client,
                        j.due_at.as_deref().unwrap_or("-"),
                        j.status,
                        j.reason
                    );
                }
            }
        }
        Command::RunDue(a) => {
            let r = handover::run_due(&home, a.dry_run, None, &reporter)?;
            if cli.json {
                print_json(&r);
            } else if cli.quiet {
                // cron mails what is printed: a failed job, and what to do about it.
                for j in r.jobs.iter().filter(|j| j.result == "failed") {
                    eprintln!("{}  {:<18} {}", j.handover_id, j.result, j.detail);
                }
            } else {
                for j in &r.jobs {
                    eprintln!("{}  {:<18} {}", j.handover_id, j.result, j.detail);
                }
                eprintln!(
                    "run-due at {}: {} deleted, {} waiting, {} failed{}",
                    r.now,
                    r.deleted,
                    r.waiting,
                    r.failed,
                    if r.dry_run { " (dry run)" } else { "" }
                );
            }
            if let Some(class) = r.class() {
                return Ok(ExitCode::from(exit_code(class)));
            }
        }
        Command::Timer(a) => {
            let exe = std::env::current_exe().map_err(|source| handover::Error::Io {
                what: "cannot find this program's path".into(),
                source,
            })?;
            print!("{}", schedule::timer(a.systemd, &exe, &home));
            // The unit would fail on every job if certificates cannot be signed unattended.
            if let Err(e) = handover::keys::delegation::unattended_ready(&home) {
                eprintln!("warning: run-due will fail on every due job as things stand:\n{e}");
            }
        }
        Command::Status(a) => {
            let rows = schedule::status(&home, a.client.as_deref())?;
            if cli.json {
                print_json(&serde_json::json!({ "handovers": rows }));
            } else if rows.is_empty() {
                eprintln!("no handovers recorded in {}", home.dir.display());
            } else {
                for h in rows {
                    println!("{}  {}  ({})", h.client, h.handover_id, h.name);
                    for (label, s) in [
                        ("exported", &h.exported),
                        ("receipt confirmed", &h.receipt_confirmed),
                        ("deletion scheduled", &h.deletion_scheduled),
                        ("hold", &h.hold),
                        ("deleted", &h.deleted),
                    ] {
                        println!(
                            "  [{}] {:<19} {:<21} {}",
                            if s.done { "x" } else { " " },
                            label,
                            s.at.as_deref().unwrap_or("-"),
                            s.detail
                        );
                    }
                }
            }
        }
        Command::Evidence(a) => {
            let s = handover::evidence(&home, &a.id, &a.out, a.receipt.as_deref())?;
            if cli.json {
                print_json(&s);
            } else {
                eprintln!(
                    "evidence pack for handover {} ({}) written to {}: {} files{}",
                    s.handover_id,
                    s.client,
                    s.out_dir.display(),
                    s.files.len(),
                    if s.audit_log_intact {
                        ""
                    } else {
                        "; WARNING: the audit log does not verify (see report)"
                    }
                );
            }
        }
        Command::Audit(AuditCommand::Rekey { reason }) => {
            let r = handover::ledger::audit::rekey(&home, &reason)?;
            if cli.json {
                print_json(&r);
            } else {
                eprintln!(
                    "new audit key {} recorded as audit event {}; the old audit.pub{} is kept as {}.\nDeletions can run again: place any pending hold now.",
                    r.new_key_id,
                    r.event_seq,
                    r.previous_key_id
                        .as_ref()
                        .map(|k| format!(" (key id {k})"))
                        .unwrap_or_default(),
                    r.previous_public_key.display()
                );
            }
        }
        Command::Audit(AuditCommand::Verify { against }) => {
            let r = handover::audit_verify(&home, &against)?;
            if cli.json {
                print_json(&r);
            } else {
                eprintln!(
                    "audit log intact: {} events, head row {} ({}), signed by audit key {}",
                    r.events, r.head_seq, r.head_hash, r.key_id
                );
                for a in &r.anchors {
                    eprintln!(
                        "  consistent with {} (made at row {})",
                        a.file.display(),
                        a.seq
                    );
                }
            }
        }
        Command::Verify(a) => {
            let report = handover::verify(
                &handover::VerifyOptions {
                    archive: a.archive,
                    identities: a.identities,
                    manifest: a.manifest,
                    signer: a.signer,
                    signer_key: a.signer_key,
                    extract: a.extract,
                    keep_outside_links: a.keep_outside_links,
                    receipt: a.receipt,
                    sign_receipt: a.sign_receipt,
                    clean: a.clean,
                },
                &reporter,
            )?;
            if cli.json {
                print_json(&report);
            }
            // Problems go to stderr under --json too, as errors do.
            if !cli.json || !report.ok {
                ui::print_verify(&report);
            }
            if let Some(class) = report.class() {
                return Ok(ExitCode::from(exit_code(class)));
            }
        }
        Command::Confirm(a) => {
            let target = match a.code {
                Some(code) => handover::ConfirmTarget::Code {
                    handover: a.target,
                    code,
                },
                None => handover::ConfirmTarget::Receipt(a.target.into()),
            };
            let s = handover::confirm(
                &home,
                &handover::ConfirmOptions {
                    target,
                    client_key: a.client_key,
                },
            )?;
            if cli.json {
                print_json(&s);
            } else if s.already_confirmed {
                let higher = handover::receive::receipt::Proof::parse(&s.offered_proof)
                    < handover::receive::receipt::Proof::parse(&s.proof);
                eprintln!(
                    "handover {} for {} was already confirmed{} on {}; nothing changed\n  proof: {}",
                    s.handover_id,
                    s.client,
                    if higher { " at a higher level" } else { "" },
                    s.confirmed_at,
                    s.proof_meaning
                );
            } else {
                eprintln!(
                    "{}: handover {} for {} was received ({}); recorded {}\n  proof: {}",
                    if s.upgraded { "upgraded" } else { "confirmed" },
                    s.handover_id,
                    s.client,
                    s.method,
                    s.upgraded_at.as_deref().unwrap_or(&s.confirmed_at),
                    s.proof_meaning
                );
            }
        }
        Command::Delete(a) => {
            let s = handover::delete(
                &home,
                &handover::DeleteOptions {
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
                },
                &reporter,
            )?;
            ui_delete::print_summary(&s, cli.json, cli.quiet);
            // A dry run shows the plan and why the real run would be refused, and exits as
            // that run would.
            if s.refused.is_some() {
                return Ok(ExitCode::from(exit_code(ExitClass::Refused)));
            }
        }
        Command::Shred(a) => {
            let s = handover::shred(
                &home,
                &handover::ShredOptions {
                    paths: a.paths,
                    dry_run: a.sign.dry_run,
                    yes: a.sign.yes,
                    out_dir: a.out,
                    sign_key: a.sign.sign_key,
                    operator: a.sign.operator,
                    organization: a.sign.organization,
                    names: a.sign.names.into(),
                },
                &reporter,
            )?;
            ui_delete::print_summary(&s, cli.json, cli.quiet);
            // A dry run shows the plan and why the real run would be refused, and exits as
            // that run would.
            if s.refused.is_some() {
                return Ok(ExitCode::from(exit_code(ExitClass::Refused)));
            }
        }
        Command::Certificate(cli::CertificateCommand::Show { id }) => {
            let v = handover::certificate_show(&home, &id)?;
            ui_delete::print_certificate(&v, cli.json);
        }
        Command::Certificate(cli::CertificateCommand::Check { cert, bag }) => {
            let r = handover::erase::certificate::check(&cert, &bag)?;
            ui_delete::print_coverage(&r, cli.json);
            if !r.all_covered {
                return Ok(ExitCode::from(exit_code(ExitClass::Refused)));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
