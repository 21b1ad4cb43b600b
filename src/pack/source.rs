//! Export from a bucket: the current objects under `s3://BUCKET/PREFIX/` become the files of
//! the bag, each key relative to the prefix its path, read by the version listed and hashed
//! as it streams into the tar (the same pass, spools and tag files as a local walk).
//!
//! Every key is checked before any output exists: a key that cannot be a safe relative path
//! (absolute, `..`, `.`, an empty segment, NUL, a file and a folder under one name) fails the
//! export. Each object is read by its listed version id (in a bucket without versions, on the
//! condition that its ETag is still the listed one), and after the walk the prefix is listed
//! again: an object written, overwritten or deleted meanwhile fails the export as a changed
//! file does. It only reads the source bucket, never writes to it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::{Error, ExportError, RemoteError, Result};
use crate::ledger::store::ObjectRecord;
use crate::pack::export::{Pass, TAR_BLOCK};
use crate::remote::{Client, Location, ObjectVersion};
use crate::util;

/// Mode of the files of a bag made from a bucket: objects carry no Unix mode.
const FILE_MODE: u32 = 0o644;
/// Mode of its folders.
const DIR_MODE: u32 = 0o755;

/// A source prefix in a bucket, connected, and (once [`SourceBucket::list`] ran) its objects.
pub(crate) struct SourceBucket {
    pub(crate) loc: Location,
    client: std::sync::Arc<Client>,
    /// The current objects under the prefix, folder markers included, in the order of the
    /// local walk (depth first, names sorted bytewise within a folder).
    ///
    /// Held in memory, unlike file contents: about 250 bytes per object (key, version id,
    /// ETag and the struct around them), so 1,000,000 keys cost about 250 MB, plus, for the
    /// time of the listing, the older versions and delete markers the service lists with them.
    objects: Vec<ObjectVersion>,
}

/// `DATA` given as `s3://BUCKET/PREFIX/`: parsed and connected, the credentials checked by
/// listing one key. None for a local directory.
pub(crate) fn connect(data: &Path) -> Result<Option<SourceBucket>> {
    let Some(loc) = data.to_str().and_then(Location::parse) else {
        return Ok(None);
    };
    let loc = loc?;
    let client = std::sync::Arc::new(Client::connect(&loc.bucket)?);
    client.check(&loc.prefix)?;
    Ok(Some(SourceBucket {
        loc,
        client,
        objects: Vec::new(),
    }))
}

impl SourceBucket {
    /// The text the handover records as its source, `s3://BUCKET/PREFIX/`.
    pub(crate) fn text(&self) -> PathBuf {
        PathBuf::from(self.loc.object_url(&self.loc.prefix))
    }

    /// Whether the output location `out` lies inside this prefix (the archive would become
    /// part of the data it is made of, at the next export).
    pub(crate) fn contains(&self, out: &Location) -> bool {
        out.bucket == self.loc.bucket && out.prefix.starts_with(&self.loc.prefix)
    }

    /// Lists the current objects under the prefix and checks every key; sorts them in the
    /// order the walk writes them.
    pub(crate) fn list(&mut self) -> Result<()> {
        let mut objects = self.client.objects(&self.loc.prefix)?;
        if objects.is_empty() {
            return Err(RemoteError::NotFound {
                bucket: self.loc.bucket.clone(),
                key: self.loc.prefix.clone(),
            }
            .into());
        }
        let plen = self.loc.prefix.len();
        for o in &objects {
            if let Err(why) = check_key(&o.key, &self.loc.prefix, o.size) {
                return Err(self.bad_key(&o.key, why.to_string()));
            }
        }
        objects.sort_unstable_by(|a, b| walk_order(plen, a, b));
        // A file's contents would follow it directly: a file and a folder of one name meet
        // here, whatever lies between them in the listing.
        for pair in objects.windows(2) {
            let (a, b) = (rel(&pair[0].key, plen), rel(&pair[1].key, plen));
            let under = b
                .strip_prefix(a)
                .is_some_and(|rest| rest.is_empty() || (rest.starts_with('/') && !a.is_empty()));
            if under && (!is_folder(&pair[0].key) || a == b) {
                return Err(self.bad_key(
                    &pair[0].key,
                    format!(
                        "it is a file, and {} needs a folder of the same name; a file and a folder cannot share a name",
                        self.shown(&pair[1].key).display()
                    ),
                ));
            }
        }
        self.objects = objects;
        Ok(())
    }

    /// Regular files, folders, and bytes to read, for the progress bar.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let bytes = self.objects.iter().map(|o| o.size).sum();
        (bytes, self.objects.len() as u64)
    }

    fn bad_key(&self, key: &str, why: String) -> Error {
        ExportError::BadKey {
            bucket: self.loc.bucket.clone(),
            key: key.to_string(),
            why,
        }
        .into()
    }

    /// `s3://BUCKET/KEY`, for messages.
    fn shown(&self, key: &str) -> PathBuf {
        PathBuf::from(self.loc.object_url(key))
    }

    /// Lists the prefix again after the walk: each object read must still be the current
    /// version of its key (same version id, ETag and size), and none may have appeared or
    /// gone. Anything else means the bag is not what the prefix holds now. The second
    /// listing is held like the first (sorted the same way, then compared in step).
    pub(crate) fn recheck(&self) -> Result<()> {
        let plen = self.loc.prefix.len();
        let mut now = self.client.objects(&self.loc.prefix)?;
        let order = |a: &ObjectVersion, b: &ObjectVersion| walk_order(plen, a, b);
        now.sort_unstable_by(order);
        let changed = |key: &str, what: &'static str| -> Error {
            ExportError::Changed {
                path: self.shown(key),
                what,
            }
            .into()
        };
        let (mut i, mut j) = (0, 0);
        loop {
            match (self.objects.get(i), now.get(j)) {
                (None, None) => return Ok(()),
                (Some(r), Some(o)) if r.key == o.key => {
                    if o.version != r.version || o.etag != r.etag || o.size != r.size {
                        return Err(changed(
                            &o.key,
                            "a newer version was written while the export ran",
                        ));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(r), Some(o)) if order(r, o).is_lt() => {
                    return Err(changed(&r.key, "deleted while the export ran"));
                }
                (Some(r), None) => return Err(changed(&r.key, "deleted while the export ran")),
                (_, Some(o)) => {
                    return Err(changed(
                        &o.key,
                        "a new object appeared under the prefix while the export ran",
                    ));
                }
            }
        }
    }
}

/// Whether a key is a folder marker (or the prefix's own marker).
fn is_folder(key: &str) -> bool {
    key.ends_with('/')
}

/// The path of `key` below the prefix (`plen` bytes), without a folder marker's `/`.
fn rel(key: &str, plen: usize) -> &str {
    key[plen..].trim_end_matches('/')
}

/// The order the walk writes objects in: segment by segment below the prefix (`plen`
/// bytes), so "a" and its contents come before "a.txt", as in a local walk.
fn walk_order(plen: usize, a: &ObjectVersion, b: &ObjectVersion) -> std::cmp::Ordering {
    let (ra, rb) = (
        a.key.get(plen..).unwrap_or(""),
        b.key.get(plen..).unwrap_or(""),
    );
    segments(ra)
        .cmp(segments(rb))
        .then_with(|| a.key.cmp(&b.key))
}

fn segments(rel: &str) -> std::str::Split<'_, char> {
    rel.trim_end_matches('/').split('/')
}

/// Why `key` (listed under `prefix`) cannot be a file or folder of the bag, if it cannot.
///
/// The bag's paths are the client's files once extracted: a `..`, `.` or empty segment, or an
/// absolute path, would be written somewhere else than the key says (or outside the folder),
/// and object-storage clients normalise such keys, so the object read may not be the one
/// listed. A NUL cannot be in a file name at all.
fn check_key(key: &str, prefix: &str, size: u64) -> std::result::Result<(), &'static str> {
    let Some(rest) = key.strip_prefix(prefix) else {
        return Err("the service listed it under the prefix, but its key does not start with it");
    };
    if rest.is_empty() {
        // The prefix's own folder marker: the bag's data/ folder.
        return if size == 0 {
            Ok(())
        } else {
            Err("a folder marker with content; its bytes would be lost")
        };
    }
    if rest.contains('\0') {
        return Err("its key holds a NUL byte, which no file name can");
    }
    if rest.starts_with('/') {
        return Err("its key is an absolute path below the prefix");
    }
    let folder = rest.ends_with('/');
    if folder && size > 0 {
        return Err("a folder marker (key ending in /) with content; its bytes would be lost");
    }
    let body = if folder {
        &rest[..rest.len() - 1]
    } else {
        rest
    };
    for s in body.split('/') {
        match s {
            "" => return Err("its key has an empty segment (//)"),
            "." | ".." => return Err("its key has a . or .. segment"),
            _ => {}
        }
    }
    Ok(())
}

impl Pass<'_> {
    /// Writes the objects of `src` into the tar as the walk writes a tree: the top folder and
    /// data/, then each object in order, the folders it implies first (each once). Returns
    /// the `source` records of every object read, folder markers included.
    pub(crate) fn walk_bucket(
        &mut self,
        src: &SourceBucket,
        now: time::OffsetDateTime,
    ) -> Result<Vec<ObjectRecord>> {
        let now = now.unix_timestamp().max(0) as u64;
        let plen = src.loc.prefix.len();
        let top = self.top.clone();
        let own = src.objects.iter().find(|o| o.key.len() == plen);
        let mtime =
            |o: Option<&ObjectVersion>| o.and_then(|o| o.modified).map_or(now, |t| t.max(0) as u64);
        self.bucket_dir(&top, mtime(own), false)?;
        self.bucket_dir(&top.join("data"), mtime(own), false)?;
        let mut records = Vec::with_capacity(src.objects.len());
        // The folders written so far on the way to the current object, outermost first.
        let mut open: Vec<&str> = Vec::new();
        for o in &src.objects {
            records.push(crate::pack::remote::object_record(
                "source",
                &src.loc.bucket,
                src.client.endpoint(),
                o,
            ));
            let r = rel(&o.key, plen);
            if r.is_empty() {
                continue;
            }
            let folder = is_folder(&o.key);
            let parent = if folder {
                r
            } else {
                r.rsplit_once('/').map_or("", |(p, _)| p)
            };
            while let Some(d) = open.last()
                && !(parent == *d || parent.strip_prefix(d).is_some_and(|x| x.starts_with('/')))
            {
                open.pop();
            }
            // Each folder below the innermost open one, down to `parent`.
            if !parent.is_empty() && open.last() != Some(&parent) {
                let mut at = open.last().map_or(0, |d| d.len() + 1);
                loop {
                    let end = parent[at..].find('/').map_or(parent.len(), |i| at + i);
                    let d = &parent[..end];
                    let t = if folder && end == parent.len() {
                        mtime(Some(o))
                    } else {
                        now
                    };
                    self.bucket_dir(&top.join("data").join(d), t, true)?;
                    open.push(d);
                    if end == parent.len() {
                        break;
                    }
                    at = end + 1;
                }
            }
            if !folder {
                self.bucket_file(src, o, r, mtime(Some(o)))?;
            }
            self.reporter.file_done();
            if self.reporter.cancelled() {
                return Err(ExportError::Interrupted.into());
            }
        }
        Ok(records)
    }

    /// Appends a folder; `counted` for the folders below data/, which the summary counts.
    fn bucket_dir(&mut self, tar_path: &Path, mtime: u64, counted: bool) -> Result<()> {
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::dir());
        h.set_mode(DIR_MODE);
        h.set_mtime(mtime);
        h.set_size(0);
        self.aw
            .tar()
            .append_data(&mut h, tar_path, io::empty())
            .map_err(|e| self.werr(e))?;
        if counted {
            self.counts.dirs += 1;
        }
        Ok(())
    }

    /// Streams one object into the tar, hashing it as it passes.
    fn bucket_file(
        &mut self,
        src: &SourceBucket,
        o: &ObjectVersion,
        r: &str,
        mtime: u64,
    ) -> Result<()> {
        let bag_path = format!("data/{r}");
        let shown = src.shown(&o.key);
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::file());
        h.set_mode(FILE_MODE);
        h.set_mtime(mtime);
        h.set_size(o.size);
        self.aw
            .tar()
            .append_data(&mut h, self.top.join(&bag_path), io::empty())
            .map_err(|e| self.werr(e))?;
        // A version id names bytes that never change; without one ("null": versioning never
        // enabled or suspended), the read is conditional on the listed ETag.
        let version = o.version.as_deref().filter(|v| *v != "null");
        let etag = if version.is_none() {
            o.etag.as_deref()
        } else {
            None
        };
        let mut reader = src.client.reader_if(&o.key, version, etag, o.size)?;
        let copied = self.copy_in(&mut reader, o.size);
        let changed = |what| -> Error {
            ExportError::Changed {
                path: shown.clone(),
                what,
            }
            .into()
        };
        let hash = match copied {
            Ok((_, n)) if n < o.size => return Err(changed("it became shorter")),
            Ok((hash, _)) => hex::encode(hash),
            Err(util::CopyError::Read(e)) => {
                return Err(match read_error(e) {
                    Ok(RemoteError::Changed { .. }) => changed("overwritten after it was listed"),
                    Ok(r) => r.into(),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        changed("it became shorter")
                    }
                    Err(source) => ExportError::Unreadable {
                        path: shown.clone(),
                        source,
                    }
                    .into(),
                });
            }
            Err(util::CopyError::Sink(e)) => return Err(e),
        };
        let pad = (TAR_BLOCK - o.size % TAR_BLOCK) % TAR_BLOCK;
        self.aw
            .tar()
            .get_mut()
            .write_all(&[0u8; TAR_BLOCK as usize][..pad as usize])
            .map_err(|e| self.werr(e))?;
        // Tests overwrite the object here, after it was read and before the walk ends.
        crate::fault::point("export.remote_object");
        self.record_file(bag_path.as_bytes(), &hash, o.size)
    }
}

/// The service's error inside an I/O error from [`crate::remote::ObjectReader`], if it is one.
fn read_error(e: io::Error) -> std::result::Result<RemoteError, io::Error> {
    if e.get_ref().is_some_and(|i| i.is::<RemoteError>()) {
        let inner = e.into_inner().expect("checked above");
        return Ok(*inner.downcast::<RemoteError>().expect("checked above"));
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_keys_are_refused() {
        for (key, size) in [
            ("p/a/../b", 1),
            ("p/../b", 1),
            ("p/./b", 1),
            ("p/a//b", 1),
            ("p//b", 1),
            ("p/a/", 3),
            ("p/", 3),
            ("p/a\0b", 1),
            ("q/a", 1),
            ("p/a/..", 1),
        ] {
            assert!(check_key(key, "p/", size).is_err(), "{key:?}");
        }
        for key in ["p/a", "p/a/b.txt", "p/a/", "p/", "p/..a", "p/a b/.c"] {
            assert_eq!(check_key(key, "p/", 0), Ok(()), "{key:?}");
        }
        assert!(check_key("/x", "", 1).is_err());
    }

    #[test]
    fn keys_sort_in_the_walks_order() {
        let mut keys = vec!["a.txt", "a/b", "a/", "a/b.d/c", "b", "a-b"];
        keys.sort_by(|a, b| segments(a).cmp(segments(b)));
        assert_eq!(keys, ["a/", "a/b", "a/b.d/c", "a-b", "a.txt", "b"]);
    }
}
