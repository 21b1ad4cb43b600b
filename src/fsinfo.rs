//! What the kernel can tell us about where a file's bytes live, for deciding whether an
//! overwrite can reach them: the filesystem type (statfs magic), its mount and options
//! (`/proc/self/mountinfo`), whether its device is rotational (sysfs), whether a file's extents
//! are shared (FIEMAP) or its data is journalled (ext4 `chattr +j`), and the users' home
//! directories (`/etc/passwd`).
//!
//! Read-only: nothing here writes to a file or changes the filesystem.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

// Filesystem magic numbers, from include/uapi/linux/magic.h unless noted.
const EXT4_SUPER_MAGIC: i64 = 0xEF53; // shared by ext2, ext3 and ext4
const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
/// ZFS on Linux's `ZFS_SUPER_MAGIC` (include/sys/zfs_vfsops.h in openzfs; not in the kernel).
const ZFS_SUPER_MAGIC: i64 = 0x2FC1_2FC1;
const BCACHEFS_SUPER_MAGIC: i64 = 0xCA45_1A4E;
const F2FS_SUPER_MAGIC: i64 = 0xF2F5_2010;
const NILFS_SUPER_MAGIC: i64 = 0x3434;
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794C_7630;
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58F6;
const NFS_SUPER_MAGIC: i64 = 0x6969;
const SMB_SUPER_MAGIC: i64 = 0x517B;
const CIFS_SUPER_MAGIC: i64 = 0xFF53_4D42; // fs/smb/client/cifsglob.h
const SMB2_SUPER_MAGIC: i64 = 0xFE53_4D42; // fs/smb/client/cifsglob.h
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
const CEPH_SUPER_MAGIC: i64 = 0x00C3_6400;
const V9FS_MAGIC: i64 = 0x0102_1997;

/// How a filesystem stores rewritten data, which decides what an overwrite can achieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsClass {
    /// Rewrites a file's existing blocks in place (ext2/3/4, xfs).
    InPlace,
    /// Copy-on-write or log-structured: a rewrite goes to new blocks.
    CopyOnWrite,
    /// Stacked: the lower layers keep their copy.
    Overlay,
    /// Lives in memory (and swap).
    Memory,
    /// The bytes live on another machine.
    Network,
    /// A filesystem this tool does not know.
    Unknown,
}

/// One filesystem as seen from a path on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsInfo {
    /// `ext4`, `xfs`, `btrfs`, ... (from the statfs magic; `unknown (0x...)` otherwise).
    pub fs_type: String,
    pub class: FsClass,
    /// The mount point and source, from mountinfo (empty when not found).
    pub mount_point: PathBuf,
    pub source: String,
    /// `MAJ:MIN` of the filesystem's device.
    pub device: String,
    /// What sysfs says about the device; None when there is no block device or sysfs is silent.
    pub rotational: Option<bool>,
    /// ext3/ext4 mounted with `data=journal`: file data is written to the journal first.
    pub data_journal: bool,
    /// Filesystem block size (statfs f_bsize).
    pub block_size: u64,
}

fn fs_name(magic: i64) -> (&'static str, FsClass) {
    match magic {
        EXT4_SUPER_MAGIC => ("ext4", FsClass::InPlace),
        XFS_SUPER_MAGIC => ("xfs", FsClass::InPlace),
        BTRFS_SUPER_MAGIC => ("btrfs", FsClass::CopyOnWrite),
        ZFS_SUPER_MAGIC => ("zfs", FsClass::CopyOnWrite),
        BCACHEFS_SUPER_MAGIC => ("bcachefs", FsClass::CopyOnWrite),
        F2FS_SUPER_MAGIC => ("f2fs", FsClass::CopyOnWrite),
        NILFS_SUPER_MAGIC => ("nilfs2", FsClass::CopyOnWrite),
        OVERLAYFS_SUPER_MAGIC => ("overlay", FsClass::Overlay),
        TMPFS_MAGIC => ("tmpfs", FsClass::Memory),
        RAMFS_MAGIC => ("ramfs", FsClass::Memory),
        NFS_SUPER_MAGIC => ("nfs", FsClass::Network),
        SMB_SUPER_MAGIC => ("smb", FsClass::Network),
        CIFS_SUPER_MAGIC => ("cifs", FsClass::Network),
        SMB2_SUPER_MAGIC => ("smb2", FsClass::Network),
        FUSE_SUPER_MAGIC => ("fuse", FsClass::Network),
        CEPH_SUPER_MAGIC => ("ceph", FsClass::Network),
        V9FS_MAGIC => ("9p", FsClass::Network),
        _ => ("unknown", FsClass::Unknown),
    }
}

/// Describes the filesystem holding `dir` (a directory: statfs on it never follows a
/// final symlink of ours). `st_dev` is the device number seen by lstat for entries there.
pub fn describe(dir: &Path, st_dev: u64) -> std::io::Result<FsInfo> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("path contains a NUL byte"))?;
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated string and s a properly sized out-parameter.
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    let magic = s.f_type as i64;
    let (name, class) = fs_name(magic);
    let fs_type = if class == FsClass::Unknown {
        format!("unknown (0x{magic:X})")
    } else {
        name.to_string()
    };
    let (maj, min) = (libc::major(st_dev), libc::minor(st_dev));
    let mount = find_mount(dir);
    let data_journal = name == "ext4"
        && mount
            .as_ref()
            .is_some_and(|m| m.options.split(',').any(|o| o == "data=journal"));
    // Major 0 is the kernel's "unnamed" device (tmpfs, overlay, nfs, btrfs subvolumes):
    // there is no block device whose rotational flag would mean anything.
    let rotational = if maj == 0 { None } else { rotational(maj, min) };
    Ok(FsInfo {
        fs_type,
        class,
        mount_point: mount
            .as_ref()
            .map(|m| m.mount_point.clone())
            .unwrap_or_default(),
        source: mount.map(|m| m.source).unwrap_or_default(),
        device: format!("{maj}:{min}"),
        rotational,
        data_journal,
        block_size: s.f_bsize as u64,
    })
}

/// `/sys/dev/block/MAJ:MIN/queue/rotational`; a partition has no `queue/`, so its parent
/// (the whole disk, one directory up once the sysfs link is resolved) is asked instead.
fn rotational(maj: u32, min: u32) -> Option<bool> {
    let dev = PathBuf::from(format!("/sys/dev/block/{maj}:{min}"));
    let read = |p: &Path| -> Option<bool> {
        let t = std::fs::read_to_string(p.join("queue/rotational")).ok()?;
        Some(t.trim() == "1")
    };
    read(&dev).or_else(|| {
        let real = std::fs::canonicalize(&dev).ok()?;
        read(real.parent()?)
    })
}

/// One line of mountinfo.
struct Mount {
    mount_point: PathBuf,
    source: String,
    /// Per-mount and superblock options joined.
    options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Every mount point on the system (from `/proc/self/mountinfo`, see proc(5)).
pub fn mount_points() -> Vec<PathBuf> {
    mounts().into_iter().map(|m| m.mount_point).collect()
}

fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        // id parent maj:min root mount_point mount_opts [optional...] - fstype source super_opts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        use std::os::unix::ffi::OsStringExt;
        out.push(Mount {
            mount_point: PathBuf::from(std::ffi::OsString::from_vec(unescape(l[4]))),
            source: String::from_utf8_lossy(&unescape(r[1])).into_owned(),
            options: format!("{},{}", l[5], r[2]),
        });
    }
    out
}

/// The mount holding `path`: the longest mount point that is a prefix of it (later lines win
/// ties, as a later mount hides an earlier one on the same point).
fn find_mount(path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for m in mounts() {
        if path.starts_with(&m.mount_point)
            && best
                .as_ref()
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

/// `FS_IOC_GETFLAGS` = `_IOR('f', 1, long)` (include/uapi/linux/fs.h). The kernel reads and
/// writes an `int` despite the `long` in the definition (fs/ioctl.c), so a u32 is passed.
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
/// `FS_JOURNAL_DATA_FL` (`chattr +j`): ext3/ext4 journal this file's data.
const FS_JOURNAL_DATA_FL: u32 = 0x0000_4000;

/// Whether ext4 journals this file's data (`chattr +j`). False when the flag can't be read.
pub fn journals_data(f: &std::fs::File) -> bool {
    let mut flags: u32 = 0;
    // SAFETY: the fd is open and flags is a valid int-sized out-parameter for this ioctl.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS as _, &mut flags) };
    r == 0 && flags & FS_JOURNAL_DATA_FL != 0
}

/// `struct fiemap_extent` (include/uapi/linux/fiemap.h), 56 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    fe_logical: u64,
    fe_physical: u64,
    fe_length: u64,
    fe_reserved64: [u64; 2],
    fe_flags: u32,
    fe_reserved: [u32; 3],
}

/// How many extents one FIEMAP call returns; the loop asks again from the last one's end.
const FIEMAP_BATCH: usize = 32;

/// `struct fiemap` with room for [`FIEMAP_BATCH`] extents after its 32-byte header.
#[repr(C)]
struct Fiemap {
    fm_start: u64,
    fm_length: u64,
    fm_flags: u32,
    fm_mapped_extents: u32,
    fm_extent_count: u32,
    fm_reserved: u32,
    fm_extents: [FiemapExtent; FIEMAP_BATCH],
}

const _: () = assert!(std::mem::size_of::<FiemapExtent>() == 56);
const _: () = assert!(std::mem::offset_of!(Fiemap, fm_extents) == 32);

/// `FS_IOC_FIEMAP` = `_IOWR('f', 11, struct fiemap)`, the header being 32 bytes
/// (include/uapi/linux/fs.h).
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
/// Extent flags (include/uapi/linux/fiemap.h).
const FIEMAP_EXTENT_LAST: u32 = 0x0000_0001;
const FIEMAP_EXTENT_SHARED: u32 = 0x0000_2000;

/// Whether any extent of the file is shared with another file or a snapshot (reflink,
/// dedupe). `None` when the filesystem cannot say (FIEMAP unsupported).
pub fn has_shared_extents(f: &std::fs::File) -> Option<bool> {
    let mut start = 0u64;
    loop {
        let mut m = Fiemap {
            fm_start: start,
            fm_length: u64::MAX - start,
            // No FIEMAP_FLAG_SYNC: that would write dirty data, and planning writes nothing.
            fm_flags: 0,
            fm_mapped_extents: 0,
            fm_extent_count: FIEMAP_BATCH as u32,
            fm_reserved: 0,
            fm_extents: [FiemapExtent::default(); FIEMAP_BATCH],
        };
        // SAFETY: m is a correctly laid-out struct fiemap with fm_extent_count slots.
        let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP as _, &mut m) };
        if r != 0 {
            return None;
        }
        let n = (m.fm_mapped_extents as usize).min(FIEMAP_BATCH);
        if n == 0 {
            return Some(false);
        }
        for e in &m.fm_extents[..n] {
            if e.fe_flags & FIEMAP_EXTENT_SHARED != 0 {
                return Some(true);
            }
        }
        let last = m.fm_extents[n - 1];
        if last.fe_flags & FIEMAP_EXTENT_LAST != 0 || n < FIEMAP_BATCH {
            return Some(false);
        }
        start = last.fe_logical + last.fe_length;
    }
}

/// Every user's home directory (`/etc/passwd`), plus `$HOME`, with the user's name.
pub fn home_directories() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read("/etc/passwd") {
        for line in text.split(|&b| b == b'\n') {
            let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            if f.len() >= 7 && !f[5].is_empty() {
                out.push((
                    String::from_utf8_lossy(f[0]).into_owned(),
                    PathBuf::from(std::ffi::OsStr::from_bytes(f[5])),
                ));
            }
        }
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        out.push(("$HOME".into(), PathBuf::from(h)));
    }
    out
}

/// The login name of `uid` from `/etc/passwd`, if listed.
pub fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read("/etc/passwd").ok()?;
    text.split(|&b| b == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        (f.len() >= 3 && f[2] == uid.to_string().as_bytes())
            .then(|| String::from_utf8_lossy(f[0]).into_owned())
    })
}

/// The host name (uname nodename).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `Linux 6.x.y` (the kernel release), for the certificate.
pub fn os_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| "Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_decode() {
        assert_eq!(unescape(r"/mnt/a\040b\134c"), b"/mnt/a b\\c".to_vec());
        assert_eq!(unescape(r"/plain"), b"/plain".to_vec());
    }

    #[test]
    fn the_temp_dir_is_described() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let dev = std::fs::metadata(d.path()).unwrap().dev();
        let i = describe(d.path(), dev).unwrap();
        assert!(!i.fs_type.is_empty());
        assert!(i.block_size >= 512);
        // A file just written holds no shared extent (FIEMAP works on ext4, xfs, btrfs, tmpfs
        // reports unsupported).
        let p = d.path().join("f");
        std::fs::write(&p, vec![7u8; 100_000]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        assert_ne!(has_shared_extents(&f), Some(true));
        assert!(!journals_data(&f) || i.fs_type == "ext4");
    }
}
