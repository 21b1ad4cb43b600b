//! The commands that are not a stage of their own: making and delegating keys, running the
//! due deletions, listing what is recorded, checking the audit log, showing a certificate.
//!
//! Each composes the stages below it (keys, ledger, erase); no stage calls up into this
//! module. The stage commands themselves (export, verify, confirm, delete, schedule, evidence)
//! live in their stage and are re-exported from the crate root.

use crate::erase::{self, ShredSummary};
use crate::error::{self, Error, Result};
use crate::home::Home;
use crate::keys::{self, KeygenSummary};
use crate::ledger;
use crate::report::Reporter;
use crate::util;
use std::path::PathBuf;

/// What `keygen` should make.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    /// Where to write; default the home folder.
    pub out: Option<PathBuf>,
    /// Make an age identity (`age.key`) instead of the minisign signing pair.
    pub age: bool,
    /// Leave the signing key unencrypted (automation).
    pub no_password: bool,
    /// Named in the certificate key's delegation.
    pub organization: Option<String>,
}

/// Makes the provider's signing key pair, or with `age` an age identity file.
/// The password is the reporter's: one it has without asking (the binary:
/// `HANDOVER_KEY_PASSWORD`), else one asked twice.
pub fn keygen(home: &Home, opts: &KeygenOptions, reporter: &dyn Reporter) -> Result<KeygenSummary> {
    let dir = match &opts.out {
        Some(d) => d.clone(),
        None => {
            home.ensure().map_err(|source| error::StoreError::Home {
                path: home.dir.clone(),
                source,
            })?;
            home.dir.clone()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|source| error::KeyError::Write {
        path: dir.clone(),
        source,
    })?;
    if opts.age {
        return Ok(keys::keygen_age(
            &dir.join("age.key"),
            &util::rfc3339(util::now()),
        )?);
    }
    let password = if opts.no_password {
        None
    } else {
        let pw = match reporter.unattended_password() {
            Some(pw) => Some(pw),
            None => match reporter.password("Password to protect the new signing key: ") {
                Some(a) => {
                    let b = reporter.password("Same password again: ");
                    // Said as an error, not a warning that --quiet would hide: the user
                    // must know that the typing, not the tool, went wrong.
                    if b.as_deref() != Some(a.as_str()) {
                        return Err(error::KeyError::PasswordMismatch.into());
                    }
                    Some(a)
                }
                None => None,
            },
        }
        .filter(|p| !p.is_empty())
        .ok_or(error::KeyError::NoNewPassword)?;
        Some(pw)
    };
    let mut summary = keys::keygen(&dir, password.clone())?;
    if opts.out.is_none() {
        // While the password is at hand: authorise the unattended certificate key, so that
        // run-due from cron or systemd never needs it.
        let provider = keys::delegation::unlock(&summary.secret_key_path, password)?;
        let c = keys::delegation::ensure(home, &provider, opts.organization.as_deref(), false)?;
        let mut store = ledger::store::Store::open(&home.database())?;
        let tx = store.begin()?;
        let event = ledger::event::AuditEvent::Keygen(ledger::event::KeygenDetails {
            key_id: summary.key_id.clone(),
            public_key: summary.public_key.clone(),
            password_protected: summary.password_protected,
            certificate_key_id: c.key_id.clone(),
            certificate_key_purpose: keys::delegation::PURPOSE.into(),
            organization: opts.organization.clone(),
        });
        ledger::audit::append(&tx, home, None, &event)?;
        tx.commit()?;
        summary.certificate_key = Some(c);
    }
    Ok(summary)
}

/// `handover delegate`: unlocks the provider key (with the reporter's password) and
/// authorises the unattended certificate key, making it if needed. With `renew`, signs a new delegation even if a valid one exists (a new organisation).
pub fn delegate(
    home: &Home,
    organization: Option<&str>,
    renew: bool,
    reporter: &dyn Reporter,
) -> Result<keys::delegation::DelegationSummary> {
    // A valid delegation by this provider key needs nothing signed: no password asked.
    if !renew
        && let Ok(pk) = keys::load_public_key(Some(&home.public_key()), None)
        && let Some(s) = keys::delegation::existing(home, &keys::key_id(pk.keynum()))
    {
        return Ok(s);
    }
    let provider = keys::load_signer(&home.secret_key(), reporter)?;
    ledger::delegation::ensure_audited(home, &provider, organization, renew)
}

/// A reporter that passes everything through except the password prompt: `run-due` runs
/// unattended and never asks for the provider key's password, even on a terminal; it takes
/// only a password the host has without asking.
struct NoPrompt<'a>(&'a dyn Reporter);

impl Reporter for NoPrompt<'_> {
    fn wants_totals(&self) -> bool {
        self.0.wants_totals()
    }
    fn start(&self, stage: &str, total_bytes: Option<u64>, total_files: Option<u64>) {
        self.0.start(stage, total_bytes, total_files)
    }
    fn bytes(&self, bytes: u64) {
        self.0.bytes(bytes)
    }
    fn file_done(&self) {
        self.0.file_done()
    }
    fn finish(&self) {
        self.0.finish()
    }
    fn warn(&self, message: &str) {
        self.0.warn(message)
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
    fn password(&self, _prompt: &str) -> Option<String> {
        self.0.unattended_password()
    }
    fn unattended_password(&self) -> Option<String> {
        self.0.unattended_password()
    }
}

/// Runs every due deletion job through the deletion engine (`delete` with `--yes` implied).
pub fn run_due(
    home: &Home,
    dry_run: bool,
    now: Option<time::OffsetDateTime>,
    reporter: &dyn Reporter,
) -> Result<ledger::schedule::RunDueReport> {
    let reporter = &NoPrompt(reporter);
    ledger::schedule::run_due(home, dry_run, now, &|h| {
        let opts = erase::DeleteOptions {
            handover: h.handover_id.clone(),
            yes: true,
            ..Default::default()
        };
        match erase::delete(home, &opts, reporter) {
            Ok(s) => Ok(ledger::schedule::DeletionOutcome {
                method: method_summary(&s),
                certificate_id: s.certificate_id.unwrap_or_default(),
            }),
            // Deleted by hand (`handover delete`) before the job came due: the job is done,
            // with that certificate; not an error to retry forever.
            Err(Error::Shred(error::ShredError::AlreadyDeleted { certificate_id, .. })) => {
                Ok(ledger::schedule::DeletionOutcome {
                    certificate_id,
                    method: "deleted earlier by `handover delete`".into(),
                })
            }
            Err(e) => Err(e),
        }
    })
}

/// One line on how a deletion was done, per filesystem, honest about downgrades.
fn method_summary(s: &ShredSummary) -> String {
    let mut parts: Vec<String> = s
        .plan
        .filesystems
        .iter()
        .map(|f| format!("{}: {}", f.filesystem, f.description))
        .collect();
    parts.dedup();
    if parts.is_empty() {
        "nothing left to overwrite".into()
    } else {
        parts.join("; ")
    }
}

/// Checks the whole audit log, its signed heads, the gate tables against it, and each
/// document in `against` (manifest, receipt, certificate, evidence pack) that carries a
/// checkpoint; an error names the first thing that does not hold.
pub fn audit_verify(home: &Home, against: &[PathBuf]) -> Result<ledger::audit::AuditReport> {
    if !home.database().exists() {
        return Err(error::StoreError::Home {
            path: home.database(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no state database"),
        }
        .into());
    }
    ledger::audit::verify(home, against)
}

/// Every recorded handover, oldest first.
pub fn list(home: &Home) -> Result<Vec<ledger::store::HandoverRecord>> {
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    Ok(ledger::store::Store::open(&home.database())?.handovers()?)
}

/// Every confirmed receipt, for `list` to show which handovers were received.
pub fn receipts(home: &Home) -> Result<Vec<ledger::store::ReceiptRecord>> {
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    Ok(ledger::store::Store::open(&home.database())?.receipts()?)
}

/// `handover certificate check CERT --bag DIR [--signer FILE | --signer-key RW...]`: which
/// files of the client's extracted bag the certificate covers. With the provider's public
/// key, the certificate must also be the provider's (signed by it, or by a key its
/// delegation authorises).
pub fn certificate_check(
    cert: &std::path::Path,
    bag: &std::path::Path,
    signer: Option<&std::path::Path>,
    signer_key: Option<&str>,
) -> Result<erase::certificate::Coverage> {
    let provider = match (signer, signer_key) {
        (None, None) => None,
        (f, k) => Some(keys::load_public_key(f, k).map_err(error::VerifyError::signer)?),
    };
    erase::certificate::check(cert, bag, provider.as_ref())
}

/// Shows a stored deletion certificate (`handover certificate show`).
pub fn certificate_show(home: &Home, id: &str) -> Result<erase::certificate::CertificateView> {
    erase::certificate::show(home, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NoReporter;

    /// A host that has a password without asking, or none, and never prompts.
    struct Unattended(Option<&'static str>);

    impl Reporter for Unattended {
        fn unattended_password(&self) -> Option<String> {
            self.0.map(str::to_string)
        }
    }

    fn keygen_in(dir: &std::path::Path, reporter: &dyn Reporter) -> Result<KeygenSummary> {
        let opts = KeygenOptions {
            out: Some(dir.to_path_buf()),
            age: false,
            no_password: false,
            organization: None,
        };
        keygen(&Home::resolve(Some(dir.join("home"))), &opts, reporter)
    }

    #[test]
    fn passwords_come_from_the_reporter_only() {
        let dir = tempfile::tempdir().unwrap();
        let e = keygen_in(&dir.path().join("a"), &NoReporter).unwrap_err();
        assert_eq!(e.kind(), "key_error");
        let s = keygen_in(&dir.path().join("b"), &Unattended(Some("pw"))).unwrap();
        assert!(s.password_protected);
        // run-due's reporter never prompts, but takes the password the host has.
        let k = &s.secret_key_path;
        assert!(keys::load_signer(k, &NoPrompt(&Unattended(Some("pw")))).is_ok());
        assert!(matches!(
            keys::load_signer(k, &NoPrompt(&Unattended(None))),
            Err(error::KeyError::NoPassword(_))
        ));
    }
}
