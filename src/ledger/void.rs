//! `handover void`: withdraw a handover that was never delivered (a test export, a wrong
//! recipient). Ledger only: it records the void and audits it, and touches no file.
//!
//! A void stands in for the receipt at deletion (`erase` accepts "voided" as the reason), so
//! it is refused once a receipt is confirmed, by the table or by the audit log (a receipt
//! row removed with sqlite3 must not let a delivered handover be voided), and once the
//! handover's deletion has started or finished.

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Result, ScheduleError};
use crate::home::Home;
use crate::ledger::audit;
use crate::ledger::event::{AuditEvent, VoidDetails};
use crate::ledger::state::{JobState, ScheduleState};
use crate::ledger::store::Store;
use crate::util;

/// What `void` recorded.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct VoidSummary {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name.
    pub name: String,
    /// When it was voided (UTC, RFC 3339).
    pub voided_at: String,
    /// Why.
    pub reason: String,
    /// The reason of a hold still in place: `delete` waits for its release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// Voids the handover `reference` names (see `Store::handover`), at `now` (else the clock).
pub fn void(
    home: &Home,
    reference: &str,
    reason: &str,
    now: Option<OffsetDateTime>,
) -> Result<VoidSummary> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ScheduleError::VoidReasonRequired.into());
    }
    let mut store = Store::open(&home.database())?;
    let h = store.handover(reference)?;
    let id = h.handover_id.clone();
    let tx = store.begin()?;
    // Everything read again inside the IMMEDIATE transaction: a confirm or a deletion that
    // committed while this waited for the lock wins.
    let (rows, _) = tx.audit_log()?;
    let mine: Vec<_> = rows
        .into_iter()
        .filter(|r| r.handover_id.as_deref() == Some(id.as_str()))
        .collect();
    let audited = audit::audited_gates(&mine);
    let confirmed_at = tx
        .receipt(&id)?
        .map(|r| r.confirmed_at)
        .or(audited.confirmed_at.clone());
    if let Some(confirmed_at) = confirmed_at {
        return Err(ScheduleError::VoidAfterReceipt {
            handover_id: id,
            confirmed_at,
        }
        .into());
    }
    let deleted = match tx.deletion_job_for_handover(&id)? {
        Some(j) if j.state == JobState::Done => Some(format!(
            "its local copies were already deleted (certificate {})",
            j.certificate_id.unwrap_or_default()
        )),
        Some(_) => Some(format!(
            "a deletion of it was started and not finished; finish it with `handover delete {id}` (its certificate records why it ran)"
        )),
        None => match tx.schedule(&id)?.map(|s| s.state) {
            Some(ScheduleState::Done) => Some("its scheduled deletion already ran".into()),
            Some(ScheduleState::Gone) => {
                Some("its scheduled deletion found nothing left to delete".into())
            }
            _ => None,
        },
    };
    if let Some(what) = deleted {
        return Err(ScheduleError::VoidAfterDeletion {
            handover_id: id,
            what,
        }
        .into());
    }
    if let Some(at) = tx.voided_at(&id)? {
        return Err(ScheduleError::AlreadyVoided {
            handover_id: id,
            voided_at: at,
            reason: h.void_reason.unwrap_or_default(),
        }
        .into());
    }
    let held = tx.schedule(&id)?.and_then(|s| s.hold_reason);
    let at = util::rfc3339(now.unwrap_or_else(util::now));
    tx.set_void(&id, &at, reason)?;
    audit::append(
        &tx,
        home,
        Some(&id),
        &AuditEvent::Void(VoidDetails {
            reason: reason.to_string(),
            voided_at: at.clone(),
        }),
    )?;
    tx.commit()?;
    Ok(VoidSummary {
        handover_id: id,
        client: h.client,
        name: h.name,
        voided_at: at,
        reason: reason.to_string(),
        held,
    })
}
