//! Proof of receipt: the receipt `verify --receipt` writes on the client's side, and
//! `confirm`, which checks it (or the bare receipt code) on the provider's side and records it.
//!
//! `confirm` changes the state database only when every check passed; a wrong code, a receipt
//! for another handover, a tampered receipt or one signed by another key than the one bound
//! at export leaves it untouched. The code is compared as a SHA-256, in constant time. Never
//! prints the code it was given.
//!
//! Each confirmation records a [`Proof`] level. A later confirmation of a higher level
//! upgrades the record (audited as `confirm_upgrade`); one of the same or a lower level
//! changes nothing.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ReceiptError, Result, StoreError, VerifyError};
use crate::home::{self, Home, SECRET_MODE};
use crate::keys::Signer;
use crate::keys::clientkey::{self, ClientKey, Problem};
use crate::keys::signing::{self, SigProblem};
use crate::ledger::event::{AuditEvent, ConfirmDetails};
pub use crate::ledger::state::{Proof, proof_meaning};
use crate::ledger::store::{HandoverRecord, ReceiptRecord, Store};
use crate::manifest::{self, Manifest};
use crate::util;

/// The format tag of a receipt.
pub const FORMAT: &str = "handover-receipt/1";
/// A receipt larger than this is not one (they are under 1 KiB).
const RECEIPT_MAX: u64 = 1 << 20;

/// The client's receipt, `--receipt FILE`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    /// The format tag, [`FORMAT`].
    pub format: String,
    /// The handover's id.
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name.
    pub name: String,
    /// SHA-256 of the archive the client verified.
    pub archive_sha256: String,
    /// SHA-256 of the manifest the client verified it against.
    pub manifest_sha256: String,
    /// When the client verified it (UTC, RFC 3339).
    pub received_at: String,
    /// Regular files in the payload, hard-linked names included.
    pub files: u64,
    /// Directories in the payload.
    pub directories: u64,
    /// Symlinks in the payload.
    pub symlinks: u64,
    /// Names that were hard links to an earlier file.
    pub hard_links: u64,
    /// Bytes of file content.
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
    pub audit_checkpoint: Option<crate::ledger::audit::Checkpoint>,
}

/// Writes the receipt of a verified handover (mode 0600: the code in it confirms receipt),
/// and with `signer` its signature `FILE.minisig`. Each file appears complete or not at all.
pub(crate) fn write(path: &Path, r: &Receipt, signer: Option<&Signer>) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(r).expect("receipts serialize");
    json.push(b'\n');
    let werr = |path: &Path, source: std::io::Error| -> crate::error::Error {
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
            .map_err(crate::error::KeyError::Sign)?,
        ),
        None => None,
    };
    // The signature first: a receipt present without its signature would read as unsigned.
    if let Some(sig) = sig {
        let sp = manifest::sig_path(path);
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
    Code {
        /// The handover id, or a prefix of at least 4 characters.
        handover: String,
        /// The receipt code as the client read it out.
        code: String,
    },
}

/// Options of `confirm`.
#[derive(Debug, Clone)]
pub struct ConfirmOptions {
    /// The receipt file, or the handover and the code.
    pub target: ConfirmTarget,
    /// The client's public key (minisign or ssh-ed25519): the receipt must then be signed
    /// with it. When a key was bound at export, it must be that one.
    pub client_key: Option<PathBuf>,
}

/// What `confirm` found and did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfirmSummary {
    /// The handover's id.
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// `code` or `receipt`.
    pub method: String,
    /// When the handover was first confirmed (UTC, RFC 3339).
    pub confirmed_at: String,
    /// True when the handover was confirmed before at this level or a higher one; nothing
    /// was recorded this time.
    pub already_confirmed: bool,
    /// True when this receipt raised the level of an earlier confirmation.
    pub upgraded: bool,
    /// The level recorded before an upgrade.
    pub previous_proof: Option<String>,
    /// The level now recorded: `client_signature`, `unbound_signature` or `code`.
    pub proof: String,
    /// What that level proves, in words (the same words in `confirm`, `status`, the certificate and the evidence report).
    pub proof_meaning: String,
    /// The level of what was given this time (lower than `proof` when it changed nothing).
    pub offered_proof: String,
    /// When the level was last raised, if it was.
    pub upgraded_at: Option<String>,
    /// The key id of the client key that signed the receipt, if one did.
    pub client_key_id: Option<String>,
    /// Whether the client's key was bound at export or given (--client-key) rather than
    /// taken from the receipt.
    pub client_key_authenticated: bool,
    /// When the client verified the archive, from the receipt (none for a bare code).
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

/// A receipt file as read: its path, bytes and parsed content.
struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
    receipt: Receipt,
}

/// What the checks established, before anything is recorded.
struct Checked {
    code: String,
    proof: Proof,
    client_key_id: Option<String>,
    /// The key was bound at export or given with --client-key.
    key_from_provider: bool,
    received_at: Option<String>,
    receipt_sha256: Option<String>,
}

/// Reads and parses a receipt file.
fn load_receipt(path: &Path) -> Result<Loaded> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(RECEIPT_MAX).read_to_end(&mut bytes))
        .map_err(|source| ReceiptError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let r: Receipt = serde_json::from_slice(&bytes).map_err(|e| ReceiptError::Malformed {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if r.format != FORMAT {
        return Err(ReceiptError::Malformed {
            path: path.to_path_buf(),
            detail: format!("format {:?}, expected {FORMAT:?}", r.format),
        }
        .into());
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        bytes,
        receipt: r,
    })
}

/// The client key bound at export, from the signed manifest recorded with the handover.
/// The stored manifest must be the one whose hash was recorded (and that the client's
/// receipt names), so the key cannot be swapped in the database alone.
fn bound_key(store: &Store, rec: &HandoverRecord) -> Result<Option<ClientKey>> {
    let Some((json, _sig)) = store.manifest_documents(&rec.handover_id)? else {
        return Ok(None);
    };
    let unreadable = |detail: String| ReceiptError::BoundKeyUnreadable {
        id: rec.handover_id.clone(),
        detail,
    };
    if util::sha256_hex(json.as_bytes()) != rec.manifest_sha256 {
        return Err(
            unreadable("the stored manifest is not the one recorded at export".into()).into(),
        );
    }
    let m: Manifest = serde_json::from_str(&json).map_err(|e| unreadable(e.to_string()))?;
    // The stored manifest and its hash sit in the same table: the key it binds must also be
    // the one the audited export event recorded, or a swapped manifest could bind anyone.
    if let Some(d) = crate::ledger::audit::export_details(store, &rec.handover_id)? {
        let audited = d.client_key_id.as_deref();
        if audited != m.client_key.as_ref().map(|k| k.key_id.as_str()) {
            return Err(unreadable(format!(
                "the stored manifest binds key {}, but the audited export bound {}: the manifest was replaced outside handover",
                m.client_key.as_ref().map(|k| k.key_id.as_str()).unwrap_or("none"),
                audited.unwrap_or("none")
            ))
            .into());
        }
    }
    match m.client_key {
        Some(info) => Ok(Some(ClientKey::from_info(&info).map_err(unreadable)?)),
        None => Ok(None),
    }
}

/// Checks a receipt against the recorded handover and its signature against the client's
/// key: the one bound at export, else the one given, else the one the receipt names.
fn check_receipt(
    rec: &HandoverRecord,
    l: &Loaded,
    bound: Option<&ClientKey>,
    given: Option<&ClientKey>,
) -> Result<Checked> {
    let r = &l.receipt;
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
    let (key, key_from_provider) = match (bound.or(given), &r.client_public_key) {
        (Some(k), _) => (Some(k.clone()), true),
        (None, Some(b64)) => (
            Some(ClientKey::Minisign(
                minisign::PublicKey::from_base64(b64).map_err(|_| ReceiptError::Malformed {
                    path: l.path.clone(),
                    detail: "its client_public_key is not a minisign public key".into(),
                })?,
            )),
            false,
        ),
        (None, None) => (None, false),
    };
    let signed_by = check_signature(l, key.as_ref(), given.is_some())?;
    let proof = match (&signed_by, bound) {
        (None, _) => Proof::Code,
        (Some(_), Some(_)) => Proof::ClientSignature,
        (Some(_), None) => Proof::UnboundSignature,
    };
    Ok(Checked {
        code: r.receipt_code.clone(),
        proof,
        client_key_id: signed_by,
        key_from_provider,
        received_at: Some(r.received_at.clone()),
        receipt_sha256: Some(util::sha256_hex(&l.bytes)),
    })
}

/// Verifies the signature beside the receipt with `key`; returns the signer's key id, or
/// None for an unsigned receipt (refused when `required`).
fn check_signature(l: &Loaded, key: Option<&ClientKey>, required: bool) -> Result<Option<String>> {
    let present: Vec<PathBuf> = [
        manifest::sig_path(&l.path),
        clientkey::ssh_sig_path(&l.path),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .collect();
    let Some(key) = key else {
        if present.is_empty() {
            return Ok(None);
        }
        return Err(ReceiptError::Malformed {
            path: l.path.clone(),
            detail: "it is signed but names no client key; pass --client-key FILE".into(),
        }
        .into());
    };
    let sp = key.sig_path(&l.path);
    let Ok(sig) = std::fs::read_to_string(&sp) else {
        // A signature of the other kind beside it was made by another key than this one.
        if let Some(id) = present
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| clientkey::signature_key_id(&t))
        {
            return Err(ReceiptError::SignedByOtherKey {
                signed_by: id,
                expected: key.key_id(),
            }
            .into());
        }
        if required {
            return Err(ReceiptError::SignatureMissing(sp).into());
        }
        return Ok(None);
    };
    match key.verify(&l.bytes, &sig) {
        Ok(()) => Ok(Some(key.key_id())),
        Err(Problem::Sig(SigProblem::OtherKey {
            signed_by,
            expected,
        })) => Err(ReceiptError::SignedByOtherKey {
            signed_by,
            expected,
        }
        .into()),
        Err(Problem::Sig(_)) => Err(ReceiptError::SignatureInvalid(sp).into()),
        Err(Problem::Namespace(namespace)) => Err(ReceiptError::SignatureNamespace {
            path: sp,
            namespace,
        }
        .into()),
        Err(Problem::Tool(source)) => Err(ReceiptError::SshKeygen(source).into()),
    }
}

/// Checks the client's proof of receipt and records it. See the module documentation.
pub fn confirm(home: &Home, opts: &ConfirmOptions) -> Result<ConfirmSummary> {
    let db = home.database();
    // Loaded first: a bad --client-key is the provider's own mistake, found before anything.
    let given = match &opts.client_key {
        Some(p) => Some(ClientKey::load(p)?),
        None => None,
    };
    let (id_given, loaded) = match &opts.target {
        ConfirmTarget::Code { handover, .. } => (handover.clone(), None),
        ConfirmTarget::Receipt(path) => {
            let l = load_receipt(path)?;
            (l.receipt.handover_id.clone(), Some(l))
        }
    };
    if !db.exists() {
        return Err(match loaded {
            Some(_) => ReceiptError::UnknownHandover(id_given).into(),
            None => StoreError::NotFound(id_given).into(),
        });
    }
    let mut store = Store::open(&db)?;
    let claimed = loaded.as_ref().map(|l| &l.receipt.handover_id);
    let rec = match store.handover(&id_given) {
        Ok(h) if claimed.is_some_and(|c| *c != h.handover_id) => {
            return Err(ReceiptError::UnknownHandover(id_given).into());
        }
        Ok(h) => h,
        Err(StoreError::NotFound(_)) if claimed.is_some() => {
            return Err(ReceiptError::UnknownHandover(id_given).into());
        }
        Err(e) => return Err(e.into()),
    };
    let bound = bound_key(&store, &rec)?;
    if let (Some(b), Some(g)) = (&bound, &given)
        && !b.same(g)
    {
        return Err(ReceiptError::NotTheBoundKey {
            id: rec.handover_id.clone(),
            given: g.key_id(),
            bound: b.key_id(),
        }
        .into());
    }
    let checked = match (&opts.target, &loaded) {
        (ConfirmTarget::Code { code, .. }, _) => Checked {
            code: code.clone(),
            proof: Proof::Code,
            client_key_id: None,
            key_from_provider: false,
            received_at: None,
            receipt_sha256: None,
        },
        (_, Some(l)) => check_receipt(&rec, l, bound.as_ref(), given.as_ref())?,
        _ => unreachable!("a receipt target always has a parsed receipt"),
    };
    if !code_matches(&checked.code, &rec.receipt_code_sha256) {
        return Err(ReceiptError::WrongCode(rec.handover_id.clone()).into());
    }
    let method = if loaded.is_some() { "receipt" } else { "code" };
    record(home, &mut store, &rec, method, checked)
}

/// Records a checked confirmation: a first one, an upgrade of a weaker one, or nothing when
/// an equal or stronger one is recorded already. Read and written in one transaction, with
/// its audit event.
fn record(
    home: &Home,
    store: &mut Store,
    rec: &HandoverRecord,
    method: &str,
    c: Checked,
) -> Result<ConfirmSummary> {
    let tx = store.begin()?;
    // Read inside the transaction that records the receipt: a void committed at any time
    // before it refuses the receipt (the order void itself refuses the other way round).
    if let Some(voided_at) = tx.voided_at(&rec.handover_id)? {
        return Err(ReceiptError::Voided {
            id: rec.handover_id.clone(),
            voided_at,
            reason: rec.void_reason.clone().unwrap_or_default(),
        }
        .into());
    }
    // The time is taken under the lock, so the log's order and its times agree.
    let now = util::rfc3339(util::now());
    let prev = tx.receipt(&rec.handover_id)?;
    let summary = |r: &ReceiptRecord, already: bool, previous: Option<String>| ConfirmSummary {
        handover_id: rec.handover_id.clone(),
        client: rec.client.clone(),
        method: r.method.clone(),
        confirmed_at: r.confirmed_at.clone(),
        already_confirmed: already,
        upgraded: previous.is_some(),
        previous_proof: previous,
        proof: r.proof.clone(),
        proof_meaning: proof_meaning(&r.proof, r.client_key_id.as_deref()),
        offered_proof: c.proof.as_str().into(),
        upgraded_at: r.upgraded_at.clone(),
        client_key_id: r.client_key_id.clone(),
        client_key_authenticated: !already && c.key_from_provider && r.client_key_id.is_some(),
        received_at: r.received_at.clone(),
    };
    if let Some(p) = &prev
        && Proof::parse(&p.proof) >= c.proof
    {
        return Ok(summary(p, true, None));
    }
    let record = ReceiptRecord {
        handover_id: rec.handover_id.clone(),
        confirmed_at: prev
            .as_ref()
            .map_or(now.clone(), |p| p.confirmed_at.clone()),
        method: method.into(),
        receipt_sha256: c.receipt_sha256.clone(),
        client_key_id: c.client_key_id.clone(),
        received_at: c.received_at.clone(),
        proof: c.proof.as_str().into(),
        upgraded_at: prev.as_ref().map(|_| now.clone()),
    };
    let details = ConfirmDetails {
        method: Some(record.method.clone()),
        proof: Some(record.proof.clone()),
        receipt_sha256: record.receipt_sha256.clone(),
        client_key_id: record.client_key_id.clone(),
        received_at: record.received_at.clone(),
        previous_proof: None,
    };
    let event = match &prev {
        None => {
            tx.insert_receipt(&record)?;
            AuditEvent::Confirm(details)
        }
        Some(p) => {
            tx.upgrade_receipt(&record)?;
            AuditEvent::ConfirmUpgrade(ConfirmDetails {
                previous_proof: Some(p.proof.clone()),
                ..details
            })
        }
    };
    crate::ledger::audit::append(&tx, home, Some(&rec.handover_id), &event)?;
    tx.commit()?;
    Ok(summary(&record, false, prev.map(|p| p.proof)))
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
