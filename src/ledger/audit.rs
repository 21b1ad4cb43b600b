//! The tamper-evident audit log: every command that changes state appends an event to a
//! hash-chained table in the state database, inside the same transaction as the change.
//! Each row holds the hash of the one before, and the chain head is signed after every append.
//!
//! The head is signed with a dedicated key, `audit.key` in the home folder (unencrypted, mode
//! 0600, made on first use), so routine commands (confirm, hold, run-due from cron) never ask
//! for the provider's password. It protects against edits by anyone who can write the
//! database but cannot read that key; certificates and evidence packs, signed with the
//! provider's own key, carry the head they were made at, which fixes the history up to there.

use serde::{Deserialize, Serialize};

use crate::error::{AnchorProblem, AuditError, ChainBreak, Result};
use crate::home::Home;
use crate::keys::signing;
use crate::keys::{self, Signer};
use crate::ledger::store::{AuditHead, AuditRow, ReceiptRecord, ScheduleRecord, Store, Tx};
use crate::report::NoReporter;
use crate::util;

pub use crate::ledger::event::AuditEvent;
pub use crate::manifest::Checkpoint;

use crate::ledger::event::{ConfirmDetails, ExportDetails, RekeyDetails};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of a row: SHA-256 of the JSON array of its fields, the previous hash last.
/// serde_json writes arrays of strings and numbers in one canonical way.
pub fn row_hash(
    seq: i64,
    at: &str,
    command: &str,
    handover_id: Option<&str>,
    details: &str,
    prev: &str,
) -> String {
    let canon = serde_json::json!([seq, at, command, handover_id, details, prev]).to_string();
    util::sha256_hex(canon.as_bytes())
}

fn head_message(seq: i64, hash: &str) -> String {
    format!("handover-audit-head\nseq={seq}\nhash={hash}\n")
}

/// The audit key, made on first use. `events` is how many rows the log holds: once it
/// holds any (or `audit.pub` exists), a missing `audit.key` is an error that says how to
/// recover, never a new key made silently, which would let anyone rewrite the history.
fn signer(home: &Home, events: i64) -> Result<Signer> {
    let sk = home.dir.join("audit.key");
    let pk = home.dir.join("audit.pub");
    if sk.symlink_metadata().is_err() {
        if events > 0 || pk.symlink_metadata().is_ok() {
            let key_id = keys::load_public_key(Some(&pk), None)
                .ok()
                .map(|k| keys::key_id(k.keynum()));
            return Err(AuditError::KeyMissing {
                path: sk,
                events,
                key_id,
            }
            .into());
        }
        keys::keygen_at(&sk, &pk, None, "handover audit-log key")?;
    }
    Ok(keys::load_signer(&sk, &NoReporter)?)
}

/// Checks, before anything is changed, that events can be appended: the audit key is there
/// (or made now, on first use). Deletions call it before their first byte changes, since
/// their certificate is recorded with an audit event at the end.
pub fn ensure_key(home: &Home, store: &Store) -> Result<()> {
    let events = store.audit_head()?.map(|h| h.seq).unwrap_or(0);
    signer(home, events).map(|_| ())
}

/// Checks the chain `rows` against the signed `heads`: every row follows the one before and
/// hashes to what it says; every head names a row whose hash it carries; the last head is the
/// last row. With `pk`, head signatures are checked too (all of them, or only the latest with
/// `latest_only`). Names the first row that does not hold.
fn check_chain(
    rows: &[AuditRow],
    heads: &[AuditHead],
    keys: Option<&[Epoch]>,
    latest_only: bool,
) -> std::result::Result<(), AuditError> {
    let broken = |seq: i64, what: ChainBreak| AuditError::Broken { seq, what };
    let mut prev = GENESIS.to_string();
    for (i, r) in rows.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if r.seq != expected_seq {
            return Err(broken(
                expected_seq,
                ChainBreak::RowMissing {
                    seq: expected_seq,
                    next: r.seq,
                },
            ));
        }
        if r.prev_hash != prev {
            return Err(broken(r.seq, ChainBreak::OutOfOrder { seq: r.seq }));
        }
        let h = row_hash(
            r.seq,
            &r.at,
            &r.command,
            r.handover_id.as_deref(),
            &r.details,
            &r.prev_hash,
        );
        if h != r.hash {
            return Err(broken(
                r.seq,
                ChainBreak::Edited {
                    seq: r.seq,
                    command: r.command.clone(),
                },
            ));
        }
        prev = r.hash.clone();
    }
    let last_seq = rows.last().map(|r| r.seq).unwrap_or(0);
    let Some(latest) = heads.last() else {
        if rows.is_empty() {
            return Ok(());
        }
        return Err(broken(last_seq, ChainBreak::NoHeads));
    };
    for (i, head) in heads.iter().enumerate() {
        let is_latest = i + 1 == heads.len();
        let Some(row) = usize::try_from(head.seq - 1).ok().and_then(|k| rows.get(k)) else {
            return Err(broken(
                last_seq + 1,
                ChainBreak::TailRemoved {
                    head: head.seq,
                    last: last_seq,
                },
            ));
        };
        if row.hash != head.hash {
            return Err(broken(row.seq, ChainBreak::Rehashed { seq: row.seq }));
        }
        if let Some(keys) = keys
            && (is_latest || !latest_only)
            && !signed_by_any(keys, head)
        {
            return Err(broken(head.seq, ChainBreak::HeadSignature));
        }
    }
    if latest.seq != last_seq {
        return Err(broken(
            latest.seq + 1,
            ChainBreak::Unsigned {
                from: latest.seq + 1,
                to: last_seq,
            },
        ));
    }
    Ok(())
}

/// An audit key and the last row it may have signed.
type Epoch = (minisign::PublicKey, i64);

/// Whether `head` carries a valid signature by a key whose epoch covers its row.
fn signed_by_any(keys: &[Epoch], head: &AuditHead) -> bool {
    signed_in_epoch(keys, head.seq, &head.hash, &head.signature)
}

fn signed_in_epoch(keys: &[Epoch], seq: i64, hash: &str, signature: &str) -> bool {
    let msg = head_message(seq, hash);
    keys.iter()
        .any(|(pk, last)| seq <= *last && signing::verify(pk, msg.as_bytes(), signature).is_ok())
}

/// The audit public key of `home`.
fn public_key(home: &Home) -> Result<minisign::PublicKey> {
    Ok(keys::load_public_key(
        Some(&home.dir.join("audit.pub")),
        None,
    )?)
}

/// Every audit key the home has had, each with the last row it may have signed:
/// `audit.pub` any row; a key an `audit rekey` replaced (`audit.pub.replaced-*`) only the
/// rows before the re-keying event that names it as the previous key. A replaced key that no
/// re-keying names signs nothing, so a key file dropped into the home cannot vouch for a
/// rewritten log. `rekeying` names the key being replaced by the event now being written.
fn public_keys(home: &Home, rows: &[AuditRow], rekeying: Option<&str>) -> Result<Vec<Epoch>> {
    let mut out = vec![(public_key(home)?, i64::MAX)];
    let Ok(rd) = std::fs::read_dir(&home.dir) else {
        return Ok(out);
    };
    let old = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("audit.pub.replaced-"))
    });
    for p in old {
        let Ok(k) = keys::load_public_key(Some(&p), None) else {
            continue;
        };
        let id = keys::key_id(k.keynum());
        let named = rows.iter().find(|r| {
            matches!(AuditEvent::of(r),
                Some(AuditEvent::AuditRekey(d)) if d.previous_key_id.as_deref() == Some(id.as_str()))
        });
        match named {
            Some(r) => out.push((k, r.seq - 1)),
            None if rekeying == Some(id.as_str()) => out.push((k, i64::MAX)),
            None => {}
        }
    }
    Ok(out)
}

/// Appends one event inside `tx` and signs the new head.
///
/// First the whole chain is checked against the signed heads (and the latest head's
/// signature against `audit.pub`): a log rewritten with `sqlite3` is refused here, with the
/// first bad row named, rather than signed over and made to look intact.
pub fn append(
    tx: &Tx<'_>,
    home: &Home,
    handover_id: Option<&str>,
    event: &AuditEvent,
) -> Result<AuditRow> {
    prepare(tx, home, handover_id, event)?.append(tx)
}

/// An event whose row and signed head are computed but not yet written: a document can carry
/// the checkpoint of the very event that records it (export's manifest names its own export
/// row). Written with [`Prepared::append`] in the same transaction it was prepared in.
pub struct Prepared {
    row: AuditRow,
    signature: String,
    key_id: String,
}

impl Prepared {
    /// The checkpoint this event will have once appended.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            seq: self.row.seq,
            hash: self.row.hash.clone(),
            signature: self.signature.clone(),
            key_id: self.key_id.clone(),
        }
    }

    /// Writes the row and its signed head.
    pub fn append(self, tx: &Tx<'_>) -> Result<AuditRow> {
        tx.append_audit(&self.row, &self.signature)?;
        Ok(self.row)
    }
}

/// Checks the chain and computes the next row and its signed head (see [`append`]).
pub fn prepare(
    tx: &Tx<'_>,
    home: &Home,
    handover_id: Option<&str>,
    event: &AuditEvent,
) -> Result<Prepared> {
    let (rows, heads) = tx.audit_log()?;
    let signer = signer(home, rows.len() as i64)?;
    let pk = public_key(home)?;
    let rekeying = match event {
        AuditEvent::AuditRekey(d) => d.previous_key_id.as_deref(),
        _ => None,
    };
    check_chain(
        &rows,
        &heads,
        Some(&public_keys(home, &rows, rekeying)?),
        true,
    )?;
    let (seq, prev) = match rows.last() {
        Some(r) => (r.seq + 1, r.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let at = util::rfc3339(util::now());
    let command = event.command();
    let details = event.details().to_string();
    let hash = row_hash(seq, &at, command, handover_id, &details, &prev);
    let sig = signing::sign(
        &signer,
        head_message(seq, &hash).as_bytes(),
        "audit-head",
        util::now().unix_timestamp(),
    )
    .map_err(crate::error::KeyError::Sign)?;
    let row = AuditRow {
        seq,
        at,
        command: command.to_string(),
        handover_id: handover_id.map(str::to_string),
        details,
        prev_hash: prev,
        hash,
    };
    Ok(Prepared {
        row,
        signature: sig,
        key_id: keys::key_id(pk.keynum()),
    })
}

/// The current signed head as a checkpoint (None on an empty log).
pub fn checkpoint(store: &Store, home: &Home) -> Result<Option<Checkpoint>> {
    let Some(head) = store.audit_head()? else {
        return Ok(None);
    };
    let key_id = public_key(home)
        .map(|pk| keys::key_id(pk.keynum()))
        .unwrap_or_default();
    Ok(Some(Checkpoint {
        seq: head.seq,
        hash: head.hash,
        signature: head.signature,
        key_id,
    }))
}

/// The SHA-256 of a handover's four recorded paths (source, archive, manifest, signature),
/// NUL-separated: the export event carries it, so a `handovers` row pointed at other data
/// with SQL no longer matches what was audited (and no path is written into the log).
pub fn paths_digest(paths: [&std::path::Path; 4]) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut b = Vec::new();
    for p in paths {
        b.extend_from_slice(p.as_os_str().as_bytes());
        b.push(0);
    }
    util::sha256_hex(&b)
}

/// The SHA-256 of what decides what `delete` removes in a bucket: each recorded object's
/// role, bucket and key, and for a `source` object its version id and ETag (the boundary above
/// which a version was never handed over). The versions of export's own outputs are left out:
/// the manifest carries the checkpoint of the export event, so its version is made after the
/// event, and `delete` removes every version of those keys whatever the row says. Sorted, so
/// the order objects were recorded in does not matter.
pub fn objects_digest(objects: &[crate::ledger::store::ObjectRecord]) -> String {
    let mut lines: Vec<Vec<u8>> = objects
        .iter()
        .map(|o| {
            let mut b = Vec::new();
            let source = o.role == "source";
            let fields = [
                o.role.as_str(),
                o.endpoint.as_str(),
                o.bucket.as_str(),
                o.key.as_str(),
                if source {
                    o.version_id.as_deref().unwrap_or("")
                } else {
                    ""
                },
                if source {
                    o.etag.as_deref().unwrap_or("")
                } else {
                    ""
                },
            ];
            for f in fields {
                b.extend_from_slice(f.as_bytes());
                b.push(0);
            }
            b
        })
        .collect();
    lines.sort();
    util::sha256_hex(&lines.concat())
}

/// Why the objects recorded for a handover are not the ones its export event audited, if
/// they are not: an `objects` row added or changed with SQL would make `delete` remove a key
/// that was never handed over.
pub fn objects_mismatch(
    store: &Store,
    handover_id: &str,
    objects: &[crate::ledger::store::ObjectRecord],
) -> Result<Option<String>> {
    let audited = export_details(store, handover_id)?.and_then(|d| d.objects_sha256);
    Ok(match audited {
        None if objects.is_empty() => None,
        None => Some(
            "objects in a bucket are recorded for it, but its export event audited none: the rows were written outside handover".into(),
        ),
        Some(d) if d != objects_digest(objects) => Some(
            "its recorded objects (bucket, key, source version) are not the ones the export event audited: the objects table was edited outside handover".into(),
        ),
        Some(_) => None,
    })
}

/// Whether the audit log records a deletion of `handover_id` certified by `certificate_id`
/// (a `done` job row alone, which SQL can insert, proves nothing).
pub fn certified_deletion(
    store: &Store,
    handover_id: &str,
    certificate_id: Option<&str>,
) -> Result<bool> {
    let Some(cert) = certificate_id else {
        return Ok(false);
    };
    Ok(store.audit_events(Some(handover_id))?.iter().any(
        |r| matches!(AuditEvent::of(r), Some(AuditEvent::Delete(d)) if d.certificate_id == cert),
    ))
}

/// The details of a handover's audited export event, if the log has one.
pub fn export_details(store: &Store, handover_id: &str) -> Result<Option<ExportDetails>> {
    Ok(export_event(&store.audit_events(Some(handover_id))?))
}

/// The keys an export audited before it uploaded to them (`upload` events of
/// `handover_id`), as `(endpoint, s3://BUCKET/KEY)`.
pub fn audited_uploads(store: &Store, handover_id: &str) -> Result<Vec<(String, String)>> {
    Ok(store
        .audit_events(Some(handover_id))?
        .iter()
        .filter_map(|r| match AuditEvent::of(r)? {
            AuditEvent::Upload(d) => Some(d),
            _ => None,
        })
        .flat_map(|d| d.objects.into_iter().map(move |o| (d.endpoint.clone(), o)))
        .collect())
}

/// The details of the first export event among `events`.
fn export_event(events: &[AuditRow]) -> Option<ExportDetails> {
    events.iter().find_map(|r| match AuditEvent::of(r)? {
        AuditEvent::Export(d) => Some(d),
        _ => None,
    })
}

/// What the audited events say about the state that gates a handover's deletion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditedGates {
    /// The last audited confirmation or upgrade: (method, receipt SHA-256, proof level).
    pub confirmed: Option<(String, Option<String>, Option<String>)>,
    /// Of the last confirmation or upgrade: the client key id and the time the receipt states.
    pub confirmed_key: Option<String>,
    pub confirmed_received_at: Option<String>,
    /// When the first confirmation was recorded, and the last upgrade.
    pub confirmed_at: Option<String>,
    pub upgraded_at: Option<String>,
    /// The digest of the recorded paths at export (absent in logs made before it existed).
    pub paths_sha256: Option<String>,
    /// The last of hold/release was a hold.
    pub held: bool,
    /// The last audited schedule.
    pub due_at: Option<String>,
    /// The audited void (`handover void`): (when, why).
    pub voided: Option<(String, String)>,
}

/// Reads the gate state of one handover from its audited events (in order).
pub fn audited_gates(events: &[AuditRow]) -> AuditedGates {
    let mut g = AuditedGates::default();
    for e in events {
        match AuditEvent::of(e) {
            Some(AuditEvent::Confirm(d)) => g.confirm(d, &e.at, false),
            Some(AuditEvent::ConfirmUpgrade(d)) => g.confirm(d, &e.at, true),
            Some(AuditEvent::Hold(_)) => g.held = true,
            Some(AuditEvent::Release) => g.held = false,
            Some(AuditEvent::Export(d)) => g.paths_sha256 = d.paths_sha256,
            Some(AuditEvent::Schedule(d)) => g.due_at = d.due_at,
            Some(AuditEvent::Void(d)) => g.voided = Some((d.voided_at, d.reason)),
            _ => {}
        }
    }
    g
}

impl AuditedGates {
    /// A confirmation (or an upgrade) recorded at `at` replaces what the last one said.
    fn confirm(&mut self, d: ConfirmDetails, at: &str, upgrade: bool) {
        let Some(m) = d.method else {
            return;
        };
        self.confirmed = Some((m, d.receipt_sha256, d.proof));
        self.confirmed_key = d.client_key_id;
        self.confirmed_received_at = d.received_at;
        if upgrade {
            self.upgraded_at = Some(at.to_string());
        } else {
            self.confirmed_at.get_or_insert_with(|| at.to_string());
        }
    }
}

/// Where the gate tables disagree with the audited events of one handover, in words; empty
/// when they agree. Only disagreements that would let a deletion run (or run earlier) than
/// the audited history allows are listed by `permissive_only`.
pub fn gate_mismatches(
    events: &[AuditRow],
    handover: Option<&crate::ledger::store::HandoverRecord>,
    receipt: Option<&ReceiptRecord>,
    schedule: Option<&ScheduleRecord>,
    permissive_only: bool,
) -> Vec<String> {
    let g = audited_gates(events);
    let mut out = Vec::new();
    if let Some(h) = handover {
        out.extend(handover_mismatches(events, h, &g));
        out.extend(void_mismatch(h, &g, permissive_only));
    }
    if let Some(r) = receipt {
        out.extend(receipt_mismatches(r, &g));
    }
    out.extend(confirmation_mismatch(receipt, &g, permissive_only));
    out.extend(hold_and_due_mismatches(schedule, &g, permissive_only));
    out
}

/// The handover row against its audited export event: the recorded facts and paths.
fn handover_mismatches(
    events: &[AuditRow],
    h: &crate::ledger::store::HandoverRecord,
    g: &AuditedGates,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = export_event(events) {
        let fields = [
            ("client", h.client != d.client),
            ("name", h.name != d.name),
            ("archive SHA-256", h.archive_sha256 != d.archive_sha256),
            ("file count", h.files != d.files),
            ("payload bytes", h.payload_bytes != d.bytes),
        ];
        for (what, differs) in fields {
            if differs {
                out.push(format!(
                    "its recorded {what} is not what the export event audited: the handover row was edited outside handover"
                ));
            }
        }
    }
    if let Some(audited) = &g.paths_sha256 {
        let now = paths_digest([
            &h.source_path,
            &h.archive_path,
            &h.manifest_path,
            &h.signature_path,
        ]);
        if &now != audited {
            out.push(
                "its recorded paths (source, archive, manifest, signature) are not the ones the export event audited: the handover row was edited outside handover".into(),
            );
        }
    }
    out
}

/// The handover row's void against the audited `void` event. A void opens the way to a
/// deletion without a receipt, so one set with `sqlite3` is refused like a hand-inserted
/// receipt; a void the row no longer shows only makes deletion stricter (`audit verify`).
fn void_mismatch(
    h: &crate::ledger::store::HandoverRecord,
    g: &AuditedGates,
    permissive_only: bool,
) -> Option<String> {
    let row = h
        .voided_at
        .as_ref()
        .map(|at| (at, h.void_reason.clone().unwrap_or_default()));
    match (row, &g.voided) {
        (Some(_), None) => Some(
            "it is recorded as voided, but no audited void event matches: the void was written to the database outside handover".into(),
        ),
        (Some((at, why)), Some((a_at, a_why))) if at != a_at || &why != a_why => Some(format!(
            "its recorded void ({at}: {why}) is not the one the audit log recorded ({a_at}: {a_why}): the handover row was edited outside handover"
        )),
        (None, Some(_)) if !permissive_only => Some(
            "the audit log records a void that the handover row no longer shows: it was edited outside handover".into(),
        ),
        _ => None,
    }
}

/// What the recorded receipt states (client key, times) against the audited confirmation.
fn receipt_mismatches(r: &ReceiptRecord, g: &AuditedGates) -> Vec<String> {
    let mut out = Vec::new();
    if g.confirmed.is_none() {
        return out;
    }
    let stated = |what: &str, row: Option<&String>, audited: Option<&String>| {
        (row != audited).then(|| {
            format!(
                "the recorded receipt's {what} ({}) is not what the audit log confirmed ({})",
                row.map(String::as_str).unwrap_or("none"),
                audited.map(String::as_str).unwrap_or("none")
            )
        })
    };
    out.extend(stated(
        "client key",
        r.client_key_id.as_ref(),
        g.confirmed_key.as_ref(),
    ));
    out.extend(stated(
        "stated receipt time",
        r.received_at.as_ref(),
        g.confirmed_received_at.as_ref(),
    ));
    // The receipt row and its audit event read the clock apart: a second boundary may
    // fall between them. More than a minute apart is an edit.
    let near = |row: Option<&String>, audited: Option<&String>| match (row, audited) {
        (Some(a), Some(b)) => {
            use time::format_description::well_known::Rfc3339;
            match (
                time::OffsetDateTime::parse(a, &Rfc3339),
                time::OffsetDateTime::parse(b, &Rfc3339),
            ) {
                (Ok(a), Ok(b)) => (a - b).abs() <= time::Duration::minutes(1),
                _ => a == b,
            }
        }
        (a, b) => a == b,
    };
    for (what, row, audited) in [
        (
            "confirmation time",
            Some(&r.confirmed_at),
            g.confirmed_at.as_ref(),
        ),
        (
            "upgrade time",
            r.upgraded_at.as_ref(),
            g.upgraded_at.as_ref(),
        ),
    ] {
        if !near(row, audited) {
            out.extend(stated(what, row, audited));
        }
    }
    out
}

/// Whether a receipt is recorded exactly when, and as, the audit log confirmed one.
fn confirmation_mismatch(
    receipt: Option<&ReceiptRecord>,
    g: &AuditedGates,
    permissive_only: bool,
) -> Option<String> {
    match (receipt, &g.confirmed) {
        (Some(r), None) => Some(format!(
            "a receipt ({}) is recorded but no audited confirm event matches it: it was written to the database outside handover",
            r.method
        )),
        (Some(r), Some((_, _, Some(proof)))) if &r.proof != proof => Some(format!(
            "the recorded proof of receipt ({}) is not the level the audit log confirmed ({proof})",
            r.proof
        )),
        (Some(r), Some((m, sha, _))) if &r.method != m || &r.receipt_sha256 != sha => {
            Some(format!(
                "the recorded receipt ({}, {}) is not the one the audit log confirmed ({m}, {})",
                r.method,
                r.receipt_sha256.as_deref().unwrap_or("no file"),
                sha.as_deref().unwrap_or("no file")
            ))
        }
        (None, Some(_)) if !permissive_only => {
            Some("the audit log confirms a receipt that the receipts table no longer holds".into())
        }
        _ => None,
    }
}

/// The schedule's hold and due time against the audited holds, releases and schedules.
fn hold_and_due_mismatches(
    schedule: Option<&ScheduleRecord>,
    g: &AuditedGates,
    permissive_only: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let table_held = schedule.is_some_and(|s| s.hold_reason.is_some());
    if g.held && !table_held {
        out.push(
            "the audit log records a hold with no release, but the schedule shows none: the hold was removed outside handover".into(),
        );
    } else if table_held && !g.held && !permissive_only {
        out.push("the schedule shows a hold that the audit log does not record".into());
    }
    let table_due = schedule.and_then(|s| s.due_at.clone());
    match (&table_due, &g.due_at) {
        (Some(t), Some(a)) if earlier(t, a) => out.push(format!(
            "the schedule says the deletion is due {t}, but the audit log scheduled it for {a}: moved earlier outside handover"
        )),
        (Some(t), None) => out.push(format!(
            "the schedule says the deletion is due {t}, but the audit log never scheduled it"
        )),
        (None, Some(a)) if !permissive_only => out.push(format!(
            "the audit log scheduled the deletion for {a}, but the schedule no longer holds it"
        )),
        _ => {}
    }
    out
}

/// Whether time `t` is before time `a` (RFC 3339, any offset): compared as instants, since
/// text order is not time order across offsets. A time that does not parse counts as
/// earlier: the schedule must never be read as a time the log did not record.
fn earlier(t: &str, a: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    match (
        time::OffsetDateTime::parse(t, &Rfc3339),
        time::OffsetDateTime::parse(a, &Rfc3339),
    ) {
        (Ok(t), Ok(a)) => t < a,
        _ => t != a,
    }
}

/// The audit log, read once and checked against its signed heads, to check the gates of
/// every handover a deletion touches against it (one read, however many handovers).
pub struct CheckedLog {
    rows: Vec<AuditRow>,
}

impl CheckedLog {
    /// Reads the whole log and checks the chain (the latest head's signature included).
    pub fn load(store: &Store, home: &Home) -> Result<CheckedLog> {
        let (rows, heads) = store.audit_log(None)?;
        check_chain(&rows, &heads, Some(&public_keys(home, &rows, None)?), true)?;
        Ok(CheckedLog { rows })
    }

    /// Refuses (exit 3) when the receipt, hold, schedule or recorded details a deletion of `h`
    /// would rely on are not what the audited history says: a row inserted, or a hold
    /// cleared, with `sqlite3` must not open the way to a deletion.
    pub fn check_gates(
        &self,
        h: &crate::ledger::store::HandoverRecord,
        receipt: Option<&ReceiptRecord>,
        schedule: Option<&ScheduleRecord>,
    ) -> Result<()> {
        let mine: Vec<AuditRow> = self
            .rows
            .iter()
            .filter(|r| r.handover_id.as_deref() == Some(h.handover_id.as_str()))
            .cloned()
            .collect();
        let problems = gate_mismatches(&mine, Some(h), receipt, schedule, true);
        if let Some(first) = problems.into_iter().next() {
            return Err(AuditError::GateMismatch {
                handover_id: h.handover_id.clone(),
                what: first,
            }
            .into());
        }
        Ok(())
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditReport {
    /// How many events the log holds.
    pub events: u64,
    /// The last event's `seq`, which the newest signed head names (0 for an empty log).
    pub head_seq: i64,
    /// That row's hash, hex SHA-256 (64 zeros for an empty log).
    pub head_hash: String,
    /// Signed heads kept (one per event since this home kept them all).
    pub signed_heads: u64,
    /// The audit key's id, to compare with `audit.pub`.
    pub key_id: String,
    /// The documents checked with `--against`, each with the row it anchors.
    pub anchors: Vec<AnchorCheck>,
}

/// One document checked with `--against`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnchorCheck {
    /// The document checked: a manifest, receipt or certificate, or an evidence pack folder.
    #[serde(serialize_with = "crate::util::path_text")]
    pub file: std::path::PathBuf,
    /// The audit row its checkpoint is at.
    pub seq: i64,
}

/// Walks the whole chain and every signed head, checks the gate tables against the audited
/// events, and each anchor document in `against`; names the first thing that does not hold.
pub fn verify(home: &Home, against: &[std::path::PathBuf]) -> Result<AuditReport> {
    let store = Store::open(&home.database())?;
    let (rows, heads) = store.audit_log(None)?;
    if rows.is_empty() && heads.is_empty() && against.is_empty() {
        return Ok(AuditReport {
            events: 0,
            head_seq: 0,
            head_hash: GENESIS.into(),
            signed_heads: 0,
            key_id: String::new(),
            anchors: Vec::new(),
        });
    }
    let pk = public_key(home)?;
    let epochs = public_keys(home, &rows, None)?;
    check_chain(&rows, &heads, Some(&epochs), false)?;
    for h in store.handovers()? {
        let mine: Vec<AuditRow> = rows
            .iter()
            .filter(|r| r.handover_id.as_deref() == Some(h.handover_id.as_str()))
            .cloned()
            .collect();
        let receipt = store.receipt(&h.handover_id)?;
        let schedule = store.schedule(&h.handover_id)?;
        let attestations = store.attestations(&h.handover_id)?;
        if let Some(first) =
            gate_mismatches(&mine, Some(&h), receipt.as_ref(), schedule.as_ref(), false)
                .into_iter()
                .chain(attestation_mismatch(&mine, &attestations))
                .next()
        {
            return Err(AuditError::GateMismatch {
                handover_id: h.handover_id.clone(),
                what: first,
            }
            .into());
        }
    }
    if let Some((client, what)) = profile_mismatch(&rows, &store.clients()?) {
        return Err(AuditError::ProfileMismatch { client, what }.into());
    }
    let mut anchors = Vec::new();
    for file in against {
        let cp = read_anchor(file)?;
        check_anchor(file, &cp, &rows, &epochs)?;
        anchors.push(AnchorCheck {
            file: file.clone(),
            seq: cp.seq,
        });
    }
    let (head_seq, head_hash) = heads
        .last()
        .map(|h| (h.seq, h.hash.clone()))
        .unwrap_or((0, GENESIS.into()));
    Ok(AuditReport {
        events: rows.len() as u64,
        head_seq,
        head_hash,
        signed_heads: heads.len() as u64,
        key_id: keys::key_id(pk.keynum()),
        anchors,
    })
}

/// The attestations table against the audited `attest` events of one handover: the same
/// steps, by the same people, with the same notes and times, in the same order. A step attested in the
/// table alone (an auditor asks when access ended) is named.
fn attestation_mismatch(
    events: &[AuditRow],
    attestations: &[crate::ledger::store::AttestationRecord],
) -> Option<String> {
    let audited: Vec<crate::ledger::event::AttestDetails> = events
        .iter()
        .filter_map(|r| match AuditEvent::of(r) {
            Some(AuditEvent::Attest(d)) => Some(d),
            _ => None,
        })
        .collect();
    let recorded: Vec<crate::ledger::event::AttestDetails> = attestations
        .iter()
        .map(|a| crate::ledger::event::AttestDetails {
            step: a.step.clone(),
            operator: a.operator.clone(),
            note: a.note.clone(),
            attested_at: a.attested_at.clone(),
        })
        .collect();
    let n = |n: usize| {
        format!(
            "{n} {}",
            if n == 1 {
                "attestation"
            } else {
                "attestations"
            }
        )
    };
    (audited != recorded).then(|| {
        format!(
            "the attestations table holds {}, the audited events {}{}",
            n(recorded.len()),
            n(audited.len()),
            if recorded.len() == audited.len() {
                ", with different steps, operators, notes or times"
            } else {
                ""
            }
        )
    })
}

/// Each client's profile as the audit log recorded it last (`client_add`, `client_edit`;
/// `None` once `client_remove`d).
fn audited_profiles(
    rows: &[AuditRow],
) -> std::collections::BTreeMap<String, Option<crate::ledger::clients::ClientSettings>> {
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        match AuditEvent::of(r) {
            Some(AuditEvent::ClientAdd(d) | AuditEvent::ClientEdit(d)) => {
                out.insert(d.client, d.settings);
            }
            Some(AuditEvent::ClientRemove(d)) => {
                out.insert(d.client, None);
            }
            _ => {}
        }
    }
    out
}

/// The client profiles table against the audit log: every profile exactly as last audited,
/// and no audited profile missing. A recipient or operator written with sqlite3 would
/// otherwise reach every later archive and certificate of the client unseen.
fn profile_mismatch(
    rows: &[AuditRow],
    profiles: &[crate::ledger::clients::ClientProfile],
) -> Option<(String, String)> {
    let audited = audited_profiles(rows);
    for p in profiles {
        match audited.get(&p.name) {
            Some(Some(s)) if *s == p.settings => {}
            Some(Some(_)) => {
                return Some((
                    p.name.clone(),
                    "the table's settings differ from the last audited ones".into(),
                ));
            }
            _ => {
                return Some((
                    p.name.clone(),
                    "it is in the table but the audit log never recorded it".into(),
                ));
            }
        }
    }
    audited
        .into_iter()
        .find(|(name, s)| s.is_some() && !profiles.iter().any(|p| &p.name == name))
        .map(|(name, _)| {
            (
                name,
                "the audit log records it but the table no longer holds it".into(),
            )
        })
}

/// The client profile `name` as the audit log recorded it last: the table's row, refused
/// when it differs. Every use of a profile (export, the certificate's operator, attest,
/// overdue work, `client edit`) reads it through here or [`audited_clients`].
pub fn audited_client(
    store: &Store,
    name: &str,
) -> Result<Option<crate::ledger::clients::ClientProfile>> {
    let profile = store.client(name)?;
    if let Some(p) = &profile {
        check_profile(store, p)?;
    }
    Ok(profile)
}

/// Every client profile, refused when any differs from the audit log (or is missing from it).
pub fn audited_clients(store: &Store) -> Result<Vec<crate::ledger::clients::ClientProfile>> {
    let profiles = store.clients()?;
    let (rows, _) = store.audit_log(None)?;
    if let Some((client, what)) = profile_mismatch(&rows, &profiles) {
        return Err(AuditError::ProfileMismatch { client, what }.into());
    }
    Ok(profiles)
}

/// Refuses a client profile that is not the one the audit log recorded last, before it is
/// used.
pub fn check_profile(store: &Store, profile: &crate::ledger::clients::ClientProfile) -> Result<()> {
    let (rows, _) = store.audit_log(None)?;
    match audited_profiles(&rows).get(&profile.name) {
        Some(Some(s)) if *s == profile.settings => Ok(()),
        _ => Err(AuditError::ProfileMismatch {
            client: profile.name.clone(),
            what: "the table's settings are not the last audited ones".into(),
        }
        .into()),
    }
}

/// The checkpoint a document carries: a JSON file with an `audit_checkpoint` object (manifest,
/// receipt, certificate), or an evidence pack folder (its `audit-checkpoint.json`).
fn read_anchor(file: &std::path::Path) -> Result<Checkpoint> {
    let path = if file.is_dir() {
        file.join("audit-checkpoint.json")
    } else {
        file.to_path_buf()
    };
    let bad = |what: AnchorProblem| AuditError::Anchor {
        file: file.to_path_buf(),
        what,
    };
    let text = std::fs::read(&path).map_err(|e| bad(AnchorProblem::Read(e)))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(AnchorProblem::NotJson(e)))?;
    let cp = v.get("audit_checkpoint").cloned().unwrap_or(v);
    serde_json::from_value(cp).map_err(|_| bad(AnchorProblem::NoCheckpoint).into())
}

fn check_anchor(
    file: &std::path::Path,
    cp: &Checkpoint,
    rows: &[AuditRow],
    keys: &[Epoch],
) -> std::result::Result<(), AuditError> {
    if !signed_in_epoch(keys, cp.seq, &cp.hash, &cp.signature) {
        return Err(AuditError::Anchor {
            file: file.to_path_buf(),
            what: AnchorProblem::NotSigned {
                key_id: cp.key_id.clone(),
            },
        });
    }
    let last = rows.last().map(|r| r.seq).unwrap_or(0);
    match usize::try_from(cp.seq - 1).ok().and_then(|k| rows.get(k)) {
        None => Err(AuditError::Broken {
            seq: last + 1,
            what: ChainBreak::RolledBack {
                file: file.to_path_buf(),
                made_at: cp.seq,
                last,
            },
        }),
        Some(r) if r.hash != cp.hash => Err(AuditError::Broken {
            seq: cp.seq,
            what: ChainBreak::RewrittenBefore {
                seq: cp.seq,
                file: file.to_path_buf(),
            },
        }),
        Some(_) => Ok(()),
    }
}

/// What `audit rekey` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RekeySummary {
    /// The lost key's id, from the old audit.pub when it was there.
    pub previous_key_id: Option<String>,
    /// Whether the old head's signature was checked with the old audit.pub (and held).
    pub previous_head_verified: bool,
    /// Where the old audit.pub was kept.
    #[serde(serialize_with = "crate::util::path_text")]
    pub previous_public_key: std::path::PathBuf,
    /// The new audit key's minisign key id, as the new `audit.pub` has it.
    pub new_key_id: String,
    /// The audit row that records the re-keying.
    pub event_seq: i64,
}

/// Replaces a lost `audit.key`: checks the chain (and the old head's signature with the old
/// `audit.pub`, when it is there), keeps the old public key as `audit.pub.replaced-TIME`,
/// makes a new key pair and records the re-keying as an audit event signed with the new key.
/// Refuses while `audit.key` is present, and when the chain does not hold (a new key must
/// not bless a tampered history).
pub fn rekey(home: &Home, reason: &str) -> Result<RekeySummary> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AuditError::ReasonRequired.into());
    }
    let sk = home.dir.join("audit.key");
    let pk = home.dir.join("audit.pub");
    if sk.symlink_metadata().is_ok() {
        return Err(AuditError::KeyPresent(sk).into());
    }
    let mut store = Store::open(&home.database())?;
    let (rows, heads) = store.audit_log(None)?;
    // The chain must hold (and its head be signed by the old key, when its public half is
    // still there) before a new key may sign after it: a new key must not bless a tampered
    // history.
    let old_pk = keys::load_public_key(Some(&pk), None)
        .map_err(|_| AuditError::PublicKeyMissing(pk.clone()))?;
    check_chain(&rows, &heads, Some(&[(old_pk.clone(), i64::MAX)]), true)?;
    let head = heads.last().cloned();
    let previous_key_id = Some(keys::key_id(old_pk.keynum()));
    let previous_head_verified = head.is_some();
    let now = util::now();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let previous_public_key = home.dir.join(format!("audit.pub.replaced-{stamp}"));
    if pk.symlink_metadata().is_ok() {
        std::fs::rename(&pk, &previous_public_key).map_err(|source| {
            crate::error::KeyError::Write {
                path: previous_public_key.clone(),
                source,
            }
        })?;
    }
    let made = keys::keygen_at(&sk, &pk, None, "handover audit-log key")?;
    let tx = store.begin()?;
    let row = append(
        &tx,
        home,
        None,
        &AuditEvent::AuditRekey(RekeyDetails {
            reason: reason.to_string(),
            previous_key_id: previous_key_id.clone(),
            previous_head_seq: head.as_ref().map(|h| h.seq),
            previous_head_hash: head.as_ref().map(|h| h.hash.clone()),
            previous_head_verified,
            new_key_id: made.key_id.clone(),
        }),
    )?;
    tx.commit()?;
    Ok(RekeySummary {
        previous_key_id,
        previous_head_verified,
        previous_public_key,
        new_key_id: made.key_id,
        event_seq: row.seq,
    })
}
