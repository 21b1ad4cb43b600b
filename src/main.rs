//! The `handover` binary: parse arguments, choose a reporter, call one library function,
//! print the result, and turn an error's class into the exit code. No pipeline code here.

mod cli;
mod ui;
mod ui_delete;

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
            let code = match e.class() {
                ExitClass::Operational => 1,
                ExitClass::Refused => 3,
            };
            if json {
                print_json(&serde_json::json!({
                    "error": { "exit_code": code, "message": e.to_string() }
                }));
            }
            eprintln!("handover: error: {e}");
            ExitCode::from(code)
        }
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
            if cli.json {
                print_json(&serde_json::json!({ "handovers": rows }));
            } else if rows.is_empty() {
                eprintln!("no handovers recorded in {}", home.dir.display());
            } else {
                println!(
                    "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  ARCHIVE",
                    "HANDOVER_ID", "CLIENT", "CREATED_AT", "FILES", "BYTES"
                );
                for r in rows {
                    println!(
                        "{:<32}  {:<16}  {:<20}  {:>7}  {:>10}  {}",
                        r.handover_id,
                        r.client,
                        r.created_at,
                        r.files,
                        ui::human_bytes(r.payload_bytes),
                        r.archive_path.display()
                    );
                }
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
                },
                &reporter,
            )?;
            ui_delete::print_summary(&s, cli.json, cli.quiet);
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
                },
                &reporter,
            )?;
            ui_delete::print_summary(&s, cli.json, cli.quiet);
        }
        Command::Certificate(cli::CertificateCommand::Show { id }) => {
            let v = handover::certificate_show(&home, &id)?;
            ui_delete::print_certificate(&v, cli.json);
        }
    }
    Ok(ExitCode::SUCCESS)
}
