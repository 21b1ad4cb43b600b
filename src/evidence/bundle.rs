//! The evidence pack: everything an auditor asks for about one client's offboarding, in one
//! folder that can be sent as it is.
//!
//! Built only from what the state database holds (the signed manifest, the receipt, the
//! deletion certificate, the audit events), so it can be made after the local copies are
//! gone. The folder appears under its final name only when complete.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{EvidenceError, Result};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::ledger::checklist::AttestStep;
use crate::ledger::event::{AuditEvent, RunDueDetails};
use crate::ledger::store::{AttestationRecord, AuditRow, Store};
use crate::{ledger::audit, util};

/// A signed document to include: file name, content, and its `.minisig` if any.
pub struct Document {
    pub file_name: String,
    pub content: String,
    pub signature: Option<String>,
}

/// What `evidence` wrote.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EvidenceSummary {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The folder written.
    pub out_dir: PathBuf,
    /// Every file written into the folder, relative to it, `SHA256SUMS` last.
    pub files: Vec<String>,
    /// Whether the whole audit log verified when the pack was made.
    pub audit_log_intact: bool,
    /// Whether the deletion certificate is included (the handover's copies are deleted).
    pub deletion_certificate: bool,
    /// Whether a confirmed receipt is recorded (the pack then holds its confirmation).
    pub receipt: bool,
}

/// A timeline line for the report.
struct Event {
    at: String,
    what: String,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Describes an audit event for people. A command this version does not know (or details
/// that do not fit it) is named as it is.
fn describe(r: &AuditRow) -> String {
    let Some(event) = AuditEvent::of(r) else {
        return r.command.clone();
    };
    match event {
        AuditEvent::Export(d) => format!(
            "Exported {} ({}), archive SHA-256 {}, signed by key {}",
            util::plural(d.files, "file", "files"),
            util::plural(d.bytes, "byte", "bytes"),
            d.archive_sha256,
            d.signer_key_id
        ),
        AuditEvent::Confirm(d) => match d.proof.as_deref().unwrap_or("") {
            "" => "Client's receipt confirmed".to_string(),
            p => format!("Client's receipt confirmed (proof {p})"),
        },
        AuditEvent::ConfirmUpgrade(d) => format!(
            "Proof of receipt upgraded from {} to {}",
            d.previous_proof.unwrap_or_default(),
            d.proof.unwrap_or_default()
        ),
        AuditEvent::Schedule(d) => {
            format!("Deletion scheduled for {}", d.due_at.unwrap_or_default())
        }
        AuditEvent::Hold(d) => format!("Hold placed: {}", d.reason.unwrap_or_default()),
        AuditEvent::Release => "Hold released".to_string(),
        AuditEvent::RunDue(RunDueDetails::Failed { error, .. }) => {
            format!("Deletion attempt failed: {error}")
        }
        AuditEvent::RunDue(RunDueDetails::Gone { .. }) => {
            "Deletion job closed: nothing was left to delete".to_string()
        }
        AuditEvent::RunDue(RunDueDetails::Deleted {
            certificate_id,
            method,
        }) => format!("Scheduled deletion ran (run-due); certificate {certificate_id}: {method}"),
        // A run that found the deletion running elsewhere (or held): it waited, nothing ran.
        AuditEvent::RunDue(RunDueDetails::Waiting { error, .. }) => {
            format!("Scheduled deletion waited (run-due): {error}")
        }
        AuditEvent::Delete(d) | AuditEvent::Shred(d) => format!(
            "Local copies deleted ({}, {}; {} overwritten, {}){}; certificate {}",
            util::plural(d.files, "file", "files"),
            util::plural(d.bytes, "byte", "bytes"),
            d.overwritten_files,
            util::plural(d.logical_delete_files, "logical delete", "logical deletes"),
            d.bucket_entries
                .map(|n| format!(
                    ", and {} in a bucket (logical delete)",
                    util::plural(
                        n,
                        "object version, marker or upload",
                        "object versions, markers and uploads"
                    )
                ))
                .unwrap_or_default(),
            d.certificate_id
        ),
        AuditEvent::Keygen(_)
        | AuditEvent::Delegate(_)
        | AuditEvent::Cleanup(_)
        | AuditEvent::AuditRekey(_) => r.command.clone(),
        AuditEvent::Attest(d) => format!(
            "Attested by {}: {}{}",
            d.operator,
            attested_label(&d.step),
            d.note.map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        AuditEvent::Void(d) => format!("Handover voided (never delivered): {}", d.reason),
        AuditEvent::Upload(d) => format!("Upload into a bucket started: {}", d.objects.join(", ")),
        AuditEvent::Share(d) => format!(
            "Download links made for {}, valid until {}",
            util::plural(d.objects.len() as u64, "object", "objects"),
            d.expires_at
        ),
        // Not tied to a handover: a profile's events are in no handover's pack.
        AuditEvent::ClientAdd(_) | AuditEvent::ClientEdit(_) | AuditEvent::ClientRemove(_) => {
            r.command.clone()
        }
    }
}

/// A checklist step's words, from its stored snake_case name.
fn attested_label(step: &str) -> String {
    AttestStep::ALL
        .iter()
        .find(|s| s.as_str() == step)
        .map(|s| s.label().to_string())
        .unwrap_or_else(|| step.replace('_', " "))
}

/// One line of the report for any text: a multi-line error is joined with " / ", so the
/// timeline keeps one row per event in Markdown, HTML and a terminal alike.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The certificate's claims and their limits in plain words, for the report.
fn certificate_claims(c: &crate::erase::certificate::Certificate) -> Vec<String> {
    let mut out = vec![
        format!(
            "Standard: the certificate follows NIST SP 800-88 Rev. 2 (Guidelines for Media Sanitization, September 2025) and uses its terms: the sanitization method reached (Clear, Purge or Destroy, or none) and the technique used (overwrite, logical delete). {}, {} were deleted between {} and {}.",
            util::plural(c.totals.files, "file", "files"),
            util::plural(c.totals.bytes, "byte", "bytes"),
            c.started_at,
            c.finished_at
        ),
        "Scope: file level only. The handed-over files listed in the certificate were deleted; the disks that held them were not sanitized as a whole (no whole-media Clear, Purge or Destroy was performed), and copies elsewhere (backups, snapshots, other systems) are not covered.".into(),
        "File names: each file was renamed to a random name before it was removed, but a filesystem may keep old names in its directory blocks and its journal until that space is reused.".into(),
        "Clear, where stated, means the file's blocks were overwritten in place, synced, read back and compared, on a physical rotational disk whose make and model could be read. Anything less is marked \"none (best effort)\" (overwritten, but the old data may survive elsewhere) or \"none\" (deleted without overwriting), with the reason.".into(),
    ];
    out.push(if c.names == crate::erase::names::Names::SaltedSha256.as_str() {
        "Names in this pack: the certificate lists each deleted file by a salted SHA-256 of its path, not by name, and the provider's records keep only that form once the deletion is done; the client, who has the files, checks which of them the certificate covers with `handover certificate check CERTIFICATE --bag FOLDER`.".into()
    } else {
        "Names in this pack: the provider chose to list the deleted files by name (`--names clear`).".into()
    });
    for s in &c.sanitization {
        let d = &s.detail;
        let method = if s.sanitization_method.is_empty() {
            crate::erase::certificate::rev2_method(&d.method)
        } else {
            &s.sanitization_method
        };
        let technique = if s.technique.is_empty() {
            crate::erase::certificate::rev2_technique(&d.method)
        } else {
            &s.technique
        };
        let disk = s
            .media
            .as_ref()
            .map(|m| {
                let who = [m.vendor.as_deref(), m.model.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if who.is_empty() {
                    format!(", disk {}", m.name)
                } else {
                    format!(", disk {} ({who})", m.name)
                }
            })
            .unwrap_or_default();
        out.push(format!(
            "On the {} filesystem at {} (device {}{disk}): {}, {}; sanitization method: {method}; technique: {technique}{}.",
            d.filesystem,
            d.mount_point,
            d.device,
            util::plural(d.entries, "file", "files"),
            util::plural(d.bytes, "byte", "bytes"),
            d.reason
                .as_ref()
                .map(|r| format!("; why not Clear: {r}"))
                .unwrap_or_default()
        ));
    }
    if let Some(d) = &c.delegation {
        let by = serde_json::from_str::<crate::keys::delegation::Delegation>(&d.document).ok();
        out.push(format!(
            "Signature: signed by the provider's certificate key {}, which provider key {} authorised to sign deletion certificates{} (the delegation is included and signed by the provider key).",
            c.signer.key_id,
            by.as_ref().map(|b| b.provider_key.key_id.as_str()).unwrap_or("?"),
            by.as_ref().map(|b| format!(" on {}", b.created_at)).unwrap_or_default()
        ));
    } else {
        out.push(format!("Signature: signed by key {}.", c.signer.key_id));
    }
    out
}

/// Everything the pack is made from, gathered by the caller from the store.
pub struct Sources {
    pub manifest: Document,
    /// The confirmation recorded by `confirm`, and the client's receipt file if given.
    pub receipts: Vec<Document>,
    pub certificate: Option<Document>,
}

/// Writes the evidence pack of handover `id` into `out` (which must not exist yet).
pub fn write(home: &Home, id: &str, out: &Path, sources: Sources) -> Result<EvidenceSummary> {
    let store = Store::open(&home.database())?;
    let h = store.handover(id)?;
    if out.symlink_metadata().is_ok() {
        return Err(EvidenceError::Exists(out.to_path_buf()).into());
    }
    let events = store.audit_events(Some(&h.handover_id))?;
    let audit_result = audit::verify(home, &[]);
    let receipt = store.receipt(&h.handover_id)?;
    let schedule = store
        .schedules()?
        .into_iter()
        .find(|s| s.handover_id == h.handover_id);
    let attestations = store.attestations(&h.handover_id)?;

    let parent = home::parent_dir(out);
    fs::create_dir_all(parent).map_err(|source| EvidenceError::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    let staging = tempfile::Builder::new()
        .prefix(".evidence.tmp-")
        .tempdir_in(parent)
        .map_err(|source| EvidenceError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    // The certificate's claims, and its delegation as files beside it, so `minisign -V`
    // checks it too.
    let claims = sources.certificate.as_ref().and_then(|c| {
        serde_json::from_str::<crate::erase::certificate::Certificate>(&c.content).ok()
    });
    let delegation_doc = claims
        .as_ref()
        .and_then(|c| c.delegation.as_ref())
        .map(|d| Document {
            file_name: d.file_name.clone(),
            content: d.document.clone(),
            signature: Some(d.signature.clone()),
        });
    let mut files = document_files(&sources, delegation_doc.as_ref());
    files.extend(audit_files(home, &store, &events)?);
    let report = Report {
        title: format!(
            "Offboarding evidence: {} (handover {})",
            h.client, h.handover_id
        ),
        now: util::rfc3339(util::now()),
        checklist: with_attested(
            checklist(&h, receipt.as_ref(), schedule.as_ref(), &sources),
            &attestations,
        ),
        who: who(home, claims.as_ref(), &attestations),
        scope: claims.as_ref().map(|c| c.scope.clone()),
        claim_lines: claims.as_ref().map(certificate_claims).unwrap_or_default(),
        timeline: timeline(&events),
        verify_note: match &audit_result {
            Ok(r) => format!(
                "intact: {}, head row {} ({})",
                util::plural(r.events, "event", "events"),
                r.head_seq,
                r.head_hash
            ),
            Err(e) => format!("NOT INTACT: {e}"),
        },
    };
    let how_to_check = how_to_check(&sources, delegation_doc.as_ref(), claims.as_ref());
    files.push((
        "report.md".into(),
        report.markdown(&how_to_check).into_bytes(),
    ));
    files.push((
        "report.html".into(),
        report.html(&how_to_check).into_bytes(),
    ));
    let names = publish(staging, &files, out)?;
    Ok(EvidenceSummary {
        handover_id: h.handover_id,
        client: h.client,
        out_dir: out.to_path_buf(),
        files: names,
        audit_log_intact: audit_result.is_ok(),
        deletion_certificate: sources.certificate.is_some(),
        receipt: receipt.is_some(),
    })
}

/// The signed documents (manifest, receipts, certificate and its delegation) with their
/// signatures, and the provider's public key taken from the signed manifest, so
/// `minisign -V` runs on the pack as it is.
fn document_files(sources: &Sources, delegation: Option<&Document>) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut docs = vec![("manifest", &sources.manifest)];
    for r in &sources.receipts {
        docs.push(("receipt", r));
    }
    if let Some(c) = &sources.certificate {
        docs.push(("deletion", c));
    }
    if let Some(d) = delegation {
        docs.push(("deletion", d));
    }
    for (dir, d) in &docs {
        files.push((
            format!("{dir}/{}", d.file_name),
            d.content.clone().into_bytes(),
        ));
        if let Some(sig) = &d.signature {
            files.push((
                format!("{dir}/{}.minisig", d.file_name),
                sig.clone().into_bytes(),
            ));
        }
    }
    let signer_pk = serde_json::from_str::<crate::manifest::Manifest>(&sources.manifest.content)
        .ok()
        .and_then(|m| minisign::PublicKey::from_base64(&m.signer.public_key).ok())
        .and_then(|pk| pk.to_box().ok())
        .map(|b| b.into_string());
    if let Some(pk) = signer_pk {
        files.push(("provider.pub".into(), pk.into_bytes()));
    }
    files
}

/// The handover's audit events, the signed head, the pack's checkpoint and `audit.pub`.
fn audit_files(home: &Home, store: &Store, events: &[AuditRow]) -> Result<Vec<(String, Vec<u8>)>> {
    let head = store.audit_head()?;
    let checkpoint = audit::checkpoint(store, home)?;
    let mut files = Vec::new();
    let mut jsonl = String::new();
    for e in events {
        jsonl.push_str(&serde_json::to_string(e).expect("rows serialize"));
        jsonl.push('\n');
    }
    files.push(("audit/events.jsonl".into(), jsonl.into_bytes()));
    if let Some(head) = &head {
        let v =
            serde_json::json!({ "seq": head.seq, "hash": head.hash, "signature": head.signature });
        files.push((
            "audit/head.json".into(),
            serde_json::to_vec_pretty(&v).expect("json"),
        ));
    }
    // The pack's anchor: whoever keeps the pack can later run
    // `handover audit verify --against PACK` to see the log was not rolled back behind it.
    if let Some(cp) = &checkpoint {
        files.push((
            "audit-checkpoint.json".into(),
            serde_json::to_vec_pretty(cp).expect("json"),
        ));
    }
    if let Ok(pk) = fs::read(home.dir.join("audit.pub")) {
        files.push(("audit/audit.pub".into(), pk));
    }
    Ok(files)
}

/// The handover's audit events for people, oldest first.
fn timeline(events: &[AuditRow]) -> Vec<Event> {
    let mut timeline: Vec<Event> = events
        .iter()
        .map(|r| Event {
            at: r.at.clone(),
            what: one_line(&describe(r)),
        })
        .collect();
    timeline.sort_by(|a, b| a.at.cmp(&b.at));
    timeline
}

/// How a checklist line is marked: done, to do, or a plain statement (no box, no colour).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Done,
    Todo,
    Note,
}

impl From<bool> for Mark {
    fn from(done: bool) -> Mark {
        if done { Mark::Done } else { Mark::Todo }
    }
}

/// The recorded steps with the attested ones in the order of an offboarding: notice first,
/// knowledge transfer, billing and access after the receipt, feedback last.
fn with_attested(
    recorded: Vec<(&'static str, bool, String)>,
    attestations: &[AttestationRecord],
) -> Vec<(String, Mark, String)> {
    let attested = |step: AttestStep| {
        let last = attestations.iter().rev().find(|a| a.step == step.as_str());
        let label = step.label();
        let label = format!("{}{}", label[..1].to_uppercase(), &label[1..]);
        let detail = match last {
            Some(a) => format!(
                "attested {} by {}{}",
                a.attested_at,
                a.operator,
                a.note
                    .as_ref()
                    .map(|n| format!(": {}", one_line(n)))
                    .unwrap_or_default()
            ),
            None => "not attested".into(),
        };
        (label, Mark::from(last.is_some()), detail)
    };
    let mut out = vec![attested(AttestStep::NotificationAndEndDate)];
    for (label, done, detail) in recorded {
        // No hold is a plain statement, not a step left undone.
        let mark = if label == "Hold" && !done {
            Mark::Note
        } else {
            Mark::from(done)
        };
        out.push((label.to_string(), mark, detail));
        if label == "Receipt confirmed" {
            for s in [
                AttestStep::KnowledgeAndDataTransfer,
                AttestStep::FinalBilling,
                AttestStep::AccessRevocation,
            ] {
                out.push(attested(s));
            }
        }
    }
    out.push(attested(AttestStep::Feedback));
    out
}

/// Who ran the offboarding, for the report: the operator and organisation the deletion
/// certificate names, else the organisation of the home's delegation, and who attested steps.
fn who(
    home: &Home,
    cert: Option<&crate::erase::certificate::Certificate>,
    attestations: &[AttestationRecord],
) -> Vec<String> {
    let delegation_org = || {
        cert.and_then(|c| c.delegation.as_ref())
            .map(|d| d.document.clone())
            .or_else(|| {
                fs::read_to_string(home.dir.join(crate::keys::delegation::DELEGATION_FILE)).ok()
            })
            .and_then(|d| serde_json::from_str::<crate::keys::delegation::Delegation>(&d).ok())
            .and_then(|d| d.organization)
    };
    let mut out = Vec::new();
    match cert {
        Some(c) => out.push(format!(
            "Operator: {} (ran the deletion, as the certificate names them)",
            c.operator.name
        )),
        None => out.push("Operator: not recorded yet (no deletion has run)".into()),
    }
    let org = cert
        .and_then(|c| c.operator.organization.clone())
        .map(|o| format!("{o} (as the certificate names it)"))
        .or_else(|| {
            delegation_org().map(|o| format!("{o} (as the certificate key's delegation names it)"))
        });
    out.push(format!(
        "Organisation: {}",
        org.unwrap_or_else(|| "not recorded (keygen/delegate --organization names it)".into())
    ));
    let mut attesters: Vec<&str> = attestations.iter().map(|a| a.operator.as_str()).collect();
    attesters.sort_unstable();
    attesters.dedup();
    if !attesters.is_empty() {
        out.push(format!("Steps attested by: {}", attesters.join(", ")));
    }
    out
}

/// The report's checklist: (step, done, detail).
fn checklist(
    h: &crate::ledger::store::HandoverRecord,
    receipt: Option<&crate::ledger::store::ReceiptRecord>,
    schedule: Option<&crate::ledger::store::ScheduleRecord>,
    sources: &Sources,
) -> Vec<(&'static str, bool, String)> {
    let checklist = [
        (
            "Exported",
            true,
            format!(
                "{}: {}, {}; archive {} ({}, SHA-256 {})",
                h.created_at,
                util::plural(h.files, "file", "files"),
                util::plural(h.payload_bytes, "byte", "bytes"),
                h.name,
                util::plural(h.archive_bytes, "byte", "bytes"),
                h.archive_sha256
            ),
        ),
        (
            "Receipt confirmed",
            receipt.is_some(),
            receipt
                .as_ref()
                .map(|r| {
                    format!(
                        "{} by {}{}; proof {}",
                        r.confirmed_at,
                        if r.method == "receipt" {
                            "receipt file"
                        } else {
                            "receipt code"
                        },
                        r.upgraded_at
                            .as_ref()
                            .map(|t| format!(" (upgraded {t})"))
                            .unwrap_or_default(),
                        crate::ledger::state::proof_meaning(&r.proof, r.client_key_id.as_deref())
                    )
                })
                .unwrap_or_else(|| "not yet".into()),
        ),
        (
            "Deletion scheduled",
            schedule.as_ref().and_then(|s| s.due_at.as_ref()).is_some(),
            schedule
                .as_ref()
                .and_then(|s| s.due_at.clone())
                .unwrap_or_else(|| "no date set".into()),
        ),
        (
            "Hold",
            schedule
                .as_ref()
                .and_then(|s| s.hold_reason.as_ref())
                .is_some(),
            schedule
                .as_ref()
                .and_then(|s| s.hold_reason.clone())
                .map(|r| format!("ON HOLD: {r}"))
                .unwrap_or_else(|| "no hold: nothing holds back this deletion".into()),
        ),
        (
            "Deleted",
            sources.certificate.is_some(),
            sources
                .certificate
                .as_ref()
                .map(|c| format!("certificate {}", c.file_name))
                .unwrap_or_else(|| "not yet".into()),
        ),
    ];
    let mut checklist: Vec<_> = checklist.into();
    if let Some(at) = &h.voided_at {
        checklist.push((
            "Voided",
            true,
            format!(
                "{at}: {} (withdrawn before it was delivered; its files may be deleted without a receipt)",
                h.void_reason.as_deref().unwrap_or_default()
            ),
        ));
    }
    checklist
}

/// What the report says: one page, a checklist and a timeline.
struct Report {
    title: String,
    now: String,
    checklist: Vec<(String, Mark, String)>,
    /// The operator and the organisation.
    who: Vec<String>,
    /// The certificate's scope, word for word.
    scope: Option<String>,
    claim_lines: Vec<String>,
    timeline: Vec<Event>,
    verify_note: String,
}

impl Report {
    /// The report in Markdown, ending with the commands that check the pack.
    fn markdown(&self, how_to_check: &str) -> String {
        let Report {
            title,
            now,
            checklist,
            who,
            scope,
            claim_lines,
            timeline,
            verify_note,
        } = self;
        let mut md = format!(
            "# {title}\n\nGenerated {now} by handover {}.\n\n",
            env!("CARGO_PKG_VERSION")
        );
        for l in who {
            let _ = writeln!(md, "- {l}");
        }
        md.push_str("\n## Checklist\n\n");
        for (label, mark, detail) in checklist {
            let _ = match mark {
                Mark::Note => writeln!(md, "- **{label}**: {detail}"),
                m => writeln!(
                    md,
                    "- [{}] **{label}**: {detail}",
                    if *m == Mark::Done { "x" } else { " " }
                ),
            };
        }
        if let Some(scope) = scope {
            let _ = write!(md, "\n## Scope of the deletion certificate\n\n{scope}\n");
        }
        if !claim_lines.is_empty() {
            md.push_str("\n## What the deletion certificate claims\n\n");
            for l in claim_lines {
                let _ = writeln!(md, "- {l}");
            }
        }
        md.push_str("\n## Timeline (UTC)\n\n| time | event |\n|---|---|\n");
        for e in timeline {
            let _ = writeln!(md, "| {} | {} |", e.at, e.what.replace('|', "\\|"));
        }
        let _ = write!(
            md,
            "\n## Audit log\n\n{verify_note}.\n\n## How to check this pack\n\n{how_to_check}"
        );
        md
    }

    /// The same report as one HTML page.
    fn html(&self, how_to_check: &str) -> String {
        let Report {
            title,
            now,
            checklist,
            who,
            scope,
            claim_lines,
            timeline,
            verify_note,
        } = self;
        let mut html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n\
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}\
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}}\
.done{{color:#060}}.todo{{color:#a00}}code{{word-break:break-all}}</style></head><body>\n<h1>{t}</h1>\n\
<p>Generated {now} by handover {v}.</p>\n<ul>\n",
            t = esc(title),
            v = env!("CARGO_PKG_VERSION")
        );
        for l in who {
            let _ = writeln!(html, "<li>{}</li>", esc(l));
        }
        html.push_str("</ul>\n<h2>Checklist</h2>\n<ul>\n");
        for (label, mark, detail) in checklist {
            let (class, box_) = match mark {
                Mark::Done => (" class=\"done\"", "&#9745; "),
                Mark::Todo => (" class=\"todo\"", "&#9744; "),
                Mark::Note => ("", ""),
            };
            let _ = writeln!(
                html,
                "<li{class}>{box_}<strong>{}</strong>: {}</li>",
                esc(label),
                esc(detail)
            );
        }
        if let Some(scope) = scope {
            let _ = write!(
                html,
                "</ul>\n<h2>Scope of the deletion certificate</h2>\n<p>{}</p>\n<ul>\n",
                esc(scope)
            );
        }
        if !claim_lines.is_empty() {
            html.push_str("</ul>\n<h2>What the deletion certificate claims</h2>\n<ul>\n");
            for l in claim_lines {
                let _ = writeln!(html, "<li>{}</li>", esc(l));
            }
        }
        html.push_str(
            "</ul>\n<h2>Timeline (UTC)</h2>\n<table><tr><th>time</th><th>event</th></tr>\n",
        );
        for e in timeline {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&e.at),
                esc(&e.what)
            );
        }
        let commands = how_to_check
            .trim_start_matches("```sh\n")
            .trim_end_matches("```\n");
        let _ = write!(
            html,
            "</table>\n<h2>Audit log</h2>\n<p>{}.</p>\n<h2>How to check this pack</h2>\n\
<p>In this folder:</p>\n<pre><code>{}</code></pre>\n</body></html>\n",
            esc(verify_note),
            esc(commands)
        );
        html
    }
}

/// The commands that check the pack's signatures, for the report.
fn how_to_check(
    sources: &Sources,
    delegation_doc: Option<&Document>,
    claims: Option<&crate::erase::certificate::Certificate>,
) -> String {
    format!(
        "```sh\nsha256sum -c SHA256SUMS\n\
minisign -Vm manifest/{m} -p provider.pub\n{c}{r}```\n",
        m = sources.manifest.file_name,
        c = sources
            .certificate
            .as_ref()
            .map(|c| match (delegation_doc, claims) {
                (Some(d), Some(k)) => format!(
                    "minisign -Vm deletion/{} -p provider.pub\nminisign -Vm deletion/{} -P {}   # the key the line above names\n",
                    d.file_name, c.file_name, k.signer.public_key
                ),
                _ => format!("minisign -Vm deletion/{} -p provider.pub\n", c.file_name),
            })
            .unwrap_or_default(),
        r = sources
            .receipts
            .iter()
            .find(|r| r.signature.is_some())
            .map(|r| format!(
                "minisign -Vm receipt/{} -p CLIENT.pub   # the client's key\n",
                r.file_name
            ))
            .or_else(|| {
                sources
                    .receipts
                    .iter()
                    .any(|r| r.file_name == "receipt.json.sig")
                    .then(|| format!(
                        "# the client's SSH key: ALLOWED holds \"client namespaces=\\\"{ns}\\\" ssh-ed25519 AAAA...\"\n\
ssh-keygen -Y verify -f ALLOWED -I client -n {ns} -s receipt/receipt.json.sig < receipt/receipt.json\n",
                        ns = crate::keys::clientkey::SSH_NAMESPACE
                    ))
            })
            .unwrap_or_default(),
    )
}

/// Writes the files into the staging folder, lists them in SHA256SUMS, then publishes the
/// folder as `out` by one rename. Returns the names written.
fn publish(
    staging: tempfile::TempDir,
    files: &[(String, Vec<u8>)],
    out: &Path,
) -> Result<Vec<String>> {
    let parent = home::parent_dir(out);
    let mut sums = String::new();
    let mut names = Vec::new();
    for (name, bytes) in files {
        let p = staging.path().join(name);
        let dir = home::parent_dir(&p);
        fs::create_dir_all(dir)
            .and_then(|_| home::write_new(&p, bytes, PUBLIC_MODE).map(|_| ()))
            .map_err(|source| EvidenceError::Write {
                path: p.clone(),
                source,
            })?;
        let _ = writeln!(sums, "{}  {name}", util::sha256_hex(bytes));
        names.push(name.clone());
    }
    home::write_new(
        &staging.path().join("SHA256SUMS"),
        sums.as_bytes(),
        PUBLIC_MODE,
    )
    .map_err(|source| EvidenceError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    names.push("SHA256SUMS".into());
    let staged = staging.keep();
    fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .and_then(|_| util::rename_noreplace(&staged, out))
        .and_then(|_| home::sync_dir(parent))
        .map_err(|source| {
            let _ = fs::remove_dir_all(&staged);
            EvidenceError::Write {
                path: out.to_path_buf(),
                source,
            }
        })?;
    Ok(names)
}
