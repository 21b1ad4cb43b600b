//! Sorted runs: what `verify` must remember about every entry until the bag's manifest has
//! been read (it comes after the payload in the tar stream), kept in bounded memory.
//!
//! Records are gathered in memory up to [`BUDGET`] bytes, then sorted and written to an
//! unnamed temporary file (in `$TMPDIR`, removed by the kernel when closed, even if the
//! process is killed) as one run. Reading merges the runs back in (path, sequence) order, so
//! every check that needs "all entries with this name" sees them side by side. At 1,000,000
//! files memory stays at the budget instead of growing with the count (issue 12); the runs
//! on disk take about 50 bytes plus the name per record, two records per file (its entry and
//! its manifest line).
//!
//! Names and hashes of the client's files go only to these unnamed files, which no other
//! process can open by name and which the kernel frees when verify exits, however it exits.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

/// Bytes of records held in memory before they are sorted and spilled as a run: about 80,000
/// records with 100-byte names. Runs are written once and read once, mostly from the page
/// cache: the 100,000-file benchmark spills a few and verifies as fast as when everything
/// stayed in memory, in half the peak RSS.
pub(crate) const BUDGET: usize = 16 << 20;
/// What a record costs in memory beyond its path's bytes (the struct and the path's heap
/// block), for the budget.
const OVERHEAD: usize = std::mem::size_of::<Rec>() + 16;
/// Read and write buffer per run file.
const RUN_BUF: usize = 64 << 10;

/// What a record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Tag {
    /// A regular payload file as read, with its hash and size.
    File = 0,
    /// A hard link whose target was settled, with its target's hash and size.
    Link = 1,
    /// A payload directory.
    Dir = 2,
    /// A line of `manifest-sha256.txt`, with the hash it gives.
    Listed = 3,
}

impl Tag {
    fn from_u8(b: u8) -> io::Result<Tag> {
        Ok(match b {
            0 => Tag::File,
            1 => Tag::Link,
            2 => Tag::Dir,
            3 => Tag::Listed,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad spill record",
                ));
            }
        })
    }
}

/// One remembered entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rec {
    /// Bag path (`data/...`).
    pub(crate) path: Vec<u8>,
    /// Position in the archive (entries) or in the manifest (lines): ties between records of
    /// one path are settled by it, the earliest first.
    pub(crate) seq: u64,
    pub(crate) tag: Tag,
    pub(crate) hash: [u8; 32],
    pub(crate) size: u64,
}

impl Ord for Rec {
    fn cmp(&self, o: &Self) -> Ordering {
        (&self.path, self.seq, self.tag).cmp(&(&o.path, o.seq, o.tag))
    }
}

impl PartialOrd for Rec {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn write_rec(w: &mut impl Write, r: &Rec) -> io::Result<()> {
    w.write_all(&(r.path.len() as u32).to_le_bytes())?;
    w.write_all(&r.path)?;
    w.write_all(&r.seq.to_le_bytes())?;
    w.write_all(&[r.tag as u8])?;
    w.write_all(&r.hash)?;
    w.write_all(&r.size.to_le_bytes())
}

/// The next record of a run, or None at its end.
fn read_rec(rd: &mut impl Read) -> io::Result<Option<Rec>> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut path = vec![0u8; u32::from_le_bytes(len) as usize];
    rd.read_exact(&mut path)?;
    let mut fixed = [0u8; 8 + 1 + 32 + 8];
    rd.read_exact(&mut fixed)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&fixed[9..41]);
    Ok(Some(Rec {
        path,
        seq: u64::from_le_bytes(fixed[..8].try_into().expect("8 bytes")),
        tag: Tag::from_u8(fixed[8])?,
        hash,
        size: u64::from_le_bytes(fixed[41..].try_into().expect("8 bytes")),
    }))
}

/// Records gathered in any order, read back sorted.
pub(crate) struct Runs {
    mem: Vec<Rec>,
    mem_bytes: usize,
    budget: usize,
    files: Vec<File>,
}

impl Default for Runs {
    fn default() -> Self {
        Runs::with_budget(BUDGET)
    }
}

impl Runs {
    /// Runs that spill past `budget` bytes (tests use a tiny one to exercise the disk path).
    pub(crate) fn with_budget(budget: usize) -> Runs {
        Runs {
            mem: Vec::new(),
            mem_bytes: 0,
            budget,
            files: Vec::new(),
        }
    }

    /// Adds a record; may write a run to disk.
    pub(crate) fn push(&mut self, r: Rec) -> io::Result<()> {
        self.mem_bytes += r.path.len() + OVERHEAD;
        self.mem.push(r);
        if self.mem_bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// How many runs went to disk (for tests).
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.files.len()
    }

    fn spill(&mut self) -> io::Result<()> {
        self.mem.sort_unstable();
        let mut w = BufWriter::with_capacity(RUN_BUF, tempfile::tempfile()?);
        for r in self.mem.drain(..) {
            write_rec(&mut w, &r)?;
        }
        self.files.push(w.into_inner().map_err(|e| e.into_error())?);
        self.mem_bytes = 0;
        // The drained vector keeps its capacity: give it back, or the peak stays doubled.
        self.mem.shrink_to(0);
        Ok(())
    }

    /// Every record, in (path, seq) order. Consumes the runs: the files close (and vanish)
    /// when the returned reader is dropped.
    pub(crate) fn sorted(mut self) -> io::Result<Sorted> {
        self.mem.sort_unstable();
        Sorted::new(self.mem, self.files)
    }

    /// Every record so far, in order, leaving the runs as they are for more records and a
    /// later [`Runs::sorted`]. Copies what is in memory (at most the budget).
    pub(crate) fn reread(&mut self) -> io::Result<Sorted> {
        self.mem.sort_unstable();
        let files = self
            .files
            .iter()
            .map(File::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        Sorted::new(self.mem.clone(), files)
    }
}

/// A run's current record, ordered for a min-heap.
struct Head(Rec, usize);

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Head {}
impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.cmp(&self.0)
    }
}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The merged, sorted records of [`Runs`].
pub(crate) struct Sorted {
    mem: std::iter::Peekable<std::vec::IntoIter<Rec>>,
    heads: BinaryHeap<Head>,
    readers: Vec<BufReader<File>>,
}

impl Sorted {
    /// Merges sorted `mem` with the run files, each read from its start.
    fn new(mem: Vec<Rec>, files: Vec<File>) -> io::Result<Sorted> {
        let mut heads = BinaryHeap::new();
        let mut readers = Vec::with_capacity(files.len());
        for (i, mut f) in files.into_iter().enumerate() {
            f.rewind()?;
            let mut rd = BufReader::with_capacity(RUN_BUF, f);
            if let Some(r) = read_rec(&mut rd)? {
                heads.push(Head(r, i));
            }
            readers.push(rd);
        }
        Ok(Sorted {
            mem: mem.into_iter().peekable(),
            heads,
            readers,
        })
    }

    /// The next record in order.
    pub(crate) fn next_rec(&mut self) -> io::Result<Option<Rec>> {
        let from_disk = match (self.heads.peek(), self.mem.peek()) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(h), Some(m)) => h.0 <= *m,
        };
        if !from_disk {
            return Ok(self.mem.next());
        }
        let Head(r, i) = self.heads.pop().expect("peeked");
        if let Some(n) = read_rec(&mut self.readers[i])? {
            self.heads.push(Head(n, i));
        }
        Ok(Some(r))
    }

    /// The next group: every record with the next path, in seq order.
    pub(crate) fn next_group(&mut self, pending: &mut Option<Rec>) -> io::Result<Vec<Rec>> {
        let mut group = Vec::new();
        let first = match pending.take() {
            Some(r) => r,
            None => match self.next_rec()? {
                Some(r) => r,
                None => return Ok(group),
            },
        };
        group.push(first);
        while let Some(r) = self.next_rec()? {
            if r.path != group[0].path {
                *pending = Some(r);
                break;
            }
            group.push(r);
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, seq: u64, tag: Tag) -> Rec {
        Rec {
            path: path.as_bytes().to_vec(),
            seq,
            tag,
            hash: [seq as u8; 32],
            size: seq * 10,
        }
    }

    fn all(runs: Runs) -> Vec<Rec> {
        let mut s = runs.sorted().unwrap();
        let mut out = Vec::new();
        while let Some(r) = s.next_rec().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn spilled_runs_merge_back_in_order_with_memory() {
        // A budget of one record: every push after the first spills a run.
        let mut runs = Runs::with_budget(1);
        let mut plain = Runs::with_budget(usize::MAX);
        let input = [
            rec("data/b", 5, Tag::File),
            rec("data/a", 9, Tag::Listed),
            rec("data/c/x", 1, Tag::Dir),
            rec("data/a", 2, Tag::File),
            rec("data/b", 3, Tag::Link),
        ];
        for r in &input {
            runs.push(r.clone()).unwrap();
            plain.push(r.clone()).unwrap();
        }
        assert_eq!(runs.spilled(), input.len());
        assert_eq!(plain.spilled(), 0);
        let mut want = input.to_vec();
        want.sort();
        assert_eq!(all(runs), want);
        assert_eq!(all(plain), want);
    }

    #[test]
    fn groups_hold_every_record_of_one_path() {
        let mut runs = Runs::with_budget(100);
        for (i, p) in ["data/a", "data/b", "data/a", "data/c", "data/b", "data/a"]
            .iter()
            .enumerate()
        {
            runs.push(rec(p, i as u64, Tag::File)).unwrap();
        }
        assert!(runs.spilled() > 0);
        let mut s = runs.sorted().unwrap();
        let mut pending = None;
        let mut groups = Vec::new();
        loop {
            let g = s.next_group(&mut pending).unwrap();
            if g.is_empty() {
                break;
            }
            groups.push((
                String::from_utf8(g[0].path.clone()).unwrap(),
                g.iter().map(|r| r.seq).collect::<Vec<_>>(),
            ));
        }
        assert_eq!(
            groups,
            [
                ("data/a".to_string(), vec![0, 2, 5]),
                ("data/b".to_string(), vec![1, 4]),
                ("data/c".to_string(), vec![3]),
            ]
        );
    }
}
