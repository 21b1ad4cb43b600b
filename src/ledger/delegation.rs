//! The audited side of the certificate key's delegation: signing a delegation changes what
//! may sign certificates, so it is recorded in the audit log (`delegate`). The documents and
//! keys themselves live in `keys::delegation`, which knows nothing of the log.

use std::path::Path;

use crate::error::{DelegationProblem, KeyError, Result};
use crate::home::Home;
use crate::keys::delegation::{DELEGATION_FILE, DelegationSummary, PURPOSE, ensure, load};
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

/// The signer for a deletion certificate. `--sign-key FILE` signs with that key, as asked.
/// Otherwise the home's delegated certificate key, which needs no password; a home without a
/// delegation gets one now if the provider key can be unlocked (unencrypted, or with
/// `reporter`'s password). When it cannot, the error says to run `handover delegate` once.
/// The certificate loads and checks the delegation it carries itself
/// (`keys::delegation::load`).
pub fn certificate_signer(
    home: &Home,
    sign_key: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<Signer> {
    if let Some(p) = sign_key.filter(|p| *p != home.secret_key()) {
        return Ok(keys::load_signer(p, reporter)?);
    }
    if let Some(l) = load(home)? {
        return Ok(l.signer);
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
    Ok(l.signer)
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
