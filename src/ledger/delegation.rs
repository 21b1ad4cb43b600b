//! The audited side of the certificate key's delegation: signing a delegation changes what
//! may sign certificates, so it is recorded in the audit log (`delegate`). The documents and
//! keys themselves live in `keys::delegation`, which knows nothing of the log.

use std::path::Path;

use crate::error::{DelegationProblem, KeyError, Result};
use crate::home::Home;
use crate::keys::delegation::{DELEGATION_FILE, DelegationSummary, Loaded, PURPOSE, ensure, load};
use crate::keys::{self, Signer};
use crate::ledger::audit;
use crate::ledger::event::{AuditEvent, DelegateDetails};
use crate::ledger::store::Store;
use crate::report::Reporter;

/// [`ensure`], and an audit event `delegate` when a delegation was signed.
pub fn ensure_audited(
    home: &Home,
    provider: &Signer,
    organization: Option<&str>,
    renew: bool,
) -> Result<DelegationSummary> {
    let s = ensure(home, provider, organization, renew)?;
    if s.created {
        let mut store = Store::open(&home.database())?;
        let tx = store.begin()?;
        audit::append(
            &tx,
            home,
            None,
            &AuditEvent::Delegate(DelegateDetails {
                purpose: PURPOSE.into(),
                delegated_key_id: s.key_id.clone(),
                provider_key_id: provider.key_id(),
                organization: organization.map(str::to_string),
            }),
        )?;
        tx.commit()?;
    }
    Ok(s)
}

/// The key a deletion certificate is signed with, and the delegation it carries.
pub struct CertSigner {
    /// The key that signs.
    pub signer: Signer,
    /// The home's delegation, when the delegated certificate key signs.
    pub delegation: Option<Loaded>,
}

/// The signer for a deletion certificate. `--sign-key FILE` signs with that key, as asked.
/// Otherwise the home's delegated certificate key, which needs no password; a home without a
/// delegation gets one now if the provider key can be unlocked (unencrypted, or with
/// `reporter`'s password). When it cannot, the error
/// says to run `handover delegate` once.
pub fn certificate_signer(
    home: &Home,
    sign_key: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<CertSigner> {
    if let Some(p) = sign_key.filter(|p| *p != home.secret_key()) {
        return Ok(CertSigner {
            signer: keys::load_signer(p, reporter)?,
            delegation: None,
        });
    }
    if let Some(l) = load(home)? {
        return Ok(CertSigner {
            signer: clone_signer(&l.signer),
            delegation: Some(l),
        });
    }
    let provider = match keys::load_signer(&home.secret_key(), reporter) {
        Err(KeyError::NoPassword(_)) => {
            return Err(KeyError::NoDelegation {
                home: home.dir.clone(),
                key: home.secret_key(),
            }
            .into());
        }
        r => r?,
    };
    ensure_audited(home, &provider, None, false)?;
    let l = load(home)?.ok_or_else(|| KeyError::BadDelegation {
        path: home.dir.join(DELEGATION_FILE),
        problem: DelegationProblem::NotReadBack,
    })?;
    Ok(CertSigner {
        signer: clone_signer(&l.signer),
        delegation: Some(l),
    })
}

/// After the provider key was unlocked for another signature (export): gives an older home
/// its delegation, so that scheduled deletions run unattended from now on. Never fails the
/// caller's work; returns a warning instead.
pub fn ensure_quietly(home: &Home, key_path: &Path, provider: &Signer) -> Option<String> {
    if key_path != home.secret_key() || matches!(load(home), Ok(Some(_))) {
        return None;
    }
    match ensure_audited(home, provider, None, false) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "could not authorise the unattended certificate key: {e}"
        )),
    }
}

/// The certificate key of a loaded delegation, owned (minisign keys are not `Clone`).
fn clone_signer(s: &Signer) -> Signer {
    Signer {
        sk: s.sk.clone(),
        pk: s.pk.clone(),
    }
}
