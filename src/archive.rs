//! The archive writer stack: tar → zstd → age → (SHA-256 of the ciphertext) → temp file.
//!
//! [`ArchiveWriter`] can only be left through [`ArchiveWriter::finish`], which closes the layers
//! outside in (tar end blocks, zstd frame end and checksum, age final chunk), syncs the file
//! and returns a [`Sealed`] archive. Dropping an unfinished writer deletes its temp file, so a
//! failed export leaves nothing behind. zstd's `auto_finish` is never used: it finishes on
//! drop, where an error cannot be returned.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::home::{PUBLIC_MODE, PendingFile};
use crate::keys::Recipient;

/// Largest zstd window we ever use: 2^27 is what plain `zstd -d` accepts without
/// `--long`/`--memory`; levels 20–22 would otherwise ask for more.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// zstd job size for the multithreaded encoder: 4 MiB cost no speed and halved peak memory
/// against the default in measurements (shared/bench/NOTES.md).
pub const ZSTD_JOB_SIZE: u32 = 4 << 20;
/// Output buffer before the file: 1 MiB (64 KiB–1 MiB measured best; 8 KiB ~5 % slower).
const OUT_BUF: usize = 1 << 20;

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

type AgeLayer = age::stream::StreamWriter<HashWriter<BufWriter<File>>>;
type ZstdLayer = zstd::stream::write::Encoder<'static, AgeLayer>;

/// The compression settings of an archive.
#[derive(Debug, Clone, Copy)]
pub struct ZstdSettings {
    pub level: i32,
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
    pending: PendingFile,
}

/// A finished, synced archive still under its temporary name.
#[must_use = "a sealed archive must be committed or it is deleted"]
pub struct Sealed {
    pub pending: PendingFile,
    /// Size of the encrypted file.
    pub bytes: u64,
    /// SHA-256 of the encrypted file, hex.
    pub sha256: String,
}

impl ArchiveWriter {
    /// Starts an archive that will be named `dest`, encrypted to `recipients`.
    pub fn create(dest: &Path, recipients: &[Recipient], z: ZstdSettings) -> io::Result<Self> {
        let mut pending = PendingFile::create(dest, PUBLIC_MODE)?;
        let file = pending.file().try_clone()?;
        let hashed = HashWriter::new(BufWriter::with_capacity(OUT_BUF, file));
        let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| &*r.inner as _))
            .map_err(|e| io::Error::other(format!("age: {e}")))?;
        let age_w = enc.wrap_output(hashed)?;
        let mut zw = zstd::stream::write::Encoder::new(age_w, z.level)?;
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
        Ok(ArchiveWriter { tar, pending })
    }

    /// The tar builder, for headers (tar-rs writes them, long names included).
    pub fn tar(&mut self) -> &mut tar::Builder<ZstdLayer> {
        &mut self.tar
    }

    /// Closes every layer outside in and syncs the file.
    pub fn finish(self) -> io::Result<Sealed> {
        let zw = self.tar.into_inner()?;
        let age_w = zw.finish()?;
        let hashed = age_w.finish()?;
        let (buf, bytes, sha256) = hashed.into_parts();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(Sealed {
            pending: self.pending,
            bytes,
            sha256,
        })
    }
}
