//! The home folder (state database and keys) and atomic file writing.
//!
//! Every output of the tool appears under its final name only when complete: it is written
//! to a temporary file in the same directory, synced, then renamed without replacing
//! anything, and the directory is synced. A dropped temporary file deletes itself.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode of secret key files: owner read/write only, like ssh and age-keygen do.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public outputs (manifests, signatures, public keys).
pub const PUBLIC_MODE: u32 = 0o644;

/// The resolved home folder.
#[derive(Debug, Clone)]
pub struct Home {
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
pub struct PendingFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl PendingFile {
    /// Starts a temporary file in `dest`'s directory with the given mode.
    pub fn create(dest: &Path, mode: u32) -> io::Result<PendingFile> {
        let dir = parent_dir(dest);
        let name = dest.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(&name);
        prefix.push(".tmp-");
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)?;
        // The umask may have narrowed the mode given at creation; set it exactly.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))?;
        Ok(PendingFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The open file.
    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_file_mut()
    }

    /// Final name this file will get.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Syncs the data, then renames to the final name, refusing to replace an existing file.
    pub fn commit(self) -> io::Result<PathBuf> {
        self.tmp.as_file().sync_all()?;
        let dest = self.dest;
        self.tmp.persist_noclobber(&dest).map_err(|e| e.error)?;
        sync_dir(parent_dir(&dest))?;
        Ok(dest)
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
