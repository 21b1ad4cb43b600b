//! BagIt (RFC 8493) and the GNU coreutils `SHA256SUMS` form: the text of the tag files
//! inside every archive, so that `bagit.py validate` and `sha256sum -c` check a handover
//! without this tool.
//!
//! Owns the tag files' names, the path encoding, and the line formats both ways (export writes
//! them, verify parses them back), and nothing else: it does no I/O, and it must not know about
//! archives, encryption or the state database.

/// `bagit.txt`: the BagIt version and the tag files' encoding.
pub const BAGIT_TXT: &str = "bagit.txt";
/// `bag-info.txt`: Payload-Oxum, the handover id and the receipt code ([`BagInfoFields`]).
pub const BAG_INFO: &str = "bag-info.txt";
/// The BagIt payload manifest, one [`bagit_line`] per file.
pub const MANIFEST: &str = "manifest-sha256.txt";
/// The same hashes for `sha256sum -c`, one [`sha256sums_line`] per file.
pub const SHA256SUMS: &str = "SHA256SUMS";
/// Every symlink and its target, one [`symlink_line`] each (BagIt manifests list files only).
pub const SYMLINKS: &str = "symlinks.txt";
/// The hashes of the tag files above, one [`bagit_line`] each.
pub const TAGMANIFEST: &str = "tagmanifest-sha256.txt";
/// The provider's minisign signature of the tag manifest.
pub const TAGMANIFEST_SIG: &str = "tagmanifest-sha256.txt.minisig";

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

/// The fields of `bag-info.txt`.
pub struct BagInfoFields<'a> {
    /// The version of handover that made the bag.
    pub version: &'a str,
    /// When the handover was made (RFC 3339, UTC); its date is the Bagging-Date.
    pub created_at: &'a str,
    /// The payload's bytes: Payload-Oxum's octet count.
    pub bytes: u64,
    /// The payload's files: Payload-Oxum's stream count.
    pub files: u64,
    /// The handover id: the External-Identifier.
    pub handover_id: &'a str,
    /// The client's name.
    pub client: &'a str,
    /// The key id of the provider's signing key.
    pub signer_key_id: &'a str,
    /// The code the client sends back as proof of receipt.
    pub receipt_code: &'a str,
}

impl BagInfoFields<'_> {
    /// The text of `bag-info.txt`, one `Label: value` line per field, in this fixed order.
    pub fn text(&self) -> String {
        format!(
            "Bag-Software-Agent: handover {}\nBagging-Date: {}\nPayload-Oxum: {}.{}\nExternal-Identifier: {}\nHandover-Client: {}\nHandover-Created: {}\nHandover-Signer-Key-Id: {}\nHandover-Receipt-Code: {}\n",
            self.version,
            &self.created_at[..10],
            self.bytes,
            self.files,
            self.handover_id,
            self.client,
            self.created_at,
            self.signer_key_id,
            self.receipt_code,
        )
    }
}

/// The value of the first `label: value` line of a `bag-info.txt` text, trimmed.
pub fn bag_info_field(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(label)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Parses one line of a BagIt manifest (`HASH  PATH`, the line break removed): the SHA-256
/// and the decoded path, or None when it is not such a line.
pub fn parse_bagit_line(line: &[u8]) -> Option<([u8; 32], Vec<u8>)> {
    let l = std::str::from_utf8(line).ok()?;
    let (h, rest) = l.split_once(char::is_whitespace)?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(h, &mut hash).ok()?;
    Some((hash, bagit_decode(rest.trim_start())?))
}

/// Parses one line of `symlinks.txt` (`data/LINK<TAB>TARGET`, the line break removed): the
/// decoded link and target, or None when it is not such a line.
pub fn parse_symlink_line(line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (a, b) = std::str::from_utf8(line).ok()?.split_once('\t')?;
    Some((bagit_decode(a)?, bagit_decode(b)?))
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

    /// What the writers write, the parsers read back: odd bytes, tabs, percent signs.
    #[test]
    fn lines_round_trip() {
        let h = "ab".repeat(32);
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&h, &mut hash).unwrap();
        for p in [
            &b"data/plain.txt"[..],
            b"data/a b\tc%d\ne\rf\xff.txt",
            b"data/ leading space",
        ] {
            let line = bagit_line(&h, p);
            let line = line.strip_suffix('\n').unwrap();
            assert_eq!(parse_bagit_line(line.as_bytes()), Some((hash, p.to_vec())));
            let target = [b"../x\t".as_slice(), p].concat();
            let line = symlink_line(p, &target);
            let line = line.strip_suffix('\n').unwrap();
            assert_eq!(
                parse_symlink_line(line.as_bytes()),
                Some((p.to_vec(), target))
            );
        }
        assert_eq!(parse_bagit_line(b"not-hex  data/x"), None);
        assert_eq!(parse_symlink_line(b"no tab here"), None);
    }

    #[test]
    fn bag_info_fields_read_back() {
        let text = BagInfoFields {
            version: "1.2.3",
            created_at: "2026-12-02T09:30:00Z",
            bytes: 42,
            files: 3,
            handover_id: "7f3c",
            client: "acme",
            signer_key_id: "ABCDEF0123456789",
            receipt_code: "7K2M-9QXP-4HRT-B0CW-ZN3E",
        }
        .text();
        let field = |l| bag_info_field(&text, l);
        assert_eq!(field("Bagging-Date").as_deref(), Some("2026-12-02"));
        assert_eq!(field("Payload-Oxum").as_deref(), Some("42.3"));
        assert_eq!(field("External-Identifier").as_deref(), Some("7f3c"));
        assert_eq!(
            field("Handover-Receipt-Code").as_deref(),
            Some("7K2M-9QXP-4HRT-B0CW-ZN3E")
        );
        assert_eq!(field("Nothing"), None);
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
