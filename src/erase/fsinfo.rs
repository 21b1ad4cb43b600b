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
    /// The disk under the filesystem as sysfs describes it (None without a block device).
    /// Absent from job records written before it existed.
    #[serde(default)]
    pub disk: Option<DiskInfo>,
}

/// The reason a virtual disk's overwrite is never called Clear.
pub const VIRTUAL_DISK_REASON: &str = "virtual disk: the physical media are unknown";

/// What sysfs says about the disk (or, for a partition, the whole disk) holding a filesystem.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DiskInfo {
    /// The kernel's name for it: `sda`, `vda`, `nvme0n1`, `dm-0`.
    pub name: String,
    /// `device/vendor` and `device/model`, trimmed; None when sysfs has none.
    pub vendor: Option<String>,
    /// `device/model`, trimmed; None when sysfs has none.
    pub model: Option<String>,
    /// The drivers bound to the device and the buses above it, nearest first.
    pub drivers: Vec<String>,
    /// Why this is a virtual disk (a hypervisor's or cloud's block device), when it is.
    pub virtual_because: Option<String>,
}

impl DiskInfo {
    /// Whether the disk said who made it: a vendor or model string that is not empty.
    pub fn identified(&self) -> bool {
        self.vendor.is_some() || self.model.is_some()
    }
}

impl FsInfo {
    /// Why an in-place overwrite on this filesystem's device cannot be called Clear, beyond
    /// what the rotational flag says: a virtual disk (its `rotational` is only the
    /// hypervisor's default), or a rotational disk that did not say what it is. None when the
    /// device is either a physical disk whose identity was read or not rotational at all.
    pub fn media_caveat(&self) -> Option<String> {
        match (&self.disk, self.rotational) {
            (Some(d), _) if d.virtual_because.is_some() => Some(VIRTUAL_DISK_REASON.into()),
            (Some(d), Some(true)) if d.identified() => None,
            (_, Some(true)) => Some("the disk's vendor and model could not be read (a logical device such as loop, device-mapper or RAID, or a driver that does not say), so it cannot be shown to be a physical rotational disk".into()),
            _ => None,
        }
    }
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
    let disk = if maj == 0 {
        None
    } else {
        classify_disk(Path::new("/sys"), maj, min)
    };
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
        disk,
    })
}

/// Drivers of hypervisors' and clouds' paravirtual block and SCSI devices: virtio, Xen's
/// blkfront (bound as `vbd`), Hyper-V's storvsc, VMware's pvscsi.
const VIRTUAL_DRIVERS: &[&str] = &[
    "virtio_blk",
    "virtio_scsi",
    "virtio-pci",
    "virtio_pci",
    "vbd",
    "xen-blkfront",
    "xen_blkfront",
    "hv_storvsc",
    "storvsc",
    "vmw_pvscsi",
];

/// Vendor or model strings of emulated and cloud disks (matched case-insensitively as
/// substrings): QEMU/KVM, VirtualBox, VMware, Hyper-V/Azure (`Msft` `Virtual Disk`), Amazon
/// EBS (NVMe), Google Persistent Disk (SCSI `PersistentDisk`, NVMe `nvme_card-pd`), Xen.
const VIRTUAL_MODELS: &[&str] = &[
    "qemu",
    "vbox",
    "virtualbox",
    "vmware",
    "virtual disk",
    "virtual nvme",
    "msft",
    "amazon elastic block store",
    "persistentdisk",
    "nvme_card",
    "google",
    "xen",
];

/// Describes the disk behind block device `maj:min` from a sysfs tree at `sys` (the real one
/// is `/sys`; tests give a fake one). A partition is described by its whole disk, and a
/// device-mapper or RAID device by the disks under it (`slaves/`). None when sysfs does not
/// know the device.
pub fn classify_disk(sys: &Path, maj: u32, min: u32) -> Option<DiskInfo> {
    let real = std::fs::canonicalize(sys.join(format!("dev/block/{maj}:{min}"))).ok()?;
    // A partition has no `device` link of its own; its directory sits inside the disk's.
    let disk = if real.join("device").exists() || real.join("slaves").is_dir() {
        real
    } else {
        match real.parent() {
            Some(p) if p.join("device").exists() => p.to_path_buf(),
            _ => real,
        }
    };
    Some(describe_disk(&disk, 0))
}

fn describe_disk(disk: &Path, depth: u32) -> DiskInfo {
    let name = disk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dev = disk.join("device");
    let read = |f: &str| {
        std::fs::read_to_string(dev.join(f))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut d = DiskInfo {
        name: name.clone(),
        vendor: read("vendor"),
        model: read("model"),
        drivers: drivers_above(&dev),
        virtual_because: None,
    };
    d.virtual_because = if name.starts_with("vd") || name.starts_with("xvd") {
        Some(format!(
            "the disk is named {name}, as virtio and Xen disks are"
        ))
    } else if let Some(v) = d
        .drivers
        .iter()
        .find(|v| VIRTUAL_DRIVERS.contains(&v.as_str()))
    {
        Some(format!("driver {v}"))
    } else {
        let ident = format!(
            "{} {}",
            d.vendor.as_deref().unwrap_or(""),
            d.model.as_deref().unwrap_or("")
        );
        let low = ident.to_ascii_lowercase();
        VIRTUAL_MODELS
            .iter()
            .any(|m| low.contains(m))
            .then(|| format!("vendor and model {:?}", ident.trim()))
    };
    // A device-mapper or RAID device: its media are those of the disks under it. It counts
    // as identified only if every one of them is, and as virtual if any one is.
    let slaves: Vec<PathBuf> = std::fs::read_dir(disk.join("slaves"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    if d.virtual_because.is_none() && !slaves.is_empty() && depth < 8 {
        let under: Vec<DiskInfo> = slaves
            .iter()
            .filter_map(|s| std::fs::canonicalize(s).ok())
            .map(|s| {
                let whole = match s.parent() {
                    Some(p) if !s.join("device").exists() && p.join("device").exists() => {
                        p.to_path_buf()
                    }
                    _ => s,
                };
                describe_disk(&whole, depth + 1)
            })
            .collect();
        if let Some(v) = under.iter().find(|u| u.virtual_because.is_some()) {
            d.virtual_because = Some(format!(
                "{} under {name}: {}",
                v.name,
                v.virtual_because.as_deref().unwrap_or("")
            ));
        } else if !under.is_empty() && under.iter().all(DiskInfo::identified) {
            d.vendor = under[0].vendor.clone();
            d.model = under[0].model.clone();
        }
    }
    d
}

/// The `driver` links of a device and every device above it in sysfs, nearest first
/// (a SCSI disk's own driver is `sd`; its host adapter's, further up, says whose it is).
fn drivers_above(dev: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(mut cur) = std::fs::canonicalize(dev) else {
        return out;
    };
    for _ in 0..16 {
        if let Ok(t) = std::fs::read_link(cur.join("driver"))
            && let Some(n) = t.file_name()
        {
            out.push(n.to_string_lossy().into_owned());
        }
        match cur.parent() {
            Some(p) if p.file_name().is_some_and(|n| n != "devices") => cur = p.to_path_buf(),
            _ => break,
        }
    }
    out
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

    /// A fake sysfs: `disks` are (maj:min, device path under devices/, disk name, partition),
    /// with files and driver links written by the caller.
    struct FakeSys(tempfile::TempDir);

    impl FakeSys {
        fn new() -> FakeSys {
            let t = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(t.path().join("dev/block")).unwrap();
            FakeSys(t)
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.0.path().join(rel)
        }
        /// A disk directory `devices/DEV/block/NAME` whose `device` link is `devices/DEV`.
        fn disk(&self, majmin: &str, dev: &str, name: &str) -> PathBuf {
            let d = self.p(&format!("devices/{dev}/block/{name}"));
            std::fs::create_dir_all(d.join("queue")).unwrap();
            std::fs::write(d.join("queue/rotational"), "1\n").unwrap();
            std::os::unix::fs::symlink(self.p(&format!("devices/{dev}")), d.join("device"))
                .unwrap();
            std::os::unix::fs::symlink(&d, self.p(&format!("dev/block/{majmin}"))).unwrap();
            d
        }
        fn partition(&self, majmin: &str, disk: &Path, name: &str) {
            std::fs::create_dir_all(disk.join(name)).unwrap();
            std::os::unix::fs::symlink(disk.join(name), self.p(&format!("dev/block/{majmin}")))
                .unwrap();
        }
        fn driver(&self, dev: &str, driver: &str) {
            let target = self.p(&format!("bus/x/drivers/{driver}"));
            std::fs::create_dir_all(&target).unwrap();
            std::os::unix::fs::symlink(target, self.p(&format!("devices/{dev}/driver"))).unwrap();
        }
        fn file(&self, rel: &str, text: &str) {
            std::fs::write(self.p(&format!("devices/{rel}")), text).unwrap();
        }
        fn info(&self, maj: u32, min: u32) -> FsInfo {
            FsInfo {
                fs_type: "ext4".into(),
                class: FsClass::InPlace,
                mount_point: "/".into(),
                source: String::new(),
                device: format!("{maj}:{min}"),
                rotational: Some(true),
                data_journal: false,
                block_size: 4096,
                disk: classify_disk(self.0.path(), maj, min),
            }
        }
    }

    #[test]
    fn virtual_disks_get_no_clear_and_a_named_physical_disk_does() {
        let s = FakeSys::new();
        // virtio_blk, as on a KVM guest: rotational=1 is only the virtio default, and the
        // PCI vendor id 0x1af4 reads as a vendor.
        let vda = s.disk("254:0", "pci0000:00/0000:00:02.0/virtio1", "vda");
        s.file("pci0000:00/0000:00:02.0/virtio1/vendor", "0x1af4\n");
        s.driver("pci0000:00/0000:00:02.0/virtio1", "virtio_blk");
        s.partition("254:1", &vda, "vda1");
        // Xen blkfront.
        s.disk("202:0", "vbd-51712", "xvda");
        s.driver("vbd-51712", "vbd");
        // Amazon EBS over NVMe: the nvme driver itself says nothing, the model does.
        let nvme = s.disk("259:0", "pci0000:00/0000:00:04.0/nvme/nvme0", "nvme0n1");
        s.file(
            "pci0000:00/0000:00:04.0/nvme/nvme0/model",
            "Amazon Elastic Block Store              \n",
        );
        s.driver("pci0000:00/0000:00:04.0", "nvme");
        s.partition("259:1", &nvme, "nvme0n1p1");
        // Hyper-V / Azure: a SCSI disk named sda whose host adapter is storvsc.
        let hv = "LNXSYSTM:00/VMBUS:00/f8b3781a/host0/target0:0:0/0:0:0:0";
        s.disk("8:16", hv, "sdb");
        s.file(&format!("{hv}/vendor"), "Msft    \n");
        s.file(&format!("{hv}/model"), "Virtual Disk    \n");
        s.driver(hv, "sd");
        s.driver("LNXSYSTM:00/VMBUS:00/f8b3781a", "hv_storvsc");
        // A physical SATA disk behind AHCI.
        let sata = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
        let sda = s.disk("8:0", sata, "sda");
        s.file(&format!("{sata}/vendor"), "ATA     \n");
        s.file(&format!("{sata}/model"), "ST1000DM003-1CH1\n");
        s.driver(sata, "sd");
        s.driver("pci0000:00/0000:00:1f.2", "ahci");
        s.partition("8:1", &sda, "sda1");
        // A loop device: no device link, nothing identifies its media.
        let lo = s.p("devices/virtual/block/loop0");
        std::fs::create_dir_all(&lo).unwrap();
        std::os::unix::fs::symlink(&lo, s.p("dev/block/7:0")).unwrap();

        for (maj, min, name) in [
            (254, 0, "vda"),
            (254, 1, "vda"),
            (202, 0, "xvda"),
            (259, 0, "nvme0n1"),
            (259, 1, "nvme0n1"),
            (8, 16, "sdb"),
        ] {
            let i = s.info(maj, min);
            let d = i.disk.as_ref().unwrap();
            assert_eq!(d.name, name);
            assert!(d.virtual_because.is_some(), "{maj}:{min} {d:?}");
            assert_eq!(
                i.media_caveat().as_deref(),
                Some(VIRTUAL_DISK_REASON),
                "{d:?}"
            );
        }
        let nv = s.info(259, 1).disk.unwrap();
        assert!(
            nv.virtual_because
                .unwrap()
                .contains("Amazon Elastic Block Store")
        );
        assert_eq!(
            s.info(202, 0).disk.unwrap().virtual_because.as_deref(),
            Some("the disk is named xvda, as virtio and Xen disks are")
        );
        assert!(
            s.info(8, 16)
                .disk
                .unwrap()
                .drivers
                .contains(&"hv_storvsc".to_string())
        );

        for min in [0, 1] {
            let i = s.info(8, min);
            let d = i.disk.as_ref().unwrap();
            assert_eq!(
                (d.name.as_str(), d.vendor.as_deref(), d.model.as_deref()),
                ("sda", Some("ATA"), Some("ST1000DM003-1CH1"))
            );
            assert_eq!(d.virtual_because, None, "{d:?}");
            assert_eq!(
                i.media_caveat(),
                None,
                "a named rotational SATA disk keeps Clear"
            );
            // The same disk reporting itself non-rotational (an SSD) has no media caveat of
            // its own: the rotational rule decides.
            let mut ssd = i.clone();
            ssd.rotational = Some(false);
            assert_eq!(ssd.media_caveat(), None);
        }
        let lo = s.info(7, 0);
        assert!(!lo.disk.as_ref().unwrap().identified());
        assert!(
            lo.media_caveat()
                .unwrap()
                .contains("vendor and model could not be read")
        );
        assert_eq!(classify_disk(s.0.path(), 9, 9), None);
    }

    /// On this machine's own root disk: a virtio disk (vd*) must get the virtual-disk reason.
    #[test]
    fn this_machines_root_disk_is_classified() {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata("/").unwrap().dev();
        let i = describe(Path::new("/"), dev).unwrap();
        eprintln!("/ is on {:?}", i.disk);
        if let Some(d) = &i.disk
            && (d.name.starts_with("vd") || d.drivers.iter().any(|x| x == "virtio_blk"))
        {
            assert_eq!(i.media_caveat().as_deref(), Some(VIRTUAL_DISK_REASON));
        }
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
