//! Proof of receipt: the receipt `verify --receipt` writes on the client's side, and
//! `confirm`, which checks it (or the bare receipt code) on the provider's side and records it.
//!
//! `confirm` changes the state database only when every check passed; a wrong code, a receipt
//! for another handover or a tampered receipt leaves it untouched. The code is compared as a
//! SHA-256, in constant time. Never prints the code it was given.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ReceiptError, Result, StoreError, VerifyError};
use crate::home::{self, Home, SECRET_MODE};
use crate::keys::{self, Signer};
use crate::manifest::Manifest;
use crate::signing::{self, SigProblem};
use crate::store::{ReceiptRecord, Store};
use crate::util;
use crate::verify::VerifyReport;

/// The format tag of a receipt.
pub const FORMAT: &str = "handover-receipt/1";
/// A receipt larger than this is not one (they are under 1 KiB).
const RECEIPT_MAX: u64 = 1 << 20;

/// The client's receipt, `--receipt FILE`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub format: String,
    pub handover_id: String,
    pub client: String,
    pub name: String,
    pub archive_sha256: String,
    pub manifest_sha256: String,
    /// When the client verified it (UTC, RFC 3339).
    pub received_at: String,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub bytes: u64,
    /// The code from bag-info.txt: the proof that the client decrypted the archive.
    pub receipt_code: String,
    /// The provider key that signed the handover.
    pub signer_key_id: String,
    /// The client's minisign public key, when the receipt is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_public_key: Option<String>,
    /// The provider's audit checkpoint from the signed manifest, so that the client's own copy
    /// of the receipt can anchor the provider's audit log (`audit verify --against`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<crate::audit::Checkpoint>,
}

/// The detached signature beside a file: `FILE.minisig`.
pub(crate) fn sig_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Writes the receipt for a verified handover (mode 0600: the code in it confirms receipt),
/// and with `signer` its signature `FILE.minisig`. Each file appears complete or not at all.
pub(crate) fn write(
    path: &Path,
    report: &VerifyReport,
    m: &Manifest,
    signer: Option<&Signer>,
) -> Result<()> {
    let r = Receipt {
        format: FORMAT.into(),
        handover_id: m.handover_id.clone(),
        client: m.client.clone(),
        name: m.name.clone(),
        archive_sha256: report.archive_sha256.clone().unwrap_or_default(),
        manifest_sha256: report.manifest_sha256.clone(),
        received_at: util::rfc3339(util::now()),
        files: report.files,
        directories: report.directories,
        symlinks: report.symlinks,
        hard_links: report.hard_links,
        bytes: report.bytes,
        receipt_code: report.receipt_code.clone().unwrap_or_default(),
        signer_key_id: report.signer_key_id.clone(),
        client_public_key: signer.map(|s| s.public_base64()),
        audit_checkpoint: m.audit_checkpoint.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&r).expect("receipts serialize");
    json.push(b'\n');
    let werr = |path: &Path, source: std::io::Error| -> crate::Error {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            VerifyError::ReceiptExists(path.to_path_buf()).into()
        } else {
            VerifyError::ReceiptWrite {
                path: path.to_path_buf(),
                source,
            }
            .into()
        }
    };
    let sig = match signer {
        Some(s) => Some(
            signing::sign(
                s,
                &json,
                &path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                util::now().unix_timestamp(),
            )
            .map_err(crate::error::KeyError::Crypto)?,
        ),
        None => None,
    };
    // The signature first: a receipt present without its signature would read as unsigned.
    if let Some(sig) = sig {
        let sp = sig_path(path);
        home::write_new(&sp, sig.as_bytes(), SECRET_MODE).map_err(|e| werr(&sp, e))?;
        if let Err(e) = home::write_new(path, &json, SECRET_MODE) {
            let _ = std::fs::remove_file(&sp);
            return Err(werr(path, e));
        }
    } else {
        home::write_new(path, &json, SECRET_MODE).map_err(|e| werr(path, e))?;
    }
    Ok(())
}

/// What to confirm.
#[derive(Debug, Clone)]
pub enum ConfirmTarget {
    /// A receipt file written by `verify --receipt`.
    Receipt(PathBuf),
    /// A handover id (or a prefix of at least 4) and the code the client read out.
    Code { handover: String, code: String },
}

/// Options of `confirm`.
#[derive(Debug, Clone)]
pub struct ConfirmOptions {
    pub target: ConfirmTarget,
    /// The client's minisign public key: the receipt must then be signed with it.
    pub client_key: Option<PathBuf>,
}

/// What `confirm` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmSummary {
    pub handover_id: String,
    pub client: String,
    /// `code` or `receipt`.
    pub method: String,
    pub confirmed_at: String,
    /// True when the handover was confirmed before; nothing was recorded this time.
    pub already_confirmed: bool,
    pub client_key_id: Option<String>,
    /// Whether the client's key was given (--client-key) rather than taken from the receipt.
    pub client_key_authenticated: bool,
    pub received_at: Option<String>,
}

/// Constant-time equality of two digests: the time taken does not depend on where they
/// first differ. Both sides are SHA-256 digests, so the lengths are public and equal.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether `code` (as typed) is the one whose SHA-256 is `recorded_hex`.
fn code_matches(code: &str, recorded_hex: &str) -> bool {
    let mut recorded = [0u8; 32];
    if hex::decode_to_slice(recorded_hex, &mut recorded).is_err() {
        return false;
    }
    let given: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        util::normalize_code(code).as_bytes(),
    ))
    .into();
    same_digest(&given, &recorded)
}

/// Checks the client's proof of receipt and records it. See the module documentation.
pub fn confirm(home: &Home, opts: &ConfirmOptions) -> Result<ConfirmSummary> {
    let db = home.database();
    // Loaded first: a bad --client-key is the provider's own mistake, found before anything.
    let client_key = match &opts.client_key {
        Some(p) => Some(keys::load_public_key(Some(p), None)?),
        None => None,
    };
    let (id_given, receipt) = match &opts.target {
        ConfirmTarget::Code { handover, .. } => (handover.clone(), None),
        ConfirmTarget::Receipt(path) => {
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|f| f.take(RECEIPT_MAX).read_to_end(&mut bytes))
                .map_err(|source| ReceiptError::Unreadable {
                    path: path.clone(),
                    source,
                })?;
            let r: Receipt =
                serde_json::from_slice(&bytes).map_err(|e| ReceiptError::Malformed {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            if r.format != FORMAT {
                return Err(ReceiptError::Malformed {
                    path: path.clone(),
                    detail: format!("format {:?}, expected {FORMAT:?}", r.format),
                }
                .into());
            }
            (r.handover_id.clone(), Some((path.clone(), bytes, r)))
        }
    };
    if !db.exists() {
        return Err(match receipt {
            Some(_) => ReceiptError::UnknownHandover(id_given).into(),
            None => StoreError::NotFound(id_given).into(),
        });
    }
    let mut store = Store::open(&db)?;
    let rec = match (store.handover(&id_given), &receipt) {
        (Ok(h), Some((_, _, r))) if h.handover_id != r.handover_id => {
            return Err(ReceiptError::UnknownHandover(r.handover_id.clone()).into());
        }
        (Ok(h), _) => h,
        (Err(StoreError::NotFound(_)), Some((_, _, r))) => {
            return Err(ReceiptError::UnknownHandover(r.handover_id.clone()).into());
        }
        (Err(e), _) => return Err(e.into()),
    };

    let mut client_key_id = None;
    let mut received_at = None;
    let mut receipt_sha256 = None;
    let code = match (&opts.target, &receipt) {
        (ConfirmTarget::Code { code, .. }, _) => code.clone(),
        (_, Some((path, bytes, r))) => {
            if r.archive_sha256 != rec.archive_sha256 {
                return Err(ReceiptError::ArchiveMismatch {
                    id: rec.handover_id.clone(),
                    claimed: r.archive_sha256.clone(),
                    recorded: rec.archive_sha256.clone(),
                }
                .into());
            }
            if r.manifest_sha256 != rec.manifest_sha256 {
                return Err(ReceiptError::ManifestMismatch(rec.handover_id.clone()).into());
            }
            let sp = sig_path(path);
            match std::fs::read_to_string(&sp) {
                Ok(sig) => {
                    let key = match (&client_key, &r.client_public_key) {
                        (Some(k), _) => k.clone(),
                        (None, Some(b64)) => {
                            minisign::PublicKey::from_base64(b64).map_err(|_| {
                                ReceiptError::Malformed {
                                    path: path.clone(),
                                    detail: "its client_public_key is not a minisign public key"
                                        .into(),
                                }
                            })?
                        }
                        (None, None) => {
                            return Err(ReceiptError::Malformed {
                                path: path.clone(),
                                detail:
                                    "it is signed but names no client key; pass --client-key FILE"
                                        .into(),
                            }
                            .into());
                        }
                    };
                    match signing::verify(&key, bytes, &sig) {
                        Ok(()) => client_key_id = Some(keys::key_id(key.keynum())),
                        Err(SigProblem::OtherKey {
                            signed_by,
                            expected,
                        }) => {
                            return Err(ReceiptError::SignedByOtherKey {
                                signed_by,
                                expected,
                            }
                            .into());
                        }
                        Err(_) => return Err(ReceiptError::SignatureInvalid(sp).into()),
                    }
                }
                Err(_) if client_key.is_some() => {
                    return Err(ReceiptError::SignatureMissing(sp).into());
                }
                Err(_) => {}
            }
            received_at = Some(r.received_at.clone());
            receipt_sha256 = Some(util::sha256_hex(bytes));
            r.receipt_code.clone()
        }
        _ => unreachable!("a receipt target always has a parsed receipt"),
    };
    if !code_matches(&code, &rec.receipt_code_sha256) {
        return Err(ReceiptError::WrongCode(rec.handover_id.clone()).into());
    }

    let method = if receipt.is_some() { "receipt" } else { "code" };
    if let Some(prev) = store.receipt(&rec.handover_id)? {
        return Ok(ConfirmSummary {
            handover_id: rec.handover_id,
            client: rec.client,
            method: prev.method,
            confirmed_at: prev.confirmed_at,
            already_confirmed: true,
            client_key_id: prev.client_key_id,
            client_key_authenticated: false,
            received_at: prev.received_at,
        });
    }
    let record = ReceiptRecord {
        handover_id: rec.handover_id.clone(),
        confirmed_at: util::rfc3339(util::now()),
        method: method.into(),
        receipt_sha256,
        client_key_id: client_key_id.clone(),
        received_at: received_at.clone(),
    };
    let tx = store.begin()?;
    tx.insert_receipt(&record)?;
    crate::audit::append(
        &tx,
        home,
        "confirm",
        Some(&rec.handover_id),
        serde_json::json!({
            "method": record.method,
            "receipt_sha256": record.receipt_sha256,
            "client_key_id": record.client_key_id,
            "received_at": record.received_at,
        }),
    )?;
    tx.commit()?;
    Ok(ConfirmSummary {
        handover_id: rec.handover_id,
        client: rec.client,
        method: method.into(),
        confirmed_at: record.confirmed_at,
        already_confirmed: false,
        client_key_id,
        client_key_authenticated: client_key.is_some() && record.client_key_id.is_some(),
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_compare_after_normalizing() {
        let code = "7K2M-9QXP-4HRT-B0CW-ZN3E";
        let h = util::sha256_hex(code.as_bytes());
        assert!(code_matches("7k2m 9qxp 4hrt bocw zn3e", &h));
        assert!(!code_matches("7K2M-9QXP-4HRT-B0CW-ZN3F", &h));
        assert!(!code_matches(code, "not hex"));
    }
}
