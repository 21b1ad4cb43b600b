//! Verify on receipt: manifest signature → archive size and SHA-256 → decrypt → decompress →
//! read the tar as a stream, hashing every payload file → compare with the bag's manifests,
//! the outer manifest and the bag's own signature → [`VerifyReport`].
//!
//! Streams: with no `--extract` nothing is written but temporary files. What must be
//! remembered of every entry until the bag's manifest arrives (after the payload) goes to
//! sorted runs ([`spill`](crate::receive::spill)), and a `--list` listing to a temporary file
//! ([`Listing`]), so memory stays bounded by the number of symlinks and hard links, never by
//! the number or size of files. Every problem found is collected
//! with a stable `kind`; reading stops only where going on means nothing (the archive cannot
//! be decrypted or decompressed). The decrypted stream is always read to its end, so age's
//! final-chunk check and zstd's frame checksum run. A decompression bomb stops at the size the
//! signed manifest allows ([`plaintext_limit`]).
//!
//! Must never write outside the `--extract` target, never follow a symlink while writing, and
//! never leave anything under the target's name unless everything verified (`extract.rs`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tar::EntryType;

use crate::bag;
use crate::error::{ExitClass, IdentityProblem, Result, VerifyError, show};
use crate::keys;
use crate::keys::signing::{self, SigProblem};
use crate::manifest::{self, Manifest, sig_path};
use crate::receive::extract::{Leftover, LeftoverState, Stage};
pub use crate::receive::listing::Listing;
use crate::receive::problem::Problems;
pub use crate::receive::problem::{Problem, ProblemKind};
use crate::receive::reader::{self, Layer, OpenError};
use crate::receive::receipt::{self, Receipt};
use crate::receive::spill::{Rec, Runs, Tag};
use crate::report::Reporter;
use crate::util::{self, CopyError};

/// A manifest larger than this is not one of ours (it names no files; a few KiB).
pub(crate) const MANIFEST_MAX: u64 = 1 << 20;
/// Symlink hops followed when deciding where a link points; Linux's own limit (MAXSYMLINKS).
const MAX_HOPS: usize = 40;

/// What to verify and what to do with it.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The encrypted archive, `NAME.tar.zst.age`.
    pub archive: PathBuf,
    /// age identity files or OpenSSH private keys.
    pub identities: Vec<PathBuf>,
    /// The outer manifest; default beside the archive. A path, or an `https://` or `s3://`
    /// URL.
    pub manifest: Option<PathBuf>,
    /// The manifest's signature; default beside the manifest. Needed, with `manifest`, when
    /// the archive is a presigned link (each object has a link of its own).
    pub signature: Option<PathBuf>,
    /// The provider's minisign public key file.
    pub signer: Option<PathBuf>,
    /// The provider's minisign public key, `RW...`.
    pub signer_key: Option<String>,
    /// Extract the bag into this new directory when everything verified.
    pub extract: Option<PathBuf>,
    /// Also create symlinks that point outside the extracted directory.
    pub keep_outside_links: bool,
    /// Write a receipt here when everything verified.
    pub receipt: Option<PathBuf>,
    /// Sign the receipt with this minisign secret key (the client's own).
    pub sign_receipt: Option<PathBuf>,
    /// Remove partial extractions that a killed `verify --extract` left beside the target
    /// (or beside the archive).
    pub clean: bool,
    /// List the bag's contents in the report ([`VerifyReport::contents`]) once everything
    /// verified, without extracting anything.
    pub list: bool,
}

impl VerifyOptions {
    /// Verification of `archive` with its manifest beside it, and nothing else set: add the
    /// identities, the provider's public key, and what to write once everything verified.
    pub fn new(archive: impl Into<PathBuf>) -> Self {
        VerifyOptions {
            archive: archive.into(),
            ..Default::default()
        }
    }
}

/// A symlink in the bag whose target lies outside the extracted directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutsideLink {
    /// The symlink's path in the bag, percent-encoded like the manifests.
    pub path: String,
    /// Its target, percent-encoded.
    pub target: String,
    /// Whether it was created (`--keep-outside-links`).
    pub created: bool,
}

/// One entry of the bag's payload, as `verify --list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListedEntry {
    /// Its path below the bag's `data/` folder (non-UTF-8 bytes shown with escapes).
    pub path: String,
    /// `file`, `dir`, `symlink` or `hardlink`.
    pub kind: String,
    /// Its size in bytes (0 for everything but files).
    pub size: u64,
    /// Its permission bits, octal (`0644`).
    pub mode: String,
    /// Its modification time, RFC 3339 UTC.
    pub mtime: String,
    /// Where a symlink points, or which file a hard link names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The passphrase of an SSH identity, handed to age when it decrypts the key.
#[derive(Clone)]
struct Passphrase(Arc<age::secrecy::SecretString>);

impl age::Callbacks for Passphrase {
    fn display_message(&self, _message: &str) {}
    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, _description: &str) -> Option<age::secrecy::SecretString> {
        use age::secrecy::ExposeSecret;
        Some(self.0.expose_secret().to_owned().into())
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    /// True only when no problem was found.
    pub ok: bool,
    /// The archive read.
    pub archive_path: PathBuf,
    /// The manifest it was checked against.
    pub manifest_path: PathBuf,
    /// The handover's id, from the manifest (empty if that did not parse).
    pub handover_id: String,
    /// The client's name, from the manifest.
    pub client: String,
    /// The handover's name, from the manifest.
    pub name: String,
    /// The key id of the key the manifest was checked with.
    pub signer_key_id: String,
    /// False when no --signer was given: the key id must then be compared out of band.
    pub signer_authenticated: bool,
    /// SHA-256 of the archive as read (absent if it was not read to its end).
    pub archive_sha256: Option<String>,
    /// SHA-256 of the manifest as read.
    pub manifest_sha256: String,
    /// Regular files read, hard-linked names included.
    pub files: u64,
    /// Directories read below `data/`.
    pub directories: u64,
    /// Symlinks read.
    pub symlinks: u64,
    /// Names that were tar hard links to an earlier file.
    pub hard_links: u64,
    /// Bytes of file content read.
    pub bytes: u64,
    /// The proof of receipt to return to the provider; only when everything verified.
    pub receipt_code: Option<String>,
    /// Where the bag was extracted, when it was (`--extract`).
    pub extracted_to: Option<PathBuf>,
    /// Where the receipt was written, when it was (`--receipt`).
    pub receipt_path: Option<PathBuf>,
    /// Symlinks whose target lies outside the bag.
    pub outside_links: Vec<OutsideLink>,
    /// Staging directories found beside the target (or the archive): partial extractions of
    /// a killed `verify --extract`, full of unverified plaintext, or one running now.
    pub partial_extractions: Vec<Leftover>,
    /// What did not verify, at most a few of each kind.
    pub problems: Vec<Problem>,
    /// Problems found beyond the first few of each kind, counted but not listed.
    pub problems_not_listed: u64,
    /// Wall-clock time of the verification.
    pub seconds: f64,
    /// Whom the archive is encrypted to, as the signed manifest lists them: everyone who can
    /// open it besides the client (an escrow key, say) is named here.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The bag's payload in archive order (`--list`), only when everything verified. Kept
    /// in a temporary file, not in memory: iterate it with [`Listing::entries`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<Listing>,
}

impl VerifyReport {
    /// The exit class of a finished verification: none when it passed.
    pub fn class(&self) -> Option<ExitClass> {
        (!self.ok).then_some(ExitClass::Refused)
    }
}

/// A bag path for messages: percent-encoded like the manifests, so any byte shows.
fn shown(p: &[u8]) -> String {
    bag::bagit_encode(p)
}

/// The most plaintext a genuine archive with these counts can hold: the payload bytes plus a
/// generous tar overhead. Per entry: a 512-byte header, GNU long-name and long-link entries
/// for names up to PATH_MAX (4096) each, and up to 511 bytes of padding. The tag files are
/// two manifests with one line per file (hash, separator, a name up to PATH_MAX percent-
/// encoded, so 3 × 4096), symlinks.txt with two such names per link, and 1 MiB for the small
/// tag files and the end-of-archive blocks (GNU tar pads to 10 KiB records).
pub fn plaintext_limit(p: &manifest::PayloadInfo) -> u64 {
    const NAME: u64 = 4096;
    const PER_ENTRY: u64 = 512 + 2 * (512 + NAME + 512) + 512;
    const LINE: u64 = 64 + 2 + 3 * NAME + 1;
    let entries = p.files + p.directories + p.symlinks + 2 + 16;
    p.bytes
        .saturating_add(entries.saturating_mul(PER_ENTRY))
        .saturating_add((p.files + 1).saturating_mul(2 * LINE))
        .saturating_add((p.symlinks + 1).saturating_mul(2 * 3 * NAME + 2))
        .saturating_add(1 << 20)
}

/// Loads identities as the age CLI takes them: an age identity file, else an OpenSSH key.
fn load_identities(
    paths: &[PathBuf],
    reporter: &dyn Reporter,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let mut out: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    for p in paths {
        let err = |problem: IdentityProblem| VerifyError::Identity {
            path: p.clone(),
            problem,
        };
        let mut text = Vec::new();
        File::open(p)
            .and_then(|f| f.take(16 << 20).read_to_end(&mut text))
            .map_err(|e| err(IdentityProblem::Read(e)))?;
        // The age CLI's order: a native identity file first, then an SSH key. Only the line
        // number of a bad line is ever reported: the file holds secrets.
        if text.starts_with(b"-----BEGIN") {
            if text.starts_with(b"-----BEGIN AGE ENCRYPTED FILE") {
                return Err(err(IdentityProblem::EncryptedFile).into());
            }
            let id = age::ssh::Identity::from_buffer(&text[..], Some(show(p)))
                .map_err(|_| err(IdentityProblem::NotOpenSsh))?;
            match id {
                age::ssh::Identity::Unencrypted(_) => out.push(Box::new(id)),
                // As `age` does: ask for the passphrase. It is asked once, here, and
                // given to age, which decrypts the key when a stanza needs it.
                age::ssh::Identity::Encrypted(_) => {
                    let prompt = format!("Passphrase for the SSH key {}: ", show(p));
                    let Some(pass) = reporter.passphrase(&prompt) else {
                        return Err(err(IdentityProblem::EncryptedSsh).into());
                    };
                    out.push(Box::new(
                        id.with_callbacks(Passphrase(Arc::new(pass.into()))),
                    ));
                }
                age::ssh::Identity::Unsupported(_) => {
                    return Err(err(IdentityProblem::SshUnsupported).into());
                }
            }
        } else {
            let f = age::IdentityFile::from_buffer(&text[..])
                .map_err(|e| err(IdentityProblem::NotAgeIdentities(e)))?;
            let ids = f
                .into_identities()
                .map_err(|e| err(IdentityProblem::Unusable(e)))?;
            if ids.is_empty() {
                return Err(err(IdentityProblem::Empty).into());
            }
            out.extend(ids);
        }
    }
    Ok(out)
}

/// The manifest's default path: the archive's name with `.tar.zst.age` replaced.
pub(crate) fn manifest_beside(archive: &Path) -> PathBuf {
    let name = archive.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
    let stem = name.strip_suffix(b".tar.zst.age").unwrap_or(name);
    let mut m = stem.to_vec();
    m.extend_from_slice(b".manifest.json");
    archive.with_file_name(std::ffi::OsStr::from_bytes(&m))
}

/// Runs a verification. Returns a report (failed or not) when the archive could be judged,
/// an error when its inputs could not be read or its outputs not written.
pub fn verify(opts: &VerifyOptions, reporter: &dyn Reporter) -> Result<VerifyReport> {
    let started = Instant::now();
    let inputs = Inputs::read(opts, reporter)?;
    // A link's query carries its signature: messages and the report name it without.
    let shown_opts = crate::receive::fetch::shown_options(opts);
    let opts = &shown_opts;
    let mut v = Verification::new(opts, &inputs, reporter);

    // The manifest and its signature. A manifest that does not parse leaves nothing to
    // compare the archive with: stop.
    let Some((m, key)) = v.manifest(&inputs, reporter) else {
        return Ok(v.done(started));
    };

    // The archive file itself.
    let truncated = match inputs.archive_len {
        Some(len) => match v.archive_size(opts, len, &m) {
            Some(t) => t,
            None => return Ok(v.done(started)),
        },
        None => false,
    };
    let Some(opened) = v.open(opts, inputs.archive, &inputs.identities, &m, truncated)? else {
        return Ok(v.done(started));
    };

    // The bag, read in one pass (and staged for extraction), then checked.
    let mut stage = match &opts.extract {
        Some(d) => Some(
            Stage::create(d).map_err(|source| VerifyError::ExtractWrite {
                path: d.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let (bag, code) = v.read_bag(opened, stage.as_mut(), &m, &key, truncated, reporter)?;

    // Symlinks that leave the bag: client data, reported, created only on request, last.
    let outside = v.outside_links(&bag, opts, stage.is_some(), reporter);
    if v.problems.any() {
        // The stage is dropped here: its directory is removed, nothing looks verified.
        drop(stage);
        return Ok(v.done(started));
    }
    if let Some(st) = stage.take() {
        v.report.extracted_to = Some(commit_stage(st, &bag, &outside, opts, reporter)?);
    }
    v.report.receipt_code = code;
    v.report.contents = match bag.listing {
        Some(l) => Some(l.finish().map_err(VerifyError::temp)?),
        None => None,
    };
    v.report.ok = true;
    if let Some(path) = &opts.receipt {
        let signer = inputs.receipt_signer.as_ref();
        receipt::write(path, &receipt_of(&v.report, &m, signer), signer)?;
        v.report.receipt_path = Some(path.clone());
        // The SSH key the client decrypted with is the one to sign with, if it gave one.
        let ssh_key = opts.identities.iter().find(|p| {
            std::fs::read(p).is_ok_and(|t| t.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY"))
        });
        if let Some(note) = bound_key_note(&m, path, signer, ssh_key.map(|p| p.as_path())) {
            reporter.warn(&note);
        }
    }
    Ok(v.done(started))
}

/// What `verify` reads before it judges anything: each of these failing is an error of its
/// inputs (a missing file, a bad key, an output in the way), not a problem of the archive.
struct Inputs {
    manifest_path: PathBuf,
    manifest_bytes: Vec<u8>,
    /// The provider's key given with --signer or --signer-key.
    signer: Option<minisign::PublicKey>,
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    receipt_signer: Option<keys::Signer>,
    archive: Box<dyn Read + Send>,
    /// The archive's size; None when a server did not say.
    archive_len: Option<u64>,
    /// The manifest's signature; None when there is none.
    sig_text: Option<String>,
    /// The signature's name, for messages.
    sig_shown: PathBuf,
}

impl Inputs {
    /// Reads the manifest and the keys, checks that no output exists yet, opens the archive.
    fn read(opts: &VerifyOptions, reporter: &dyn Reporter) -> Result<Inputs> {
        let docs = crate::receive::fetch::Documents::read(opts)?;
        let manifest_path = docs.manifest_shown.clone();
        let manifest_bytes = docs.manifest_bytes;
        let signer = match (&opts.signer, &opts.signer_key) {
            (None, None) => None,
            (f, k) => Some(
                keys::load_public_key(f.as_deref(), k.as_deref()).map_err(VerifyError::signer)?,
            ),
        };
        let identities = load_identities(&opts.identities, reporter)?;
        let receipt_signer = match &opts.sign_receipt {
            Some(p) => Some(keys::load_signer(p, reporter)?),
            None => None,
        };
        if let Some(r) = &opts.receipt {
            for p in [r.clone(), sig_path(r)] {
                if p.symlink_metadata().is_ok() && (p == *r || receipt_signer.is_some()) {
                    return Err(VerifyError::ReceiptExists(p).into());
                }
            }
        }
        if let Some(d) = &opts.extract
            && d.symlink_metadata().is_ok()
        {
            return Err(VerifyError::ExtractExists(d.clone()).into());
        }
        let (archive, archive_len) = crate::receive::fetch::open_archive(opts)?;
        Ok(Inputs {
            manifest_path,
            manifest_bytes,
            signer,
            identities,
            receipt_signer,
            archive,
            archive_len,
            sig_text: docs.sig_text,
            sig_shown: docs.sig_shown,
        })
    }
}

/// Creates the symlinks kept in the staged extraction and puts it in place under the
/// `--extract` name; returns where it now is.
fn commit_stage(
    mut st: Stage,
    bag: &Bag,
    outside: &[(Vec<u8>, Vec<u8>)],
    opts: &VerifyOptions,
    reporter: &dyn Reporter,
) -> Result<PathBuf> {
    let werr = |source| VerifyError::ExtractWrite {
        path: st_path(opts),
        source,
    };
    for (p, t) in &bag.links {
        let out = outside.iter().any(|(op, _)| op == p);
        if !out || opts.keep_outside_links {
            st.symlink(Path::new(std::ffi::OsStr::from_bytes(p)), t)
                .map_err(werr)?;
        }
    }
    let (to, how) = st.commit().map_err(werr)?;
    if how == crate::fsx::NoReplace::CheckThenRename {
        reporter.warn(&format!(
            "{} was put in place by {}",
            show(&to),
            how.describe()
        ));
    }
    Ok(to)
}

/// The receipt of a verified handover, signed (when it is) by `signer`.
fn receipt_of(report: &VerifyReport, m: &Manifest, signer: Option<&keys::Signer>) -> Receipt {
    Receipt {
        format: receipt::FORMAT.into(),
        handover_id: m.handover_id.clone(),
        client: m.client.clone(),
        name: m.name.clone(),
        archive_sha256: report.archive_sha256.clone().unwrap_or_default(),
        manifest_sha256: report.manifest_sha256.clone(),
        received_at: util::rfc3339(util::now()),
        files: report.files,
        directories: report.directories,
        symlinks: report.symlinks,
        hard_links: report.hard_links,
        bytes: report.bytes,
        receipt_code: report.receipt_code.clone().unwrap_or_default(),
        signer_key_id: report.signer_key_id.clone(),
        client_public_key: signer.map(|s| s.public_base64()),
        audit_checkpoint: m.audit_checkpoint.clone(),
    }
}

/// What the client must still do for the receipt to count as signed by the key the provider
/// bound at export (`client_key` in the signed manifest), if anything.
fn bound_key_note(
    m: &Manifest,
    receipt: &Path,
    signer: Option<&keys::Signer>,
    ssh_key: Option<&Path>,
) -> Option<String> {
    let bound = m.client_key.as_ref()?;
    let path = show(receipt);
    let key_file = ssh_key.map_or_else(|| "~/.ssh/id_ed25519".to_string(), show);
    match (bound.kind.as_str(), signer) {
        ("ssh-ed25519", _) => Some(format!(
            "the provider bound your SSH key {} to this handover: sign the receipt with it and send {path}.sig too:\n  ssh-keygen -Y sign -n {} -f {key_file} {path}",
            bound.key_id,
            crate::keys::clientkey::SSH_NAMESPACE
        )),
        (_, Some(s)) if s.key_id() == bound.key_id => None,
        (_, Some(s)) => Some(format!(
            "the receipt is signed with key {}, but the provider bound your key {} to this handover and will refuse it: write a new receipt with --sign-receipt and that key",
            s.key_id(),
            bound.key_id
        )),
        (_, None) => Some(format!(
            "the provider bound your minisign key {} to this handover: a receipt signed with it (--sign-receipt KEY) proves receipt; an unsigned one proves only that you cooperated",
            bound.key_id
        )),
    }
}

/// Finds (and with `--clean` removes) the partial extractions beside the `--extract` target
/// and beside the archive, and says so: each holds plaintext nobody verified.
fn partial_extractions(opts: &VerifyOptions, reporter: &dyn Reporter) -> Vec<Leftover> {
    // Nothing local lies beside a link or an object.
    let mut dirs = Vec::new();
    if !crate::receive::fetch::archive_is_remote(opts) {
        dirs.push(util::absolute(dir_of(&opts.archive)).unwrap_or_default());
    }
    if let Some(d) = &opts.extract {
        dirs.insert(0, util::absolute(dir_of(d)).unwrap_or_default());
    }
    dirs.dedup();
    let mut found = Vec::new();
    for d in dirs {
        match crate::receive::extract::leftovers(&d, opts.clean) {
            Ok(l) => found.extend(l),
            Err(e) => reporter.warn(&format!(
                "cannot look for partial extractions in {}: {e}",
                show(&d)
            )),
        }
    }
    for l in &found {
        reporter.warn(&match l.state {
            LeftoverState::Removed => format!(
                "removed {}, a partial extraction left by a `verify --extract` that was killed",
                show(&l.path)
            ),
            LeftoverState::InUse => format!(
                "{} is being extracted by another verify that is still running; left alone",
                show(&l.path)
            ),
            LeftoverState::Abandoned => format!(
                "{} is a partial extraction left by a `verify --extract` that was killed: it holds plaintext that was never verified.\nDo not use it; remove it by running verify again with --clean (or delete it yourself).",
                show(&l.path)
            ),
        });
    }
    found
}

/// The directory a path lives in (`.` for a bare name).
fn dir_of(p: &Path) -> &Path {
    crate::home::parent_dir(p)
}

fn st_path(opts: &VerifyOptions) -> PathBuf {
    opts.extract.clone().unwrap_or_default()
}

struct Verification {
    problems: Problems,
    report: VerifyReport,
    /// `--list`: keep the payload's listing.
    list: bool,
}

impl Verification {
    /// A report with nothing checked yet; finds (and with `--clean` removes) partial
    /// extractions first.
    fn new(opts: &VerifyOptions, inputs: &Inputs, reporter: &dyn Reporter) -> Verification {
        Verification {
            problems: Problems::default(),
            list: opts.list,
            report: VerifyReport {
                ok: false,
                archive_path: opts.archive.clone(),
                manifest_path: inputs.manifest_path.clone(),
                handover_id: String::new(),
                client: String::new(),
                name: String::new(),
                signer_key_id: String::new(),
                signer_authenticated: inputs.signer.is_some(),
                archive_sha256: None,
                manifest_sha256: util::sha256_hex(&inputs.manifest_bytes),
                files: 0,
                directories: 0,
                symlinks: 0,
                hard_links: 0,
                bytes: 0,
                receipt_code: None,
                extracted_to: None,
                receipt_path: None,
                outside_links: Vec::new(),
                partial_extractions: partial_extractions(opts, reporter),
                problems: Vec::new(),
                problems_not_listed: 0,
                seconds: 0.0,
                recipients: Vec::new(),
                contents: None,
            },
        }
    }

    fn done(mut self, started: Instant) -> VerifyReport {
        self.report.ok = !self.problems.any();
        if !self.report.ok {
            self.report.receipt_code = None;
        }
        self.report.problems = self.problems.list;
        self.report.problems_not_listed = self.problems.not_listed;
        self.report.seconds = started.elapsed().as_secs_f64();
        self.report
    }

    /// Parses the manifest, settles the signer's key (the one given, else the one the
    /// manifest names, with a warning) and checks the manifest's signature with it. None
    /// when the manifest is unusable: nothing else can be checked.
    fn manifest(
        &mut self,
        inputs: &Inputs,
        reporter: &dyn Reporter,
    ) -> Option<(Manifest, minisign::PublicKey)> {
        let manifest_path = &inputs.manifest_path;
        let m: Manifest = match serde_json::from_slice(&inputs.manifest_bytes) {
            Ok(m) => m,
            Err(e) => {
                self.problems.add(
                    ProblemKind::ManifestMalformed,
                    format!(
                        "{} is not a handover manifest ({e}).\nCheck that you were given the right file, or ask the provider to send it again.",
                        show(manifest_path)
                    ),
                );
                return None;
            }
        };
        if m.format != manifest::FORMAT {
            self.problems.add(
                ProblemKind::ManifestMalformed,
                format!(
                    "{} has format {:?}; this handover understands {:?}.\nUpdate handover, or ask the provider which version made it.",
                    show(manifest_path),
                    m.format,
                    manifest::FORMAT
                ),
            );
            return None;
        }
        self.report.handover_id = m.handover_id.clone();
        self.report.client = m.client.clone();
        self.report.recipients = m.recipients.clone();
        self.report.name = m.name.clone();
        let key = match &inputs.signer {
            Some(k) => k.clone(),
            None => match minisign::PublicKey::from_base64(&m.signer.public_key) {
                Ok(k) => {
                    reporter.warn(&format!(
                        "THE SIGNER IS NOT AUTHENTICATED: no --signer was given, so the manifest is checked only against the key it names itself (key id {}).\nAnyone could have made this handover. Compare that key id with the provider by a channel you trust, then run again with --signer FILE or --signer-key RW...",
                        keys::key_id(k.keynum())
                    ));
                    k
                }
                Err(_) => {
                    self.problems.add(
                        ProblemKind::ManifestMalformed,
                        "the manifest names no usable signer public key.\nAsk the provider for their public key and pass it with --signer.".into(),
                    );
                    return None;
                }
            },
        };
        self.report.signer_key_id = keys::key_id(key.keynum());
        self.check_signature(
            &key,
            &inputs.manifest_bytes,
            inputs.sig_text.as_deref(),
            &inputs.sig_shown,
            "manifest",
            &show(manifest_path),
        );
        Some((m, key))
    }

    /// Compares the archive's size with the manifest's. Returns whether it is truncated, or
    /// None when it is empty: there is nothing to read.
    fn archive_size(&mut self, opts: &VerifyOptions, len: u64, m: &Manifest) -> Option<bool> {
        if len == 0 {
            self.problems.add(
                ProblemKind::ArchiveEmpty,
                format!(
                    "{} is empty (the manifest says {} bytes).\nThe transfer failed: ask the provider to send the archive again.",
                    show(&opts.archive),
                    m.archive.bytes
                ),
            );
            return None;
        }
        let truncated = len < m.archive.bytes;
        if len != m.archive.bytes {
            self.problems.add(
                ProblemKind::ArchiveSizeMismatch,
                format!(
                    "{} is {len} bytes but the manifest says {}: it is {}.\nAsk the provider to send it again, and check that archive and manifest belong together.",
                    show(&opts.archive),
                    m.archive.bytes,
                    if truncated { "truncated" } else { "longer than what was handed over (another archive?)" }
                ),
            );
        }
        Some(truncated)
    }

    /// Starts decrypting and decompressing the archive. None, with the problem recorded,
    /// when it cannot be decrypted at all.
    fn open(
        &mut self,
        opts: &VerifyOptions,
        archive: Box<dyn Read + Send>,
        identities: &[Box<dyn age::Identity + Send + Sync>],
        m: &Manifest,
        truncated: bool,
    ) -> Result<Option<(reader::ChannelReader, reader::Stack)>> {
        let limit = plaintext_limit(&m.payload);
        let (e, stack) = match reader::open(archive, identities, limit) {
            Ok(x) => return Ok(Some(x)),
            Err(x) => x,
        };
        stack.finish(None);
        match e {
            OpenError::Io(source) => {
                return Err(VerifyError::ArchiveUnreadable {
                    path: opts.archive.clone(),
                    source,
                }
                .into());
            }
            OpenError::KeyDecryption => return Err(VerifyError::WrongPassphrase.into()),
            OpenError::NotAge => self.problems.add(
                ProblemKind::NotAnAgeFile,
                format!(
                    "{} is not an age-encrypted file.\nCheck that you were given the .tar.zst.age archive, and ask the provider to send it again.",
                    show(&opts.archive)
                ),
            ),
            OpenError::NoMatchingIdentity => self.problems.add(
                ProblemKind::NoMatchingIdentity,
                format!(
                    "none of the identities given with -i can decrypt {}; it was encrypted to: {}.\nPass the identity file that belongs to one of those recipients.",
                    show(&opts.archive),
                    m.recipients.join(", ")
                ),
            ),
            OpenError::Header(msg, kind) => {
                if truncated || kind == io::ErrorKind::UnexpectedEof {
                    self.problems.add(
                        ProblemKind::ArchiveTruncated,
                        format!("the archive is truncated inside its age header ({msg}).\nAsk the provider to send it again."),
                    );
                } else {
                    self.problems.add(
                        ProblemKind::ArchiveHeaderInvalid,
                        format!("the archive's age header is damaged or was tampered with ({msg}).\nAsk the provider to send it again."),
                    );
                }
            }
        }
        Ok(None)
    }

    /// Reads the whole plaintext (staging it when extracting), records the archive's hash
    /// and the counts, and checks the bag when the stream was read to its end. Returns the
    /// bag as read and its receipt code, when that matches the manifest.
    fn read_bag(
        &mut self,
        (plain, stack): (reader::ChannelReader, reader::Stack),
        stage: Option<&mut Stage>,
        m: &Manifest,
        key: &minisign::PublicKey,
        truncated: bool,
        reporter: &dyn Reporter,
    ) -> Result<(Bag, Option<String>)> {
        reporter.start("verify", Some(m.payload.bytes), Some(m.payload.files));
        let mut bag = Bag::new(m.bag.top_folder.as_bytes());
        if self.list {
            bag.listing = Some(crate::receive::listing::Writer::new().map_err(VerifyError::temp)?);
        }
        let read = bag.read(plain, stage, reporter, &mut self.problems);
        reporter.finish();
        let (plain, read) = match read {
            Ok(x) => x,
            Err(e) => {
                stack.finish(None);
                return Err(e);
            }
        };
        let failure = stack.failure();
        let digest = stack.finish(plain);
        let stream_complete = read.is_none();
        if let Some(stop) = read {
            self.stream_problem(failure, stop, truncated);
        }
        // Duplicates and hard links are settled (and the counts with them) however reading
        // ended; the payload is compared with the manifest only when it was read whole.
        bag.settle(stream_complete, &mut self.problems)
            .map_err(VerifyError::temp)?;
        match &digest {
            Some((_, sha)) if *sha != m.archive.sha256 => self.problems.add(
                ProblemKind::ArchiveHashMismatch,
                format!(
                    "the archive's SHA-256 is {sha}, but the manifest says {}.\nThis is not the archive the provider signed: ask for it again.",
                    m.archive.sha256
                ),
            ),
            _ => {}
        }
        self.report.archive_sha256 = digest.map(|(_, s)| s);
        self.report.files = bag.files;
        self.report.directories = bag.dirs;
        self.report.symlinks = bag.links.len() as u64;
        self.report.hard_links = bag.hard_links;
        self.report.bytes = bag.bytes;
        let code = if stream_complete {
            bag.check(m, key, &mut self.problems)
        } else {
            None
        };
        Ok((bag, code))
    }

    /// Warns about each symlink whose target leaves the bag and lists it in the report;
    /// returns them (bag path, target).
    fn outside_links(
        &mut self,
        bag: &Bag,
        opts: &VerifyOptions,
        extracting: bool,
        reporter: &dyn Reporter,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let outside = bag.outside_links();
        for (p, t) in &outside {
            reporter.warn(&format!(
                "symlink {} points outside the bag, to {}{}",
                shown(p),
                shown(t),
                if opts.keep_outside_links || !extracting {
                    ""
                } else {
                    " (not created; pass --keep-outside-links to create it)"
                }
            ));
        }
        self.report.outside_links = outside
            .iter()
            .map(|(p, t)| OutsideLink {
                path: shown(p),
                target: shown(t),
                created: extracting && opts.keep_outside_links,
            })
            .collect();
        outside
    }

    /// Checks a detached minisign signature; `what` is "manifest" or "bag" (the kind prefix).
    fn check_signature(
        &mut self,
        key: &minisign::PublicKey,
        data: &[u8],
        text: Option<&str>,
        sig: &Path,
        what: &'static str,
        name: &str,
    ) {
        let text = match text {
            Some(t) => t,
            None => {
                self.problems.add(
                    ProblemKind::ManifestSignatureMissing,
                    format!("there is no signature {} beside the {what}.\nAsk the provider for the .minisig file; without it nothing proves who made this handover.", show(sig)),
                );
                return;
            }
        };
        sig_problem(&mut self.problems, key, data, text, what, name);
    }

    /// Turns a failure of the decryption stack or the tar reader into a problem.
    fn stream_problem(&mut self, failure: Option<reader::Failure>, stop: Stop, truncated: bool) {
        let p = &mut self.problems;
        match (failure, stop) {
            (Some(f), _) if f.layer == Layer::Age => {
                if truncated || f.kind == io::ErrorKind::UnexpectedEof {
                    p.add(ProblemKind::ArchiveTruncated, format!("the archive is truncated: decryption reached its end before age's final chunk ({}).\nNothing it holds can be trusted; ask the provider to send it again.", f.message));
                } else {
                    p.add(ProblemKind::ArchiveCorrupt, format!("the archive fails age's authentication ({}): a byte was changed in transit or on disk, or it was tampered with.\nAsk the provider to send it again.", f.message));
                }
            }
            (Some(f), _) if f.layer == Layer::Zstd => p.add(
                ProblemKind::DecompressionFailed,
                format!("the decrypted archive is not valid zstd ({}).\nIt was not made by handover export, or was damaged before encryption; ask the provider.", f.message),
            ),
            (Some(f), _) if f.layer == Layer::Limit => p.add(
                ProblemKind::DecompressionLimitExceeded,
                format!("the archive decompresses to more than the manifest allows ({}); reading stopped there.\nThis is a decompression bomb or not the archive the manifest describes; do not unpack it with other tools.", f.message),
            ),
            (Some(f), _) => p.add(
                ProblemKind::ArchiveUnreadable,
                format!("reading the archive failed ({}).", f.message),
            ),
            (None, Stop::Tar(msg)) => p.add(
                ProblemKind::TarMalformed,
                format!("the decrypted archive is not a valid tar stream ({msg}).\nIt was not made by handover export; ask the provider."),
            ),
        }
    }
}

/// Records the outcome of a minisign verification as a problem, if any.
fn sig_problem(
    problems: &mut Problems,
    key: &minisign::PublicKey,
    data: &[u8],
    sig_text: &str,
    what: &'static str,
    name: &str,
) {
    let kinds: [ProblemKind; 3] = match what {
        "manifest" => [
            ProblemKind::ManifestSignatureMalformed,
            ProblemKind::ManifestSignedByOtherKey,
            ProblemKind::ManifestSignatureInvalid,
        ],
        _ => [
            ProblemKind::BagSignatureMalformed,
            ProblemKind::BagSignedByOtherKey,
            ProblemKind::BagSignatureInvalid,
        ],
    };
    match signing::verify(key, data, sig_text) {
        Ok(()) => {}
        Err(SigProblem::Malformed) => problems.add(
            kinds[0],
            format!("the signature of {name} is not a minisign signature.\nAsk the provider to send it again."),
        ),
        Err(SigProblem::OtherKey { signed_by, expected }) => problems.add(
            kinds[1],
            format!("{name} is signed by key {signed_by}, not by the signer's key {expected}.\nSomeone else made or changed it: do not trust it. Check --signer with the provider."),
        ),
        Err(SigProblem::Invalid) => problems.add(
            kinds[2],
            format!("the signature of {name} does not match its content: it was changed after signing.\nDo not trust it; ask the provider to send it again."),
        ),
    }
}

/// Why reading the tar stream stopped early.
enum Stop {
    /// The tar reader (or a stage below it) failed; the message is the error's.
    Tar(String),
}

/// Tag files whose content is parsed; others are only hashed.
const PARSED_TAGS: [&str; 6] = [
    bag::BAGIT_TXT,
    bag::BAG_INFO,
    bag::MANIFEST,
    bag::SYMLINKS,
    bag::TAGMANIFEST,
    bag::TAGMANIFEST_SIG,
];

/// What reading the tar stream works with, besides the bag it fills.
struct Reading<'a> {
    /// The extraction being staged, with `--extract`.
    stage: Option<&'a mut Stage>,
    buf: Vec<u8>,
    reporter: &'a dyn Reporter,
    problems: &'a mut Problems,
}

impl Reading<'_> {
    /// An extraction write error, named by the staging directory.
    fn stage_err(&self, source: io::Error) -> crate::error::Error {
        VerifyError::ExtractWrite {
            path: self
                .stage
                .as_ref()
                .map(|s| s.root().to_path_buf())
                .unwrap_or_default(),
            source,
        }
        .into()
    }
}

/// An extraction write error, named by the staging directory.
fn stage_err(stage: &Stage, source: io::Error) -> crate::error::Error {
    VerifyError::ExtractWrite {
        path: stage.root().to_path_buf(),
        source,
    }
    .into()
}

/// One tar entry, as read from its header.
struct Item {
    /// Its path in the tar, as stored.
    raw: Vec<u8>,
    /// Its path inside the bag (`data/...` or a tag file name).
    rel: Vec<u8>,
    et: EntryType,
    mode: u32,
    mtime: u64,
}

/// A bag path as a relative path under the stage.
fn relp(r: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(r))
}

/// What the tar stream held, gathered in one pass.
struct Bag {
    top: Vec<u8>,
    /// Payload files, settled hard links, directories (`data` itself excluded) and the
    /// manifest's lines, sorted by path once reading ends. Taken by [`Bag::settle`].
    runs: Option<Runs>,
    /// Entries read so far: the sequence number of the next one.
    seq: u64,
    /// Hard links as read: (bag path, target bag path, target as stored, sequence), settled
    /// after reading. Kept in memory, as symlinks are: client trees hold few of either.
    hard: Vec<HardLink>,
    /// Symlinks: bag path → target, in archive order.
    links: Vec<(Vec<u8>, Vec<u8>)>,
    /// Tag files: name → SHA-256 hex.
    tag_hashes: HashMap<Vec<u8>, String>,
    /// Parsed tag files' contents.
    tag_bodies: HashMap<&'static str, Vec<u8>>,
    files: u64,
    dirs: u64,
    hard_links: u64,
    bytes: u64,
    saw_top: bool,
    /// Whether `manifest-sha256.txt` was read (its lines are in `runs`).
    manifest_read: bool,
    /// Its lines that are not `SHA256  PATH` (line numbers), reported when it is checked.
    manifest_bad_lines: Vec<u64>,
    /// The payload as listed (`--list`); `None` when not asked.
    listing: Option<crate::receive::listing::Writer>,
    /// What settling found, each kept apart to be reported where [`Bag::check`] reports it.
    found: Found,
}

/// A hard link as read: its bag path, its target's bag path and stored text, its sequence.
type HardLink = (Vec<u8>, Vec<u8>, Vec<u8>, u64);

/// Problems found while settling the sorted entries, in the groups `check` reports them in.
#[derive(Default)]
struct Found {
    /// Names listed twice in manifest-sha256.txt.
    listed_twice: Problems,
    /// Files not listed, or listed with another hash.
    unlisted: Problems,
    /// Files listed but not read.
    missing: Problems,
    /// Names that are two kinds of entry at once.
    collisions: Problems,
    /// Entries beneath a symlink.
    through_links: Problems,
}

impl Bag {
    fn new(top: &[u8]) -> Bag {
        Bag {
            top: top.to_vec(),
            // Tests make every record spill, to run the disk path on small bags.
            runs: Some(if crate::fault::fails("verify.spill_every_record") {
                Runs::with_budget(0)
            } else {
                Runs::default()
            }),
            seq: 0,
            hard: Vec::new(),
            links: Vec::new(),
            tag_hashes: HashMap::new(),
            tag_bodies: HashMap::new(),
            files: 0,
            dirs: 0,
            hard_links: 0,
            bytes: 0,
            saw_top: false,
            manifest_read: false,
            manifest_bad_lines: Vec::new(),
            listing: None,
            found: Found::default(),
        }
    }

    /// Remembers an entry (or a manifest line) until reading ends.
    fn remember(
        &mut self,
        path: Vec<u8>,
        seq: u64,
        tag: Tag,
        hash: [u8; 32],
        size: u64,
    ) -> Result<()> {
        self.runs
            .as_mut()
            .expect("runs are taken only once reading ended")
            .push(Rec {
                path,
                seq,
                tag,
                hash,
                size,
            })
            .map_err(|e| VerifyError::temp(e).into())
    }

    /// Records a payload entry for `--list`, when asked.
    fn list<R: Read>(&mut self, entry: &tar::Entry<'_, R>, item: &Item) -> Result<()> {
        let Some(listing) = self.listing.as_mut() else {
            return Ok(());
        };
        let kind = match item.et {
            EntryType::Directory => "dir",
            EntryType::Symlink => "symlink",
            EntryType::Link => "hardlink",
            _ => "file",
        };
        // As the name is, escaped only where it is not printable UTF-8 (not BagIt's `%XX`).
        let plain = |b: &[u8]| show(&relp(b));
        let target = matches!(item.et, EntryType::Symlink | EntryType::Link)
            .then(|| entry.link_name_bytes().map(|t| plain(&t)))
            .flatten();
        let mtime = time::OffsetDateTime::from_unix_timestamp(item.mtime as i64)
            .map(util::rfc3339)
            .unwrap_or_default();
        listing
            .push(&ListedEntry {
                path: plain(item.rel.strip_prefix(b"data/").unwrap_or(&item.rel)),
                kind: kind.into(),
                size: if kind == "file" {
                    entry.header().size().unwrap_or(0)
                } else {
                    0
                },
                mode: format!("{:04o}", item.mode & 0o7777),
                mtime,
                target,
            })
            .map_err(|e| VerifyError::temp(e).into())
    }

    /// The entry's path inside the bag (`data/...` or a tag file name), or why it is refused.
    fn rel(&self, raw: &[u8]) -> std::result::Result<Vec<u8>, (ProblemKind, &'static str)> {
        if raw.starts_with(b"/") {
            return Err((ProblemKind::UnsafePath, "is an absolute path"));
        }
        let comps: Vec<&[u8]> = raw
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        if comps.contains(&&b".."[..]) {
            return Err((ProblemKind::UnsafePath, "contains a `..` component"));
        }
        if comps.first() != Some(&&self.top[..]) {
            return Err((ProblemKind::OutsideBag, "is outside the bag's folder"));
        }
        Ok(comps[1..].join(&b'/'))
    }

    /// Reads the whole tar stream. Returns the reader (drained to its end unless reading
    /// stopped) and why it stopped early, if it did. Errors only for extraction I/O.
    fn read(
        &mut self,
        plain: reader::ChannelReader,
        stage: Option<&mut Stage>,
        reporter: &dyn Reporter,
        problems: &mut Problems,
    ) -> Result<(Option<reader::ChannelReader>, Option<Stop>)> {
        let mut archive = tar::Archive::new(plain);
        let mut r = Reading {
            stage,
            buf: vec![0u8; util::IO_BUF],
            reporter,
            problems,
        };
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => return Ok((None, Some(Stop::Tar(e.to_string())))),
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return Ok((None, Some(Stop::Tar(e.to_string())))),
            };
            let stop = self.entry(&mut entry, &mut r)?;
            self.seq += 1;
            if let Some(stop) = stop {
                return Ok((None, Some(stop)));
            }
        }
        // Past the end-of-archive blocks: read the rest so age and zstd check their ends.
        let mut plain = archive.into_inner();
        loop {
            match plain.read(&mut r.buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Ok((None, Some(Stop::Tar(e.to_string())))),
            }
        }
        Ok((Some(plain), None))
    }

    /// Reads one tar entry: checks where it lies, then takes it as the bag's folders, a tag
    /// file or payload. Returns why reading must stop, if it must.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        r: &mut Reading,
    ) -> Result<Option<Stop>> {
        let raw = entry.path_bytes().into_owned();
        let et = entry.header().entry_type();
        if et == EntryType::XGlobalHeader {
            return Ok(None);
        }
        let rel = match self.rel(&raw) {
            Ok(rel) => rel,
            Err((kind, why)) => {
                r.problems.add(kind, format!("the entry {} {why}; it was not extracted.\nThe archive is hostile or broken: do not unpack it with other tools.", shown(&raw)));
                return Ok(None);
            }
        };
        let item = Item {
            mode: entry.header().mode().unwrap_or(0o644),
            mtime: entry.header().mtime().unwrap_or(0),
            raw,
            rel,
            et,
        };
        if item.rel.is_empty() || item.rel == b"data" {
            self.folder(&item, r)?;
            return Ok(None);
        }
        let payload = item.rel.starts_with(b"data/");
        if !payload && item.rel.contains(&b'/') {
            r.problems.add(
                ProblemKind::UnexpectedEntry,
                format!(
                    "the entry {} is neither payload (data/) nor a tag file.",
                    shown(&item.raw)
                ),
            );
            return Ok(None);
        }
        if payload {
            self.payload(entry, item, r)
        } else {
            self.tag_file(entry, item, r)
        }
    }

    /// The bag's top folder or its `data/`: directories, staged with their mode and mtime.
    fn folder(&mut self, item: &Item, r: &mut Reading) -> Result<()> {
        let Item {
            raw,
            rel,
            et,
            mode,
            mtime,
        } = item;
        if !et.is_dir() {
            r.problems.add(
                ProblemKind::UnexpectedEntry,
                format!("the entry {} should be a directory.", shown(raw)),
            );
        } else if rel.is_empty() {
            self.saw_top = true;
        } else if let Some(s) = r.stage.as_deref_mut() {
            s.dir(&relp(rel), *mode, *mtime)
                .map_err(|e| stage_err(s, e))?;
        }
        if rel.is_empty()
            && let Some(s) = r.stage.as_deref_mut()
        {
            s.dir(Path::new(""), *mode, *mtime)
                .map_err(|e| stage_err(s, e))?;
        }
        Ok(())
    }

    /// A tag file: hashed, staged, and kept in memory when it is one that is parsed.
    fn tag_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        item: Item,
        r: &mut Reading,
    ) -> Result<Option<Stop>> {
        let rel = item.rel;
        if !item.et.is_file() {
            r.problems.add(
                ProblemKind::UnexpectedEntry,
                format!("the tag file {} is not a regular file.", shown(&item.raw)),
            );
            return Ok(None);
        }
        if self.tag_hashes.contains_key(&rel) {
            r.problems.add(
                ProblemKind::DuplicateEntry,
                format!("the tag file {} appears twice in the archive.", shown(&rel)),
            );
            return Ok(None);
        }
        let parsed = PARSED_TAGS.iter().find(|t| t.as_bytes() == &rel[..]);
        let is_manifest = rel == bag::MANIFEST.as_bytes();
        // The payload manifest has a line per file: its lines go to the sorted runs as they
        // pass, and its body is never held whole.
        let mut lines = is_manifest.then(|| LineSplitter {
            partial: Vec::new(),
            number: 0,
        });
        let mut out = match r.stage.as_deref_mut() {
            Some(s) => Some(
                s.file(&relp(&rel), item.mode)
                    .map_err(|e| stage_err(s, e))?,
            ),
            None => None,
        };
        let mut body = Vec::new();
        let mut spill_err = None;
        let copied = util::hash_copy(entry, u64::MAX, &mut r.buf, |chunk| {
            if let Some(ls) = lines.as_mut() {
                if spill_err.is_none()
                    && let Err(e) = ls.feed(chunk, &mut |n, l| self.manifest_line(n, l))
                {
                    spill_err = Some(e);
                }
            } else if parsed.is_some() {
                body.extend_from_slice(chunk);
            }
            match out.as_mut() {
                Some(f) => f.write_all(chunk),
                None => Ok(()),
            }
        });
        let hash = match copied {
            Ok((hash, _)) => hash,
            Err(CopyError::Read(e)) => return Ok(Some(Stop::Tar(e.to_string()))),
            Err(CopyError::Sink(e)) => return Err(r.stage_err(e)),
        };
        if let Some(e) = spill_err {
            return Err(e);
        }
        if let Some(mut ls) = lines {
            ls.end(&mut |n, l| self.manifest_line(n, l))?;
            self.manifest_read = true;
        }
        if let (Some(f), Some(s)) = (out, r.stage.as_deref()) {
            s.close_file(f, item.mtime).map_err(|e| stage_err(s, e))?;
        }
        self.tag_hashes.insert(rel, hex::encode(hash));
        if let Some(t) = parsed
            && !is_manifest
        {
            self.tag_bodies.insert(t, body);
        }
        Ok(None)
    }

    /// One line of manifest-sha256.txt (numbered from 1): remembered by its path, or noted
    /// as malformed.
    fn manifest_line(&mut self, number: u64, line: &[u8]) -> Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        match bag::parse_bagit_line(line) {
            Some((hash, path)) => self.remember(path, number, Tag::Listed, hash, 0),
            None => {
                self.manifest_bad_lines.push(number);
                Ok(())
            }
        }
    }

    /// A payload entry, by its tar type.
    fn payload<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        item: Item,
        r: &mut Reading,
    ) -> Result<Option<Stop>> {
        self.list(entry, &item)?;
        let rel = item.rel;
        match item.et {
            EntryType::Directory => {
                self.dirs += 1;
                if let Some(s) = r.stage.as_deref_mut()
                    && let Err(e) = s.dir(&relp(&rel), item.mode, item.mtime)
                    && !collided(r.problems, &rel, &e)
                {
                    return Err(stage_err(s, e));
                }
                self.remember(rel, self.seq, Tag::Dir, [0; 32], 0)?;
            }
            EntryType::Regular | EntryType::Continuous => {
                return self.payload_file(entry, rel, item.mode, item.mtime, r);
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                self.hard_link(rel, &target, r)?;
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                self.links.push((rel, target));
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let what = match item.et {
                    EntryType::Char => "character device",
                    EntryType::Block => "block device",
                    _ => "fifo",
                };
                r.problems.add(ProblemKind::SpecialFile, format!("the entry {} is a {what}, which a handover never contains; it was not extracted.\nThe archive is hostile or broken.", shown(&rel)));
            }
            et => r.problems.add(ProblemKind::UnsupportedEntry, format!("the entry {} has a tar type ({:?}) that a handover never contains; it was not extracted.", shown(&rel), et)),
        }
        Ok(None)
    }

    /// A payload file: hashed (and staged) as it is read. A name given twice is found when
    /// the entries are settled, or here by the stage, which never replaces a file.
    fn payload_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: Vec<u8>,
        mode: u32,
        mtime: u64,
        r: &mut Reading,
    ) -> Result<Option<Stop>> {
        let mut out = match r.stage.as_deref_mut() {
            Some(s) => match s.file(&relp(&rel), mode) {
                Ok(f) => Some(f),
                Err(e) if twice(r.problems, s, &rel, &e) || collided(r.problems, &rel, &e) => {
                    return Ok(None);
                }
                Err(e) => return Err(stage_err(s, e)),
            },
            None => None,
        };
        let reporter = r.reporter;
        let copied = util::hash_copy(entry, u64::MAX, &mut r.buf, |chunk| {
            reporter.bytes(chunk.len() as u64);
            match out.as_mut() {
                Some(f) => f.write_all(chunk),
                None => Ok(()),
            }
        });
        let (hash, size) = match copied {
            Ok(x) => x,
            Err(CopyError::Read(e)) => return Ok(Some(Stop::Tar(e.to_string()))),
            Err(CopyError::Sink(e)) => return Err(r.stage_err(e)),
        };
        if let (Some(f), Some(s)) = (out, r.stage.as_deref()) {
            s.close_file(f, mtime).map_err(|e| stage_err(s, e))?;
        }
        self.remember(rel, self.seq, Tag::File, hash, size)?;
        self.files += 1;
        self.bytes += size;
        reporter.file_done();
        Ok(None)
    }

    /// A hard link: only to a file earlier in the bag, whose hash and size it shares. Which
    /// file that is, is settled once everything was read ([`Bag::settle`]); when extracting,
    /// the stage holds exactly the files kept so far, so the link is made now or refused.
    fn hard_link(&mut self, rel: Vec<u8>, target_raw: &[u8], r: &mut Reading) -> Result<()> {
        let unsafe_link = |p: &mut Problems| {
            p.add(ProblemKind::UnsafeHardLink, format!("the hard link {} points to {}, which is not a file earlier in the bag; it was not extracted.\nThe archive is hostile or broken: do not unpack it with other tools.", shown(&rel), shown(target_raw)))
        };
        let target = match self.rel(target_raw) {
            Ok(t) if t.starts_with(b"data/") => t,
            _ => {
                unsafe_link(r.problems);
                return Ok(());
            }
        };
        if let Some(s) = r.stage.as_deref_mut()
            && let Err(e) = s.hard_link(&relp(&rel), &relp(&target))
        {
            // No file of that name in the stage (none yet, a directory, a name beneath a
            // file): not a file earlier in the bag.
            let not_a_file = matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
            );
            if not_a_file {
                unsafe_link(r.problems);
                return Ok(());
            }
            if twice(r.problems, s, &rel, &e) || collided(r.problems, &rel, &e) {
                return Ok(());
            }
            return Err(stage_err(s, e));
        }
        self.hard.push((rel, target, target_raw.to_vec(), self.seq));
        Ok(())
    }

    /// Once reading ended: settles hard links and names given twice (the first entry of a
    /// name is kept, as `tar` keeps it; the counts follow), and with `compare`, checks the
    /// payload against manifest-sha256.txt and names against each other. One pass over the
    /// sorted entries, two when there are hard links.
    fn settle(&mut self, compare: bool, problems: &mut Problems) -> io::Result<()> {
        let mut runs = self.runs.take().expect("settled once");
        if !self.hard.is_empty() {
            self.settle_hard_links(&mut runs, problems)?;
        }
        let link_set: HashSet<&[u8]> = self.links.iter().map(|(p, _)| &p[..]).collect();
        let under_link = |path: &[u8]| {
            path.iter()
                .enumerate()
                .any(|(i, &b)| b == b'/' && link_set.contains(&path[..i]))
        };
        let f = &mut self.found;
        let mut sorted = runs.sorted()?;
        let mut pending = None;
        loop {
            let group = sorted.next_group(&mut pending)?;
            let Some(first) = group.first() else { break };
            let path = &first.path[..];
            let mut kept: Option<&Rec> = None;
            let mut listed: Option<&Rec> = None;
            let mut dirs = 0;
            for r in &group {
                match r.tag {
                    Tag::File | Tag::Link if kept.is_none() => kept = Some(r),
                    Tag::File | Tag::Link => {
                        problems.add(
                            ProblemKind::DuplicateEntry,
                            format!(
                                "{} appears twice in the archive; only the first was kept.",
                                shown(path)
                            ),
                        );
                        self.files -= 1;
                        self.bytes -= r.size;
                        if r.tag == Tag::Link {
                            self.hard_links -= 1;
                        }
                    }
                    Tag::Dir => dirs += 1,
                    Tag::Listed => {
                        if listed.is_some() {
                            f.listed_twice.add(
                                ProblemKind::TagFileMalformed,
                                format!("{} is listed twice in manifest-sha256.txt.", shown(path)),
                            );
                        }
                        // As a map of path to hash would: the last line of a name counts.
                        listed = Some(r);
                    }
                }
            }
            if !compare {
                continue;
            }
            if self.manifest_read {
                match (kept, listed) {
                    (Some(_), None) => f.unlisted.add(ProblemKind::UnlistedFile, format!("{} is in the archive but not in manifest-sha256.txt: it was added.\nDo not trust it; ask the provider.", shown(path))),
                    (Some(k), Some(l)) if k.hash != l.hash => f.unlisted.add(ProblemKind::FileHashMismatch, format!("{} does not match its SHA-256 in manifest-sha256.txt: it was changed.\nDo not trust it; ask the provider.", shown(path))),
                    (None, Some(_)) => f.missing.add(ProblemKind::MissingFile, format!("{} is listed in manifest-sha256.txt but not in the archive: it was removed.\nAsk the provider.", shown(path))),
                    _ => {}
                }
            }
            if kept.is_some() {
                for _ in 0..dirs {
                    f.collisions.add(
                        ProblemKind::DuplicateEntry,
                        format!(
                            "{} is both a file and a directory in the archive.",
                            shown(path)
                        ),
                    );
                }
            }
            if link_set.is_empty() {
                continue;
            }
            let entries = dirs + usize::from(kept.is_some());
            for _ in 0..entries {
                if link_set.contains(path) {
                    f.collisions.add(
                        ProblemKind::DuplicateEntry,
                        format!(
                            "{} is both a symlink and a file or directory in the archive.",
                            shown(path)
                        ),
                    );
                }
                if under_link(path) {
                    f.through_links
                        .add(ProblemKind::PathThroughSymlink, through_link(path));
                }
            }
        }
        Ok(())
    }

    /// Gives each hard link the hash and size of the entry its target names, if that entry
    /// came earlier; adds the links kept to `runs` as entries of their own names.
    fn settle_hard_links(&mut self, runs: &mut Runs, problems: &mut Problems) -> io::Result<()> {
        // The first file of each name a link involves: (sequence, hash, size).
        let mut first: HashMap<Vec<u8>, (u64, [u8; 32], u64)> = HashMap::new();
        let wanted: HashSet<&[u8]> = self
            .hard
            .iter()
            .flat_map(|(n, t, _, _)| [&n[..], &t[..]])
            .collect();
        let mut sorted = runs.reread()?;
        while let Some(r) = sorted.next_rec()? {
            if r.tag == Tag::File && wanted.contains(&r.path[..]) && !first.contains_key(&r.path) {
                first.insert(r.path, (r.seq, r.hash, r.size));
            }
        }
        drop(sorted);
        // Links in archive order: a link to a link kept before it counts as to its file.
        for (name, target, raw, seq) in std::mem::take(&mut self.hard) {
            let before = |p: &[u8]| first.get(p).copied().filter(|(s, _, _)| *s < seq);
            let Some((_, hash, size)) = before(&target) else {
                problems.add(ProblemKind::UnsafeHardLink, format!("the hard link {} points to {}, which is not a file earlier in the bag; it was not extracted.\nThe archive is hostile or broken: do not unpack it with other tools.", shown(&name), shown(&raw)));
                continue;
            };
            if before(&name).is_some() {
                problems.add(
                    ProblemKind::DuplicateEntry,
                    format!(
                        "{} appears twice in the archive; only the first was kept.",
                        shown(&name)
                    ),
                );
                continue;
            }
            let kept = first.entry(name.clone()).or_insert((seq, hash, size));
            if kept.0 > seq {
                *kept = (seq, hash, size);
            }
            runs.push(Rec {
                path: name,
                seq,
                tag: Tag::Link,
                hash,
                size,
            })?;
            self.files += 1;
            self.hard_links += 1;
            self.bytes += size;
        }
        Ok(())
    }

    /// Compares what was read with the bag's tag files and the outer manifest. Returns the
    /// receipt code when it matches the manifest's hash of it.
    fn check(
        &mut self,
        m: &Manifest,
        key: &minisign::PublicKey,
        p: &mut Problems,
    ) -> Option<String> {
        if !self.saw_top && self.files == 0 {
            p.add(ProblemKind::BagFolderMissing, format!("the archive holds no folder {}/, the bag the manifest names.\nThis is another handover's archive, or not a handover at all.", m.bag.top_folder));
        }
        let code = self.check_bag_info(m, p);
        if !self.tag_bodies.contains_key(bag::BAGIT_TXT) {
            missing_tag(p, bag::BAGIT_TXT);
        }
        self.check_tag_manifest(m, key, p);
        self.check_payload_manifest(p);
        self.check_symlinks(m, p);
        self.check_paths(p);
        self.check_counts(m, p);
        code
    }

    /// `bag-info.txt`: the handover id, Payload-Oxum and the receipt code.
    /// Returns the receipt code when it matches the manifest's hash of it.
    fn check_bag_info(&self, m: &Manifest, p: &mut Problems) -> Option<String> {
        let mut code = None;
        match self.tag_bodies.get(bag::BAG_INFO) {
            None => missing_tag(p, bag::BAG_INFO),
            Some(b) => {
                let text = String::from_utf8_lossy(b);
                let field = |label: &str| bag::bag_info_field(&text, label);
                if field("External-Identifier").as_deref() != Some(&m.handover_id) {
                    p.add(ProblemKind::HandoverIdMismatch, format!("the bag belongs to handover {}, but the manifest is for {}.\nThe archive was swapped with another one: ask the provider for the right archive.", field("External-Identifier").unwrap_or_else(|| "(none)".into()), m.handover_id));
                }
                let oxum = format!("{}.{}", self.bytes, self.files);
                let declared = format!("{}.{}", m.payload.bytes, m.payload.files);
                match field("Payload-Oxum") {
                    Some(o) if o == oxum && o == declared => {}
                    o => p.add(ProblemKind::PayloadOxumMismatch, format!("Payload-Oxum is {}, the payload read is {oxum} and the manifest declares {declared} (bytes.files).\nFiles were added, removed or changed: ask the provider.", o.unwrap_or_else(|| "(none)".into()))),
                }
                match field("Handover-Receipt-Code") {
                    Some(c) if util::sha256_hex(c.as_bytes()) == m.receipt_code_sha256 => code = Some(c),
                    _ => p.add(ProblemKind::ReceiptCodeMismatch, "the receipt code in bag-info.txt is not the one the manifest was made with.\nThe bag was changed: ask the provider.".into()),
                }
            }
        }
        code
    }

    /// The tag manifest: the outer manifest's hash, its own signature, each tag file.
    fn check_tag_manifest(&self, m: &Manifest, key: &minisign::PublicKey, p: &mut Problems) {
        match self.tag_bodies.get(bag::TAGMANIFEST) {
            None => missing_tag(p, bag::TAGMANIFEST),
            Some(tm) => {
                if util::sha256_hex(tm) != m.bag.tagmanifest_sha256 {
                    p.add(ProblemKind::TagmanifestMismatch, "the bag's tagmanifest-sha256.txt is not the one the manifest was signed with.\nThe bag was changed after it was made: do not trust it.".into());
                }
                match self.tag_bodies.get(bag::TAGMANIFEST_SIG) {
                    None => missing_tag(p, bag::TAGMANIFEST_SIG),
                    Some(sig) => sig_problem(
                        p,
                        key,
                        tm,
                        &String::from_utf8_lossy(sig),
                        "bag",
                        "the bag's tagmanifest-sha256.txt",
                    ),
                }
                let mut listed = BTreeSet::new();
                for (hash, name) in parse_manifest(tm, p, bag::TAGMANIFEST) {
                    match self.tag_hashes.get(&name) {
                        None => p.add(ProblemKind::TagFileMissing, format!("the tag file {} listed in tagmanifest-sha256.txt is not in the archive.", shown(&name))),
                        Some(h) if *h != hex::encode(hash) => p.add(ProblemKind::TagFileHashMismatch, format!("the tag file {} does not match its hash in tagmanifest-sha256.txt: it was changed.\nDo not trust the bag; ask the provider.", shown(&name))),
                        _ => {}
                    }
                    listed.insert(name);
                }
                for name in self.tag_hashes.keys() {
                    if !listed.contains(name)
                        && name != bag::TAGMANIFEST.as_bytes()
                        && name != bag::TAGMANIFEST_SIG.as_bytes()
                    {
                        p.add(ProblemKind::UnlistedTagFile, format!("the tag file {} is not listed in tagmanifest-sha256.txt: it was added.", shown(name)));
                    }
                }
            }
        }
    }

    /// The payload manifest against what was read (compared by [`Bag::settle`]).
    fn check_payload_manifest(&mut self, p: &mut Problems) {
        if !self.manifest_read {
            missing_tag(p, bag::MANIFEST);
            return;
        }
        for i in &self.manifest_bad_lines {
            p.add(
                ProblemKind::TagFileMalformed,
                format!("{} line {i} is not `SHA256  PATH`.", bag::MANIFEST),
            );
        }
        let f = &mut self.found;
        for found in [&mut f.listed_twice, &mut f.unlisted, &mut f.missing] {
            p.absorb(std::mem::take(found));
        }
    }

    /// Symlinks against symlinks.txt.
    fn check_symlinks(&self, m: &Manifest, p: &mut Problems) {
        let mut declared: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        if let Some(body) = self.tag_bodies.get(bag::SYMLINKS) {
            for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                match bag::parse_symlink_line(line) {
                    Some((a, b)) => {
                        declared.insert(a, b);
                    }
                    None => p.add(
                        ProblemKind::TagFileMalformed,
                        "symlinks.txt has a line that is not `data/LINK<TAB>TARGET`.".into(),
                    ),
                }
            }
        } else if !self.links.is_empty() || m.payload.symlinks > 0 {
            missing_tag(p, bag::SYMLINKS);
        }
        let map = link_map(&self.links);
        for (path, target) in &self.links {
            match declared.remove(path) {
                None => p.add(ProblemKind::UnlistedSymlink, format!("the symlink {} → {} is not listed in symlinks.txt: it was added{}.\nDo not trust the archive; ask the provider.", shown(path), shown(target), if escapes(path, target, &map) { " and points outside the bag" } else { "" })),
                Some(t) if t != *target => p.add(ProblemKind::SymlinkMismatch, format!("the symlink {} points to {}, but symlinks.txt says {}: it was changed.", shown(path), shown(target), shown(&t))),
                _ => {}
            }
        }
        for path in declared.keys() {
            p.add(
                ProblemKind::MissingSymlink,
                format!(
                    "the symlink {} listed in symlinks.txt is not in the archive: it was removed.",
                    shown(path)
                ),
            );
        }
    }

    /// No entry may lie beneath a symlink: extracting it would write through the link.
    /// Nor may a name be two kinds of entry at once. Files and directories were checked by
    /// [`Bag::settle`]; the symlinks themselves here.
    fn check_paths(&mut self, p: &mut Problems) {
        p.absorb(std::mem::take(&mut self.found.collisions));
        p.absorb(std::mem::take(&mut self.found.through_links));
        let link_set: BTreeSet<&[u8]> = self.links.iter().map(|(p, _)| &p[..]).collect();
        for (path, _) in &self.links {
            let under = path
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'/' && link_set.contains(&path[..i]));
            if under {
                p.add(ProblemKind::PathThroughSymlink, through_link(path));
            }
        }
    }

    /// Counts against the signed manifest.
    fn check_counts(&self, m: &Manifest, p: &mut Problems) {
        let found = [
            self.files,
            self.dirs,
            self.links.len() as u64,
            self.hard_links,
            self.bytes,
        ];
        let want = [
            m.payload.files,
            m.payload.directories,
            m.payload.symlinks,
            m.payload.hard_links,
            m.payload.bytes,
        ];
        let names = ["files", "directories", "symlinks", "hard links", "bytes"];
        let diffs: Vec<String> = (0..5)
            .filter(|&i| found[i] != want[i])
            .map(|i| format!("{} {} (manifest: {})", found[i], names[i], want[i]))
            .collect();
        if !diffs.is_empty() {
            p.add(
                ProblemKind::CountMismatch,
                format!(
                    "the payload holds {}.\nFiles were added or removed: ask the provider.",
                    diffs.join(", ")
                ),
            );
        }
    }

    /// Symlinks whose target resolves outside the bag root (the extracted directory).
    fn outside_links(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let map = link_map(&self.links);
        self.links
            .iter()
            .filter(|(p, t)| escapes(p, t, &map))
            .cloned()
            .collect()
    }
}

/// The problem of an entry beneath a symlink.
fn through_link(path: &[u8]) -> String {
    format!(
        "the entry {} lies beneath a symlink in the archive; writing it would follow the link.\nThe archive is hostile: do not unpack it with other tools.",
        shown(path)
    )
}

/// Splits a stream into lines at `\n`, numbered from 1 as `split` numbers them (the last,
/// unterminated or empty, included).
struct LineSplitter {
    partial: Vec<u8>,
    number: u64,
}

impl LineSplitter {
    fn feed(&mut self, chunk: &[u8], f: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.number += 1;
            if self.partial.is_empty() {
                f(self.number, &rest[..i])?;
            } else {
                self.partial.extend_from_slice(&rest[..i]);
                f(self.number, &self.partial)?;
                self.partial.clear();
            }
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn end(&mut self, f: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        self.number += 1;
        let last = std::mem::take(&mut self.partial);
        f(self.number, &last)
    }
}

/// Records a tag file that the bag lacks.
fn missing_tag(p: &mut Problems, name: &str) {
    p.add(ProblemKind::TagFileMissing, format!("the bag has no {name}.\nThe archive was not made by handover export, or was changed: ask the provider."));
}

/// Whether an extraction error is a file of this name staged earlier: a name given twice,
/// said as [`Bag::settle`] says it when nothing is extracted.
fn twice(problems: &mut Problems, stage: &Stage, rel: &[u8], e: &io::Error) -> bool {
    let staged_file = e.kind() == io::ErrorKind::AlreadyExists
        && stage
            .root()
            .join(relp(rel))
            .symlink_metadata()
            .is_ok_and(|m| m.is_file());
    if staged_file {
        problems.add(
            ProblemKind::DuplicateEntry,
            format!(
                "{} appears twice in the archive; only the first was kept.",
                shown(rel)
            ),
        );
    }
    staged_file
}

/// Whether an extraction error is a collision with an earlier entry (a file where a
/// directory is, a name given twice): that is a problem of the archive, recorded as such,
/// not an I/O failure.
fn collided(problems: &mut Problems, rel: &[u8], e: &io::Error) -> bool {
    if e.kind() != io::ErrorKind::AlreadyExists {
        return false;
    }
    problems.add(
        ProblemKind::DuplicateEntry,
        format!(
            "{} collides with an earlier entry of the archive (a name given twice, or a file where a directory is); it was not extracted.",
            shown(rel)
        ),
    );
    true
}

/// Parses a BagIt manifest (`HASH  PATH` per line); bad lines become problems.
fn parse_manifest(body: &[u8], p: &mut Problems, name: &str) -> Vec<([u8; 32], Vec<u8>)> {
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match bag::parse_bagit_line(line) {
            Some(x) => out.push(x),
            None => p.add(
                ProblemKind::TagFileMalformed,
                format!("{name} line {} is not `SHA256  PATH`.", i + 1),
            ),
        }
    }
    out
}

/// Symlinks by bag path, for [`escapes`].
type LinkMap<'a> = HashMap<&'a [u8], &'a [u8]>;

fn link_map(links: &[(Vec<u8>, Vec<u8>)]) -> LinkMap<'_> {
    links.iter().map(|(p, t)| (&p[..], &t[..])).collect()
}

/// Whether the symlink at `link` (a bag path) with `target` resolves outside the bag root,
/// following the archive's other symlinks on the way (a link through `a -> ..` escapes even
/// when its own text looks inside). Absolute targets and loops count as outside.
fn escapes(link: &[u8], target: &[u8], map: &LinkMap) -> bool {
    let comps = |b: &[u8]| -> Vec<Vec<u8>> {
        b.split(|&c| c == b'/')
            .filter(|c| !c.is_empty())
            .map(|c| c.to_vec())
            .collect()
    };
    let mut stack = comps(link);
    stack.pop();
    if target.starts_with(b"/") {
        return true;
    }
    let mut pending: std::collections::VecDeque<Vec<u8>> = comps(target).into();
    let mut hops = 0;
    while let Some(c) = pending.pop_front() {
        match &c[..] {
            b"." => {}
            b".." => {
                if stack.pop().is_none() {
                    return true;
                }
            }
            _ => {
                stack.push(c);
                let cur = stack.join(&b'/');
                if let Some(t) = map.get(&cur[..]) {
                    hops += 1;
                    if hops > MAX_HOPS || t.starts_with(b"/") {
                        return true;
                    }
                    stack.pop();
                    for x in comps(t).into_iter().rev() {
                        pending.push_front(x);
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &str, t: &str) -> (Vec<u8>, Vec<u8>) {
        (p.as_bytes().to_vec(), t.as_bytes().to_vec())
    }

    #[test]
    fn symlink_escape_follows_other_links() {
        let links = vec![l("data/up", ".."), l("data/x/y", "../../z")];
        let links = link_map(&links);
        assert!(!escapes(b"data/a", b"../data/b", &links));
        assert!(escapes(b"data/a", b"../../etc", &links));
        assert!(escapes(b"data/a", b"/etc/passwd", &links));
        // data/up is the bag root; up/.. is outside it, though the text has one `..` only.
        assert!(escapes(b"data/b", b"up/..", &links));
        assert!(!escapes(b"data/x/y", b"../../z", &links));
        let looped = vec![l("data/a", "b"), l("data/b", "a")];
        let looped = link_map(&looped);
        assert!(escapes(b"data/c", b"a", &looped));
    }

    #[test]
    fn manifest_is_found_beside_the_archive() {
        assert_eq!(
            manifest_beside(Path::new("out/acme-1.tar.zst.age")),
            PathBuf::from("out/acme-1.manifest.json")
        );
    }
}
