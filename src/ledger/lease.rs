//! Leases: at most one deletion at a time per handover and per set of paths.
//!
//! A deletion (`delete`, `shred`, a job of `run-due`) takes a lease inside the IMMEDIATE
//! transaction that starts its job, so of two processes that start together exactly one gets
//! it; the other refuses and names the holder. A lease names the paths it covers, and a lease
//! whose paths overlap ours (one is, contains or is inside the other) is as good as the same
//! key: `shred` of a handover's source while `delete` of that handover runs refuses too.
//!
//! The holder is `host:pid:start:random`, `start` being the process's start time in clock
//! ticks since boot (`/proc/PID/stat`), so a pid reused by another program is not mistaken
//! for the holder. On the same host a lease is live exactly while its process is; a run
//! killed half way leaves a lease that the next run takes over. A holder on another host
//! cannot be checked, so its lease lasts until `until` ([`LEASE`] after it was taken).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use time::{Duration, OffsetDateTime};

use crate::ledger::store::{LeaseRecord, Tx};
use crate::util;

/// How long a lease held by a process on another host is honoured.
pub const LEASE: Duration = Duration::hours(6);

/// This process's holder name, the same for every lease it takes.
pub fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id() as i32;
        format!(
            "{}:{}:{}:{}",
            hostname(),
            pid,
            start_time(pid).unwrap_or(0),
            util::random_hex(4)
        )
    })
}

/// The host name, as `/proc` reports it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks after boot.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The holder's parts: (host, pid, start time).
fn parse_owner(owner: &str) -> Option<(&str, i32, u64)> {
    let mut p = owner.split(':');
    Some((p.next()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?))
}

/// Whether a lease can be taken over: its process on this host is gone, or (another host)
/// its time is up.
pub fn is_stale(owner: &str, until: &str, now: OffsetDateTime) -> bool {
    match parse_owner(owner) {
        Some((host, pid, start)) if host == hostname() => {
            // kill(pid, 0) sends nothing; ESRCH means no such process.
            // SAFETY: kill with signal 0 only checks that the process exists.
            let r = unsafe { libc::kill(pid, 0) };
            let gone =
                r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            gone || start_time(pid).is_some_and(|s| s != start)
        }
        _ => util::parse_at(until).map_or(true, |u| u < now),
    }
}

/// For people: "process 1234 on host db1 (since 2026-11-25T10:00:00Z)".
pub fn describe(l: &LeaseRecord) -> String {
    match parse_owner(&l.owner) {
        Some((host, pid, _)) => format!("process {pid} on host {host} (since {})", l.taken_at),
        None => format!("{} (since {})", l.owner, l.taken_at),
    }
}

/// Whether two paths overlap: one is, contains or is inside the other.
pub fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Takes the lease `key` covering `paths` for this process, inside `tx` (which must be an
/// IMMEDIATE transaction the caller commits). Leases of dead processes in the way are
/// removed; a live one in the way is returned as the refusal. Returns the leases taken over.
pub fn acquire(
    tx: &Tx<'_>,
    key: &str,
    paths: &[PathBuf],
    job_id: Option<&str>,
    now: OffsetDateTime,
) -> crate::error::Result<Result<Vec<LeaseRecord>, LeaseRecord>> {
    let me = owner();
    if !kernel_lock(tx.db_path(), key) {
        // Another live process holds the key's lock file, whatever the leases table says
        // (its row may have been deleted behind our back).
        let holder = tx.leases()?.into_iter().find(|l| l.key == key);
        return Ok(Err(holder.unwrap_or(LeaseRecord {
            key: key.to_string(),
            owner: "another process (it holds the lease's lock file)".into(),
            until: util::rfc3339(now),
            taken_at: util::rfc3339(now),
            job_id: None,
            paths: paths.to_vec(),
        })));
    }
    let mut taken_over = Vec::new();
    for l in tx.leases()? {
        if l.owner == me {
            continue;
        }
        let in_the_way =
            l.key == key || l.paths.iter().any(|p| paths.iter().any(|q| overlaps(p, q)));
        if !in_the_way {
            continue;
        }
        if !is_stale(&l.owner, &l.until, now) {
            return Ok(Err(l));
        }
        tx.drop_lease(&l.key, Some(&l.owner))?;
        taken_over.push(l);
    }
    tx.put_lease(&LeaseRecord {
        key: key.to_string(),
        owner: me.to_string(),
        until: util::rfc3339(now + LEASE),
        taken_at: util::rfc3339(now),
        job_id: job_id.map(str::to_string),
        paths: paths.to_vec(),
    })?;
    Ok(Ok(taken_over))
}

/// Lock files this process holds, by lease key: closing one releases it.
static LOCKS: Mutex<Vec<(String, File)>> = Mutex::new(Vec::new());

/// Takes an exclusive `flock` on the lease's lock file (`locks/` beside the database),
/// without waiting; true when this process holds it (already, or now). The database row is
/// what other processes read to name the holder; the kernel lock is what cannot be edited
/// away with sqlite3, and it ends with the process, so a killed run never blocks the next.
fn kernel_lock(db: &Path, key: &str) -> bool {
    let mut held = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if held.iter().any(|(k, _)| k == key) {
        return true;
    }
    let dir = crate::home::parent_dir(db).join("locks");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}.lock", util::sha256_hex(key.as_bytes())));
    let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    else {
        // No lock file can be made (read-only home?): the database lease still decides.
        return true;
    };
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            held.push((key.to_string(), f));
            true
        }
        Err(_) => false,
    }
}

/// Releases this process's lock file for `key` (the database row is dropped by the caller).
pub fn release_lock(key: &str) {
    LOCKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(k, _)| k != key);
}

/// The key of a handover's deletion lease.
pub fn handover_key(handover_id: &str) -> String {
    format!("handover:{handover_id}")
}

/// Releases this process's lease `key` when dropped. Best effort: a lease this fails to
/// release is taken over by the next run on this host, since its process is gone by then.
pub struct Guard {
    db: PathBuf,
    key: String,
}

impl Guard {
    pub fn new(db: &Path, key: &str) -> Guard {
        Guard {
            db: db.to_path_buf(),
            key: key.to_string(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        release_lock(&self.key);
        if let Ok(mut s) = crate::ledger::store::Store::open(&self.db)
            && let Ok(tx) = s.begin()
            && tx.drop_lease(&self.key, Some(owner())).is_ok()
        {
            let _ = tx.commit();
        }
    }
}
