//! Text rendering of each command's summary, and the one `--json` printer. Human text about a
//! run goes to stderr; stdout carries only the `--json` document and the tables (`list`,
//! `jobs`, `status`) that are the command's output. `delete`, `shred` and `certificate` are
//! rendered in `ui_delete`.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use handover::DelegationSummary;
use handover::EvidenceSummary;
use handover::plural;
use handover::{AuditReport, RekeySummary};
use handover::{ConfirmSummary, ExportSummary, KeygenSummary};
use handover::{HandoverRecord, ReceiptRecord};
use handover::{JobView, RunDueReport, ScheduleSummary, StatusView};

/// Prints the one JSON document of a command on stdout.
pub fn json<T: Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("summaries serialize")
    );
}

/// What `keygen` and `delegate` say about the certificate key.
pub fn delegation(s: &DelegationSummary) {
    eprintln!(
        "{} {} (unattended certificate key {}, mode 0600), authorised by the provider key in {}",
        if s.created { "wrote" } else { "already have" },
        s.key_path.display(),
        s.key_id,
        s.delegation_path.display()
    );
}

/// `keygen`: the files written and the public key; `age` for an age identity.
pub fn keygen(s: &KeygenSummary, age: bool) {
    if age {
        eprintln!("wrote age identity {}", s.secret_key_path.display());
        eprintln!("public key (give this to export -r): {}", s.public_key);
        return;
    }
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
        delegation(c);
    }
}

/// `export`: what was packed, where it went, who signed it.
pub fn export(s: &ExportSummary) {
    eprintln!(
        "handover {} for {}: {}, {}, {}, {} in, {} out, {:.1} s",
        s.handover_id,
        s.client,
        plural(s.files, "file", "files"),
        plural(s.directories, "dir", "dirs"),
        plural(s.symlinks, "symlink", "symlinks"),
        human_bytes(s.bytes_in),
        human_bytes(s.bytes_out),
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
        eprintln!("deletion of the local copies scheduled for {d} (after the client's receipt)");
    }
}

/// One row of `list --json`: the handover, with its confirmed receipt if any, and when its
/// local copies were deleted.
#[derive(serde::Serialize)]
pub struct ListRow<'a> {
    #[serde(flatten)]
    pub handover: &'a HandoverRecord,
    pub receipt: Option<&'a ReceiptRecord>,
    /// When the deletion certificate of the local copies was made (UTC, RFC 3339); none yet.
    pub deleted_at: Option<&'a str>,
}

/// The widest NAME column; longer names keep their start and their last 16 characters (the
/// UTC timestamp of a default name), joined by an ellipsis.
const LIST_NAME_MAX: usize = 26;

/// `name` cut to `max` characters, keeping its tail (see [`LIST_NAME_MAX`]).
fn fit_name(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max {
        return name.to_string();
    }
    let tail = 16.min(max - 2);
    let head = max - 1 - tail;
    let start: String = name.chars().take(head).collect();
    let end: String = name.chars().skip(n - tail).collect();
    format!("{start}\u{2026}{end}")
}

/// The date part of an RFC 3339 time, for a narrow column.
fn day(t: &str) -> &str {
    t.get(..10).unwrap_or(t)
}

/// `list`: every handover with its receipt and deletion, as JSON or a table on stdout. The
/// table fits 100 columns: the first 8 characters of the id (any unique prefix of
/// 4 or more is accepted where an id is asked), the name, dates without the time, and no
/// paths, which are stale once the local copies are deleted (`--json` and `status` have them).
pub fn list(
    home: &Path,
    rows: &[HandoverRecord],
    receipts: &[ReceiptRecord],
    deleted: &HashMap<String, String>,
    as_json: bool,
) {
    let receipts: HashMap<_, _> = receipts
        .iter()
        .map(|r| (r.handover_id.as_str(), r))
        .collect();
    let receipt_of = |id: &str| receipts.get(id).copied();
    if as_json {
        let rows: Vec<_> = rows
            .iter()
            .map(|h| ListRow {
                handover: h,
                receipt: receipt_of(&h.handover_id),
                deleted_at: deleted.get(&h.handover_id).map(String::as_str),
            })
            .collect();
        json(&serde_json::json!({ "handovers": rows }));
        return;
    }
    if rows.is_empty() {
        eprintln!(
            "{}",
            super::shell::no_state_yet(home)
                .unwrap_or_else(|| format!("no handovers recorded in {}", home.display()))
        );
        return;
    }
    let names: Vec<String> = rows
        .iter()
        .map(|r| fit_name(&r.name, LIST_NAME_MAX))
        .collect();
    let nw = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let pw = receipts
        .values()
        .map(|c| c.proof.len())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "{:<8}  {:<nw$}  {:>6}  {:>11}  {:<10}  {:<pw$}  DELETED",
        "ID", "NAME", "FILES", "SIZE", "RECEIVED", "PROOF"
    );
    for (r, name) in rows.iter().zip(&names) {
        let c = receipt_of(&r.handover_id);
        println!(
            "{:<8}  {:<nw$}  {:>6}  {:>11}  {:<10}  {:<pw$}  {}",
            r.handover_id.get(..8).unwrap_or(&r.handover_id),
            name,
            r.files,
            human_bytes(r.payload_bytes),
            c.map_or("-", |c| day(&c.confirmed_at)),
            c.map_or("-", |c| c.proof.as_str()),
            deleted.get(&r.handover_id).map_or("-", |d| day(d))
        );
    }
    if receipts.values().any(|c| c.proof == "code") {
        eprintln!("PROOF code: {}", handover::CODE_CAVEAT);
    }
}

/// `schedule`: when the deletion now runs, and when it was to run before.
pub fn schedule(s: &ScheduleSummary) {
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

/// `jobs`: a table of the deletion jobs on stdout.
pub fn jobs(jobs: &[JobView]) {
    if jobs.is_empty() {
        eprintln!("no deletion jobs");
        return;
    }
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

/// `run-due`: one line per job and a total; with `quiet` (cron mails what is printed) only
/// the failed jobs, and what to do about them.
pub fn run_due(r: &RunDueReport, quiet: bool) {
    if quiet {
        for j in r.jobs.iter().filter(|j| j.result == "failed") {
            eprintln!("{}  {:<18} {}", j.handover_id, j.result, j.detail);
        }
        return;
    }
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

/// `status`: the offboarding checklist of each handover on stdout.
pub fn status(home: &Path, rows: &[StatusView]) {
    if rows.is_empty() {
        eprintln!(
            "{}",
            super::shell::no_state_yet(home)
                .unwrap_or_else(|| format!("no handovers recorded in {}", home.display()))
        );
        return;
    }
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

/// `evidence`: where the pack went, and whether the audit log held.
pub fn evidence(s: &EvidenceSummary) {
    eprintln!(
        "evidence pack for handover {} ({}) written to {}: {}{}",
        s.handover_id,
        s.client,
        s.out_dir.display(),
        plural(s.files.len() as u64, "file", "files"),
        if s.audit_log_intact {
            ""
        } else {
            "; WARNING: the audit log does not verify (see report)"
        }
    );
}

/// `audit rekey`: the new key and where the old public key is kept.
pub fn rekey(r: &RekeySummary) {
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

/// `audit verify`: the intact chain and each anchor it agrees with.
pub fn audit_verify(r: &AuditReport) {
    eprintln!(
        "audit log intact: {}, head row {} ({}), signed by audit key {}",
        plural(r.events, "event", "events"),
        r.head_seq,
        r.head_hash,
        r.key_id
    );
    for a in &r.anchors {
        eprintln!(
            "  consistent with {} (made at row {})",
            a.file.display(),
            a.seq
        );
    }
}

/// `confirm`: what was recorded, or that nothing changed.
pub fn confirm(s: &ConfirmSummary) {
    if s.already_confirmed {
        let higher = handover::Proof::parse(&s.offered_proof) < handover::Proof::parse(&s.proof);
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

/// Prints a verification report on stderr: the problems, or the summary and receipt code.
pub fn verify(r: &handover::VerifyReport) {
    if !r.ok {
        eprintln!(
            "handover: error: verification FAILED for {} ({} problem{}); nothing was extracted or marked verified",
            r.archive_path.display(),
            r.problems.len() as u64 + r.problems_not_listed,
            if r.problems.len() as u64 + r.problems_not_listed == 1 {
                ""
            } else {
                "s"
            }
        );
        for p in &r.problems {
            let mut lines = p.message.lines();
            eprintln!("  - {}: {}", p.kind, lines.next().unwrap_or(""));
            for l in lines {
                eprintln!("    {l}");
            }
        }
        if r.problems_not_listed > 0 {
            eprintln!("  ... and {} more (not listed)", r.problems_not_listed);
        }
        return;
    }
    eprintln!(
        "verified handover {} for {}: {}, {}, {}, {}",
        r.handover_id,
        r.client,
        plural(r.files, "file", "files"),
        plural(r.directories, "dir", "dirs"),
        plural(r.symlinks, "symlink", "symlinks"),
        human_bytes(r.bytes)
    );
    eprintln!(
        "  signed by key {}{}",
        r.signer_key_id,
        if r.signer_authenticated {
            ""
        } else {
            " (NOT authenticated: compare this key id with the provider)"
        }
    );
    if let Some(d) = &r.extracted_to {
        eprintln!("  extracted to {}", d.display());
    }
    if let Some(p) = &r.receipt_path {
        eprintln!("  receipt written to {}", p.display());
    }
    if let Some(c) = &r.receipt_code {
        eprintln!("receipt code: {c}");
        eprintln!("  send it (or the receipt file) to the provider as proof of receipt");
    }
}

/// Bytes for people: 1.5 GiB, 12.0 KiB.
pub fn human_bytes(n: u64) -> String {
    handover::human_bytes(n)
}
