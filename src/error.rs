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
        "invalid recipient {shown:?}: {why}.\nA recipient is an age public key (age1...) or an ssh-ed25519 / ssh-rsa public key line."
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

/// The top-level error every library command returns.
#[derive(Debug)]
pub enum Error {
    Key(KeyError),
    Export(ExportError),
    Store(StoreError),
    Shred(ShredError),
    /// An I/O error outside a stage with its own enum (reading a file the user named, ...).
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    /// The exit class of this error.
    pub fn class(&self) -> ExitClass {
        match self {
            Error::Key(_) | Error::Export(_) | Error::Store(_) | Error::Io { .. } => {
                ExitClass::Operational
            }
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
            Error::Shred(e) => e.fmt(f),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
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
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
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
    /// The certificate could not be written.
    #[error("cannot write the certificate {}: {source}\nEverything was deleted and is recorded; run the same command again to write the certificate.", show(.path))]
    CertificateWrite {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ShredError {
    /// The exit class: refusals and failed checks 3, I/O 1.
    pub fn class(&self) -> ExitClass {
        match self {
            ShredError::Io { .. } | ShredError::CertificateWrite { .. } => ExitClass::Operational,
            ShredError::Incomplete { io: true, .. } => ExitClass::Operational,
            _ => ExitClass::Refused,
        }
    }
}

/// Result with the top-level error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
