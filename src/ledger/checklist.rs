//! The whole offboarding checklist (`attest`, the `checklist` of `status`) and the overdue
//! work (`status --overdue`, the summary `run-due` prints).
//!
//! An offboarding is more than its data. The data steps fill themselves from what the tool
//! recorded (export, confirmed receipt, deletion certificate); the others (notice and end
//! date, knowledge transfer, final billing, access revocation, feedback) happen outside the
//! tool and are attested by the operator, with who and when, audited like every change.
//!
//! Reads and writes only the state database; it never touches the client's files. Times are
//! compared at the `now` the caller passes (the clock otherwise), so tests can age things.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::{Result, StoreError};
use crate::home::Home;
use crate::ledger::clients::{ClientProfile, DEFAULT_RECEIPT_DAYS};
use crate::ledger::event::{AttestDetails, AuditEvent};
use crate::ledger::schedule::Step;
use crate::ledger::state::{JobState, ScheduleState};
use crate::ledger::store::{AttestationRecord, HandoverRecord, LeaseRecord, ReceiptRecord, Store};
use crate::{
    ledger::{audit, lease},
    util,
};

/// A deletion that has held its lease this long is stuck, not slow: a whole client tree is
/// overwritten and read back in hours, not half a day.
const STUCK_AFTER: Duration = Duration::hours(12);

/// A step of the offboarding that happens outside the tool and is attested by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestStep {
    /// The client was notified and the end date of the contract confirmed.
    NotificationAndEndDate,
    /// Knowledge (documentation, passwords, runbooks) and data were transferred.
    KnowledgeAndDataTransfer,
    /// The final bill is settled.
    FinalBilling,
    /// The provider's access (and third parties') to the client's systems was revoked.
    AccessRevocation,
    /// The client's feedback was collected.
    Feedback,
}

impl AttestStep {
    /// Every step, in the order of an offboarding.
    pub const ALL: [AttestStep; 5] = [
        AttestStep::NotificationAndEndDate,
        AttestStep::KnowledgeAndDataTransfer,
        AttestStep::FinalBilling,
        AttestStep::AccessRevocation,
        AttestStep::Feedback,
    ];

    /// The snake_case name stored and printed under `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttestStep::NotificationAndEndDate => "notification_and_end_date",
            AttestStep::KnowledgeAndDataTransfer => "knowledge_and_data_transfer",
            AttestStep::FinalBilling => "final_billing",
            AttestStep::AccessRevocation => "access_revocation",
            AttestStep::Feedback => "feedback",
        }
    }

    /// The step in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            AttestStep::NotificationAndEndDate => "notification and end date",
            AttestStep::KnowledgeAndDataTransfer => "knowledge and data transfer",
            AttestStep::FinalBilling => "final billing settled",
            AttestStep::AccessRevocation => "access revoked",
            AttestStep::Feedback => "feedback collected",
        }
    }
}

/// What `attest` recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttestSummary {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The step attested.
    pub step: AttestStep,
    /// Who attested it.
    pub operator: String,
    /// When (UTC, RFC 3339).
    pub attested_at: String,
    /// What the operator wrote, if anything.
    pub note: Option<String>,
}

/// Whether a handover's local copies were deleted (certified) or found gone.
fn deleted(store: &Store, handover_id: &str) -> Result<bool, StoreError> {
    let job_done = store
        .deletion_job_for_handover(handover_id)?
        .is_some_and(|j| j.state == JobState::Done);
    let sched_done = store
        .schedule(handover_id)?
        .is_some_and(|s| s.state != ScheduleState::Scheduled);
    Ok(job_done || sched_done)
}

/// Records that `step` of a handover's offboarding was done, with who and when, audited.
pub fn attest(
    home: &Home,
    handover: &str,
    step: AttestStep,
    note: Option<&str>,
    operator: Option<&str>,
    now: Option<OffsetDateTime>,
) -> Result<AttestSummary> {
    let now = util::rfc3339(now.unwrap_or_else(util::now));
    let mut store = Store::open(&home.database())?;
    // Named as every command names a handover (its name, its client, an id prefix).
    let h = store.handover(handover)?;
    // Who attests: as given, else the client profile's operator, else the login name.
    let profile_operator =
        audit::audited_client(&store, &h.client)?.and_then(|p| p.settings.operator);
    let operator = util::operator_name(operator.or(profile_operator.as_deref()));
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from);
    let tx = store.begin()?;
    tx.insert_attestation(&AttestationRecord {
        handover_id: h.handover_id.clone(),
        step: step.as_str().into(),
        attested_at: now.clone(),
        operator: operator.clone(),
        note: note.clone(),
    })?;
    let event = AuditEvent::Attest(AttestDetails {
        step: step.as_str().into(),
        operator: operator.clone(),
        note: note.clone(),
        attested_at: now.clone(),
    });
    audit::append(&tx, home, Some(&h.handover_id), &event)?;
    tx.commit()?;
    Ok(AttestSummary {
        handover_id: h.handover_id,
        client: h.client,
        step,
        operator,
        attested_at: now,
        note,
    })
}

/// How a checklist step is known: from what the tool recorded, or from the operator's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    /// Filled from the tool's own records (export, receipt, deletion certificate).
    Recorded,
    /// Attested by the operator (`handover attest`).
    Attested,
}

/// One step of the whole offboarding checklist.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChecklistStep {
    /// The step's stable name: `notification_and_end_date`, `data_exported`,
    /// `data_receipt_confirmed`, `knowledge_and_data_transfer`, `final_billing`,
    /// `access_revocation`, `data_deleted`, `feedback`.
    pub step: String,
    /// The step in words, for people.
    pub label: String,
    /// Whether it is done.
    pub done: bool,
    /// Recorded by the tool, or attested by the operator.
    pub source: StepSource,
    /// When it was done or attested (UTC, RFC 3339).
    pub at: Option<String>,
    /// Who attested it (attested steps only).
    pub by: Option<String>,
    /// The operator's note, or what the record says.
    pub detail: String,
}

fn recorded(step: &str, label: &str, s: &Step) -> ChecklistStep {
    ChecklistStep {
        step: step.into(),
        label: label.into(),
        done: s.done,
        source: StepSource::Recorded,
        at: if s.done { s.at.clone() } else { None },
        by: None,
        detail: s.detail.clone(),
    }
}

fn attested(step: AttestStep, all: &[AttestationRecord], handover: &str) -> ChecklistStep {
    let last = all.iter().rev().find(|a| a.step == step.as_str());
    ChecklistStep {
        step: step.as_str().into(),
        label: step.label().into(),
        done: last.is_some(),
        source: StepSource::Attested,
        at: last.map(|a| a.attested_at.clone()),
        by: last.map(|a| a.operator.clone()),
        detail: match last {
            Some(a) => a.note.clone().unwrap_or_else(|| "attested".into()),
            None => format!(
                "not attested (handover attest {handover} {})",
                step.as_str().replace('_', "-")
            ),
        },
    }
}

/// The whole checklist in the order of an offboarding: the data steps from the records
/// (`exported`, `receipt`, `deleted`, as `status` computed them), the others attested.
pub(crate) fn steps(
    handover: &str,
    attestations: &[AttestationRecord],
    exported: &Step,
    receipt: &Step,
    deleted: &Step,
) -> Vec<ChecklistStep> {
    vec![
        attested(AttestStep::NotificationAndEndDate, attestations, handover),
        recorded("data_exported", "data exported", exported),
        recorded("data_receipt_confirmed", "receipt confirmed", receipt),
        attested(AttestStep::KnowledgeAndDataTransfer, attestations, handover),
        attested(AttestStep::FinalBilling, attestations, handover),
        attested(AttestStep::AccessRevocation, attestations, handover),
        recorded("data_deleted", "local copies deleted", deleted),
        attested(AttestStep::Feedback, attestations, handover),
    ]
}

/// What kind of overdue work an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverdueKind {
    /// The client's receipt has been pending longer than the client's threshold.
    ReceiptPending,
    /// The deletion is due but waits: held, or no receipt.
    DeletionWaiting,
    /// The last `run-due` attempt at the deletion failed.
    DeletionFailed,
    /// A deletion started and was interrupted, or has run far too long.
    DeletionStuck,
    /// The receipt is confirmed but access revocation is not attested.
    AccessNotRevoked,
    /// The contract ended and nothing was exported.
    ContractEndedNoExport,
}

impl OverdueKind {
    /// The snake_case name, as `--json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            OverdueKind::ReceiptPending => "receipt_pending",
            OverdueKind::DeletionWaiting => "deletion_waiting",
            OverdueKind::DeletionFailed => "deletion_failed",
            OverdueKind::DeletionStuck => "deletion_stuck",
            OverdueKind::AccessNotRevoked => "access_not_revoked",
            OverdueKind::ContractEndedNoExport => "contract_ended_no_export",
        }
    }
}

/// One piece of overdue work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverdueItem {
    /// What is overdue.
    pub kind: OverdueKind,
    /// The client's name.
    pub client: String,
    /// The handover's id (32 hex characters); None for a contract with no export.
    pub handover_id: Option<String>,
    /// The handover's name.
    pub name: Option<String>,
    /// Since when it waits (UTC, RFC 3339).
    pub since: Option<String>,
    /// What is overdue, on one line, for people.
    pub detail: String,
    /// What to do about it.
    pub next_step: String,
}

/// What `status --overdue` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverdueReport {
    /// The time things were compared with (UTC, RFC 3339).
    pub now: String,
    /// Every overdue item, handover by handover.
    pub overdue: Vec<OverdueItem>,
}

impl OverdueReport {
    /// Exit 4 (work left waiting) when anything is overdue.
    pub fn class(&self) -> Option<crate::error::ExitClass> {
        (!self.overdue.is_empty()).then_some(crate::error::ExitClass::Waiting)
    }
}

/// How long a client's receipt may be pending before it is overdue: its profile's
/// `receipt_days`, or the default for a client without a profile.
fn receipt_threshold(profiles: &[ClientProfile], client: &str) -> Duration {
    let days = profiles
        .iter()
        .find(|p| p.name == client)
        .map_or(DEFAULT_RECEIPT_DAYS, |p| p.settings.receipt_days);
    Duration::days(i64::from(days))
}

/// Profiles whose contract ended with no handover exported for the client since (a voided
/// one does not count: it was never delivered).
fn contracts_ended_without_export(
    store: &Store,
    profiles: &[ClientProfile],
    client: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<OverdueItem>> {
    let handovers = store.handovers()?;
    let mut out = Vec::new();
    for p in profiles {
        if client.is_some_and(|c| c != p.name) {
            continue;
        }
        let Some(end) = p.settings.contract_end.as_deref() else {
            continue;
        };
        let Some(ended) = parse_time(end) else {
            continue;
        };
        let exported = handovers
            .iter()
            .any(|h| h.client == p.name && h.voided_at.is_none());
        if ended <= now && !exported {
            out.push(OverdueItem {
                kind: OverdueKind::ContractEndedNoExport,
                client: p.name.clone(),
                handover_id: None,
                name: None,
                since: Some(end.to_string()),
                detail: format!("the contract ended at {end} and nothing was exported"),
                next_step: format!("handover export --client {}", p.name),
            });
        }
    }
    Ok(out)
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    util::parse_at(s).ok()
}

/// The first line of a message: an overdue item is one line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Everything overdue at `now` (the clock otherwise), for every client or one.
pub fn overdue(
    home: &Home,
    client: Option<&str>,
    now: Option<OffsetDateTime>,
) -> Result<OverdueReport> {
    let now = now.unwrap_or_else(util::now);
    let store = Store::open(&home.database())?;
    let leases = store.leases()?;
    let profiles = audit::audited_clients(&store)?;
    let mut out = contracts_ended_without_export(&store, &profiles, client, now)?;
    for h in store.handovers()? {
        // A voided handover was never delivered: nothing about it is overdue.
        if client.is_some_and(|c| c != h.client) || h.voided_at.is_some() {
            continue;
        }
        let one = One {
            store: &store,
            h: &h,
            profiles: &profiles,
            now,
            receipt: store.receipt(&h.handover_id)?,
        };
        one.receipt_pending(&mut out)?;
        one.deletion_waiting_or_failed(&mut out)?;
        one.deletion_stuck(&leases, &mut out)?;
        one.access_not_revoked(&mut out)?;
    }
    Ok(OverdueReport {
        now: util::rfc3339(now),
        overdue: out,
    })
}

/// One handover, as `overdue` looks at it.
struct One<'a> {
    store: &'a Store,
    h: &'a HandoverRecord,
    profiles: &'a [ClientProfile],
    now: OffsetDateTime,
    receipt: Option<ReceiptRecord>,
}

impl One<'_> {
    fn item(
        &self,
        kind: OverdueKind,
        since: Option<String>,
        detail: String,
        next_step: String,
    ) -> OverdueItem {
        OverdueItem {
            kind,
            client: self.h.client.clone(),
            handover_id: Some(self.h.handover_id.clone()),
            name: Some(self.h.name.clone()),
            since,
            detail,
            next_step,
        }
    }

    /// A receipt pending longer than the client's threshold (not once the copies are gone).
    fn receipt_pending(&self, out: &mut Vec<OverdueItem>) -> Result<()> {
        let h = self.h;
        let limit = receipt_threshold(self.profiles, &h.client);
        if self.receipt.is_none()
            && !deleted(self.store, &h.handover_id)?
            && let Some(created) = parse_time(&h.created_at)
            && self.now - created > limit
        {
            out.push(self.item(
                OverdueKind::ReceiptPending,
                Some(h.created_at.clone()),
                format!(
                    "receipt pending for {} days (threshold {} days)",
                    (self.now - created).whole_days(),
                    limit.whole_days()
                ),
                format!(
                    "ask the client to verify and send the receipt, then `handover confirm`; or `handover hold {} --reason ...`",
                    h.handover_id
                ),
            ));
        }
        Ok(())
    }

    /// A deletion due but held or without a receipt, or whose last attempt failed.
    fn deletion_waiting_or_failed(&self, out: &mut Vec<OverdueItem>) -> Result<()> {
        let id = &self.h.handover_id;
        let Some(s) = self
            .store
            .schedule(id)?
            .filter(|s| s.state == ScheduleState::Scheduled)
        else {
            return Ok(());
        };
        let Some(due) = s.due_at.as_deref().and_then(parse_time) else {
            return Ok(());
        };
        if due > self.now {
            return Ok(());
        }
        if let Some(reason) = &s.hold_reason {
            out.push(self.item(
                OverdueKind::DeletionWaiting,
                s.due_at.clone(),
                format!(
                    "deletion due since {} but on hold: {}",
                    util::rfc3339(due),
                    first_line(reason)
                ),
                format!("`handover release {id}` when the hold ends"),
            ));
        } else if self.receipt.is_none() {
            out.push(self.item(
                OverdueKind::DeletionWaiting,
                s.due_at.clone(),
                format!(
                    "deletion due since {} but the client's receipt is not confirmed",
                    util::rfc3339(due)
                ),
                format!(
                    "`handover confirm` the receipt, or `handover delete {id} --without-receipt --reason ...`"
                ),
            ));
        }
        if let Some(e) = &s.last_error {
            out.push(self.item(
                OverdueKind::DeletionFailed,
                s.due_at.clone(),
                format!("the last deletion attempt failed: {}", first_line(e)),
                "fix the cause (`handover jobs` shows the whole error), then `handover run-due`"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A deletion started and interrupted (its lease's process is gone), or holding its lease
    /// far too long.
    fn deletion_stuck(&self, leases: &[LeaseRecord], out: &mut Vec<OverdueItem>) -> Result<()> {
        let id = &self.h.handover_id;
        let Some(j) = self
            .store
            .deletion_job_for_handover(id)?
            .filter(|j| j.state == JobState::Running)
        else {
            return Ok(());
        };
        let key = lease::handover_key(id);
        let live = leases
            .iter()
            .find(|l| l.key == key && !lease::is_stale(&l.owner, &l.until, self.now));
        let stuck = match live {
            None => Some(format!(
                "deletion started at {} and was interrupted",
                j.created_at
            )),
            Some(l) => parse_time(&l.taken_at)
                .filter(|t| self.now - *t > STUCK_AFTER)
                .map(|_| {
                    format!(
                        "deletion running since {}: {}",
                        l.taken_at,
                        lease::describe(l)
                    )
                }),
        };
        if let Some(detail) = stuck {
            out.push(self.item(
                OverdueKind::DeletionStuck,
                Some(j.created_at.clone()),
                detail,
                format!("run `handover delete {id}` (or `handover run-due`) again to finish it"),
            ));
        }
        Ok(())
    }

    /// A confirmed receipt without an attested access revocation.
    fn access_not_revoked(&self, out: &mut Vec<OverdueItem>) -> Result<()> {
        let Some(r) = &self.receipt else {
            return Ok(());
        };
        let revoked = self
            .store
            .attestations(&self.h.handover_id)?
            .iter()
            .any(|a| a.step == AttestStep::AccessRevocation.as_str());
        if !revoked {
            out.push(self.item(
                OverdueKind::AccessNotRevoked,
                Some(r.confirmed_at.clone()),
                "the client's receipt is confirmed, but access revocation is not attested".into(),
                format!(
                    "revoke the provider's and third parties' access, then `handover attest {} access-revocation --note ...`",
                    self.h.client
                ),
            ));
        }
        Ok(())
    }
}
