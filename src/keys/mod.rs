//! Keys: the provider's minisign signing key pair, age identities, and one parser for
//! recipients as the age CLI takes them (`-r KEY`, `-R FILE`).
//!
//! Also the unattended certificate key's delegation (`delegation`), the signatures made and
//! checked with these keys (`signing`), and the client's own receipt-signing keys
//! (`clientkey`).
//!
//! Never prints a secret; messages name files and line numbers, not their contents. Sits below
//! every stage: it imports nothing from `ledger`, `erase` or the others, so recording a key's
//! use in the audit log is the caller's job (`ledger::delegation`, `keygen`).

pub mod clientkey;
pub mod delegation;
pub mod signing;

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};

use crate::error::KeyError;
use crate::home::{self, PUBLIC_MODE, SECRET_MODE};
use crate::report::Reporter;

/// An encryption recipient, kept with the canonical text it was parsed from.
pub struct Recipient {
    /// The canonical public form (recorded in the manifest).
    pub text: String,
    /// The age recipient.
    pub inner: Box<dyn age::Recipient + Send>,
}

/// Parses one recipient: an `age1...` X25519 key or an OpenSSH public key line.
pub fn parse_recipient(s: &str) -> Result<Recipient, String> {
    let s = s.trim();
    if s.starts_with("age1") {
        let r: age::x25519::Recipient = s.parse().map_err(|e: &str| e.to_string())?;
        Ok(Recipient {
            text: r.to_string(),
            inner: Box::new(r),
        })
    } else if s.starts_with("ssh-") {
        let r: age::ssh::Recipient = s.parse().map_err(|e| match e {
            age::ssh::ParseRecipientKeyError::Ignore => "not a public key".to_string(),
            age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                "RSA modulus too large".to_string()
            }
            age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                "RSA modulus too small".to_string()
            }
            age::ssh::ParseRecipientKeyError::Unsupported(t) => format!("unsupported key type {t}"),
            _ => "invalid SSH public key".to_string(),
        })?;
        Ok(Recipient {
            text: r.to_string(),
            inner: Box::new(r),
        })
    } else if looks_secret(s) {
        Err("this is a secret key, not a public one; give the client's age1... public key".into())
    } else {
        Err("unknown recipient type".into())
    }
}

/// Whether `s` starts like an age secret key. Bech32 is case-insensitive, so a lower-case
/// `age-secret-key-1...` is the same secret and must be recognised (and never echoed) too.
fn looks_secret(s: &str) -> bool {
    s.get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("AGE-SECRET-KEY-"))
}

/// Collects recipients from `-r` values and `-R` files, in order, without duplicates.
pub fn recipients(values: &[String], files: &[PathBuf]) -> Result<Vec<Recipient>, KeyError> {
    let mut out: Vec<Recipient> = Vec::new();
    let mut push = |r: Recipient| {
        if !out.iter().any(|o| o.text == r.text) {
            out.push(r);
        }
    };
    for v in values {
        // `-r FILE` is the usual slip for `-R FILE`: say so rather than "invalid recipient".
        if !v.trim_start().starts_with("age1")
            && !v.trim_start().starts_with("ssh-")
            && Path::new(v).is_file()
        {
            return Err(KeyError::RecipientIsFile(PathBuf::from(v)));
        }
        let r = parse_recipient(v).map_err(|why| KeyError::BadRecipient {
            // Shown so the user can find the typo; a secret key is never echoed.
            // Only a value that looks public is echoed: anything else might be a secret
            // (an identity of a plugin, a password) pasted into the wrong place.
            shown: if looks_secret(v.trim_start()) {
                "\"AGE-SECRET-KEY-…\"".into()
            } else if v.trim_start().starts_with("age1") || v.trim_start().starts_with("ssh-") {
                format!("{:?}", v.trim_start().chars().take(24).collect::<String>())
            } else {
                format!("({} characters, not shown)", v.chars().count())
            },
            why,
        })?;
        push(r);
    }
    for f in files {
        let file = fs::File::open(f).map_err(|source| KeyError::RecipientsFile {
            path: f.clone(),
            source,
        })?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| KeyError::RecipientsFile {
                path: f.clone(),
                source,
            })?;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let r = parse_recipient(t).map_err(|_| KeyError::BadRecipientLine {
                path: f.clone(),
                line: i + 1,
            })?;
            push(r);
        }
    }
    if out.is_empty() {
        return Err(KeyError::NoRecipients);
    }
    Ok(out)
}

/// The minisign key id as the minisign CLI prints it (16 upper-case hex digits).
pub fn key_id(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    b.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(b))
}

/// A loaded signing key pair.
pub struct Signer {
    pub sk: SecretKey,
    pub pk: PublicKey,
}

impl Signer {
    /// The key id of this signer.
    pub fn key_id(&self) -> String {
        key_id(self.pk.keynum())
    }
    /// The public key in base64 (the `RW...` string).
    pub fn public_base64(&self) -> String {
        self.pk.to_base64()
    }
}

/// What `keygen` wrote.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct KeygenSummary {
    /// The secret key file written (mode 0600): `handover.key`, or the age identity file.
    pub secret_key_path: PathBuf,
    /// The public key file written, `handover.pub`; for an age identity, the identity file itself.
    pub public_key_path: PathBuf,
    /// The public key (`RW...` for minisign, `age1...` for age).
    pub public_key: String,
    /// The minisign key id; empty for an age identity.
    pub key_id: String,
    /// Whether the secret key is encrypted with a password (never for an age identity).
    pub password_protected: bool,
    /// The unattended certificate key authorised by the new provider key (keygen in the home).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<crate::keys::delegation::DelegationSummary>,
}

/// Makes a minisign key pair in `dir`: `handover.key` (0600) and `handover.pub`.
/// `password` None makes an unencrypted key (`--no-password`). Never overwrites.
pub fn keygen(dir: &Path, password: Option<String>) -> Result<KeygenSummary, KeyError> {
    keygen_at(
        &dir.join("handover.key"),
        &dir.join("handover.pub"),
        password,
        "handover secret key",
    )
}

/// Makes a minisign key pair at the given paths (secret 0600). Never overwrites.
pub fn keygen_at(
    sk_path: &Path,
    pk_path: &Path,
    password: Option<String>,
    comment: &str,
) -> Result<KeygenSummary, KeyError> {
    let (sk_path, pk_path) = (sk_path.to_path_buf(), pk_path.to_path_buf());
    for p in [&sk_path, &pk_path] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Exists(p.clone()));
        }
    }
    let protected = password.is_some();
    let kp = match password {
        Some(pw) => KeyPair::generate_encrypted_keypair(Some(pw)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(KeyError::Generate)?;
    let id = key_id(kp.pk.keynum());
    let sk_box = kp
        .sk
        .to_box(Some(&format!("{comment} {id}")))
        .map_err(KeyError::Encode)?;
    let pk_box = kp.pk.to_box().map_err(KeyError::Encode)?;
    let write = |p: &PathBuf, bytes: &[u8], mode| {
        home::write_new(p, bytes, mode).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(p.clone())
            } else {
                KeyError::Write {
                    path: p.clone(),
                    source,
                }
            }
        })
    };
    write(&sk_path, &sk_box.to_bytes(), SECRET_MODE)?;
    write(&pk_path, pk_box.into_string().as_bytes(), PUBLIC_MODE)?;
    Ok(KeygenSummary {
        secret_key_path: sk_path,
        public_key_path: pk_path,
        public_key: kp.pk.to_base64(),
        key_id: id,
        password_protected: protected,
        certificate_key: None,
    })
}

/// Makes an age X25519 identity file in the `age-keygen` format (mode 0600) at `path`.
pub fn keygen_age(path: &Path, now_rfc3339: &str) -> Result<KeygenSummary, KeyError> {
    if path.symlink_metadata().is_ok() {
        return Err(KeyError::Exists(path.to_path_buf()));
    }
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let text = format!(
        "# created: {now_rfc3339}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    );
    home::write_new(path, text.as_bytes(), SECRET_MODE).map_err(|source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(KeygenSummary {
        secret_key_path: path.to_path_buf(),
        public_key_path: path.to_path_buf(),
        public_key: public,
        key_id: String::new(),
        password_protected: false,
        certificate_key: None,
    })
}

/// Loads the signing key at `path`. An encrypted key is unlocked with the reporter's
/// password.
pub fn load_signer(path: &Path, reporter: &dyn Reporter) -> Result<Signer, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |detail| KeyError::Malformed {
        path: path.to_path_buf(),
        detail,
    };
    if !text.starts_with("untrusted comment:") {
        return Err(malformed("no minisign key header"));
    }
    let sk_box = SecretKeyBox::from_string(&text).map_err(|_| malformed("unreadable box"))?;
    // An unencrypted key loads directly; any failure means it is encrypted or corrupt, and
    // the password path below tells the two apart.
    let sk = match sk_box.clone().into_unencrypted_secret_key() {
        Ok(sk) => sk,
        Err(_) => {
            let pw = reporter
                .password("Password for the signing key: ")
                .ok_or_else(|| KeyError::NoPassword(path.to_path_buf()))?;
            match sk_box.into_secret_key(Some(pw)) {
                Ok(sk) => sk,
                Err(e) => {
                    return Err(match e.kind() {
                        minisign::ErrorKind::Verify => KeyError::WrongPassword(path.to_path_buf()),
                        _ => malformed("not a minisign secret key"),
                    });
                }
            }
        }
    };
    let pk = PublicKey::from_secret_key(&sk).map_err(|_| malformed("cannot derive public key"))?;
    Ok(Signer { sk, pk })
}

/// Loads a minisign public key from a file (`.pub` box) or a bare `RW...` string.
pub fn load_public_key(file: Option<&Path>, base64: Option<&str>) -> Result<PublicKey, KeyError> {
    if let Some(s) = base64 {
        return PublicKey::from_base64(s.trim())
            .map_err(|source| KeyError::PublicKeyString { source });
    }
    let path = file.ok_or(KeyError::NoPublicKey)?;
    let text = fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    PublicKeyBox::from_string(&text)
        .and_then(|b| b.into_public_key())
        .map_err(|e| KeyError::PublicKeyFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
}
