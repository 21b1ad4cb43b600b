//! A multipart upload as a [`Write`]: parts of [`PART`](super::PART) bytes go up as they
//! fill, and nothing is visible under the key until [`Upload::finish`] completes it.

use std::io::{self, Write};
use std::sync::Arc;

use super::{Action, Client, ObjectVersion, PART};
use crate::error::RemoteError;

/// A multipart upload in progress. Leave it only through [`finish`](Self::finish): dropped
/// unfinished (an error, Ctrl-C), it is aborted and the service drops its parts. If that
/// abort fails, the parts stay until the next export's clean-up finds the upload by its key
/// (the caller recorded the key before starting) and aborts it.
pub struct Upload {
    client: Arc<Client>,
    key: String,
    writer: Option<opendal::Writer>,
    buf: Vec<u8>,
    bytes: u64,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Upload {
    pub(super) fn start(client: &Arc<Client>, key: &str) -> Result<Upload, RemoteError> {
        let writer = client
            .rt
            // If-None-Match on the completion: another export that chose the same key (another
            // home, the same --name) cannot be overwritten, nor overwrite this one.
            .block_on(async {
                client
                    .op
                    .writer_with(key)
                    .chunk(PART)
                    .if_not_exists(true)
                    .await
            })
            .map_err(|e| client.err(key, Action::Write, &e))?;
        Ok(Upload {
            client: client.clone(),
            key: key.to_string(),
            writer: Some(writer),
            buf: Vec::with_capacity(PART),
            bytes: 0,
        })
    }

    fn send(&mut self) -> io::Result<()> {
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(PART));
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already closed"))?;
        let r = self.client.rt.block_on(w.write(part));
        r.map_err(|e| io::Error::other(self.client.err(&self.key, Action::Write, &e)))?;
        crate::fault::point("remote.part");
        Ok(())
    }

    /// Sends what is left and completes the upload: the object appears under its key.
    pub fn finish(mut self) -> Result<ObjectVersion, RemoteError> {
        let (bucket, key) = (self.client.bucket.clone(), self.key.clone());
        let io_err = move |e: io::Error| match e.downcast::<RemoteError>() {
            Ok(r) => r,
            Err(e) => RemoteError::Service {
                bucket,
                key,
                action: "write",
                detail: e.to_string(),
            },
        };
        if !self.buf.is_empty() {
            self.send().map_err(io_err)?;
        }
        crate::fault::point("remote.complete");
        let mut w = self.writer.take().expect("finish runs once");
        let r = self.client.rt.block_on(w.close());
        let m = match r {
            Ok(m) => m,
            Err(e) => {
                let err = self.client.err(&self.key, Action::Write, &e);
                let _ = self.client.rt.block_on(w.abort());
                return Err(err);
            }
        };
        Ok(ObjectVersion {
            key: self.key.clone(),
            version: m.version().map(str::to_string),
            etag: m.etag().map(super::unquote),
            size: self.bytes,
            delete_marker: false,
            latest: true,
            modified: None,
        })
    }
}

impl Write for Upload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PART - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.bytes += n as u64;
        if self.buf.len() == PART {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(mut w) = self.writer.take() {
            // Best effort: a failed abort leaves an incomplete upload that the next export's
            // clean-up finds by its recorded key.
            if !crate::fault::fails("remote.abort") {
                let _ = self.client.rt.block_on(w.abort());
            }
        }
    }
}
