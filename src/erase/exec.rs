//! Carrying out a recorded plan: hash (delete), overwrite, sync, read back, rename, truncate,
//! unlink, sync the directories, committing progress in batches. Every operation goes through
//! the checked handle of the entry's directory (see `dirs`), never through a path. See the
//! parent module for the order that keeps an interrupted run honest.
//!
//! Fault points (test builds only): `exec.start` before the first operation,
//! `shred.overwritten` after each file's overwrite, `shred.verified` after each read-back,
//! `shred.unlinked` after each unlink.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use sha2::{Digest, Sha256};

use crate::erase::fsinfo::FsClass;
use crate::error::{Result, ShredError};
use crate::fsx::{self, FileType, NoReplace};
use crate::ledger::state::EntryState;
use crate::ledger::store::{EntryRecord, Store};
use crate::report::Reporter;

use super::dirs::{DirError, Dirs, dev_ino, name_of, parent_rel};
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
    /// Things the user should know that do not fail the run (vanished entries).
    pub(super) warnings: Vec<String>,
    /// The checked directory handles every operation goes through.
    dirs: Dirs,
    /// Entries that were `ready` when this run began: an earlier run of the job may have
    /// unlinked them already, so their missing name is not proof that someone else did.
    ready_before: HashSet<u64>,
    /// Parent directories of the entries unlinked in the current batch, fsynced once each.
    synced: Vec<(u32, Option<Vec<u8>>, File)>,
    /// Entries this run finished (done or vanished), for the interruption message.
    finished: u64,
    /// Set once a signal asked us to stop: the run ends at the next file boundary.
    stop: bool,
    /// The handovers whose recorded paths this run touches: a hold placed on any of them
    /// while the run goes on stops it at the next file boundary (read at every commit).
    pub(super) watch: Vec<String>,
    /// The holds that stopped the run.
    held: Vec<crate::error::HoldInfo>,
    /// How many names the plan has for each inode (dev, ino) of a file: a file with more
    /// links when it is opened gained a name outside the paths since the plan.
    names: HashMap<(u64, u64), u64>,
    /// Files overwritten and verified in the current batch, kept open until their unlink.
    kept: Vec<(usize, File)>,
}

/// Why an entry was not carried out.
pub(super) enum Problem {
    /// Its name (or its directory) is gone, and this job did not remove it.
    Vanished,
    /// (reason, was an I/O error rather than a failed check).
    Failed(String, bool),
}

impl From<(String, bool)> for Problem {
    fn from((reason, io): (String, bool)) -> Self {
        Problem::Failed(reason, io)
    }
}

impl From<DirError> for Problem {
    fn from(e: DirError) -> Self {
        match e {
            DirError::Gone => Problem::Vanished,
            DirError::Swapped(r) => Problem::Failed(r, false),
            DirError::Io(r) => Problem::Failed(r, true),
        }
    }
}

/// The note of an entry whose name was taken by a fallback because the filesystem refused
/// `RENAME_NOREPLACE`; the certificate counts the entries whose note starts with it.
pub(crate) const RENAME_FALLBACK_NOTE: &str = "renamed to its random name by ";

/// The note of an entry that vanished.
const VANISHED_NOTE: &str = "was gone when this job came to it: removed by something other than this job, so it was not overwritten or unlinked by it";

/// A state change to commit for one entry.
pub(super) struct Change {
    pub(super) seq: u64,
    pub(super) state: EntryState,
    sha256: Option<String>,
    pub(super) verification: Option<String>,
    pub(super) note: Option<String>,
}

pub(super) fn change(seq: u64, state: EntryState) -> Change {
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

impl<'a> Exec<'a> {
    pub(super) fn new(
        store: &'a mut Store,
        job_id: String,
        roots: &'a [Root],
        reporter: &'a dyn Reporter,
        hash: bool,
    ) -> Exec<'a> {
        Exec {
            store,
            job_id,
            roots,
            reporter,
            hash,
            failures: Vec::new(),
            buf: vec![0u8; CHUNK + DIRECT_ALIGN],
            files_overwritten: 0,
            bytes_overwritten: 0,
            files_verified: 0,
            warnings: Vec::new(),
            dirs: Dirs::new(&[]),
            ready_before: HashSet::new(),
            synced: Vec::new(),
            finished: 0,
            stop: false,
            watch: Vec::new(),
            held: Vec::new(),
            names: HashMap::new(),
            kept: Vec::new(),
        }
    }
}

impl Exec<'_> {
    fn path_of(&self, e: &EntryRecord) -> PathBuf {
        entry_path(&self.roots[e.root_idx as usize].path, &e.rel_path)
    }

    fn fail(&mut self, e: &EntryRecord, reason: String, io: bool, changes: &mut Vec<Change>) {
        let path = self.path_of(e);
        self.failures.push((path, reason.clone(), io));
        let mut c = change(e.seq, EntryState::Failed);
        c.note = Some(reason);
        changes.push(c);
    }

    /// Records a problem with entry `i`: vanished (certified as such) or failed.
    fn problem(
        &mut self,
        entries: &mut [EntryRecord],
        i: usize,
        p: Problem,
        changes: &mut Vec<Change>,
    ) {
        let e = entries[i].clone();
        match p {
            Problem::Vanished => {
                entries[i].state = EntryState::Vanished;
                self.finished += 1;
                self.warnings.push(format!(
                    "{} vanished before this job could delete it",
                    crate::error::show(&self.path_of(&e))
                ));
                let mut c = change(e.seq, EntryState::Vanished);
                c.note = Some(VANISHED_NOTE.into());
                changes.push(c);
            }
            Problem::Failed(reason, io) => {
                entries[i].state = EntryState::Failed;
                self.fail(&e, reason, io, changes);
            }
        }
    }

    /// True once Ctrl-C or SIGTERM asked us to stop; checked before each file is begun.
    fn stopping(&mut self) -> bool {
        if !self.stop && self.reporter.cancelled() {
            self.stop = true;
        }
        self.stop
    }

    fn interrupted(&self) -> crate::error::Error {
        if !self.held.is_empty() {
            return ShredError::Held(self.held.clone()).into();
        }
        ShredError::Interrupted {
            job_id: self.job_id.clone(),
            done: self.finished,
        }
        .into()
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
        if !self.watch.is_empty() && self.held.is_empty() {
            self.held = tx
                .holds()?
                .into_iter()
                .filter(|h| self.watch.contains(&h.handover_id))
                .map(|h| crate::error::HoldInfo {
                    handover_id: h.handover_id,
                    client: String::new(),
                    reason: h.reason,
                    held_at: h.held_at,
                    paths: Vec::new(),
                })
                .collect();
            self.stop |= !self.held.is_empty();
        }
        tx.commit()?;
        Ok(())
    }

    /// The checked handle of the directory holding `e`.
    fn parent(&mut self, e: &EntryRecord) -> std::result::Result<&File, Problem> {
        Ok(self
            .dirs
            .get(self.roots, e.root_idx, parent_rel(&e.rel_path))?)
    }

    pub(super) fn run(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        self.dirs = Dirs::new(entries);
        for e in entries
            .iter()
            .filter(|e| e.kind == "file" || e.kind == "hard_link")
        {
            *self.names.entry((e.dev, e.ino)).or_insert(0) += 1;
        }
        self.ready_before = entries
            .iter()
            .filter(|e| e.state == EntryState::Ready)
            .map(|e| e.seq)
            .collect();
        // Test builds: a pause here lets a test swap things between the recorded plan and
        // the first operation.
        crate::fault::point("exec.start");
        let todo: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                let e = &entries[i];
                e.kind != "dir" && e.state != EntryState::Done && e.state != EntryState::Vanished
            })
            .collect();
        let mut start = 0;
        while start < todo.len() {
            if self.stopping() {
                return Err(self.interrupted());
            }
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
        if self.stopping() {
            return Err(self.interrupted());
        }
        self.directories(entries)
    }

    /// One batch of non-directory entries through hash → overwrite → verify → unlink. On a
    /// signal, the files already overwritten and verified are still unlinked and recorded,
    /// then the run stops.
    fn batch(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        if self.hash {
            self.hash_phase(entries, batch)?;
        }
        if !self.stop {
            self.overwrite_phase(entries, batch)?;
        }
        self.unlink_phase(entries, batch)?;
        if self.stop {
            return Err(self.interrupted());
        }
        Ok(())
    }

    /// Phase A (delete only): hash the original bytes, committed before any overwrite, so a
    /// resumed run still knows them.
    fn hash_phase(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        let mut changes = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if e.kind != "file" || e.state != EntryState::Pending {
                continue;
            }
            if self.stopping() {
                break;
            }
            match self.hash_file(&e) {
                Ok(h) => {
                    entries[i].state = EntryState::Hashed;
                    entries[i].sha256 = Some(h.clone());
                    let mut c = change(e.seq, EntryState::Hashed);
                    c.sha256 = Some(h);
                    changes.push(c);
                }
                Err(p) => self.problem(entries, i, p, &mut changes),
            }
        }
        self.commit(&changes)
    }

    /// Phase B: overwrite, sync, read back; mark ready. Entries that need no overwrite are
    /// marked ready as they come, so a signal leaves the rest of the batch pending.
    fn overwrite_phase(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        let mut changes = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        for &i in batch {
            let e = entries[i].clone();
            if matches!(
                e.state,
                EntryState::Failed | EntryState::Ready | EntryState::Vanished
            ) {
                continue;
            }
            if self.stopping() {
                break;
            }
            if !overwrites(&e) {
                entries[i].state = EntryState::Ready;
                changes.push(change(e.seq, EntryState::Ready));
                continue;
            }
            match self.overwrite(&e) {
                Ok((f, seed, ranges)) => open.push(Open {
                    idx: i,
                    f,
                    seed,
                    ranges,
                }),
                Err(p) => self.problem(entries, i, p, &mut changes),
            }
            crate::fault::point("shred.overwritten");
        }
        // fdatasync after all writes of the batch: the filesystem can commit them together.
        let mut synced: Vec<Open> = Vec::new();
        for o in open {
            match o.f.sync_data() {
                Ok(()) => synced.push(o),
                Err(err) => {
                    let e = entries[o.idx].clone();
                    entries[o.idx].state = EntryState::Failed;
                    self.fail(&e, format!("fdatasync failed: {err}"), true, &mut changes);
                }
            }
        }
        for o in synced {
            let e = entries[o.idx].clone();
            let fsc = self.roots[e.root_idx as usize].fs.class;
            match self.verify(&o, fsc) {
                Ok(how) => {
                    self.files_verified += 1;
                    crate::fault::point("shred.verified");
                    entries[o.idx].state = EntryState::Ready;
                    let mut c = change(e.seq, EntryState::Ready);
                    c.verification = Some(how);
                    changes.push(c);
                    self.kept.push((o.idx, o.f));
                }
                Err((reason, io)) => {
                    entries[o.idx].state = EntryState::Failed;
                    self.fail(&e, reason, io, &mut changes);
                }
            }
        }
        self.commit(&changes)
    }

    /// Phase C: rename, truncate, unlink; sync each directory once; confirm with lstat.
    fn unlink_phase(&mut self, entries: &mut [EntryRecord], batch: &[usize]) -> Result<()> {
        let mut fds: HashMap<usize, File> = std::mem::take(&mut self.kept).into_iter().collect();
        let mut changes = Vec::new();
        let mut removed: Vec<(usize, usize, NoReplace)> = Vec::new();
        self.synced.clear();
        for &i in batch {
            let e = entries[i].clone();
            if e.state != EntryState::Ready {
                continue;
            }
            match self.unlink(&e, fds.remove(&i)) {
                Ok((slot, how)) => {
                    crate::fault::point("shred.unlinked");
                    removed.push((i, slot, how));
                }
                Err(Problem::Vanished) if overwrites(&e) => {
                    // Overwritten and verified (by this run or an interrupted one): the data
                    // was cleared by this job, only the name went some other way.
                    entries[i].state = EntryState::Done;
                    self.finished += 1;
                    let mut c = change(e.seq, EntryState::Done);
                    c.note = Some(
                        "name already gone when it was to be unlinked, after its overwrite was verified".into(),
                    );
                    changes.push(c);
                }
                Err(Problem::Vanished) if self.ready_before.contains(&e.seq) => {
                    // Nothing to overwrite, and an interrupted run had come as far as the
                    // unlink: it removed the name before it could record so.
                    entries[i].state = EntryState::Done;
                    self.finished += 1;
                    let mut c = change(e.seq, EntryState::Done);
                    c.note = Some("already unlinked by the interrupted run of this job".into());
                    changes.push(c);
                }
                Err(p) => self.problem(entries, i, p, &mut changes),
            }
            self.reporter.file_done();
        }
        self.sync_and_confirm(entries, removed, &mut changes)?;
        self.commit(&changes)
    }

    /// Syncs each directory entries were unlinked from, then checks by lstat (through the
    /// same handles) that neither the name nor the random name is left.
    fn sync_and_confirm(
        &mut self,
        entries: &mut [EntryRecord],
        removed: Vec<(usize, usize, NoReplace)>,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        let synced = std::mem::take(&mut self.synced);
        for (idx, rel, d) in &synced {
            if let Err(source) = d.sync_all() {
                let root = &self.roots[*idx as usize].path;
                let path = match rel {
                    Some(r) => entry_path(root, r),
                    None => crate::home::parent_dir(root).to_path_buf(),
                };
                return Err(ShredError::Io { path, source }.into());
            }
        }
        for (i, slot, how) in removed {
            let e = entries[i].clone();
            let d = &synced[slot].2;
            let name = name_of(self.roots, &e);
            let tmp = OsStr::new(&e.tmp_name);
            if fsx::lstat_at(d, name).is_ok() || fsx::lstat_at(d, tmp).is_ok() {
                entries[i].state = EntryState::Failed;
                self.fail(&e, "still present after unlink".into(), true, changes);
                continue;
            }
            entries[i].state = EntryState::Done;
            self.finished += 1;
            let mut c = change(e.seq, EntryState::Done);
            if how != NoReplace::Renameat2 {
                c.note = Some(format!("{RENAME_FALLBACK_NOTE}{}", how.describe()));
            }
            changes.push(c);
        }
        Ok(())
    }

    /// Opens an entry's file through its directory's handle, without following a symlink,
    /// and checks it is the planned one.
    fn open_checked(&mut self, e: &EntryRecord, write: bool) -> std::result::Result<File, Problem> {
        let name = name_of(self.roots, e);
        let dir = self.parent(e)?;
        let f = match fsx::open_file_at(dir, name, write) {
            Ok(f) => f,
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => return Err(Problem::Vanished),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Problem::Failed(
                    "was replaced by a symlink since the plan; not touched".into(),
                    false,
                ));
            }
            Err(err) => return Err(Problem::Failed(format!("cannot open: {err}"), true)),
        };
        let m = f
            .metadata()
            .map_err(|err| Problem::Failed(format!("fstat: {err}"), true))?;
        if !m.is_file() || m.ino() != e.ino || m.dev() != e.dev {
            return Err(Problem::Failed(
                "was replaced by another file since the plan; not touched".into(),
                false,
            ));
        }
        let tmp_too = fsx::lstat_at(self.parent(e)?, OsStr::new(&e.tmp_name))
            .is_ok_and(|t| same_inode(&t, e));
        let planned = self.names.get(&(e.dev, e.ino)).copied().unwrap_or(1) + tmp_too as u64;
        if write && m.nlink() > planned {
            return Err(Problem::Failed(
                format!(
                    "gained a hard link since the plan ({} names, {planned} inside the paths): its data would survive under the other name; not touched",
                    m.nlink()
                ),
                false,
            ));
        }
        Ok(f)
    }

    fn hash_file(&mut self, e: &EntryRecord) -> std::result::Result<String, Problem> {
        let f = self.open_checked(e, false)?;
        let mut h = Sha256::new();
        let mut off = 0u64;
        loop {
            let n = f
                .read_at(&mut self.buf[..CHUNK], off)
                .map_err(|err| Problem::Failed(format!("cannot read: {err}"), true))?;
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
    ) -> std::result::Result<(File, [u8; 32], Vec<(u64, u64)>), Problem> {
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

    /// Renames a file to its random name, truncates it (through the descriptor, so no other
    /// open descriptor can still read the data) and unlinks it; removes any other entry.
    /// Everything through the parent's handle. Returns the slot of that handle in
    /// `self.synced` and how the rename was done.
    ///
    /// The rename comes before the truncation: whatever fallback the filesystem forces and
    /// wherever a run stops, the real name never holds a truncated file, and a rerun finds the
    /// entry under its name or its random name and finishes it.
    fn unlink(
        &mut self,
        e: &EntryRecord,
        fd: Option<File>,
    ) -> std::result::Result<(usize, NoReplace), Problem> {
        let overlay = self.roots[e.root_idx as usize].fs.class == FsClass::Overlay;
        let roots = self.roots;
        let name = name_of(roots, e);
        let tmp = OsStr::new(&e.tmp_name);
        let key = (e.root_idx, parent_rel(&e.rel_path).map(<[u8]>::to_vec));
        let dir = self
            .dirs
            .get(roots, e.root_idx, parent_rel(&e.rel_path))
            .map_err(Problem::from)?;
        let io = |what: &str, err: io::Error| Problem::Failed(format!("{what}: {err}"), true);
        let gone = |err: &io::Error| err.raw_os_error() == Some(libc::ENOENT);
        let (mut target, st) = match fsx::lstat_at(dir, name) {
            Ok(st) => (name, st),
            Err(err) if gone(&err) => match fsx::lstat_at(dir, tmp) {
                Ok(st) => (tmp, st),
                Err(err) if gone(&err) => return Err(Problem::Vanished),
                Err(err) => return Err(io("lstat", err)),
            },
            Err(err) => return Err(io("lstat", err)),
        };
        if !same_inode(&st, e) {
            return Err(Problem::Failed(
                "was replaced by another entry since the plan; not touched".into(),
                false,
            ));
        }
        // The names the plan knows, plus the random name when a link-then-unlink rename
        // stopped half way left the file under both.
        let planned = self.names.get(&(e.dev, e.ino)).copied().unwrap_or(1)
            + (target == name && fsx::lstat_at(dir, tmp).is_ok_and(|t| same_inode(&t, e))) as u64;
        #[allow(clippy::unnecessary_cast)] // st_nlink's width differs by architecture
        if e.kind == "file" && st.st_nlink as u64 > planned {
            // A truncation would reach the data under the new name, outside the paths.
            return Err(Problem::Failed(
                format!(
                    "gained a hard link since the plan ({} names, {planned} inside the paths): truncating would reach the other name; not touched",
                    st.st_nlink
                ),
                false,
            ));
        }
        let mut how = NoReplace::Renameat2;
        if e.kind == "file" && !overlay {
            if target == name {
                how = rename_to_tmp(dir, name, tmp, e)?;
                target = tmp;
            }
            let f = match fd {
                Some(f) => f,
                None => {
                    let f = fsx::open_file_at(dir, tmp, true)
                        .map_err(|err| io("cannot open to truncate", err))?;
                    let m = f.metadata().map_err(|err| io("fstat", err))?;
                    if m.ino() != e.ino || m.dev() != e.dev {
                        return Err(Problem::Failed(
                            "was replaced during deletion; not touched".into(),
                            false,
                        ));
                    }
                    f
                }
            };
            f.set_len(0).map_err(|err| io("truncate failed", err))?;
        }
        fsx::unlink_at(dir, target).map_err(|err| io("unlink failed", err))?;
        let slot = slot_for(&mut self.synced, key, dir).map_err(|err| io("dup", err))?;
        Ok((slot, how))
    }

    /// Removes directories bottom-up (reverse plan order: children before parents), each
    /// through its checked parent's handle, then syncs every parent that remains, then
    /// confirms each is gone.
    fn directories(&mut self, entries: &mut [EntryRecord]) -> Result<()> {
        let dirs: Vec<usize> = (0..entries.len())
            .rev()
            .filter(|&i| {
                let e = &entries[i];
                e.kind == "dir" && e.state != EntryState::Done && e.state != EntryState::Vanished
            })
            .collect();
        if dirs.is_empty() {
            return Ok(());
        }
        // In batches, so the parents' handles kept for the fsync stay few.
        for chunk in dirs.chunks(BATCH_ENTRIES) {
            if self.stopping() {
                return Err(self.interrupted());
            }
            self.directory_batch(entries, chunk)?;
        }
        Ok(())
    }

    /// Removes a batch of directories, syncs their parents that remain, confirms, commits.
    fn directory_batch(&mut self, entries: &mut [EntryRecord], dirs: &[usize]) -> Result<()> {
        let ready: Vec<Change> = dirs
            .iter()
            .filter(|&&i| entries[i].state != EntryState::Ready)
            .map(|&i| change(entries[i].seq, EntryState::Ready))
            .collect();
        self.commit(&ready)?;
        let mut changes = Vec::new();
        let mut removed: Vec<(usize, usize)> = Vec::new();
        self.synced.clear();
        let mut gone: HashSet<(u32, Option<Vec<u8>>)> = HashSet::new();
        for &i in dirs {
            let e = entries[i].clone();
            match self.rmdir(&e) {
                Ok(slot) => {
                    gone.insert((e.root_idx, Some(e.rel_path.clone())));
                    removed.push((i, slot));
                }
                Err(Problem::Vanished) if self.ready_before.contains(&e.seq) => {
                    self.finished += 1;
                    let mut c = change(e.seq, EntryState::Done);
                    c.note = Some("already removed by the interrupted run".into());
                    changes.push(c);
                }
                Err(p) => self.problem(entries, i, p, &mut changes),
            }
            self.reporter.file_done();
        }
        for (idx, rel, d) in &self.synced {
            if gone.contains(&(*idx, rel.clone())) {
                continue;
            }
            d.sync_all().map_err(|source| ShredError::Io {
                path: match rel {
                    Some(r) => entry_path(&self.roots[*idx as usize].path, r),
                    None => crate::home::parent_dir(&self.roots[*idx as usize].path).to_path_buf(),
                },
                source,
            })?;
        }
        for (i, slot) in removed {
            let e = entries[i].clone();
            if fsx::lstat_at(&self.synced[slot].2, name_of(self.roots, &e)).is_ok() {
                self.fail(&e, "still present after rmdir".into(), true, &mut changes);
            } else {
                self.finished += 1;
                changes.push(change(e.seq, EntryState::Done));
            }
        }
        self.synced.clear();
        self.commit(&changes)
    }

    /// Removes one planned directory through its parent's handle, after checking by lstat
    /// that the name is still that directory. Returns the slot of the parent's handle.
    fn rmdir(&mut self, e: &EntryRecord) -> std::result::Result<usize, Problem> {
        let roots = self.roots;
        let name = name_of(roots, e);
        let key = (e.root_idx, parent_rel(&e.rel_path).map(<[u8]>::to_vec));
        let dir = self
            .dirs
            .get(roots, e.root_idx, parent_rel(&e.rel_path))
            .map_err(Problem::from)?;
        match fsx::lstat_at(dir, name) {
            Ok(st)
                if same_inode(&st, e)
                    && FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
            Ok(_) => {
                return Err(Problem::Failed(
                    "was replaced since the plan (now a symlink or another entry); not touched"
                        .into(),
                    false,
                ));
            }
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => return Err(Problem::Vanished),
            Err(err) => return Err(Problem::Failed(format!("lstat: {err}"), true)),
        }
        if let Err(err) = fsx::rmdir_at(dir, name) {
            return Err(match err.raw_os_error() {
                Some(libc::ENOENT) => Problem::Vanished,
                Some(libc::ENOTEMPTY) => Problem::Failed(
                    "directory not empty: something inside could not be deleted, or was created after the plan".into(),
                    false,
                ),
                _ => Problem::Failed(format!("rmdir failed: {err}"), true),
            });
        }
        slot_for(&mut self.synced, key, dir)
            .map_err(|err| Problem::Failed(format!("dup: {err}"), true))
    }
}

/// The slot of directory `key` in `synced`, adding a duplicate of its handle when new.
fn slot_for(
    synced: &mut Vec<(u32, Option<Vec<u8>>, File)>,
    key: (u32, Option<Vec<u8>>),
    dir: &File,
) -> io::Result<usize> {
    let same = |s: &(u32, Option<Vec<u8>>, File)| s.0 == key.0 && s.1 == key.1;
    if synced.last().is_some_and(same) {
        return Ok(synced.len() - 1);
    }
    if let Some(p) = synced.iter().position(same) {
        return Ok(p);
    }
    synced.push((key.0, key.1, dir.try_clone()?));
    Ok(synced.len() - 1)
}

fn same_inode(st: &fsx::Stat, e: &EntryRecord) -> bool {
    dev_ino(st) == (e.dev, e.ino)
}

/// Moves a file's name to its random name, never replacing anything: `renameat2` where the
/// filesystem allows it, else a fallback (see [`fsx::rename_noreplace_at`]); returns which.
/// Then checks that the random name holds the planned file, and puts the name back if not.
fn rename_to_tmp(
    dir: &File,
    name: &OsStr,
    tmp: &OsStr,
    e: &EntryRecord,
) -> std::result::Result<NoReplace, Problem> {
    let how = match fsx::rename_noreplace_at(dir, name, dir, tmp, true) {
        Ok(h) => h,
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => match fsx::lstat_at(dir, tmp) {
            // The random name is a second link to this very file: a link-then-unlink of an
            // earlier run stopped between its two steps. Finish it.
            Ok(st) if same_inode(&st, e) => {
                fsx::unlink_at(dir, name).map_err(|err| {
                    Problem::Failed(format!("unlink of the name failed: {err}"), true)
                })?;
                NoReplace::LinkUnlink
            }
            _ => {
                return Err(Problem::Failed(
                    "its random name is taken by another entry; not touched".into(),
                    false,
                ));
            }
        },
        Err(err) => {
            return Err(Problem::Failed(
                format!("rename to a random name failed: {err}"),
                true,
            ));
        }
    };
    match fsx::lstat_at(dir, tmp) {
        Ok(st) if same_inode(&st, e) => Ok(how),
        Ok(_) => {
            let _ = fsx::rename_noreplace_at(dir, tmp, dir, name, true);
            Err(Problem::Failed(
                "was replaced during deletion; restored, not deleted".into(),
                false,
            ))
        }
        Err(err) => Err(Problem::Failed(format!("lstat after rename: {err}"), true)),
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
