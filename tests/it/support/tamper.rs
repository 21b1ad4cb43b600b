//! Rebuilding an archive the way someone without the signing key can: decrypt it with the
//! client's identity, unpack the bag, change it, and pack, compress and encrypt it again to
//! the client. All in-process with the `age`, `zstd` and `tar` crates, so the tamper tests
//! never depend on (or skip for want of) the `age`, `zstd` or `tar` programs.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::fixture;

/// The archive's tar builder while it is being re-made: tar into zstd into age into the file.
pub type Tar<'a> = tar::Builder<&'a mut dyn Write>;

/// The test client's age identities (fixtures/keys/client.agekey).
fn client_identities() -> Vec<Box<dyn age::Identity + Send + Sync>> {
    let path = fixture("keys/client.agekey");
    age::IdentityFile::from_file(path.to_str().unwrap().to_string())
        .expect("read the client identity")
        .into_identities()
        .expect("the client identity parses")
}

/// The test client's recipient (the last line of fixtures/keys/client.recipients).
fn client_recipient() -> age::x25519::Recipient {
    let text = fs::read_to_string(fixture("keys/client.recipients")).unwrap();
    let line = text
        .lines()
        .rfind(|l| l.starts_with("age1"))
        .expect("a recipient line");
    line.parse().expect("the client recipient parses")
}

/// Decrypts and decompresses `archive` with the client's identity, unpacking the bag into
/// `dest` (which must not exist yet), as `age -d | zstd -d | tar -xpf -` would.
pub fn unpack(archive: &Path, dest: &Path) {
    let ids = client_identities();
    let dec =
        age::Decryptor::new(io::BufReader::new(File::open(archive).unwrap())).expect("an age file");
    let plain = dec
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .expect("the client identity opens the archive");
    let mut tar = tar::Archive::new(zstd::stream::read::Decoder::new(plain).unwrap());
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_overwrite(false);
    fs::create_dir(dest).unwrap();
    tar.unpack(dest).expect("the genuine archive unpacks");
}

/// Writes `archive` anew: the tar stream `fill` makes, compressed with zstd and encrypted to
/// the client, as `tar -cf - … | zstd | age -R client.recipients` would.
pub fn seal(archive: &Path, fill: impl FnOnce(&mut Tar<'_>)) {
    let recipient = client_recipient();
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .unwrap();
    let mut age_w = enc
        .wrap_output(BufWriter::new(File::create(archive).unwrap()))
        .unwrap();
    {
        let mut z = zstd::stream::write::Encoder::new(&mut age_w, 3).unwrap();
        {
            let mut t: Tar<'_> = tar::Builder::new(&mut z as &mut dyn Write);
            fill(&mut t);
            t.finish().unwrap();
        }
        z.finish().unwrap();
    }
    age_w.finish().unwrap().flush().unwrap();
}

/// Adds `dir` to the tar under `name`, recursively, in sorted order: folders, files with
/// their mode and mtime, symlinks as symlinks, and a second name of a file as a hard link to
/// the first (what GNU tar and Python's tarfile do).
pub fn append_tree(t: &mut Tar<'_>, dir: &Path, name: &Path) {
    fn walk(t: &mut Tar<'_>, src: &Path, name: &Path, seen: &mut Vec<((u64, u64), Vec<u8>)>) {
        let m = fs::symlink_metadata(src).unwrap();
        if m.is_file() && m.nlink() > 1 {
            let key = (m.dev(), m.ino());
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                let mut h = tar::Header::new_gnu();
                h.set_metadata(&m);
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                t.append_link(&mut h, name, std::ffi::OsStr::from_bytes(first))
                    .unwrap();
                return;
            }
            seen.push((key, name.as_os_str().as_bytes().to_vec()));
        }
        t.append_path_with_name(src, name).unwrap();
        if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(src)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            for n in names {
                walk(t, &src.join(&n), &name.join(&n), seen);
            }
        }
    }
    t.follow_symlinks(false);
    walk(t, dir, name, &mut Vec::new());
}

/// Unpacks `archive` into `work` (which must not exist), lets `change` edit the bag's top
/// folder `top`, and seals the edited bag back into `archive`: what someone who holds the
/// client's key but not the provider's signing key can do. The outer manifest and its
/// signature are left as they are, since they cannot be re-signed without that key.
pub fn repack(archive: &Path, work: &Path, top: &str, change: impl FnOnce(&Path)) {
    unpack(archive, work);
    let bag = work.join(top);
    change(&bag);
    seal(archive, |t| append_tree(t, &bag, Path::new(top)));
}

/// What a hand-made tar entry is.
#[derive(Clone, Copy)]
pub enum Raw<'a> {
    File(&'a [u8]),
    /// A file whose header declares `size` bytes and whose body is that many zeros, streamed
    /// (a decompression bomb needs no memory to make).
    Zeros(u64),
    Dir,
    Symlink(&'a [u8]),
    HardLink(&'a [u8]),
    CharDevice(u32, u32),
    Fifo,
}

/// Appends an entry named `name` (raw bytes, written as given: `..`, absolute paths and all,
/// which the tar crate's own path setters refuse) as GNU tar would, with `././@LongLink`
/// records for a name or link target over 100 bytes.
pub fn append_raw(t: &mut Tar<'_>, name: &[u8], entry: Raw<'_>) {
    use tar::EntryType as E;
    let (kind, link, size) = match entry {
        Raw::File(b) => (E::Regular, None, b.len() as u64),
        Raw::Zeros(n) => (E::Regular, None, n),
        Raw::Dir => (E::Directory, None, 0),
        Raw::Symlink(l) => (E::Symlink, Some(l), 0),
        Raw::HardLink(l) => (E::Link, Some(l), 0),
        Raw::CharDevice(..) => (E::Char, None, 0),
        Raw::Fifo => (E::Fifo, None, 0),
    };
    long_name_record(t, E::GNULongName, name);
    if let Some(l) = link {
        long_name_record(t, E::GNULongLink, l);
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind == E::Directory { 0o755 } else { 0o644 });
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    {
        let g = h.as_gnu_mut().unwrap();
        copy_truncated(&mut g.name, name);
        if let Some(l) = link {
            copy_truncated(&mut g.linkname, l);
        }
    }
    if let Raw::CharDevice(major, minor) = entry {
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
    }
    h.set_cksum();
    match entry {
        Raw::File(b) => t.append(&h, b).unwrap(),
        Raw::Zeros(n) => t.append(&h, io::repeat(0).take(n)).unwrap(),
        _ => t.append(&h, io::empty()).unwrap(),
    }
}

/// A GNU long-name (`L`) or long-link (`K`) record for `value`, when it does not fit the
/// header's 100-byte field.
fn long_name_record(t: &mut Tar<'_>, kind: tar::EntryType, value: &[u8]) {
    if value.len() <= 100 {
        return;
    }
    let mut h = tar::Header::new_gnu();
    copy_truncated(&mut h.as_gnu_mut().unwrap().name, b"././@LongLink");
    h.set_entry_type(kind);
    h.set_mode(0o644);
    let mut body = value.to_vec();
    body.push(0);
    h.set_size(body.len() as u64);
    h.set_cksum();
    t.append(&h, &body[..]).unwrap();
}

fn copy_truncated(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}
