//! BagIt (RFC 8493) and the GNU coreutils `SHA256SUMS` form: the text of the tag files
//! inside every archive, so that `bagit.py validate` and `sha256sum -c` check a handover
//! without this tool.
//!
//! Owns the path encoding and the line formats, and nothing else: it does no I/O, and it must
//! not know about archives, encryption or the state database.

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
