//! The archive reader stack, the mirror of `archive.rs`: file → SHA-256 of the ciphertext →
//! age → zstd → a size limit → plaintext tar bytes.
//!
//! Each file byte is read once. Two threads run the stages (file read and ciphertext hash; age
//! and zstd) so that, on two cores, decryption and decompression overlap with the tar reading
//! and hashing in the caller's thread. Chunks pass through bounded channels, so memory stays
//! a few MiB whatever the archive's size. Every stage reads its input to the end: age checks
//! its final chunk and zstd its frame checksum only there.
//!
//! An error is remembered with the stage it started in (the first stage to see it), because
//! the stages above pass it on unchanged and "truncated", "not zstd" and "too large" need
//! different messages. Never writes anything.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::util::IO_BUF;

/// Chunks (of [`crate::util::IO_BUF`]) in flight per channel: enough to keep both cores busy,
/// 4 MiB per stage at most.
const DEPTH: usize = 4;
/// Largest zstd window accepted: the same 2^27 that export never exceeds and plain `zstd -d`
/// accepts, so a hostile frame cannot ask for more memory.
const WINDOW_LOG_MAX: u32 = crate::pack::archive::ZSTD_WINDOW_LOG_MAX;

/// The stage an error started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Reading the archive file.
    File,
    /// age decryption (authentication of a chunk, a missing final chunk).
    Age,
    /// zstd decompression (invalid frame, checksum mismatch, truncated frame).
    Zstd,
    /// The plaintext grew past the limit the manifest allows.
    Limit,
}

/// The first error of the stack, with its stage.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The layer that failed.
    pub layer: Layer,
    /// The kind of the I/O error it failed with.
    pub kind: io::ErrorKind,
    /// The error's message.
    pub message: String,
}

type Slot = Arc<Mutex<Option<Failure>>>;

fn remember(slot: &Slot, layer: Layer, e: &io::Error) {
    let mut s = slot.lock().expect("no thread panics holding the slot");
    if s.is_none() {
        *s = Some(Failure {
            layer,
            kind: e.kind(),
            message: e.to_string(),
        });
    }
}

/// Remembers the first error its inner reader returns, with `layer`.
struct Tag<R> {
    inner: R,
    layer: Layer,
    slot: Slot,
}

impl<R: Read> Read for Tag<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                remember(&self.slot, self.layer, &e);
                Err(e)
            }
            r => r,
        }
    }
}

/// The ciphertext's byte count and SHA-256 (hex), known once the file was read to its end.
type Digest256 = Arc<Mutex<Option<(u64, String)>>>;

/// Hashes what it reads; publishes the digest when its inner reader reaches the end.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    out: Digest256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // Published once: a reader may be asked again after its end.
            let mut out = self.out.lock().expect("no panics holding it");
            if out.is_none() {
                let h = std::mem::take(&mut self.hasher);
                *out = Some((self.bytes, hex::encode(h.finalize())));
            }
        }
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

enum Msg {
    Data(Vec<u8>),
    End,
    Err(io::Error),
}

/// The receiving end of a stage: a `BufRead` over the chunks another thread sends.
pub struct ChannelReader {
    rx: Receiver<Msg>,
    /// Used chunks go back to the sender, which then neither allocates nor zeroes 1 MiB per
    /// chunk (memset alone was ~4 % of a verify's CPU).
    back: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    failed: Option<(io::ErrorKind, String)>,
}

impl ChannelReader {
    fn new(rx: Receiver<Msg>, back: SyncSender<Vec<u8>>) -> Self {
        ChannelReader {
            rx,
            back,
            buf: Vec::new(),
            pos: 0,
            done: false,
            failed: None,
        }
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.buf.len() && !self.done {
            if let Some((kind, msg)) = &self.failed {
                return Err(io::Error::new(*kind, msg.clone()));
            }
            match self.rx.recv() {
                Ok(Msg::Data(v)) => {
                    let used = std::mem::replace(&mut self.buf, v);
                    if used.capacity() > 0 {
                        let _ = self.back.try_send(used);
                    }
                    self.pos = 0;
                }
                Ok(Msg::End) => self.done = true,
                Ok(Msg::Err(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => {
                    self.failed = Some((io::ErrorKind::Other, "a reader thread stopped".into()));
                }
            }
        }
        Ok(&self.buf[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Reads `r` to its end in chunks and sends them; stops early when the receiver is gone or,
/// with a limit, once more than `limit` bytes came out.
fn pump<R: Read>(
    mut r: R,
    tx: SyncSender<Msg>,
    back: Receiver<Vec<u8>>,
    limit: Option<(u64, Slot)>,
) {
    let mut total = 0u64;
    loop {
        let mut v = back.try_recv().unwrap_or_default();
        // Only the tail past the last short chunk, if any, is zeroed.
        v.resize(IO_BUF, 0);
        let mut n = 0;
        while n < IO_BUF {
            match r.read(&mut v[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Msg::Err(e));
                    return;
                }
            }
        }
        total += n as u64;
        if let Some((max, slot)) = &limit
            && total > *max
        {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!("decompressed data exceeds {max} bytes"),
            );
            remember(slot, Layer::Limit, &e);
            let _ = tx.send(Msg::Err(e));
            return;
        }
        if n == 0 {
            let _ = tx.send(Msg::End);
            return;
        }
        v.truncate(n);
        if tx.send(Msg::Data(v)).is_err() {
            return;
        }
    }
}

/// Why the archive could not be opened for decryption.
#[derive(Debug)]
pub enum OpenError {
    /// The file does not start with the age header line.
    NotAge,
    /// None of the identities matches a recipient stanza.
    NoMatchingIdentity,
    /// The header is malformed, truncated or its MAC fails.
    Header(String, io::ErrorKind),
    /// A passphrase-protected identity could not be decrypted: the passphrase is wrong.
    KeyDecryption,
    /// Reading the file failed.
    Io(io::Error),
}

/// The running stack; [`finish`](Self::finish) joins its threads.
pub struct Stack {
    threads: Vec<JoinHandle<()>>,
    slot: Slot,
    digest: Digest256,
}

/// Opens the encrypted archive `file` with `identities`. Returns the plaintext reader, which
/// yields at most `limit` bytes before failing with [`Layer::Limit`].
pub fn open(
    file: impl Read + Send + 'static,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    limit: u64,
) -> Result<(ChannelReader, Stack), (OpenError, Stack)> {
    let slot: Slot = Arc::new(Mutex::new(None));
    let digest: Digest256 = Arc::new(Mutex::new(None));
    let mut stack = Stack {
        threads: Vec::new(),
        slot: slot.clone(),
        digest: digest.clone(),
    };

    let (tx_a, rx_a) = sync_channel(DEPTH);
    let (back_a, back_rx_a) = sync_channel(DEPTH + 2);
    let hashing = Hashing {
        inner: Tag {
            inner: file,
            layer: Layer::File,
            slot: slot.clone(),
        },
        hasher: Sha256::new(),
        bytes: 0,
        out: digest,
    };
    stack.threads.push(std::thread::spawn(move || {
        pump(hashing, tx_a, back_rx_a, None)
    }));
    let mut cipher = ChannelReader::new(rx_a, back_a);

    let head = match cipher.fill_buf() {
        Ok(h) => h,
        Err(e) => return Err((OpenError::Io(e), stack)),
    };
    if !head.starts_with(b"age-encryption.org/") {
        return Err((OpenError::NotAge, stack));
    }
    let header_err = |e: age::DecryptError| match e {
        age::DecryptError::NoMatchingKeys => OpenError::NoMatchingIdentity,
        age::DecryptError::KeyDecryptionFailed => OpenError::KeyDecryption,
        age::DecryptError::Io(io) => OpenError::Header(io.to_string(), io.kind()),
        e => OpenError::Header(e.to_string(), io::ErrorKind::InvalidData),
    };
    let dec = match age::Decryptor::new_buffered(cipher) {
        Ok(d) => d,
        Err(e) => return Err((header_err(e), stack)),
    };
    let plain = match dec.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity)) {
        Ok(p) => p,
        Err(e) => return Err((header_err(e), stack)),
    };

    let (tx_b, rx_b) = sync_channel(DEPTH);
    let (back_b, back_rx_b) = sync_channel(DEPTH + 2);
    let slot_b = slot.clone();
    stack.threads.push(std::thread::spawn(move || {
        let age_out = Tag {
            inner: plain,
            layer: Layer::Age,
            slot: slot_b.clone(),
        };
        let mut z = match zstd::stream::read::Decoder::new(age_out) {
            Ok(z) => z,
            Err(e) => {
                let _ = tx_b.send(Msg::Err(e));
                return;
            }
        };
        if let Err(e) = z.window_log_max(WINDOW_LOG_MAX) {
            let _ = tx_b.send(Msg::Err(e));
            return;
        }
        let zstd_out = Tag {
            inner: z,
            layer: Layer::Zstd,
            slot: slot_b.clone(),
        };
        pump(zstd_out, tx_b, back_rx_b, Some((limit, slot_b)));
    }));
    Ok((ChannelReader::new(rx_b, back_b), stack))
}

impl Stack {
    /// The first error any stage met, with its stage.
    pub fn failure(&self) -> Option<Failure> {
        self.slot.lock().expect("no panics holding it").clone()
    }

    /// Stops the stack (dropping `reader` first, so a thread blocked on a full channel wakes
    /// up) and joins its threads. Returns the ciphertext's size and SHA-256 if the file was
    /// read to its end.
    pub fn finish(self, reader: Option<ChannelReader>) -> Option<(u64, String)> {
        drop(reader);
        for t in self.threads {
            let _ = t.join();
        }
        self.digest.lock().expect("no panics holding it").clone()
    }
}
