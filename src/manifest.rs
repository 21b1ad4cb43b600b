//! The signed outer manifest (JSON, beside the archive): what was exported, by whom, to
//! which recipients, and the hashes that tie the archive to the bag inside it. Written by
//! `pack`, read by `receive`, `erase` (certificates) and `ledger` (evidence). The text forms of
//! the tag files inside the bag live in `bag`.
//!
//! The outer manifest names no file of the client: names are sensitive and stay inside the
//! encryption. Paths here are raw bytes, because that is what a Unix file name is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format tag of the outer manifest.
pub const FORMAT: &str = "handover-manifest/1";

/// The detached minisign signature beside a file, `FILE.minisig`: where `minisign -V` looks for
/// it by default, and where the manifest's and a receipt's signatures are written and read.
pub fn sig_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// The signed outer manifest, `NAME.manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The format tag, [`FORMAT`].
    pub format: String,
    /// The handover's id (32 hex digits).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name: the outputs are `NAME.tar.zst.age` and `NAME.manifest.json`.
    pub name: String,
    /// When it was made (UTC, RFC 3339).
    pub created_at: String,
    /// The program that made it.
    pub tool: Tool,
    /// The provider's signing key.
    pub signer: SignerInfo,
    /// The age recipients the archive is encrypted to, in canonical form.
    pub recipients: Vec<String>,
    /// The encrypted archive.
    pub archive: ArchiveInfo,
    /// What the payload holds.
    pub payload: PayloadInfo,
    /// The bag inside the archive.
    pub bag: BagInfo,
    /// How the tar stream was compressed.
    pub compression: Compression,
    /// The encryption format: `age-encryption.org/v1`.
    pub encryption: String,
    /// SHA-256 of the receipt code in `bag-info.txt`: the code itself stays inside the encryption.
    pub receipt_code_sha256: String,
    /// The provider's audit log as it stood when this handover was made: an anchor outside
    /// the database (`handover audit verify --against NAME.manifest.json`). Absent on an empty
    /// log and on manifests made before checkpoints existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<Checkpoint>,
    /// The client's public signing key, bound at export (`export --client-key`): `confirm`
    /// then accepts a signed receipt only from this key. Absent when none was bound, and in
    /// manifests written before it existed, which stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<ClientKeyInfo>,
}

/// The client's public signing key, as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientKeyInfo {
    /// `minisign` or `ssh-ed25519`.
    pub kind: String,
    /// `RW...` (minisign), or `ssh-ed25519 AAAA...` (OpenSSH, without its comment).
    pub public_key: String,
    /// The minisign key id, or the SSH fingerprint (`SHA256:...`).
    pub key_id: String,
}

/// The program that made the handover.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    /// `handover`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Who signed the manifest and the bag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignerInfo {
    /// The minisign public key, base64 (`RW...`).
    pub public_key: String,
    /// The minisign key id, as `minisign` prints it.
    pub key_id: String,
}

/// The encrypted archive file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArchiveInfo {
    /// The archive's file name, beside the manifest.
    pub file_name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// What the bag's payload (`data/`) holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PayloadInfo {
    /// Regular files, hard-linked names included (each is listed in the manifests).
    pub files: u64,
    /// Directories below `data/`.
    pub directories: u64,
    /// Symlinks, stored as symlinks and listed in `symlinks.txt`.
    pub symlinks: u64,
    /// Names stored as tar hard links to an earlier name of the same file.
    pub hard_links: u64,
    /// Sum of the file sizes (the octet count of Payload-Oxum).
    pub bytes: u64,
}

/// The bag inside the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BagInfo {
    /// The bag's top folder name inside the tar.
    pub top_folder: String,
    /// SHA-256 of `tagmanifest-sha256.txt`.
    pub tagmanifest_sha256: String,
}

/// How the tar stream was compressed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Compression {
    /// `zstd`.
    pub algorithm: String,
    /// The zstd level (1–22).
    pub level: i32,
    /// Worker threads the encoder used (one per core).
    pub workers: u32,
    /// The largest window, as a power of two, so that plain `zstd -d` reads it.
    pub window_log_max: u32,
    /// Whether each frame carries zstd's checksum (always).
    pub frame_checksum: bool,
}

/// A point of the audit log, carried by the documents that leave the database (manifest,
/// receipt, certificate, evidence pack): the row number, its chain hash, and the audit key's
/// signature over both. Whoever holds such a document can later check that the database still
/// has that row with that hash (`audit verify --against FILE`), so a rollback or a rewrite
/// before that point cannot go unseen by them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The audit row this point is at.
    pub seq: i64,
    /// That row's chain hash.
    pub hash: String,
    /// Minisign signature of `handover-audit-head\nseq=SEQ\nhash=HASH\n` by the audit key.
    pub signature: String,
    /// The audit key's id.
    pub key_id: String,
}
