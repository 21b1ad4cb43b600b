//! Evidence: everything an auditor asks for about one client's offboarding, gathered from the
//! state database into one folder (`handover evidence`).
//!
//! Owns the evidence pack: which signed documents go in, the report and its checklist, the
//! folder's `SHA256SUMS`. It reads every stage's records and writes only the new folder; it
//! must never change the state database or touch the client's data.

mod bundle;

pub use bundle::EvidenceSummary;

use crate::error::{self, Result};
use crate::home::Home;
use crate::keys;
use crate::ledger;
use crate::util;

/// Writes the evidence pack of a handover into `out` (a new folder). `receipt_file`, the
/// client's receipt.json as received, is included (with its `.minisig`) after checking it is
/// the one that was confirmed.
pub fn evidence(
    home: &Home,
    id: &str,
    out: &std::path::Path,
    receipt_file: Option<&std::path::Path>,
) -> Result<bundle::EvidenceSummary> {
    let store = ledger::store::Store::open(&home.database())?;
    let h = store.handover(id)?;
    let (json, sig) = store
        .manifest_documents(&h.handover_id)?
        .ok_or_else(|| error::EvidenceError::NoManifest(h.handover_id.clone()))?;
    let certificate = match store.deletion_job_for_handover(&h.handover_id)? {
        Some(job) if job.state == ledger::state::JobState::Done => {
            let c = store.certificate(job.certificate_id.as_deref().unwrap_or(""))?;
            Some(bundle::Document {
                file_name: c
                    .json_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("{}.deletion-certificate.json", h.name)),
                content: String::from_utf8_lossy(&c.document).into_owned(),
                signature: Some(c.signature),
            })
        }
        _ => None,
    };
    let recorded = store.receipt(&h.handover_id)?;
    let mut receipts = Vec::new();
    if let Some(r) = &recorded {
        receipts.push(bundle::Document {
            file_name: "confirmation.json".into(),
            content: serde_json::to_string_pretty(r).expect("records serialize") + "\n",
            signature: None,
        });
    }
    if let Some(path) = receipt_file {
        let io = |source| error::EvidenceError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        let expected = recorded.as_ref().and_then(|r| r.receipt_sha256.clone());
        if expected.as_deref() != Some(util::sha256_hex(&bytes).as_str()) {
            return Err(error::EvidenceError::NotTheConfirmedReceipt(path.to_path_buf()).into());
        }
        receipts.push(bundle::Document {
            file_name: "receipt.json".into(),
            content: String::from_utf8_lossy(&bytes).into_owned(),
            signature: std::fs::read_to_string(keys::clientkey::minisig_path(path)).ok(),
        });
        // An SSH signature (ssh-keygen -Y sign) keeps its own name, receipt.json.sig.
        if let Ok(sig) = std::fs::read_to_string(keys::clientkey::ssh_sig_path(path)) {
            receipts.push(bundle::Document {
                file_name: "receipt.json.sig".into(),
                content: sig,
                signature: None,
            });
        }
    }
    let sources = bundle::Sources {
        manifest: bundle::Document {
            file_name: format!("{}.manifest.json", h.name),
            content: json,
            signature: Some(sig),
        },
        receipts,
        certificate,
    };
    drop(store);
    bundle::write(home, &h.handover_id, out, sources)
}
