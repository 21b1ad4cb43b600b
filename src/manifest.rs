//! The manifests: the signed outer manifest (JSON, beside the archive) and the text forms of
//! the tag files inside the bag (BagIt RFC 8493 and GNU coreutils `SHA256SUMS`).
//!
//! The outer manifest names no file of the client: names are sensitive and stay inside the
//! encryption. Paths here are raw bytes, because that is what a Unix file name is.

use serde::{Deserialize, Serialize};

/// The format tag of the outer manifest.
pub const FORMAT: &str = "handover-manifest/1";

/// The signed outer manifest, `NAME.manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub handover_id: String,
    pub client: String,
    pub name: String,
    pub created_at: String,
    pub tool: Tool,
    pub signer: SignerInfo,
    pub recipients: Vec<String>,
    pub archive: ArchiveInfo,
    pub payload: PayloadInfo,
    pub bag: BagInfo,
    pub compression: Compression,
    pub encryption: String,
    pub receipt_code_sha256: String,
    /// The provider's audit log as it stood when this handover was made: an anchor outside
    /// the database (`handover audit verify --against NAME.manifest.json`). Absent on an empty
    /// log and on manifests made before checkpoints existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<crate::audit::Checkpoint>,
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
    pub name: String,
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
    pub file_name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What the bag's payload (`data/`) holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PayloadInfo {
    /// Regular files, hard-linked names included (each is listed in the manifests).
    pub files: u64,
    pub directories: u64,
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
    pub algorithm: String,
    pub level: i32,
    pub workers: u32,
    pub window_log_max: u32,
    pub frame_checksum: bool,
}

/// Percent-encodes a path for a BagIt manifest line (RFC 8493 §2.1.3): `%`, CR and LF, and,
/// so that nothing is lost, every byte that is not part of valid UTF-8.
pub fn bagit_encode(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '%' => out.push_str("%25"),
                '\r' => out.push_str("%0D"),
                '\n' => out.push_str("%0A"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`bagit_encode`] (any `%XX` is decoded, as a lossless reader must).
pub fn bagit_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// One line of a BagIt manifest: `HASH  data/PATH\n`.
pub fn bagit_line(hash_hex: &str, bag_path: &[u8]) -> String {
    format!("{hash_hex}  {}\n", bagit_encode(bag_path))
}

/// One line in GNU coreutils `sha256sum` form. A name holding `\`, LF or CR is escaped the way
/// coreutils 9 does it (`\\`, `\n`, `\r`) and the line starts with a backslash, so
/// `sha256sum -c` reads it back; other bytes, non-UTF-8 ones included, are written raw.
pub fn sha256sums_line(hash_hex: &str, path: &[u8]) -> Vec<u8> {
    let needs = path.iter().any(|&b| b == b'\\' || b == b'\n' || b == b'\r');
    let mut out = Vec::with_capacity(path.len() + 68);
    if needs {
        out.push(b'\\');
    }
    out.extend_from_slice(hash_hex.as_bytes());
    out.extend_from_slice(b"  ");
    for &b in path {
        match b {
            b'\\' if needs => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

/// One line of `symlinks.txt`: `data/LINK<TAB>TARGET\n`, both percent-encoded like BagIt
/// paths, with TAB encoded too (`%09`) so the separator is unambiguous.
pub fn symlink_line(bag_path: &[u8], target: &[u8]) -> String {
    let enc = |p: &[u8]| bagit_encode(p).replace('\t', "%09");
    format!("{}\t{}\n", enc(bag_path), enc(target))
}

/// `bagit.txt`.
pub fn bagit_txt() -> &'static str {
    "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bagit_encoding_round_trips_odd_bytes() {
        let p = b"data/a%b\nc\rd\xff\xfe\xc3\xa9.txt";
        let e = bagit_encode(p);
        assert_eq!(e, "data/a%25b%0Ac%0Dd%FF%FEé.txt");
        assert_eq!(bagit_decode(&e).unwrap(), p.to_vec());
    }

    #[test]
    fn sha256sums_escapes_like_coreutils() {
        let h = "0".repeat(64);
        assert_eq!(
            sha256sums_line(&h, b"data/a\\b"),
            format!("\\{h}  data/a\\\\b\n").into_bytes()
        );
        assert_eq!(
            sha256sums_line(&h, b"data/e\nf"),
            format!("\\{h}  data/e\\nf\n").into_bytes()
        );
        assert_eq!(
            sha256sums_line(&h, b"data/plain \xff"),
            [format!("{h}  data/plain ").as_bytes(), b"\xff\n"].concat()
        );
    }
}
