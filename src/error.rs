//! Errors: one enum per stage, one top-level [`Error`], and the exit class each maps to.
//!
//! Every message says what happened and, where there is one, what to do next. Messages name
//! paths, key ids and line numbers, never file contents, passwords or keys.
//!
//! Each enum has its `kind()` (the stable snake_case name `--json` prints) and `class()` (how
//! the binary exits) right below it; [`Error`] only delegates. A variant carries the cause it
//! wraps as its `source`, and [`Error`] is transparent, so the chain reaches the I/O, SQLite or
//! minisign error underneath.

use std::path::PathBuf;

/// How the binary should exit for an error: each class is one row of the exit-code table
/// ([`ExitClass::code`], [`ExitClass::meaning`]); the binary adds 0 (success) and 2 (usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

impl ExitClass {
    /// Every class, in the order of their codes.
    pub const ALL: [ExitClass; 4] = [
        ExitClass::Operational,
        ExitClass::Refused,
        ExitClass::Waiting,
        ExitClass::Interrupted,
    ];

    /// The process exit code: the one place a class becomes a number.
    pub const fn code(self) -> u8 {
        match self {
            ExitClass::Operational => 1,
            ExitClass::Refused => 3,
            ExitClass::Waiting => 4,
            ExitClass::Interrupted => 130,
        }
    }

    /// What the code means, in the words of the README's exit-code table.
    pub const fn meaning(self) -> &'static str {
        match self {
            ExitClass::Operational => {
                "operational error: I/O, bad key file, locked or corrupt database"
            }
            ExitClass::Refused => {
                "a check failed or a safety rule refused: verification failure, tampering, no receipt, unsafe deletion (a blocker in the plan, not confirmed, a read-back mismatch; nothing is deleted on a refusal)"
            }
            ExitClass::Waiting => "work left waiting (`run-due` with due jobs held back)",
            ExitClass::Interrupted => {
                "interrupted by Ctrl-C or SIGTERM (`shred`/`delete`: stopped at a file boundary, progress recorded; run the same command again to finish)"
            }
        }
    }
}

/// Shows a path for a message, bytes that are not UTF-8 escaped rather than dropped.
pub(crate) fn show(p: &std::path::Path) -> String {
    format!("{:?}", p.as_os_str()).trim_matches('"').to_string()
}

/// The top-level error every library command returns: one variant per stage, each shown as
/// its stage's error (`transparent`), so `source()` reaches the cause (an I/O or SQLite error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Key handling: generation, loading, recipients.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The export stage.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The state database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The deletion schedule.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The evidence pack.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// Secure deletion and its certificates.
    #[error(transparent)]
    Shred(#[from] ShredError),
    /// `verify` could not judge the archive.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// `confirm`: the client's proof of receipt.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// This program's own path cannot be found (`timer` writes it into the unit).
    #[error("cannot find this program's path: {0}")]
    ProgramPath(#[source] std::io::Error),
    /// Client profiles.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Object storage (`s3://` and presigned `https://` locations).
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

impl Error {
    /// The exit class of this error.
    pub fn class(&self) -> ExitClass {
        match self {
            Error::Key(e) => e.class(),
            Error::Export(e) => e.class(),
            Error::Store(e) => e.class(),
            Error::Audit(e) => e.class(),
            Error::Schedule(e) => e.class(),
            Error::Evidence(e) => e.class(),
            Error::Shred(e) => e.class(),
            Error::Verify(e) => e.class(),
            Error::Receipt(e) => e.class(),
            Error::ProgramPath(_) => ExitClass::Operational,
            Error::Client(e) => e.class(),
            Error::Remote(e) => e.class(),
        }
    }

    /// Stable snake_case names for scripts (`--json` prints them as `error.kind`); messages
    /// may change, kinds do not.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Key(e) => e.kind(),
            Error::Export(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Audit(e) => e.kind(),
            Error::Schedule(e) => e.kind(),
            Error::Evidence(e) => e.kind(),
            Error::Shred(e) => e.kind(),
            Error::Verify(e) => e.kind(),
            Error::Receipt(e) => e.kind(),
            Error::ProgramPath(_) => "io_error",
            Error::Client(e) => e.kind(),
            Error::Remote(e) => e.kind(),
        }
    }
}

/// Result with the top-level error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from key handling: generation, loading, recipients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        /// The file that cannot be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file is not a minisign secret key.
    #[error("{} is not a usable minisign secret key ({detail}).\nUse a key made by `handover keygen`.", show(.path))]
    Malformed {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// Wrong password for an encrypted key.
    #[error("wrong password for the signing key {}.\nSet HANDOVER_KEY_PASSWORD or type the password at the prompt.", show(.0))]
    WrongPassword(PathBuf),
    /// The key is encrypted and no password could be obtained.
    #[error("the signing key {} is password-protected and no password was given.\nSet HANDOVER_KEY_PASSWORD, or run on a terminal to be asked.", show(.0))]
    NoPassword(PathBuf),
    /// A public key given as a string (`--signer-key RW...`) does not parse.
    #[error("cannot use the public key given with --signer-key: {source}")]
    PublicKeyString {
        /// The underlying error.
        #[source]
        source: minisign::PError,
    },
    /// A public key file is not a key of the kind expected.
    #[error("cannot use the public key {}: {detail}", show(.path))]
    PublicKeyFile {
        /// The file or folder concerned.
        path: PathBuf,
        /// Why it is not a public key.
        detail: String,
    },
    /// A public key was asked for and neither a file nor a string was given.
    #[error("cannot use the public key (none given): no key")]
    NoPublicKey,
    /// The client's public key file (`--client-key`) cannot be read: it is the client's key,
    /// so `keygen` and `--sign-key` are no help.
    #[error("cannot read the client's public key {}: {source}\nGive the client's public key file with --client-key FILE (minisign .pub, or an ssh-ed25519 public key line).", show(.path))]
    ClientKeyUnreadable {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A recipient given with -r is not one we know.
    #[error(
        "invalid recipient {shown}: {why}.\nA recipient is an age public key (age1...) or an ssh-ed25519 / ssh-rsa public key line."
    )]
    BadRecipient {
        /// The value as it may be shown: a public key in part, else only its length.
        shown: String,
        /// Why it is not a recipient.
        why: String,
    },
    /// A line of a recipients file (-R) is not a recipient. The line itself is not printed:
    /// it could be a secret pasted into the wrong file.
    #[error("{}: line {line} is not a recipient.\nEach line must be an age1... key or an ssh-ed25519 / ssh-rsa public key; # starts a comment.", show(.path))]
    BadRecipientLine {
        /// The file or folder concerned.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
    },
    /// A recipients file could not be read.
    #[error("cannot read recipients file {}: {source}", show(.path))]
    RecipientsFile {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
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
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// minisign could not generate a key pair.
    #[error("key generation failed: {0}")]
    Generate(#[source] minisign::PError),
    /// minisign could not encode a new key for its file.
    #[error("{0}")]
    Encode(#[source] minisign::PError),
    /// minisign could not sign.
    #[error("signing failed: {0}")]
    Sign(#[source] minisign::PError),
    /// `keygen` without `--no-password`, and no password for the new key (none typed, the
    /// two typed differ, or it is empty).
    #[error(
        "no password for the new key.\nType one at the prompt, set HANDOVER_KEY_PASSWORD, or pass --no-password for automation."
    )]
    NoNewPassword,
    /// A certificate must be signed without anyone to type the provider key's password
    /// (`run-due` from cron or systemd), and no certificate key is authorised yet.
    #[error("deletion certificates cannot be signed unattended: the provider key {} is password-protected, and {} holds no authorised certificate key (cert.key with cert-delegation.json) yet.\nRun this once, on a terminal: handover --home {} delegate\nIt asks the provider key's password once and authorises cert.key, which then signs deletion certificates without a password (run-due from cron or systemd included).", show(.key), show(.home), show(.home))]
    NoDelegation {
        /// The home folder.
        home: PathBuf,
        /// The provider's signing key.
        key: PathBuf,
    },
    /// The certificate key's delegation is missing a part, does not verify, or does not match.
    #[error("the certificate-key delegation {} cannot be used: {problem}.\nRun `handover delegate --renew` on a terminal to authorise the certificate key again.", show(.path))]
    BadDelegation {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: DelegationProblem,
    },
    /// `keygen`: the password typed the second time differs from the first.
    #[error(
        "the two passwords typed differ; no key was written.\nRun keygen again and type the same password twice."
    )]
    PasswordMismatch,
    /// `-r` was given a path to a file: recipients files go with -R.
    #[error(
        "-r takes a public key, but {} is a file.\nTo read recipients from a file, use -R {}.", show(.0), show(.0)
    )]
    RecipientIsFile(PathBuf),
}

impl KeyError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyError::Exists(_) => "key_exists",
            KeyError::Unreadable { .. } | KeyError::ClientKeyUnreadable { .. } => "key_unreadable",
            KeyError::Malformed { .. } => "key_malformed",
            KeyError::WrongPassword(_) => "key_wrong_password",
            KeyError::NoPassword(_) => "key_no_password",
            KeyError::PublicKeyString { .. }
            | KeyError::PublicKeyFile { .. }
            | KeyError::NoPublicKey => "public_key_invalid",
            KeyError::BadRecipient { .. } => "recipient_invalid",
            KeyError::BadRecipientLine { .. } => "recipients_file_invalid",
            KeyError::RecipientsFile { .. } => "recipients_file_unreadable",
            KeyError::NoRecipients => "no_recipients",
            KeyError::Write { .. } => "key_write_failed",
            // One kind for what was a single catch-all, so scripts see what they saw before.
            KeyError::Generate(_)
            | KeyError::Encode(_)
            | KeyError::Sign(_)
            | KeyError::NoNewPassword => "key_error",
            KeyError::NoDelegation { .. } => "key_no_delegation",
            KeyError::BadDelegation { .. } => "delegation_invalid",
            KeyError::PasswordMismatch => "password_mismatch",
            KeyError::RecipientIsFile(_) => "recipient_invalid",
        }
    }
    /// Exit class: a key that cannot be had or used stops the operation (1).
    pub fn class(&self) -> ExitClass {
        ExitClass::Operational
    }
}

/// Why a certificate-key delegation cannot be used (the middle of
/// [`KeyError::BadDelegation`]'s message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationProblem {
    /// The provider key did not sign it.
    #[error("its signature does not verify with the provider key: {0:?}")]
    Signature(SigProblem),
    /// The document is not a delegation.
    #[error("it does not parse: {0}")]
    Unparsable(#[source] serde_json::Error),
    /// Another format or purpose than a certificate-key delegation.
    #[error("format {format:?}, purpose {purpose:?}")]
    Format {
        /// The format the document names.
        format: String,
        /// The purpose the document names.
        purpose: String,
    },
    /// It names another provider key than the home's.
    #[error("it names another provider key")]
    OtherProviderKey,
    /// It authorises another key than the certificate key file holds.
    #[error("it authorises key {authorised}, but {file} is key {actual}")]
    OtherKeyFile {
        /// The key id the delegation authorises.
        authorised: String,
        /// The certificate key file.
        file: &'static str,
        /// The key id that file holds.
        actual: String,
    },
    /// It authorises another key than the one that signed the certificate.
    #[error("it authorises key {authorised}, but the certificate was signed by key {signer}")]
    OtherCertificateSigner {
        /// The key id the delegation authorises.
        authorised: String,
        /// The key id that signed the certificate.
        signer: String,
    },
    /// Written just now, and not readable afterwards.
    #[error("it was written but cannot be read back")]
    NotReadBack,
}

/// Errors from the export stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The client name would make a bad file name.
    #[error(
        "invalid {what} {value:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'."
    )]
    BadName {
        /// "client name" or "name".
        what: &'static str,
        /// The name given.
        value: String,
    },
    /// The data directory is missing.
    #[error("data directory {} does not exist.", show(.0))]
    DataMissing(PathBuf),
    /// The data path is not a directory.
    #[error("{} is not a directory; export takes the client's data directory.", show(.0))]
    NotADirectory(PathBuf),
    /// The output directory lies inside the data directory: the archive would contain itself.
    #[error("the output directory {} is inside the data directory {}.\nChoose an --out outside the client's data.", show(.out), show(.data))]
    OutInsideData {
        /// The output directory.
        out: PathBuf,
        /// The data directory.
        data: PathBuf,
    },
    /// An output file exists already.
    #[error("{} already exists; export never overwrites.\nChoose another --name or --out.", show(.0))]
    OutputExists(PathBuf),
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}\nFix its permissions (or remove it from the data directory) and run export again.", show(.path))]
    Unreadable {
        /// The file that cannot be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file changed while it was being read.
    #[error("{} changed while it was being read ({what}).\nStop whatever writes to the client's data, then run export again.", show(.path))]
    Changed {
        /// The file or folder concerned.
        path: PathBuf,
        /// What changed (size, modification time, ...).
        what: &'static str,
    },
    /// A fifo, socket or device file: it has no content to hand over.
    #[error("{} is a {kind}, which cannot be handed over as data.\nRemove it from the data directory (or copy the data without it) and run export again.", show(.path))]
    SpecialFile {
        /// The file or folder concerned.
        path: PathBuf,
        /// fifo, socket, device, ...
        kind: &'static str,
    },
    /// --strict-names and a name that is not UTF-8.
    #[error("--strict-names: {count} name(s) are not valid UTF-8, the first {}.\nRename them, or export without --strict-names (they are stored exactly and listed in a warning).", show(.first))]
    NonUtf8Names {
        /// How many names are not UTF-8.
        count: usize,
        /// The first of them.
        first: PathBuf,
    },
    /// Writing an output failed (disk full, I/O error).
    #[error("cannot write {}: {source}\nNo output was left behind; free space or fix the output directory and run export again.", show(.path))]
    Write {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The zstd level is outside 1 to 22.
    #[error("--level {0} is out of range; zstd levels run from 1 to 22 (default 3).")]
    LevelOutOfRange(i32),
    /// The home folder or the signing key lies inside the data directory: it would be handed
    /// over to the client.
    #[error("the {what} {} is inside the data directory {}: it would be handed over to the client.\nKeep the home folder (--home, HANDOVER_HOME) and the signing key outside the client's data.", show(.path), show(.data))]
    SecretInsideData {
        /// "home folder" or "signing key".
        what: &'static str,
        /// The home folder or key file.
        path: PathBuf,
        /// The data directory.
        data: PathBuf,
    },
    /// An object under the source prefix whose key cannot be a file of the bag.
    #[error(
        "cannot export s3://{bucket}/{key}: {why}.\nRename the object (or move it out of the prefix) and run export again; nothing was written."
    )]
    BadKey {
        /// The bucket.
        bucket: String,
        /// The object's key, as listed.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// Stopped by a signal (Ctrl-C, SIGTERM).
    #[error("export interrupted; no output was left behind.")]
    Interrupted,
}

impl ExportError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
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
            ExportError::BadKey { .. } => "bad_key",
            ExportError::LevelOutOfRange(_) | ExportError::SecretInsideData { .. } => "bad_option",
            ExportError::Interrupted => "interrupted",
        }
    }
    /// Exit class: every export error is operational (1), except an interrupted export, which
    /// exits 130 as the exit-code table says of Ctrl-C and SIGTERM.
    pub fn class(&self) -> ExitClass {
        match self {
            ExportError::Interrupted => ExitClass::Interrupted,
            _ => ExitClass::Operational,
        }
    }
}

/// Errors from the local state database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database is busy: another handover process holds it.
    #[error("the state database {} is locked by another handover process.\nWait for it to finish and try again.", show(.0))]
    Locked(PathBuf),
    /// The database file is not a database or is corrupt.
    #[error("the state database {} is unreadable or corrupt ({problem}).\nRestore it from a backup; nothing was changed.", show(.path))]
    Corrupt {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: Corruption,
    },
    /// Any other SQLite failure.
    #[error("state database {}: {source}", show(.path))]
    Sqlite {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// The home folder could not be made or used.
    #[error("cannot use the home folder {}: {source}\nPass --home DIR or set HANDOVER_HOME.", show(.path))]
    Home {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
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
    /// A name, a client's name or an id prefix that fits several handovers.
    #[error("{}", candidates_message(&format!("{given:?} matches {} handovers:", candidates.len()), candidates, "Give the name or the id of the one you mean (or at least 4 characters of an id that only it starts with)."))]
    HandoverAmbiguous {
        /// What was given.
        given: String,
        /// Every handover it fits.
        candidates: Vec<HandoverCandidate>,
    },
    /// An id prefix too short to pick a handover.
    #[error(
        "{0:?} is too short to pick a handover: give at least 4 characters of its id, its name, or its client's name.\nRun `handover list` to see the recorded handovers."
    )]
    PrefixTooShort(String),
    /// A client's name whose handovers are all finished (deleted or voided).
    #[error("{}", candidates_message(&format!("client {client:?} has no handover in progress (none that is not deleted or voided); its handovers:"), candidates, "Give the name or the id of the one you mean."))]
    ClientNotInProgress {
        /// The client's name, as given.
        client: String,
        /// Its finished handovers.
        candidates: Vec<HandoverCandidate>,
    },
}

/// A handover an ambiguous reference could mean, as the error lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandoverCandidate {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The handover's name.
    pub name: String,
    /// When it was exported (UTC, RFC 3339).
    pub created_at: String,
    /// How far it got.
    pub state: HandoverState,
}

/// How far a handover got, as name resolution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverState {
    /// Exported; no receipt confirmed yet.
    Exported,
    /// The client's receipt is confirmed.
    Received,
    /// Its local copies were deleted (finished).
    Deleted,
    /// Withdrawn with `handover void` (finished).
    Voided,
}

impl HandoverState {
    /// The word lists and errors show.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoverState::Exported => "exported",
            HandoverState::Received => "received",
            HandoverState::Deleted => "deleted",
            HandoverState::Voided => "voided",
        }
    }

    /// Deleted or voided: nothing is left to do with it.
    pub fn finished(self) -> bool {
        matches!(self, HandoverState::Deleted | HandoverState::Voided)
    }
}

/// `head`, one line per candidate (id, name, created, state), then `next`.
fn candidates_message(head: &str, candidates: &[HandoverCandidate], next: &str) -> String {
    let width = candidates.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut s = head.to_string();
    for c in candidates {
        s.push_str(&format!(
            "\n  {}  {:width$}  {}  {}",
            c.handover_id,
            c.name,
            c.created_at,
            c.state.as_str()
        ));
    }
    s.push('\n');
    s.push_str(next);
    s
}

impl StoreError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Locked(_) => "database_locked",
            StoreError::Corrupt { .. } => "database_corrupt",
            StoreError::Sqlite { .. } => "database_error",
            StoreError::Home { .. } => "home_unusable",
            StoreError::NotFound(_) => "handover_not_found",
            StoreError::Ambiguous(_) => "handover_id_ambiguous",
            StoreError::CertificateNotFound(_) => "certificate_not_found",
            StoreError::HandoverAmbiguous { .. } => "handover_id_ambiguous",
            StoreError::PrefixTooShort(_) => "handover_id_too_short",
            StoreError::ClientNotInProgress { .. } => "handover_not_found",
        }
    }
    /// Exit class: the database cannot be used or holds no such record (1).
    pub fn class(&self) -> ExitClass {
        ExitClass::Operational
    }
}

/// What is corrupt in the state database (inside [`StoreError::Corrupt`]'s message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// SQLite says it is not a database, or a corrupt one.
    #[error("{0}")]
    Sqlite(#[source] rusqlite::Error),
    /// A state column holds what handover never writes.
    #[error("{0}")]
    Edited(UnknownState),
    /// A stored deletion certificate does not parse.
    #[error("certificate {id} does not parse: {source}")]
    Certificate {
        /// The certificate's id.
        id: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The hash chain or its signed head does not hold.
    #[error(
        "the audit log was tampered with at row {seq}: {what}.\nRestore the state database from a backup and find out who changed it."
    )]
    Broken {
        /// The first row that does not hold.
        seq: i64,
        /// How it does not hold.
        what: ChainBreak,
    },
    /// A receipt, hold or schedule in the database disagrees with the audited history.
    #[error(
        "handover {handover_id}: {what}.\nNothing was deleted. The gate tables must match the audit log; restore the state database from a backup, or redo the step with handover (confirm, hold, schedule) so that it is audited."
    )]
    GateMismatch {
        /// The handover's id.
        handover_id: String,
        /// What disagrees.
        what: String,
    },
    /// A client profile in the database is not the one the audit log recorded last.
    #[error(
        "client profile {client}: {what}.\nNothing was changed. A profile counts only as the audit log recorded it (client add/edit/remove): restore the state database from a backup, or record it again through handover (`handover client remove {client}`, then `handover client add {client} ...`) so that it is audited."
    )]
    ProfileMismatch {
        /// The client's name.
        client: String,
        /// What disagrees.
        what: String,
    },
    /// A document given to `audit verify --against` cannot serve as an anchor.
    #[error("{}: {what}", show(.file))]
    Anchor {
        /// The document given.
        file: std::path::PathBuf,
        /// Why it cannot serve.
        #[source]
        what: AnchorProblem,
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
        /// Where audit.key should be.
        path: PathBuf,
        /// How many events the log holds.
        events: i64,
        /// The audit key's id, from audit.pub.
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

impl AuditError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditError::Broken { .. } => "audit_chain_broken",
            AuditError::GateMismatch { .. } | AuditError::ProfileMismatch { .. } => {
                "audit_gate_mismatch"
            }
            AuditError::Anchor { .. } => "audit_anchor_unusable",
            AuditError::KeyMissing { .. } => "audit_key_missing",
            AuditError::KeyPresent(_) => "audit_key_present",
            AuditError::ReasonRequired => "reason_required",
            AuditError::PublicKeyMissing(_) => "audit_public_key_missing",
        }
    }
    /// Exit class: tampering and refusals 3; a missing key file is operational (1), like any
    /// other unreadable key, and so is an `--against` document that cannot be read (a typo
    /// in its path is not a failed check).
    pub fn class(&self) -> ExitClass {
        match self {
            AuditError::KeyMissing { .. }
            | AuditError::Anchor {
                what: AnchorProblem::Read(_),
                ..
            } => ExitClass::Operational,
            _ => ExitClass::Refused,
        }
    }
}

/// Where and how the audit log's hash chain or its signed heads do not hold (inside
/// [`AuditError::Broken`]'s message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// A row number is skipped.
    #[error("row {seq} is missing (the next row is {next})")]
    RowMissing {
        /// The missing row.
        seq: i64,
        /// The row that comes next instead.
        next: i64,
    },
    /// A row's link does not name the row before it.
    #[error("row {seq} does not follow row {} (deleted, inserted or reordered rows)", .seq - 1)]
    OutOfOrder {
        /// The row that does not follow.
        seq: i64,
    },
    /// A row's hash does not match its content.
    #[error("row {seq} ({command}) was edited after it was written")]
    Edited {
        /// The edited row.
        seq: i64,
        /// The command it records.
        command: String,
    },
    /// Rows and no signed head.
    #[error("the signed heads of the chain are missing, on a log that has rows")]
    NoHeads,
    /// A signed head names a row past the end.
    #[error(
        "a signed head names row {head} but the chain ends at row {last} (rows removed from the end)"
    )]
    TailRemoved {
        /// The row the signed head names.
        head: i64,
        /// The last row there is.
        last: i64,
    },
    /// A row's hash is not the one its signed head recorded.
    #[error(
        "row {seq} no longer has the hash its signed head recorded (the chain was rewritten and re-hashed)"
    )]
    Rehashed {
        /// The rewritten row.
        seq: i64,
    },
    /// A signed head's signature does not verify.
    #[error("the signature on the signed head of this row does not verify with audit.pub")]
    HeadSignature,
    /// Rows after the last signed head.
    #[error("rows {from}..{to} carry no signed head (appended outside handover)")]
    Unsigned {
        /// The first row without a signed head.
        from: i64,
        /// The last row.
        to: i64,
    },
    /// An anchor document names a row past the end of the log.
    #[error(
        "{} was made at row {made_at}, but the log now ends at row {last}: the database was rolled back or its tail removed",
        show(.file)
    )]
    RolledBack {
        /// The anchor document.
        file: PathBuf,
        /// The row it was made at.
        made_at: i64,
        /// The last row there is now.
        last: i64,
    },
    /// An anchor document's row has another hash now.
    #[error(
        "row {seq} is not the row {} recorded: the log was rewritten before that point",
        show(.file)
    )]
    RewrittenBefore {
        /// The row the document was made at.
        seq: i64,
        /// The anchor document.
        file: PathBuf,
    },
}

/// Why a document given to `audit verify --against` cannot serve as an anchor (after its
/// name in [`AuditError::Anchor`]'s message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorProblem {
    /// The document cannot be read.
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    /// It is not JSON.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// It carries no checkpoint.
    #[error(
        "it carries no audit checkpoint (documents made before checkpoints existed carry none)"
    )]
    NoCheckpoint,
    /// Its checkpoint is signed by another key than this home's audit key.
    #[error("its checkpoint is not signed by this home's audit key (it names key {key_id})")]
    NotSigned {
        /// The key id the checkpoint names.
        key_id: String,
    },
}

/// Errors from the deletion schedule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A date in the past: a typo must not delete data today.
    #[error(
        "the deletion date {due} is in the past; a typo must not delete data today.\nCheck the date, or pass --allow-past if deleting now is really meant."
    )]
    InPast {
        /// The date given.
        due: String,
    },
    /// The job has already run.
    #[error(
        "the deletion job of handover {handover_id} has already finished ({state}); there is nothing left to schedule."
    )]
    Finished {
        /// The handover's id.
        handover_id: String,
        /// The job's state.
        state: String,
    },
    /// The clock is behind the last recorded event.
    #[error(
        "the clock says {now}, but the state database recorded an event at {last}: the clock is behind.\nFix the system time (NTP) before running deletions; nothing was run."
    )]
    ClockBehind {
        /// The clock's time.
        now: String,
        /// The time of the last recorded event.
        last: String,
    },
    /// A hold on a handover whose deletion already ran: there is nothing left to hold, and a
    /// hold shown beside "deleted" would mislead.
    #[error(
        "handover {handover_id}'s local copies were already deleted ({what}); a hold cannot keep them any more, and none was recorded.\nFor the matter, keep the deletion record: `handover evidence {handover_id} --out DIR` writes the certificate, receipt and audit trail."
    )]
    HoldAfterDeletion {
        /// The handover's id.
        handover_id: String,
        /// How it was deleted.
        what: String,
    },
    /// `void` of a handover whose receipt is confirmed: it was delivered.
    #[error(
        "handover {handover_id} cannot be voided: the client's receipt was confirmed at {confirmed_at}, so it was delivered.\nNothing was changed. Once the deletion is due, `handover delete {handover_id}` deletes your copies with the receipt."
    )]
    VoidAfterReceipt {
        /// The handover's id.
        handover_id: String,
        /// When the receipt was confirmed.
        confirmed_at: String,
    },
    /// `void` of a handover whose copies were deleted (or whose deletion is under way).
    #[error("handover {handover_id} cannot be voided: {what}.\nNothing was changed.")]
    VoidAfterDeletion {
        /// The handover's id.
        handover_id: String,
        /// How far its deletion got.
        what: String,
    },
    /// `void` of a handover already voided.
    #[error(
        "handover {handover_id} was already voided at {voided_at} ({reason}).\nNothing was changed. `handover delete {handover_id}` deletes its files."
    )]
    AlreadyVoided {
        /// The handover's id.
        handover_id: String,
        /// When it was voided.
        voided_at: String,
        /// Why.
        reason: String,
    },
    /// `void` without a reason.
    #[error(
        "`handover void` needs a --reason that says why the handover is withdrawn (a test, a wrong recipient); it goes into the audit log and the deletion certificate."
    )]
    VoidReasonRequired,
    /// `timer --out`: a unit file could not be written (or already exists).
    #[error("cannot write the unit file {}: {source}\nAn existing unit is never overwritten: remove it first, or choose another --out.", show(.path))]
    TimerWrite {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ScheduleError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ScheduleError::InPast { .. } => "date_in_past",
            ScheduleError::Finished { .. } => "job_finished",
            ScheduleError::ClockBehind { .. } => "clock_behind",
            ScheduleError::HoldAfterDeletion { .. } => "hold_after_deletion",
            ScheduleError::VoidAfterReceipt { .. } => "void_after_receipt",
            ScheduleError::VoidAfterDeletion { .. } => "void_after_deletion",
            ScheduleError::AlreadyVoided { .. } => "already_voided",
            ScheduleError::VoidReasonRequired => "reason_required",
            ScheduleError::TimerWrite { .. } => "io_error",
        }
    }
    /// Exit class: every schedule error is a refusal (3), but a unit file that cannot be
    /// written is an operational error (1).
    pub fn class(&self) -> ExitClass {
        match self {
            ScheduleError::TimerWrite { .. } => ExitClass::Operational,
            _ => ExitClass::Refused,
        }
    }
}

/// Errors from the evidence pack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The receipt file given could not be read.
    #[error("cannot read {}: {source}", show(.path))]
    Read {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The receipt file given is not the one `confirm` checked.
    #[error("{} is not the receipt that was confirmed for this handover (its SHA-256 differs, or the handover was confirmed by code).\nGive the receipt.json that `handover confirm` checked, or leave --receipt out.", show(.0))]
    NotTheConfirmedReceipt(PathBuf),
}

impl EvidenceError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EvidenceError::Exists(_) => "output_exists",
            EvidenceError::NoManifest(_) => "manifest_not_recorded",
            EvidenceError::Write { .. } => "write_failed",
            EvidenceError::Read { .. } => "receipt_unreadable",
            EvidenceError::NotTheConfirmedReceipt(_) => "receipt_not_confirmed_one",
        }
    }
    /// Exit class: a receipt that is not the confirmed one is refused (3); the rest is
    /// operational (1).
    pub fn class(&self) -> ExitClass {
        match self {
            EvidenceError::NotTheConfirmedReceipt(_) => ExitClass::Refused,
            _ => ExitClass::Operational,
        }
    }
}

/// Errors that stop `verify` before it can judge the archive: its inputs cannot be read or
/// its outputs written. A check that fails is not an error but a problem in the report
/// (`verify::Problem`), and makes the run exit 3.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The archive cannot be opened or read.
    #[error("cannot read the archive {}: {source}\nCheck the path and its permissions.", show(.path))]
    ArchiveUnreadable {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The manifest is not where it should be or cannot be read.
    #[error("cannot read the manifest {}: {source}\nIt is looked for beside the archive (NAME.manifest.json); pass --manifest FILE if it is elsewhere.", show(.path))]
    ManifestUnreadable {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The provider's public key (`--signer FILE`) cannot be read. The client has no key of
    /// the provider's to make: the advice is to get it, not `keygen`'s.
    #[error("cannot read the provider's public key {}: {source}\nGet the provider's public key (their handover.pub) and pass it with --signer FILE, or its RW... string with --signer-key.", show(.path))]
    SignerUnreadable {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An identity file (-i) cannot be read or used.
    #[error("cannot use the identity file {}: {problem}.\nGive an age identity file (as age-keygen writes) or an unencrypted OpenSSH private key with -i.", show(.path))]
    Identity {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: IdentityProblem,
    },
    /// The passphrase typed for a passphrase-protected SSH identity is wrong.
    #[error(
        "the passphrase typed for an SSH identity given with -i is wrong: its key could not be decrypted.\nRun verify again and type that key's passphrase."
    )]
    WrongPassphrase,
    /// The --extract target exists already.
    #[error("{} already exists; verify --extract never writes into an existing path.\nName a directory that does not exist yet: it is created only once everything verified.", show(.0))]
    ExtractExists(PathBuf),
    /// Writing the extracted files failed.
    #[error("cannot write {}: {source}\nNothing was extracted (the partial directory was removed); free space or fix the permissions, then run verify again.", show(.path))]
    ExtractWrite {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The receipt file (or its signature) exists already.
    #[error("{} already exists; a receipt is never overwritten.\nChoose another --receipt FILE.", show(.0))]
    ReceiptExists(PathBuf),
    /// Writing verify's temporary files (what it remembers of each file, a `--list`
    /// listing) failed.
    #[error("cannot write verify's temporary files in {}: {source}\nThey hold what verify remembers of each file until the bag's manifest is read; free space there, or set TMPDIR to a folder with room, then run verify again.", show(.dir))]
    TempWrite {
        /// The temporary folder (`$TMPDIR`).
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the receipt failed.
    #[error("cannot write the receipt {}: {source}\nThe archive verified; run verify again with a writable --receipt FILE.", show(.path))]
    ReceiptWrite {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl VerifyError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::ArchiveUnreadable { .. } => "archive_unreadable",
            VerifyError::ManifestUnreadable { .. } => "manifest_unreadable",
            // The kind it had when it shared the signing key's variant.
            VerifyError::SignerUnreadable { .. } => "key_unreadable",
            VerifyError::Identity { .. } | VerifyError::WrongPassphrase => "identity_unusable",
            VerifyError::ExtractExists(_) => "extract_target_exists",
            VerifyError::ExtractWrite { .. } => "extract_write_failed",
            VerifyError::ReceiptExists(_) => "receipt_exists",
            VerifyError::ReceiptWrite { .. } => "receipt_write_failed",
            VerifyError::TempWrite { .. } => "temp_write_failed",
        }
    }
    /// A failure of verify's temporary files.
    pub(crate) fn temp(source: std::io::Error) -> VerifyError {
        VerifyError::TempWrite {
            dir: std::env::temp_dir(),
            source,
        }
    }
    /// Exit class: an input that cannot be read or an output that cannot be written is
    /// operational (1); failed checks are problems in the report, not errors.
    pub fn class(&self) -> ExitClass {
        ExitClass::Operational
    }
    /// Loading `--signer`/`--signer-key`: a file that cannot be read gets verify's own
    /// advice; every other key error stays as it is.
    pub(crate) fn signer(e: KeyError) -> Error {
        match e {
            KeyError::Unreadable { path, source } => {
                VerifyError::SignerUnreadable { path, source }.into()
            }
            e => e.into(),
        }
    }
}

/// Why an identity file (`verify -i`) cannot be used (the middle of
/// [`VerifyError::Identity`]'s message). Never the file's content: it holds secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityProblem {
    /// The file cannot be opened or read.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// An age identity file encrypted with a passphrase.
    #[error(
        "passphrase-protected identity files are not supported; decrypt it with `age -d` first"
    )]
    EncryptedFile,
    /// It starts like a PEM file but is no OpenSSH private key.
    #[error("not a readable OpenSSH private key")]
    NotOpenSsh,
    /// An OpenSSH private key encrypted with a passphrase.
    #[error(
        "it is passphrase-protected and there is no terminal to ask for the passphrase; run on a terminal, or use an unencrypted copy (ssh-keygen -p) or an age identity"
    )]
    EncryptedSsh,
    /// An OpenSSH key of a type age cannot decrypt with.
    #[error("this SSH key type is not supported by age")]
    SshUnsupported,
    /// Not an age identity file (a bad line).
    #[error("{0}")]
    NotAgeIdentities(#[source] std::io::Error),
    /// An identity in it cannot be used.
    #[error("{0}")]
    Unusable(#[source] age::DecryptError),
    /// An identity file without an identity.
    #[error("it holds no identity")]
    Empty,
}

/// Errors from `confirm`: the client's proof of receipt is missing, wrong or tampered with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The receipt file cannot be read.
    #[error("cannot read the receipt {}: {source}", show(.path))]
    Unreadable {
        /// The file that cannot be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The receipt is not a handover receipt.
    #[error("{} is not a handover receipt ({detail}).\nAsk the client for the receipt.json that `handover verify --receipt` wrote.", show(.path))]
    Malformed {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
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
        /// The handover's id.
        id: String,
        /// The receipt's archive SHA-256.
        claimed: String,
        /// The recorded archive SHA-256.
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
    SignedByOtherKey {
        /// The key id that signed.
        signed_by: String,
        /// The client's key id.
        expected: String,
    },
    /// --client-key was given and the receipt carries no signature.
    #[error("--client-key was given but there is no signature {} beside the receipt.\nNothing was changed. Ask the client for the signature file (.minisig, or .sig from ssh-keygen) as well.", show(.0))]
    SignatureMissing(PathBuf),
    /// --client-key names another key than the one bound at export.
    #[error(
        "--client-key is key {given}, but handover {id} was exported with client key {bound} bound in its signed manifest.\nNothing was changed. Leave out --client-key: the bound key is used."
    )]
    NotTheBoundKey {
        /// The handover's id.
        id: String,
        /// The key id given with --client-key.
        given: String,
        /// The key id bound at export.
        bound: String,
    },
    /// An SSH signature made for another purpose than a receipt.
    #[error("the SSH signature {} was made for namespace {namespace:?}, not \"handover-receipt\".\nNothing was changed. The client signs with: ssh-keygen -Y sign -n handover-receipt -f KEY receipt.json", show(.path))]
    SignatureNamespace {
        /// The signature file.
        path: PathBuf,
        /// The namespace it was made for.
        namespace: String,
    },
    /// ssh-keygen, which checks SSH signatures, could not be run.
    #[error(
        "cannot run ssh-keygen ({0}); it checks SSH-signed receipts: install OpenSSH 8.1 or later (package openssh-client).\nNothing was changed."
    )]
    SshKeygen(#[source] std::io::Error),
    /// The client key bound at export cannot be read from the recorded manifest.
    #[error(
        "cannot read the client key bound to handover {id} from its recorded manifest: {detail}.\nNothing was changed. Run `handover audit verify`: the state database may have been altered."
    )]
    BoundKeyUnreadable {
        /// The handover's id.
        id: String,
        /// Why it cannot be read.
        detail: String,
    },
    /// A receipt for a handover withdrawn with `handover void`.
    #[error(
        "handover {id} was voided at {voided_at} ({reason}): it is recorded as never delivered, so no receipt is taken for it.\nNothing was recorded. If the client did receive it, keep their receipt with your records; export again to hand the data over properly."
    )]
    Voided {
        /// The handover's id.
        id: String,
        /// When it was voided.
        voided_at: String,
        /// Why.
        reason: String,
    },
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
            ReceiptError::Voided { .. } => "handover_voided",
        }
    }
}

/// Something in a deletion plan that stops the run before anything is touched.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocker {
    /// Stable snake_case name for scripts (`hard_link_outside`, `not_writable`, ...).
    pub kind: &'static str,
    /// The path it is about.
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

/// A hold that refuses a deletion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HoldInfo {
    /// The held handover's id.
    pub handover_id: String,
    /// Its client.
    pub client: String,
    /// Why it is held.
    pub reason: String,
    /// Since when (RFC 3339), when recorded.
    pub held_at: Option<String>,
    /// `label: path` of each recorded path of that handover this run would touch.
    pub paths: Vec<String>,
}

/// A recorded handover whose paths overlap a deletion's paths.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RelatedHandover {
    /// The other handover's id.
    pub handover_id: String,
    /// Its client.
    pub client: String,
    /// `label: path` of each recorded path this run would touch.
    pub paths: Vec<String>,
    /// Its client's receipt is confirmed.
    pub receipt_confirmed: bool,
    /// Its deletion already ran (certificate, or nothing was left).
    pub deleted: bool,
    /// The hold on it, if any.
    pub hold: Option<String>,
    /// Deleting its paths is allowed: receipt confirmed or already deleted, and no hold (for
    /// the handover a `delete` names, its own receipt or reason decides instead).
    pub clear: bool,
}

/// The `handover release` command of each hold, with its handover's id.
fn release_commands(h: &[HoldInfo]) -> String {
    h.iter()
        .map(|x| format!("`handover release {}`", x.handover_id))
        .collect::<Vec<_>>()
        .join(", ")
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

/// Errors from secure deletion (`shred`, `delete`) and its certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// After the run, versions (or incomplete uploads) of the recorded keys are still in the
    /// bucket: the deletion is not done, and no certificate is issued.
    #[error(
        "{left} version(s) or upload(s) of the handover's keys are still in the bucket after the run (first: {first}); no certificate was issued.\nSomething wrote to those keys meanwhile, or the service kept what it was asked to delete. The job {job_id} is recorded: run the same command again; a version written after the plan is refused there, for you to decide."
    )]
    ObjectsLeft {
        /// The job, still open.
        job_id: String,
        /// How many are left.
        left: usize,
        /// The first one, `s3://BUCKET/KEY version V`.
        first: String,
    },
    /// The handover's copies were already deleted and certified.
    #[error(
        "handover {handover_id} was already deleted; its certificate is {certificate_id}.\nSee it with `handover certificate show {certificate_id}`."
    )]
    AlreadyDeleted {
        /// The handover's id.
        handover_id: String,
        /// Its deletion certificate's id.
        certificate_id: String,
    },
    /// None of the paths exists any more (delete), so there is nothing to certify.
    #[error(
        "nothing to delete: none of the recorded paths exists any more.\nNo certificate was issued; a certificate is only written for a deletion this tool carried out."
    )]
    NothingToDelete,
    /// An unfinished job for the handover covers other paths than this run would.
    #[error("an interrupted deletion job {job_id} for this handover covers other paths ({}).\nRun the same command as before (same --also paths) to finish it first.", .roots.iter().map(|p| show(p)).collect::<Vec<_>>().join(", "))]
    JobRootsDiffer {
        /// The unfinished job.
        job_id: String,
        /// The paths it covers.
        roots: Vec<PathBuf>,
    },
    /// Some entries could not be deleted; the job stays open.
    #[error("{failed} entr{} could not be deleted (first: {}: {first_reason}).\nNo certificate was issued. The job {job_id} is recorded: fix the cause and run the same command again to finish it.", if *.failed == 1 { "y" } else { "ies" }, show(.first))]
    Incomplete {
        /// The job, still open.
        job_id: String,
        /// How many entries failed.
        failed: usize,
        /// The first entry that failed.
        first: PathBuf,
        /// Why it failed.
        first_reason: String,
        /// True when an I/O error (not a failed check) stopped an entry.
        io: bool,
    },
    /// An I/O error while planning or deleting.
    #[error("{}: {source}", show(.path))]
    Io {
        /// The path being planned or deleted.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stopped by Ctrl-C or SIGTERM at a file boundary; what was done is recorded.
    #[error("interrupted: stopped after the file in progress; the {done} entr{} this run finished are recorded in job {job_id}.\nNo certificate was issued yet. Run the same command again to finish the job; it resumes where this run stopped.", if *.done == 1 { "y" } else { "ies" })]
    Interrupted {
        /// The job, still open.
        job_id: String,
        /// How many entries this run finished.
        done: u64,
    },
    /// The certificate could not be written.
    #[error("cannot write the certificate {}: {source}\nEverything was deleted and is recorded; run the same command again to write the certificate.", show(.path))]
    CertificateWrite {
        /// The certificate file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A hold covers a path of this run (the handover's own, or a shared source's).
    #[error("deletion refused: {}; nothing was deleted.\nA hold keeps every path its handover recorded (source, archive, manifest, signature). Whoever placed it lifts it with {}; then run this again.", list_holds(.0), release_commands(.0))]
    Held(Vec<HoldInfo>),
    /// Paths of this run are also recorded for handovers that are not clear to delete.
    #[error("deletion refused: {}; nothing was deleted.\nA path shared by several handovers is deleted only when every one of them is clear: confirm each client's receipt (`handover confirm`), or delete that handover first (`handover delete ID`, with --without-receipt --reason \"why\" if there will be no receipt).", list_not_clear(.0))]
    NotClear(Vec<RelatedHandover>),
    /// Another process is deleting the same handover or overlapping paths.
    #[error(
        "another deletion of {what} is running: {holder}; this run did nothing.\nWait for it to finish: running this again then reports the deletion done. If that process was killed, run this again on its host and its lease is taken over; a lease from another host lapses at {until}."
    )]
    Busy {
        /// What is being deleted.
        what: String,
        /// Who holds the lease (process, host).
        holder: String,
        /// When a lease from another host lapses.
        until: String,
    },
    /// The recorded jobs changed between the plan and the start of the job.
    #[error(
        "another run started or finished a deletion of these paths while this one was planning; nothing was deleted by this run.\nRun the same command again."
    )]
    PlanOutOfDate,
    /// `certificate check`: the certificate file cannot be read or is not a certificate.
    #[error("cannot read the certificate {}: {problem}\nGive the NAME.deletion-certificate.json file the provider sent.", show(.path))]
    CertificateRead {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: CertificateProblem,
    },
    /// `certificate check`: the extracted bag cannot be read.
    #[error("cannot read the bag {}: {source}\nGive the folder `handover verify --extract DIR` (or tar) made: it holds data/ and manifest-sha256.txt.", show(.path))]
    BagRead {
        /// The bag folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
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
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ShredError::Blocked(_) => "deletion_blocked",
            ShredError::NoReceipt(_) => "no_receipt",
            ShredError::EmptyReason => "reason_required",
            ShredError::CannotAsk => "cannot_ask",
            ShredError::Declined => "declined",
            ShredError::AlreadyDeleted { .. } => "already_deleted",
            ShredError::ObjectsLeft { .. } => "deletion_incomplete",
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
        }
    }
}

/// Why `certificate check` cannot read a certificate file (the middle of
/// [`ShredError::CertificateRead`]'s message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// The file cannot be read.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// It is not a deletion certificate's JSON.
    #[error("not a deletion certificate: {0}")]
    NotACertificate(#[source] serde_json::Error),
    /// A certificate of another format.
    #[error("format {found:?}, expected {expected}")]
    Format {
        /// The format the certificate names.
        found: String,
        /// The format this version reads.
        expected: &'static str,
    },
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigProblem {
    /// The signature file is not in minisign format.
    Malformed,
    /// Made by another key than the one expected.
    OtherKey {
        /// The key id the signature names.
        signed_by: String,
        /// The key id that should have signed.
        expected: String,
    },
    /// The signature does not match the data.
    Invalid,
}

/// A state column of the state database holds a value that handover never writes: the
/// database was edited by hand (inside [`Corruption::Edited`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// `table.column`.
    pub column: &'static str,
    /// The value found there; `None` for NULL.
    pub value: Option<String>,
}

impl std::fmt::Display for UnknownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} holds {v:?}", self.column)?,
            None => write!(f, "{} is NULL", self.column)?,
        }
        f.write_str(", which handover never writes: the state database was edited outside handover")
    }
}

impl std::error::Error for UnknownState {}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::NotFound)
    }

    #[test]
    fn the_cause_survives_the_top_level_error() {
        let e = Error::from(ExportError::Write {
            path: "out/x".into(),
            source: io(),
        });
        let source = e.source().expect("the I/O error is the source");
        assert_eq!(source.to_string(), io().to_string());
        assert_eq!(e.kind(), "write_failed");
        assert_eq!(e.class(), ExitClass::Operational);
    }

    #[test]
    fn verify_signer_file_gets_its_own_advice_and_keeps_its_kind() {
        let e = VerifyError::signer(KeyError::Unreadable {
            path: "missing.pub".into(),
            source: io(),
        });
        let m = e.to_string();
        assert!(
            m.starts_with("cannot read the provider's public key missing.pub: "),
            "{m}"
        );
        assert!(m.contains("--signer FILE"), "{m}");
        assert!(!m.contains("keygen") && !m.contains("--sign-key"), "{m}");
        assert_eq!(e.kind(), "key_unreadable");
        assert_eq!(e.class(), ExitClass::Operational);
        // Any other key error passes through unchanged.
        let e = VerifyError::signer(KeyError::NoPublicKey);
        assert!(matches!(e, Error::Key(KeyError::NoPublicKey)));
    }

    #[test]
    fn split_catch_alls_keep_their_messages_and_kinds() {
        let e = Error::from(KeyError::NoNewPassword);
        assert_eq!(
            e.to_string(),
            "no password for the new key.\nType one at the prompt, set HANDOVER_KEY_PASSWORD, or pass --no-password for automation."
        );
        assert_eq!(e.kind(), "key_error");
        let e = Error::from(ExportError::LevelOutOfRange(23));
        assert_eq!(
            e.to_string(),
            "--level 23 is out of range; zstd levels run from 1 to 22 (default 3)."
        );
        assert_eq!(e.kind(), "bad_option");
        let e = Error::from(ReceiptError::SshKeygen(io()));
        assert!(e.to_string().starts_with("cannot run ssh-keygen ("));
        assert!(
            e.to_string()
                .ends_with("(package openssh-client).\nNothing was changed.")
        );
        assert_eq!(e.kind(), "ssh_keygen_unavailable");
        assert_eq!(e.class(), ExitClass::Operational);
        assert!(e.source().is_some());
    }

    #[test]
    fn problems_read_as_the_strings_they_replace() {
        let e = KeyError::BadDelegation {
            path: "cert-delegation.json".into(),
            problem: DelegationProblem::Format {
                format: "x".into(),
                purpose: "y".into(),
            },
        };
        assert!(
            e.to_string().starts_with(
                "the certificate-key delegation cert-delegation.json cannot be used: format \"x\", purpose \"y\".\n"
            ),
            "{e}"
        );
        assert!(e.source().is_some());
        let e = VerifyError::Identity {
            path: "k".into(),
            problem: IdentityProblem::Empty,
        };
        assert!(
            e.to_string()
                .starts_with("cannot use the identity file k: it holds no identity.\n")
        );
        let e = ShredError::CertificateRead {
            path: "c.json".into(),
            problem: CertificateProblem::Format {
                found: "v0".into(),
                expected: "v1",
            },
        };
        assert!(
            e.to_string()
                .starts_with("cannot read the certificate c.json: format \"v0\", expected v1\n")
        );
    }

    #[test]
    fn audit_breaks_read_as_before() {
        let e = AuditError::Broken {
            seq: 5,
            what: ChainBreak::OutOfOrder { seq: 5 },
        };
        assert!(e.to_string().starts_with(
            "the audit log was tampered with at row 5: row 5 does not follow row 4 (deleted, inserted or reordered rows).\n"
        ));
        let e = AuditError::Anchor {
            file: "m.json".into(),
            what: AnchorProblem::NoCheckpoint,
        };
        assert_eq!(
            e.to_string(),
            "m.json: it carries no audit checkpoint (documents made before checkpoints existed carry none)"
        );
    }

    #[test]
    fn exit_codes() {
        let codes: Vec<u8> = ExitClass::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [1, 3, 4, 130]);
    }
}

/// Errors from client profiles (`handover client`, `export --client NAME`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The name would make a bad file name (the rule of `export --client`).
    #[error(
        "invalid client name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'."
    )]
    BadName(String),
    /// `client add` for a name that has a profile.
    #[error(
        "client {0} already has a profile.\nChange it with `handover client edit {0} ...`, or see it with `handover client show {0}`."
    )]
    Exists(String),
    /// No profile has this name.
    #[error(
        "no client profile named {0}.\n`handover client list` shows the profiles; `handover client add {0} ...` makes one."
    )]
    Unknown(String),
    /// A recipient, recipients file or client key of the profile does not parse.
    #[error("client {client}: {source}")]
    BadKey {
        /// The client.
        client: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A path that cannot be made absolute.
    #[error("cannot use the path {}: {source}", show(.path))]
    BadPath {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--receipt-days 0`.
    #[error("--receipt-days must be at least 1 (default 14).")]
    BadReceiptDays,
    /// `export` lacks a value that neither the command line nor a profile gives.
    #[error(
        "export needs {what}, and {why}.\nGive {export_flag}, or record it once: `handover client {verb} {client} {profile_flag}`."
    )]
    Missing {
        /// The client.
        client: String,
        /// What is missing ("the data directory").
        what: &'static str,
        /// What gives it on the export command line.
        export_flag: &'static str,
        /// The `client add`/`client edit` flag that records it.
        profile_flag: &'static str,
        /// "client acme has no profile" or "client acme's profile has none".
        why: String,
        /// `add` or `edit`.
        verb: &'static str,
    },
    /// A stored contract end that does not parse: the database was edited.
    #[error(
        "client {client}'s contract end {value:?} is not a date.\nSet it again: `handover client edit {client} --contract-end 2027-01-31`."
    )]
    BadContractEnd {
        /// The client.
        client: String,
        /// The stored value.
        value: String,
    },
}

impl ClientError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::BadName(_) => "bad_name",
            ClientError::Exists(_) => "client_exists",
            ClientError::Unknown(_) => "unknown_client",
            ClientError::BadKey { source, .. } => source.kind(),
            ClientError::BadPath { .. } => "bad_option",
            ClientError::BadReceiptDays => "bad_option",
            ClientError::Missing { .. } => "missing_value",
            ClientError::BadContractEnd { .. } => "corrupt_database",
        }
    }
    /// Exit class: a refusal (3); nothing was changed.
    pub fn class(&self) -> ExitClass {
        ExitClass::Refused
    }
}

/// Errors from object storage: an `s3://` source or destination, or a presigned URL.
///
/// Messages name the bucket, key or URL, never a credential or a presigned URL's signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// An `s3://` location that does not parse.
    #[error(
        "{0:?} is not an object-storage location; write s3://BUCKET/PREFIX/ (the prefix may be empty)."
    )]
    BadLocation(String),
    /// The client could not be set up (no region, a bad endpoint).
    #[error(
        "cannot use object storage: {why}\nSet AWS_REGION (and AWS_ENDPOINT_URL for a service other than AWS S3), or configure them in ~/.aws/config."
    )]
    Config {
        /// What is wrong.
        why: String,
    },
    /// The service refused the credentials (unknown key, bad secret, no permission).
    #[error(
        "the object store refused the credentials for s3://{bucket}/ ({detail}).\nCheck AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile in ~/.aws/credentials) and that the key may {action} in this bucket."
    )]
    Credentials {
        /// The bucket.
        bucket: String,
        /// What was being done ("write", "read", "list", "delete").
        action: &'static str,
        /// The service's short error text.
        detail: String,
    },
    /// A bucket or object that does not exist.
    #[error(
        "s3://{bucket}/{key} does not exist.\nCheck the bucket and prefix (`aws s3 ls s3://{bucket}/{key}` lists what is there)."
    )]
    NotFound {
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
    },
    /// Any other failure of the service or the network.
    #[error(
        "object storage failed on s3://{bucket}/{key} while trying to {action}: {detail}\nCheck the endpoint (AWS_ENDPOINT_URL) and the network, then run the command again."
    )]
    Service {
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// What was being done.
        action: &'static str,
        /// The service's or the network's error text.
        detail: String,
    },
    /// An object exists already under a name an export would write.
    #[error(
        "s3://{bucket}/{key} already exists; export never overwrites.\nChoose another --name or --out prefix."
    )]
    Exists {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// An object that changed while it was read (a conditional read failed).
    #[error(
        "s3://{bucket}/{key} changed while it was being read.\nStop whatever writes to it, then run the command again."
    )]
    Changed {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A presigned link that has expired.
    #[error(
        "the link to {what} has expired ({detail}).\nAsk the provider for a new one: `handover share ID --expires 7d`."
    )]
    LinkExpired {
        /// The object the link points to (its path, without the query).
        what: String,
        /// The service's error text.
        detail: String,
    },
    /// A presigned archive link without the manifest's and signature's own links.
    #[error(
        "{0} is a presigned link, which cannot point to the files beside it.\nPass the manifest's and the signature's links too: --manifest URL --signature URL (`handover share` prints all three)."
    )]
    LinksNeeded(String),
    /// `share` of a handover that has no archive in a bucket.
    #[error(
        "handover {0} was exported to a local folder, not to a bucket: there is nothing to link to.\nHand the files over another way, or export again with --out s3://BUCKET/PREFIX/."
    )]
    NotInBucket(String),
    /// `share` of a handover whose objects are deleted, or that was voided.
    #[error("handover {handover_id} {why}: no link is made.")]
    NotShareable {
        /// The handover.
        handover_id: String,
        /// "was deleted (certificate …)" or "was voided".
        why: String,
    },
    /// The environment points to another service than the one a handover's objects are in.
    #[error(
        "the handover's objects are at {recorded}, but AWS_ENDPOINT_URL (or the default) points to {now}: a bucket name means nothing at another service.\nRun again with AWS_ENDPOINT_URL={recorded}."
    )]
    OtherEndpoint {
        /// The endpoint recorded with the objects.
        recorded: String,
        /// The endpoint of this run.
        now: String,
    },
    /// `share --expires` beyond what a presigned link allows.
    #[error(
        "--expires {0} is longer than a presigned link can last (7 days); use 7d or less, and share again when it runs out."
    )]
    TooLong(String),
    /// A URL that could not be fetched.
    #[error(
        "cannot fetch {what}: {detail}\nCheck the link (ask the provider for a new one if it is old) and the network."
    )]
    Fetch {
        /// The object the link points to (its path, without the query).
        what: String,
        /// What failed.
        detail: String,
    },
}

impl RemoteError {
    /// The `--json` kind.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteError::BadLocation(_) => "bad_location",
            RemoteError::Config { .. } => "remote_config",
            RemoteError::Credentials { .. } => "remote_credentials",
            RemoteError::NotFound { .. } => "remote_not_found",
            RemoteError::Service { .. } => "remote_failed",
            RemoteError::Exists { .. } => "output_exists",
            RemoteError::Changed { .. } => "file_changed",
            RemoteError::LinkExpired { .. } => "link_expired",
            RemoteError::Fetch { .. } => "fetch_failed",
            RemoteError::LinksNeeded(_) => "links_needed",
            RemoteError::NotInBucket(_) => "not_in_bucket",
            RemoteError::NotShareable { .. } => "not_shareable",
            RemoteError::TooLong(_) => "bad_option",
            RemoteError::OtherEndpoint { .. } => "other_endpoint",
        }
    }
    /// Exit class: a refused share is a refusal (3); everything else operational (1).
    pub fn class(&self) -> ExitClass {
        match self {
            RemoteError::NotInBucket(_)
            | RemoteError::NotShareable { .. }
            | RemoteError::OtherEndpoint { .. } => ExitClass::Refused,
            _ => ExitClass::Operational,
        }
    }
}
