//! Erase in a bucket: every version of every object a handover recorded, their delete markers,
//! and the incomplete multipart uploads of those keys, each removed by the storage service
//! (a logical delete: the service decides when the bytes are gone).
//!
//! Kept apart from the local plan: a bucket key is never a root, so it is never taken for a
//! path. The plan lists exactly the recorded keys (a listing by prefix is filtered to them),
//! before anything is touched, and refuses what a deletion must not decide alone: a version of
//! a `source` key newer than the one handed over (written after the export, never handed
//! over), and a version protected by Object Lock (retention in force or a legal hold).
//!
//! Progress is recorded like the local entries': a batch is marked `ready` before its deletes
//! are sent and `done` after, so a version found gone when a killed job resumes was removed by
//! this job only if it was `ready`; otherwise something else removed it (`vanished`). After
//! the run the keys are listed again: a version still there fails the run, never a success.
//!
//! It must never send a delete for a key that was not recorded for the handover.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Blocker, Result, ShredError};
use crate::ledger::state::EntryState;
use crate::ledger::store::{ObjectEntryRecord, ObjectRecord, Store};
use crate::remote::{Client, ObjectVersion, PendingUpload};
use crate::report::Reporter;

/// The method of every bucket entry: the service is asked to remove it.
pub const METHOD: &str = "logical_delete";

/// Why a bucket entry gets no more than a logical delete, as the certificate says it.
pub const REASON: &str = "the storage service decides when the bytes are gone";

/// Deletes sent between two commits of the job's progress.
const BATCH: usize = 100;

/// One thing the plan removes in a bucket, as `--dry-run` and `--json` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanObject {
    /// `s3://BUCKET/KEY`.
    pub url: String,
    /// The role of the recorded key: `archive`, `manifest`, `signature` or `source`.
    pub role: String,
    /// `object` (a version with data), `delete_marker` or `multipart_upload`.
    pub kind: String,
    /// The version id (the upload id of a `multipart_upload`); None in a bucket without
    /// versions.
    pub version_id: Option<String>,
    /// The version's size in bytes (0 for the other kinds).
    pub bytes: u64,
    /// `logical_delete`.
    pub method: String,
}

impl PlanObject {
    /// How the plan shows a recorded entry.
    pub(super) fn of(e: &ObjectEntryRecord) -> PlanObject {
        PlanObject {
            url: url(&e.bucket, &e.key),
            role: e.role.clone(),
            kind: e.kind.clone(),
            version_id: e.version_id.clone(),
            bytes: e.bytes,
            method: e.method.clone(),
        }
    }
}

fn url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The bucket half of a deletion: its entries and the connections that remove them.
pub(super) struct BucketPlan {
    /// Every entry, in the job's order (an earlier run's first).
    pub entries: Vec<ObjectEntryRecord>,
    /// One connection per bucket.
    clients: HashMap<String, Client>,
    /// The recorded keys of each bucket, with their role: nothing else is ever deleted.
    keys: BTreeMap<String, BTreeMap<String, String>>,
}

/// What the service lists now for the recorded keys of one bucket.
struct Listed {
    versions: Vec<ObjectVersion>,
    uploads: Vec<PendingUpload>,
}

impl BucketPlan {
    /// Lists every recorded key now and plans its removal, merged with the entries an
    /// interrupted run of the job recorded (`stored`). Blockers are added to `blockers`.
    pub(super) fn make(
        objects: &[ObjectRecord],
        stored: &[ObjectEntryRecord],
        now: &str,
        blockers: &mut Vec<Blocker>,
        warnings: &mut Vec<String>,
    ) -> Result<BucketPlan> {
        let mut keys: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for o in objects {
            keys.entry(o.bucket.clone())
                .or_default()
                .insert(o.key.clone(), o.role.clone());
        }
        let mut clients = HashMap::new();
        for bucket in keys.keys() {
            clients.insert(bucket.clone(), Client::connect(bucket)?);
        }
        // A bucket name means one bucket only at one service: objects recorded at another
        // endpoint than this run's are never listed, let alone deleted.
        let elsewhere: Vec<&ObjectRecord> = objects
            .iter()
            .filter(|o| o.endpoint != clients[&o.bucket].endpoint())
            .collect();
        if let Some(o) = elsewhere.first() {
            blockers.push(Blocker {
                kind: "other_endpoint",
                path: PathBuf::from(url(&o.bucket, &o.key)),
                message: format!(
                    "recorded at {}, but this run points to {}: nothing there was listed or deleted. Run again with AWS_ENDPOINT_URL={}",
                    o.endpoint,
                    clients[&o.bucket].endpoint(),
                    o.endpoint
                ),
            });
            return Ok(BucketPlan {
                entries: Vec::new(),
                clients,
                keys,
            });
        }
        let mut plan = BucketPlan {
            entries: Vec::new(),
            clients,
            keys,
        };
        let listed = plan.list()?;
        let fresh = plan.planned(objects, stored, &listed, blockers);
        plan.entries = merge(stored, fresh, warnings);
        plan.lock_blockers(now, blockers)?;
        Ok(plan)
    }

    /// Every version, delete marker and incomplete upload of the recorded keys, by bucket:
    /// one listing of each bucket under the keys' common folder, filtered to exactly them.
    fn list(&self) -> Result<BTreeMap<String, Listed>> {
        let mut out = BTreeMap::new();
        for (bucket, keys) in &self.keys {
            let client = &self.clients[bucket];
            let prefix = common_folder(keys.keys().map(String::as_str));
            let mut versions = client.versions(&prefix)?;
            versions.retain(|v| keys.contains_key(&v.key));
            let mut uploads = client.pending_uploads(&prefix)?;
            uploads.retain(|u| keys.contains_key(&u.key));
            out.insert(bucket.clone(), Listed { versions, uploads });
        }
        Ok(out)
    }

    /// The entries the listing calls for, and the blockers of versions newer than a
    /// source's recorded one. An entry already in `stored` is matched there by `merge`.
    fn planned(
        &self,
        objects: &[ObjectRecord],
        stored: &[ObjectEntryRecord],
        listed: &BTreeMap<String, Listed>,
        blockers: &mut Vec<Blocker>,
    ) -> Vec<ObjectEntryRecord> {
        let known: HashSet<(&str, &str, Option<&str>, &str)> = stored
            .iter()
            .map(|e| {
                (
                    e.bucket.as_str(),
                    e.key.as_str(),
                    e.version_id.as_deref(),
                    e.kind.as_str(),
                )
            })
            .collect();
        let resumed = !stored.is_empty();
        let mut out = Vec::new();
        let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for o in objects {
            if !seen.insert((&o.bucket, &o.key)) {
                continue;
            }
            let Some(l) = listed.get(&o.bucket) else {
                continue;
            };
            // Newest first, as the service lists them.
            let found: Vec<&ObjectVersion> = l.versions.iter().filter(|v| v.key == o.key).collect();
            let unknown = |v: &ObjectVersion, kind: &str| {
                !known.contains(&(
                    o.bucket.as_str(),
                    o.key.as_str(),
                    v.version.as_deref(),
                    kind,
                ))
            };
            // Export's own outputs too, where a version id was recorded: a version written
            // over one of them after the export (a racing upload, a re-created key) is not
            // the handover's, and the provider decides about it. Without a version id (a
            // bucket that keeps none) there is nothing to tell versions apart by.
            let untold = o.version_id.as_deref().is_none_or(|v| v == "null");
            let newer: Vec<&ObjectVersion> = if o.role != "source" && untold {
                Vec::new()
            } else if resumed {
                // The first run planned every version that could be deleted: a data version
                // it did not know was written since.
                found
                    .iter()
                    .filter(|v| !v.delete_marker && unknown(v, "object"))
                    .copied()
                    .collect()
            } else {
                let at = found.iter().position(|v| is_recorded(v, o));
                found[..at.unwrap_or(found.len())]
                    .iter()
                    .filter(|v| !v.delete_marker)
                    .copied()
                    .collect()
            };
            for v in &newer {
                blockers.push(newer_blocker(o, v, resumed));
            }
            for v in found {
                let kind = if v.delete_marker {
                    "delete_marker"
                } else {
                    "object"
                };
                if newer.iter().any(|n| std::ptr::eq(*n, v)) {
                    continue;
                }
                out.push(entry(o, v.version.clone(), kind, v.size));
            }
            for u in l.uploads.iter().filter(|u| u.key == o.key) {
                out.push(entry(o, Some(u.upload_id.clone()), "multipart_upload", 0));
            }
        }
        out
    }

    /// A blocker for each version still to delete that Object Lock protects now.
    fn lock_blockers(&self, now: &str, blockers: &mut Vec<Blocker>) -> Result<()> {
        for e in &self.entries {
            if e.kind != "object" || matches!(e.state, EntryState::Done | EntryState::Vanished) {
                continue;
            }
            let Some(lock) = self.clients[&e.bucket].lock(&e.key, e.version_id.as_deref(), now)?
            else {
                continue;
            };
            let mut what = Vec::new();
            let mut next = Vec::new();
            if let Some((mode, until)) = &lock.retention {
                what.push(format!("retention {mode} until {until}"));
                next.push(format!("wait until {until}"));
            }
            if lock.legal_hold {
                what.push("a legal hold".to_string());
                next.push("have whoever placed the legal hold lift it".to_string());
            }
            blockers.push(Blocker {
                kind: "object_locked",
                path: PathBuf::from(url(&e.bucket, &e.key)),
                message: format!(
                    "version {} is protected by Object Lock ({}): the service refuses to delete it, and nothing was deleted. {}, then run again",
                    e.version_id.as_deref().unwrap_or("(unversioned)"),
                    what.join(" and "),
                    capitalised(&next.join(" and "))
                ),
            });
        }
        Ok(())
    }

    /// Sends the deletes of every entry not done yet, recording progress in batches (see the
    /// module doc). Returns how many failed, with the first failure.
    pub(super) fn execute(
        &mut self,
        store: &mut Store,
        job_id: &str,
        reporter: &dyn Reporter,
    ) -> Result<Option<(usize, String, String)>> {
        let todo: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                !matches!(
                    self.entries[i].state,
                    EntryState::Done | EntryState::Vanished
                )
            })
            .collect();
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut finished = 0u64;
        for batch in todo.chunks(BATCH) {
            if reporter.cancelled() {
                return Err(ShredError::Interrupted {
                    job_id: job_id.to_string(),
                    done: finished,
                }
                .into());
            }
            let tx = store.begin()?;
            for &i in batch {
                self.entries[i].state = EntryState::Ready;
                tx.set_object_state(job_id, self.entries[i].seq, EntryState::Ready, None)?;
            }
            tx.commit()?;
            crate::fault::point("bucket.ready");
            for &i in batch {
                let e = &mut self.entries[i];
                let client = &self.clients[&e.bucket];
                let sent = match e.kind.as_str() {
                    "multipart_upload" => {
                        client.abort_upload(&e.key, e.version_id.as_deref().unwrap_or_default())
                    }
                    _ => client.delete_version(&e.key, e.version_id.as_deref()),
                };
                match sent {
                    Ok(()) => {
                        e.state = EntryState::Done;
                        finished += 1;
                    }
                    Err(err) => {
                        e.state = EntryState::Failed;
                        e.note = Some(err.to_string());
                        failures.push((url(&e.bucket, &e.key), err.to_string()));
                    }
                }
            }
            let tx = store.begin()?;
            for &i in batch {
                let e = &self.entries[i];
                tx.set_object_state(job_id, e.seq, e.state, e.note.as_deref())?;
            }
            tx.commit()?;
            crate::fault::point("bucket.deleted");
        }
        Ok(failures
            .first()
            .map(|(u, why)| (failures.len(), u.clone(), why.clone())))
    }

    /// The entries still to remove, as the plan shows them.
    pub(super) fn todo(&self) -> Vec<PlanObject> {
        self.entries
            .iter()
            .filter(|e| !matches!(e.state, EntryState::Done | EntryState::Vanished))
            .map(PlanObject::of)
            .collect()
    }

    /// Lists the recorded keys again after the run: the first version, delete marker or
    /// upload still there, and how many there are.
    pub(super) fn left(&self) -> Result<Option<(usize, String)>> {
        let listed = self.list()?;
        let mut left: Vec<String> = Vec::new();
        for l in listed.values() {
            for v in &l.versions {
                left.push(format!(
                    "s3://{}/{} version {}",
                    self.bucket_of(&v.key),
                    v.key,
                    v.version.as_deref().unwrap_or("(unversioned)")
                ));
            }
            for u in &l.uploads {
                left.push(format!(
                    "s3://{}/{} (incomplete upload {})",
                    self.bucket_of(&u.key),
                    u.key,
                    u.upload_id
                ));
            }
        }
        Ok(left.first().map(|f| (left.len(), f.clone())))
    }

    fn bucket_of(&self, key: &str) -> &str {
        self.keys
            .iter()
            .find(|(_, k)| k.contains_key(key))
            .map_or("", |(b, _)| b.as_str())
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Whether a listed version is the one export recorded: the same version id, or in a bucket
/// without versions the same ETag (a changed object is a newer one).
fn is_recorded(v: &ObjectVersion, o: &ObjectRecord) -> bool {
    !v.delete_marker
        && match &o.version_id {
            Some(id) => v.version.as_deref() == Some(id.as_str()),
            None => v.version.is_none() && v.etag == o.etag,
        }
}

fn newer_blocker(o: &ObjectRecord, v: &ObjectVersion, resumed: bool) -> Blocker {
    let version = v.version.as_deref().unwrap_or("(unversioned)");
    let message = if resumed {
        format!(
            "version {version} was written after this deletion was planned, so it was never handed over: the provider must decide about it (delete it with your storage tools, or keep it); nothing of it was touched"
        )
    } else {
        format!(
            "version {version} is not the one handed over ({}): it was written after the export and never handed over. The provider must decide about it (delete it with your storage tools, or keep it); nothing was deleted",
            o.version_id
                .as_deref()
                .unwrap_or("an older object with another ETag")
        )
    };
    Blocker {
        kind: "newer_version",
        path: PathBuf::from(url(&o.bucket, &o.key)),
        message,
    }
}

fn entry(o: &ObjectRecord, version: Option<String>, kind: &str, bytes: u64) -> ObjectEntryRecord {
    ObjectEntryRecord {
        seq: 0,
        role: o.role.clone(),
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        version_id: version,
        kind: kind.to_string(),
        bytes,
        method: METHOD.to_string(),
        state: EntryState::Pending,
        note: None,
    }
}

/// The plan merged with an interrupted run's: a stored entry keeps its number and state; one
/// no longer listed was removed by that run if it had got as far as `ready`, else by
/// something else (`vanished`).
fn merge(
    stored: &[ObjectEntryRecord],
    fresh: Vec<ObjectEntryRecord>,
    warnings: &mut Vec<String>,
) -> Vec<ObjectEntryRecord> {
    let id = |e: &ObjectEntryRecord| {
        (
            e.bucket.clone(),
            e.key.clone(),
            e.version_id.clone(),
            e.kind.clone(),
        )
    };
    let listed: HashSet<_> = fresh.iter().map(id).collect();
    let mut out: Vec<ObjectEntryRecord> = Vec::new();
    for e in stored {
        let mut e = e.clone();
        if !listed.contains(&id(&e)) {
            match e.state {
                EntryState::Ready => {
                    e.state = EntryState::Done;
                    e.note = Some("removed by the interrupted run of this job".into());
                }
                EntryState::Pending | EntryState::Failed => {
                    e.state = EntryState::Vanished;
                    e.note = Some(
                        "was gone when the job resumed: removed by something other than this job"
                            .into(),
                    );
                    warnings.push(format!(
                        "{} version {} vanished before this job could delete it",
                        url(&e.bucket, &e.key),
                        e.version_id.as_deref().unwrap_or("(unversioned)")
                    ));
                }
                _ => {}
            }
        }
        out.push(e);
    }
    let had: HashSet<_> = stored.iter().map(id).collect();
    let mut next = stored.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    for mut e in fresh {
        if had.contains(&id(&e)) {
            continue;
        }
        e.seq = next;
        next += 1;
        out.push(e);
    }
    out
}

/// The longest folder (`a/b/`, or empty) that holds every key.
fn common_folder<'a>(mut keys: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut len = first.len();
    for k in keys {
        len = first
            .bytes()
            .zip(k.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    match first[..len].rfind('/') {
        Some(i) => first[..=i].to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_folder_holds_every_key_and_ends_at_a_slash() {
        let f = |k: &[&str]| common_folder(k.iter().copied());
        assert_eq!(f(&["acme/a.age", "acme/a.manifest.json"]), "acme/");
        assert_eq!(f(&["acme/x/1", "acme/y/2"]), "acme/");
        assert_eq!(f(&["a", "b"]), "");
        assert_eq!(f(&["data/é/1", "data/é/2"]), "data/é/");
        assert_eq!(f(&["only/one"]), "only/");
    }
}
