//! The `verify --list` listing, one JSON line per payload entry in an unnamed temporary file
//! (in `$TMPDIR`; the kernel removes it when it is closed, even if the process is killed), so
//! listing 1,000,000 files costs disk, not memory (issue 12). Read back in archive order with
//! [`Listing::entries`]; serialized as a JSON array, streamed entry by entry.
//!
//! Holds the names of the client's files only while the report lives.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::de::{SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::receive::verify::ListedEntry;

/// Buffer for writing and reading the listing.
const BUF: usize = 64 << 10;

/// Gathers a listing while the archive is read.
pub(crate) struct Writer {
    out: BufWriter<File>,
    len: u64,
    max_size: u64,
}

impl Writer {
    /// An empty listing in a new temporary file.
    pub(crate) fn new() -> io::Result<Writer> {
        Ok(Writer {
            out: BufWriter::with_capacity(BUF, tempfile::tempfile()?),
            len: 0,
            max_size: 0,
        })
    }

    /// Appends an entry.
    pub(crate) fn push(&mut self, e: &ListedEntry) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, e)?;
        self.out.write_all(b"\n")?;
        self.len += 1;
        self.max_size = self.max_size.max(e.size);
        Ok(())
    }

    /// The listing, complete.
    pub(crate) fn finish(self) -> io::Result<Listing> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Listing {
            file: Arc::new(file),
            len: self.len,
            max_size: self.max_size,
        })
    }
}

/// The payload of a verified bag as `verify --list` shows it, in archive order, kept in a
/// temporary file.
#[derive(Debug, Clone)]
pub struct Listing {
    file: Arc<File>,
    len: u64,
    max_size: u64,
}

impl Listing {
    /// How many entries it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest size of any entry (for aligning a column).
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Its entries in archive order, read from the temporary file; an error only if that
    /// file cannot be read back.
    pub fn entries(&self) -> impl Iterator<Item = io::Result<ListedEntry>> + '_ {
        let rd = BufReader::with_capacity(
            BUF,
            At {
                file: &self.file,
                pos: 0,
            },
        );
        rd.split(b'\n').map(|line| {
            let line = line?;
            serde_json::from_slice(&line).map_err(io::Error::other)
        })
    }
}

/// Reads a shared file from its own position (`pread`), so listings cloned from one another
/// never move each other's offset.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Serialize for Listing {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(usize::try_from(self.len).ok())?;
        for e in self.entries() {
            seq.serialize_element(&e.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Listing {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Listing, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Listing;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Listing, A::Error> {
                use serde::de::Error;
                let mut w = Writer::new().map_err(A::Error::custom)?;
                while let Some(e) = seq.next_element::<ListedEntry>()? {
                    w.push(&e).map_err(A::Error::custom)?;
                }
                w.finish().map_err(A::Error::custom)
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64) -> ListedEntry {
        ListedEntry {
            path: path.into(),
            kind: "file".into(),
            size,
            mode: "0644".into(),
            mtime: "2026-01-01T00:00:00Z".into(),
            target: None,
        }
    }

    #[test]
    fn entries_come_back_in_order_and_round_trip_through_json() {
        let mut w = Writer::new().unwrap();
        let want = [entry("a\nb", 7), entry("c", 1200), entry("d é", 0)];
        for e in &want {
            w.push(e).unwrap();
        }
        let l = w.finish().unwrap();
        assert_eq!((l.len(), l.max_size()), (3, 1200));
        let got: Vec<_> = l.entries().map(Result::unwrap).collect();
        assert_eq!(got, want);
        // A clone reads from its own position.
        let c = l.clone();
        let mut a = l.entries();
        assert_eq!(a.next().unwrap().unwrap(), want[0]);
        assert_eq!(c.entries().count(), 3);
        assert_eq!(a.next().unwrap().unwrap(), want[1]);
        let json = serde_json::to_string(&l).unwrap();
        let back: Listing = serde_json::from_str(&json).unwrap();
        let got: Vec<_> = back.entries().map(Result::unwrap).collect();
        assert_eq!(got, want);
    }
}
