//! The tamper-evident audit log: every command that changes state appends an event to a
//! hash-chained table in the state database, inside the same transaction as the change.
//! Each row holds the hash of the one before, and the chain head is signed after every append.
//!
//! The head is signed with a dedicated key, `audit.key` in the home folder (unencrypted, mode
//! 0600, made on first use), so routine commands (confirm, hold, run-due from cron) never ask
//! for the provider's password. It protects against edits by anyone who can write the
//! database but cannot read that key; certificates and evidence packs, signed with the
//! provider's own key, carry the head they were made at, which fixes the history up to there.

use serde::Serialize;

use crate::error::{AuditError, Result};
use crate::home::Home;
use crate::keys::{self, Signer};
use crate::report::NoReporter;
use crate::signing;
use crate::store::{AuditRow, Store, Tx};
use crate::util;

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

/// The audit key, made on first use.
fn signer(home: &Home) -> Result<Signer> {
    let sk = home.dir.join("audit.key");
    if !sk.exists() {
        keys::keygen_at(
            &sk,
            &home.dir.join("audit.pub"),
            None,
            "handover audit-log key",
        )?;
    }
    Ok(keys::load_signer(&sk, &NoReporter)?)
}

/// Appends one event inside `tx` and re-signs the head. `details` is a JSON object.
pub fn append(
    tx: &Tx<'_>,
    home: &Home,
    command: &str,
    handover_id: Option<&str>,
    details: serde_json::Value,
) -> Result<AuditRow> {
    let signer = signer(home)?;
    let (seq, prev) = match tx.audit_tail()? {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let at = util::rfc3339(util::now());
    let details = details.to_string();
    let hash = row_hash(seq, &at, command, handover_id, &details, &prev);
    let sig = signing::sign(
        &signer,
        head_message(seq, &hash).as_bytes(),
        "audit-head",
        util::now().unix_timestamp(),
    )
    .map_err(crate::error::KeyError::Crypto)?;
    let row = AuditRow {
        seq,
        at,
        command: command.to_string(),
        handover_id: handover_id.map(str::to_string),
        details,
        prev_hash: prev,
        hash,
    };
    tx.append_audit(&row, &sig)?;
    Ok(row)
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub events: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The audit key's id, to compare with `audit.pub`.
    pub key_id: String,
}

/// Walks the whole chain; names the first row that was edited, deleted or reordered.
pub fn verify(home: &Home) -> Result<AuditReport> {
    let store = Store::open(&home.database())?;
    let rows = store.audit_events(None)?;
    let head = store.audit_head()?;
    let mut prev = GENESIS.to_string();
    for (i, r) in rows.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if r.seq != expected_seq {
            return Err(AuditError::Broken {
                seq: expected_seq,
                what: format!("row {expected_seq} is missing (the next row is {})", r.seq),
            }
            .into());
        }
        if r.prev_hash != prev {
            return Err(AuditError::Broken {
                seq: r.seq,
                what: format!(
                    "row {} does not follow row {} (deleted, inserted or reordered rows)",
                    r.seq,
                    r.seq - 1
                ),
            }
            .into());
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
            return Err(AuditError::Broken {
                seq: r.seq,
                what: format!(
                    "row {} ({}) was edited after it was written",
                    r.seq, r.command
                ),
            }
            .into());
        }
        prev = r.hash.clone();
    }
    let last_seq = rows.last().map(|r| r.seq).unwrap_or(0);
    let Some(head) = head else {
        if rows.is_empty() {
            return Ok(AuditReport {
                events: 0,
                head_seq: 0,
                head_hash: GENESIS.into(),
                key_id: String::new(),
            });
        }
        return Err(AuditError::Broken {
            seq: last_seq,
            what: "the signed head of the chain is missing".into(),
        }
        .into());
    };
    if head.seq != last_seq || head.hash != prev {
        return Err(AuditError::Broken {
            seq: (last_seq + 1).min(head.seq.max(1)),
            what: format!(
                "the signed head names row {} but the chain ends at row {last_seq} (rows removed from the end, or the head was replaced)",
                head.seq
            ),
        }
        .into());
    }
    let pk = keys::load_public_key(Some(&home.dir.join("audit.pub")), None)?;
    signing::verify(
        &pk,
        head_message(head.seq, &head.hash).as_bytes(),
        &head.signature,
    )
    .map_err(|_| AuditError::Broken {
        seq: head.seq,
        what: "the signature on the chain head does not verify with audit.pub".into(),
    })?;
    Ok(AuditReport {
        events: rows.len() as u64,
        head_seq: head.seq,
        head_hash: head.hash,
        key_id: keys::key_id(pk.keynum()),
    })
}
