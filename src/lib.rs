//! handover: hand a client's data back securely when the relationship ends, then destroy the
//! provider's copies, with evidence at every step.
//!
//! The library does all the work and never prints, exits or reads a secret from the
//! environment; the `handover` binary parses arguments, picks a [`Reporter`] (progress,
//! prompts, passwords), calls one function here and prints its summary. Another tool (an MSP's
//! own offboarding scripts) can do the same.
//!
//! The source tree follows an offboarding, and so does this list:
//!
//! | stage | functions | what it owns |
//! |---|---|---|
//! | pack | [`export`] | the walk, the bag, the tar/zstd/age stream, the signed manifest |
//! | receive | [`verify`], [`confirm`] | reading an archive back, extraction, proof of receipt |
//! | erase | [`delete`], [`shred`], [`certificate_check`] | verified deletion and its signed certificate |
//! | ledger | [`schedule`], [`hold`], [`run_due`], [`status`], [`overdue`], [`attest`], [`audit_verify`] | the state database, the signed audit log, schedules |
//! | evidence | [`evidence`] | the folder an auditor gets |
//! | keys | [`keygen`], [`delegate`] | signing keys, age identities, recipients |
//!
//! # Example
//!
//! Export the shipped sample client to the shipped test keys, then check the archive as the
//! client would:
//!
//! ```
//! use handover::{ExportOptions, Home, NoReporter, Recipients, VerifyOptions};
//!
//! # fn main() -> handover::Result<()> {
//! let work = tempfile::tempdir().unwrap();
//! let home = Home::resolve(Some(work.path().join("home")));
//! let exported = handover::export(
//!     &home,
//!     &ExportOptions::new(
//!         "fixtures/acme",
//!         "acme",
//!         Recipients::parse(&[], &["fixtures/keys/client.recipients".into()])?,
//!         work.path().join("outbox"),
//!     )
//!     .sign_key("fixtures/keys/provider.key"),
//!     &NoReporter,
//! )?;
//!
//! let mut check = VerifyOptions::new(&exported.archive_path);
//! check.identities = vec!["fixtures/keys/client.agekey".into()];
//! check.signer = Some("fixtures/keys/provider.pub".into());
//! let report = handover::verify(&check, &NoReporter)?;
//! assert!(report.ok, "{:?}", report.problems);
//! assert_eq!(report.files, exported.files);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
// Every type a public signature or field reaches can be named from here.
#![deny(unnameable_types)]

mod bag;
mod commands;
mod erase;
pub mod error;
mod evidence;
mod fault;
mod fsx;
mod home;
mod keys;
mod ledger;
mod manifest;
mod pack;
mod receive;
mod remote;
mod report;
mod util;

// The commands, stage by stage, with their options and summaries.
pub use commands::{
    KeygenOptions, audit_verify, certificate_check, certificate_show, delegate, keygen, list,
    receipts, run_due,
};
pub use erase::certificate::{Certificate, CertificateView, Coverage};
pub use erase::fsinfo::DiskInfo;
pub use erase::names::Names;
pub use erase::{
    DeleteOptions, FsMethod, PlanObject, PlanRoot, PlanSummary, Refusal, ShredOptions,
    ShredSummary, delete, shred,
};
pub use error::{HandoverCandidate, HandoverState};
pub use evidence::{EvidenceSummary, evidence};
pub use keys::KeygenSummary;
pub use keys::delegation::{DelegationSummary, unattended_ready};
pub use ledger::audit::{AnchorCheck, AuditReport, RekeySummary, rekey as audit_rekey};
pub use ledger::checklist::{
    AttestStep, AttestSummary, ChecklistStep, OverdueItem, OverdueKind, OverdueReport, StepSource,
    attest, overdue,
};
pub use ledger::clients::{
    ClientChanges, ClientField, ClientProfile, ClientSettings, ClientSummary, DEFAULT_RECEIPT_DAYS,
    ProfileUse, add as client_add, edit as client_edit, list as clients, remove as client_remove,
    show as client_show,
};
pub use ledger::schedule::status_of;
pub use ledger::schedule::{
    HoldSummary, JobView, RunDueReport, RunItem, ScheduleSummary, StatusView, Step, When, hold,
    jobs, schedule, status, timer,
};
pub use ledger::state::{CODE_CAVEAT, EntryState, JobState, Proof, ScheduleState};
pub use ledger::store::{HandoverRecord, ReceiptRecord};
pub use ledger::void::{VoidSummary, void};
pub use pack::export::{DEFAULT_LEVEL, ExportOptions, ExportSummary, Recipients, export};
pub use pack::profile::{ExportRequest, profile_options};
pub use pack::share::{MAX_EXPIRY, ShareSummary, share};
pub use receive::extract::{Leftover, LeftoverState};
pub use receive::receipt::{ConfirmOptions, ConfirmSummary, ConfirmTarget, confirm};
pub use receive::verify::{
    ListedEntry, Listing, OutsideLink, Problem, ProblemKind, VerifyOptions, VerifyReport, verify,
};
// `timer`: the systemd units that run `run-due`, and writing them as files.
pub use ledger::schedule::{TimerUnits, timer_units, write_timer_units};
// Words and units for people, shared by the library's messages and the binary's tables.
pub use util::{human_bytes, plural};

/// The parts of the signed documents (deletion certificate, outer manifest, delegation) as
/// the summaries above carry them; each serializes to exactly the JSON that was signed.
pub mod documents {
    pub use crate::erase::certificate::{
        BagFile, Certificate, EntryRef, HandoverRef, Host, ObjectRef, Operator, ReceiptRef,
        RootRef, Sanitization, Totals, Verification, VoidRef,
    };
    pub use crate::keys::delegation::DelegationRef;
    pub use crate::manifest::{Checkpoint, SignerInfo, Tool};
}

// What every command shares.
pub use error::{Error, ExitClass, Result, UnknownState};
pub use home::Home;
pub use report::{NoReporter, Reporter};
pub use util::{parse_after, parse_at};

#[doc(hidden)]
pub use fault::signal_caught;
