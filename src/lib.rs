//! handover: hand a client's data back securely, then destroy the provider's copies, with
//! evidence at every step.
//!
//! The library does all the work and never prints or exits; the `handover` binary parses
//! arguments, picks a [`report::Reporter`], calls one function here and prints its summary.

pub mod archive;
pub mod certificate;
pub mod error;
pub mod export;
pub mod fsinfo;
pub mod home;
pub mod keys;
pub mod manifest;
pub mod report;
pub mod shred;
pub mod signing;
pub mod store;
pub mod util;

pub use error::{Error, ExitClass, Result};
pub use export::{ExportOptions, ExportSummary, export};
pub use home::Home;
pub use keys::KeygenSummary;
pub use report::{NoReporter, Reporter};
pub use shred::{DeleteOptions, ShredOptions, ShredSummary, delete, shred};

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
}

/// Makes the provider's signing key pair, or with `age` an age identity file.
/// The password comes from `HANDOVER_KEY_PASSWORD` or the reporter's prompt.
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
        let pw = std::env::var(keys::PASSWORD_ENV)
            .ok()
            .or_else(|| {
                let a = reporter.password("Password to protect the new signing key: ")?;
                let b = reporter.password("Same password again: ")?;
                (a == b).then_some(a).or_else(|| {
                    reporter.warn("the two passwords differ");
                    None
                })
            })
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                error::KeyError::Crypto(
                    "no password for the new key.\nType one at the prompt, set HANDOVER_KEY_PASSWORD, or pass --no-password for automation.".into(),
                )
            })?;
        Some(pw)
    };
    Ok(keys::keygen(&dir, password)?)
}

/// Every recorded handover, oldest first.
pub fn list(home: &Home) -> Result<Vec<store::HandoverRecord>> {
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    Ok(store::Store::open(&home.database())?.handovers()?)
}

/// Shows a stored deletion certificate (`handover certificate show`).
pub fn certificate_show(home: &Home, id: &str) -> Result<certificate::CertificateView> {
    certificate::show(home, id)
}
