//! Where `verify` reads from: local files, presigned `https://` links, or `s3://` objects.
//! The manifest and its signature are small and read whole; the archive is streamed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{RemoteError, Result, VerifyError};
use crate::manifest::sig_path;
use crate::receive::verify::{MANIFEST_MAX, VerifyOptions, manifest_beside};
use crate::remote::{self, http};

/// The manifest and its signature, read; the archive still to open.
pub(crate) struct Documents {
    /// The manifest's name for messages (a link without its query).
    pub manifest_shown: PathBuf,
    pub manifest_bytes: Vec<u8>,
    /// The signature, None when there is none.
    pub sig_text: Option<String>,
    pub sig_shown: PathBuf,
}

/// What kind of place a name given to verify is.
enum Place<'a> {
    Local(&'a Path),
    Link(&'a str),
    Bucket(remote::Location, String),
}

fn place(p: &Path) -> Result<Place<'_>> {
    let Some(text) = p.to_str() else {
        return Ok(Place::Local(p));
    };
    if http::is_url(text) {
        return Ok(Place::Link(text));
    }
    match remote::Location::parse(text) {
        None => Ok(Place::Local(p)),
        Some(loc) => {
            let loc = loc?;
            // The "prefix" of an object URL is its key (with a `/` that parse added).
            let key = loc.prefix.trim_end_matches('/').to_string();
            Ok(Place::Bucket(loc, key))
        }
    }
}

/// The name beside `p` that `beside` gives a path, for a link without a query or an object.
fn beside_text(text: &str, beside: impl Fn(&Path) -> PathBuf) -> String {
    beside(Path::new(text)).to_string_lossy().into_owned()
}

/// `opts` with every link shown without its query, for messages and the report.
pub(crate) fn shown_options(opts: &VerifyOptions) -> VerifyOptions {
    let mut o = opts.clone();
    o.archive = shown(&opts.archive);
    o.manifest = opts.manifest.as_deref().map(shown);
    o.signature = opts.signature.as_deref().map(shown);
    o
}

/// Whether the archive is remote (a link or an object): nothing local lies beside it.
pub(crate) fn archive_is_remote(opts: &VerifyOptions) -> bool {
    !matches!(place(&opts.archive), Ok(Place::Local(_)))
}

impl Documents {
    /// Reads the manifest (given, or beside the archive) and its signature (given, or beside
    /// the manifest).
    pub(crate) fn read(opts: &VerifyOptions) -> Result<Documents> {
        let archive_text = opts.archive.to_string_lossy();
        let manifest = match &opts.manifest {
            Some(m) => m.clone(),
            None => {
                if http::is_url(&archive_text) && archive_text.contains('?') {
                    return Err(RemoteError::LinksNeeded(http::shown(&archive_text)).into());
                }
                PathBuf::from(beside_text(&archive_text, manifest_beside))
            }
        };
        let manifest_text = manifest.to_string_lossy().into_owned();
        let signature = match &opts.signature {
            Some(s) => s.clone(),
            None => {
                if http::is_url(&manifest_text) && manifest_text.contains('?') {
                    return Err(RemoteError::LinksNeeded(http::shown(&archive_text)).into());
                }
                PathBuf::from(beside_text(&manifest_text, sig_path))
            }
        };
        let manifest_bytes = read_small(&manifest, MANIFEST_MAX)?.ok_or_else(|| {
            VerifyError::ManifestUnreadable {
                path: shown(&manifest),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
            }
        })?;
        let sig_text = read_small(&signature, MANIFEST_MAX)
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok());
        Ok(Documents {
            manifest_shown: shown(&manifest),
            manifest_bytes,
            sig_text,
            sig_shown: shown(&signature),
        })
    }
}

fn shown(p: &Path) -> PathBuf {
    match p.to_str() {
        Some(t) if http::is_url(t) => PathBuf::from(http::shown(t)),
        _ => p.to_path_buf(),
    }
}

/// A small document, whole; None when it does not exist (a local file or an object).
fn read_small(p: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    match place(p)? {
        Place::Local(path) => {
            let mut out = Vec::new();
            match File::open(path).and_then(|f| f.take(max).read_to_end(&mut out)) {
                Ok(_) => Ok(Some(out)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(VerifyError::ManifestUnreadable {
                    path: path.to_path_buf(),
                    source,
                }
                .into()),
            }
        }
        Place::Link(url) => Ok(Some(http::get_small(url, max)?)),
        Place::Bucket(loc, key) => {
            let client = Arc::new(remote::Client::connect(&loc.bucket)?);
            Ok(client.get_small(&key, max)?)
        }
    }
}

/// Opens the archive for streaming; returns it and its size, if known.
pub(crate) fn open_archive(opts: &VerifyOptions) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    match place(&opts.archive)? {
        Place::Local(path) => {
            let unreadable = |source| VerifyError::ArchiveUnreadable {
                path: path.to_path_buf(),
                source,
            };
            let f = File::open(path).map_err(unreadable)?;
            let len = f.metadata().map_err(unreadable)?.len();
            Ok((Box::new(f), Some(len)))
        }
        Place::Link(url) => {
            let (r, len) = http::get(url)?;
            Ok((Box::new(r), len))
        }
        Place::Bucket(loc, key) => {
            let client = Arc::new(remote::Client::connect(&loc.bucket)?);
            let o = client.object(&key)?.ok_or_else(|| RemoteError::NotFound {
                bucket: loc.bucket.clone(),
                key: key.clone(),
            })?;
            let r = client.reader(&key, o.version.as_deref(), o.size)?;
            Ok((Box::new(r), Some(o.size)))
        }
    }
}
