//! Remote: object storage behind `s3://BUCKET/PREFIX/` locations, for export sources and
//! destinations, deletion of every object version, and presigned links.
//!
//! Owns the S3 client (OpenDAL, with reqsign for the few calls OpenDAL does not make) and a
//! blocking face on it: the rest of the crate is synchronous, so each call runs to completion
//! on a small runtime owned by [`Client`]. Credentials and endpoint come from the AWS
//! conventions (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, the shared config files); they are never stored or printed.
//!
//! It knows nothing of handovers, the state database or the audit log: callers record what it
//! returns. It must never touch a key outside the ones it is given.

pub mod http;
mod raw;
mod upload;

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use opendal::{ErrorKind, Operator};

use crate::error::RemoteError;

pub use upload::Upload;

/// An object-storage location: a bucket and a key prefix (empty, or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix: empty, or ending in `/`.
    pub prefix: String,
}

impl Location {
    /// Parses `s3://BUCKET/PREFIX/`; None when `text` is not an `s3://` location at all.
    /// A prefix without a trailing `/` is taken as a folder all the same: `s3://b/acme` and
    /// `s3://b/acme/` are the same location (export writes *into* it, as into `--out DIR`).
    pub fn parse(text: &str) -> Option<Result<Location, RemoteError>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bad = || RemoteError::BadLocation(text.to_string());
        // S3's own rule for bucket names: 3 to 63 of a-z, 0-9, '.', '-'.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        // Keys with empty or dot segments cannot be told apart from others once a client
        // normalises them; refusing them keeps every key this tool names exact.
        let segments_ok = prefix
            .trim_end_matches('/')
            .split('/')
            .all(|s| !matches!(s, "." | ".."))
            && !prefix.trim_end_matches('/').contains("//")
            && !prefix.starts_with('/');
        if !bucket_ok || !segments_ok {
            return Some(Err(bad()));
        }
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Some(Ok(Location {
            bucket: bucket.to_string(),
            prefix,
        }))
    }

    /// The key of `name` under this prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `s3://BUCKET/KEY` of `key`.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Whether `text` names an object-storage location rather than a local path.
pub fn is_remote(text: &str) -> bool {
    text.starts_with("s3://")
}

/// One version of one object, as the service reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The object's key.
    pub key: String,
    /// The version id; None where the bucket does not keep versions.
    pub version: Option<String>,
    /// The ETag, quotes removed; None for a delete marker.
    pub etag: Option<String>,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// A delete marker rather than data.
    pub delete_marker: bool,
    /// The newest version of its key.
    pub latest: bool,
    /// When it was written (Unix seconds), where the service said.
    pub modified: Option<i64>,
}

/// Object Lock protection on one object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// `GOVERNANCE` or `COMPLIANCE`, with the date it holds until, if a retention is set
    /// and still in force.
    pub retention: Option<(String, String)>,
    /// A legal hold is on.
    pub legal_hold: bool,
}

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The key it would have created.
    pub key: String,
    /// The service's upload id.
    pub upload_id: String,
    /// When it was started, as the service reports it.
    pub initiated: String,
}

/// What a call was doing, for its error message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Read,
    Write,
    List,
    Delete,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::List => "list",
            Action::Delete => "delete",
        }
    }
}

/// A connection to one bucket. Blocking: every call runs on the process's one runtime.
pub struct Client {
    rt: &'static tokio::runtime::Runtime,
    op: Operator,
    bucket: String,
    raw: raw::Raw,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// The runtime every [`Client`] blocks on. One for the process, not one per client: OpenDAL
/// sends through one process-wide HTTP client, whose pooled connections are tasks of the
/// runtime that opened them. With a runtime per client, a second client (an export from one
/// bucket into another) took a connection whose task only the first client's runtime could
/// run, and waited for it forever.
fn runtime() -> Result<&'static tokio::runtime::Runtime, RemoteError> {
    static RT: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| RemoteError::Config { why: e.clone() })
}

/// How long any request may wait for the service's next bytes before it fails.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP client with the timeouts every call here has.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(IO_TIMEOUT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Part size of multipart uploads: S3's minimum is 5 MiB; 8 MiB keeps memory bounded (one
/// part buffered) while a 10,000-part upload still reaches 78 GiB.
pub(crate) const PART: usize = 8 << 20;

impl Client {
    /// Connects to `bucket` with the credentials and endpoint of the environment. Nothing is
    /// sent until the first call.
    pub fn connect(bucket: &str) -> Result<Client, RemoteError> {
        opendal::install_default();
        let rt = runtime()?;
        let region = raw::region();
        let builder = opendal::services::S3::default()
            .bucket(bucket)
            .root("/")
            .region(&region);
        let op = Operator::new(builder)
            .map_err(|e| RemoteError::Config {
                why: e.message().to_string(),
            })?
            .layer(opendal::layers::RetryLayer::new().with_max_times(3))
            // A service that stops answering must not hang a command past Ctrl-C's reach:
            // no call may wait longer than this for the next bytes.
            .layer(
                opendal::layers::TimeoutLayer::new()
                    .with_timeout(Duration::from_secs(300))
                    .with_io_timeout(IO_TIMEOUT),
            );
        let raw = raw::Raw::new(bucket, &region);
        Ok(Client {
            rt,
            op,
            bucket: bucket.to_string(),
            raw,
        })
    }

    /// The current object under exactly `key`, if there is one.
    pub fn object(&self, key: &str) -> Result<Option<ObjectVersion>, RemoteError> {
        Ok(self.objects(key)?.into_iter().find(|o| o.key == key))
    }

    /// The whole current object under `key`, at most `max` bytes; None if there is none.
    pub fn get_small(
        self: &Arc<Self>,
        key: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(o) = self.object(key)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        self.reader(key, o.version.as_deref(), o.size.min(max))?
            .read_to_end(&mut out)
            .map_err(|e| RemoteError::Service {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                action: "read",
                detail: e.to_string(),
            })?;
        Ok(Some(out))
    }

    /// The service's endpoint URL, as requests go to it: what makes a bucket name mean one
    /// bucket. Recorded with every object, and compared before anything recorded is touched.
    pub fn endpoint(&self) -> &str {
        self.raw.endpoint()
    }

    /// Maps an OpenDAL error on `key` to ours.
    pub(crate) fn err(&self, key: &str, action: Action, e: &opendal::Error) -> RemoteError {
        match e.kind() {
            ErrorKind::PermissionDenied => RemoteError::Credentials {
                bucket: self.bucket.clone(),
                action: action.verb(),
                detail: short(e),
            },
            ErrorKind::NotFound => RemoteError::NotFound {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            },
            ErrorKind::ConfigInvalid => RemoteError::Config { why: short(e) },
            // A conditional write (If-None-Match) refused: someone wrote the key meanwhile.
            ErrorKind::ConditionNotMatch if matches!(action, Action::Write) => {
                RemoteError::Exists {
                    bucket: self.bucket.clone(),
                    key: key.to_string(),
                }
            }
            ErrorKind::ConditionNotMatch => RemoteError::Changed {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            },
            _ => RemoteError::Service {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                action: action.verb(),
                detail: short(e),
            },
        }
    }

    /// Checks the bucket can be listed with these credentials: the first call an export makes,
    /// so that wrong credentials fail before any work.
    pub fn check(&self, prefix: &str) -> Result<(), RemoteError> {
        self.rt
            .block_on(async {
                let mut l = self.op.lister_with(prefix).limit(1).await?;
                l.try_next().await
            })
            .map(|_| ())
            .map_err(|e| self.err(prefix, Action::List, &e))
    }

    /// Starts a multipart upload to `key`. Nothing is visible under `key` until
    /// [`Upload::finish`]; dropping the upload unfinished aborts it.
    pub fn upload(self: &Arc<Self>, key: &str) -> Result<Upload, RemoteError> {
        Upload::start(self, key)
    }

    /// Writes a small object in one request; returns its version.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<ObjectVersion, RemoteError> {
        let size = bytes.len() as u64;
        let m = self
            .rt
            .block_on(async { self.op.write_with(key, bytes).if_not_exists(true).await })
            .map_err(|e| self.err(key, Action::Write, &e))?;
        Ok(ObjectVersion {
            key: key.to_string(),
            version: m.version().map(str::to_string),
            etag: m.etag().map(unquote),
            size,
            delete_marker: false,
            latest: true,
            modified: m.last_modified().map(|t| t.into_inner().as_second()),
        })
    }

    /// Every version of every object under `prefix`, delete markers included, as the
    /// service lists them (newest first within a key).
    pub fn versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, RemoteError> {
        self.list(prefix)
    }

    /// The current objects under `prefix` (no delete markers, no older versions), each with
    /// its version id where the bucket keeps versions: taken from the version listing,
    /// because a plain listing names no version ids.
    pub fn objects(&self, prefix: &str) -> Result<Vec<ObjectVersion>, RemoteError> {
        let mut all = self.list(prefix)?;
        all.retain(|v| v.latest && !v.delete_marker);
        Ok(all)
    }

    /// Every version and delete marker under `prefix`.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectVersion>, RemoteError> {
        self.rt
            .block_on(async {
                let mut l = self
                    .op
                    .lister_with(prefix)
                    .recursive(true)
                    .versions(true)
                    .deleted(true)
                    .await?;
                let mut out = Vec::new();
                while let Some(e) = l.try_next().await? {
                    let m = e.metadata();
                    // A key ending in `/` is listed as a directory. Without a delimiter the
                    // service names only real objects, so such an entry is a folder marker
                    // (an object, client data like any other); an entry with neither ETag
                    // nor version is one the lister made up, not an object.
                    if m.is_dir() && m.etag().is_none() && m.version().is_none() {
                        continue;
                    }
                    out.push(ObjectVersion {
                        key: e.path().to_string(),
                        version: m.version().map(str::to_string),
                        etag: m.etag().map(unquote),
                        size: m.content_length(),
                        delete_marker: m.is_deleted(),
                        latest: m.is_current().unwrap_or(true),
                        modified: m.last_modified().map(|t| t.into_inner().as_second()),
                    });
                }
                Ok(out)
            })
            .map_err(|e: opendal::Error| self.err(prefix, Action::List, &e))
    }

    /// Deletes one version of `key` (or, with None, the object of an unversioned bucket).
    /// Deleting a version that is already gone succeeds.
    pub fn delete_version(&self, key: &str, version: Option<&str>) -> Result<(), RemoteError> {
        let r = match version {
            Some(v) => self
                .rt
                .block_on(async { self.op.delete_with(key).version(v).await }),
            None => self.rt.block_on(self.op.delete(key)),
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(key, Action::Delete, &e)),
        }
    }

    /// A reader of one version of `key` (the current one with None).
    pub fn reader(
        self: &Arc<Self>,
        key: &str,
        version: Option<&str>,
        size: u64,
    ) -> Result<ObjectReader, RemoteError> {
        self.reader_if(key, version, None, size)
    }

    /// A reader of one version of `key` (the current one with None) that fails, with
    /// [`RemoteError::Changed`], when the object's ETag is no longer `etag`: in a bucket
    /// without versions, the bytes read are then all of the object that was listed. One GET
    /// streams the whole object.
    pub fn reader_if(
        self: &Arc<Self>,
        key: &str,
        version: Option<&str>,
        etag: Option<&str>,
        size: u64,
    ) -> Result<ObjectReader, RemoteError> {
        let stream = self
            .rt
            .block_on(async {
                let mut w = self.op.reader_with(key);
                if let Some(v) = version {
                    w = w.version(v);
                }
                if let Some(e) = etag {
                    // The header takes the quoted form; the listing's quotes were removed.
                    w = w.if_match(&format!("\"{e}\""));
                }
                w.await?.into_bytes_stream(0..size).await
            })
            .map_err(|e| self.err(key, Action::Read, &e))?;
        Ok(ObjectReader {
            client: self.clone(),
            key: key.to_string(),
            stream,
            left: bytes::Bytes::new(),
            read: 0,
            size,
        })
    }

    /// A presigned GET URL for `key`, valid for `expires`.
    /// A presigned GET URL for one version of `key` (the current one with None), valid for
    /// `expires`: a link to a recorded version serves those bytes whatever is written under
    /// the key later.
    pub fn presign_version(
        &self,
        key: &str,
        version: Option<&str>,
        expires: Duration,
    ) -> Result<String, RemoteError> {
        self.rt
            .block_on(self.op.presign_read_options(
                key,
                expires,
                opendal::options::ReadOptions {
                    version: version.map(str::to_string),
                    ..Default::default()
                },
            ))
            .map(|p| p.uri().to_string())
            .map_err(|e| self.err(key, Action::Read, &e))
    }

    /// The Object Lock protection of one version of `key`, if any is in force at `now`
    /// (RFC 3339).
    pub fn lock(
        &self,
        key: &str,
        version: Option<&str>,
        now: &str,
    ) -> Result<Option<Lock>, RemoteError> {
        self.rt.block_on(self.raw.lock(key, version, now))
    }

    /// Multipart uploads started under `prefix` and never completed or aborted.
    pub fn pending_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, RemoteError> {
        self.rt.block_on(self.raw.uploads(prefix))
    }

    /// Aborts one multipart upload: its parts are dropped by the service. An upload that is
    /// already gone counts as aborted.
    pub fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        if crate::fault::fails("remote.abort") {
            return Err(RemoteError::Service {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                action: "delete",
                detail: "abort refused (fault injection)".into(),
            });
        }
        self.rt.block_on(self.raw.abort(key, upload_id))
    }
}

/// Streams one object version (one GET), checking it has the size it was listed with.
pub struct ObjectReader {
    client: Arc<Client>,
    key: String,
    stream: opendal::FuturesBytesStream,
    left: bytes::Bytes,
    read: u64,
    size: u64,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left.is_empty() {
            let next = self.client.rt.block_on(self.stream.try_next());
            // OpenDAL's error travels inside the io::Error: turn it into ours, so a failed
            // condition reads as the object having changed, not as an unreadable file.
            let next = next.map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<opendal::Error>()) {
                    Some(oe) => io::Error::other(self.client.err(&self.key, Action::Read, oe)),
                    None => e,
                }
            })?;
            match next {
                Some(b) => self.left = b,
                None if self.read < self.size => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "s3://{}/{} is shorter than listed",
                            self.client.bucket, self.key
                        ),
                    ));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.left.len());
        buf[..n].copy_from_slice(&self.left[..n]);
        self.left = self.left.slice(n..);
        self.read += n as u64;
        Ok(n)
    }
}

/// An ETag without its quotes.
fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

/// The first line of an OpenDAL error's message, without the context it adds (request
/// details that may carry a signed URL).
fn short(e: &opendal::Error) -> String {
    let m = e.message();
    let m = m.lines().next().unwrap_or(m);
    raw::redact(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_normalise() {
        let l = Location::parse("s3://bkt-1/acme").unwrap().unwrap();
        assert_eq!(l.prefix, "acme/");
        assert_eq!(l.key("x.age"), "acme/x.age");
        assert_eq!(Location::parse("s3://bkt/").unwrap().unwrap().prefix, "");
        assert_eq!(Location::parse("s3://bkt").unwrap().unwrap().prefix, "");
        assert!(Location::parse("/tmp/x").is_none());
        for bad in [
            "s3://B/x",
            "s3://ab/x",
            "s3://bkt/a//b/",
            "s3://bkt/../x",
            "s3://bkt//x",
        ] {
            assert!(Location::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
