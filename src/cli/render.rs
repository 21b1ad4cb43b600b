//! Text rendering of each command's summary, and the one `--json` printer. Human text about a
//! run goes to stderr; stdout carries only the `--json` document and the tables (`list`,
//! `jobs`, `status`) that are the command's output. `delete`, `shred` and `certificate` are
//! rendered in `ui_delete`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use handover::DelegationSummary;
use handover::EvidenceSummary;
use handover::plural;
use handover::{AuditReport, RekeySummary};
use handover::{ConfirmSummary, ExportSummary, KeygenSummary};
use handover::{HandoverRecord, ReceiptRecord};
use handover::{JobView, RunDueReport, ScheduleSummary, StatusView};

/// Prints the one JSON document of a command on stdout, as it is serialized: a `verify
/// --list` report holds a listing read back from disk, never all in memory.
pub fn json<T: Serialize>(v: &T) {
    super::shell::stdout_stream(|out| {
        serde_json::to_writer_pretty(&mut *out, v)?;
        out.write_all(b"\n")
    });
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
        eprintln!(
            "client key {k} bound: a signed receipt counts only if it signed it (proof client_signature); a receipt code still confirms, at proof level code"
        );
    }
    if let Some(d) = &s.deletion_due_at {
        eprintln!("deletion of the local copies scheduled for {d} (after the client's receipt)");
    }
    if let Some(p) = &s.profile {
        export_profile(p);
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
            c.map_or(if r.voided_at.is_some() { "VOIDED" } else { "-" }, |c| {
                day(&c.confirmed_at)
            }),
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
    if r.dry_run {
        // Nothing ran: count what would, not what did.
        let would = r.jobs.iter().filter(|j| j.result == "would_run").count();
        eprintln!(
            "run-due at {} (dry run, nothing deleted): {} would run, {} waiting, {} failed",
            r.now, would, r.waiting, r.failed
        );
        return;
    }
    eprintln!(
        "run-due at {}: {} deleted, {} waiting, {} failed",
        r.now, r.deleted, r.waiting, r.failed
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
        if let Some(at) = &h.voided_at {
            println!(
                "  VOIDED {at}: {}",
                h.void_reason.as_deref().unwrap_or_default()
            );
        }
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
        status_attested(h);
    }
}

/// The attested steps of a handover's checklist, after the recorded ones, in the same columns.
fn status_attested(h: &StatusView) {
    for s in h
        .checklist
        .iter()
        .filter(|s| s.source == handover::StepSource::Attested)
    {
        // A note may span lines; a checklist row does not.
        let note = s.detail.lines().collect::<Vec<_>>().join(" / ");
        let detail = match &s.by {
            Some(by) => format!("by {by}: {note}"),
            None => note,
        };
        // Short enough for the label column the recorded steps use.
        let label = match s.step.as_str() {
            "notification_and_end_date" => "notice and end date",
            "knowledge_and_data_transfer" => "knowledge transfer",
            "final_billing" => "final billing",
            "access_revocation" => "access revoked",
            "feedback" => "feedback",
            other => other,
        };
        println!(
            "  [{}] {:<19} {:<21} {}",
            if s.done { "x" } else { " " },
            label,
            s.at.as_deref().unwrap_or("-"),
            detail
        );
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
    if !r.recipients.is_empty() {
        eprintln!(
            "  encrypted to {} recipient{} (each can open it): {}",
            r.recipients.len(),
            if r.recipients.len() == 1 { "" } else { "s" },
            r.recipients.join(", ")
        );
    }
    if let Some(d) = &r.extracted_to {
        eprintln!("  extracted to {}", d.display());
    }
    if let Some(p) = &r.receipt_path {
        eprintln!("  receipt written to {}", p.display());
    }
    if let Some(c) = &r.receipt_code {
        eprintln!("receipt code: {c}");
        match &r.receipt_path {
            Some(p) => eprintln!(
                "  send {} (with its signature file, if you signed it) or this code to the provider as proof of receipt",
                p.display()
            ),
            None => eprintln!("  send this code to the provider as proof of receipt"),
        }
    }
}

/// `verify --list`: one line per payload entry on stdout, as `tar -tv` shows them.
pub fn contents(listing: &handover::Listing) {
    super::shell::stdout_stream(|out| contents_to(out, listing));
}

fn contents_to(out: &mut dyn Write, listing: &handover::Listing) -> io::Result<()> {
    let width = listing.max_size().to_string().len();
    for e in listing.entries() {
        let e = e.map_err(|e| {
            io::Error::other(format!(
                "the listing cannot be read back from its temporary file: {e}"
            ))
        })?;
        let kind = match e.kind.as_str() {
            "dir" => 'd',
            "symlink" => 'l',
            "hardlink" => 'h',
            _ => '-',
        };
        let target = match (&e.target, e.kind.as_str()) {
            (Some(t), "symlink") => format!(" -> {t}"),
            (Some(t), _) => format!(" link to {t}"),
            (None, _) => String::new(),
        };
        writeln!(
            out,
            "{kind}{} {:>width$} {} {}{target}",
            e.mode, e.size, e.mtime, e.path
        )?;
    }
    Ok(())
}

/// Bytes for people: 1.5 GiB, 12.0 KiB.
pub fn human_bytes(n: u64) -> String {
    handover::human_bytes(n)
}

/// Overdue work, one line each with what to do next: on stdout for `status --overdue` (its
/// output, for a timer to mail), on stderr for `run-due`.
pub fn overdue(now: &str, items: &[handover::OverdueItem], stdout: bool) {
    let n = items.len();
    let mut text = format!(
        "overdue at {now}: {n} {}\n",
        if n == 1 { "item" } else { "items" }
    );
    for i in items {
        text.push_str(&format!(
            "  {:<24} {:<12} {}  {}\n  {:<24} next: {}\n",
            i.kind.as_str(),
            i.client,
            i.handover_id.as_deref().unwrap_or("-"),
            i.detail,
            "",
            i.next_step
        ));
    }
    if stdout {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// `attest`: what was recorded.
pub fn attest(s: &handover::AttestSummary) {
    eprintln!(
        "attested for handover {} ({}): {} by {} at {}{}",
        s.handover_id,
        s.client,
        s.step.label(),
        s.operator,
        s.attested_at,
        s.note
            .as_ref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
}

/// `void`: what was withdrawn, and what to do with its files.
pub fn void(s: &handover::VoidSummary) {
    eprintln!(
        "handover {} ({}) voided at {}: {}\nIts files stay until you run `handover delete {}` (no receipt needed; the reason goes into the certificate).",
        s.handover_id, s.name, s.voided_at, s.reason, s.handover_id
    );
    if let Some(h) = &s.held {
        eprintln!(
            "It is held ({h}): delete waits until the hold is released with `handover release {}`.",
            s.handover_id
        );
    }
}

/// `share`: the three links on stdout (for scripts and mail), what they are on stderr.
pub fn share(s: &handover::ShareSummary) {
    println!("{}\n{}\n{}", s.archive_url, s.manifest_url, s.signature_url);
    eprintln!(
        "links to handover {} ({}): archive, manifest, signature, valid until {}\nThe client verifies straight from them: handover verify 'ARCHIVE-URL' --manifest 'MANIFEST-URL' --signature 'SIGNATURE-URL' -i KEY --signer provider.pub",
        s.handover_id, s.name, s.expires_at
    );
}

/// What `list`, `status` and `jobs` left out: `n` voided handovers, and how to see them.
pub fn hidden_voided(n: usize, command: &str) {
    let (what, verb) = if n == 1 {
        ("voided handover", "is")
    } else {
        ("voided handovers", "are")
    };
    eprintln!("{n} {what} {verb} not shown: handover {command} --all");
}

/// What an export took from the client's profile.
fn export_profile(p: &handover::ProfileUse) {
    let used: Vec<&str> = p.from_profile.iter().map(|f| f.as_str()).collect();
    if used.is_empty() {
        eprintln!(
            "client profile {}: every value was given on the command line",
            p.client
        );
    } else {
        eprintln!("from client profile {}: {}", p.client, used.join(", "));
    }
    if let Some(end) = &p.contract_end {
        eprintln!("deletion scheduled from the contract end {end}");
    }
}

/// A delay in seconds as `client add --delete-after` takes it (30d, 12h).
fn delay(secs: i64) -> String {
    match secs {
        s if s % 604_800 == 0 => format!("{}w", s / 604_800),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => format!("{s}s"),
    }
}

/// `client add|edit|remove`: what changed, then the profile.
pub fn client_changed(verb: &str, s: &handover::ClientSummary) {
    let name = &s.client.name;
    if verb == "removed" {
        eprintln!("client profile {name} removed; its handovers and their records stay");
        return;
    }
    if s.changed.is_empty() {
        eprintln!("client profile {name}: nothing changed");
    } else {
        let fields: Vec<&str> = s.changed.iter().map(|f| f.as_str()).collect();
        eprintln!("client profile {name} {verb}: {}", fields.join(", "));
    }
    // A profile's dates shape the next export only: say so, rather than let an admin think
    // a scheduled deletion moved.
    if verb == "changed"
        && s.changed.iter().any(|f| {
            matches!(
                f,
                handover::ClientField::ContractEnd | handover::ClientField::DeleteAfter
            )
        })
    {
        eprintln!(
            "handovers already exported keep their deletion dates; move one with `handover schedule HANDOVER --at DATE` (see `handover jobs`)"
        );
    }
}

/// `client show`: one line per setting on stdout, as `list` prints its table; unset ones
/// show `-`.
pub fn client(p: &handover::ClientProfile) {
    let s = &p.settings;
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let path =
        |v: &Option<std::path::PathBuf>| or_none(v.as_ref().map(|p| p.display().to_string()));
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    println!("client          {}", p.name);
    println!("data            {}", path(&s.data_dir));
    println!("recipients      {}", list(s.recipients.clone()));
    println!(
        "recipient files {}",
        list(
            s.recipient_files
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        )
    );
    println!("escrow          {}", list(s.escrow.clone()));
    println!("client key      {}", path(&s.client_key));
    println!("out             {}", path(&s.out_dir));
    println!("delete after    {}", or_none(s.delete_after.map(delay)));
    println!("contract end    {}", or_none(s.contract_end.clone()));
    println!("operator        {}", or_none(s.operator.clone()));
    println!("organization    {}", or_none(s.organization.clone()));
    println!("receipt days    {}", s.receipt_days);
    println!("updated         {} (added {})", p.updated_at, p.created_at);
}

/// `client list`: one line per profile.
pub fn clients(all: &[handover::ClientProfile]) {
    if all.is_empty() {
        eprintln!(
            "no client profiles yet; `handover client add NAME --data DIR -r KEY --out DIR` records one"
        );
        return;
    }
    println!(
        "{:<20} {:<12} {:<10} {:<4} DATA",
        "CLIENT", "CONTRACT END", "DELETE", "KEYS"
    );
    for p in all {
        let s = &p.settings;
        let end = s
            .contract_end
            .as_deref()
            .map_or("-", |e| e.get(..10).unwrap_or(e));
        let keys = s.recipients.len() + s.recipient_files.len() + s.escrow.len();
        println!(
            "{:<20} {:<12} {:<10} {:<4} {}",
            p.name,
            end,
            s.delete_after.map_or("-".into(), delay),
            keys,
            s.data_dir
                .as_ref()
                .map_or("-".into(), |d| d.display().to_string())
        );
    }
}
