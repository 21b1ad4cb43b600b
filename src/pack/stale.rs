//! Temporary files a killed export left behind (issue 8): found through the `temp_files`
//! table, where export records each temporary name before it creates the file, and shredded.
//!
//! A killed export leaves `.NAME.tar.zst.age.tmp-*` in its outbox: a partial archive that
//! anyone holding an escrow identity can read. Nothing else knows it is there, so the next
//! export removes every stale one it finds (overwritten with zeros, synced, unlinked, by
//! handle), and `delete` of a handover adds the stale ones in its outbox to its roots, so the
//! deletion engine shreds them and the certificate lists them (label `stale_temp`).
//!
//! A record is stale when the process that wrote it is gone: `owner` is the boot id, pid and
//! start time of the writer, and no live process has all three (a reused pid has another
//! start time; after a reboot the boot id differs). A live export's temps are never touched.
//!
//! Must not: touch anything but a regular file under the exact recorded name, overwrite a
//! file that has another name (a published archive, after a kill inside a link-then-unlink
//! commit), or follow a symlink on the way.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsx;
use crate::home::Home;
use crate::ledger::store::{Store, TempFileRecord};
use crate::report::Reporter;

/// Who a process is, for telling a live writer from a dead one: `BOOT_ID:PID:START`, where
/// START is the process start time in clock ticks since boot (`/proc/PID/stat`, field 22).
/// `None` when no such process runs.
pub fn process_owner(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{}:{pid}:{start}", boot.trim()))
}

/// This process's owner token.
pub(crate) fn this_process() -> (u32, String) {
    let pid = std::process::id();
    let owner = process_owner(pid).unwrap_or_else(|| format!("unknown:{pid}"));
    (pid, owner)
}

fn is_stale(r: &TempFileRecord) -> bool {
    process_owner(r.pid).as_deref() != Some(r.owner.as_str())
}

/// What became of one stale temporary file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Overwritten with zeros, synced and unlinked.
    Shredded,
    /// Unlinked only: another name holds the same file.
    Unlinked,
    /// Not there any more.
    Gone,
    /// Something other than a regular file is there now: left alone.
    NotAFile,
}

fn split(path: &Path) -> io::Result<(File, &OsStr)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no file name"));
    };
    Ok((fsx::open_dir_path(parent)?, name))
}

/// Overwrites, syncs and unlinks the regular file at `path`, by handle.
fn shred(path: &Path) -> io::Result<Outcome> {
    let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let (dir, name) = match split(path) {
        Ok(x) => x,
        Err(e) if gone(&e) => return Ok(Outcome::Gone),
        Err(e) => return Err(e),
    };
    let st = match fsx::lstat_at(&dir, name) {
        Ok(st) => st,
        Err(e) if gone(&e) => return Ok(Outcome::Gone),
        Err(e) => return Err(e),
    };
    if fsx::FileType::from_raw_mode(st.st_mode as _) != fsx::FileType::RegularFile {
        return Ok(Outcome::NotAFile);
    }
    if st.st_nlink > 1 {
        fsx::unlink_at(&dir, name)?;
        return Ok(Outcome::Unlinked);
    }
    let mut f = fsx::open_file_at(&dir, name, true)?;
    let now = fsx::fstat(&f)?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) || now.st_nlink > 1 {
        return Ok(Outcome::NotAFile);
    }
    // A file bind-mounted over the temp's name is someone else's file on another mount:
    // never overwrite it (the mount id tells it from the outbox's own entries).
    if let (Some(here), Some(outbox)) = (fsx::mount_id(&f), fsx::mount_id(&dir))
        && here != outbox
    {
        return Ok(Outcome::NotAFile);
    }
    let zeros = vec![0u8; crate::util::IO_BUF];
    let mut left = now.st_size as u64;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    fsx::unlink_at(&dir, name)?;
    dir.sync_all()?;
    Ok(Outcome::Shredded)
}

/// Whether `final_path` is a published output of a killed export: the export was killed
/// while it renamed its files to their final names, before it recorded its handover, and no
/// recorded handover owns that name since.
fn unrecorded_output(store: &Store, r: &TempFileRecord) -> Result<bool> {
    if !r.publishing {
        return Ok(false);
    }
    let hs = store.handovers()?;
    let recorded = hs.iter().any(|h| {
        h.handover_id == r.handover_id
            || [&h.archive_path, &h.manifest_path, &h.signature_path].contains(&&r.final_path)
    });
    Ok(!recorded && r.final_path.symlink_metadata().is_ok_and(|m| m.is_file()))
}

/// Shreds every stale temporary file recorded, and the published outputs of a killed export
/// that never got recorded; forgets the records. Run by export before it starts. Each removal
/// is warned about and written to the audit log. A file that cannot be removed is warned
/// about and kept on record for the next run. Returns the paths removed.
pub fn clean(home: &Home, store: &mut Store, reporter: &dyn Reporter) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for r in store.temp_files()? {
        if !is_stale(&r) {
            continue;
        }
        let mut paths = vec![r.path.clone()];
        if unrecorded_output(store, &r)? {
            paths.push(r.final_path.clone());
        }
        let mut done = true;
        for p in &paths {
            match shred(p) {
                Ok(Outcome::Gone) => {}
                Ok(Outcome::NotAFile) => reporter.warn(&format!(
                    "{} was recorded as a temporary file of a killed export, but is no longer a regular file; left alone",
                    crate::error::show(p)
                )),
                Ok(o) => {
                    reporter.warn(&format!(
                        "removed {}, left by an export that was killed ({})",
                        crate::error::show(p),
                        if o == Outcome::Shredded {
                            "overwritten, then unlinked"
                        } else {
                            "unlinked; another name holds the same file"
                        }
                    ));
                    removed.push(p.clone());
                }
                Err(e) => {
                    done = false;
                    reporter.warn(&format!(
                        "cannot remove {}, left by an export that was killed: {e}; remove it by hand (it may be a readable partial archive)",
                        crate::error::show(p)
                    ));
                }
            }
        }
        if done {
            let tx = store.begin()?;
            tx.delete_temp_file(&r.path)?;
            if paths.iter().any(|p| removed.contains(p)) {
                let event = crate::ledger::event::AuditEvent::Cleanup(
                    crate::ledger::event::CleanupDetails {
                        reason: "stale temporary files of a killed export".into(),
                        export_handover_id: r.handover_id.clone(),
                        removed: paths
                            .iter()
                            .filter(|p| removed.contains(p))
                            .map(|p| crate::error::show(p))
                            .collect(),
                    },
                );
                crate::ledger::audit::append(&tx, home, None, &event)?;
            }
            tx.commit()?;
        }
    }
    Ok(removed)
}

/// The stale files `delete` of handover `h` adds to its roots (label `stale_temp`): the
/// stale temporary files recorded in its outbox (the directory of its archive) that exist
/// now, and the unrecorded outputs of a killed export there. An interrupted deletion of `h`
/// being resumed keeps the `stale_temp` roots it started with: a job's roots are fixed once.
pub fn delete_roots(home: &Home, h: &crate::ledger::store::HandoverRecord) -> Result<Vec<PathBuf>> {
    if let Some(r) = running_job_roots(home, &h.handover_id)? {
        return Ok(r);
    }
    let outbox = crate::home::parent_dir(&h.archive_path);
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&home.database())?;
    let mut out = Vec::new();
    for r in store.temp_files()? {
        if !is_stale(&r) || crate::home::parent_dir(&r.path) != outbox {
            continue;
        }
        if r.path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            out.push(r.path.clone());
        }
        if unrecorded_output(&store, &r)? {
            out.push(r.final_path.clone());
        }
    }
    Ok(out)
}

/// The `stale_temp` roots of the unfinished deletion job of `handover_id`, if one is running.
fn running_job_roots(home: &Home, handover_id: &str) -> Result<Option<Vec<PathBuf>>> {
    if !home.database().exists() {
        return Ok(None);
    }
    let store = Store::open(&home.database())?;
    let Some(job) = store
        .deletion_job_for_handover(handover_id)?
        .filter(|j| j.state == crate::ledger::state::JobState::Running)
    else {
        return Ok(None);
    };
    Ok(Some(
        store
            .deletion_roots(&job.job_id)?
            .into_iter()
            .filter(|r| r.label == "stale_temp")
            .map(|r| r.path)
            .collect(),
    ))
}

/// Forgets the records of temporary files this process no longer has (an export that failed
/// and removed them). Best effort: a record left behind is dropped by the next clean-up,
/// which finds the file gone.
pub(crate) fn forget(db: &Path, paths: &[PathBuf]) {
    if let Ok(mut store) = Store::open(db)
        && let Ok(tx) = store.begin()
        && paths.iter().all(|p| tx.delete_temp_file(p).is_ok())
    {
        let _ = tx.commit();
    }
}

/// For each key an export recorded before uploading to it: when no handover was recorded
/// for that export, aborts the incomplete multipart uploads of exactly that key and deletes
/// every version of exactly that key (the export checked that none existed before it
/// started, so every version there is its own). Returns the rows dealt with; a row whose
/// clean-up failed is left for the next run.
pub(crate) fn remove_unrecorded<'r>(
    client: &crate::remote::Client,
    store: &Store,
    rows: &'r [crate::ledger::store::RemoteTempRecord],
) -> Result<Vec<(&'r crate::ledger::store::RemoteTempRecord, usize)>> {
    let recorded: std::collections::HashSet<String> = store
        .handovers()?
        .into_iter()
        .map(|h| h.handover_id)
        .collect();
    let mut done = Vec::new();
    for r in rows {
        if recorded.contains(&r.handover_id) {
            done.push((r, 0));
            continue;
        }
        // Only a key the export audited before uploading, at this endpoint: a row written
        // outside handover (someone else's key) is never acted on, and stays for `audit`.
        let url = format!("s3://{}/{}", r.bucket, r.key);
        let audited = crate::ledger::audit::audited_uploads(store, &r.handover_id)?
            .contains(&(r.endpoint.clone(), url));
        if !audited || r.endpoint != client.endpoint() {
            continue;
        }
        let cleaned = (|| -> std::result::Result<usize, crate::error::RemoteError> {
            let mut n = 0;
            for u in client.pending_uploads(&r.key)? {
                if u.key == r.key {
                    client.abort_upload(&u.key, &u.upload_id)?;
                    n += 1;
                }
            }
            for v in client.versions(&r.key)? {
                if v.key == r.key {
                    client.delete_version(&v.key, v.version.as_deref())?;
                    n += 1;
                }
            }
            Ok(n)
        })();
        if let Ok(n) = cleaned {
            done.push((r, n));
        }
    }
    Ok(done)
}

/// The object-storage side of [`clean`]: the keys of exports that were killed (their owner
/// process is gone) are cleaned up with [`remove_unrecorded`], each removal warned about and
/// audited, and their records forgotten. A bucket that cannot be reached now (no credentials
/// in this environment) is warned about and kept on record for a later export.
pub fn clean_remote(home: &Home, store: &mut Store, reporter: &dyn Reporter) -> Result<()> {
    let rows: Vec<_> = store
        .remote_temps()?
        .into_iter()
        .filter(|r| process_owner(r.pid).as_deref() != Some(r.owner.as_str()))
        .collect();
    let mut buckets: Vec<&str> = rows.iter().map(|r| r.bucket.as_str()).collect();
    buckets.sort_unstable();
    buckets.dedup();
    for bucket in buckets {
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r.bucket == bucket)
            .cloned()
            .collect();
        let client = match crate::remote::Client::connect(bucket) {
            Ok(c) => c,
            Err(e) => {
                reporter.warn(&format!(
                    "cannot clean up s3://{bucket}/ after an export that was killed: {e}"
                ));
                continue;
            }
        };
        // A bucket name means one bucket only at one service: rows of an export to another
        // endpoint wait for a run that points there.
        let (mine, elsewhere): (Vec<_>, Vec<_>) = mine
            .into_iter()
            .partition(|r| r.endpoint == client.endpoint());
        if let Some(r) = elsewhere.first() {
            reporter.warn(&format!(
                "an export to s3://{bucket}/ at {} was killed; its upload is cleaned up by the next export run with AWS_ENDPOINT_URL={} (this one points to {})",
                r.endpoint,
                r.endpoint,
                client.endpoint()
            ));
        }
        let done = remove_unrecorded(&client, store, &mine)?;
        if done.len() < mine.len() {
            reporter.warn(&format!(
                "could not clean up every upload to s3://{bucket}/ left by an export that was killed; the next export tries again"
            ));
        }
        let tx = store.begin()?;
        for (r, n) in &done {
            tx.delete_remote_temp(&r.bucket, &r.key)?;
            if *n > 0 {
                let url = format!("s3://{}/{}", r.bucket, r.key);
                reporter.warn(&format!(
                    "removed {url}, left by an export that was killed (incomplete upload aborted, object versions deleted)"
                ));
                let event = crate::ledger::event::AuditEvent::Cleanup(
                    crate::ledger::event::CleanupDetails {
                        reason: "object-storage leftovers of a killed export".into(),
                        export_handover_id: r.handover_id.clone(),
                        removed: vec![url],
                    },
                );
                crate::ledger::audit::append(&tx, home, None, &event)?;
            }
        }
        tx.commit()?;
    }
    Ok(())
}
