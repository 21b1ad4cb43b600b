//! Minisign signatures (prehashed, the format `minisign -V` checks by default).
//!
//! The only module that calls minisign's sign/verify; its errors are matched by kind,
//! never by text.

use std::io::Cursor;

use minisign::{PublicKey, SignatureBox};

use crate::keys::{Signer, key_id};

/// Signs `data`, returning the `.minisig` file text. The trusted comment follows the minisign
/// CLI's own (`timestamp:… file:… hashed`) so `minisign -V` shows a familiar line.
pub fn sign(
    signer: &Signer,
    data: &[u8],
    file_name: &str,
    unix_time: i64,
) -> Result<String, minisign::PError> {
    let trusted = format!("timestamp:{unix_time}\tfile:{file_name}\thashed");
    sign_with_comment(signer, data, &trusted)
}

/// Signs `data` with the given trusted comment, which `minisign -V` prints once it has checked
/// it: a line the key vouches for, not only the data.
pub fn sign_with_comment(
    signer: &Signer,
    data: &[u8],
    trusted: &str,
) -> Result<String, minisign::PError> {
    let untrusted = format!("signature from handover secret key {}", signer.key_id());
    minisign::sign(
        Some(&signer.pk),
        &signer.sk,
        Cursor::new(data),
        Some(trusted),
        Some(&untrusted),
    )
    .map(|b| b.into_string())
}

pub use crate::error::SigProblem;

/// The key id a signature claims to be made with, if it parses.
pub fn signature_key_id(sig_text: &str) -> Option<String> {
    SignatureBox::from_string(sig_text)
        .ok()
        .map(|b| key_id(b.keynum()))
}

/// Verifies `sig_text` over `data` with `pk`.
pub fn verify(pk: &PublicKey, data: &[u8], sig_text: &str) -> Result<(), SigProblem> {
    let sig = SignatureBox::from_string(sig_text).map_err(|_| SigProblem::Malformed)?;
    let expected = key_id(pk.keynum());
    let signed_by = key_id(sig.keynum());
    if signed_by != expected {
        return Err(SigProblem::OtherKey {
            signed_by,
            expected,
        });
    }
    minisign::verify(pk, &sig, Cursor::new(data), true, false, false).map_err(|e| match e.kind() {
        minisign::ErrorKind::Verify => SigProblem::Invalid,
        _ => SigProblem::Malformed,
    })
}
