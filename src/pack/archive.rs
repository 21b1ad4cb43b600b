//! The archive writer stack: tar → zstd → age → (SHA-256 of the ciphertext) → temp file, or
//! a multipart upload to object storage.
//!
//! tar and the zstd input run in the caller's thread, zstd compresses in its own workers, and
//! the compressed stream is encrypted, hashed and written by a thread of its own ([`Output`]):
//! on this path the caller's thread was the bottleneck (it also reads and hashes every file).
//!
//! [`ArchiveWriter`] can only be left through [`ArchiveWriter::finish`], which closes the layers
//! outside in (tar end blocks, zstd frame end and checksum, age final chunk), syncs the file
//! and returns a [`Sealed`] archive. Dropping an unfinished writer deletes its temp file, so a
//! failed export leaves nothing behind. zstd's `auto_finish` is never used: it finishes on
//! drop, where an error cannot be returned.

use std::fs::File;
use std::io::{self, BufWriter, Write};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::home::{PUBLIC_MODE, PendingFile};
use crate::keys::Recipient;
use crate::util::IO_BUF;

/// Largest zstd window we ever use: 2^27 is what plain `zstd -d` accepts without
/// `--long`/`--memory`; levels 20–22 would otherwise ask for more.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// zstd job size for the multithreaded encoder: 4 MiB cost no speed and halved peak memory
/// against the default in measurements (shared/bench/NOTES.md).
pub const ZSTD_JOB_SIZE: u32 = 4 << 20;
/// Write-back of the file is started every this many bytes (see [`Writeback`]).
const WRITEBACK: u64 = 8 << 20;
/// Compressed bytes are handed to the output thread in chunks of [`IO_BUF`], and at most this
/// many chunks exist, which bounds the memory between the threads.
const CHUNKS: usize = 4;

/// A writer that hashes and counts what passes through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// Returns the inner writer, the byte count and the hex SHA-256.
    pub fn into_parts(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file, starting the kernel's write-back of each [`WRITEBACK`] bytes as soon as they are
/// written. Otherwise the whole archive stays dirty in the page cache until the final fsync,
/// which then waits for all of it with the CPUs idle; this way the disk works while we
/// compress and the fsync finds little left. Only a hint: errors surface at the fsync.
struct Writeback {
    file: File,
    written: u64,
    started: u64,
}

impl Writeback {
    fn new(file: File) -> Self {
        Writeback {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK {
            #[cfg(target_os = "linux")]
            // SAFETY: a system call on a file descriptor `self.file` keeps open; no memory is
            // passed. The result is ignored on purpose (a hint; see above).
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.started = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where the encrypted bytes go: a local temp file, or a multipart upload that becomes
/// visible under its key only when it completes.
enum Dest {
    File(Writeback),
    Upload(crate::remote::Upload),
}

impl Write for Dest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Dest::File(w) => w.write(buf),
            Dest::Upload(u) => u.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Dest::File(w) => w.flush(),
            Dest::Upload(u) => u.flush(),
        }
    }
}

impl Dest {
    /// Makes the bytes durable: the file synced, or the upload completed. Returns the
    /// uploaded object's version.
    fn finish(self) -> io::Result<Option<crate::remote::ObjectVersion>> {
        match self {
            Dest::File(wb) => {
                wb.file.sync_all()?;
                Ok(None)
            }
            Dest::Upload(u) => u.finish().map(Some).map_err(io::Error::other),
        }
    }
}

type Finished = (u64, String, Option<crate::remote::ObjectVersion>);
type AgeLayer = age::stream::StreamWriter<HashWriter<BufWriter<Dest>>>;
type ZstdLayer = zstd::stream::write::Encoder<'static, Output>;

enum Msg {
    Data(Vec<u8>),
    /// Everything was sent: finish the age stream and sync the file.
    Finish,
}

/// The writer zstd writes into: collects the compressed stream in chunks and sends them to a
/// thread that encrypts (age), hashes and writes them. Empty chunks come back through `free`,
/// so memory stays at [`CHUNKS`] × [`IO_BUF`]. If the thread stops on an error, the next write
/// or [`finish`](Output::finish) returns that error. Dropped without `finish`, the thread stops
/// without finishing the age stream or syncing.
pub struct Output {
    buf: Vec<u8>,
    /// Chunks allocated so far.
    chunks: usize,
    tx: Option<SyncSender<Msg>>,
    free: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<Finished>>>,
}

impl Output {
    fn start(age_w: AgeLayer) -> io::Result<Output> {
        let (tx, rx) = sync_channel::<Msg>(CHUNKS);
        let (free_tx, free) = sync_channel::<Vec<u8>>(CHUNKS);
        let thread = std::thread::Builder::new()
            .name("archive-output".into())
            .spawn(move || -> io::Result<Finished> {
                let mut age_w = age_w;
                for msg in rx {
                    match msg {
                        Msg::Data(mut chunk) => {
                            age_w.write_all(&chunk)?;
                            chunk.clear();
                            // The main thread may be gone (error path); nothing to return then.
                            let _ = free_tx.try_send(chunk);
                        }
                        Msg::Finish => {
                            let hashed = age_w.finish()?;
                            let (buf, bytes, sha256) = hashed.into_parts();
                            let dest = buf.into_inner().map_err(|e| e.into_error())?;
                            let object = dest.finish()?;
                            return Ok((bytes, sha256, object));
                        }
                    }
                }
                Err(io::Error::other("archive output abandoned"))
            })?;
        Ok(Output {
            buf: Vec::with_capacity(IO_BUF),
            chunks: 1,
            tx: Some(tx),
            free,
            thread: Some(thread),
        })
    }

    /// The error that stopped the output thread.
    fn thread_error(&mut self) -> io::Error {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("archive output thread panicked"),
            _ => io::Error::other("archive output thread stopped"),
        }
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(msg).is_ok());
        if sent == Some(true) {
            Ok(())
        } else {
            Err(self.thread_error())
        }
    }

    /// Sends the full chunk and takes an empty one: a returned one, else a new one while
    /// fewer than [`CHUNKS`] exist, else waits for one to come back.
    fn send_chunk(&mut self) -> io::Result<()> {
        let full = std::mem::take(&mut self.buf);
        self.send(Msg::Data(full))?;
        self.buf = match self.free.try_recv() {
            Ok(b) => b,
            Err(_) if self.chunks < CHUNKS => {
                self.chunks += 1;
                Vec::with_capacity(IO_BUF)
            }
            Err(_) => self.free.recv().map_err(|_| self.thread_error())?,
        };
        Ok(())
    }

    /// Sends what is left, lets the thread finish the age stream and sync the file; returns
    /// the encrypted file's size and SHA-256.
    fn finish(mut self) -> io::Result<Finished> {
        if !self.buf.is_empty() {
            let last = std::mem::take(&mut self.buf);
            self.send(Msg::Data(last))?;
        }
        self.send(Msg::Finish)?;
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("archive output thread panicked")),
            None => Err(io::Error::other("archive output thread stopped")),
        }
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(IO_BUF - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == IO_BUF {
            self.send_chunk()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Closing the channel without `Finish` stops the thread without syncing; wait for it
        // so the file is closed before the temp file is removed.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The compression settings of an archive.
#[derive(Debug, Clone, Copy)]
pub struct ZstdSettings {
    /// The zstd level (1–22).
    pub level: i32,
    /// Worker threads: one per core, as `zstd -T0`.
    pub workers: u32,
}

impl ZstdSettings {
    /// Level as given; workers: one per core, as `zstd -T0` does.
    pub fn new(level: i32) -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        ZstdSettings { level, workers }
    }
}

/// An archive being written. Leave it only through [`finish`](Self::finish).
pub struct ArchiveWriter {
    tar: tar::Builder<ZstdLayer>,
    pending: Option<PendingFile>,
}

/// A finished, synced archive still under its temporary name, or a completed upload.
#[must_use = "a sealed archive must be committed or it is deleted"]
pub struct Sealed {
    /// The encrypted file under its temporary name, renamed into place by `commit`; None
    /// for an upload.
    pub pending: Option<PendingFile>,
    /// The uploaded object, already under its final key; None for a file.
    pub object: Option<crate::remote::ObjectVersion>,
    /// Size of the encrypted file.
    pub bytes: u64,
    /// SHA-256 of the encrypted file, hex.
    pub sha256: String,
}

impl ArchiveWriter {
    /// Starts an archive that will be named `dest`, encrypted to `recipients`, written under
    /// the temporary name `tmp` (a [`PendingFile::temp_name`] of `dest` the caller recorded
    /// before).
    pub fn create_at(
        dest: &Path,
        tmp: std::path::PathBuf,
        recipients: &[Recipient],
        z: ZstdSettings,
    ) -> io::Result<Self> {
        let mut pending = PendingFile::create_at(dest, tmp, PUBLIC_MODE)?;
        let file = pending.file().try_clone()?;
        let mut w = Self::start(Dest::File(Writeback::new(file)), recipients, z)?;
        w.pending = Some(pending);
        Ok(w)
    }

    /// Starts an archive streamed into `upload` (an object-storage multipart upload).
    pub fn upload(
        upload: crate::remote::Upload,
        recipients: &[Recipient],
        z: ZstdSettings,
    ) -> io::Result<Self> {
        Self::start(Dest::Upload(upload), recipients, z)
    }

    fn start(dest: Dest, recipients: &[Recipient], z: ZstdSettings) -> io::Result<Self> {
        let hashed = HashWriter::new(BufWriter::with_capacity(IO_BUF, dest));
        let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| &*r.inner as _))
            .map_err(|e| io::Error::other(format!("age: {e}")))?;
        let age_w = enc.wrap_output(hashed)?;
        let mut zw = zstd::stream::write::Encoder::new(Output::start(age_w)?, z.level)?;
        zw.include_checksum(true)?;
        if z.workers > 1 {
            zw.multithread(z.workers)?;
            zw.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        }
        if z.level >= 20 {
            zw.window_log(ZSTD_WINDOW_LOG_MAX)?;
        }
        let mut tar = tar::Builder::new(zw);
        // Never follow a symlink: a link is client data, its target is not.
        tar.follow_symlinks(false);
        Ok(ArchiveWriter { tar, pending: None })
    }

    /// The tar builder, for headers (tar-rs writes them, long names included).
    pub fn tar(&mut self) -> &mut tar::Builder<ZstdLayer> {
        &mut self.tar
    }

    /// Closes every layer outside in and syncs the file.
    pub fn finish(self) -> io::Result<Sealed> {
        let zw = self.tar.into_inner()?;
        let (bytes, sha256, object) = zw.finish()?.finish()?;
        Ok(Sealed {
            pending: self.pending,
            object,
            bytes,
            sha256,
        })
    }
}
