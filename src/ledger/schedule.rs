//! The post-contract deletion schedule: `schedule`, `hold`/`release`, `jobs`, `run-due`,
//! `timer` and the per-handover `status` checklist.
//!
//! Nothing runs early: times are stored in UTC and compared as instants. Nothing runs twice:
//! `run-due` claims a job with a lease taken inside an IMMEDIATE transaction, re-reading the
//! hold and receipt there, so a hold placed while a run waits for the lock wins. A run killed
//! half way leaves a lease whose process is gone; the next run takes it over and the deletion
//! engine, which is resumable, finishes the job.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::error::{Result, ScheduleError};
use crate::home::Home;
use crate::ledger::event::{AuditEvent, HoldDetails, RunDueDetails, ScheduleDetails};
use crate::ledger::state::{JobState, ScheduleState};
use crate::ledger::store::{HandoverRecord, LeaseRecord, ScheduleRecord, Store, Tx};
use crate::{
    ledger::{audit, lease},
    util,
};

/// How far the clock may be behind the last recorded event before `run-due` refuses: more
/// than NTP drift, less than any real deletion delay.
const CLOCK_SLACK: Duration = Duration::minutes(5);

pub use crate::util::parse_at;

/// When a deletion should run.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// At this instant (`parse_at` reads `--at` into one).
    At(OffsetDateTime),
    /// This long after now (the `now` given to `schedule`, else the clock).
    After(Duration),
}

/// What `schedule` recorded.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScheduleSummary {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// When the deletion is due, RFC 3339.
    pub due_at: String,
    /// The time before, if this moved an existing schedule.
    pub previous_due_at: Option<String>,
}

/// Schedules (or reschedules) deletion of a handover's local copies.
pub fn schedule(
    home: &Home,
    id: &str,
    when: When,
    allow_past: bool,
    now: Option<OffsetDateTime>,
) -> Result<ScheduleSummary> {
    let now = now.unwrap_or_else(util::now);
    let due = match when {
        When::At(t) => t,
        When::After(d) => now + d,
    };
    if due < now && !allow_past {
        return Err(ScheduleError::InPast {
            due: util::rfc3339(due),
        }
        .into());
    }
    let mut store = Store::open(&home.database())?;
    let h = store.handover(id)?;
    let tx = store.begin()?;
    let previous_due_at = schedule_in(&tx, home, &h.handover_id, due, now, allow_past)?;
    let due_s = util::rfc3339(due);
    tx.commit()?;
    Ok(ScheduleSummary {
        handover_id: h.handover_id,
        client: h.client,
        due_at: due_s,
        previous_due_at,
    })
}

/// Records a schedule in `tx` with its audit event, for `schedule` and for `export
/// --delete-after`, which schedules in the transaction that records the handover so that no
/// export is ever left without the deletion it asked for. Returns the due time it replaced.
pub(crate) fn schedule_in(
    tx: &Tx<'_>,
    home: &Home,
    handover_id: &str,
    due: OffsetDateTime,
    now: OffsetDateTime,
    allow_past: bool,
) -> Result<Option<String>> {
    let previous = tx.schedule(handover_id)?;
    if let Some(p) = &previous
        && p.state != ScheduleState::Scheduled
    {
        return Err(ScheduleError::Finished {
            handover_id: handover_id.to_string(),
            state: p.state.as_str().to_string(),
        }
        .into());
    }
    let due_s = util::rfc3339(due);
    tx.set_schedule(handover_id, &due_s, &util::rfc3339(now))?;
    let previous_due_at = previous.and_then(|p| p.due_at);
    audit::append(
        tx,
        home,
        Some(handover_id),
        &AuditEvent::Schedule(ScheduleDetails {
            due_at: Some(due_s),
            previous_due_at: previous_due_at.clone(),
            allow_past,
        }),
    )?;
    Ok(previous_due_at)
}

/// What `hold`/`release` recorded.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HoldSummary {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// True when a hold was placed, false when it was released.
    pub held: bool,
    /// Why the hold was placed; None when released.
    pub reason: Option<String>,
}

/// Places a hold (`reason` Some) or releases it (None).
pub fn hold(home: &Home, id: &str, reason: Option<&str>) -> Result<HoldSummary> {
    let mut store = Store::open(&home.database())?;
    let h = store.handover(id)?;
    let tx = store.begin()?;
    // Read inside the transaction: a deletion that finished while we waited for the lock
    // counts. Releasing is always allowed.
    if reason.is_some() {
        let done = tx
            .deletion_job_for_handover(&h.handover_id)?
            .filter(|j| j.state == JobState::Done);
        let sched = tx.schedule(&h.handover_id)?;
        let what = match (done, sched.as_ref().map(|s| s.state)) {
            (Some(j), _) => Some(format!(
                "certificate {}",
                j.certificate_id.unwrap_or_default()
            )),
            (None, Some(ScheduleState::Done)) => Some(format!(
                "certificate {}",
                sched.and_then(|s| s.certificate_id).unwrap_or_default()
            )),
            (None, Some(ScheduleState::Gone)) => {
                Some("nothing was left to delete when it was due".into())
            }
            _ => None,
        };
        if let Some(what) = what {
            return Err(ScheduleError::HoldAfterDeletion {
                handover_id: h.handover_id,
                what,
            }
            .into());
        }
    }
    tx.set_hold(&h.handover_id, reason, &util::rfc3339(util::now()))?;
    let event = match reason {
        Some(r) => AuditEvent::Hold(HoldDetails {
            reason: Some(r.to_string()),
        }),
        None => AuditEvent::Release,
    };
    audit::append(&tx, home, Some(&h.handover_id), &event)?;
    tx.commit()?;
    Ok(HoldSummary {
        handover_id: h.handover_id,
        held: reason.is_some(),
        reason: reason.map(str::to_string),
    })
}

/// One deletion job and why it waits.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobView {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// When the deletion is due, RFC 3339; None when no date is set (a hold can come first).
    pub due_at: Option<String>,
    /// `not_scheduled`, `not_due`, `due`, `held`, `no_receipt`, `running`, `done`, `gone`.
    pub status: String,
    /// Why it waits, or what happened, for people.
    pub reason: String,
    /// The deletion certificate's id, once `run-due` recorded the job done.
    pub certificate_id: Option<String>,
    /// Why the last `run-due` attempt failed; cleared once the job finishes.
    pub last_error: Option<String>,
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    parse_at(s).ok()
}

/// The live lease on a handover's deletion, if a process runs it now.
fn live_lease(
    leases: &[LeaseRecord],
    handover_id: &str,
    now: OffsetDateTime,
) -> Option<LeaseRecord> {
    let key = lease::handover_key(handover_id);
    leases
        .iter()
        .find(|l| l.key == key && !lease::is_stale(&l.owner, &l.until, now))
        .cloned()
}

fn view(
    h: &HandoverRecord,
    s: &ScheduleRecord,
    received: bool,
    running: Option<&LeaseRecord>,
    now: OffsetDateTime,
) -> JobView {
    let (status, reason) = match s.state {
        // Withdrawn: no receipt will come, and run-due leaves it; `handover delete` deletes
        // its files without one.
        ScheduleState::Scheduled if h.voided_at.is_some() => (
            "voided",
            format!(
                "voided: {}; delete its files with `handover delete`",
                h.void_reason.clone().unwrap_or_default()
            ),
        ),
        ScheduleState::Done => (
            "done",
            format!("deleted at {}", s.finished_at.clone().unwrap_or_default()),
        ),
        ScheduleState::Gone => ("gone", "nothing was left to delete".to_string()),
        _ => match s.due_at.as_deref().and_then(parse_time) {
            None => ("not_scheduled", "no deletion date set".to_string()),
            Some(due) if due > now => ("not_due", format!("due at {}", util::rfc3339(due))),
            Some(_) if s.hold_reason.is_some() => (
                "held",
                format!("on hold: {}", s.hold_reason.clone().unwrap_or_default()),
            ),
            Some(_) if !received => (
                "no_receipt",
                "due, but the client's receipt is not confirmed (handover confirm)".to_string(),
            ),
            Some(_) if running.is_some() => (
                "running",
                format!(
                    "running: {}",
                    running.map(lease::describe).unwrap_or_default()
                ),
            ),
            Some(_) => ("due", "due now".to_string()),
        },
    };
    JobView {
        handover_id: h.handover_id.clone(),
        client: h.client.clone(),
        due_at: s.due_at.clone(),
        status: status.into(),
        reason,
        certificate_id: s.certificate_id.clone(),
        last_error: s.last_error.clone(),
    }
}

/// Every deletion job with its status at `now`.
pub fn jobs(home: &Home, now: Option<OffsetDateTime>) -> Result<Vec<JobView>> {
    let now = now.unwrap_or_else(util::now);
    // A home without a database has no jobs: say so without creating one.
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&home.database())?;
    let leases = store.leases()?;
    let mut out = Vec::new();
    for s in store.schedules()? {
        let h = store.handover(&s.handover_id)?;
        let received = store.receipt(&s.handover_id)?.is_some();
        let running = live_lease(&leases, &s.handover_id, now);
        out.push(view(&h, &s, received, running.as_ref(), now));
    }
    Ok(out)
}

/// What one deletion run produced, as the deletion engine reports it.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionOutcome {
    pub certificate_id: String,
    /// The method summary for people ("Clear by overwrite with read-back", "logical delete", ...).
    pub method: String,
}

/// One job's fate in a `run-due`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunItem {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// `deleted`, `gone`, `would_run`, `held`, `no_receipt`, `running_elsewhere`, `failed`.
    pub result: String,
    /// What happened, for people: the method, why it waits, or the error.
    pub detail: String,
    /// The id of its deletion certificate, when it was deleted.
    pub certificate_id: Option<String>,
}

/// What `run-due` did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunDueReport {
    /// The time the run compared due dates with, RFC 3339.
    pub now: String,
    /// True when nothing was deleted or recorded (`--dry-run`).
    pub dry_run: bool,
    /// Jobs deleted by this run.
    pub deleted: u64,
    /// Due jobs that wait: held, no confirmed receipt, or paths shared with a handover not clear.
    pub waiting: u64,
    /// Jobs whose deletion failed; they stay scheduled for the next run.
    pub failed: u64,
    /// The highest exit class among failed jobs: 3 when a safety rule refused, else 1.
    pub failed_refused: bool,
    /// Every due job the run looked at, and what became of it.
    pub jobs: Vec<RunItem>,
    /// Everything overdue after the run (`status --overdue`), which it also prints on stderr.
    #[serde(default)]
    pub overdue: Vec<crate::ledger::checklist::OverdueItem>,
    /// True when Ctrl-C or SIGTERM stopped the run: the job in progress stopped at a file
    /// boundary and resumes next run, and no further job was started.
    #[serde(default)]
    pub interrupted: bool,
}

/// Runs every due job whose receipt is confirmed and which has no hold, through `delete`.
/// `delete` is the deletion engine with `--yes` implied; its error decides the job's failure.
pub fn run_due(
    home: &Home,
    dry_run: bool,
    now: Option<OffsetDateTime>,
    delete: &dyn Fn(&HandoverRecord) -> Result<DeletionOutcome>,
) -> Result<RunDueReport> {
    let now = now.unwrap_or_else(util::now);
    let mut store = Store::open(&home.database())?;
    check_clock(&mut store, now)?;
    let mut report = RunDueReport {
        now: util::rfc3339(now),
        dry_run,
        deleted: 0,
        waiting: 0,
        failed: 0,
        failed_refused: false,
        jobs: Vec::new(),
        overdue: Vec::new(),
        interrupted: false,
    };
    for s in store.schedules()? {
        let due = s.due_at.as_deref().and_then(parse_time);
        if s.state != ScheduleState::Scheduled || due.is_none_or(|d| d > now) {
            continue;
        }
        let h = store.handover(&s.handover_id)?;
        // A voided handover waits for no receipt: run-due leaves it (it would wait forever
        // and exit 4 on every run); `handover delete` deletes its files.
        if h.voided_at.is_some() {
            continue;
        }
        let mut item = RunItem {
            handover_id: h.handover_id.clone(),
            client: h.client.clone(),
            result: String::new(),
            detail: String::new(),
            certificate_id: None,
        };
        if !claim(&mut store, &h, dry_run, now, &mut item)? {
            match item.result.as_str() {
                "" => continue,
                "held" | "no_receipt" => report.waiting += 1,
                _ => {}
            }
            report.jobs.push(item);
            continue;
        }
        let outcome = run_claimed(&store, &h, delete)?;
        record_outcome(&mut store, home, &h, outcome, &mut item, &mut report)?;
        report.jobs.push(item);
        if report.interrupted {
            break;
        }
    }
    drop(store);
    // What is overdue once the run is over. A run that did its work is not failed by its
    // report: the summary is left out when it cannot be read.
    if let Ok(o) = crate::ledger::checklist::overdue(home, None, Some(now)) {
        report.overdue = o.overdue;
    }
    Ok(report)
}

/// Refuses to run when the clock is well behind the last recorded event: a clock set back
/// would make jobs look due, or not due, at the wrong time.
fn check_clock(store: &mut Store, now: OffsetDateTime) -> Result<()> {
    let tx = store.begin()?;
    if let Some(last) = tx.last_event_at()?.as_deref().and_then(parse_time)
        && now + CLOCK_SLACK < last
    {
        return Err(ScheduleError::ClockBehind {
            now: util::rfc3339(now),
            last: util::rfc3339(last),
        }
        .into());
    }
    Ok(())
}

/// The four paths a handover recorded (source, archive, manifest, signature).
fn recorded_paths(h: &HandoverRecord) -> Vec<std::path::PathBuf> {
    [
        &h.source_path,
        &h.archive_path,
        &h.manifest_path,
        &h.signature_path,
    ]
    .into_iter()
    .cloned()
    .collect()
}

/// Claims a due job with its lease, inside one IMMEDIATE transaction: the hold, the receipt
/// and the lease are read again here, after any other process's write has committed. False
/// when it does not run now; `item` then says why (empty: it is no longer scheduled).
fn claim(
    store: &mut Store,
    h: &HandoverRecord,
    dry_run: bool,
    now: OffsetDateTime,
    item: &mut RunItem,
) -> Result<bool> {
    let tx = store.begin()?;
    let cur = tx.schedule(&h.handover_id)?;
    let received = store_has_receipt(&tx, &h.handover_id)?;
    let (result, detail) = match cur {
        None => return Ok(false),
        Some(c) if c.state != ScheduleState::Scheduled => return Ok(false),
        Some(c) if c.hold_reason.is_some() => (
            "held",
            format!("on hold: {}", c.hold_reason.unwrap_or_default()),
        ),
        Some(_) if !received => (
            "no_receipt",
            "the client's receipt is not confirmed".to_string(),
        ),
        Some(_) if dry_run => ("would_run", "due; would be deleted now".to_string()),
        // The same lease `delete` takes: whichever of the two comes first runs.
        Some(_) => {
            let key = lease::handover_key(&h.handover_id);
            match lease::acquire(&tx, &key, &recorded_paths(h), None, now)? {
                Err(holder) => (
                    "running_elsewhere",
                    format!("running: {}", lease::describe(&holder)),
                ),
                Ok(_) => {
                    tx.commit()?;
                    return Ok(true);
                }
            }
        }
    };
    item.result = result.into();
    item.detail = detail;
    Ok(false)
}

/// Runs a claimed job: nothing when a certified deletion already did it or every recorded
/// path is gone (Ok(None)), else the deletion engine.
fn run_claimed(
    store: &Store,
    h: &HandoverRecord,
    delete: &dyn Fn(&HandoverRecord) -> Result<DeletionOutcome>,
) -> Result<Result<Option<DeletionOutcome>>> {
    // Deleted by hand (`handover delete`) before the job came due: the job is done, with
    // that certificate, as `status` shows it; not "gone".
    // Only a deletion the audit log certified for this very handover counts: a `done`
    // job row inserted with SQL (pointing at another handover's certificate) does not.
    let certified = match store
        .deletion_job_for_handover(&h.handover_id)?
        .filter(|j| j.state == JobState::Done)
    {
        Some(j)
            if audit::certified_deletion(store, &h.handover_id, j.certificate_id.as_deref())? =>
        {
            Some(j)
        }
        _ => None,
    };
    let all_gone = recorded_paths(h)
        .iter()
        .all(|p| p.symlink_metadata().is_err());
    Ok(match certified {
        Some(j) => Ok(Some(DeletionOutcome {
            certificate_id: j.certificate_id.unwrap_or_default(),
            method: "deleted earlier by `handover delete`".into(),
        })),
        None if all_gone => Ok(None),
        None => delete(h).map(Some),
    })
}

/// Releases the job's lease and records what the run did: in the schedule, in the audit log
/// and in the report.
fn record_outcome(
    store: &mut Store,
    home: &Home,
    h: &HandoverRecord,
    outcome: Result<Option<DeletionOutcome>>,
    item: &mut RunItem,
    report: &mut RunDueReport,
) -> Result<()> {
    // Audit events are kept forever and cannot be rewritten: an error's lines that name a
    // path under the client's data stay out of them (`schedules.last_error`, cleared once
    // the job is done, keeps the whole message for the operator).
    let source = crate::error::show(&h.source_path);
    let audit_safe = |m: &str| crate::util::redact_lines(m, std::slice::from_ref(&source));
    let lease_key = lease::handover_key(&h.handover_id);
    let tx = store.begin()?;
    tx.drop_lease(&lease_key, Some(lease::owner()))?;
    lease::release_lock(&lease_key);
    let at = util::rfc3339(util::now());
    let id = Some(h.handover_id.as_str());
    match outcome {
        Ok(Some(o)) => {
            tx.finish_schedule(
                &h.handover_id,
                ScheduleState::Done,
                Some(&at),
                Some(&o.certificate_id),
                None,
            )?;
            let event = AuditEvent::RunDue(RunDueDetails::Deleted {
                certificate_id: o.certificate_id.clone(),
                method: o.method.clone(),
            });
            audit::append(&tx, home, id, &event)?;
            item.result = "deleted".into();
            item.detail = o.method;
            item.certificate_id = Some(o.certificate_id);
            report.deleted += 1;
        }
        Ok(None) => {
            tx.finish_schedule(&h.handover_id, ScheduleState::Gone, Some(&at), None, None)?;
            let event = AuditEvent::RunDue(RunDueDetails::Gone {
                detail: "every recorded path was already gone".into(),
            });
            audit::append(&tx, home, id, &event)?;
            item.result = "gone".into();
            item.detail =
                "every recorded path was already gone; recorded, nothing to delete".into();
        }
        // A hold on a handover sharing its paths, placed after the claim, or another
        // process deleting overlapping paths: the job waits, it did not fail.
        Err(e)
            if matches!(
                e.kind(),
                "handover_held" | "shared_path_not_clear" | "deletion_running"
            ) =>
        {
            let msg = e.to_string();
            let event = AuditEvent::RunDue(RunDueDetails::Waiting {
                error_kind: e.kind().to_string(),
                error: audit_safe(&msg),
            });
            audit::append(&tx, home, id, &event)?;
            item.result = if e.kind() == "deletion_running" {
                "running_elsewhere".into()
            } else {
                report.waiting += 1;
                "held".into()
            };
            item.detail = msg;
        }
        Err(e) => {
            let msg = e.to_string();
            tx.finish_schedule(
                &h.handover_id,
                ScheduleState::Scheduled,
                None,
                None,
                Some(&msg),
            )?;
            let event = AuditEvent::RunDue(RunDueDetails::Failed {
                error_kind: e.kind().to_string(),
                error: audit_safe(&msg),
            });
            audit::append(&tx, home, id, &event)?;
            item.result = "failed".into();
            item.detail = msg;
            report.failed += 1;
            if e.class() == crate::error::ExitClass::Refused {
                report.failed_refused = true;
            }
            if e.class() == crate::error::ExitClass::Interrupted {
                report.interrupted = true;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

impl RunDueReport {
    /// How the run should exit: 130 when interrupted, then failures (3 if a safety rule
    /// refused, else 1), then 4 when due jobs wait; None when everything due was done.
    pub fn class(&self) -> Option<crate::error::ExitClass> {
        if self.interrupted {
            Some(crate::error::ExitClass::Interrupted)
        } else if self.failed > 0 {
            Some(if self.failed_refused {
                crate::error::ExitClass::Refused
            } else {
                crate::error::ExitClass::Operational
            })
        } else if self.waiting > 0 {
            Some(crate::error::ExitClass::Waiting)
        } else {
            None
        }
    }
}

fn store_has_receipt(tx: &crate::ledger::store::Tx<'_>, id: &str) -> Result<bool> {
    Ok(tx.receipt(id)?.is_some())
}

/// The systemd unit pair that runs `run-due` hourly: `handover-run-due.service` and
/// `handover-run-due.timer`, each the text of its own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerUnits {
    /// The text of `handover-run-due.service`.
    pub service: String,
    /// The text of `handover-run-due.timer`.
    pub timer: String,
}

impl TimerUnits {
    /// The file name of the service unit.
    pub const SERVICE_FILE: &'static str = "handover-run-due.service";
    /// The file name of the timer unit.
    pub const TIMER_FILE: &'static str = "handover-run-due.timer";
}

/// One word of a systemd `ExecStart=` line: double-quoted (a path may hold spaces), with `\`
/// and `"` escaped for systemd's own parser, `%` doubled (systemd expands specifiers such as
/// `%h` everywhere in a unit) and `$` doubled (it substitutes environment variables in
/// `ExecStart=`), so the program receives the path exactly as it is.
pub(crate) fn systemd_word(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '"' => q.push_str("\\\""),
            '%' => q.push_str("%%"),
            '$' => q.push_str("$$"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// One word of a crontab command: single-quoted for `sh` (a `'` closes, escapes and reopens),
/// and every `%` escaped as `\%`, because cron turns an unescaped `%` into a newline and cuts
/// the command there; cron drops the backslash before `sh` sees the word.
pub(crate) fn cron_word(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        match c {
            '\'' => q.push_str("'\\''"),
            '%' => q.push_str("\\%"),
            c => q.push(c),
        }
    }
    q.push('\'');
    q
}

/// The systemd units that run `run-due` hourly as `user`, with this program `exe` and `home`.
/// Exit 4 (due jobs waiting) is a success of the unit (`SuccessExitStatus=4`), so the unit does
/// not show as failed for work that only waits; what waits is printed to the journal.
pub fn timer_units(exe: &std::path::Path, home: &Home, user: &str) -> TimerUnits {
    let exe = systemd_word(&exe.to_string_lossy());
    let home = systemd_word(&home.dir.to_string_lossy());
    // A user name is letters, digits, `_`, `-` and `.`; anything else is escaped like a path.
    let user = user.replace('%', "%%");
    let service = format!(
        "[Unit]\n\
Description=handover: run due deletions of handed-over client data\n\
\n\
[Service]\n\
Type=oneshot\n\
User={user}\n\
ExecStart={exe} --home {home} run-due\n\
# Exit 4 means due jobs wait (held, or no receipt yet): not a failure of the unit. run-due\n\
# reports every job and why it waits on stderr (no --quiet: the journal keeps it, nobody is\n\
# mailed): journalctl -u handover-run-due\n\
SuccessExitStatus=4\n"
    );
    let timer = "[Unit]\n\
Description=Run handover run-due hourly\n\
\n\
[Timer]\n\
OnCalendar=hourly\n\
Persistent=true\n\
RandomizedDelaySec=300\n\
\n\
[Install]\n\
WantedBy=timers.target\n"
        .to_string();
    TimerUnits { service, timer }
}

/// Writes the two units into `dir` (created if missing) as separate files; an existing unit
/// file is never overwritten. Returns the paths written, the service first.
pub fn write_timer_units(
    dir: &std::path::Path,
    units: &TimerUnits,
) -> Result<Vec<std::path::PathBuf>> {
    let fail = |path: &std::path::Path, source| crate::error::ScheduleError::TimerWrite {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut written = Vec::new();
    for (name, text) in [
        (TimerUnits::SERVICE_FILE, &units.service),
        (TimerUnits::TIMER_FILE, &units.timer),
    ] {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| fail(&path, e))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// What `timer` prints: the systemd unit pair (each headed by the path to install it at), or
/// a crontab line, running `run-due` as `user`.
pub fn timer(systemd: bool, exe: &std::path::Path, home: &Home, user: &str) -> String {
    if systemd {
        let u = timer_units(exe, home, user);
        format!(
            "# /etc/systemd/system/{}\n{}\n# /etc/systemd/system/{}\n{}\n\
# enable with: systemctl daemon-reload && systemctl enable --now handover-run-due.timer\n",
            TimerUnits::SERVICE_FILE,
            u.service,
            TimerUnits::TIMER_FILE,
            u.timer
        )
    } else {
        format!(
            "# crontab line (crontab -e, as {user}): hourly. cron mails what it prints: errors, and\n\
# with --quiet nothing else but overdue work (status --overdue). Exit 4: due jobs wait.\n\
17 * * * * {} --home {} --quiet run-due\n",
            cron_word(&exe.to_string_lossy()),
            cron_word(&home.dir.to_string_lossy())
        )
    }
}

/// One step of the offboarding checklist.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Step {
    /// Whether the step is done.
    pub done: bool,
    /// When it was done (UTC, RFC 3339); for the schedule step, the due date.
    pub at: Option<String>,
    /// The step in words, for people.
    pub detail: String,
}

/// Where one handover stands.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StatusView {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name, the base name of its files.
    pub name: String,
    /// The export: when, and its files and bytes.
    pub exported: Step,
    /// The client's receipt: when it was confirmed, and what the confirmation proves.
    pub receipt_confirmed: Step,
    /// What the confirmation proves: `client_signature`, `unbound_signature` or `code`
    /// (`receipt::Proof`); null while unconfirmed.
    pub proof: Option<String>,
    /// The deletion date, when one is set.
    pub deletion_scheduled: Step,
    /// A hold, when one is placed: since when, and why.
    pub hold: Step,
    /// The deletion: its certificate once done, else whether it is under way or why it last failed.
    pub deleted: Step,
    /// The whole offboarding checklist, data steps and attested steps, in order.
    #[serde(default)]
    pub checklist: Vec<crate::ledger::checklist::ChecklistStep>,
    /// When it was voided (`handover void`); absent unless it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<String>,
    /// Why it was voided; absent unless it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
}

/// The offboarding checklist of every handover, or of one client's.
pub fn status(home: &Home, client: Option<&str>) -> Result<Vec<StatusView>> {
    // A home without a database has no handovers: say so without creating one.
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&home.database())?;
    let mut schedules: std::collections::HashMap<String, ScheduleRecord> = store
        .schedules()?
        .into_iter()
        .map(|s| (s.handover_id.clone(), s))
        .collect();
    let mut out = Vec::new();
    for h in store.handovers()? {
        if client.is_some_and(|c| c != h.client) {
            continue;
        }
        let r = store.receipt(&h.handover_id)?;
        let s = schedules.remove(&h.handover_id);
        let job = store.deletion_job_for_handover(&h.handover_id)?;
        let attestations = store.attestations(&h.handover_id)?;
        let mut view = StatusView {
            handover_id: h.handover_id.clone(),
            client: h.client.clone(),
            name: h.name.clone(),
            exported: Step {
                done: true,
                at: Some(h.created_at.clone()),
                detail: format!(
                    "{}, {}; archive {}",
                    util::plural(h.files, "file", "files"),
                    util::human_bytes(h.payload_bytes),
                    util::human_bytes(h.archive_bytes)
                ),
            },
            proof: r.as_ref().map(|r| r.proof.clone()),
            receipt_confirmed: receipt_step(r.as_ref()),
            deletion_scheduled: scheduled_step(s.as_ref()),
            hold: hold_step(s.as_ref()),
            deleted: deleted_step(&store, job.as_ref(), s.as_ref()),
            voided_at: h.voided_at.clone(),
            void_reason: h.void_reason.clone(),
            checklist: Vec::new(),
        };
        view.checklist = crate::ledger::checklist::steps(
            &h.name,
            &attestations,
            &view.exported,
            &view.receipt_confirmed,
            &view.deleted,
        );
        out.push(view);
    }
    Ok(out)
}

/// The checklist of the handovers `reference` names: a client's (every one of its
/// handovers), else the one handover it names (its name, id or id prefix, see
/// `Store::handover`); every handover when None. Voided handovers are left out unless `all`,
/// or unless the reference names one.
pub fn status_of(home: &Home, reference: Option<&str>, all: bool) -> Result<Vec<StatusView>> {
    let rows = status(home, None)?;
    let Some(r) = reference else {
        return Ok(rows
            .into_iter()
            .filter(|v| all || v.voided_at.is_none())
            .collect());
    };
    if rows.iter().any(|v| v.client == r) {
        return Ok(rows
            .into_iter()
            .filter(|v| v.client == r && (all || v.voided_at.is_none()))
            .collect());
    }
    let store = Store::open(&home.database())?;
    let h = match store.handover(r) {
        Ok(h) => h,
        // A client with no handover yet: an empty checklist, as before names were resolved.
        Err(crate::error::StoreError::NotFound(_))
        | Err(crate::error::StoreError::PrefixTooShort(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(rows
        .into_iter()
        .filter(|v| v.handover_id == h.handover_id)
        .collect())
}

fn receipt_step(r: Option<&crate::ledger::store::ReceiptRecord>) -> Step {
    match r {
        Some(r) => Step {
            done: true,
            at: Some(r.confirmed_at.clone()),
            detail: format!(
                "{}{}",
                crate::ledger::state::proof_meaning(&r.proof, r.client_key_id.as_deref()),
                r.upgraded_at
                    .as_ref()
                    .map(|t| format!(" (upgraded {t})"))
                    .unwrap_or_default()
            ),
        },
        None => Step {
            done: false,
            at: None,
            detail: "waiting for the client's receipt (handover confirm)".into(),
        },
    }
}

fn scheduled_step(s: Option<&ScheduleRecord>) -> Step {
    let due = s.and_then(|s| s.due_at.clone());
    Step {
        done: due.is_some(),
        detail: if due.is_some() {
            "deletion scheduled".into()
        } else {
            "no deletion date (handover schedule)".into()
        },
        at: due,
    }
}

fn hold_step(s: Option<&ScheduleRecord>) -> Step {
    match s.and_then(|s| s.hold_reason.clone()) {
        Some(reason) => Step {
            done: true,
            at: s.and_then(|s| s.held_at.clone()),
            detail: format!("ON HOLD: {reason}"),
        },
        None => Step {
            done: false,
            at: None,
            detail: "no hold".into(),
        },
    }
}

/// The deletion step: a finished job (with its certificate) first, then one under way, then
/// what the schedule recorded.
fn deleted_step(
    store: &Store,
    job: Option<&crate::ledger::store::JobRecord>,
    s: Option<&ScheduleRecord>,
) -> Step {
    match (job, s.map(|s| s.state)) {
        (Some(j), _) if j.state == JobState::Done => {
            let c = j
                .certificate_id
                .as_deref()
                .and_then(|id| store.certificate(id).ok());
            Step {
                done: true,
                at: c.as_ref().map(|c| c.created_at.clone()),
                detail: format!(
                    "certificate {}{}",
                    j.certificate_id.clone().unwrap_or_default(),
                    j.without_receipt_reason
                        .as_ref()
                        .map(|r| format!(" (without receipt: {r})"))
                        .unwrap_or_default()
                ),
            }
        }
        (Some(j), _) if j.state == JobState::Running => Step {
            done: false,
            at: None,
            detail: "deletion started but not finished: run the same delete (or run-due) again"
                .into(),
        },
        (_, Some(ScheduleState::Done)) => Step {
            done: true,
            at: s.and_then(|s| s.finished_at.clone()),
            detail: format!(
                "certificate {}",
                s.and_then(|s| s.certificate_id.clone()).unwrap_or_default()
            ),
        },
        (_, Some(ScheduleState::Gone)) => Step {
            done: true,
            at: s.and_then(|s| s.finished_at.clone()),
            detail: "nothing was left to delete".into(),
        },
        _ => Step {
            done: false,
            at: None,
            detail: s
                .and_then(|s| s.last_error.clone())
                .map(|e| format!("last attempt failed: {e}"))
                .unwrap_or_else(|| "not deleted".into()),
        },
    }
}
