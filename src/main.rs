//! The `handover` binary: parse arguments, choose a reporter, call one library function,
//! print the result, and turn an error's class into the exit code. No pipeline code here.

mod cli;
mod ui;

use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use cli::{Cli, Command};
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

/// The only map from an exit class to a process exit code (cli::EXIT_CODES documents it).
fn exit_code(class: ExitClass) -> u8 {
    match class {
        ExitClass::Operational => 1,
        ExitClass::Refused => 3,
    }
}

fn print_json<T: Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("summaries serialize")
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
            }
        }
        Command::Export(a) => {
            let s = handover::export(
                &home,
                &handover::ExportOptions {
                    data_dir: a.data_dir,
                    client: a.client,
                    recipients: a.recipients,
                    recipient_files: a.recipient_files,
                    out_dir: a.out,
                    name: a.name,
                    sign_key: a.sign_key,
                    level: a.level,
                    strict_names: a.strict_names,
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
                    "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  {:<20}  ARCHIVE",
                    "HANDOVER_ID", "CLIENT", "CREATED_AT", "FILES", "BYTES", "RECEIVED"
                );
                for r in rows {
                    println!(
                        "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  {:<20}  {}",
                        r.handover_id,
                        r.client,
                        r.created_at,
                        r.files,
                        ui::human_bytes(r.payload_bytes),
                        receipt_of(&r.handover_id).map_or("-", |c| c.confirmed_at.as_str()),
                        r.archive_path.display()
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
                eprintln!(
                    "handover {} for {} was already confirmed on {} ({}); nothing changed",
                    s.handover_id, s.client, s.confirmed_at, s.method
                );
            } else {
                eprintln!(
                    "confirmed: handover {} for {} was received ({}{}); recorded {}",
                    s.handover_id,
                    s.client,
                    s.method,
                    match (&s.client_key_id, s.client_key_authenticated) {
                        (Some(k), true) => format!(", signed by the client's key {k}"),
                        (Some(k), false) =>
                            format!(", signed by key {k}, which the receipt names itself"),
                        (None, _) => String::new(),
                    },
                    s.confirmed_at
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
