//! The unattended certificate key and the provider key's signed delegation to it.
//!
//! The provider key (`handover.key`) is password-protected by default, so a scheduled
//! `run-due` from cron or systemd cannot unlock it. Deletion certificates are therefore signed
//! with a dedicated key, `cert.key` (unencrypted, mode 0600, like `audit.key`), which the
//! provider key authorises once, while its password is at hand: `cert-delegation.json`, signed
//! by the provider key (`cert-delegation.json.minisig`), names the delegated key, its only
//! purpose (deletion certificates), the organisation, the host and the time.
//!
//! Every certificate signed by `cert.key` embeds the delegation and is written with a copy of
//! it beside it, so a client checks both with `minisign -V` alone: the delegation against
//! `handover.pub`, whose verified trusted comment names the delegated key, then the
//! certificate against that key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DelegationProblem, KeyError, Result};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::{self, Signer};
use crate::manifest::SignerInfo;
use crate::report::{NoReporter, Reporter};
use crate::{keys::signing, util};

/// The format tag of a delegation.
pub const FORMAT: &str = "handover-signing-delegation/1";
/// What the delegated key may sign, and nothing else.
pub const PURPOSE: &str = "deletion certificates";
/// File names in the home folder.
pub const KEY_FILE: &str = "cert.key";
pub const PUB_FILE: &str = "cert.pub";
pub const DELEGATION_FILE: &str = "cert-delegation.json";

/// The signed statement that the provider key authorises the certificate key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delegation {
    pub format: String,
    /// `deletion certificates`: a signature by the delegated key on anything else is not
    /// the provider's.
    pub purpose: String,
    /// The same, in a sentence for whoever reads the file.
    pub statement: String,
    /// The key authorised (`cert.pub`).
    pub delegated_key: SignerInfo,
    /// The provider key that signed this delegation (`handover.pub`).
    pub provider_key: SignerInfo,
    pub organization: Option<String>,
    pub host: String,
    /// UTC, RFC 3339.
    pub created_at: String,
}

/// The delegation as a certificate carries it: the exact signed bytes and their signature,
/// also written beside the certificate as `FILE_NAME` and `FILE_NAME.minisig`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DelegationRef {
    /// The name of the delegation's copy beside the certificate, `NAME.cert-delegation.json`.
    pub file_name: String,
    /// The bytes of `cert-delegation.json`, which are UTF-8 JSON.
    pub document: String,
    /// Its `.minisig`, made by the provider key.
    pub signature: String,
}

/// A checked delegation with the certificate key it authorises, ready to sign.
pub struct Loaded {
    pub delegation: Delegation,
    pub document: String,
    pub signature: String,
    pub signer: Signer,
}

impl Loaded {
    /// The form embedded in a certificate.
    pub fn to_ref(&self, file_name: &str) -> DelegationRef {
        DelegationRef {
            file_name: file_name.to_string(),
            document: self.document.clone(),
            signature: self.signature.clone(),
        }
    }
}

fn path(home: &Home, name: &str) -> PathBuf {
    home.dir.join(name)
}

fn sig_path(home: &Home) -> PathBuf {
    crate::manifest::sig_path(&path(home, DELEGATION_FILE))
}

/// The trusted comment of the delegation's signature: `minisign -V` prints it after checking
/// it, so the client reads the delegated key from a line the provider key signed.
fn trusted_comment(d: &Delegation, unix_time: i64) -> String {
    format!(
        "timestamp:{unix_time}\tfile:{DELEGATION_FILE}\thashed\tdelegates {} to key {} ({})",
        d.purpose, d.delegated_key.key_id, d.delegated_key.public_key
    )
}

/// Checks a delegation's document and signature against the provider's public key, and
/// returns it parsed. `what` names it in errors.
pub fn check(
    provider: &minisign::PublicKey,
    document: &str,
    signature: &str,
    what: &Path,
) -> std::result::Result<Delegation, KeyError> {
    let bad = |problem: DelegationProblem| KeyError::BadDelegation {
        path: what.to_path_buf(),
        problem,
    };
    signing::verify(provider, document.as_bytes(), signature)
        .map_err(|p| bad(DelegationProblem::Signature(p)))?;
    let d: Delegation =
        serde_json::from_str(document).map_err(|e| bad(DelegationProblem::Unparsable(e)))?;
    if d.format != FORMAT || d.purpose != PURPOSE {
        return Err(bad(DelegationProblem::Format {
            format: d.format,
            purpose: d.purpose,
        }));
    }
    if d.provider_key.key_id != keys::key_id(provider.keynum()) {
        return Err(bad(DelegationProblem::OtherProviderKey));
    }
    Ok(d)
}

/// Loads the home's delegation and certificate key, checked against `handover.pub`.
/// None when the home has no delegation yet.
pub fn load(home: &Home) -> Result<Option<Loaded>> {
    let json = path(home, DELEGATION_FILE);
    let document = match std::fs::read_to_string(&json) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(KeyError::Unreadable { path: json, source }.into()),
    };
    let signature =
        std::fs::read_to_string(sig_path(home)).map_err(|source| KeyError::Unreadable {
            path: sig_path(home),
            source,
        })?;
    let provider = keys::load_public_key(Some(&home.public_key()), None)?;
    let delegation = check(&provider, &document, &signature, &json)?;
    let signer = keys::load_signer(&path(home, KEY_FILE), &NoReporter)?;
    if signer.public_base64() != delegation.delegated_key.public_key {
        return Err(KeyError::BadDelegation {
            path: json,
            problem: DelegationProblem::OtherKeyFile {
                authorised: delegation.delegated_key.key_id.clone(),
                file: KEY_FILE,
                actual: signer.key_id(),
            },
        }
        .into());
    }
    Ok(Some(Loaded {
        delegation,
        document,
        signature,
        signer,
    }))
}

/// What `keygen` or `delegate` did about the certificate key and its delegation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DelegationSummary {
    /// The signed delegation, `cert-delegation.json` in the home folder (its `.minisig` beside it).
    pub delegation_path: PathBuf,
    /// The certificate key's secret key, `cert.key` in the home folder (unencrypted, mode 0600).
    pub key_path: PathBuf,
    /// The certificate key's minisign key id.
    pub key_id: String,
    /// The certificate key's public key, base64 (`RW...`).
    pub public_key: String,
    /// False when a valid delegation by this provider key was already there.
    pub created: bool,
}

/// The home's delegation when it is valid and by the provider key `provider_key_id`: what
/// `delegate` and `keygen` report as already there, without unlocking the provider key.
pub fn existing(home: &Home, provider_key_id: &str) -> Option<DelegationSummary> {
    let l = load(home).ok()??;
    (l.delegation.provider_key.key_id == provider_key_id).then(|| DelegationSummary {
        delegation_path: path(home, DELEGATION_FILE),
        key_path: path(home, KEY_FILE),
        key_id: l.signer.key_id(),
        public_key: l.signer.public_base64(),
        created: false,
    })
}

/// Makes sure the home holds a certificate key authorised by `provider` (the home's own
/// provider key, just unlocked). Makes the key if it is missing, and signs a new delegation
/// when there is none, when it names another provider key, or when `renew` (a new
/// organisation) is asked. The caller records it in the audit log: `keygen` in its own event,
/// everything else through `ledger::delegation::ensure_audited`.
pub fn ensure(
    home: &Home,
    provider: &Signer,
    organization: Option<&str>,
    renew: bool,
) -> Result<DelegationSummary> {
    let key_path = path(home, KEY_FILE);
    let json = path(home, DELEGATION_FILE);
    if !renew && let Some(s) = existing(home, &provider.key_id()) {
        return Ok(s);
    }
    if key_path.symlink_metadata().is_err() {
        keys::keygen_at(
            &key_path,
            &path(home, PUB_FILE),
            None,
            "handover certificate key",
        )?;
    }
    let cert = keys::load_signer(&key_path, &NoReporter)?;
    let now = util::now();
    let d = Delegation {
        format: FORMAT.into(),
        purpose: PURPOSE.into(),
        statement: format!(
            "The holder of provider key {} authorises key {} to sign deletion certificates on its behalf, and nothing else.",
            provider.key_id(),
            cert.key_id()
        ),
        delegated_key: SignerInfo {
            public_key: cert.public_base64(),
            key_id: cert.key_id(),
        },
        provider_key: SignerInfo {
            public_key: provider.public_base64(),
            key_id: provider.key_id(),
        },
        organization: organization
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        host: util::hostname(),
        created_at: util::rfc3339(now),
    };
    let mut doc = serde_json::to_string_pretty(&d).expect("delegation serializes");
    doc.push('\n');
    let sig = signing::sign_with_comment(
        provider,
        doc.as_bytes(),
        &trusted_comment(&d, now.unix_timestamp()),
    )
    .map_err(KeyError::Sign)?;
    // Signature first: a delegation file never appears without one. Replacing an older
    // delegation is atomic per file (rename over it).
    replace(&sig_path(home), sig.as_bytes())?;
    replace(&json, doc.as_bytes())?;
    Ok(DelegationSummary {
        delegation_path: json,
        key_path,
        key_id: cert.key_id(),
        public_key: cert.public_base64(),
        created: true,
    })
}

/// Writes `bytes` to `dest` through a temporary file renamed over it.
fn replace(dest: &Path, bytes: &[u8]) -> Result<()> {
    let werr = |source| KeyError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".delegation.tmp-")
        .tempfile_in(home::parent_dir(dest))
        .map_err(werr)?;
    use std::io::Write;
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(PUBLIC_MODE))
        .map_err(werr)?;
    tmp.persist(dest).map_err(|e| werr(e.error))?;
    home::sync_dir(home::parent_dir(dest)).map_err(werr)?;
    Ok(())
}

/// Whether the provider key at `path` can be unlocked by nobody: it is unencrypted, or
/// `reporter` has its password without asking (`HANDOVER_KEY_PASSWORD` for the binary).
fn unlockable_unattended(path: &Path, reporter: &dyn Reporter) -> bool {
    reporter.unattended_password().is_some()
        || std::fs::read_to_string(path)
            .ok()
            .and_then(|t| minisign::SecretKeyBox::from_string(&t).ok())
            .is_some_and(|b| b.into_unencrypted_secret_key().is_ok())
}

/// Whether `run-due` can sign certificates without anyone: a valid delegation, or a provider
/// key that needs no typed password (a delegation is then made on the way). The error says
/// what to run once. `reporter` is asked whether a password is at hand without a prompt.
pub fn unattended_ready(home: &Home, reporter: &dyn Reporter) -> Result<()> {
    if load(home)?.is_some() {
        return Ok(());
    }
    let key = home.secret_key();
    if key.symlink_metadata().is_err() {
        return Err(KeyError::Unreadable {
            path: key,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }
        .into());
    }
    if unlockable_unattended(&key, reporter) {
        return Ok(());
    }
    Err(KeyError::NoDelegation {
        home: home.dir.clone(),
        key,
    }
    .into())
}

/// Unlocks the secret key at `path` with `password` (None: an unencrypted key), as keygen
/// just wrote it.
pub fn unlock(path: &Path, password: Option<String>) -> Result<Signer> {
    let malformed = |detail| KeyError::Malformed {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let b = minisign::SecretKeyBox::from_string(&text).map_err(|_| malformed("unreadable box"))?;
    let sk = match password {
        Some(pw) => b.into_secret_key(Some(pw)),
        None => b.into_unencrypted_secret_key(),
    }
    .map_err(|_| KeyError::WrongPassword(path.to_path_buf()))?;
    let pk = minisign::PublicKey::from_secret_key(&sk)
        .map_err(|_| malformed("cannot derive public key"))?;
    Ok(Signer { sk, pk })
}

/// The certificate and its delegation, checked the way a client would: the delegation against
/// the provider's public key, and that it authorises the key that signed the certificate.
pub fn check_ref(
    provider: &minisign::PublicKey,
    r: &DelegationRef,
    cert_signer_key_id: &str,
) -> std::result::Result<Delegation, KeyError> {
    let d = check(provider, &r.document, &r.signature, Path::new(&r.file_name))?;
    if d.delegated_key.key_id != cert_signer_key_id {
        return Err(KeyError::BadDelegation {
            path: PathBuf::from(&r.file_name),
            problem: DelegationProblem::OtherCertificateSigner {
                authorised: d.delegated_key.key_id,
                signer: cert_signer_key_id.to_string(),
            },
        });
    }
    Ok(d)
}
