//! The gates around a deletion: holds, handovers that share paths, and the lease that makes
//! one deletion of a handover (or of a set of paths) run at a time.
//!
//! Two checks, for two audiences. While planning, [`related`] finds every recorded handover
//! whose paths (source, archive, manifest, signature) are, contain or are inside a path of
//! this run, so the plan names them and [`refusal`] refuses early. Then [`start_job`] decides
//! for good: inside the one IMMEDIATE transaction that records the job it reads the holds
//! again, takes the lease and re-reads the job, so a hold committed or a deletion started by
//! another process while this one planned wins over it.
//!
//! Fault points (test builds only): `shred.before_job_start` just before that transaction,
//! `shred.job_started` just after it (lease held, job recorded, nothing touched yet).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{HoldInfo, RelatedHandover, Result, ShredError};
use crate::home::Home;
use crate::ledger::lease;
use crate::ledger::state::{JobState, ScheduleState};
use crate::ledger::store::{EntryRecord, HandoverRecord, JobRecord, RootRecord, Store};
use crate::util;

use super::plan::Root;

/// A recorded path as the plan resolves roots: the parent made canonical, the name kept.
fn resolved(p: &Path) -> PathBuf {
    match (p.parent(), p.file_name()) {
        (Some(d), Some(n)) => fs::canonicalize(d)
            .map(|d| d.join(n))
            .unwrap_or_else(|_| p.to_path_buf()),
        _ => p.to_path_buf(),
    }
}

/// `label: path` of each recorded path of `h` that overlaps one of `roots`.
fn overlapping(h: &HandoverRecord, roots: &[Root]) -> Vec<String> {
    [
        (&h.source_path, "source"),
        (&h.archive_path, "archive"),
        (&h.manifest_path, "manifest"),
        (&h.signature_path, "signature"),
    ]
    .into_iter()
    .filter(|(p, _)| {
        // As recorded, with its parent resolved, and wholly resolved: a recorded source
        // moved away with a symlink left in its place still protects the moved data.
        let r = resolved(p);
        let full = fs::canonicalize(p).ok();
        roots.iter().any(|root| {
            lease::overlaps(&root.path, p)
                || lease::overlaps(&root.path, &r)
                || full
                    .as_ref()
                    .is_some_and(|f| lease::overlaps(&root.path, f))
        })
    })
    .map(|(p, label)| format!("{label}: {}", crate::error::show(p)))
    .collect()
}

/// Every recorded handover whose paths overlap the roots (and `named`, the handover a
/// `delete` names, always), with what decides whether its paths may go.
pub(super) fn related(
    home: &Home,
    store: Option<&Store>,
    roots: &[Root],
    named: Option<&HandoverRecord>,
) -> Result<Vec<RelatedHandover>> {
    let Some(store) = store else {
        return Ok(Vec::new());
    };
    let receipts: HashMap<String, crate::ledger::store::ReceiptRecord> = store
        .receipts()?
        .into_iter()
        .map(|r| (r.handover_id.clone(), r))
        .collect();
    let schedules: HashMap<String, _> = store
        .schedules()?
        .into_iter()
        .map(|s| (s.handover_id.clone(), s))
        .collect();
    let log = crate::ledger::audit::CheckedLog::load(store, home)?;
    let mut out = Vec::new();
    for h in store.handovers()? {
        let is_named = named.is_some_and(|n| n.handover_id == h.handover_id);
        let paths = overlapping(&h, roots);
        if paths.is_empty() && !is_named {
            continue;
        }
        let s = schedules.get(&h.handover_id);
        // What this run relies on (receipt, hold, schedule) must be what the audit log
        // recorded, for every handover it touches, not only the one `delete` names: a hold
        // cleared with sqlite3 must not let `shred` of its source through.
        log.check_gates(&h, receipts.get(&h.handover_id), s)?;
        let hold = s.and_then(|s| s.hold_reason.clone());
        let deleted = s
            .is_some_and(|s| s.state == ScheduleState::Done || s.state == ScheduleState::Gone)
            || store
                .deletion_job_for_handover(&h.handover_id)?
                .is_some_and(|j| j.state == JobState::Done);
        let receipt_confirmed = receipts.contains_key(&h.handover_id);
        // Withdrawn before delivery, its void checked against the audit log just above: it
        // keeps no claim on paths it shares (a test export's source is the real export's).
        let voided = h.voided_at.is_some();
        // The named handover's own receipt (or --without-receipt reason) was checked by
        // `delete`; any other must be received, already deleted, or voided.
        let clear = hold.is_none() && (is_named || receipt_confirmed || deleted || voided);
        out.push(RelatedHandover {
            handover_id: h.handover_id,
            client: h.client,
            paths,
            receipt_confirmed,
            deleted,
            hold,
            clear,
        });
    }
    Ok(out)
}

/// What refuses this run at plan time: a hold on any related handover, else one that is not
/// clear. `delete` of a handover does not need its own receipt here (checked before).
pub(super) fn refusal(related: &[RelatedHandover], named: Option<&str>) -> Option<ShredError> {
    let held: Vec<HoldInfo> = related
        .iter()
        .filter_map(|r| {
            Some(HoldInfo {
                handover_id: r.handover_id.clone(),
                client: r.client.clone(),
                reason: r.hold.clone()?,
                held_at: None,
                paths: r.paths.clone(),
            })
        })
        .collect();
    if !held.is_empty() {
        return Some(ShredError::Held(held));
    }
    let unclear: Vec<RelatedHandover> = related
        .iter()
        .filter(|r| !r.clear && Some(r.handover_id.as_str()) != named)
        .cloned()
        .collect();
    (!unclear.is_empty()).then_some(ShredError::NotClear(unclear))
}

/// Everything [`start_job`] records.
pub(super) struct Start<'a> {
    pub kind: &'static str,
    pub handover: Option<&'a HandoverRecord>,
    pub related: &'a [RelatedHandover],
    pub roots: &'a [Root],
    pub roots_key: &'a str,
    /// The unfinished job the plan resumes, as read while planning.
    pub existing: Option<&'a JobRecord>,
    /// The newest finished job of these roots (shred), as read while planning.
    pub done_before: Option<&'a str>,
    pub entries: &'a [EntryRecord],
    /// The bucket entries of the plan (delete of a handover with objects).
    pub objects: &'a [crate::ledger::store::ObjectEntryRecord],
    pub reason: Option<&'a str>,
}

/// The key of the lease a run takes: its handover's, or its roots'.
fn lease_key(s: &Start<'_>) -> String {
    match s.handover {
        Some(h) => lease::handover_key(&h.handover_id),
        None => format!("roots:{}", s.roots_key),
    }
}

/// Records the job (new or resumed) with its plan, in one IMMEDIATE transaction that first
/// re-reads the holds, takes the lease and re-reads the job. Returns the job and a guard that
/// releases the lease when the run ends (None when this process held the lease already:
/// `run-due`, which releases it itself).
pub(super) fn start_job(
    home: &Home,
    store: &mut Store,
    s: &Start<'_>,
) -> Result<(JobRecord, Option<lease::Guard>)> {
    crate::fault::point("shred.before_job_start");
    let now = util::now();
    let key = lease_key(s);
    let paths: Vec<PathBuf> = s.roots.iter().map(|r| r.path.clone()).collect();
    let job_id = s
        .existing
        .map(|j| j.job_id.clone())
        .unwrap_or_else(|| util::random_hex(16));
    let tx = store.begin()?;
    // A hold committed while this run planned wins.
    let holds = tx.holds()?;
    let held: Vec<HoldInfo> = s
        .related
        .iter()
        .filter_map(|r| {
            let h = holds.iter().find(|h| h.handover_id == r.handover_id)?;
            Some(HoldInfo {
                handover_id: r.handover_id.clone(),
                client: r.client.clone(),
                reason: h.reason.clone(),
                held_at: h.held_at.clone(),
                paths: r.paths.clone(),
            })
        })
        .collect();
    if !held.is_empty() {
        return Err(ShredError::Held(held).into());
    }
    let me = lease::owner();
    let already_ours = tx.leases()?.iter().any(|l| l.key == key && l.owner == me);
    if let Err(holder) = lease::acquire(&tx, &key, &paths, Some(&job_id), now)? {
        return Err(ShredError::Busy {
            what: match s.handover {
                Some(h) if holder.key == key => format!("handover {}", h.handover_id),
                _ => "these paths".into(),
            },
            holder: lease::describe(&holder),
            until: holder.until,
        }
        .into());
    }
    check_job_unchanged(&tx, s)?;
    let job = record_job(&tx, s, &job_id)?;
    tx.commit()?;
    let guard_now = (!already_ours).then(|| lease::Guard::new(&home.database(), &key));
    // Handovers recorded, and held, while this run planned: the transaction above ordered us
    // after them, so read them again now that the lease is ours and before anything is
    // touched. (The plan's list was made before they existed.)
    let named = s.handover.map(|h| h.handover_id.as_str());
    if let Some(e) = refusal(&related(home, Some(store), s.roots, s.handover)?, named) {
        drop(guard_now);
        return Err(e.into());
    }
    crate::fault::point("shred.job_started");
    let job = match s.existing {
        Some(_) => store.deletion_job_by_id(&job_id)?,
        None => job,
    };
    Ok((job, guard_now))
}

/// Refuses when another run finished or started a job for the same handover or roots
/// between the plan and now (its lease gone, or taken over from a dead process).
fn check_job_unchanged(tx: &crate::ledger::store::Tx<'_>, s: &Start<'_>) -> Result<()> {
    let existing = s.existing.map(|j| j.job_id.as_str());
    match s.handover {
        Some(h) => match tx.deletion_job_for_handover(&h.handover_id)? {
            Some(j) if j.state == JobState::Done => Err(ShredError::AlreadyDeleted {
                handover_id: h.handover_id.clone(),
                certificate_id: j.certificate_id.unwrap_or_default(),
            }
            .into()),
            Some(j) if Some(j.job_id.as_str()) != existing => Err(ShredError::PlanOutOfDate.into()),
            None if existing.is_some() => Err(ShredError::PlanOutOfDate.into()),
            _ => Ok(()),
        },
        None => {
            let running = tx.deletion_job(s.kind, s.roots_key, JobState::Running)?;
            let done = tx.deletion_job(s.kind, s.roots_key, JobState::Done)?;
            if running.as_ref().map(|j| j.job_id.as_str()) != existing
                || done.as_ref().map(|j| j.job_id.as_str()) != s.done_before
            {
                return Err(ShredError::PlanOutOfDate.into());
            }
            Ok(())
        }
    }
}

/// Inserts a new job with its roots and plan, or counts one more run of the existing one.
fn record_job(tx: &crate::ledger::store::Tx<'_>, s: &Start<'_>, job_id: &str) -> Result<JobRecord> {
    if let Some(j) = s.existing {
        tx.resume_job(&j.job_id, s.reason)?;
        for e in s.entries {
            tx.upsert_entry(&j.job_id, e)?;
        }
        for o in s.objects {
            tx.upsert_object_entry(&j.job_id, o)?;
        }
        return Ok(j.clone());
    }
    let j = JobRecord {
        job_id: job_id.to_string(),
        kind: s.kind.to_string(),
        handover_id: s.handover.map(|h| h.handover_id.clone()),
        roots_key: s.roots_key.to_string(),
        created_at: util::rfc3339(util::now()),
        state: JobState::Running,
        runs: 1,
        without_receipt_reason: s.reason.map(str::to_string),
        certificate_id: None,
    };
    tx.insert_job(&j)?;
    for (i, r) in s.roots.iter().enumerate() {
        tx.insert_root(
            &j.job_id,
            i as u32,
            &RootRecord {
                path: r.path.clone(),
                label: r.label.clone(),
                fs_json: serde_json::to_string(&r.fs).expect("fs info serializes"),
            },
        )?;
    }
    for e in s.entries {
        tx.upsert_entry(&j.job_id, e)?;
    }
    for o in s.objects {
        tx.upsert_object_entry(&j.job_id, o)?;
    }
    Ok(j)
}
