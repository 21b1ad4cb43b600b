//! The deletion certificate: a JSON document modelled on the Certificate of Sanitization in
//! NIST SP 800-88 Rev. 1, Appendix G, signed with the provider's minisign key (so
//! `minisign -Vm NAME.deletion-certificate.json -p handover.pub` checks it), written beside the
//! handover (or into `--out`) and stored in the state database.
//!
//! Built only from what the job recorded in the database over all its runs, so an interrupted
//! and resumed deletion is certified once, every entry listed once. It never states a hash
//! that was not computed, nor a method stronger than the one used.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ShredError, StoreError};
use crate::fsinfo::{self, FsInfo};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::Signer;
use crate::manifest::{self, SignerInfo, Tool};
use crate::shred::{self, FsMethod};
use crate::signing;
use crate::store::{HandoverRecord, ReceiptRecord, Store};
use crate::util;

/// The format tag of a certificate.
pub const FORMAT: &str = "handover-deletion-certificate/1";

/// A deletion certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub format: String,
    pub certificate_id: String,
    pub job_id: String,
    /// `delete` or `shred`.
    pub command: String,
    /// The model followed, and the scope of what is certified.
    pub standard: String,
    pub scope: String,
    pub handover: Option<HandoverRef>,
    /// The client's confirmed receipt the deletion relied on.
    pub receipt: Option<ReceiptRef>,
    /// Why the deletion ran without a receipt, when it did.
    pub without_receipt_reason: Option<String>,
    pub operator: Operator,
    pub host: Host,
    pub tool: Tool,
    pub signer: SignerInfo,
    /// UTC, RFC 3339: when the job was first started and when it finished.
    pub started_at: String,
    pub finished_at: String,
    /// How many runs the job took (more than 1: interrupted and resumed).
    pub runs: u32,
    /// What was done on each filesystem.
    pub sanitization: Vec<Sanitization>,
    pub verification: Verification,
    pub totals: Totals,
    pub roots: Vec<RootRef>,
    pub entries: Vec<EntryRef>,
    pub warnings: Vec<String>,
}

/// The handover whose copies were deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandoverRef {
    pub handover_id: String,
    pub client: String,
    pub name: String,
    pub created_at: String,
    pub archive_sha256: String,
    pub manifest_sha256: String,
}

/// The confirmed receipt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiptRef {
    pub confirmed_at: String,
    pub method: String,
    pub receipt_sha256: Option<String>,
    pub client_key_id: Option<String>,
    pub received_at: Option<String>,
}

/// Who ran the deletion (NIST: "Person Performing Sanitization").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operator {
    pub name: String,
    pub organization: Option<String>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub hostname: String,
    pub os: String,
}

/// One filesystem and the method used there (NIST: "Media Information" and "Sanitization
/// Details").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sanitization {
    /// `Clear` when overwritten in place on a rotational disk and verified; otherwise none.
    pub nist_category: String,
    #[serde(flatten)]
    pub detail: FsMethod,
}

/// How the overwrite was checked (NIST: "Verification Method").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    pub method: String,
    /// `passed` (every overwritten file read back equal) or `not_applicable`.
    pub result: String,
    pub files_verified: u64,
    pub bytes_verified: u64,
}

/// Counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Totals {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub other: u64,
    pub bytes: u64,
    pub overwritten_files: u64,
    pub overwritten_bytes: u64,
    pub logical_delete_files: u64,
    /// Entries that disappeared before this job could delete them (not overwritten by it).
    pub vanished: u64,
}

/// A path the job was asked to delete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootRef {
    pub index: u32,
    /// Percent-encoded like a BagIt path (non-UTF-8 bytes as %XX).
    pub path: String,
    pub label: String,
    pub filesystem: String,
}

/// One deleted entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntryRef {
    pub root: u32,
    /// Relative to the root (`.` for the root itself), percent-encoded.
    pub path: String,
    pub kind: String,
    pub bytes: u64,
    /// SHA-256 of the bytes read immediately before the overwrite (delete only). Compare it
    /// with the SHA256SUMS inside the handover archive.
    pub sha256: Option<String>,
    /// The SHA-256 the handover record holds for this file (archive and manifest).
    pub recorded_sha256: Option<String>,
    pub method: String,
    pub verification: Option<String>,
    /// `deleted` or `vanished`.
    pub status: String,
    pub note: Option<String>,
}

/// What [`issue`] needs beyond the database.
pub struct IssueInput<'a> {
    /// The home, for the audit log the certificate is recorded in.
    pub home: &'a crate::home::Home,
    pub job_id: &'a str,
    pub handover: Option<&'a HandoverRecord>,
    pub receipt: Option<&'a ReceiptRecord>,
    pub operator: Option<String>,
    pub organization: Option<String>,
    pub signer: &'a Signer,
    pub dir: &'a Path,
    /// Base name; default `shred-<UTC timestamp>`.
    pub name: Option<String>,
}

/// What [`issue`] wrote.
pub struct Issued {
    pub certificate_id: String,
    pub json_path: PathBuf,
    pub signature_path: PathBuf,
    pub warnings: Vec<String>,
    pub logical_delete_files: u64,
}

/// The operator's name: given, else `$USER`/`$LOGNAME`, else the uid.
fn operator_name(given: Option<String>) -> String {
    given
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            fsinfo::user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
        })
}

/// Builds, signs, writes and stores the certificate of a finished job.
pub fn issue(store: &mut Store, input: &IssueInput<'_>) -> Result<Issued> {
    let job = store.deletion_job_by_id(input.job_id)?;
    let roots = store.deletion_roots(input.job_id)?;
    let entries = store.deletion_entries(input.job_id)?;
    let now = util::now();
    let certificate_id = util::random_hex(16);

    let fs: Vec<FsInfo> = roots
        .iter()
        .map(|r| serde_json::from_str(&r.fs_json).expect("fs info was written by us"))
        .collect();
    let fsr: Vec<(&FsInfo, u32)> = fs.iter().enumerate().map(|(i, f)| (f, i as u32)).collect();
    let deleted: Vec<_> = entries.iter().filter(|e| e.state == "done").collect();
    let methods = shred::fs_methods(
        &fsr,
        deleted.iter().map(|e| {
            (
                e.root_idx,
                e.kind.as_str(),
                e.method.as_str(),
                e.reason.as_deref(),
                e.bytes,
            )
        }),
    );
    let sanitization = methods
        .into_iter()
        .map(|m| Sanitization {
            nist_category: if m.method == "clear" {
                "Clear".into()
            } else {
                "none (weaker than Clear, see reason)".into()
            },
            detail: m,
        })
        .filter(|s| s.detail.method != "unlink")
        .collect();

    let mut totals = Totals::default();
    let mut warnings = Vec::new();
    let mut out_entries = Vec::with_capacity(entries.len());
    let mut bytes_verified = 0;
    let mut read_back: Vec<String> = Vec::new();
    for e in &entries {
        let root = &roots[e.root_idx as usize];
        let recorded = match (input.handover, root.label.as_str()) {
            (Some(h), "archive") if e.rel_path.is_empty() => Some(h.archive_sha256.clone()),
            (Some(h), "manifest") if e.rel_path.is_empty() => Some(h.manifest_sha256.clone()),
            _ => None,
        };
        if let (Some(r), Some(s)) = (&recorded, &e.sha256)
            && r != s
        {
            warnings.push(format!(
                "{} had SHA-256 {s} when deleted, not the {r} recorded at export",
                crate::error::show(&root.path)
            ));
        }
        let vanished = e.state == "vanished";
        if vanished {
            totals.vanished += 1;
        } else {
            match e.kind.as_str() {
                "file" => {
                    totals.files += 1;
                    totals.bytes += e.bytes;
                    if e.method == "clear" || e.method == "overwrite_best_effort" {
                        totals.overwritten_files += 1;
                        totals.overwritten_bytes += e.bytes;
                        bytes_verified += e.bytes;
                        if let Some(v) = &e.verification
                            && !read_back.contains(v)
                        {
                            read_back.push(v.clone());
                        }
                    } else {
                        totals.logical_delete_files += 1;
                    }
                }
                "hard_link" => totals.files += 1,
                "dir" => totals.directories += 1,
                "symlink" => totals.symlinks += 1,
                _ => totals.other += 1,
            }
        }
        out_entries.push(EntryRef {
            root: e.root_idx,
            path: if e.rel_path.is_empty() {
                ".".into()
            } else {
                manifest::bagit_encode(&e.rel_path)
            },
            kind: e.kind.clone(),
            bytes: e.bytes,
            sha256: e.sha256.clone(),
            recorded_sha256: recorded,
            method: e.method.clone(),
            verification: e.verification.clone(),
            status: if vanished { "vanished" } else { "deleted" }.into(),
            note: e.note.clone(),
        });
    }
    for s in &sanitization {
        let s: &Sanitization = s;
        if let Some(r) = &s.detail.reason {
            warnings.push(format!(
                "{} file(s) on {} ({}) got {}: {r}",
                s.detail.entries, s.detail.filesystem, s.detail.mount_point, s.detail.method
            ));
        }
    }
    if totals.vanished > 0 {
        warnings.push(format!(
            "{} entr(y/ies) vanished before this job could delete them; they were not overwritten by it",
            totals.vanished
        ));
    }
    let fallback = entries
        .iter()
        .filter(|e| {
            e.state == "done"
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(shred::RENAME_FALLBACK_NOTE))
        })
        .count();
    if fallback > 0 {
        warnings.push(format!(
            "{fallback} file(s) were on a filesystem that refused renameat2(RENAME_NOREPLACE) (FUSE, NFS, SMB...): each was moved to its random name by a fallback that never replaces an existing name (see the entry's note) before it was truncated and unlinked"
        ));
    }
    if input.handover.is_some() && totals.files > 0 {
        // Said once, so nobody reads more into the hashes than they are.
        warnings.push("sha256 is of the bytes read immediately before the overwrite; the hashes recorded at export are inside the encrypted archive (SHA256SUMS), where the client can compare them".into());
    }

    let cert = Certificate {
        format: FORMAT.into(),
        certificate_id: certificate_id.clone(),
        job_id: job.job_id.clone(),
        command: job.kind.clone(),
        standard: "modelled on the Certificate of Sanitization, NIST SP 800-88 Rev. 1, Appendix G".into(),
        scope: "file-level: only the blocks holding the listed files were overwritten (where stated); no whole-media Clear, Purge or Destroy was performed. File names were replaced with random names before unlinking; filesystems may keep old names in directory blocks and journals until reused.".into(),
        handover: input.handover.map(|h| HandoverRef {
            handover_id: h.handover_id.clone(),
            client: h.client.clone(),
            name: h.name.clone(),
            created_at: h.created_at.clone(),
            archive_sha256: h.archive_sha256.clone(),
            manifest_sha256: h.manifest_sha256.clone(),
        }),
        receipt: input.receipt.map(|r| ReceiptRef {
            confirmed_at: r.confirmed_at.clone(),
            method: r.method.clone(),
            receipt_sha256: r.receipt_sha256.clone(),
            client_key_id: r.client_key_id.clone(),
            received_at: r.received_at.clone(),
        }),
        without_receipt_reason: job.without_receipt_reason.clone(),
        operator: Operator {
            name: operator_name(input.operator.clone()),
            organization: input.organization.clone().filter(|s| !s.trim().is_empty()),
        },
        host: Host {
            hostname: fsinfo::hostname(),
            os: fsinfo::os_release(),
        },
        tool: Tool {
            name: "handover".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        signer: SignerInfo {
            public_key: input.signer.public_base64(),
            key_id: input.signer.key_id(),
        },
        started_at: job.created_at.clone(),
        finished_at: util::rfc3339(now),
        runs: job.runs,
        sanitization,
        verification: Verification {
            method: format!(
                "every overwritten byte was synced (fdatasync), then compared with the keystream regenerated from the file's own random seed; how it was read: {}",
                if read_back.is_empty() {
                    "nothing was overwritten".to_string()
                } else {
                    read_back.join("; ")
                }
            ),
            result: if totals.overwritten_files > 0 {
                "passed".into()
            } else {
                "not_applicable".into()
            },
            files_verified: totals.overwritten_files,
            bytes_verified,
        },
        totals: totals.clone(),
        roots: roots
            .iter()
            .enumerate()
            .map(|(i, r)| RootRef {
                index: i as u32,
                path: {
                    use std::os::unix::ffi::OsStrExt;
                    manifest::bagit_encode(r.path.as_os_str().as_bytes())
                },
                label: r.label.clone(),
                filesystem: fs[i].fs_type.clone(),
            })
            .collect(),
        entries: out_entries,
        warnings: warnings.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&cert).expect("certificate serializes");
    json.push(b'\n');

    let base = input
        .name
        .clone()
        .unwrap_or_else(|| format!("shred-{}", util::compact_timestamp(now)));
    std::fs::create_dir_all(input.dir).map_err(|source| ShredError::CertificateWrite {
        path: input.dir.to_path_buf(),
        source,
    })?;
    let mut json_path = input.dir.join(format!("{base}.deletion-certificate.json"));
    if json_path.symlink_metadata().is_ok() {
        json_path = input.dir.join(format!(
            "{base}-{}.deletion-certificate.json",
            &certificate_id[..8]
        ));
    }
    let file_name = json_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sig = signing::sign(input.signer, &json, &file_name, now.unix_timestamp())
        .map_err(crate::error::KeyError::Crypto)?;
    let mut sig_path = json_path.clone().into_os_string();
    sig_path.push(".minisig");
    let sig_path = PathBuf::from(sig_path);
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ShredError::CertificateWrite { path, source }
    };
    home::write_new(&sig_path, sig.as_bytes(), PUBLIC_MODE).map_err(werr(&sig_path))?;
    home::write_new(&json_path, &json, PUBLIC_MODE).map_err(werr(&json_path))?;

    let tx = store.begin()?;
    tx.insert_certificate(&crate::store::CertificateRecord {
        certificate_id: certificate_id.clone(),
        job_id: job.job_id.clone(),
        handover_id: job.handover_id.clone(),
        created_at: util::rfc3339(now),
        document: json,
        signature: sig,
        json_path: json_path.clone(),
        signature_path: sig_path.clone(),
    })?;
    crate::audit::append(
        &tx,
        input.home,
        &job.kind,
        job.handover_id.as_deref(),
        serde_json::json!({
            "result": "deleted",
            "certificate_id": certificate_id,
            "job_id": job.job_id,
            "files": totals.files,
            "bytes": totals.bytes,
            "overwritten_files": totals.overwritten_files,
            "logical_delete_files": totals.logical_delete_files,
            "without_receipt_reason": job.without_receipt_reason,
        }),
    )?;
    tx.commit()?;
    Ok(Issued {
        certificate_id,
        json_path,
        signature_path: sig_path,
        warnings,
        logical_delete_files: totals.logical_delete_files,
    })
}

/// A stored certificate, parsed, with its signature checked against the key it names.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateView {
    pub certificate: Certificate,
    /// The exact signed bytes (what `--json` prints).
    #[serde(skip)]
    pub document: Vec<u8>,
    pub json_path: PathBuf,
    pub signature_path: PathBuf,
    /// Whether the stored signature verifies with the public key inside the certificate.
    pub signature_valid: bool,
}

/// Looks a certificate up by id (or a prefix of at least 4 characters).
pub fn show(home: &Home, id: &str) -> Result<CertificateView> {
    if !home.database().exists() {
        return Err(StoreError::CertificateNotFound(id.to_string()).into());
    }
    let store = Store::open(&home.database())?;
    let rec = store.certificate(id)?;
    let certificate: Certificate =
        serde_json::from_slice(&rec.document).map_err(|e| StoreError::Corrupt {
            path: home.database(),
            detail: format!("certificate {} does not parse: {e}", rec.certificate_id),
        })?;
    let signature_valid = minisign::PublicKey::from_base64(&certificate.signer.public_key)
        .ok()
        .is_some_and(|pk| signing::verify(&pk, &rec.document, &rec.signature).is_ok());
    Ok(CertificateView {
        certificate,
        document: rec.document,
        json_path: rec.json_path,
        signature_path: rec.signature_path,
        signature_valid,
    })
}
