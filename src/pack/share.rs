//! `share`: presigned download links to a handover's archive, manifest and signature in a
//! bucket, for the client. The expiry is audited; the links are not (each grants access).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{RemoteError, Result};
use crate::home::Home;
use crate::ledger::event::{AuditEvent, ShareDetails};
use crate::ledger::state::JobState;
use crate::ledger::store::Store;
use crate::remote::Client;
use crate::util;

/// The longest a presigned link can last: AWS Signature Version 4 allows seven days.
pub const MAX_EXPIRY: time::Duration = time::Duration::days(7);

/// What `share` made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareSummary {
    /// The handover's id.
    pub handover_id: String,
    /// Its name.
    pub name: String,
    /// When the links stop working (UTC, RFC 3339).
    pub expires_at: String,
    /// The archive's link.
    pub archive_url: String,
    /// The manifest's link.
    pub manifest_url: String,
    /// The signature's link.
    pub signature_url: String,
}

/// Makes presigned links to the objects of `reference`, valid for `expires` (at most
/// [`MAX_EXPIRY`]), and records their expiry in the audit log.
pub fn share(home: &Home, reference: &str, expires: time::Duration) -> Result<ShareSummary> {
    if expires > MAX_EXPIRY || expires <= time::Duration::ZERO {
        let given = if expires.whole_hours() % 24 == 0 {
            format!("{}d", expires.whole_days())
        } else {
            format!("{}h", expires.whole_hours())
        };
        return Err(RemoteError::TooLong(given).into());
    }
    if !home.database().exists() {
        return Err(crate::error::StoreError::NotFound(reference.to_string()).into());
    }
    let mut store = Store::open(&home.database())?;
    let h = store.handover(reference)?;
    let objects = store.objects(&h.handover_id)?;
    let find = |role: &str| objects.iter().find(|o| o.role == role);
    let (Some(archive), Some(manifest), Some(signature)) =
        (find("archive"), find("manifest"), find("signature"))
    else {
        return Err(RemoteError::NotInBucket(h.handover_id.clone()).into());
    };
    if let Some(j) = store.deletion_job_for_handover(&h.handover_id)? {
        let why = if j.state == JobState::Done {
            format!(
                "was deleted (certificate {})",
                j.certificate_id.unwrap_or_default()
            )
        } else {
            "is being deleted".to_string()
        };
        return Err(RemoteError::NotShareable {
            handover_id: h.handover_id.clone(),
            why,
        }
        .into());
    }
    if h.voided_at.is_some() {
        return Err(RemoteError::NotShareable {
            handover_id: h.handover_id.clone(),
            why: "was voided: it is not to be delivered".into(),
        }
        .into());
    }
    let client = Client::connect(&archive.bucket)?;
    if client.endpoint() != archive.endpoint {
        return Err(RemoteError::OtherEndpoint {
            recorded: archive.endpoint.clone(),
            now: client.endpoint().to_string(),
        }
        .into());
    }
    let secs = Duration::from_secs(expires.whole_seconds() as u64);
    // Each link names the version recorded: whatever is written under the key later, the
    // client gets what was handed over.
    let link = |o: &crate::ledger::store::ObjectRecord| {
        client.presign_version(&o.key, o.version_id.as_deref(), secs)
    };
    let (archive_url, manifest_url, signature_url) =
        (link(archive)?, link(manifest)?, link(signature)?);
    let expires_at = util::rfc3339(util::now() + expires);
    let tx = store.begin()?;
    crate::ledger::audit::append(
        &tx,
        home,
        Some(&h.handover_id),
        &AuditEvent::Share(ShareDetails {
            expires_at: expires_at.clone(),
            objects: [archive, manifest, signature]
                .iter()
                .map(|o| format!("s3://{}/{}", o.bucket, o.key))
                .collect(),
        }),
    )?;
    tx.commit()?;
    Ok(ShareSummary {
        handover_id: h.handover_id,
        name: h.name,
        expires_at,
        archive_url,
        manifest_url,
        signature_url,
    })
}
