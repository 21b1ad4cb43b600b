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
use crate::store::{AuditHead, AuditRow, Store, Tx};
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

/// Appends one event inside `tx` and re-signs the head. `details` is a JSON object.
pub fn append(
    tx: &Tx<'_>,
    home: &Home,
    command: &str,
    handover_id: Option<&str>,
    details: serde_json::Value,
) -> Result<AuditRow> {
    let tail = tx.audit_tail()?;
    let signer = signer(home, tail.as_ref().map(|t| t.0).unwrap_or(0))?;
    let (seq, prev) = match tail {
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
    let (events, head) = check_chain(&store)?;
    let Some(head) = head else {
        return Ok(AuditReport {
            events: 0,
            head_seq: 0,
            head_hash: GENESIS.into(),
            key_id: String::new(),
        });
    };
    let pk = keys::load_public_key(Some(&home.dir.join("audit.pub")), None)?;
    check_head_signature(&pk, &head)?;
    Ok(AuditReport {
        events,
        head_seq: head.seq,
        head_hash: head.hash,
        key_id: keys::key_id(pk.keynum()),
    })
}

fn check_head_signature(pk: &minisign::PublicKey, head: &AuditHead) -> Result<()> {
    signing::verify(
        pk,
        head_message(head.seq, &head.hash).as_bytes(),
        &head.signature,
    )
    .map_err(|_| AuditError::Broken {
        seq: head.seq,
        what: "the signature on the chain head does not verify with audit.pub".into(),
    })?;
    Ok(())
}

/// Checks every row's links and hash and that the head names the last row; returns the
/// number of rows and the head (None for an empty log). The head's signature is not checked.
fn check_chain(store: &Store) -> Result<(u64, Option<AuditHead>)> {
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
            return Ok((0, None));
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
    Ok((rows.len() as u64, Some(head)))
}

/// What `audit rekey` did.
#[derive(Debug, Clone, Serialize)]
pub struct RekeySummary {
    /// The lost key's id, from the old audit.pub when it was there.
    pub previous_key_id: Option<String>,
    /// Whether the old head's signature was checked with the old audit.pub (and held).
    pub previous_head_verified: bool,
    /// Where the old audit.pub was kept.
    #[serde(serialize_with = "crate::util::path_text")]
    pub previous_public_key: std::path::PathBuf,
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
    let (_, head) = check_chain(&store)?;
    let old_pk = keys::load_public_key(Some(&pk), None).ok();
    let previous_key_id = old_pk.as_ref().map(|k| keys::key_id(k.keynum()));
    let previous_head_verified = match (&old_pk, &head) {
        (Some(k), Some(h)) => {
            check_head_signature(k, h)?;
            true
        }
        _ => false,
    };
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
        "audit-rekey",
        None,
        serde_json::json!({
            "reason": reason,
            "previous_key_id": previous_key_id,
            "previous_head_seq": head.as_ref().map(|h| h.seq),
            "previous_head_hash": head.as_ref().map(|h| h.hash.clone()),
            "previous_head_verified": previous_head_verified,
            "new_key_id": made.key_id,
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
