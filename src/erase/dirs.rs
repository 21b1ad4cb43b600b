//! The directory handles a deletion run works through: each root's parent opened by path
//! (refusing any symlink on the way), then one directory at a time with `O_NOFOLLOW`, each
//! checked against the dev/ino the plan recorded for it. Every open, rename and unlink of an
//! entry then goes through its parent's handle and one name, so a directory swapped for a
//! symlink (or for another directory) after the plan cannot send the run outside the roots.
//!
//! Entries come in plan order (depth-first, sorted), so the handles of the current path are
//! kept as a stack: moving to the next entry pops what is no longer above it and opens what is
//! new, and a whole directory of files costs one open and one fstat.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::error::show;
use crate::fsx;
use crate::ledger::store::EntryRecord;

use super::plan::{Root, entry_path};

/// Why the directory holding an entry could not be used.
pub(super) enum DirError {
    /// The directory is gone (ENOENT): so is everything the plan had in it.
    Gone,
    /// Not the directory the plan saw: a symlink, not a directory, or another inode.
    Swapped(String),
    /// Any other error opening it.
    Io(String),
}

/// The directory an entry is in: `None` for the root's parent (the entry is a root), else the
/// path of the directory relative to the root (empty for the root itself).
pub(super) fn parent_rel(rel: &[u8]) -> Option<&[u8]> {
    if rel.is_empty() {
        return None;
    }
    Some(match rel.iter().rposition(|&b| b == b'/') {
        Some(p) => &rel[..p],
        None => b"",
    })
}

/// The entry's own name inside its directory.
pub(super) fn name_of<'a>(roots: &'a [Root], e: &'a EntryRecord) -> &'a OsStr {
    if e.rel_path.is_empty() {
        roots[e.root_idx as usize]
            .path
            .file_name()
            .expect("a root has a last component (resolve_roots refuses /)")
    } else {
        let rel = &e.rel_path[..];
        OsStr::from_bytes(match rel.iter().rposition(|&b| b == b'/') {
            Some(p) => &rel[p + 1..],
            None => rel,
        })
    }
}

/// (dev, ino) of a stat, as the plan records them.
#[allow(clippy::unnecessary_cast)] // not u64 on every target
pub(super) fn dev_ino(st: &fsx::Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// True when `want` is `rel` or lies below it.
fn within(want: &[u8], rel: &[u8]) -> bool {
    rel.is_empty() || want == rel || (want.starts_with(rel) && want.get(rel.len()) == Some(&b'/'))
}

/// The stack of checked directory handles along the current path.
pub(super) struct Dirs {
    /// (root, rel path) → (dev, ino) of every directory in the plan.
    planned: HashMap<(u32, Vec<u8>), (u64, u64)>,
    root: Option<u32>,
    /// The current root's parent directory.
    base: Option<File>,
    /// From the root directory (rel "") down to the deepest directory opened.
    chain: Vec<(Vec<u8>, File)>,
}

fn classify(e: io::Error, path: &std::path::Path) -> DirError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => DirError::Gone,
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => DirError::Swapped(format!(
            "the directory {} was replaced since the plan (it, or a directory on the way to it, is now a symlink or not a directory); nothing in it was touched",
            show(path)
        )),
        _ => DirError::Io(format!("cannot open the directory {}: {e}", show(path))),
    }
}

impl Dirs {
    pub(super) fn new(entries: &[EntryRecord]) -> Dirs {
        let planned = entries
            .iter()
            .filter(|e| e.kind == "dir")
            .map(|e| ((e.root_idx, e.rel_path.clone()), (e.dev, e.ino)))
            .collect();
        Dirs {
            planned,
            root: None,
            base: None,
            chain: Vec::new(),
        }
    }

    /// The checked handle of directory `want` of root `idx` (see [`parent_rel`]).
    pub(super) fn get(
        &mut self,
        roots: &[Root],
        idx: u32,
        want: Option<&[u8]>,
    ) -> Result<&File, DirError> {
        let root = &roots[idx as usize];
        if self.root != Some(idx) {
            self.root = Some(idx);
            self.base = None;
            self.chain.clear();
        }
        if self.base.is_none() {
            let p = crate::home::parent_dir(&root.path);
            self.base = Some(fsx::open_dir_path(p).map_err(|e| classify(e, p))?);
        }
        let Some(want) = want else {
            return Ok(self.base.as_ref().expect("opened above"));
        };
        while self.chain.last().is_some_and(|(rel, _)| !within(want, rel)) {
            self.chain.pop();
        }
        while self.chain.last().is_none_or(|(rel, _)| rel != want) {
            let (next, from) = match self.chain.last() {
                None => (Vec::new(), self.base.as_ref().expect("opened above")),
                Some((rel, f)) => {
                    let start = if rel.is_empty() { 0 } else { rel.len() + 1 };
                    let end = want[start..]
                        .iter()
                        .position(|&b| b == b'/')
                        .map_or(want.len(), |p| start + p);
                    (want[..end].to_vec(), f)
                }
            };
            let path = entry_path(&root.path, &next);
            let name = match path.file_name() {
                Some(n) => n,
                None => return Err(DirError::Io(format!("no name: {}", show(&path)))),
            };
            let h = fsx::open_dir_at(from, name).map_err(|e| classify(e, &path))?;
            let st = fsx::fstat(&h).map_err(|e| classify(e, &path))?;
            match self.planned.get(&(idx, next.clone())) {
                Some(&planned) if planned == dev_ino(&st) => {}
                _ => {
                    return Err(DirError::Swapped(format!(
                        "the directory {} was replaced by another directory since the plan; nothing in it was touched",
                        show(&path)
                    )));
                }
            }
            self.chain.push((next, h));
        }
        Ok(&self.chain.last().expect("pushed above").1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_prefixes() {
        assert_eq!(parent_rel(b""), None);
        assert_eq!(parent_rel(b"a"), Some(&b""[..]));
        assert_eq!(parent_rel(b"a/b/c"), Some(&b"a/b"[..]));
        assert!(within(b"a/b", b""));
        assert!(within(b"a/b", b"a"));
        assert!(within(b"a/b", b"a/b"));
        assert!(!within(b"ab/c", b"a"));
        assert!(!within(b"a", b"a/b"));
    }
}
