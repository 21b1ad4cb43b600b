//! What an audit event records: one variant per command, each with its typed details.
//!
//! The log stores an event as two columns, `command` (text) and `details` (a JSON object),
//! and both are hashed into the chain and signed. The JSON must therefore stay byte for byte
//! what earlier versions wrote: serde_json's map keeps its keys sorted, so the details are
//! written through a `serde_json::Value`, which sorts them whatever the field order here.
//! Reading back is lenient (`#[serde(default)]`), since rows written by earlier versions can
//! lack fields added since.

use serde::{Deserialize, Serialize};

use crate::ledger::clients::{ClientField, ClientSettings, ProfileUse};
use crate::ledger::store::AuditRow;

/// One audit event: the command that changed state, with what it changed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditEvent {
    /// `keygen` in the home: the provider key and the certificate key it authorised.
    Keygen(KeygenDetails),
    /// `delegate`: a new delegation of certificate signing to the certificate key.
    Delegate(DelegateDetails),
    /// `export`: a handover was made.
    Export(ExportDetails),
    /// `confirm`: the first proof of receipt.
    Confirm(ConfirmDetails),
    /// `confirm_upgrade`: a later receipt raised the proof level.
    ConfirmUpgrade(ConfirmDetails),
    /// `schedule`: the deletion was scheduled or moved.
    Schedule(ScheduleDetails),
    /// `hold`: a hold was placed on the deletion.
    Hold(HoldDetails),
    /// `release`: the hold was lifted.
    Release,
    /// `run-due`: what a scheduled deletion did.
    RunDue(RunDueDetails),
    /// `delete`: a handover's local copies were deleted and certified.
    Delete(DeletedDetails),
    /// `shred`: paths were deleted and certified.
    Shred(DeletedDetails),
    /// `cleanup`: stale temporary files of a killed export were removed.
    Cleanup(CleanupDetails),
    /// `audit-rekey`: a lost audit key was replaced.
    AuditRekey(RekeyDetails),
    /// `attest`: the operator attested a step of the offboarding checklist.
    Attest(AttestDetails),
    /// `void`: a handover never delivered was withdrawn.
    Void(VoidDetails),
    /// `client_add`: a client profile was recorded.
    ClientAdd(ClientDetails),
    /// `client_edit`: a client profile changed.
    ClientEdit(ClientDetails),
    /// `client_remove`: a client profile was removed.
    ClientRemove(ClientDetails),
    /// `share`: presigned links to a handover's objects were made.
    Share(ShareDetails),
    /// `upload`: an export is about to upload into a bucket; the clean-up after a kill acts
    /// only on the keys an event of this kind names.
    Upload(UploadDetails),
}

/// Details of [`AuditEvent::Upload`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadDetails {
    /// The service's endpoint URL.
    pub endpoint: String,
    /// The keys the export will write, `s3://BUCKET/KEY`.
    pub objects: Vec<String>,
}

/// Details of [`AuditEvent::Share`]: until when, and to which objects; never the links
/// themselves (each carries a signature that grants access).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareDetails {
    /// When the links expire (UTC, RFC 3339).
    pub expires_at: String,
    /// The objects linked to, `s3://BUCKET/KEY`.
    pub objects: Vec<String>,
}

/// Details of [`AuditEvent::Keygen`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeygenDetails {
    /// The provider key's id.
    pub key_id: String,
    /// The provider key (`RW...`).
    pub public_key: String,
    /// Whether the provider key is encrypted with a password.
    pub password_protected: bool,
    /// The unattended certificate key it authorised.
    pub certificate_key_id: String,
    /// What that key may sign (`deletion certificates`).
    pub certificate_key_purpose: String,
    /// The organisation named in the delegation.
    pub organization: Option<String>,
}

/// Details of [`AuditEvent::Delegate`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DelegateDetails {
    /// What the delegated key may sign (`deletion certificates`).
    pub purpose: String,
    /// The certificate key authorised.
    pub delegated_key_id: String,
    /// The provider key that signed the delegation.
    pub provider_key_id: String,
    /// The organisation named in the delegation.
    pub organization: Option<String>,
}

/// Details of [`AuditEvent::Export`]: what the handover's row must keep saying.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportDetails {
    /// The client, as recorded.
    pub client: String,
    /// The handover's name (the archive's base name).
    pub name: String,
    /// SHA-256 of the encrypted archive.
    pub archive_sha256: String,
    /// Files in the payload.
    pub files: u64,
    /// Bytes in the payload.
    pub bytes: u64,
    /// The provider key that signed the manifest.
    pub signer_key_id: String,
    /// The client key bound at export, if any.
    pub client_key_id: Option<String>,
    /// The digest of the four recorded paths (`audit::paths_digest`); None in logs made
    /// before it existed.
    pub paths_sha256: Option<String>,
    /// What came from the client's profile; absent (not null) when no profile was used, so
    /// the rows of exports without one stay what earlier versions wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileUse>,
    /// The digest of the object versions the handover records (`audit::objects_digest`):
    /// its source objects when exported from a bucket, its outputs when exported to one.
    /// Absent (not null) for a handover with no objects, so earlier rows stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_sha256: Option<String>,
}

/// Details of [`AuditEvent::Confirm`] and [`AuditEvent::ConfirmUpgrade`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfirmDetails {
    /// `code` or `receipt`; None only in a row that is not a confirmation at all.
    pub method: Option<String>,
    /// The proof level; None in logs made before proof levels existed.
    pub proof: Option<String>,
    /// SHA-256 of the receipt file, when one was given.
    pub receipt_sha256: Option<String>,
    /// The client key that signed the receipt, when signed.
    pub client_key_id: Option<String>,
    /// The time the client's receipt states.
    pub received_at: Option<String>,
    /// The level an upgrade replaced (upgrades only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_proof: Option<String>,
}

/// Details of [`AuditEvent::Schedule`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleDetails {
    /// When the deletion is due (UTC, RFC 3339).
    pub due_at: Option<String>,
    /// The time it replaced, if it moved a schedule.
    pub previous_due_at: Option<String>,
    /// Whether a time in the past was allowed (`--allow-past`).
    pub allow_past: bool,
}

/// Details of [`AuditEvent::Hold`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldDetails {
    /// Why the deletion is held (None only in a release).
    pub reason: Option<String>,
}

/// Details of [`AuditEvent::RunDue`], by its `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RunDueDetails {
    /// Deleted, with a certificate.
    Deleted {
        /// The certificate that records it.
        #[serde(default)]
        certificate_id: String,
        /// The method summary for people.
        #[serde(default)]
        method: String,
    },
    /// Nothing was left to delete.
    Gone {
        /// What was found.
        #[serde(default)]
        detail: String,
    },
    /// A hold or another deletion made it wait.
    Waiting {
        /// The error's stable kind.
        #[serde(default)]
        error_kind: String,
        /// The error's message, without lines naming the client's paths.
        #[serde(default)]
        error: String,
    },
    /// It failed, and stays scheduled.
    Failed {
        /// The error's stable kind.
        #[serde(default)]
        error_kind: String,
        /// The error's message, without lines naming the client's paths.
        #[serde(default)]
        error: String,
    },
}

/// The result a certified deletion records (always `deleted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionResult {
    /// Deleted and certified.
    #[default]
    Deleted,
}

/// Details of [`AuditEvent::Delete`] and [`AuditEvent::Shred`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeletedDetails {
    /// Always `deleted`: only a certified deletion is recorded.
    pub result: DeletionResult,
    /// The certificate that records it.
    pub certificate_id: String,
    /// The deletion job.
    pub job_id: String,
    /// Files deleted.
    pub files: u64,
    /// Bytes deleted.
    pub bytes: u64,
    /// Files overwritten before they were unlinked.
    pub overwritten_files: u64,
    /// Files only unlinked (logical delete).
    pub logical_delete_files: u64,
    /// Why it ran without a confirmed receipt, when it did.
    pub without_receipt_reason: Option<String>,
    /// Object versions, delete markers and uploads deleted in a bucket (logical delete);
    /// absent (not null) when there were none, so local deletions' rows stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_entries: Option<u64>,
}

/// Details of [`AuditEvent::Cleanup`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CleanupDetails {
    /// Why they were removed.
    pub reason: String,
    /// The killed export's handover id.
    pub export_handover_id: String,
    /// The files removed, as messages show paths.
    pub removed: Vec<String>,
}

/// Details of [`AuditEvent::AuditRekey`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RekeyDetails {
    /// Why the key was replaced, as the operator gave it.
    pub reason: String,
    /// The lost key's id, from the old `audit.pub`.
    pub previous_key_id: Option<String>,
    /// The last row the old key signed.
    pub previous_head_seq: Option<i64>,
    /// That row's chain hash.
    pub previous_head_hash: Option<String>,
    /// Whether the old head's signature was checked with the old key.
    pub previous_head_verified: bool,
    /// The new audit key's id.
    pub new_key_id: String,
}

/// Details of [`AuditEvent::Attest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttestDetails {
    /// The checklist step, snake_case (`access_revocation`, ...).
    pub step: String,
    /// Who attested it.
    pub operator: String,
    /// What the operator wrote, if anything.
    pub note: Option<String>,
    /// When it was attested (UTC, RFC 3339), as the attestations table records it: the
    /// audited time is what an auditor's "when did access end" rests on.
    pub attested_at: String,
}

/// Details of [`AuditEvent::Void`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoidDetails {
    /// Why it was withdrawn, as the operator gave it.
    pub reason: String,
    /// When it was voided, as the handover's row records it (UTC, RFC 3339).
    pub voided_at: String,
}

/// Details of [`AuditEvent::ClientAdd`], [`AuditEvent::ClientEdit`] and
/// [`AuditEvent::ClientRemove`]: paths, public keys and dates, never a secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientDetails {
    /// The client's name.
    pub client: String,
    /// The settings that changed (empty for a removal).
    pub changed: Vec<ClientField>,
    /// The settings after the change; None for a removal.
    pub settings: Option<ClientSettings>,
}

fn value<T: Serialize>(d: &T) -> serde_json::Value {
    serde_json::to_value(d).expect("audit details serialize")
}

impl AuditEvent {
    /// The `command` column.
    pub fn command(&self) -> &'static str {
        match self {
            AuditEvent::Keygen(_) => "keygen",
            AuditEvent::Delegate(_) => "delegate",
            AuditEvent::Export(_) => "export",
            AuditEvent::Confirm(_) => "confirm",
            AuditEvent::ConfirmUpgrade(_) => "confirm_upgrade",
            AuditEvent::Schedule(_) => "schedule",
            AuditEvent::Hold(_) => "hold",
            AuditEvent::Release => "release",
            AuditEvent::RunDue(_) => "run-due",
            AuditEvent::Delete(_) => "delete",
            AuditEvent::Shred(_) => "shred",
            AuditEvent::Cleanup(_) => "cleanup",
            AuditEvent::AuditRekey(_) => "audit-rekey",
            AuditEvent::Attest(_) => "attest",
            AuditEvent::Void(_) => "void",
            AuditEvent::ClientAdd(_) => "client_add",
            AuditEvent::ClientEdit(_) => "client_edit",
            AuditEvent::ClientRemove(_) => "client_remove",
            AuditEvent::Share(_) => "share",
            AuditEvent::Upload(_) => "upload",
        }
    }

    /// The `details` column as JSON (keys sorted, as every row has had them).
    pub fn details(&self) -> serde_json::Value {
        match self {
            AuditEvent::Keygen(d) => value(d),
            AuditEvent::Delegate(d) => value(d),
            AuditEvent::Export(d) => value(d),
            AuditEvent::Confirm(d) | AuditEvent::ConfirmUpgrade(d) => value(d),
            AuditEvent::Schedule(d) => value(d),
            AuditEvent::Hold(d) => value(d),
            AuditEvent::Release => value(&HoldDetails { reason: None }),
            AuditEvent::RunDue(d) => value(d),
            AuditEvent::Delete(d) | AuditEvent::Shred(d) => value(d),
            AuditEvent::Cleanup(d) => value(d),
            AuditEvent::AuditRekey(d) => value(d),
            AuditEvent::Attest(d) => value(d),
            AuditEvent::Void(d) => value(d),
            AuditEvent::ClientAdd(d) | AuditEvent::ClientEdit(d) | AuditEvent::ClientRemove(d) => {
                value(d)
            }
            AuditEvent::Share(d) => value(d),
            AuditEvent::Upload(d) => value(d),
        }
    }

    /// Reads an event back from its two columns. None for a command this version does not
    /// know, or details that do not fit it.
    pub fn parse(command: &str, details: &str) -> Option<AuditEvent> {
        fn de<T: for<'a> Deserialize<'a>>(details: &str) -> Option<T> {
            serde_json::from_str(details).ok()
        }
        Some(match command {
            "keygen" => AuditEvent::Keygen(de(details)?),
            "delegate" => AuditEvent::Delegate(de(details)?),
            "export" => AuditEvent::Export(de(details)?),
            "confirm" => AuditEvent::Confirm(de(details)?),
            "confirm_upgrade" => AuditEvent::ConfirmUpgrade(de(details)?),
            "schedule" => AuditEvent::Schedule(de(details)?),
            "hold" => AuditEvent::Hold(de(details)?),
            "release" => AuditEvent::Release,
            "run-due" => AuditEvent::RunDue(de(details)?),
            "delete" => AuditEvent::Delete(de(details)?),
            "shred" => AuditEvent::Shred(de(details)?),
            "cleanup" => AuditEvent::Cleanup(de(details)?),
            "audit-rekey" => AuditEvent::AuditRekey(de(details)?),
            "attest" => AuditEvent::Attest(de(details)?),
            "void" => AuditEvent::Void(de(details)?),
            "client_add" => AuditEvent::ClientAdd(de(details)?),
            "client_edit" => AuditEvent::ClientEdit(de(details)?),
            "client_remove" => AuditEvent::ClientRemove(de(details)?),
            "share" => AuditEvent::Share(de(details)?),
            "upload" => AuditEvent::Upload(de(details)?),
            _ => return None,
        })
    }

    /// Reads the event of a stored row (see [`AuditEvent::parse`]).
    pub fn of(row: &AuditRow) -> Option<AuditEvent> {
        AuditEvent::parse(&row.command, &row.details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each event's details, written as the `json!` literals of earlier versions wrote them.
    fn cases() -> Vec<(AuditEvent, serde_json::Value)> {
        let mut all = handover_cases();
        all.extend(deletion_cases());
        all.extend(bucket_cases());
        all
    }

    /// Keys, export, receipt, schedule and hold.
    fn handover_cases() -> Vec<(AuditEvent, serde_json::Value)> {
        let confirm = ConfirmDetails {
            method: Some("receipt".into()),
            proof: Some("client_signature".into()),
            receipt_sha256: Some("ab".into()),
            client_key_id: None,
            received_at: Some("2026-11-25T10:00:00Z".into()),
            previous_proof: None,
        };
        vec![
            (
                AuditEvent::Keygen(KeygenDetails {
                    key_id: "K".into(),
                    public_key: "RW".into(),
                    password_protected: true,
                    certificate_key_id: "C".into(),
                    certificate_key_purpose: "deletion certificates".into(),
                    organization: None,
                }),
                json!({"key_id": "K", "public_key": "RW", "password_protected": true,
                    "certificate_key_id": "C", "certificate_key_purpose": "deletion certificates",
                    "organization": null}),
            ),
            (
                AuditEvent::Delegate(DelegateDetails {
                    purpose: "p".into(),
                    delegated_key_id: "D".into(),
                    provider_key_id: "P".into(),
                    organization: Some("Org".into()),
                }),
                json!({"purpose": "p", "delegated_key_id": "D", "provider_key_id": "P",
                    "organization": "Org"}),
            ),
            (
                AuditEvent::Export(ExportDetails {
                    client: "acme".into(),
                    name: "n".into(),
                    archive_sha256: "a".into(),
                    files: 3,
                    bytes: 42,
                    signer_key_id: "S".into(),
                    client_key_id: None,
                    paths_sha256: Some("p".into()),
                    objects_sha256: None,
                    profile: None,
                }),
                json!({"client": "acme", "name": "n", "archive_sha256": "a", "files": 3,
                    "bytes": 42, "signer_key_id": "S", "client_key_id": null, "paths_sha256": "p"}),
            ),
            (
                AuditEvent::Confirm(confirm.clone()),
                json!({"method": "receipt", "proof": "client_signature", "receipt_sha256": "ab",
                    "client_key_id": null, "received_at": "2026-11-25T10:00:00Z"}),
            ),
            (
                AuditEvent::ConfirmUpgrade(ConfirmDetails {
                    previous_proof: Some("code".into()),
                    ..confirm
                }),
                json!({"method": "receipt", "proof": "client_signature", "receipt_sha256": "ab",
                    "client_key_id": null, "received_at": "2026-11-25T10:00:00Z",
                    "previous_proof": "code"}),
            ),
            (
                AuditEvent::Schedule(ScheduleDetails {
                    due_at: Some("2027-01-01T00:00:00Z".into()),
                    previous_due_at: None,
                    allow_past: false,
                }),
                json!({"due_at": "2027-01-01T00:00:00Z", "previous_due_at": null,
                    "allow_past": false}),
            ),
            (
                AuditEvent::Hold(HoldDetails {
                    reason: Some("litigation".into()),
                }),
                json!({"reason": "litigation"}),
            ),
        ]
    }

    /// Release, the deletion runs and the log's own events.
    fn bucket_cases() -> Vec<(AuditEvent, serde_json::Value)> {
        vec![
            (
                AuditEvent::Upload(UploadDetails {
                    endpoint: "http://127.0.0.1:9000".into(),
                    objects: vec!["s3://b/k.tar.zst.age".into()],
                }),
                json!({"endpoint": "http://127.0.0.1:9000", "objects": ["s3://b/k.tar.zst.age"]}),
            ),
            (
                AuditEvent::Share(ShareDetails {
                    expires_at: "2026-12-09T10:00:00Z".into(),
                    objects: vec!["s3://b/k.tar.zst.age".into()],
                }),
                json!({"expires_at": "2026-12-09T10:00:00Z", "objects": ["s3://b/k.tar.zst.age"]}),
            ),
            (
                AuditEvent::Delete(DeletedDetails {
                    result: DeletionResult::Deleted,
                    certificate_id: "c".into(),
                    job_id: "j".into(),
                    files: 0,
                    bytes: 0,
                    overwritten_files: 0,
                    logical_delete_files: 0,
                    without_receipt_reason: None,
                    bucket_entries: Some(5),
                }),
                json!({"result": "deleted", "certificate_id": "c", "job_id": "j", "files": 0,
                    "bytes": 0, "overwritten_files": 0, "logical_delete_files": 0,
                    "without_receipt_reason": null, "bucket_entries": 5}),
            ),
        ]
    }

    fn deletion_cases() -> Vec<(AuditEvent, serde_json::Value)> {
        vec![
            (AuditEvent::Release, json!({ "reason": null })),
            (
                AuditEvent::Void(VoidDetails {
                    reason: "test export".into(),
                    voided_at: "2026-12-01T10:00:00Z".into(),
                }),
                json!({"reason": "test export", "voided_at": "2026-12-01T10:00:00Z"}),
            ),
            (
                AuditEvent::RunDue(RunDueDetails::Deleted {
                    certificate_id: "c".into(),
                    method: "m".into(),
                }),
                json!({"result": "deleted", "certificate_id": "c", "method": "m"}),
            ),
            (
                AuditEvent::RunDue(RunDueDetails::Gone {
                    detail: "every recorded path was already gone".into(),
                }),
                json!({"result": "gone", "detail": "every recorded path was already gone"}),
            ),
            (
                AuditEvent::RunDue(RunDueDetails::Waiting {
                    error_kind: "handover_held".into(),
                    error: "e".into(),
                }),
                json!({"result": "waiting", "error_kind": "handover_held", "error": "e"}),
            ),
            (
                AuditEvent::RunDue(RunDueDetails::Failed {
                    error_kind: "k".into(),
                    error: "e".into(),
                }),
                json!({"result": "failed", "error_kind": "k", "error": "e"}),
            ),
            (
                AuditEvent::Shred(DeletedDetails {
                    result: DeletionResult::Deleted,
                    certificate_id: "c".into(),
                    job_id: "j".into(),
                    files: 1,
                    bytes: 2,
                    overwritten_files: 1,
                    logical_delete_files: 0,
                    without_receipt_reason: None,
                    bucket_entries: None,
                }),
                json!({"result": "deleted", "certificate_id": "c", "job_id": "j", "files": 1,
                    "bytes": 2, "overwritten_files": 1, "logical_delete_files": 0,
                    "without_receipt_reason": null}),
            ),
            (
                AuditEvent::Cleanup(CleanupDetails {
                    reason: "r".into(),
                    export_handover_id: "h".into(),
                    removed: vec!["/a".into()],
                }),
                json!({"reason": "r", "export_handover_id": "h", "removed": ["/a"]}),
            ),
            (
                AuditEvent::AuditRekey(RekeyDetails {
                    reason: "lost".into(),
                    previous_key_id: Some("O".into()),
                    previous_head_seq: Some(7),
                    previous_head_hash: Some("h".into()),
                    previous_head_verified: true,
                    new_key_id: "N".into(),
                }),
                json!({"reason": "lost", "previous_key_id": "O", "previous_head_seq": 7,
                    "previous_head_hash": "h", "previous_head_verified": true, "new_key_id": "N"}),
            ),
            (
                AuditEvent::Attest(AttestDetails {
                    step: "access_revocation".into(),
                    operator: "jo".into(),
                    note: Some("VPN off".into()),
                    attested_at: "2026-12-01T10:00:00Z".into(),
                }),
                json!({"step": "access_revocation", "operator": "jo", "note": "VPN off",
                       "attested_at": "2026-12-01T10:00:00Z"}),
            ),
        ]
    }

    #[test]
    fn details_are_byte_identical_to_what_earlier_versions_wrote() {
        for (event, old) in cases() {
            let text = event.details().to_string();
            assert_eq!(text, old.to_string(), "{}", event.command());
            assert_eq!(
                AuditEvent::parse(event.command(), &text).as_ref(),
                Some(&event)
            );
        }
    }

    #[test]
    fn rows_of_earlier_versions_read_back() {
        // A confirmation from before proof levels, an export from before paths_sha256.
        let c = AuditEvent::parse("confirm", r#"{"method":"code","receipt_sha256":null}"#);
        assert!(matches!(
            c,
            Some(AuditEvent::Confirm(ConfirmDetails { proof: None, .. }))
        ));
        let e = AuditEvent::parse("export", r#"{"client":"acme","files":1,"bytes":2}"#);
        assert!(matches!(
            e,
            Some(AuditEvent::Export(ExportDetails {
                paths_sha256: None,
                ..
            }))
        ));
        assert_eq!(AuditEvent::parse("frobnicate", "{}"), None);
    }

    #[test]
    fn a_bucket_export_adds_one_key() {
        let e = AuditEvent::Export(ExportDetails {
            client: "acme".into(),
            objects_sha256: Some("o".into()),
            ..ExportDetails::default()
        });
        let text = e.details().to_string();
        assert!(text.contains(r#""objects_sha256":"o""#), "{text}");
        assert_eq!(AuditEvent::parse("export", &text).as_ref(), Some(&e));
    }

    #[test]
    fn an_export_with_a_profile_adds_one_key_and_client_events_read_back() {
        let e = AuditEvent::Export(ExportDetails {
            client: "acme".into(),
            profile: Some(ProfileUse {
                client: "acme".into(),
                from_profile: vec![ClientField::DataDir],
                contract_end: None,
            }),
            ..ExportDetails::default()
        });
        let text = e.details().to_string();
        assert!(text.contains(r#""profile":{"client":"acme","from_profile":["data_dir"]}"#));
        assert_eq!(AuditEvent::parse("export", &text).as_ref(), Some(&e));
        let c = AuditEvent::ClientRemove(ClientDetails {
            client: "acme".into(),
            changed: vec![],
            settings: None,
        });
        assert_eq!(
            c.details().to_string(),
            r#"{"changed":[],"client":"acme","settings":null}"#
        );
        assert_eq!(
            AuditEvent::parse(c.command(), &c.details().to_string()),
            Some(c)
        );
    }
}
