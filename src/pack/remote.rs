//! Export into a bucket: the archive streamed as a multipart upload, the signature and the
//! manifest put beside it, the three object versions recorded with the handover.
//!
//! The keys are recorded (`remote_temps`) before the upload starts. An error or Ctrl-C
//! aborts the upload (nothing is visible under the key until it completes); a kill, or an
//! abort that fails, leaves the record, and the next export's [`clean_remote`] aborts the
//! incomplete upload and removes whatever the killed export completed but never recorded.

use crate::error::Result;
use crate::home::Home;
use crate::ledger::store::{ObjectRecord, RemoteTempRecord, Store};
use crate::pack::export::{
    Bucket, Done, ExportOptions, Outputs, Prepared, Published, Sink, Written, record,
    sign_and_prepare, write_archive,
};
use crate::remote::{Client, ObjectVersion};
use crate::report::Reporter;

/// Writes the archive into the bucket, then the signature and the manifest, and records the
/// handover with its three object versions.
#[allow(clippy::too_many_arguments)]
pub(crate) fn export_to_bucket(
    home: &Home,
    store: &mut Store,
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    b: &Bucket,
    receipt_code: &str,
    reporter: &dyn Reporter,
) -> Result<(Done, Published)> {
    let keys = [&o.archive, &o.manifest, &o.sig].map(|p| b.key(p));
    let (pid, owner) = crate::pack::stale::this_process();
    let rows: Vec<RemoteTempRecord> = keys
        .iter()
        .map(|k| RemoteTempRecord {
            bucket: b.loc.bucket.clone(),
            key: k.clone(),
            handover_id: o.handover_id.clone(),
            created_at: o.created_at.clone(),
            pid,
            owner: owner.clone(),
            endpoint: b.client.endpoint().to_string(),
        })
        .collect();
    // Audited with the rows: the clean-up after a kill deletes only keys an `upload` event
    // names, so a row added with SQL (a user's key) is never acted on.
    let tx = store.begin()?;
    tx.insert_remote_temps(&rows)?;
    crate::ledger::audit::append(
        &tx,
        home,
        Some(&o.handover_id),
        &crate::ledger::event::AuditEvent::Upload(crate::ledger::event::UploadDetails {
            endpoint: b.client.endpoint().to_string(),
            objects: keys.iter().map(|k| b.loc.object_url(k)).collect(),
        }),
    )?;
    tx.commit()?;
    // On any error below, what this export put in the bucket is removed and its records
    // forgotten; a kill leaves both for the next export's clean-up.
    let mut undo = Undo {
        client: &b.client,
        db: home.database(),
        rows,
        armed: true,
    };

    let upload = b.client.upload(&keys[0])?;
    let w = write_archive(opts, p, o, Sink::Upload(upload), receipt_code, reporter)?;
    let archive = w.sealed.object.clone().expect("an uploaded archive");

    let tx = store.begin()?;
    let (m, json, sig, audited) = sign_and_prepare(&tx, home, opts, p, o, &w, receipt_code)?;
    // The signature first and the manifest last: a manifest in the bucket means the set is
    // complete, as in a local outbox.
    let sig_obj = b.client.put(&keys[2], sig.clone().into_bytes())?;
    let manifest_obj = b.client.put(&keys[1], json.clone())?;
    let published = record(&tx, home, opts, p, o, &w, &m, &json, &sig, audited)?;
    let objects = [
        ("archive", &archive),
        ("manifest", &manifest_obj),
        ("signature", &sig_obj),
    ]
    .map(|(role, v)| object_record(role, &b.loc.bucket, b.client.endpoint(), v));
    tx.insert_objects(&o.handover_id, &objects)?;
    tx.insert_objects(&o.handover_id, &w.sources)?;
    for k in &keys {
        tx.delete_remote_temp(&b.loc.bucket, k)?;
    }
    tx.commit()?;
    undo.armed = false;
    let Written {
        sealed,
        counts,
        non_utf8,
        ..
    } = w;
    Ok((
        Done {
            counts,
            non_utf8,
            sealed_sha256: sealed.sha256,
            sealed_bytes: sealed.bytes,
        },
        published,
    ))
}

/// The objects this export writes into the bucket, as the audit event binds them: the keys
/// are known before the manifest and its signature exist (their versions are not, and
/// `audit::objects_digest` leaves them out).
pub(crate) fn output_objects(b: &Bucket, o: &Outputs, w: &Written) -> Vec<ObjectRecord> {
    [
        ("archive", &o.archive),
        ("manifest", &o.manifest),
        ("signature", &o.sig),
    ]
    .map(|(role, p)| {
        let key = b.key(p);
        match w.sealed.object.as_ref().filter(|_| role == "archive") {
            Some(v) => object_record(role, &b.loc.bucket, b.client.endpoint(), v),
            None => ObjectRecord {
                role: role.to_string(),
                bucket: b.loc.bucket.clone(),
                key,
                version_id: None,
                etag: None,
                bytes: 0,
                endpoint: b.client.endpoint().to_string(),
            },
        }
    })
    .into()
}

/// The `objects` row of one object version.
pub(crate) fn object_record(
    role: &str,
    bucket: &str,
    endpoint: &str,
    v: &ObjectVersion,
) -> ObjectRecord {
    ObjectRecord {
        role: role.to_string(),
        bucket: bucket.to_string(),
        key: v.key.clone(),
        version_id: v.version.clone(),
        etag: v.etag.clone(),
        bytes: v.size,
        endpoint: endpoint.to_string(),
    }
}

/// Removes what a failed export put in the bucket, and forgets its records, when dropped
/// armed.
struct Undo<'a> {
    client: &'a Client,
    db: std::path::PathBuf,
    rows: Vec<RemoteTempRecord>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(mut store) = Store::open(&self.db) else {
            return;
        };
        let cleaned = crate::pack::stale::remove_unrecorded(self.client, &store, &self.rows);
        if let Ok(done) = cleaned
            && let Ok(tx) = store.begin()
        {
            for (r, _) in done {
                let _ = tx.delete_remote_temp(&r.bucket, &r.key);
            }
            let _ = tx.commit();
        }
    }
}
