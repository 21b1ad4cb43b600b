//! The home folder (state database and keys) and atomic file writing.
//!
//! Every output of the tool appears under its final name only when complete: it is written
//! to a temporary file in the same directory, synced, then renamed without replacing
//! anything, and the directory is synced. A dropped temporary file deletes itself.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of secret key files: owner read/write only, like ssh and age-keygen do.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public outputs (manifests, signatures, public keys).
pub const PUBLIC_MODE: u32 = 0o644;

/// The resolved home folder.
#[derive(Debug, Clone)]
pub struct Home {
    /// The folder: the state database (`state.db`), the keys and, by default, `shred` certificates.
    pub dir: PathBuf,
}

impl Home {
    /// `--home DIR`, else `HANDOVER_HOME`, else `$XDG_DATA_HOME/handover`, else
    /// `~/.local/share/handover`. The folder is not created here.
    pub fn resolve(explicit: Option<PathBuf>) -> Home {
        let from_env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = explicit
            .or_else(|| from_env("HANDOVER_HOME"))
            .or_else(|| from_env("XDG_DATA_HOME").map(|d| d.join("handover")))
            .or_else(|| from_env("HOME").map(|h| h.join(".local/share/handover")))
            .unwrap_or_else(|| PathBuf::from(".handover"));
        Home { dir }
    }

    /// Creates the folder (mode 0700: it holds the signing key) if it does not exist.
    pub fn ensure(&self) -> io::Result<()> {
        if !self.dir.is_dir() {
            fs::create_dir_all(&self.dir)?;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The provider's minisign secret key.
    pub fn secret_key(&self) -> PathBuf {
        self.dir.join("handover.key")
    }
    /// The provider's minisign public key.
    pub fn public_key(&self) -> PathBuf {
        self.dir.join("handover.pub")
    }
    /// The SQLite state database.
    pub fn database(&self) -> PathBuf {
        self.dir.join("state.db")
    }
}

/// A file being written under a temporary name beside its final one.
///
/// The temporary name (`.NAME.tmp-RANDOM`) can be chosen before the file exists
/// ([`PendingFile::temp_name`]), so that a caller can record it first (export does, in the
/// state database: a killed export's temp is then found and shredded by the next one).
pub struct PendingFile {
    file: fs::File,
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// A new random temporary name beside `dest`: `.NAME.tmp-` and 64 random bits in hex.
    pub fn temp_name(dest: &Path) -> PathBuf {
        let mut name = std::ffi::OsString::from(".");
        name.push(dest.file_name().unwrap_or_default());
        name.push(".tmp-");
        name.push(crate::util::random_hex(8));
        parent_dir(dest).join(name)
    }

    /// Starts a temporary file in `dest`'s directory with the given mode.
    pub fn create(dest: &Path, mode: u32) -> io::Result<PendingFile> {
        PendingFile::create_at(dest, PendingFile::temp_name(dest), mode)
    }

    /// Starts the temporary file `tmp` (a [`PendingFile::temp_name`] of `dest`) with the given
    /// mode. It is created new: never follows a symlink, never opens an existing file.
    pub fn create_at(dest: &Path, tmp: PathBuf, mode: u32) -> io::Result<PendingFile> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        let p = PendingFile {
            file,
            tmp,
            dest: dest.to_path_buf(),
            committed: false,
        };
        // The umask may have narrowed the mode given at creation; set it exactly.
        p.file.set_permissions(fs::Permissions::from_mode(mode))?;
        Ok(p)
    }

    /// The open file.
    pub fn file(&mut self) -> &mut fs::File {
        &mut self.file
    }

    /// Syncs the data, then renames to the final name, refusing to replace an existing file.
    /// Where the filesystem refuses `RENAME_NOREPLACE` (FUSE, NFS, SMB), the file is linked
    /// under its final name and the temporary name unlinked (`util::rename_noreplace`).
    pub fn commit(mut self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        crate::util::rename_noreplace(&self.tmp, &self.dest)?;
        self.committed = true;
        sync_dir(parent_dir(&self.dest))?;
        Ok(self.dest.clone())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically with `mode`; fails if `dest` exists.
pub fn write_new(dest: &Path, bytes: &[u8], mode: u32) -> io::Result<PathBuf> {
    let mut p = PendingFile::create(dest, mode)?;
    p.file().write_all(bytes)?;
    p.commit()
}

/// The directory a path lives in (`.` for a bare name).
pub fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsync a directory so that a rename or unlink in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
