//! Carrying out a recorded plan: hash (delete), overwrite, sync, read back, truncate, rename,
//! unlink, sync the directories, committing progress in batches. See the parent module for the
//! order that keeps an interrupted run honest.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use sha2::{Digest, Sha256};

use crate::error::{Result, ShredError};
use crate::fsinfo::FsClass;
use crate::report::Reporter;
use crate::store::{EntryRecord, Store};

use super::plan::{Root, entry_path};

/// Overwrite and read-back chunk: 1 MiB, the buffer size export measured best for file I/O
/// (shared/bench/NOTES.md); a multiple of every block size and O_DIRECT alignment.
pub(super) const CHUNK: usize = 1 << 20;
/// O_DIRECT buffer alignment: 4096 covers every logical block size Linux supports on x86.
pub(super) const DIRECT_ALIGN: usize = 4096;
/// A batch ends after this many entries or bytes: one database commit per phase per batch
/// keeps per-file overhead low, and every file of a batch stays open between its overwrite
/// and its unlink (well below the usual 1024 open-file limit).
pub(super) const BATCH_ENTRIES: usize = 256;
pub(super) const BATCH_BYTES: u64 = 64 << 20;
/// ChaCha20 (RFC 8439) has a 32-bit block counter: 256 GiB per nonce. The keystream of a file
/// uses a new nonce every 64 GiB so any file size works.
pub(super) const SEGMENT: u64 = 1 << 36;

/// The execution state of one run.
pub(super) struct Exec<'a> {
    pub(super) store: &'a mut Store,
    pub(super) job_id: String,
    pub(super) roots: &'a [Root],
    pub(super) reporter: &'a dyn Reporter,
    pub(super) hash: bool,
    /// (path, reason, was an I/O error).
    pub(super) failures: Vec<(PathBuf, String, bool)>,
    pub(super) buf: Vec<u8>,
    pub(super) files_overwritten: u64,
    pub(super) bytes_overwritten: u64,
    pub(super) files_verified: u64,
}

/// A state change to commit for one entry.
pub(super) struct Change {
    pub(super) seq: u64,
    pub(super) state: &'static str,
    sha256: Option<String>,
    pub(super) verification: Option<String>,
    pub(super) note: Option<String>,
}

pub(super) fn change(seq: u64, state: &'static str) -> Change {
    Change {
        seq,
        state,
        sha256: None,
        verification: None,
        note: None,
    }
}

pub(super) fn overwrites(e: &EntryRecord) -> bool {
    e.kind == "file" && (e.method == "clear" || e.method == "overwrite_best_effort")
}

/// Fills `buf` with the file's keystream at `offset` XORed in (zeros in → keystream out;
/// keystream read back → zeros out).
pub(super) fn apply_keystream(seed: &[u8; 32], offset: u64, buf: &mut [u8]) {
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset + done as u64;
        let segment = at / SEGMENT;
        let within = at % SEGMENT;
        let n = ((SEGMENT - within) as usize).min(buf.len() - done);
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&segment.to_le_bytes());
        let mut c = ChaCha20::new(seed.into(), &nonce.into());
        c.seek(within);
        c.apply_keystream(&mut buf[done..done + n]);
        done += n;
    }
}

pub(super) fn all_zero(b: &[u8]) -> bool {
    // SAFETY: u128 has no invalid bit patterns; align_to only reinterprets aligned middle.
    let (head, mid, tail) = unsafe { b.align_to::<u128>() };
    head.iter().all(|&x| x == 0) && mid.iter().all(|&x| x == 0) && tail.iter().all(|&x| x == 0)
}

/// The byte ranges of a file that hold data, each rounded out to `blk`: the whole length for
/// an ordinary file; for a sparse one only its data (holes have no blocks to overwrite, and
/// filling them could fill the disk).
pub(super) fn data_ranges(f: &File, meta: &fs::Metadata, blk: u64) -> io::Result<Vec<(u64, u64)>> {
    let size = meta.len();
    let up = |x: u64| x.div_ceil(blk) * blk;
    if size == 0 {
        return Ok(Vec::new());
    }
    if meta.blocks() * 512 >= size {
        return Ok(vec![(0, up(size))]);
    }
    let fd = f.as_raw_fd();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos: i64 = 0;
    while (pos as u64) < size {
        // SAFETY: lseek on an open fd has no memory-safety preconditions.
        let d = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if d < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            // SEEK_DATA unsupported: treat the whole file as data.
            return Ok(vec![(0, up(size))]);
        }
        // SAFETY: as above.
        let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
        let h = if h < 0 { size as i64 } else { h };
        let start = (d as u64 / blk) * blk;
        let end = up(h as u64);
        match out.last_mut() {
            Some(l) if l.1 >= start => l.1 = l.1.max(end),
            _ => out.push((start, end)),
        }
        pos = h;
    }
    Ok(out)
}

/// An open regular file being overwritten in this batch.
pub(super) struct Open {
    pub(super) idx: usize,
    pub(super) f: File,
    pub(super) seed: [u8; 32],
    pub(super) ranges: Vec<(u64, u64)>,
}

impl Exec<'_> {
    fn path_of(&self, e: &EntryRecord) -> PathBuf {
        entry_path(&self.roots[e.root_idx as usize].path, &e.rel_path)
    }

    fn fail(&mut self, e: &EntryRecord, reason: String, io: bool, changes: &mut Vec<Change>) {
        let path = self.path_of(e);
        self.failures.push((path, reason.clone(), io));
        let mut c = change(e.seq, "failed");
        c.note = Some(reason);
        changes.push(c);
    }

    fn commit(&mut self, changes: &[Change]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.store.begin()?;
        for c in changes {
            tx.set_entry_state(
                &self.job_id,
                c.seq,
                c.state,
                c.sha256.as_deref(),
                c.verification.as_deref(),
                c.note.as_deref(),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn run(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        let todo: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                let e = &entries[i];
                e.kind != "dir" && e.state != "done" && e.state != "vanished"
            })
            .collect();
        let mut start = 0;
        while start < todo.len() {
            let mut end = start;
            let mut bytes = 0u64;
            while end < todo.len()
                && end - start < BATCH_ENTRIES
                && (end == start || bytes < BATCH_BYTES)
            {
                bytes += entries[todo[end]].bytes;
                end += 1;
            }
            self.batch(entries, &todo[start..end])?;
            start = end;
        }
        self.directories(entries)
    }

    /// One batch of non-directory entries through hash → overwrite → verify → unlink.
    fn batch(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        // Phase A (delete only): hash the original bytes, committed before any overwrite, so
        // a resumed run still knows them.
        if self.hash {
            let mut changes = Vec::new();
            for &i in batch {
                let e = entries[i].clone();
                if e.kind != "file" || e.state != "pending" {
                    continue;
                }
                match self.hash_file(&e) {
                    Ok(h) => {
                        entries[i].state = "hashed".into();
                        entries[i].sha256 = Some(h.clone());
                        let mut c = change(e.seq, "hashed");
                        c.sha256 = Some(h);
                        changes.push(c);
                    }
                    Err((reason, io)) => {
                        entries[i].state = "failed".into();
                        self.fail(&e, reason, io, &mut changes);
                    }
                }
            }
            self.commit(&changes)?;
        }

        // Phase B: overwrite, sync, read back; mark ready.
        let mut changes = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if e.state == "failed" || e.state == "ready" {
                continue;
            }
            if !overwrites(&e) {
                entries[i].state = "ready".into();
                changes.push(change(e.seq, "ready"));
                continue;
            }
            match self.overwrite(&e) {
                Ok((f, seed, ranges)) => open.push(Open {
                    idx: i,
                    f,
                    seed,
                    ranges,
                }),
                Err((reason, io)) => {
                    entries[i].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
        }
        // fdatasync after all writes of the batch: the filesystem can commit them together.
        let mut synced: Vec<Open> = Vec::new();
        for o in open {
            match o.f.sync_data() {
                Ok(()) => synced.push(o),
                Err(err) => {
                    let e = entries[o.idx].clone();
                    entries[o.idx].state = "failed".into();
                    self.fail(&e, format!("fdatasync failed: {err}"), true, &mut changes);
                }
            }
        }
        let mut kept: Vec<(usize, File)> = Vec::new();
        for o in synced {
            let e = entries[o.idx].clone();
            let fsc = self.roots[e.root_idx as usize].fs.class;
            match self.verify(&o, fsc) {
                Ok(how) => {
                    self.files_verified += 1;
                    crate::fault::point("shred.verified");
                    entries[o.idx].state = "ready".into();
                    let mut c = change(e.seq, "ready");
                    c.verification = Some(how);
                    changes.push(c);
                    kept.push((o.idx, o.f));
                }
                Err((reason, io)) => {
                    entries[o.idx].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
        }
        self.commit(&changes)?;

        // Phase C: truncate, rename, unlink; sync each directory once; confirm with lstat.
        let mut fds: HashMap<usize, File> = kept.into_iter().collect();
        let mut changes = Vec::new();
        let mut removed: Vec<(usize, PathBuf, PathBuf)> = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if e.state != "ready" {
                continue;
            }
            match self.unlink(&e, fds.remove(&i)) {
                Ok(Some((name, tmp))) => {
                    crate::fault::point("shred.unlinked");
                    removed.push((i, name, tmp));
                }
                Ok(None) => {
                    // Gone although marked ready (overwritten and verified, or needing no
                    // overwrite): an interrupted run of this job had already unlinked it.
                    entries[i].state = "done".into();
                    let mut c = change(e.seq, "done");
                    c.note = Some(
                        "name already gone when it was to be unlinked, after its overwrite was verified (or it needed none)".into(),
                    );
                    changes.push(c);
                }
                Err((reason, io)) => {
                    entries[i].state = "failed".into();
                    self.fail(&e, reason, io, &mut changes);
                }
            }
            self.reporter.file_done();
        }
        let dirs: BTreeSet<PathBuf> = removed
            .iter()
            .map(|(_, n, _)| crate::home::parent_dir(n).to_path_buf())
            .collect();
        for d in &dirs {
            if let Err(source) = crate::home::sync_dir(d) {
                return Err(ShredError::Io {
                    path: d.clone(),
                    source,
                }
                .into());
            }
        }
        for (i, name, tmp) in removed {
            let e = entries[i].clone();
            if fs::symlink_metadata(&name).is_ok() || fs::symlink_metadata(&tmp).is_ok() {
                entries[i].state = "failed".into();
                self.fail(&e, "still present after unlink".into(), true, &mut changes);
            } else {
                entries[i].state = "done".into();
                changes.push(change(e.seq, "done"));
            }
        }
        self.commit(&changes)
    }

    /// Opens an entry's file without following links and checks it is the planned one.
    fn open_checked(
        &self,
        e: &EntryRecord,
        write: bool,
    ) -> std::result::Result<File, (String, bool)> {
        let path = self.path_of(e);
        let f = fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(|err| (format!("cannot open: {err}"), true))?;
        let m = f
            .metadata()
            .map_err(|err| (format!("fstat: {err}"), true))?;
        if !m.is_file() || m.ino() != e.ino || m.dev() != e.dev {
            return Err((
                "was replaced by another file since the plan; not touched".into(),
                false,
            ));
        }
        Ok(f)
    }

    fn hash_file(&mut self, e: &EntryRecord) -> std::result::Result<String, (String, bool)> {
        let f = self.open_checked(e, false)?;
        let mut h = Sha256::new();
        let mut off = 0u64;
        loop {
            let n = f
                .read_at(&mut self.buf[..CHUNK], off)
                .map_err(|err| (format!("cannot read: {err}"), true))?;
            if n == 0 {
                break;
            }
            h.update(&self.buf[..n]);
            off += n as u64;
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Overwrites the file's data ranges with its keystream. The file stays open for the
    /// sync, the read-back and the truncation.
    #[allow(clippy::type_complexity)]
    fn overwrite(
        &mut self,
        e: &EntryRecord,
    ) -> std::result::Result<(File, [u8; 32], Vec<(u64, u64)>), (String, bool)> {
        let f = self.open_checked(e, true)?;
        let m = f
            .metadata()
            .map_err(|err| (format!("fstat: {err}"), true))?;
        let blk = m.blksize().max(512);
        let ranges = data_ranges(&f, &m, blk).map_err(|err| (format!("seek: {err}"), true))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| (format!("random source: {err}"), true))?;
        let off = self.buf.as_ptr().align_offset(DIRECT_ALIGN);
        for &(start, end) in &ranges {
            let mut pos = start;
            while pos < end {
                let n = ((end - pos) as usize).min(CHUNK);
                let b = &mut self.buf[off..off + n];
                b.fill(0);
                apply_keystream(&seed, pos, b);
                f.write_all_at(b, pos)
                    .map_err(|err| (format!("overwrite failed at byte {pos}: {err}"), true))?;
                pos += n as u64;
                self.bytes_overwritten += n as u64;
                self.reporter.bytes(n as u64);
            }
        }
        self.files_overwritten += 1;
        Ok((f, seed, ranges))
    }

    /// Reads the overwritten ranges back from the device and compares them with the
    /// keystream. Returns how it read.
    fn verify(&mut self, o: &Open, fsc: FsClass) -> std::result::Result<String, (String, bool)> {
        if o.ranges.is_empty() {
            return Ok("empty file: nothing to overwrite or read back".into());
        }
        let meta =
            o.f.metadata()
                .map_err(|err| (format!("fstat: {err}"), true))?;
        // O_DIRECT bypasses the page cache, so the comparison sees what the device returns.
        // Where the filesystem refuses it, drop the cached pages of the (now clean, synced)
        // file and read normally; on a memory filesystem the page cache is the storage.
        let direct = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(format!("/proc/self/fd/{}", o.f.as_raw_fd()))
            .ok()
            .filter(|d| {
                d.metadata()
                    .is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev())
            });
        let (reader, how) = match (&direct, fsc) {
            (_, FsClass::Memory) => (
                &o.f,
                "read back from memory (the filesystem's only storage) and compared",
            ),
            (Some(d), _) => (d, "read back from the device with O_DIRECT and compared"),
            (None, _) => {
                // SAFETY: fadvise on an open fd has no memory-safety preconditions.
                unsafe {
                    libc::posix_fadvise(o.f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
                }
                (
                    &o.f,
                    "read back after dropping the page cache (posix_fadvise DONTNEED) and compared",
                )
            }
        };
        let off = self.buf.as_ptr().align_offset(DIRECT_ALIGN);
        let mut fell_back = false;
        for &(start, end) in &o.ranges {
            let mut pos = start;
            while pos < end {
                let n = ((end - pos) as usize).min(CHUNK);
                let b = &mut self.buf[off..off + n];
                let mut got = 0;
                while got < n {
                    let r = if fell_back { &o.f } else { reader };
                    match r.read_at(&mut b[got..], pos + got as u64) {
                        Ok(0) => {
                            return Err((
                                format!("read back ended early at byte {}", pos + got as u64),
                                true,
                            ));
                        }
                        Ok(k) => got += k,
                        Err(err) if err.raw_os_error() == Some(libc::EINVAL) && !fell_back => {
                            // Alignment refused by this device: fall back to cached reads
                            // after dropping the cache.
                            fell_back = true;
                            // SAFETY: as above.
                            unsafe {
                                libc::posix_fadvise(
                                    o.f.as_raw_fd(),
                                    0,
                                    0,
                                    libc::POSIX_FADV_DONTNEED,
                                );
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => {
                            return Err((format!("read back failed at byte {pos}: {err}"), true));
                        }
                    }
                }
                apply_keystream(&o.seed, pos, b);
                if !all_zero(b) {
                    return Err((
                        format!(
                            "read-back mismatch in bytes {pos}..{}: the device did not return what was written",
                            pos + n as u64
                        ),
                        false,
                    ));
                }
                pos += n as u64;
            }
        }
        if fell_back {
            Ok(
                "read back after dropping the page cache (posix_fadvise DONTNEED) and compared"
                    .into(),
            )
        } else {
            Ok(how.into())
        }
    }

    /// Truncates (files), renames to the random name (files), unlinks. Returns the original
    /// and temporary names, or None when the entry was already gone.
    fn unlink(
        &mut self,
        e: &EntryRecord,
        fd: Option<File>,
    ) -> std::result::Result<Option<(PathBuf, PathBuf)>, (String, bool)> {
        let path = self.path_of(e);
        let dir = crate::home::parent_dir(&path).to_path_buf();
        let tmp = dir.join(&e.tmp_name);
        let overlay = self.roots[e.root_idx as usize].fs.class == FsClass::Overlay;
        let here = fs::symlink_metadata(&path).ok();
        let at_tmp = fs::symlink_metadata(&tmp).ok();
        let (target, meta) = match (here, at_tmp) {
            (Some(m), _) => (path.clone(), m),
            (None, Some(m)) => (tmp.clone(), m),
            (None, None) => return Ok(None),
        };
        if meta.ino() != e.ino || meta.dev() != e.dev {
            return Err((
                "was replaced by another entry since the plan; not touched".into(),
                false,
            ));
        }
        if e.kind == "file" {
            // Truncate first so that no other open descriptor can still read the data, then
            // hide the name. Not on overlay: opening a lower file for writing copies it up.
            if !overlay {
                let f = match fd {
                    Some(f) => f,
                    None => fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
                        .open(&target)
                        .map_err(|err| (format!("cannot open to truncate: {err}"), true))?,
                };
                f.set_len(0)
                    .map_err(|err| (format!("truncate failed: {err}"), true))?;
            }
            if target == path && !overlay {
                crate::util::rename_noreplace(&path, &tmp)
                    .map_err(|err| (format!("rename to a random name failed: {err}"), true))?;
                let m = fs::symlink_metadata(&tmp)
                    .map_err(|err| (format!("lstat after rename: {err}"), true))?;
                if m.ino() != e.ino {
                    let _ = crate::util::rename_noreplace(&tmp, &path);
                    return Err((
                        "was replaced during deletion; restored, not deleted".into(),
                        false,
                    ));
                }
                fs::remove_file(&tmp).map_err(|err| (format!("unlink failed: {err}"), true))?;
            } else {
                fs::remove_file(&target).map_err(|err| (format!("unlink failed: {err}"), true))?;
            }
        } else {
            fs::remove_file(&target).map_err(|err| (format!("unlink failed: {err}"), true))?;
        }
        Ok(Some((path, tmp)))
    }

    /// Removes directories bottom-up (reverse plan order: children before parents), then syncs
    /// every parent that remains, then confirms each is gone.
    fn directories(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        let dirs: Vec<usize> = (0..entries.len())
            .rev()
            .filter(|&i| {
                let e = &entries[i];
                e.kind == "dir" && e.state != "done" && e.state != "vanished"
            })
            .collect();
        if dirs.is_empty() {
            return Ok(());
        }
        let changes: Vec<Change> = dirs
            .iter()
            .filter(|&&i| entries[i].state != "ready")
            .map(|&i| change(entries[i].seq, "ready"))
            .collect();
        self.commit(&changes)?;
        let mut changes = Vec::new();
        let mut removed: Vec<usize> = Vec::new();
        let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
        let mut gone: HashSet<PathBuf> = HashSet::new();
        for &i in &dirs {
            let e = entries[i].clone();
            let path = self.path_of(&e);
            match fs::remove_dir(&path) {
                Ok(()) => {
                    parents.insert(crate::home::parent_dir(&path).to_path_buf());
                    gone.insert(path);
                    removed.push(i);
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    let mut c = change(e.seq, "done");
                    c.note = Some("already removed by the interrupted run".into());
                    changes.push(c);
                }
                Err(err) => {
                    let reason = if err.raw_os_error() == Some(libc::ENOTEMPTY) {
                        "directory not empty: something inside could not be deleted, or was created after the plan".to_string()
                    } else {
                        format!("rmdir failed: {err}")
                    };
                    self.fail(
                        &e,
                        reason,
                        err.raw_os_error() != Some(libc::ENOTEMPTY),
                        &mut changes,
                    );
                }
            }
            self.reporter.file_done();
        }
        for p in parents.iter().filter(|p| !gone.contains(*p)) {
            crate::home::sync_dir(p).map_err(|source| ShredError::Io {
                path: p.clone(),
                source,
            })?;
        }
        for i in removed {
            let e = entries[i].clone();
            if fs::symlink_metadata(self.path_of(&e)).is_ok() {
                self.fail(&e, "still present after rmdir".into(), true, &mut changes);
            } else {
                changes.push(change(e.seq, "done"));
            }
        }
        self.commit(&changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystream_is_position_independent() {
        let seed = [7u8; 32];
        let mut whole = vec![0u8; 8192];
        apply_keystream(&seed, 0, &mut whole);
        let mut tail = vec![0u8; 4096];
        apply_keystream(&seed, 4096, &mut tail);
        assert_eq!(&whole[4096..], &tail[..]);
        assert!(!all_zero(&whole));
        apply_keystream(&seed, 0, &mut whole);
        assert!(all_zero(&whole));
    }

    #[test]
    fn keystream_crosses_a_segment_boundary() {
        let seed = [1u8; 32];
        let mut b = vec![0u8; 128];
        apply_keystream(&seed, SEGMENT - 64, &mut b);
        let mut second = vec![0u8; 64];
        apply_keystream(&seed, SEGMENT, &mut second);
        assert_eq!(&b[64..], &second[..]);
    }
}
