//! The deletion certificate: a JSON document modelled on the Certificate of Sanitization of
//! NIST SP 800-88 (Rev. 2, September 2025, which replaced Rev. 1), in Rev. 2's vocabulary
//! (sanitization method Clear/Purge/Destroy, technique), written beside the handover (or into
//! `--out`) and stored in the state database.
//!
//! It is signed with the home's certificate key, which the provider key authorised once
//! (see [`crate::keys::delegation`]); the delegation travels inside the certificate and beside it,
//! so `minisign -V` checks the delegation against `handover.pub` and the certificate against
//! the key the delegation names. With `--sign-key FILE` it is signed with that key directly.
//!
//! Built only from what the job recorded in the database over all its runs, so an interrupted
//! and resumed deletion is certified once, every entry listed once. It never states a hash
//! that was not computed, nor a method stronger than the one used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::erase::fsinfo::{self, FsInfo};
use crate::erase::names::{self, Names};
use crate::erase::plan::{FsMethod, fs_methods};
use crate::error::{CertificateProblem, Corruption, Result, ShredError, StoreError};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::Signer;
use crate::keys::signing;
use crate::ledger::event::{AuditEvent, DeletedDetails, DeletionResult};
use crate::ledger::state::EntryState;
use crate::ledger::store::{
    EntryRecord, HandoverRecord, JobRecord, ObjectEntryRecord, ReceiptRecord, RootRecord, Store,
};
use crate::manifest::{SignerInfo, Tool};
use crate::util;

/// The format tag of a certificate.
pub const FORMAT: &str = "handover-deletion-certificate/1";

/// A deletion certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    /// The format tag, `handover-deletion-certificate/1`.
    pub format: String,
    /// The certificate's id (32 hex characters).
    pub certificate_id: String,
    /// The deletion job it certifies (32 hex characters), over all that job's runs.
    pub job_id: String,
    /// `delete` or `shred`.
    pub command: String,
    /// The model followed, and the scope of what is certified.
    pub standard: String,
    /// What the certificate covers and what it does not: files, never whole media.
    pub scope: String,
    /// The handover whose local copies were deleted (`delete`); None for `shred`.
    pub handover: Option<HandoverRef>,
    /// The client's confirmed receipt the deletion relied on.
    pub receipt: Option<ReceiptRef>,
    /// Why the deletion ran without a receipt, when it did.
    pub without_receipt_reason: Option<String>,
    /// Who ran the deletion (`--operator`, else `$USER`), and for which organisation.
    pub operator: Operator,
    /// The machine the deletion ran on: its hostname and operating system.
    pub host: Host,
    /// The program that issued the certificate, with its version.
    pub tool: Tool,
    /// The key that signed it: the delegated certificate key, the provider key or `--sign-key`.
    pub signer: SignerInfo,
    /// UTC, RFC 3339: when the job was first started and when it finished.
    pub started_at: String,
    /// When the job finished and the certificate was issued (UTC, RFC 3339).
    pub finished_at: String,
    /// How many runs the job took (more than 1: interrupted and resumed).
    pub runs: u32,
    /// What was done on each filesystem.
    pub sanitization: Vec<Sanitization>,
    /// How the overwritten files were read back, and the result (NIST: "Verification Method").
    pub verification: Verification,
    /// What was deleted, counted by kind, with the bytes overwritten and the files only unlinked.
    pub totals: Totals,
    /// How paths are listed: `salted_sha256` (each root and entry as `path_sha256`, see
    /// `erase::names`) or `clear` (`path`). Certificates from before this field: clear.
    #[serde(default = "names_clear")]
    pub names: String,
    /// The salt of every `path_sha256` in this certificate (64 hex characters), when names
    /// are salted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_salt: Option<String>,
    /// The paths the job was asked to delete; each entry names its root by `index`.
    pub roots: Vec<RootRef>,
    /// Every entry of the job, each once: deleted, or found gone before the job reached it.
    pub entries: Vec<EntryRef>,
    /// What the job removed in buckets: every version, delete marker and incomplete upload
    /// of the handover's recorded keys. Absent when there was none, so certificates of local
    /// deletions are what earlier versions wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectRef>,
    /// Caveats for people: weaker methods, vanished entries, hashes unlike those of the export.
    pub warnings: Vec<String>,
    /// The audit log as it stood when the certificate was issued: an anchor outside the
    /// database (`handover audit verify --against CERTIFICATE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<crate::manifest::Checkpoint>,
    /// The provider key's authorisation of the key in `signer`, when that is the delegated
    /// certificate key (None: signed by the provider key itself, or by `--sign-key`).
    #[serde(default)]
    pub delegation: Option<crate::keys::delegation::DelegationRef>,
    /// The handover's void (`handover void`), when the deletion ran on it instead of a
    /// receipt: the handover was withdrawn before it was delivered. Absent otherwise, so
    /// certificates without one are what earlier versions wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void: Option<VoidRef>,
}

/// Why a handover was withdrawn before it was delivered, as its audited void recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VoidRef {
    /// When it was voided (UTC, RFC 3339).
    pub voided_at: String,
    /// Why, as the operator gave it.
    pub reason: String,
}

/// The handover whose copies were deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandoverRef {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name, the base name of its files.
    pub name: String,
    /// When it was exported (UTC, RFC 3339).
    pub created_at: String,
    /// SHA-256 of the encrypted archive as recorded at export, hex.
    pub archive_sha256: String,
    /// SHA-256 of the signed manifest's bytes as recorded at export, hex.
    pub manifest_sha256: String,
}

/// The confirmed receipt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiptRef {
    /// When the provider confirmed the receipt (UTC, RFC 3339).
    pub confirmed_at: String,
    /// `code` (the receipt code was typed) or `receipt` (a receipt file was checked).
    pub method: String,
    /// SHA-256 of the receipt file, when one was given.
    pub receipt_sha256: Option<String>,
    /// Minisign key id of the client's signature on the receipt, when signed.
    pub client_key_id: Option<String>,
    /// The time the client's receipt states, when one was given.
    pub received_at: Option<String>,
    /// What the confirmation proves (`client_signature`, `unbound_signature`, `code`) and
    /// that in words, with its caveat. Absent in certificates made before levels existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// What `proof` means, in words, with its caveat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_meaning: Option<String>,
}

/// Who ran the deletion (NIST: "Person Performing Sanitization").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operator {
    /// Who ran it: `--operator`, else `$USER` (or `$LOGNAME`, or the user of the process).
    pub name: String,
    /// The organisation they ran it for (`--organization`), when given.
    pub organization: Option<String>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    /// The machine's hostname (`unknown` when it cannot be read).
    pub hostname: String,
    /// `Linux` and the kernel release.
    pub os: String,
}

/// One filesystem and the method used there (NIST: "Media Information" and "Sanitization
/// Details").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sanitization {
    /// `Clear` when overwritten in place on a rotational disk and verified; otherwise none.
    pub nist_category: String,
    /// NIST SP 800-88 Rev. 2 sanitization method reached: `Clear`, or `none (best effort)`
    /// for an overwrite that cannot be shown to reach the media, or `none` (not overwritten).
    /// Never `Purge` or `Destroy`: this tool works on files, not on whole media.
    #[serde(default)]
    pub sanitization_method: String,
    /// The technique used: `overwrite` or `logical delete` (the name removed, the blocks
    /// freed, not overwritten).
    #[serde(default)]
    pub technique: String,
    /// The disk under the filesystem as sysfs described it when the job was planned (NIST:
    /// "Media Information"): name, vendor, model, drivers, and why it counts as virtual.
    #[serde(default)]
    pub media: Option<fsinfo::DiskInfo>,
    /// The filesystem, its mount point and device, the internal `method`, and the counts.
    #[serde(flatten)]
    pub detail: FsMethod,
}

/// How the overwrite was checked (NIST: "Verification Method").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// How the overwritten files were synced and read back, in words.
    pub method: String,
    /// `passed` (every overwritten file read back equal) or `not_applicable`.
    pub result: String,
    /// Files overwritten and read back equal (as `totals.overwritten_files`).
    pub files_verified: u64,
    /// The bytes of those files.
    pub bytes_verified: u64,
}

/// Counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Totals {
    /// Regular files deleted, further names of a hard-linked file included.
    pub files: u64,
    /// Directories removed.
    pub directories: u64,
    /// Symlinks unlinked (their targets untouched).
    pub symlinks: u64,
    /// Other entries unlinked: sockets, FIFOs, device nodes.
    pub other: u64,
    /// Bytes of the regular files deleted.
    pub bytes: u64,
    /// Files overwritten and read back (method `clear` or `overwrite_best_effort`).
    pub overwritten_files: u64,
    /// The bytes of those files.
    pub overwritten_bytes: u64,
    /// Files unlinked without an overwrite (method `logical_delete`).
    pub logical_delete_files: u64,
    /// Entries that disappeared before this job could delete them (not overwritten by it).
    pub vanished: u64,
}

fn names_clear() -> String {
    Names::Clear.as_str().into()
}

/// A path the job was asked to delete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootRef {
    /// Its position in `roots`, which each entry's `root` names.
    pub index: u32,
    /// Percent-encoded like a BagIt path (non-UTF-8 bytes as %XX). Absent when names are
    /// salted and this root is not an outbox file (archive, manifest, signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Salted SHA-256 of the absolute path's bytes (see `erase::names`), in place of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_sha256: Option<String>,
    /// Its role: `source`, `archive`, `manifest`, `signature`, `stale_temp`, `also` or `path`.
    pub label: String,
    /// Its filesystem type when the job was planned: `ext4`, `xfs`, `btrfs`, ...
    pub filesystem: String,
}

/// One deleted entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntryRef {
    /// The `index` of its root in `roots`.
    pub root: u32,
    /// Relative to the root (`.` for the root itself), percent-encoded. Only with
    /// `names: clear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Salted SHA-256 of the path relative to the root, raw bytes (empty for the root
    /// itself; see `erase::names`). With `names: salted_sha256`, in place of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_sha256: Option<String>,
    /// `file`, `hard_link` (a further name of a file listed already), `dir`, `symlink` or `other`.
    pub kind: String,
    /// A regular file's size in bytes; 0 for every other kind, and for `hard_link`.
    pub bytes: u64,
    /// SHA-256 of the bytes read immediately before the overwrite (delete only). Compare it
    /// with the SHA256SUMS inside the handover archive.
    pub sha256: Option<String>,
    /// The SHA-256 the handover record holds for this file (archive and manifest).
    pub recorded_sha256: Option<String>,
    /// How it was deleted: `clear`, `overwrite_best_effort`, `logical_delete` or `unlink`.
    pub method: String,
    /// How the overwrite was read back and compared, when the file was overwritten.
    pub verification: Option<String>,
    /// `deleted` or `vanished`.
    pub status: String,
    /// What else happened to it: a rename fallback, removed by an interrupted run, vanished.
    pub note: Option<String>,
}

/// One thing removed in a bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: String,
    /// The object's key. Absent when names are salted and the key is a `source` key (the
    /// client's file name); the outputs' keys stay in clear, like their paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Salted SHA-256 of the key's bytes (see `erase::names`), in place of `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// The role of the recorded key: `archive`, `manifest`, `signature` or `source`.
    pub role: String,
    /// `object` (a version with data), `delete_marker` or `multipart_upload`.
    pub kind: String,
    /// The version id (the upload id of a `multipart_upload`); None in a bucket without
    /// versions.
    pub version_id: Option<String>,
    /// The version's size in bytes (0 for the other kinds).
    pub bytes: u64,
    /// `logical_delete`: the service was asked to remove it.
    pub method: String,
    /// Why no more is claimed: the storage service decides when the bytes are gone.
    pub reason: String,
    /// `deleted` or `vanished` (gone before this job reached it; not removed by it).
    pub status: String,
    /// What else happened to it.
    pub note: Option<String>,
}

/// The model the certificate follows.
pub const STANDARD: &str = "modelled on the Certificate of Sanitization of NIST SP 800-88 Rev. 2, Guidelines for Media Sanitization (September 2025; Rev. 1 is withdrawn), in its terms: sanitization method (Clear, Purge, Destroy) and technique";

/// What a certificate covers, said once.
pub const SCOPE: &str = "file level only: the listed files were deleted; where a filesystem says Clear, their blocks were overwritten in place and read back; no whole-media Clear, Purge or Destroy was performed. File names were replaced with random names before unlinking, but filesystems may keep old names in directory blocks and journals until they are reused. Each filesystem's reason says why its method is weaker than Clear.";

/// The NIST SP 800-88 Rev. 2 sanitization method an internal method reaches.
pub fn rev2_method(method: &str) -> &'static str {
    match method {
        "clear" => "Clear",
        "overwrite_best_effort" => "none (best effort)",
        _ => "none",
    }
}

/// The Rev. 2 technique an internal method used.
pub fn rev2_technique(method: &str) -> &'static str {
    match method {
        "clear" | "overwrite_best_effort" => "overwrite",
        _ => "logical delete",
    }
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
    /// How paths are listed, here and, once the job is done, in the database.
    pub names: Names,
}

/// What [`issue`] wrote.
pub struct Issued {
    pub certificate_id: String,
    pub json_path: PathBuf,
    pub signature_path: PathBuf,
    pub warnings: Vec<String>,
    pub logical_delete_files: u64,
    /// Bucket entries deleted (logical delete), from the certificate's `objects`.
    pub bucket_entries: u64,
}

/// How the certificate names paths: in clear, or by their salted hash.
struct Namer {
    salt: Option<String>,
}

impl Namer {
    /// A path as the certificate names it: (clear, salted hash), one of them set. `clear`
    /// keeps it in clear even when names are hashed.
    fn name(&self, path: &[u8], clear: bool) -> (Option<String>, Option<String>) {
        match &self.salt {
            Some(s) if !clear => (None, Some(names::path_sha256(s, path))),
            _ => (
                Some(if path.is_empty() {
                    ".".to_string()
                } else {
                    crate::bag::bagit_encode(path)
                }),
                None,
            ),
        }
    }
}

/// The certificate's entries and what they add up to.
#[derive(Default)]
struct Tally {
    totals: Totals,
    entries: Vec<EntryRef>,
    warnings: Vec<String>,
    bytes_verified: u64,
    /// How overwritten files were read back, each way once.
    read_back: Vec<String>,
}

/// Builds, signs, writes and stores the certificate of a finished job.
pub fn issue(store: &mut Store, input: &IssueInput<'_>) -> Result<Issued> {
    let job = store.deletion_job_by_id(input.job_id)?;
    let roots = store.deletion_roots(input.job_id)?;
    let entries = store.deletion_entries(input.job_id)?;
    let now = util::now();
    let certificate_id = util::random_hex(16);
    let namer = Namer {
        salt: (input.names == Names::SaltedSha256).then(names::new_salt),
    };
    let fs: Vec<FsInfo> = roots
        .iter()
        .map(|r| serde_json::from_str(&r.fs_json).expect("fs info was written by us"))
        .collect();
    let sanitization = sanitization(&fs, &entries);
    let mut tally = tally(&entries, &roots, input.handover, &namer);
    let objects = object_refs(&store.object_entries(input.job_id)?, &namer);
    tally.warnings.extend(object_warning(&objects));
    tally.warnings.extend(general_warnings(
        &sanitization,
        &tally.totals,
        &entries,
        input.handover,
    ));
    let cert = Certificate {
        format: FORMAT.into(),
        certificate_id: certificate_id.clone(),
        job_id: job.job_id.clone(),
        command: job.kind.clone(),
        standard: STANDARD.into(),
        scope: SCOPE.into(),
        handover: input.handover.map(handover_ref),
        receipt: input.receipt.map(receipt_ref),
        without_receipt_reason: job.without_receipt_reason.clone(),
        operator: Operator {
            name: crate::util::operator_name(input.operator.as_deref()),
            organization: input.organization.clone().filter(|s| !s.trim().is_empty()),
        },
        host: Host {
            hostname: util::hostname(),
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
        verification: verification(&tally),
        totals: tally.totals.clone(),
        names: input.names.as_str().into(),
        names_salt: namer.salt.clone(),
        roots: root_refs(&roots, &fs, &namer),
        entries: std::mem::take(&mut tally.entries),
        objects,
        warnings: tally.warnings.clone(),
        audit_checkpoint: crate::ledger::audit::checkpoint(store, input.home)?,
        delegation: None,
        void: input
            .handover
            .filter(|_| job.without_receipt_reason.as_deref() == Some(super::VOIDED))
            .and_then(|h| {
                Some(VoidRef {
                    voided_at: h.voided_at.clone()?,
                    reason: h.void_reason.clone().unwrap_or_default(),
                })
            }),
    };
    let written = write_signed(input, cert, &certificate_id, now)?;
    record(store, input, &job, &entries, &written, &tally.totals, now)?;
    Ok(Issued {
        certificate_id,
        json_path: written.json_path,
        signature_path: written.sig_path,
        warnings: tally.warnings,
        logical_delete_files: tally.totals.logical_delete_files,
        bucket_entries: bucket_deleted(&written.cert.objects),
    })
}

/// The bucket entries this job deleted: object versions, delete markers, uploads.
fn bucket_deleted(objects: &[ObjectRef]) -> u64 {
    objects.iter().filter(|o| o.status == "deleted").count() as u64
}

/// One line per filesystem and method, for the deleted entries (unlinks need none).
fn sanitization(fs: &[FsInfo], entries: &[EntryRecord]) -> Vec<Sanitization> {
    let fsr: Vec<(&FsInfo, u32)> = fs.iter().enumerate().map(|(i, f)| (f, i as u32)).collect();
    let deleted: Vec<_> = entries
        .iter()
        .filter(|e| e.state == EntryState::Done)
        .collect();
    let methods = fs_methods(
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
    methods
        .into_iter()
        .map(|m| Sanitization {
            nist_category: if m.method == "clear" {
                "Clear".into()
            } else {
                "none (weaker than Clear, see reason)".into()
            },
            sanitization_method: rev2_method(&m.method).into(),
            technique: rev2_technique(&m.method).into(),
            media: fs
                .iter()
                .find(|f| f.device == m.device)
                .and_then(|f| f.disk.clone()),
            detail: m,
        })
        .filter(|s| s.detail.method != "unlink")
        .collect()
}

/// Each entry as the certificate lists it, counted into the totals; warns where a deleted
/// archive or manifest did not have the hash recorded at export.
fn tally(
    entries: &[EntryRecord],
    roots: &[RootRecord],
    handover: Option<&HandoverRecord>,
    namer: &Namer,
) -> Tally {
    let mut t = Tally {
        entries: Vec::with_capacity(entries.len()),
        ..Tally::default()
    };
    for e in entries {
        let root = &roots[e.root_idx as usize];
        let recorded = match (handover, root.label.as_str()) {
            (Some(h), "archive") if e.rel_path.is_empty() => Some(h.archive_sha256.clone()),
            (Some(h), "manifest") if e.rel_path.is_empty() => Some(h.manifest_sha256.clone()),
            _ => None,
        };
        if let (Some(r), Some(s)) = (&recorded, &e.sha256)
            && r != s
        {
            t.warnings.push(format!(
                "{} had SHA-256 {s} when deleted, not the {r} recorded at export",
                crate::error::show(&root.path)
            ));
        }
        let vanished = e.state == EntryState::Vanished;
        if vanished {
            t.totals.vanished += 1;
        } else {
            t.count(e);
        }
        let (path, path_sha256) = namer.name(&e.rel_path, false);
        t.entries.push(EntryRef {
            root: e.root_idx,
            path,
            path_sha256,
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
    t
}

impl Tally {
    /// Counts one entry that was deleted (not found gone).
    fn count(&mut self, e: &EntryRecord) {
        let totals = &mut self.totals;
        match e.kind.as_str() {
            "file" => {
                totals.files += 1;
                totals.bytes += e.bytes;
                if e.method == "clear" || e.method == "overwrite_best_effort" {
                    totals.overwritten_files += 1;
                    totals.overwritten_bytes += e.bytes;
                    self.bytes_verified += e.bytes;
                    if let Some(v) = &e.verification
                        && !self.read_back.contains(v)
                    {
                        self.read_back.push(v.clone());
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
}

/// The warnings about the job as a whole: weaker methods, vanished entries, the rename
/// fallback, and what the hashes are.
fn general_warnings(
    sanitization: &[Sanitization],
    totals: &Totals,
    entries: &[EntryRecord],
    handover: Option<&HandoverRecord>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for s in sanitization {
        if let Some(r) = &s.detail.reason {
            warnings.push(format!(
                "{} on {} ({}) got {}: {r}",
                crate::util::plural(s.detail.entries, "file", "files"),
                s.detail.filesystem,
                s.detail.mount_point,
                s.detail.method
            ));
        }
    }
    if totals.vanished > 0 {
        warnings.push(format!(
            "{} vanished before this job could delete {}; not overwritten by it",
            crate::util::plural(totals.vanished, "entry", "entries"),
            if totals.vanished == 1 { "it" } else { "them" }
        ));
    }
    let fallback = entries
        .iter()
        .filter(|e| {
            e.state == EntryState::Done
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(crate::erase::exec::RENAME_FALLBACK_NOTE))
        })
        .count();
    if fallback > 0 {
        warnings.push(format!(
            "{} on a filesystem that refused renameat2(RENAME_NOREPLACE) (FUSE, NFS, SMB...): each was moved to its random name by a fallback that never replaces an existing name (see the entry's note) before it was truncated and unlinked",
            if fallback == 1 { "1 file was".to_string() } else { format!("{fallback} files were") }
        ));
    }
    if handover.is_some() && totals.files > 0 {
        // Said once, so nobody reads more into the hashes than they are.
        warnings.push("sha256 is of the bytes read immediately before the overwrite; the hashes recorded at export are inside the encrypted archive (SHA256SUMS), where the client can compare them".into());
    }
    warnings
}

/// The bucket entries as the certificate lists them.
fn object_refs(entries: &[ObjectEntryRecord], namer: &Namer) -> Vec<ObjectRef> {
    entries
        .iter()
        .map(|e| {
            let (key, key_sha256) = match &namer.salt {
                Some(salt) if e.role == "source" => {
                    (None, Some(names::path_sha256(salt, e.key.as_bytes())))
                }
                _ => (Some(e.key.clone()), None),
            };
            let vanished = e.state == EntryState::Vanished;
            ObjectRef {
                bucket: e.bucket.clone(),
                key,
                key_sha256,
                role: e.role.clone(),
                kind: e.kind.clone(),
                version_id: e.version_id.clone(),
                bytes: e.bytes,
                method: e.method.clone(),
                reason: crate::erase::bucket::REASON.into(),
                status: if vanished { "vanished" } else { "deleted" }.into(),
                note: e.note.clone(),
            }
        })
        .collect()
}

/// What a logical delete in a bucket does and does not claim, said once.
fn object_warning(objects: &[ObjectRef]) -> Option<String> {
    let deleted: Vec<&ObjectRef> = objects.iter().filter(|o| o.status == "deleted").collect();
    if deleted.is_empty() {
        return None;
    }
    let versions = deleted.iter().filter(|o| o.kind == "object").count() as u64;
    let bytes: u64 = deleted.iter().map(|o| o.bytes).sum();
    Some(format!(
        "{} ({}) and {} in object storage got a logical delete: the service was asked to remove them and no longer lists them, but {}; no overwrite is claimed",
        crate::util::plural(versions, "object version", "object versions"),
        crate::util::human_bytes(bytes),
        crate::util::plural(
            deleted.len() as u64 - versions,
            "delete marker or incomplete upload",
            "delete markers or incomplete uploads"
        ),
        crate::erase::bucket::REASON
    ))
}

fn handover_ref(h: &HandoverRecord) -> HandoverRef {
    HandoverRef {
        handover_id: h.handover_id.clone(),
        client: h.client.clone(),
        name: h.name.clone(),
        created_at: h.created_at.clone(),
        archive_sha256: h.archive_sha256.clone(),
        manifest_sha256: h.manifest_sha256.clone(),
    }
}

fn receipt_ref(r: &ReceiptRecord) -> ReceiptRef {
    ReceiptRef {
        confirmed_at: r.confirmed_at.clone(),
        method: r.method.clone(),
        receipt_sha256: r.receipt_sha256.clone(),
        client_key_id: r.client_key_id.clone(),
        received_at: r.received_at.clone(),
        proof: Some(r.proof.clone()),
        proof_meaning: Some(crate::ledger::state::proof_meaning(
            &r.proof,
            r.client_key_id.as_deref(),
        )),
    }
}

fn verification(t: &Tally) -> Verification {
    Verification {
        method: format!(
            "every overwritten byte was synced (fdatasync), then compared with the keystream regenerated from the file's own random seed; how it was read: {}",
            if t.read_back.is_empty() {
                "nothing was overwritten".to_string()
            } else {
                t.read_back.join("; ")
            }
        ),
        result: if t.totals.overwritten_files > 0 {
            "passed".into()
        } else {
            "not_applicable".into()
        },
        files_verified: t.totals.overwritten_files,
        bytes_verified: t.bytes_verified,
    }
}

fn root_refs(roots: &[RootRecord], fs: &[FsInfo], namer: &Namer) -> Vec<RootRef> {
    use std::os::unix::ffi::OsStrExt;
    roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (path, path_sha256) = namer.name(
                r.path.as_os_str().as_bytes(),
                names::root_in_clear(&r.label),
            );
            RootRef {
                index: i as u32,
                path,
                path_sha256,
                label: r.label.clone(),
                filesystem: fs[i].fs_type.clone(),
            }
        })
        .collect()
}

/// A certificate as signed and written.
struct Written {
    cert: Certificate,
    json: Vec<u8>,
    sig: String,
    json_path: PathBuf,
    sig_path: PathBuf,
}

/// Signs the certificate (embedding the delegation when the delegated key signs) and writes
/// it, its signature and the delegation's files beside it, never over an existing file.
fn write_signed(
    input: &IssueInput<'_>,
    mut cert: Certificate,
    certificate_id: &str,
    now: time::OffsetDateTime,
) -> Result<Written> {
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
    // Signed by the delegated certificate key: the delegation goes inside and beside it.
    let delegation = crate::keys::delegation::load(input.home)?
        .filter(|l| l.signer.key_id() == input.signer.key_id());
    let delegation_name = file_name.replace(".deletion-certificate.json", ".cert-delegation.json");
    cert.delegation = delegation.as_ref().map(|l| l.to_ref(&delegation_name));
    let mut json = serde_json::to_vec_pretty(&cert).expect("certificate serializes");
    json.push(b'\n');
    let sig = signing::sign(input.signer, &json, &file_name, now.unix_timestamp())
        .map_err(crate::error::KeyError::Sign)?;
    let sig_path = crate::manifest::sig_path(&json_path);
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ShredError::CertificateWrite { path, source }
    };
    if let Some(d) = &cert.delegation {
        let p = input.dir.join(&d.file_name);
        let ps = crate::manifest::sig_path(&p);
        home::write_new(&ps, d.signature.as_bytes(), PUBLIC_MODE).map_err(werr(&ps))?;
        home::write_new(&p, d.document.as_bytes(), PUBLIC_MODE).map_err(werr(&p))?;
    }
    home::write_new(&sig_path, sig.as_bytes(), PUBLIC_MODE).map_err(werr(&sig_path))?;
    home::write_new(&json_path, &json, PUBLIC_MODE).map_err(werr(&json_path))?;
    Ok(Written {
        cert,
        json,
        sig,
        json_path,
        sig_path,
    })
}

/// Stores the certificate, marks the job done, names its paths from now on only as the
/// certificate does, and records the deletion in the audit log: one transaction.
fn record(
    store: &mut Store,
    input: &IssueInput<'_>,
    job: &JobRecord,
    entries: &[EntryRecord],
    w: &Written,
    totals: &Totals,
    now: time::OffsetDateTime,
) -> Result<()> {
    let objects = store.object_entries(&job.job_id)?;
    let tx = store.begin()?;
    tx.insert_certificate(&crate::ledger::store::CertificateRecord {
        certificate_id: w.cert.certificate_id.clone(),
        job_id: job.job_id.clone(),
        handover_id: job.handover_id.clone(),
        created_at: util::rfc3339(now),
        document: w.json.clone(),
        signature: w.sig.clone(),
        json_path: w.json_path.clone(),
        signature_path: w.sig_path.clone(),
    })?;
    // The job is done: from now on the database names its paths only as the certificate
    // does. Until here (an interrupted job) it needed them in clear to resume.
    tx.set_job_names(&job.job_id, input.names.as_str())?;
    if w.cert.names_salt.is_some() {
        // One certificate entry per recorded entry, in the same order.
        for (rec, e) in entries.iter().zip(&w.cert.entries) {
            if let Some(h) = &e.path_sha256 {
                tx.redact_entry_path(&job.job_id, rec.seq, &names::stored_form(h))?;
            }
        }
        for r in &w.cert.roots {
            if let Some(h) = &r.path_sha256 {
                tx.redact_root_path(&job.job_id, r.index, &names::stored_form(h))?;
            }
        }
        // One certificate object per recorded object entry, in the same order.
        for (rec, o) in objects.iter().zip(&w.cert.objects) {
            if let Some(h) = &o.key_sha256 {
                tx.redact_object_key(&job.job_id, rec.seq, &names::stored_form(h))?;
            }
        }
    }
    let details = DeletedDetails {
        result: DeletionResult::Deleted,
        certificate_id: w.cert.certificate_id.clone(),
        job_id: job.job_id.clone(),
        files: totals.files,
        bytes: totals.bytes,
        overwritten_files: totals.overwritten_files,
        logical_delete_files: totals.logical_delete_files,
        without_receipt_reason: job.without_receipt_reason.clone(),
        bucket_entries: Some(bucket_deleted(&w.cert.objects)).filter(|n| *n > 0),
    };
    // The job's kind is its command: `delete` (a handover's copies) or `shred` (paths).
    let event = if job.kind == "shred" {
        AuditEvent::Shred(details)
    } else {
        AuditEvent::Delete(details)
    };
    crate::ledger::audit::append(&tx, input.home, job.handover_id.as_deref(), &event)?;
    tx.commit()?;
    Ok(())
}

/// A stored certificate, parsed, with its signature checked against the key it names.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateView {
    /// The certificate, parsed from the stored signed document.
    pub certificate: Certificate,
    /// The exact signed bytes (what `--json` prints).
    #[serde(skip)]
    pub document: Vec<u8>,
    /// Where the certificate's JSON was written when it was issued.
    pub json_path: PathBuf,
    /// Where its minisign signature (`.minisig`) was written when it was issued.
    pub signature_path: PathBuf,
    /// Whether the stored signature verifies with the public key inside the certificate.
    pub signature_valid: bool,
    /// When the certificate carries a delegation: whether it verifies with this home's
    /// `handover.pub` and authorises the key that signed the certificate.
    pub delegation_valid: Option<bool>,
}

/// Looks a certificate up by id (or a prefix of at least 4 characters).
pub fn show(home: &Home, id: &str) -> Result<CertificateView> {
    if !home.database().exists() {
        return Err(StoreError::CertificateNotFound(id.to_string()).into());
    }
    let store = Store::open(&home.database())?;
    let rec = store.certificate(id)?;
    let certificate: Certificate =
        serde_json::from_slice(&rec.document).map_err(|source| StoreError::Corrupt {
            path: home.database(),
            problem: Corruption::Certificate {
                id: rec.certificate_id.clone(),
                source,
            },
        })?;
    let signature_valid = minisign::PublicKey::from_base64(&certificate.signer.public_key)
        .ok()
        .is_some_and(|pk| signing::verify(&pk, &rec.document, &rec.signature).is_ok());
    let delegation_valid = certificate.delegation.as_ref().map(|d| {
        crate::keys::load_public_key(Some(&home.public_key()), None).is_ok_and(|pk| {
            crate::keys::delegation::check_ref(&pk, d, &certificate.signer.key_id).is_ok()
        })
    });
    Ok(CertificateView {
        certificate,
        document: rec.document,
        json_path: rec.json_path,
        signature_path: rec.signature_path,
        signature_valid,
        delegation_valid,
    })
}

/// One file of the client's bag and what the certificate says of it.
#[derive(Debug, Clone, Serialize)]
pub struct BagFile {
    /// Relative to the bag's `data/`, percent-encoded like a BagIt path.
    pub path: String,
    /// `file` or `symlink`.
    pub kind: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Why it is not covered (absent when covered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether its SHA-256 was compared with the certificate's (which lists one for each file
    /// `delete` hashed before overwriting it).
    pub sha256_compared: bool,
}

/// What `handover certificate check CERT --bag DIR` found.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The checked certificate's id.
    pub certificate_id: String,
    /// `salted_sha256` or `clear`: how the certificate names paths.
    pub names: String,
    /// Whether `CERT.minisig` is there, and whether it verifies with the key the certificate
    /// names (`signer.key_id`); that key itself is checked with `minisign -V` (README).
    pub signature_file: bool,
    /// Whether `CERT.minisig` verifies with the key the certificate names; None without one.
    pub signature_valid: Option<bool>,
    /// The minisign key id the certificate names as its signer (`signer.key_id`).
    pub signer_key_id: String,
    /// With `--signer`: whether that key is the provider's key or one its delegation (inside
    /// the certificate) authorises; None without `--signer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_authorised: Option<bool>,
    /// The bag's files matching a deleted entry: same path, size, and SHA-256 where one is listed.
    pub covered: Vec<BagFile>,
    /// The bag's files the certificate does not cover, each with the reason.
    pub not_covered: Vec<BagFile>,
    /// Entries of the certificate's data root that match no file of the bag.
    pub certificate_entries_not_in_bag: u64,
    /// Why the certificate cannot vouch for this bag at all, when it cannot: it is not the
    /// deletion of this bag's handover (`External-Identifier` in bag-info.txt), or its
    /// signature is missing or invalid. Then nothing counts as covered.
    pub refused: Option<String>,
    /// True only when every file of the bag is covered and the certificate is not refused.
    pub all_covered: bool,
}

/// Reads a certificate file and its `.minisig`, if any.
fn read_certificate(path: &Path) -> Result<(Certificate, Vec<u8>, Option<String>)> {
    let bad = |problem: CertificateProblem| ShredError::CertificateRead {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(CertificateProblem::Read(e)))?;
    let cert: Certificate =
        serde_json::from_slice(&bytes).map_err(|e| bad(CertificateProblem::NotACertificate(e)))?;
    if cert.format != FORMAT {
        return Err(bad(CertificateProblem::Format {
            found: cert.format,
            expected: FORMAT,
        })
        .into());
    }
    let sig = std::fs::read_to_string(crate::manifest::sig_path(path)).ok();
    Ok((cert, bytes, sig))
}

/// SHA-256 of an open file's bytes.
fn file_sha256(mut f: std::fs::File) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

/// One file of a bag as found: path under `data/`, kind, size, SHA-256 of a regular file.
type Found = (Vec<u8>, &'static str, u64, Option<String>);

/// Every file and symlink under `dir` (never following a symlink).
fn walk_bag(dir: &std::fs::File, prefix: &[u8], out: &mut Vec<Found>) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    for (name, _) in crate::fsx::read_dir(dir)? {
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        let st = crate::fsx::lstat_at(dir, &name)?;
        match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::Directory => {
                walk_bag(&crate::fsx::open_dir_at(dir, &name)?, &rel, out)?
            }
            rustix::fs::FileType::Symlink => out.push((rel, "symlink", 0, None)),
            rustix::fs::FileType::RegularFile => {
                let sum = file_sha256(crate::fsx::open_file_at(dir, &name, false)?)?;
                out.push((rel, "file", st.st_size as u64, Some(sum)))
            }
            _ => out.push((rel, "file", st.st_size as u64, None)),
        }
    }
    Ok(())
}

/// Whether a bag entry of `kind` (`file`, `symlink`) can be the certificate's entry.
fn kind_matches(kind: &str, entry_kind: &str) -> bool {
    match kind {
        "symlink" => entry_kind == "symlink",
        _ => entry_kind == "file" || entry_kind == "hard_link",
    }
}

/// Why a file of the bag is not covered by its certificate entry `e` (None: covered), and
/// whether its SHA-256 was compared.
fn not_covered_because(
    e: Option<&EntryRef>,
    kind: &str,
    size: u64,
    sum: Option<&str>,
) -> (Option<String>, bool) {
    let reason = match e {
        None => Some("not listed in the certificate".into()),
        Some(e) if e.status != "deleted" => Some(format!(
            "listed as {}: it was gone before this deletion, not deleted by it",
            e.status
        )),
        Some(e) if !kind_matches(kind, &e.kind) => {
            Some(format!("listed as a {}, here a {kind}", e.kind))
        }
        // A second name of a hard link carries no size of its own.
        Some(e) if e.kind == "file" && e.bytes != size => {
            Some(format!("listed with {} bytes, here {size} bytes", e.bytes))
        }
        Some(e) => match (sum, e.sha256.as_deref()) {
            (Some(b), Some(c)) if b != c => Some(format!(
                "listed with SHA-256 {c}, this file has {b}: not the file that was deleted"
            )),
            (Some(_), Some(_)) => return (None, true),
            _ => None,
        },
    };
    (reason, false)
}

/// Why the certificate says nothing about this bag at all (None: it may): unsigned, changed
/// after signing, or of another deletion.
fn refusal(
    cert_path: &Path,
    bag: &Path,
    cert: &Certificate,
    signature_valid: Option<bool>,
) -> Option<String> {
    // A certificate of another deletion (a shred of a look-alike tree, another handover's)
    // says nothing about this bag, however well its paths and sizes match.
    let bag_id = std::fs::read_to_string(
        std::fs::canonicalize(bag)
            .unwrap_or(bag.to_path_buf())
            .join("bag-info.txt"),
    )
    .ok()
    .and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("External-Identifier:"))
            .map(|v| v.trim().to_string())
    });
    let cert_id = cert.handover.as_ref().map(|h| h.handover_id.clone());
    match (&bag_id, &cert_id, signature_valid) {
        (_, _, None) => Some(format!(
            "the certificate has no signature beside it ({}.minisig): anyone could have written it",
            crate::error::show(cert_path)
        )),
        (_, _, Some(false)) => {
            Some("the certificate's signature does not verify: it was changed after signing".into())
        }
        (None, _, _) => Some(
            "the bag's bag-info.txt names no handover (External-Identifier): extract it with handover verify --extract or tar".into(),
        ),
        (Some(b), None, _) => Some(format!(
            "the certificate is of a deletion of paths (shred), not of handover {b}: it does not show this handover's copies were deleted"
        )),
        (Some(b), Some(c), _) if b != c => Some(format!(
            "the certificate is for handover {c}, this bag is handover {b}"
        )),
        _ => None,
    }
}

/// `handover certificate check CERT --bag DIR`: which files under `DIR/data` the certificate
/// covers (same path, under the salted hash when names are salted; same size; same SHA-256
/// of the file's bytes, where the certificate has one). The files themselves are hashed,
/// not the bag's manifest-sha256.txt: a file changed since extraction is not the one deleted.
///
/// With `provider` (the provider's public key, as the client holds it), the certificate must
/// also be the provider's: signed by that key, or by a key its delegation authorises.
pub fn check(
    cert_path: &Path,
    bag: &Path,
    provider: Option<&minisign::PublicKey>,
) -> Result<Coverage> {
    let (cert, bytes, sig) = read_certificate(cert_path)?;
    let bag_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ShredError::BagRead { path, source }
    };
    let data = std::fs::canonicalize(bag)
        .map_err(bag_err(bag))?
        .join("data");
    let mut files = Vec::new();
    let dir = crate::fsx::open_dir_path(&data).map_err(bag_err(&data))?;
    walk_bag(&dir, b"", &mut files).map_err(bag_err(&data))?;

    // The entries of the client's data: under the `source` root (delete), else every root.
    let has_source = cert.roots.iter().any(|r| r.label == "source");
    let data_roots: Vec<u32> = cert
        .roots
        .iter()
        .filter(|r| !has_source || r.label == "source")
        .map(|r| r.index)
        .collect();
    let mut by_key: HashMap<&str, &EntryRef> = HashMap::new();
    for e in cert.entries.iter().filter(|e| data_roots.contains(&e.root)) {
        if let Some(k) = e.path_sha256.as_deref().or(e.path.as_deref()) {
            by_key.insert(k, e);
        }
    }
    let salted = cert.names == Names::SaltedSha256.as_str();
    let salt = cert.names_salt.clone().unwrap_or_default();
    let mut matched = 0u64;
    let (mut covered, mut not_covered) = (Vec::new(), Vec::new());
    for (rel, kind, size, sum) in files {
        let key = if salted {
            names::path_sha256(&salt, &rel)
        } else {
            crate::bag::bagit_encode(&rel)
        };
        let e = by_key.get(key.as_str());
        matched += e.is_some() as u64;
        let (reason, sha256_compared) = not_covered_because(e.copied(), kind, size, sum.as_deref());
        let f = BagFile {
            path: crate::bag::bagit_encode(&rel),
            kind: kind.into(),
            bytes: size,
            reason,
            sha256_compared,
        };
        if f.reason.is_some() {
            not_covered.push(f);
        } else {
            covered.push(f);
        }
    }
    let signature_valid = sig.as_ref().map(|s| {
        minisign::PublicKey::from_base64(&cert.signer.public_key)
            .ok()
            .is_some_and(|pk| signing::verify(&pk, &bytes, s).is_ok())
    });
    let provider_authorised = provider.map(|pk| {
        let own = crate::keys::key_id(pk.keynum()) == cert.signer.key_id;
        own || cert
            .delegation
            .as_ref()
            .is_some_and(|d| crate::keys::delegation::check_ref(pk, d, &cert.signer.key_id).is_ok())
    });
    let refused = refusal(cert_path, bag, &cert, signature_valid).or_else(|| {
        (provider_authorised == Some(false)).then(|| {
            format!(
                "it is signed by key {}, which the provider's key you gave neither is nor authorises: it is not the provider's certificate",
                cert.signer.key_id
            )
        })
    });
    let entries_in_data = cert
        .entries
        .iter()
        .filter(|e| data_roots.contains(&e.root) && e.kind != "dir")
        .count() as u64;
    Ok(Coverage {
        certificate_id: cert.certificate_id,
        names: cert.names,
        signature_file: sig.is_some(),
        signature_valid,
        signer_key_id: cert.signer.key_id,
        provider_authorised,
        all_covered: not_covered.is_empty() && refused.is_none(),
        refused,
        covered,
        not_covered,
        certificate_entries_not_in_bag: entries_in_data.saturating_sub(matched),
    })
}
