//! The client's public signing key: bound at export (`export --client-key`, recorded in the
//! signed manifest) and used by `confirm` to check a signed receipt. Two kinds are accepted:
//!
//! - a minisign public key (the client makes one with `handover keygen`, and signs the receipt
//!   with `handover verify ... --receipt receipt.json --sign-receipt KEY`, which writes
//!   `receipt.json.minisig`);
//! - an OpenSSH ed25519 public key (`ssh-ed25519 AAAA...`), so that a client whose age
//!   recipient is already an ssh-ed25519 key needs no new key. The client signs with
//!   `ssh-keygen -Y sign -n handover-receipt -f KEY receipt.json` (writes `receipt.json.sig`).
//!   `confirm` checks it with `ssh-keygen -Y verify`, OpenSSH's own implementation of the
//!   SSHSIG format, rather than with a second implementation of ours; it only parses the
//!   signature far enough to name the key that made it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use minisign::{PublicKey, PublicKeyBox};
use sha2::{Digest, Sha256};

use crate::error::KeyError;
use crate::keys::signing::{self, SigProblem};
use crate::manifest::ClientKeyInfo;

/// The SSHSIG namespace a receipt is signed in (`ssh-keygen -Y sign -n handover-receipt`): a
/// signature made for another purpose (a git commit, a file) is never taken for a receipt.
pub const SSH_NAMESPACE: &str = "handover-receipt";
const SSH_ED25519: &str = "ssh-ed25519";
/// `kind` of a minisign key in the manifest.
const MINISIGN: &str = "minisign";

/// A client's public signing key.
#[derive(Debug, Clone)]
pub enum ClientKey {
    Minisign(PublicKey),
    /// The SSH wire-format public key blob (`string "ssh-ed25519", string key`).
    SshEd25519(Vec<u8>),
}

/// Why a receipt's signature did not verify with the client's key.
#[derive(Debug)]
pub enum Problem {
    Sig(SigProblem),
    /// An SSH signature made for another namespace than [`SSH_NAMESPACE`].
    Namespace(String),
    /// `ssh-keygen` could not be run.
    Tool(std::io::Error),
}

impl From<SigProblem> for Problem {
    fn from(p: SigProblem) -> Self {
        Problem::Sig(p)
    }
}

impl ClientKey {
    /// Loads a key file: a minisign `.pub` file, a bare `RW...` key, or an OpenSSH public key
    /// line (`ssh-ed25519 AAAA... comment`, as in `id_ed25519.pub`).
    pub fn load(path: &Path) -> Result<ClientKey, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::ClientKeyUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
        ClientKey::parse(&text).map_err(|detail| KeyError::PublicKeyFile {
            path: path.to_path_buf(),
            detail,
        })
    }

    /// Parses the text of a key file (see [`load`](Self::load)).
    pub fn parse(text: &str) -> Result<ClientKey, String> {
        let t = text.trim();
        if t.starts_with("untrusted comment:") {
            let pk = PublicKeyBox::from_string(t)
                .and_then(|b| b.into_public_key())
                .map_err(|e| e.to_string())?;
            return Ok(ClientKey::Minisign(pk));
        }
        if t.starts_with("RW") && !t.contains(char::is_whitespace) {
            return PublicKey::from_base64(t)
                .map(ClientKey::Minisign)
                .map_err(|e| e.to_string());
        }
        let mut fields = t.split_whitespace();
        match (fields.next(), fields.next()) {
            (Some(SSH_ED25519), Some(b64)) => {
                let blob = STANDARD
                    .decode(b64)
                    .map_err(|_| "the ssh-ed25519 key is not valid base64".to_string())?;
                ssh_ed25519_key(&blob)
                    .ok_or_else(|| "not a valid ssh-ed25519 public key".to_string())?;
                Ok(ClientKey::SshEd25519(blob))
            }
            (Some(kind), Some(_)) if kind.starts_with("ssh-") || kind.starts_with("ecdsa-") => {
                Err(format!(
                    "{kind} keys cannot sign receipts here; give a minisign public key or an ssh-ed25519 one"
                ))
            }
            _ => Err(
                "not a minisign public key (.pub, RW...) nor an ssh-ed25519 public key line".into(),
            ),
        }
    }

    /// The key as the signed manifest records it.
    pub fn from_info(info: &ClientKeyInfo) -> Result<ClientKey, String> {
        let k = ClientKey::parse(&info.public_key)?;
        if k.kind() != info.kind {
            return Err(format!("a {} key recorded as {}", k.kind(), info.kind));
        }
        Ok(k)
    }

    /// What the signed manifest records.
    pub fn info(&self) -> ClientKeyInfo {
        ClientKeyInfo {
            kind: self.kind().into(),
            public_key: self.public_text(),
            key_id: self.key_id(),
        }
    }

    /// `minisign` or `ssh-ed25519`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientKey::Minisign(_) => MINISIGN,
            ClientKey::SshEd25519(_) => SSH_ED25519,
        }
    }

    /// The public key as text: `RW...`, or `ssh-ed25519 AAAA...` (without a comment).
    pub fn public_text(&self) -> String {
        match self {
            ClientKey::Minisign(pk) => pk.to_base64(),
            ClientKey::SshEd25519(blob) => format!("{SSH_ED25519} {}", STANDARD.encode(blob)),
        }
    }

    /// The id people compare: the minisign key id (16 hex digits) or the SSH fingerprint
    /// (`SHA256:...`, as `ssh-keygen -l` prints it).
    pub fn key_id(&self) -> String {
        match self {
            ClientKey::Minisign(pk) => crate::keys::key_id(pk.keynum()),
            ClientKey::SshEd25519(blob) => ssh_fingerprint(blob),
        }
    }

    /// Where the client's tool writes the signature of `receipt`: `FILE.minisig` (minisign)
    /// or `FILE.sig` (`ssh-keygen -Y sign`).
    pub fn sig_path(&self, receipt: &Path) -> PathBuf {
        match self {
            ClientKey::Minisign(_) => minisig_path(receipt),
            ClientKey::SshEd25519(_) => ssh_sig_path(receipt),
        }
    }

    /// Whether `other` is the same key.
    pub fn same(&self, other: &ClientKey) -> bool {
        self.kind() == other.kind() && self.public_text() == other.public_text()
    }

    /// Checks `sig_text` (the content of [`sig_path`](Self::sig_path)) over `data`.
    pub fn verify(&self, data: &[u8], sig_text: &str) -> Result<(), Problem> {
        match self {
            ClientKey::Minisign(pk) => Ok(signing::verify(pk, data, sig_text)?),
            ClientKey::SshEd25519(blob) => {
                let (signer, namespace) = parse_sshsig(sig_text).ok_or(SigProblem::Malformed)?;
                if &signer != blob {
                    return Err(SigProblem::OtherKey {
                        signed_by: ssh_fingerprint(&signer),
                        expected: ssh_fingerprint(blob),
                    }
                    .into());
                }
                if namespace != SSH_NAMESPACE {
                    return Err(Problem::Namespace(namespace));
                }
                ssh_keygen_verify(&self.public_text(), data, sig_text)
            }
        }
    }
}

/// `FILE.minisig`.
pub fn minisig_path(p: &Path) -> PathBuf {
    crate::manifest::sig_path(p)
}

/// `FILE.sig`, where `ssh-keygen -Y sign` writes.
pub fn ssh_sig_path(p: &Path) -> PathBuf {
    with_suffix(p, ".sig")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The id of the key a signature file claims to be made with: a minisign key id or an SSH
/// fingerprint. For naming the signer of a receipt signed with another key than the bound one.
pub fn signature_key_id(sig_text: &str) -> Option<String> {
    signing::signature_key_id(sig_text)
        .or_else(|| parse_sshsig(sig_text).map(|(blob, _)| ssh_fingerprint(&blob)))
}

/// `SHA256:` and the unpadded base64 of the blob's SHA-256, as OpenSSH prints fingerprints.
fn ssh_fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// Reads one SSH `string` (u32 big-endian length, then the bytes) from the front of `b`.
fn ssh_string<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let s = b.get(4..4 + len)?;
    *b = &b[4 + len..];
    Some(s)
}

/// The 32-byte key of an ssh-ed25519 public key blob, if it is one.
fn ssh_ed25519_key(blob: &[u8]) -> Option<&[u8]> {
    let mut b = blob;
    let kind = ssh_string(&mut b)?;
    let key = ssh_string(&mut b)?;
    (kind == SSH_ED25519.as_bytes() && key.len() == 32 && b.is_empty()).then_some(key)
}

/// The signer's public key blob and the namespace of an armored SSHSIG signature
/// (PROTOCOL.sshsig: `"SSHSIG"`, u32 version 1, string publickey, string namespace, ...).
fn parse_sshsig(text: &str) -> Option<(Vec<u8>, String)> {
    let body = text
        .trim()
        .strip_prefix("-----BEGIN SSH SIGNATURE-----")?
        .strip_suffix("-----END SSH SIGNATURE-----")?;
    let b64: String = body.split_whitespace().collect();
    let raw = STANDARD.decode(b64).ok()?;
    let mut b = raw.strip_prefix(b"SSHSIG")?;
    if b.get(..4)? != [0, 0, 0, 1] {
        return None;
    }
    b = &b[4..];
    let key = ssh_string(&mut b)?.to_vec();
    let namespace = String::from_utf8(ssh_string(&mut b)?.to_vec()).ok()?;
    Some((key, namespace))
}

/// Runs `ssh-keygen -Y verify` with `public` as the only allowed signer, for the receipt
/// namespace, on `data`.
fn ssh_keygen_verify(public: &str, data: &[u8], sig_text: &str) -> Result<(), Problem> {
    let tool = Problem::Tool;
    let dir = tempfile::tempdir().map_err(tool)?;
    let allowed = dir.path().join("allowed_signers");
    let sig = dir.path().join("receipt.sig");
    fs::write(
        &allowed,
        format!("client namespaces=\"{SSH_NAMESPACE}\" {public}\n"),
    )
    .and_then(|_| fs::write(&sig, sig_text))
    .map_err(tool)?;
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-I", "client", "-n", SSH_NAMESPACE, "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(tool)?;
    // A receipt is under 1 MiB, but the pipe is written from a thread anyway, so a tool that
    // stops reading early can never block us.
    let mut stdin = child.stdin.take().expect("piped");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let status = child.wait().map_err(tool)?;
    let _ = writer.join();
    if status.success() {
        Ok(())
    } else {
        Err(SigProblem::Invalid.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINj3KM4Swbs07aekbOkyNGdOrC8KxTCsxJ1RhZaU1lYX me@host";

    #[test]
    fn parses_ssh_ed25519_lines_and_refuses_other_kinds() {
        let k = ClientKey::parse(SSH).unwrap();
        assert_eq!(k.kind(), "ssh-ed25519");
        // The fingerprint `ssh-keygen -l` printed for this key.
        assert_eq!(
            k.key_id(),
            "SHA256:qcnLbCVmQqdblE24uH5nfKbuHx/8LFnQBme85dkpCf8"
        );
        assert_eq!(
            k.public_text(),
            SSH.rsplit_once(' ').unwrap().0,
            "the comment is dropped"
        );
        let back = ClientKey::from_info(&k.info()).unwrap();
        assert!(back.same(&k));
        assert!(ClientKey::parse("ssh-rsa AAAAB3NzaC1yc2E me").is_err());
        assert!(ClientKey::parse("age1qqq").is_err());
    }

    #[test]
    fn sig_paths_follow_each_tool() {
        let k = ClientKey::parse(SSH).unwrap();
        assert_eq!(
            k.sig_path(Path::new("r/receipt.json")),
            Path::new("r/receipt.json.sig")
        );
    }
}
