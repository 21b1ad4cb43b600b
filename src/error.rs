//! Errors: one enum per stage, one top-level [`Error`], and the exit class each maps to.
//!
//! Every message says what happened and, where there is one, what to do next. Messages name
//! paths, key ids and line numbers, never file contents, passwords or keys.

use std::fmt;
use std::path::PathBuf;

/// How the binary should exit for an error. `main.rs` holds the only match to a process code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: I/O, bad key file, locked database: the operation could not be carried out.
    Operational,
    /// 3: a check failed or a safety rule refused (tampering, no receipt, unsafe deletion).
    Refused,
    /// 4: work left waiting (`run-due` with due jobs held back).
    Waiting,
    /// 130: stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted,
}

/// Shows a path for a message, bytes that are not UTF-8 escaped rather than dropped.
pub(crate) fn show(p: &std::path::Path) -> String {
    format!("{:?}", p.as_os_str()).trim_matches('"').to_string()
}

/// Errors from key handling: generation, loading, recipients.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file exists where keygen would write; keygen never overwrites a key.
    #[error(
        "{} already exists; keygen never overwrites a key.\nMove it away first, or use --out DIR to write the new key pair elsewhere.",
        show(.0)
    )]
    Exists(PathBuf),
    /// The signing key file could not be read.
    #[error("cannot read the signing key {}: {source}\nCreate one with `handover keygen`, or pass --sign-key FILE.", show(.path))]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The key file is not a minisign secret key.
    #[error("{} is not a usable minisign secret key ({detail}).\nUse a key made by `handover keygen`.", show(.path))]
    Malformed { path: PathBuf, detail: String },
    /// Wrong password for an encrypted key.
    #[error("wrong password for the signing key {}.\nSet HANDOVER_KEY_PASSWORD or type the password at the prompt.", show(.0))]
    WrongPassword(PathBuf),
    /// The key is encrypted and no password could be obtained.
    #[error("the signing key {} is password-protected and no password was given.\nSet HANDOVER_KEY_PASSWORD, or run on a terminal to be asked.", show(.0))]
    NoPassword(PathBuf),
    /// A public key file or string could not be read.
    #[error("cannot use the public key {what}: {detail}")]
    PublicKey { what: String, detail: String },
    /// A recipient given with -r is not one we know.
    #[error(
        "invalid recipient {shown}: {why}.\nA recipient is an age public key (age1...) or an ssh-ed25519 / ssh-rsa public key line."
    )]
    BadRecipient { shown: String, why: String },
    /// A line of a recipients file (-R) is not a recipient. The line itself is not printed:
    /// it could be a secret pasted into the wrong file.
    #[error("{}: line {line} is not a recipient.\nEach line must be an age1... key or an ssh-ed25519 / ssh-rsa public key; # starts a comment.", show(.path))]
    BadRecipientLine { path: PathBuf, line: usize },
    /// A recipients file could not be read.
    #[error("cannot read recipients file {}: {source}", show(.path))]
    RecipientsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No recipient at all.
    #[error(
        "no recipients.\nGive the client's public key with -r age1... or a file of keys with -R FILE."
    )]
    NoRecipients,
    /// Writing a key failed.
    #[error("cannot write {}: {source}", show(.path))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The minisign library failed while generating or signing.
    #[error("{0}")]
    Crypto(String),
    /// A certificate must be signed without anyone to type the provider key's password
    /// (`run-due` from cron or systemd), and no certificate key is authorised yet.
    #[error("deletion certificates cannot be signed unattended: the provider key {} is password-protected, and {} holds no authorised certificate key (cert.key with cert-delegation.json) yet.\nRun this once, on a terminal: handover --home {} delegate\nIt asks the provider key's password once and authorises cert.key, which then signs deletion certificates without a password (run-due from cron or systemd included).", show(.key), show(.home), show(.home))]
    NoDelegation { home: PathBuf, key: PathBuf },
    /// The certificate key's delegation is missing a part, does not verify, or does not match.
    #[error("the certificate-key delegation {} cannot be used: {detail}.\nRun `handover delegate --renew` on a terminal to authorise the certificate key again.", show(.path))]
    BadDelegation { path: PathBuf, detail: String },
}

/// Errors from the export stage.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The client name would make a bad file name.
    #[error(
        "invalid {what} {value:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'."
    )]
    BadName { what: &'static str, value: String },
    /// The data directory is missing.
    #[error("data directory {} does not exist.", show(.0))]
    DataMissing(PathBuf),
    /// The data path is not a directory.
    #[error("{} is not a directory; export takes the client's data directory.", show(.0))]
    NotADirectory(PathBuf),
    /// The output directory lies inside the data directory: the archive would contain itself.
    #[error("the output directory {} is inside the data directory {}.\nChoose an --out outside the client's data.", show(.out), show(.data))]
    OutInsideData { out: PathBuf, data: PathBuf },
    /// An output file exists already.
    #[error("{} already exists; export never overwrites.\nChoose another --name or --out.", show(.0))]
    OutputExists(PathBuf),
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}\nFix its permissions (or remove it from the data directory) and run export again.", show(.path))]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file changed while it was being read.
    #[error("{} changed while it was being read ({what}).\nStop whatever writes to the client's data, then run export again.", show(.path))]
    Changed { path: PathBuf, what: &'static str },
    /// A fifo, socket or device file: it has no content to hand over.
    #[error("{} is a {kind}, which cannot be handed over as data.\nRemove it from the data directory (or copy the data without it) and run export again.", show(.path))]
    SpecialFile { path: PathBuf, kind: &'static str },
    /// --strict-names and a name that is not UTF-8.
    #[error("--strict-names: {count} name(s) are not valid UTF-8, the first {}.\nRename them, or export without --strict-names (they are stored exactly and listed in a warning).", show(.first))]
    NonUtf8Names { count: usize, first: PathBuf },
    /// Writing an output failed (disk full, I/O error).
    #[error("cannot write {}: {source}\nNo output was left behind; free space or fix the output directory and run export again.", show(.path))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The walk failed.
    #[error("cannot walk {}: {detail}", show(.path))]
    Walk { path: PathBuf, detail: String },
    /// Invalid option value.
    #[error("{0}")]
    Option(String),
    /// Stopped by a signal (Ctrl-C, SIGTERM).
    #[error("export interrupted; no output was left behind.")]
    Interrupted,
}

/// Errors from the local state database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is busy: another handover process holds it.
    #[error("the state database {} is locked by another handover process.\nWait for it to finish and try again.", show(.0))]
    Locked(PathBuf),
    /// The database file is not a database or is corrupt.
    #[error("the state database {} is unreadable or corrupt ({detail}).\nRestore it from a backup; nothing was changed.", show(.path))]
    Corrupt { path: PathBuf, detail: String },
    /// Any other SQLite failure.
    #[error("state database {}: {detail}", show(.path))]
    Other { path: PathBuf, detail: String },
    /// The home folder could not be made or used.
    #[error("cannot use the home folder {}: {source}\nPass --home DIR or set HANDOVER_HOME.", show(.path))]
    Home {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No handover matches an id.
    #[error("no handover matches {0:?}.\nRun `handover list` to see the recorded handovers.")]
    NotFound(String),
    /// An id prefix matches several handovers.
    #[error("{0:?} matches more than one handover; give more characters of the id.")]
    Ambiguous(String),
    /// No deletion certificate matches an id.
    #[error(
        "no deletion certificate matches {0:?}.\nThe id is printed by `handover delete` and `handover shred`, and is in the certificate file."
    )]
    CertificateNotFound(String),
}

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The hash chain or its signed head does not hold.
    #[error(
        "the audit log was tampered with at row {seq}: {what}.\nRestore the state database from a backup and find out who changed it."
    )]
    Broken { seq: i64, what: String },
    /// A receipt, hold or schedule in the database disagrees with the audited history.
    #[error(
        "handover {handover_id}: {what}.\nNothing was deleted. The gate tables must match the audit log; restore the state database from a backup, or redo the step with handover (confirm, hold, schedule) so that it is audited."
    )]
    GateMismatch { handover_id: String, what: String },
    /// A document given to `audit verify --against` cannot serve as an anchor.
    #[error("{}: {what}", show(.file))]
    Anchor {
        file: std::path::PathBuf,
        what: String,
    },
    /// The audit key is gone while the log (or its public key) shows it existed: a new key
    /// made silently would hide who signed what, so nothing that changes state runs.
    #[error(
        "the audit-log key {} is missing, but the audit log {} was signed with it{}.\nNothing was changed: every change of state (hold, release, schedule, confirm, export, delete, shred, run-due) is recorded in the audit log and signed with that key, so none can run until it is back.\nRestore audit.key from your backup of the home folder (same place, mode 0600). If it is lost for good, run `handover audit rekey --reason \"why\"`: it checks the log, makes a new audit key and records the re-keying in the log, signed with the new key; then run this command again.",
        show(.path),
        if *.events > 0 { format!("already holds {} event(s)", .events) } else { "(audit.pub is there)".to_string() },
        .key_id.as_ref().map(|k| format!(" (key id {k}, from audit.pub)")).unwrap_or_default()
    )]
    KeyMissing {
        path: PathBuf,
        events: i64,
        key_id: Option<String>,
    },
    /// `audit rekey` while the audit key is present and usable.
    #[error(
        "the audit-log key {} is present and usable; nothing was changed.\n`handover audit rekey` is only for a lost audit.key.",
        show(.0)
    )]
    KeyPresent(PathBuf),
    /// `audit rekey` without a reason.
    #[error(
        "`handover audit rekey` needs a --reason that says why the key was lost; it goes into the audit log."
    )]
    ReasonRequired,
    /// `audit rekey` without the lost key's public half: the old heads could not be checked.
    #[error(
        "the audit log's public key {} is missing too, so the signed heads cannot be checked before a new key signs after them; nothing was changed.\nRestore audit.pub from a backup of the home folder, or from any evidence pack (audit/audit.pub), then run `handover audit rekey` again.",
        show(.0)
    )]
    PublicKeyMissing(PathBuf),
}

/// Errors from the deletion schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A date in the past: a typo must not delete data today.
    #[error(
        "the deletion date {due} is in the past; a typo must not delete data today.\nCheck the date, or pass --allow-past if deleting now is really meant."
    )]
    InPast { due: String },
    /// The job has already run.
    #[error(
        "the deletion job of handover {handover_id} has already finished ({state}); there is nothing left to schedule."
    )]
    Finished { handover_id: String, state: String },
    /// The clock is behind the last recorded event.
    #[error(
        "the clock says {now}, but the state database recorded an event at {last}: the clock is behind.\nFix the system time (NTP) before running deletions; nothing was run."
    )]
    ClockBehind { now: String, last: String },
    /// A hold on a handover whose deletion already ran: there is nothing left to hold, and a
    /// hold shown beside "deleted" would mislead.
    #[error(
        "handover {handover_id}'s local copies were already deleted ({what}); a hold cannot keep them any more, and none was recorded.\nFor the matter, keep the deletion record: `handover evidence {handover_id} --out DIR` writes the certificate, receipt and audit trail."
    )]
    HoldAfterDeletion { handover_id: String, what: String },
}

/// Errors from the evidence pack.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The output folder exists.
    #[error("{} already exists; the evidence pack is written to a new folder.\nChoose another --out.", show(.0))]
    Exists(PathBuf),
    /// The signed manifest is not in the database (handovers recorded before it was kept).
    #[error("the state database holds no signed manifest for handover {0}.")]
    NoManifest(String),
    /// Writing failed.
    #[error("cannot write {}: {source}", show(.path))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The receipt file given could not be read.
    #[error("cannot read {}: {source}", show(.path))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The receipt file given is not the one `confirm` checked.
    #[error("{} is not the receipt that was confirmed for this handover (its SHA-256 differs, or the handover was confirmed by code).\nGive the receipt.json that `handover confirm` checked, or leave --receipt out.", show(.0))]
    NotTheConfirmedReceipt(PathBuf),
}

/// The top-level error every library command returns.
#[derive(Debug)]
pub enum Error {
    Key(KeyError),
    Export(ExportError),
    Store(StoreError),
    Audit(AuditError),
    Schedule(ScheduleError),
    Evidence(EvidenceError),
    Shred(ShredError),
    /// An I/O error outside a stage with its own enum (reading a file the user named, ...).
    Io {
        what: String,
        source: std::io::Error,
    },
    Verify(VerifyError),
    Receipt(ReceiptError),
}

impl Error {
    /// The exit class of this error.
    pub fn class(&self) -> ExitClass {
        match self {
            Error::Key(_) | Error::Export(_) | Error::Store(_) | Error::Io { .. } => {
                ExitClass::Operational
            }
            Error::Evidence(EvidenceError::NotTheConfirmedReceipt(_)) => ExitClass::Refused,
            Error::Evidence(_) => ExitClass::Operational,
            // A missing key file is operational, like any other unreadable key.
            Error::Audit(AuditError::KeyMissing { .. }) => ExitClass::Operational,
            Error::Audit(_) | Error::Schedule(_) => ExitClass::Refused,
            Error::Verify(_) => ExitClass::Operational,
            Error::Receipt(e) => e.class(),
            Error::Shred(e) => e.class(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Key(e) => e.fmt(f),
            Error::Export(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
            Error::Audit(e) => e.fmt(f),
            Error::Schedule(e) => e.fmt(f),
            Error::Evidence(e) => e.fmt(f),
            Error::Shred(e) => e.fmt(f),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Verify(e) => e.fmt(f),
            Error::Receipt(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}
impl From<ExportError> for Error {
    fn from(e: ExportError) -> Self {
        Error::Export(e)
    }
}
impl From<EvidenceError> for Error {
    fn from(e: EvidenceError) -> Self {
        Error::Evidence(e)
    }
}
impl From<ScheduleError> for Error {
    fn from(e: ScheduleError) -> Self {
        Error::Schedule(e)
    }
}
impl From<AuditError> for Error {
    fn from(e: AuditError) -> Self {
        Error::Audit(e)
    }
}
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(e)
    }
}
impl From<ReceiptError> for Error {
    fn from(e: ReceiptError) -> Self {
        Error::Receipt(e)
    }
}

/// Errors that stop `verify` before it can judge the archive: its inputs cannot be read or
/// its outputs written. A check that fails is not an error but a problem in the report
/// (`verify::Problem`), and makes the run exit 3.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The archive cannot be opened or read.
    #[error("cannot read the archive {}: {source}\nCheck the path and its permissions.", show(.path))]
    ArchiveUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The manifest is not where it should be or cannot be read.
    #[error("cannot read the manifest {}: {source}\nIt is looked for beside the archive (NAME.manifest.json); pass --manifest FILE if it is elsewhere.", show(.path))]
    ManifestUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An identity file (-i) cannot be read or used.
    #[error("cannot use the identity file {}: {detail}.\nGive an age identity file (as age-keygen writes) or an unencrypted OpenSSH private key with -i.", show(.path))]
    Identity { path: PathBuf, detail: String },
    /// The --extract target exists already.
    #[error("{} already exists; verify --extract never writes into an existing path.\nName a directory that does not exist yet: it is created only once everything verified.", show(.0))]
    ExtractExists(PathBuf),
    /// Writing the extracted files failed.
    #[error("cannot write {}: {source}\nNothing was extracted (the partial directory was removed); free space or fix the permissions, then run verify again.", show(.path))]
    ExtractWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The receipt file (or its signature) exists already.
    #[error("{} already exists; a receipt is never overwritten.\nChoose another --receipt FILE.", show(.0))]
    ReceiptExists(PathBuf),
    /// Writing the receipt failed.
    #[error("cannot write the receipt {}: {source}\nThe archive verified; run verify again with a writable --receipt FILE.", show(.path))]
    ReceiptWrite {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<ShredError> for Error {
    fn from(e: ShredError) -> Self {
        Error::Shred(e)
    }
}

/// Something in a deletion plan that stops the run before anything is touched.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocker {
    /// Stable snake_case name for scripts (`hard_link_outside`, `not_writable`, ...).
    pub kind: &'static str,
    pub path: PathBuf,
    /// What is wrong, for people.
    pub message: String,
}

/// How many blockers a message lists before summarising the rest.
const BLOCKERS_SHOWN: usize = 10;

fn list_blockers(b: &[Blocker]) -> String {
    let mut s = String::new();
    for x in b.iter().take(BLOCKERS_SHOWN) {
        s.push_str(&format!("\n  - {}: {}", show(&x.path), x.message));
    }
    if b.len() > BLOCKERS_SHOWN {
        s.push_str(&format!("\n  ... and {} more", b.len() - BLOCKERS_SHOWN));
    }
    s
}

/// Errors from secure deletion (`shred`, `delete`) and its certificates.
#[derive(Debug, thiserror::Error)]
pub enum ShredError {
    /// The plan found blockers; nothing was touched.
    #[error("the deletion plan has {} blocker(s); nothing was deleted:{}\nFix them (or leave those paths out) and run again; --dry-run shows the plan.", .0.len(), list_blockers(.0))]
    Blocked(Vec<Blocker>),
    /// `delete` before the client's receipt is confirmed.
    #[error(
        "no receipt is recorded for handover {0}; nothing was deleted.\nAsk the client for the receipt code, then run `handover confirm`. To delete without it, pass --without-receipt --reason \"why\"."
    )]
    NoReceipt(String),
    /// `--without-receipt` with an empty reason.
    #[error("--without-receipt needs a --reason that says why; it goes into the certificate.")]
    EmptyReason,
    /// Confirmation is needed and cannot be asked.
    #[error(
        "nothing was deleted: the plan needs confirmation and stdin is not a terminal.\nCheck the plan with --dry-run, then run again with --yes to delete without asking."
    )]
    CannotAsk,
    /// The user answered no.
    #[error("nothing was deleted: not confirmed.")]
    Declined,
    /// The handover's copies were already deleted and certified.
    #[error(
        "handover {handover_id} was already deleted; its certificate is {certificate_id}.\nSee it with `handover certificate show {certificate_id}`."
    )]
    AlreadyDeleted {
        handover_id: String,
        certificate_id: String,
    },
    /// None of the paths exists any more (delete), so there is nothing to certify.
    #[error(
        "nothing to delete: none of the recorded paths exists any more.\nNo certificate was issued; a certificate is only written for a deletion this tool carried out."
    )]
    NothingToDelete,
    /// An unfinished job for the handover covers other paths than this run would.
    #[error("an interrupted deletion job {job_id} for this handover covers other paths ({}).\nRun the same command as before (same --also paths) to finish it first.", .roots.iter().map(|p| show(p)).collect::<Vec<_>>().join(", "))]
    JobRootsDiffer { job_id: String, roots: Vec<PathBuf> },
    /// Some entries could not be deleted; the job stays open.
    #[error("{failed} entr{} could not be deleted (first: {}: {first_reason}).\nNo certificate was issued. The job {job_id} is recorded: fix the cause and run the same command again to finish it.", if *.failed == 1 { "y" } else { "ies" }, show(.first))]
    Incomplete {
        job_id: String,
        failed: usize,
        first: PathBuf,
        first_reason: String,
        /// True when an I/O error (not a failed check) stopped an entry.
        io: bool,
    },
    /// An I/O error while planning or deleting.
    #[error("{}: {source}", show(.path))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Stopped by Ctrl-C or SIGTERM at a file boundary; what was done is recorded.
    #[error("interrupted: stopped after the file in progress; the {done} entr{} this run finished are recorded in job {job_id}.\nNo certificate was issued yet. Run the same command again to finish the job; it resumes where this run stopped.", if *.done == 1 { "y" } else { "ies" })]
    Interrupted { job_id: String, done: u64 },
    /// The certificate could not be written.
    #[error("cannot write the certificate {}: {source}\nEverything was deleted and is recorded; run the same command again to write the certificate.", show(.path))]
    CertificateWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A hold covers a path of this run (the handover's own, or a shared source's).
    #[error("deletion refused: {}; nothing was deleted.\nA hold keeps every path its handover recorded (source, archive, manifest, signature). Whoever placed it lifts it with `handover release ID`; then run this again.", list_holds(.0))]
    Held(Vec<HoldInfo>),
    /// Paths of this run are also recorded for handovers that are not clear to delete.
    #[error("deletion refused: {}; nothing was deleted.\nA path shared by several handovers is deleted only when every one of them is clear: confirm each client's receipt (`handover confirm`), or delete that handover first (`handover delete ID`, with --without-receipt --reason \"why\" if there will be no receipt).", list_not_clear(.0))]
    NotClear(Vec<RelatedHandover>),
    /// Another process is deleting the same handover or overlapping paths.
    #[error(
        "another deletion of {what} is running: {holder}; this run did nothing.\nWait for it to finish: running this again then reports the deletion done. If that process was killed, run this again on its host and its lease is taken over; a lease from another host lapses at {until}."
    )]
    Busy {
        what: String,
        holder: String,
        until: String,
    },
    /// The recorded jobs changed between the plan and the start of the job.
    #[error(
        "another run started or finished a deletion of these paths while this one was planning; nothing was deleted by this run.\nRun the same command again."
    )]
    PlanOutOfDate,
    /// `certificate check`: the certificate file cannot be read or is not a certificate.
    #[error("cannot read the certificate {}: {detail}\nGive the NAME.deletion-certificate.json file the provider sent.", show(.path))]
    CertificateRead { path: PathBuf, detail: String },
    /// `certificate check`: the extracted bag cannot be read.
    #[error("cannot read the bag {}: {source}\nGive the folder `handover verify --extract DIR` (or tar) made: it holds data/ and manifest-sha256.txt.", show(.path))]
    BagRead {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A hold that refuses a deletion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HoldInfo {
    pub handover_id: String,
    pub client: String,
    pub reason: String,
    pub held_at: Option<String>,
    /// `label: path` of each recorded path of that handover this run would touch.
    pub paths: Vec<String>,
}

/// A recorded handover whose paths overlap a deletion's paths.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RelatedHandover {
    pub handover_id: String,
    pub client: String,
    /// `label: path` of each recorded path this run would touch.
    pub paths: Vec<String>,
    pub receipt_confirmed: bool,
    /// Its deletion already ran (certificate, or nothing was left).
    pub deleted: bool,
    /// The hold on it, if any.
    pub hold: Option<String>,
    /// Deleting its paths is allowed: receipt confirmed or already deleted, and no hold (for
    /// the handover a `delete` names, its own receipt or reason decides instead).
    pub clear: bool,
}

fn list_holds(h: &[HoldInfo]) -> String {
    h.iter()
        .map(|x| {
            format!(
                "handover {} ({}) is on hold{}: {} (it covers {})",
                x.handover_id,
                x.client,
                x.held_at
                    .as_ref()
                    .map(|t| format!(" since {t}"))
                    .unwrap_or_default(),
                x.reason,
                x.paths.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn list_not_clear(h: &[RelatedHandover]) -> String {
    h.iter()
        .map(|x| {
            format!(
                "{} is also recorded for handover {} ({}), whose client's receipt is not confirmed",
                x.paths.join(", "),
                x.handover_id,
                x.client
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl VerifyError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::ArchiveUnreadable { .. } => "archive_unreadable",
            VerifyError::ManifestUnreadable { .. } => "manifest_unreadable",
            VerifyError::Identity { .. } => "identity_unusable",
            VerifyError::ExtractExists(_) => "extract_target_exists",
            VerifyError::ExtractWrite { .. } => "extract_write_failed",
            VerifyError::ReceiptExists(_) => "receipt_exists",
            VerifyError::ReceiptWrite { .. } => "receipt_write_failed",
        }
    }
}

/// Errors from `confirm`: the client's proof of receipt is missing, wrong or tampered with.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt file cannot be read.
    #[error("cannot read the receipt {}: {source}", show(.path))]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The receipt is not a handover receipt.
    #[error("{} is not a handover receipt ({detail}).\nAsk the client for the receipt.json that `handover verify --receipt` wrote.", show(.path))]
    Malformed { path: PathBuf, detail: String },
    /// The receipt names a handover this provider never recorded.
    #[error(
        "the receipt is for handover {0}, which is not recorded here.\nNothing was changed. Check that it is your client's receipt and that --home is right (`handover list`)."
    )]
    UnknownHandover(String),
    /// The receipt's archive hash is not the recorded one.
    #[error(
        "the receipt for handover {id} names archive SHA-256 {claimed}, but {recorded} was handed over.\nNothing was changed. The client verified another archive: send the recorded one again."
    )]
    ArchiveMismatch {
        id: String,
        claimed: String,
        recorded: String,
    },
    /// The receipt's manifest hash is not the recorded one.
    #[error(
        "the receipt for handover {0} names another manifest than the one recorded.\nNothing was changed. Send the client the recorded manifest and ask for a new receipt."
    )]
    ManifestMismatch(String),
    /// The receipt code does not match the handover's.
    #[error(
        "wrong receipt code for handover {0}.\nNothing was changed. Ask the client for the code `handover verify` printed (it is also in bag-info.txt)."
    )]
    WrongCode(String),
    /// The client's signature on the receipt does not verify.
    #[error("the signature {} does not match the receipt: it was changed after signing.\nNothing was changed. Ask the client for the receipt again.", show(.0))]
    SignatureInvalid(PathBuf),
    /// Signed by another key than the client's.
    #[error(
        "the receipt is signed by key {signed_by}, not the client's key {expected}.\nNothing was changed. Ask the client to sign with the key bound at export (client_key in the signed manifest), or check --client-key."
    )]
    SignedByOtherKey { signed_by: String, expected: String },
    /// --client-key was given and the receipt carries no signature.
    #[error("--client-key was given but there is no signature {} beside the receipt.\nNothing was changed. Ask the client for the signature file (.minisig, or .sig from ssh-keygen) as well.", show(.0))]
    SignatureMissing(PathBuf),
    /// --client-key names another key than the one bound at export.
    #[error(
        "--client-key is key {given}, but handover {id} was exported with client key {bound} bound in its signed manifest.\nNothing was changed. Leave out --client-key: the bound key is used."
    )]
    NotTheBoundKey {
        id: String,
        given: String,
        bound: String,
    },
    /// An SSH signature made for another purpose than a receipt.
    #[error("the SSH signature {} was made for namespace {namespace:?}, not \"handover-receipt\".\nNothing was changed. The client signs with: ssh-keygen -Y sign -n handover-receipt -f KEY receipt.json", show(.path))]
    SignatureNamespace { path: PathBuf, namespace: String },
    /// ssh-keygen, which checks SSH signatures, could not be run.
    #[error("{0}.\nNothing was changed.")]
    SshKeygen(String),
    /// The client key bound at export cannot be read from the recorded manifest.
    #[error(
        "cannot read the client key bound to handover {id} from its recorded manifest: {detail}.\nNothing was changed. Run `handover audit verify`: the state database may have been altered."
    )]
    BoundKeyUnreadable { id: String, detail: String },
}

impl ReceiptError {
    /// Exit class: an unreadable file is operational; every other case is a refusal.
    pub fn class(&self) -> ExitClass {
        match self {
            ReceiptError::Unreadable { .. } | ReceiptError::SshKeygen(_) => ExitClass::Operational,
            _ => ExitClass::Refused,
        }
    }
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceiptError::Unreadable { .. } => "receipt_unreadable",
            ReceiptError::Malformed { .. } => "receipt_malformed",
            ReceiptError::UnknownHandover(_) => "receipt_unknown_handover",
            ReceiptError::ArchiveMismatch { .. } => "receipt_archive_mismatch",
            ReceiptError::ManifestMismatch(_) => "receipt_manifest_mismatch",
            ReceiptError::WrongCode(_) => "wrong_receipt_code",
            ReceiptError::SignatureInvalid(_) => "receipt_signature_invalid",
            ReceiptError::SignedByOtherKey { .. } => "receipt_signed_by_other_key",
            ReceiptError::SignatureMissing(_) => "receipt_signature_missing",
            ReceiptError::NotTheBoundKey { .. } => "client_key_not_bound",
            ReceiptError::SignatureNamespace { .. } => "receipt_signature_namespace",
            ReceiptError::SshKeygen(_) => "ssh_keygen_unavailable",
            ReceiptError::BoundKeyUnreadable { .. } => "bound_client_key_unreadable",
        }
    }
}

impl ShredError {
    /// The exit class: refusals and failed checks 3, I/O 1, a signal 130.
    pub fn class(&self) -> ExitClass {
        match self {
            ShredError::Io { .. }
            | ShredError::CertificateWrite { .. }
            | ShredError::CertificateRead { .. }
            | ShredError::BagRead { .. } => ExitClass::Operational,
            ShredError::Incomplete { io: true, .. } => ExitClass::Operational,
            ShredError::Interrupted { .. } => ExitClass::Interrupted,
            _ => ExitClass::Refused,
        }
    }
}

/// Result with the top-level error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable snake_case names for scripts (`--json` prints them as `error.kind`); messages may
/// change, kinds do not.
impl Error {
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Key(e) => match e {
                KeyError::Exists(_) => "key_exists",
                KeyError::Unreadable { .. } => "key_unreadable",
                KeyError::Malformed { .. } => "key_malformed",
                KeyError::WrongPassword(_) => "key_wrong_password",
                KeyError::NoPassword(_) => "key_no_password",
                KeyError::PublicKey { .. } => "public_key_invalid",
                KeyError::BadRecipient { .. } => "recipient_invalid",
                KeyError::BadRecipientLine { .. } => "recipients_file_invalid",
                KeyError::RecipientsFile { .. } => "recipients_file_unreadable",
                KeyError::NoRecipients => "no_recipients",
                KeyError::Write { .. } => "key_write_failed",
                KeyError::Crypto(_) => "key_error",
                KeyError::NoDelegation { .. } => "key_no_delegation",
                KeyError::BadDelegation { .. } => "delegation_invalid",
            },
            Error::Export(e) => match e {
                ExportError::BadName { .. } => "bad_name",
                ExportError::DataMissing(_) => "data_missing",
                ExportError::NotADirectory(_) => "data_not_a_directory",
                ExportError::OutInsideData { .. } => "out_inside_data",
                ExportError::OutputExists(_) => "output_exists",
                ExportError::Unreadable { .. } => "file_unreadable",
                ExportError::Changed { .. } => "file_changed",
                ExportError::SpecialFile { .. } => "special_file",
                ExportError::NonUtf8Names { .. } => "non_utf8_name",
                ExportError::Write { .. } => "write_failed",
                ExportError::Walk { .. } => "walk_failed",
                ExportError::Option(_) => "bad_option",
                ExportError::Interrupted => "interrupted",
            },
            Error::Store(e) => match e {
                StoreError::Locked(_) => "database_locked",
                StoreError::Corrupt { .. } => "database_corrupt",
                StoreError::Other { .. } => "database_error",
                StoreError::Home { .. } => "home_unusable",
                StoreError::NotFound(_) => "handover_not_found",
                StoreError::Ambiguous(_) => "handover_id_ambiguous",
                StoreError::CertificateNotFound(_) => "certificate_not_found",
            },
            Error::Audit(AuditError::Broken { .. }) => "audit_chain_broken",
            Error::Audit(AuditError::GateMismatch { .. }) => "audit_gate_mismatch",
            Error::Audit(AuditError::Anchor { .. }) => "audit_anchor_unusable",
            Error::Audit(AuditError::KeyMissing { .. }) => "audit_key_missing",
            Error::Audit(AuditError::KeyPresent(_)) => "audit_key_present",
            Error::Audit(AuditError::ReasonRequired) => "reason_required",
            Error::Audit(AuditError::PublicKeyMissing(_)) => "audit_public_key_missing",
            Error::Schedule(e) => match e {
                ScheduleError::InPast { .. } => "date_in_past",
                ScheduleError::Finished { .. } => "job_finished",
                ScheduleError::ClockBehind { .. } => "clock_behind",
                ScheduleError::HoldAfterDeletion { .. } => "hold_after_deletion",
            },
            Error::Evidence(e) => match e {
                EvidenceError::Exists(_) => "output_exists",
                EvidenceError::NoManifest(_) => "manifest_not_recorded",
                EvidenceError::Write { .. } => "write_failed",
                EvidenceError::Read { .. } => "receipt_unreadable",
                EvidenceError::NotTheConfirmedReceipt(_) => "receipt_not_confirmed_one",
            },
            Error::Io { .. } => "io_error",
            Error::Verify(e) => e.kind(),
            Error::Receipt(e) => e.kind(),
            Error::Shred(e) => match e {
                ShredError::Blocked(_) => "deletion_blocked",
                ShredError::NoReceipt(_) => "no_receipt",
                ShredError::EmptyReason => "reason_required",
                ShredError::CannotAsk => "cannot_ask",
                ShredError::Declined => "declined",
                ShredError::AlreadyDeleted { .. } => "already_deleted",
                ShredError::JobRootsDiffer { .. } => "job_roots_differ",
                ShredError::Incomplete { .. } => "deletion_incomplete",
                ShredError::Io { .. } => "io_error",
                ShredError::CertificateWrite { .. } => "certificate_write_failed",
                ShredError::NothingToDelete => "nothing_to_delete",
                ShredError::Held(_) => "handover_held",
                ShredError::NotClear(_) => "shared_path_not_clear",
                ShredError::Busy { .. } => "deletion_running",
                ShredError::PlanOutOfDate => "plan_out_of_date",
                ShredError::CertificateRead { .. } => "certificate_unreadable",
                ShredError::BagRead { .. } => "bag_unreadable",
                ShredError::Interrupted { .. } => "interrupted",
            },
        }
    }
}
