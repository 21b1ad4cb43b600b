//! Erase: secure deletion (`shred`, `delete`): plan → record the job → overwrite with read-back
//! verification → truncate, rename, unlink, sync → signed certificate.
//!
//! Nothing is touched until the whole plan is known and free of blockers, and the job with its
//! plan is in the state database. The plan never follows a symlink. Where an overwrite cannot
//! reach the old blocks (copy-on-write, overlay, network, shared extents) the file is still
//! deleted, but the method recorded says so: this module never claims more than it did.
//!
//! Progress of a job is committed in batches, in an order that keeps a crash honest: a file is
//! marked `ready` (overwritten and verified, or needing no overwrite) before its name is
//! removed, so a missing name means "we removed it" only for an entry an earlier run had made
//! `ready`; otherwise something else did, and the entry is recorded `vanished` (not
//! overwritten by this job). Ctrl-C and SIGTERM stop the run at a file boundary with what was
//! done committed (exit 130); the same command resumes the job.
//!
//! Owns the deletion plan, its execution by handle, the filesystem facts that bound what an
//! overwrite can claim, and the signed certificate. It must never touch a path outside the
//! recorded roots, whatever is swapped in underneath it.
//!
//! Fault points (test builds only, see `crate::fault`): `exec.start` between the recorded
//! plan and the first operation, `shred.overwritten` after each file's overwrite,
//! `shred.verified` after each read-back, `shred.unlinked` after each unlink.

pub(crate) mod bucket;
pub mod certificate;
mod dirs;
mod exec;
pub mod fsinfo;
mod gate;
pub mod names;
mod plan;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::{Blocker, RelatedHandover, Result, ShredError, StoreError};
use crate::home::Home;
use crate::ledger::state::{EntryState, JobState};
use crate::ledger::store::{EntryRecord, HandoverRecord, JobRecord, ReceiptRecord, Store};
use crate::report::Reporter;
use crate::util;
use fsinfo::{FsClass, FsInfo};

use bucket::BucketPlan;
pub use bucket::PlanObject;
use exec::Exec;
pub use plan::FsMethod;
use plan::fs_methods;
use plan::{
    Planned, Root, entry_path, io_blocker, resolve_roots, roots_key, safety_blockers, walk_root,
};

/// `handover shred PATH...`: any files or trees.
#[derive(Debug, Clone, Default)]
pub struct ShredOptions {
    /// The files or directory trees to delete, each a root of the certificate.
    pub paths: Vec<PathBuf>,
    /// Plan and report only: nothing is deleted, nothing recorded.
    pub dry_run: bool,
    /// Do not ask for confirmation; needed when there is no terminal to ask on.
    pub yes: bool,
    /// Where the certificate goes; default the home folder's `certificates/`.
    pub out_dir: Option<PathBuf>,
    /// The minisign secret key file to sign with; None (or `handover.key`): the delegated `cert.key`.
    pub sign_key: Option<PathBuf>,
    /// The person the certificate names as running it; None: `$USER`, `$LOGNAME` or the uid's name.
    pub operator: Option<String>,
    /// The organisation named in the certificate, if any.
    pub organization: Option<String>,
    /// How the certificate and, once done, the database name the paths.
    pub names: crate::erase::names::Names,
}

/// `handover delete <handover-id>`: the handover's local copies, after receipt.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// The handover's id, or a unique prefix of at least 4 hex characters.
    pub handover: String,
    /// Plan and report only: nothing is deleted, nothing recorded.
    pub dry_run: bool,
    /// Do not ask for confirmation; needed when there is no terminal to ask on.
    pub yes: bool,
    /// More files or trees to delete and certify with the handover's copies (`--also`).
    pub also: Vec<PathBuf>,
    /// Delete although no receipt is confirmed (needs `reason`); ignored when one is recorded.
    pub without_receipt: bool,
    /// Why the deletion runs without a receipt: written into the certificate and the audit log.
    pub reason: Option<String>,
    /// The minisign secret key file to sign with; None (or `handover.key`): the delegated `cert.key`.
    pub sign_key: Option<PathBuf>,
    /// The person the certificate names as running it; None: `$USER`, `$LOGNAME` or the uid's name.
    pub operator: Option<String>,
    /// The organisation named in the certificate, if any.
    pub organization: Option<String>,
    /// How the certificate and, once done, the database name the paths.
    pub names: crate::erase::names::Names,
}

/// One path the run was asked to delete.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanRoot {
    /// The path, with bytes that are not UTF-8 escaped (a JSON string must be UTF-8).
    pub path: String,
    /// Its role: `source`, `archive`, `manifest`, `signature`, `stale_temp`, `also` or `path`.
    pub label: String,
    /// Whether the path existed when the plan was made (a recorded path may be gone already).
    pub exists: bool,
}

/// The plan: what will be deleted and how.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct PlanSummary {
    /// The paths to delete, in the job's order.
    pub roots: Vec<PlanRoot>,
    /// Regular files still to delete, hard-linked names included.
    pub files: u64,
    /// Directories still to delete.
    pub directories: u64,
    /// Symlinks still to delete (removed, never followed).
    pub symlinks: u64,
    /// Other entries still to delete (FIFOs, sockets, device nodes): unlinked only.
    pub other: u64,
    /// Bytes of the regular files still to delete, each inode counted once.
    pub bytes: u64,
    /// Files that will be overwritten before unlinking, and their bytes.
    pub overwrite_files: u64,
    /// The bytes of those files.
    pub overwrite_bytes: u64,
    /// Each filesystem with the method its entries get, and why when it is weaker than Clear.
    pub filesystems: Vec<FsMethod>,
    /// On a resumed job: entries an earlier run already finished.
    pub already_done: u64,
    /// What will be removed in buckets (`delete` of a handover with objects): every version,
    /// delete marker and incomplete upload of the recorded keys, each by a logical delete.
    #[serde(default)]
    pub objects: Vec<PlanObject>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ShredSummary {
    /// `delete` or `shred`.
    pub command: String,
    /// True when nothing was deleted or recorded (`--dry-run`).
    pub dry_run: bool,
    /// The handover whose local copies are deleted (`delete`); None for `shred`.
    pub handover_id: Option<String>,
    /// The deletion job's id (32 hex characters); on a dry run, only when it would resume one.
    pub job_id: Option<String>,
    /// True when this run finished an interrupted job.
    pub resumed: bool,
    /// The plan as it stood when the run started (entries an earlier run finished left out).
    pub plan: PlanSummary,
    /// Files this run overwrote.
    pub files_overwritten: u64,
    /// Bytes this run overwrote.
    pub bytes_overwritten: u64,
    /// Files this run read back after the overwrite and found as written.
    pub files_verified: u64,
    /// Files unlinked without an overwrite, over all runs of the job (the certificate's count).
    pub files_logical_delete: u64,
    /// Object versions, delete markers and uploads deleted in a bucket (logical delete), as
    /// the certificate's `objects` lists them.
    #[serde(default)]
    pub bucket_entries_deleted: u64,
    /// True when some entry got less than Clear (best effort or logical delete).
    pub downgraded: bool,
    /// The certificate's id (32 hex characters); None on a dry run.
    pub certificate_id: Option<String>,
    /// Where the certificate's JSON was written; None on a dry run.
    pub certificate_path: Option<PathBuf>,
    /// Where its minisign signature (`.minisig`) was written; None on a dry run.
    pub signature_path: Option<PathBuf>,
    /// Caveats for people, from the plan, the run and the certificate.
    pub warnings: Vec<String>,
    /// Wall-clock time of the run, in seconds.
    pub seconds: f64,
    /// Recorded handovers whose paths this run would delete (a source shared by several
    /// handovers names each), with their receipt, hold and whether they are clear.
    pub handovers: Vec<RelatedHandover>,
    /// `--dry-run` only: why the real run would be refused (a hold, or a handover sharing
    /// these paths that is not clear); the command then exits 3.
    pub refused: Option<Refusal>,
}

/// Why a run would be refused, as `--json` reports an error.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Refusal {
    /// The error's kind: `handover_held` or `shared_path_not_clear`.
    pub kind: String,
    /// The error message, for people.
    pub message: String,
}

/// Deletes any files or trees, with a certificate.
pub fn shred(home: &Home, opts: &ShredOptions, reporter: &dyn Reporter) -> Result<ShredSummary> {
    let roots = opts
        .paths
        .iter()
        .map(|p| (p.clone(), "path".to_string()))
        .collect();
    let cert_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| home.dir.join("certificates"));
    run(
        home,
        Request {
            kind: "shred",
            handover: None,
            receipt: None,
            reason: None,
            roots,
            objects: Vec::new(),
            recorded: false,
            dry_run: opts.dry_run,
            yes: opts.yes,
            cert_dir,
            cert_name: None,
            sign_key: opts.sign_key.clone(),
            operator: opts.operator.clone(),
            organization: opts.organization.clone(),
            hash_files: false,
            names: opts.names,
        },
        reporter,
    )
}

/// The reason a deletion records when it runs on a voided handover instead of a receipt.
pub const VOIDED: &str = "voided";

/// Who the certificate names as operator and organisation: the command line's, else the
/// client's profile (run-due gives none, so a scheduled deletion's certificate names them too).
fn named_in_certificate(
    store: &Store,
    client: &str,
    opts: &DeleteOptions,
) -> Result<(Option<String>, Option<String>)> {
    let profile = crate::ledger::audit::audited_client(store, client)?.map(|p| p.settings);
    let operator = opts
        .operator
        .clone()
        .or_else(|| profile.as_ref().and_then(|s| s.operator.clone()));
    let organization = opts
        .organization
        .clone()
        .or_else(|| profile.and_then(|s| s.organization));
    Ok((operator, organization))
}

/// Deletes a handover's local copies once the client's receipt is confirmed (or the
/// handover was voided).
pub fn delete(home: &Home, opts: &DeleteOptions, reporter: &dyn Reporter) -> Result<ShredSummary> {
    if !home.database().exists() {
        return Err(StoreError::NotFound(opts.handover.clone()).into());
    }
    let store = Store::open(&home.database())?;
    let h = store.handover(&opts.handover)?;
    refuse_finished(&store, &h)?;
    // What it recorded in buckets must be what its export audited, before any of it is
    // listed: a row added with sqlite3 would otherwise have delete remove someone else's key.
    let mut objects = store.objects(&h.handover_id)?;
    if let Some(what) = crate::ledger::audit::objects_mismatch(&store, &h.handover_id, &objects)? {
        return Err(crate::error::AuditError::GateMismatch {
            handover_id: h.handover_id.clone(),
            what,
        }
        .into());
    }
    // The receipt relied on here is checked against the audit log, with the hold and the
    // schedule, before anything is touched: `gate::related` checks every handover the run
    // touches, this one always among them.
    let receipt = store.receipt(&h.handover_id)?;
    let voided = receipt.is_none() && h.voided_at.is_some();
    let reason = if receipt.is_some() {
        if opts.without_receipt {
            reporter.warn("a receipt is recorded for this handover; --without-receipt is ignored");
        }
        None
    } else if voided {
        // Withdrawn before it was delivered: no receipt will come. The void is checked
        // against its audited event with the other gates (`gate::related`) before anything
        // is touched, so one set with sqlite3 is refused; the certificate carries its reason.
        if opts.without_receipt {
            reporter.warn("this handover was voided; --without-receipt is ignored");
        }
        Some(VOIDED.to_string())
    } else if opts.without_receipt {
        let r = opts.reason.clone().unwrap_or_default();
        if r.trim().is_empty() {
            return Err(ShredError::EmptyReason.into());
        }
        Some(r.trim().to_string())
    } else if opts.dry_run {
        // A dry run shows the plan before the receipt exists, and says the deletion waits
        // for it; it exits as the real run would (refused).
        None
    } else {
        return Err(ShredError::NoReceipt(h.handover_id.clone()).into());
    };
    let (operator, organization) = named_in_certificate(&store, &h.client, opts)?;
    let waits_for_receipt = receipt.is_none() && reason.is_none();
    let handover_id = h.handover_id.clone();
    drop(store);
    // A voided handover's own files are its archive, manifest and signature: the client's
    // data directory was never handed over, and the export that replaces the void needs it
    // (`--also DIR` deletes it too).
    let mut roots = Vec::new();
    if !voided {
        roots.push((h.source_path.clone(), "source".to_string()));
    } else {
        objects.retain(|o| o.role != "source");
    }
    roots.extend([
        (h.archive_path.clone(), "archive".to_string()),
        (h.manifest_path.clone(), "manifest".to_string()),
        (h.signature_path.clone(), "signature".to_string()),
    ]);
    // Paths recorded as `s3://BUCKET/KEY` are objects (listed in `objects`, planned by
    // `bucket`), never local roots: a local plan would take them for relative paths.
    roots.retain(|(p, _)| !crate::remote::is_remote(&p.to_string_lossy()));
    roots.extend(opts.also.iter().map(|p| (p.clone(), "also".to_string())));
    // Partial archives a killed export left in this outbox: shredded and certified with it.
    roots.extend(
        crate::pack::stale::delete_roots(home, &h)?
            .into_iter()
            .map(|p| (p, "stale_temp".to_string())),
    );
    // Beside the archive; an archive in a bucket gets it in the home's certificates/.
    let cert_dir = if crate::remote::is_remote(&h.archive_path.to_string_lossy()) {
        home.dir.join("certificates")
    } else {
        crate::home::parent_dir(&h.archive_path).to_path_buf()
    };
    let name = h.name.clone();
    let mut summary = run(
        home,
        Request {
            kind: "delete",
            handover: Some(h),
            receipt,
            reason,
            roots,
            objects,
            recorded: true,
            dry_run: opts.dry_run,
            yes: opts.yes,
            cert_dir,
            cert_name: Some(name),
            sign_key: opts.sign_key.clone(),
            operator,
            organization,
            hash_files: true,
            names: opts.names,
        },
        reporter,
    )?;
    if waits_for_receipt && summary.refused.is_none() {
        summary.refused = Some(Refusal {
            kind: "no_receipt".into(),
            message: format!(
                "no receipt is recorded for handover {handover_id} yet: the deletion will wait for it.\nAsk the client for the receipt code, then run `handover confirm`; or delete without it: --without-receipt --reason \"why\"."
            ),
        });
    }
    Ok(summary)
}

/// Refuses a handover whose deletion is certified already (checked against the audit log).
fn refuse_finished(store: &Store, h: &HandoverRecord) -> Result<()> {
    if let Some(job) = store.deletion_job_for_handover(&h.handover_id)?
        && job.state == JobState::Done
    {
        if !crate::ledger::audit::certified_deletion(
            store,
            &h.handover_id,
            job.certificate_id.as_deref(),
        )? {
            return Err(crate::error::AuditError::GateMismatch {
                handover_id: h.handover_id.clone(),
                what: "a finished deletion job is recorded, but the audit log certifies no deletion of this handover with its certificate: the row was written outside handover".into(),
            }
            .into());
        }
        return Err(ShredError::AlreadyDeleted {
            handover_id: h.handover_id.clone(),
            certificate_id: job.certificate_id.unwrap_or_default(),
        }
        .into());
    }
    Ok(())
}

/// Everything one run needs, whichever command started it.
struct Request {
    kind: &'static str,
    handover: Option<HandoverRecord>,
    receipt: Option<ReceiptRecord>,
    reason: Option<String>,
    roots: Vec<(PathBuf, String)>,
    /// The objects recorded in buckets (delete), planned apart from the roots.
    objects: Vec<crate::ledger::store::ObjectRecord>,
    /// The roots were recorded by export (delete): they must still resolve to themselves.
    recorded: bool,
    dry_run: bool,
    yes: bool,
    cert_dir: PathBuf,
    cert_name: Option<String>,
    sign_key: Option<PathBuf>,
    operator: Option<String>,
    organization: Option<String>,
    /// Hash each file just before it is overwritten (delete: so the client can match the
    /// certificate against the SHA256SUMS inside the archive they received).
    hash_files: bool,
    /// How paths are named once the job is done; the run that finishes the job decides.
    names: crate::erase::names::Names,
}

/// The whole run: resolve, plan, record, confirm, execute, certify.
fn run(home: &Home, req: Request, reporter: &dyn Reporter) -> Result<ShredSummary> {
    let started = Instant::now();
    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let resolved = resolve_roots(&req, &mut blockers, &mut missing, &mut warnings);
    let mut roots = describe_roots(resolved, &mut blockers);
    safety_blockers(&roots, home, &req.cert_dir, &mut blockers);

    let key = roots_key(&roots);
    // An unfinished job for the same paths is resumed rather than started again.
    let mut store = if home.database().exists() {
        Some(Store::open(&home.database())?)
    } else {
        None
    };
    let (existing, done_before) = earlier_jobs(store.as_ref(), &req, &key)?;
    // Holds and handovers sharing these paths: a real run stops here; a dry run shows them.
    let related = gate::related(home, store.as_ref(), &roots, req.handover.as_ref())?;
    let refused = match gate::refusal(&related, req.handover.as_ref().map(|h| &*h.handover_id)) {
        Some(e) if !req.dry_run => return Err(e.into()),
        Some(e) => {
            let e = crate::error::Error::from(e);
            Some(Refusal {
                kind: e.kind().into(),
                message: e.to_string(),
            })
        }
        None => None,
    };
    if existing.is_some() {
        // Paths an interrupted run of this job already removed are expected to be gone.
        warnings.clear();
    } else {
        blockers.append(&mut missing);
    }
    let (stored, stored_objects) = match (&existing, &store) {
        (Some(j), Some(s)) => (
            resume_roots(s, j, &mut roots)?,
            s.object_entries(&j.job_id)?,
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let mut objects = bucket_plan(&req, &stored_objects, &mut blockers, &mut warnings)?;
    let planned = walk_plan(home, &roots, &stored, blockers)?;
    let mut entries = merge_plan(&planned, &stored, &roots, &mut warnings);
    let no_objects = objects.as_ref().is_none_or(|o| o.entries.is_empty());
    if existing.is_none() && entries.is_empty() && no_objects {
        return Err(ShredError::NothingToDelete.into());
    }

    let mut summary = new_summary(
        &req,
        existing.as_ref(),
        &roots,
        &entries,
        warnings,
        related,
        refused,
    );
    summary.plan.objects = objects.as_ref().map(BucketPlan::todo).unwrap_or_default();
    if req.dry_run {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    let signer = ready_to_touch(home, store.as_ref(), &req, &roots, &summary, reporter)?;
    // Record the job and its whole plan before touching anything.
    if store.is_none() {
        home.ensure().map_err(|source| StoreError::Home {
            path: home.dir.clone(),
            source,
        })?;
        store = Some(Store::open(&home.database())?);
    }
    let store = store.as_mut().expect("opened above");
    // Holds read again, the lease taken, the job recorded: one IMMEDIATE transaction.
    let (job, _lease) = gate::start_job(
        home,
        store,
        &gate::Start {
            kind: req.kind,
            handover: req.handover.as_ref(),
            related: &summary.handovers,
            roots: &roots,
            roots_key: &key,
            existing: existing.as_ref(),
            done_before: done_before.as_deref(),
            entries: &entries,
            objects: objects.as_ref().map_or(&[], |o| &o.entries),
            reason: req.reason.as_deref(),
        },
    )?;
    summary.job_id = Some(job.job_id.clone());
    execute_objects(store, &job, objects.as_mut(), reporter)?;
    execute(
        store,
        &job,
        &roots,
        &req,
        &mut entries,
        &mut summary,
        reporter,
    )?;

    objects_left(&job, objects.as_ref())?;
    // Every entry is done: certify from what the database recorded over all runs.
    certify(home, store, &req, &job, &signer, &mut summary)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The summary of a run, as planned (a dry run prints this).
fn new_summary(
    req: &Request,
    existing: Option<&JobRecord>,
    roots: &[Root],
    entries: &[EntryRecord],
    warnings: Vec<String>,
    related: Vec<RelatedHandover>,
    refused: Option<Refusal>,
) -> ShredSummary {
    let plan = plan_summary(roots, entries);
    let mut summary = ShredSummary {
        command: req.kind.to_string(),
        dry_run: req.dry_run,
        handover_id: req.handover.as_ref().map(|h| h.handover_id.clone()),
        job_id: existing.map(|j| j.job_id.clone()),
        resumed: existing.is_some(),
        plan,
        files_overwritten: 0,
        bytes_overwritten: 0,
        files_verified: 0,
        files_logical_delete: 0,
        bucket_entries_deleted: 0,
        downgraded: false,
        certificate_id: None,
        certificate_path: None,
        signature_path: None,
        warnings,
        seconds: 0.0,
        handovers: related,
        refused,
    };
    summary.downgraded = summary
        .plan
        .filesystems
        .iter()
        .any(|f| f.method != "clear" && f.method != "unlink");
    summary
}

/// The bucket half of the plan (None without recorded objects), merged with what an
/// interrupted run of the job recorded.
fn bucket_plan(
    req: &Request,
    stored: &[crate::ledger::store::ObjectEntryRecord],
    blockers: &mut Vec<Blocker>,
    warnings: &mut Vec<String>,
) -> Result<Option<BucketPlan>> {
    if req.objects.is_empty() {
        return Ok(None);
    }
    let now = util::rfc3339(util::now());
    let plan = BucketPlan::make(&req.objects, stored, &now, blockers, warnings)?;
    Ok(Some(plan))
}

/// Removes the bucket entries of the recorded job; any that failed fails the run, which can
/// be resumed.
fn execute_objects(
    store: &mut Store,
    job: &JobRecord,
    objects: Option<&mut BucketPlan>,
    reporter: &dyn Reporter,
) -> Result<()> {
    let Some(objects) = objects else {
        return Ok(());
    };
    if let Some((failed, first, first_reason)) = objects.execute(store, &job.job_id, reporter)? {
        return Err(ShredError::Incomplete {
            job_id: job.job_id.clone(),
            failed,
            first: PathBuf::from(first),
            first_reason,
            io: true,
        }
        .into());
    }
    Ok(())
}

/// Lists the recorded keys again after the run: a version still there (written meanwhile, or
/// a delete the service acknowledged without acting on) means the run is not done, whatever
/// it sent.
fn objects_left(job: &JobRecord, objects: Option<&BucketPlan>) -> Result<()> {
    if let Some(o) = objects
        && let Some((left, first)) = o.left()?
    {
        return Err(ShredError::ObjectsLeft {
            job_id: job.job_id.clone(),
            left,
            first,
        }
        .into());
    }
    Ok(())
}

/// Issues the certificate of the finished job and adds it to the summary.
fn certify(
    home: &Home,
    store: &mut Store,
    req: &Request,
    job: &JobRecord,
    signer: &crate::keys::Signer,
    summary: &mut ShredSummary,
) -> Result<()> {
    let cert = certificate::issue(
        store,
        &certificate::IssueInput {
            home,
            job_id: &job.job_id,
            handover: req.handover.as_ref(),
            receipt: req.receipt.as_ref(),
            operator: req.operator.clone(),
            organization: req.organization.clone(),
            signer,
            dir: &req.cert_dir,
            name: req.cert_name.clone(),
            names: req.names,
        },
    )?;
    summary.warnings.extend(cert.warnings.iter().cloned());
    summary.files_logical_delete = cert.logical_delete_files;
    summary.bucket_entries_deleted = cert.bucket_entries;
    summary.certificate_id = Some(cert.certificate_id);
    summary.certificate_path = Some(cert.json_path);
    summary.signature_path = Some(cert.signature_path);
    Ok(())
}

/// Each resolved root with the filesystem it is on; a root whose filesystem cannot be read
/// is a blocker.
fn describe_roots(resolved: Vec<plan::Resolved>, blockers: &mut Vec<Blocker>) -> Vec<Root> {
    let mut roots: Vec<Root> = Vec::new();
    for r in resolved {
        // The filesystem of the root when it is a directory, else of its parent.
        let (dir, dev) = if r.is_dir {
            (r.path.clone(), r.id.0)
        } else {
            (
                crate::home::parent_dir(&r.path).to_path_buf(),
                r.parent_id.0,
            )
        };
        let fs = match fsinfo::describe(&dir, dev) {
            Ok(f) => f,
            // A recorded path that is gone: nothing will be deleted there.
            Err(_) if !r.exists => FsInfo {
                fs_type: "unknown".into(),
                class: FsClass::Unknown,
                mount_point: PathBuf::new(),
                source: String::new(),
                device: String::new(),
                rotational: None,
                data_journal: false,
                block_size: 4096,
                disk: None,
            },
            Err(e) => {
                blockers.push(io_blocker("unreadable", &r.path, &e));
                continue;
            }
        };
        roots.push(Root {
            path: r.path,
            label: r.label,
            exists: r.exists,
            fs,
            parent: r.parent,
            parent_dev: r.parent_id.0,
            parent_ino: r.parent_id.1,
            dev: r.id.0,
            ino: r.id.1,
        });
    }
    roots
}

/// The unfinished job to resume, if any, and (shred) the id of a finished job for the same
/// roots.
fn earlier_jobs(
    store: Option<&Store>,
    req: &Request,
    key: &str,
) -> Result<(Option<JobRecord>, Option<String>)> {
    let existing: Option<JobRecord> = match (store, &req.handover) {
        (Some(s), Some(h)) => s
            .deletion_job_for_handover(&h.handover_id)?
            .filter(|j| j.state == JobState::Running),
        (Some(s), None) => s.deletion_job(req.kind, key, JobState::Running)?,
        _ => None,
    };
    let done_before = match (store, &req.handover) {
        (Some(s), None) => s
            .deletion_job(req.kind, key, JobState::Done)?
            .map(|j| j.job_id),
        _ => None,
    };
    Ok((existing, done_before))
}

/// A resumed job keeps its roots (in its order: entries refer to roots by index) and its
/// stored plan; other roots than the job's are refused.
fn resume_roots(s: &Store, job: &JobRecord, roots: &mut Vec<Root>) -> Result<Vec<EntryRecord>> {
    let old_roots = s.deletion_roots(&job.job_id)?;
    let old: BTreeSet<&Path> = old_roots.iter().map(|r| r.path.as_path()).collect();
    let new: BTreeSet<&Path> = roots.iter().map(|r| r.path.as_path()).collect();
    if old != new {
        return Err(ShredError::JobRootsDiffer {
            job_id: job.job_id.clone(),
            roots: old_roots.into_iter().map(|r| r.path).collect(),
        }
        .into());
    }
    let mut reordered = Vec::new();
    for r in &old_roots {
        if let Some(i) = roots.iter().position(|x| x.path == r.path) {
            reordered.push(roots.swap_remove(i));
        }
    }
    *roots = reordered;
    Ok(s.deletion_entries(&job.job_id)?)
}

/// Walks every root that exists and refuses (with every blocker found, sorted) what must
/// not be deleted: hard links reaching outside, the home's own files, anything the
/// resolution already blocked.
fn walk_plan(
    home: &Home,
    roots: &[Root],
    stored: &[EntryRecord],
    mut blockers: Vec<Blocker>,
) -> Result<Vec<Planned>> {
    let mut planned: Vec<Planned> = Vec::new();
    let mut links: HashMap<(u64, u64), (u64, u64, PathBuf)> = HashMap::new();
    // Names we renamed entries to on an interrupted run: not new entries.
    let tmp_names: HashSet<PathBuf> = stored
        .iter()
        .filter(|e| e.state == EntryState::Ready)
        .map(|e| {
            let p = entry_path(&roots[e.root_idx as usize].path, &e.rel_path);
            crate::home::parent_dir(&p).join(&e.tmp_name)
        })
        .collect();
    for (i, r) in roots.iter().enumerate() {
        if r.exists {
            walk_root(i as u32, r, &mut planned, &mut blockers, &mut links);
        }
    }
    planned.retain(|p| !tmp_names.contains(&entry_path(&roots[p.root_idx as usize].path, &p.rel)));
    plan::identity_blockers(home, roots, &planned, &mut blockers);
    for (nlink, found, path) in links.values() {
        if found < nlink {
            blockers.push(Blocker {
                kind: "hard_link_outside",
                path: path.clone(),
                message: format!(
                    "has {nlink} hard links but only {found} inside the paths given: the data would survive under the other name(s); delete those too or leave this file out"
                ),
            });
        }
    }
    if !blockers.is_empty() {
        blockers.sort_by(|a, b| a.path.cmp(&b.path));
        blockers.dedup_by(|a, b| a.path == b.path && a.kind == b.kind);
        return Err(ShredError::Blocked(blockers).into());
    }
    Ok(planned)
}

/// The plan merged with the stored plan of an interrupted job: an entry keeps its sequence
/// number and how far it got while it is still the same file; stored entries no longer
/// found are recorded as vanished.
fn merge_plan(
    planned: &[Planned],
    stored: &[EntryRecord],
    roots: &[Root],
    warnings: &mut Vec<String>,
) -> Vec<EntryRecord> {
    let mut entries: Vec<EntryRecord> = Vec::new();
    let mut index: HashMap<(u32, Vec<u8>), usize> = HashMap::new();
    for (i, e) in stored.iter().enumerate() {
        index.insert((e.root_idx, e.rel_path.clone()), i);
    }
    let mut next_seq = stored.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    let mut seen = vec![false; stored.len()];
    for p in planned {
        let fresh = |seq: u64| EntryRecord {
            seq,
            root_idx: p.root_idx,
            rel_path: p.rel.clone(),
            kind: p.kind.to_string(),
            bytes: p.bytes,
            dev: p.dev,
            ino: p.ino,
            method: p.method.to_string(),
            reason: p.reason.clone(),
            tmp_name: util::random_hex(16),
            state: EntryState::Pending,
            sha256: None,
            verification: None,
            note: None,
        };
        match index.get(&(p.root_idx, p.rel.clone())) {
            Some(&i) => {
                seen[i] = true;
                let old = &stored[i];
                // A file an interrupted link-then-unlink rename (see fsx) left under two
                // names is walked as a file and a hard link: still the same entry.
                let file = |k: &str| k == "file" || k == "hard_link";
                let same = old.ino == p.ino
                    && old.dev == p.dev
                    && (old.kind == p.kind || (file(&old.kind) && file(p.kind)));
                let mut e = fresh(old.seq);
                e.tmp_name = old.tmp_name.clone();
                match old.state {
                    // Overwritten and verified (or needing no overwrite): only the unlink is
                    // left, provided it is still the same file.
                    EntryState::Ready | EntryState::Done if same => e = old.clone(),
                    // Hashed before its overwrite began (then perhaps failed): keep the hash
                    // of the original bytes; hashing again could read the overwrite.
                    EntryState::Hashed | EntryState::Failed if same && old.sha256.is_some() => {
                        e.state = EntryState::Hashed;
                        e.sha256 = old.sha256.clone();
                    }
                    _ => {}
                }
                // The same file keeps the size the plan first recorded: an overwrite killed
                // half way may have grown it to a whole block, and the certificate must state
                // the file the client received, not our keystream's length.
                if same && e.kind == "file" {
                    e.bytes = old.bytes;
                }
                entries.push(e);
            }
            None => {
                entries.push(fresh(next_seq));
                next_seq += 1;
            }
        }
    }
    for (i, e) in stored.iter().enumerate() {
        if seen[i] {
            continue;
        }
        let mut e = e.clone();
        match e.state {
            EntryState::Done | EntryState::Vanished | EntryState::Ready => {}
            _ => {
                e.state = EntryState::Vanished;
                e.note = Some(
                    "was gone when the job resumed: removed by something other than this job, so it was not overwritten by it".into(),
                );
                warnings.push(format!(
                    "{} vanished before this job could delete it",
                    crate::error::show(&entry_path(&roots[e.root_idx as usize].path, &e.rel_path))
                ));
            }
        }
        entries.push(e);
    }
    entries.sort_by_key(|e| e.seq);
    entries
}

/// Loads the audit and signing keys, asks for confirmation and checks the roots again, all
/// before anything is touched: a missing key or a wrong password must not leave deleted files
/// without a certificate.
fn ready_to_touch(
    home: &Home,
    store: Option<&Store>,
    req: &Request,
    roots: &[Root],
    summary: &ShredSummary,
    reporter: &dyn Reporter,
) -> Result<crate::keys::Signer> {
    // The home's delegated certificate key needs no password (run-due from cron).
    if let Some(s) = store {
        crate::ledger::audit::ensure_key(home, s)?;
    }
    let signer =
        crate::ledger::delegation::certificate_signer(home, req.sign_key.as_deref(), reporter)?;
    if !req.yes {
        if !reporter.can_ask() {
            return Err(ShredError::CannotAsk.into());
        }
        if !reporter.confirm(&confirm_question(&summary.plan)) {
            return Err(ShredError::Declined.into());
        }
    }
    // Confirmation can take long: the roots must still be the directories and inodes that
    // were planned, reached without a symlink.
    let mut changed: Vec<Blocker> = roots.iter().filter_map(|r| r.recheck().err()).collect();
    if !changed.is_empty() {
        changed.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(ShredError::Blocked(changed).into());
    }
    Ok(signer)
}

/// Deletes every entry of the recorded job; any entry left undeleted fails the run, which
/// can be resumed.
fn execute(
    store: &mut Store,
    job: &JobRecord,
    roots: &[Root],
    req: &Request,
    entries: &mut [EntryRecord],
    summary: &mut ShredSummary,
    reporter: &dyn Reporter,
) -> Result<()> {
    let mut ex = Exec::new(store, job.job_id.clone(), roots, reporter, req.hash_files);
    // Handovers sharing these paths: a hold placed on one of them stops the run.
    ex.watch = summary
        .handovers
        .iter()
        .map(|r| r.handover_id.clone())
        .collect();
    reporter.start(
        req.kind,
        Some(summary.plan.overwrite_bytes),
        Some(entries.len() as u64),
    );
    let result = ex.run(entries);
    reporter.finish();
    result?;
    summary.files_overwritten = ex.files_overwritten;
    summary.bytes_overwritten = ex.bytes_overwritten;
    summary.files_verified = ex.files_verified;
    summary.warnings.append(&mut ex.warnings);
    if let Some((path, reason, _)) = ex.failures.first() {
        return Err(ShredError::Incomplete {
            job_id: job.job_id.clone(),
            failed: ex.failures.len(),
            first: path.clone(),
            first_reason: reason.clone(),
            io: ex.failures.iter().any(|f| f.2),
        }
        .into());
    }

    Ok(())
}

fn plan_summary(roots: &[Root], entries: &[EntryRecord]) -> PlanSummary {
    let mut p = PlanSummary {
        roots: roots
            .iter()
            .map(|r| PlanRoot {
                path: crate::error::show(&r.path),
                label: r.label.clone(),
                exists: r.exists,
            })
            .collect(),
        ..Default::default()
    };
    let todo: Vec<&EntryRecord> = entries
        .iter()
        .filter(|e| {
            let finished = e.state == EntryState::Done || e.state == EntryState::Vanished;
            if finished {
                p.already_done += 1;
            }
            !finished
        })
        .collect();
    for e in &todo {
        match e.kind.as_str() {
            "file" => {
                p.files += 1;
                p.bytes += e.bytes;
                if e.method == "clear" || e.method == "overwrite_best_effort" {
                    p.overwrite_files += 1;
                    p.overwrite_bytes += e.bytes;
                }
            }
            "hard_link" => p.files += 1,
            "dir" => p.directories += 1,
            "symlink" => p.symlinks += 1,
            _ => p.other += 1,
        }
    }
    let fsr: Vec<(&FsInfo, u32)> = roots
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.fs, i as u32))
        .collect();
    p.filesystems = fs_methods(
        &fsr,
        todo.iter().map(|e| {
            (
                e.root_idx,
                e.kind.as_str(),
                e.method.as_str(),
                e.reason.as_deref(),
                e.bytes,
            )
        }),
    );
    p
}

/// The question asked before deleting: the plan in a few lines.
fn confirm_question(p: &PlanSummary) -> String {
    let mut q = format!(
        "About to delete {} ({}), {}, {}, {} other, under:\n",
        util::plural(p.files, "file", "files"),
        util::human_bytes(p.bytes),
        util::plural(p.directories, "directory", "directories"),
        util::plural(p.symlinks, "symlink", "symlinks"),
        p.other
    );
    for r in &p.roots {
        q.push_str(&format!("  {} ({})\n", r.path, r.label));
    }
    for f in &p.filesystems {
        if f.method == "unlink" {
            q.push_str(&format!(
                "  {} on {}: {} without data of their own: unlink\n",
                f.filesystem,
                f.mount_point,
                util::plural(f.entries, "entry", "entries")
            ));
            continue;
        }
        q.push_str(&format!(
            "  {} on {} ({}): {}, {}: {}\n",
            f.filesystem,
            f.mount_point,
            f.device,
            util::plural(f.entries, "file", "files"),
            util::human_bytes(f.bytes),
            f.method
        ));
        if let Some(r) = &f.reason {
            q.push_str(&format!("    because {r}\n"));
        }
    }
    if !p.objects.is_empty() {
        q.push_str(&format!(
            "  and in object storage {} (versions, delete markers, incomplete uploads): logical delete\n",
            util::plural(p.objects.len() as u64, "entry", "entries")
        ));
    }
    q.push_str("This cannot be undone. Delete? [y/N] ");
    q
}
