//! Export: walk → hash and archive in one pass → tag files → outer manifest → sign → record.
//!
//! Every file is read once: its bytes are hashed as they go into the tar stream. Memory stays
//! bounded: the manifests are spooled to unnamed temporary files while the walk runs, and only
//! hard-linked inodes (to store later names as tar hard links) are remembered.
//! Never follows a symlink, never writes outside `--out`, never leaves a partial output under
//! a final name.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::bag;
use crate::error::{Error, ExportError, KeyError, Result};
use crate::fsx;
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::signing;
use crate::keys::{self, Signer};
use crate::ledger::clients::ProfileUse;
use crate::ledger::store::{HandoverRecord, ObjectRecord, Store, TempFileRecord, Tx};
use crate::manifest::{self, Manifest};
use crate::pack::archive::{ArchiveWriter, Sealed, ZSTD_WINDOW_LOG_MAX, ZstdSettings};
use crate::report::Reporter;
use crate::util;

/// The tar block size: entries are padded to it.
pub(crate) const TAR_BLOCK: u64 = 512;

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The client's data directory.
    pub data_dir: PathBuf,
    /// The client's name (letters, digits, `.`, `_`, `-`): part of the file names.
    pub client: String,
    /// Whom the archive is encrypted to ([`Recipients::parse`]).
    pub recipients: Recipients,
    /// The output folder; created if missing, never inside the data directory.
    pub out_dir: PathBuf,
    /// The handover's name; default `CLIENT-YYYYMMDDTHHMMSSZ`.
    pub name: Option<String>,
    /// Signing key; default the home's `handover.key`.
    pub sign_key: Option<PathBuf>,
    /// zstd level (1–22).
    pub level: i32,
    /// Refuse names that are not UTF-8 instead of warning.
    pub strict_names: bool,
    /// Schedule deletion of the local copies this long after the export.
    pub delete_after: Option<time::Duration>,
    /// The client's public signing key (minisign or ssh-ed25519), bound in the signed
    /// manifest: `confirm` then takes a signed receipt only from it.
    pub client_key: Option<PathBuf>,
    /// Schedule deletion of the local copies at this time, a time in the past included (a
    /// contract that ended before the export: the deletion is overdue work). Used only
    /// without `delete_after`; set from a profile's contract end by `profile_options`.
    pub delete_at: Option<time::OffsetDateTime>,
    /// What came from the client's profile, recorded in the export's audit event and summary
    /// (`profile_options` sets it).
    pub profile: Option<ProfileUse>,
}

impl ExportOptions {
    /// An export of `data_dir` for `client`, encrypted to `recipients`, written into `out_dir`,
    /// with the defaults of `handover export`: the generated name, the home's signing key,
    /// zstd level 3, non-UTF-8 names warned about, no scheduled deletion, no bound client key.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        client: impl Into<String>,
        recipients: Recipients,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        ExportOptions {
            data_dir: data_dir.into(),
            client: client.into(),
            recipients,
            out_dir: out_dir.into(),
            name: None,
            sign_key: None,
            level: DEFAULT_LEVEL,
            strict_names: false,
            delete_after: None,
            client_key: None,
            delete_at: None,
            profile: None,
        }
    }

    /// Signs with the minisign secret key in `path` instead of the home's `handover.key`.
    pub fn sign_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.sign_key = Some(path.into());
        self
    }
}

/// The zstd level `handover export` uses unless told otherwise.
pub const DEFAULT_LEVEL: i32 = 3;

/// The recipients an export encrypts to: age X25519 or OpenSSH public keys, in the order
/// given and without duplicates, each with the canonical text the manifest records.
pub struct Recipients(Vec<keys::Recipient>);

impl Recipients {
    /// Parses recipients as the age CLI takes them: `-r KEY` values, then `-R FILE` files (one
    /// per line, `#` comments and blank lines allowed). Refuses an empty list. A bad value is
    /// echoed only when it looks public, a bad line is named by file and number, never quoted:
    /// either could be a secret pasted into the wrong place.
    pub fn parse(values: &[String], files: &[PathBuf]) -> std::result::Result<Self, KeyError> {
        keys::recipients(values, files).map(Recipients)
    }

    /// The recipients, in order.
    pub(crate) fn as_slice(&self) -> &[keys::Recipient] {
        &self.0
    }
}

impl Recipients {
    /// These recipients, then those of `more` not already among them (a client profile's
    /// escrow recipients go last).
    pub(crate) fn and(mut self, more: Recipients) -> Recipients {
        for r in more.0 {
            if !self.0.iter().any(|o| o.text == r.text) {
                self.0.push(r);
            }
        }
        self
    }
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|r| &r.text))
            .finish()
    }
}

impl Clone for Recipients {
    /// An age recipient is a boxed trait object that cannot be cloned, so each is parsed
    /// again from its canonical text, which the parser itself wrote.
    fn clone(&self) -> Self {
        Recipients(
            self.0
                .iter()
                .map(|r| keys::parse_recipient(&r.text).expect("a canonical recipient parses"))
                .collect(),
        )
    }
}

/// What an export produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportSummary {
    /// The new handover's id.
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name.
    pub name: String,
    /// When it was made (UTC, RFC 3339).
    pub created_at: String,
    /// The encrypted archive, `NAME.tar.zst.age`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub archive_path: PathBuf,
    /// The outer manifest, `NAME.manifest.json`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub manifest_path: PathBuf,
    /// The manifest's signature, `NAME.manifest.json.minisig`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub signature_path: PathBuf,
    /// SHA-256 of the archive, hex.
    pub archive_sha256: String,
    /// The key id of the key that signed the manifest and the bag.
    pub signer_key_id: String,
    /// Regular files, hard-linked names included.
    pub files: u64,
    /// Directories below the data directory.
    pub directories: u64,
    /// Symlinks, stored as symlinks.
    pub symlinks: u64,
    /// Names stored as tar hard links to an earlier name of the same file.
    pub hard_links: u64,
    /// Bytes of file content read.
    pub bytes_in: u64,
    /// Bytes of the encrypted archive.
    pub bytes_out: u64,
    /// Wall-clock time of the export.
    pub seconds: f64,
    /// Names that are not valid UTF-8, shown with escapes (stored exactly in the archive).
    pub non_utf8_names: Vec<String>,
    /// When deletion of the local copies is scheduled (`--delete-after`).
    pub deletion_due_at: Option<String>,
    /// The id of the client key bound in the manifest (`--client-key`).
    pub client_key_id: Option<String>,
    /// Which values came from the client's profile; absent when no profile was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileUse>,
}

/// Checks a client or handover name: it becomes part of file names.
pub fn check_name(what: &'static str, v: &str) -> std::result::Result<(), ExportError> {
    if util::is_safe_name(v) {
        Ok(())
    } else {
        Err(ExportError::BadName {
            what,
            value: v.to_string(),
        })
    }
}

/// A temp file collecting one manifest while the walk runs, hashed as it is written.
struct Spool {
    w: BufWriter<File>,
    hasher: Sha256,
    len: u64,
}

impl Spool {
    fn new() -> io::Result<Spool> {
        Ok(Spool {
            w: BufWriter::with_capacity(64 << 10, tempfile::tempfile()?),
            hasher: Sha256::new(),
            len: 0,
        })
    }
    fn add(&mut self, b: &[u8]) -> io::Result<()> {
        self.hasher.update(b);
        self.len += b.len() as u64;
        self.w.write_all(b)
    }
    /// The file rewound to its start, its length and SHA-256.
    fn done(self) -> io::Result<(File, u64, String)> {
        let mut f = self.w.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        Ok((f, self.len, hex::encode(self.hasher.finalize())))
    }
}

/// Counts gathered during the walk.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) symlinks: u64,
    pub(crate) hard_links: u64,
    pub(crate) bytes: u64,
}

/// Runs an export. See the module documentation for what it guarantees.
pub fn export(home: &Home, opts: &ExportOptions, reporter: &dyn Reporter) -> Result<ExportSummary> {
    let started = Instant::now();
    // Everything that can be checked is checked before any output exists.
    let p = Prepared::check(home, opts, reporter)?;
    home.ensure()
        .map_err(|source| crate::error::StoreError::Home {
            path: home.dir.clone(),
            source,
        })?;
    let mut store = Store::open(&home.database())?;
    // A killed export's partial archive is a readable copy nobody knows of: remove it first.
    crate::pack::stale::clean(home, &mut store, reporter)?;
    crate::pack::stale::clean_remote(home, &mut store, reporter)?;
    let o = Outputs::choose(opts, &p.out)?;
    let receipt_code = util::receipt_code();

    let (w, published) = match &p.out {
        Out::Dir(out) => {
            export_to_dir(home, &mut store, opts, &p, &o, out, &receipt_code, reporter)?
        }
        Out::Bucket(b) => crate::pack::remote::export_to_bucket(
            home,
            &mut store,
            opts,
            &p,
            &o,
            b,
            &receipt_code,
            reporter,
        )?,
    };

    // An older home gets its unattended certificate key while the provider key is unlocked,
    // so scheduled deletions run without a password from now on.
    if let Some(w) = crate::ledger::delegation::ensure_quietly(home, &p.key_path, &p.signer) {
        reporter.warn(&w);
    }
    if w.counts.files == 0 {
        reporter.warn(
            "the data directory holds no files: the handover carries only its folders, and `sha256sum -c SHA256SUMS` will report an empty list",
        );
    }
    for n in &w.non_utf8 {
        reporter.warn(&format!(
            "name is not valid UTF-8 (stored exactly; some systems cannot show it): {n}"
        ));
    }
    Ok(ExportSummary {
        handover_id: o.handover_id,
        client: opts.client.clone(),
        name: o.name,
        created_at: o.created_at,
        archive_path: o.archive,
        manifest_path: o.manifest,
        signature_path: o.sig,
        archive_sha256: w.sealed_sha256,
        signer_key_id: p.signer.key_id(),
        files: w.counts.files,
        directories: w.counts.dirs,
        symlinks: w.counts.symlinks,
        hard_links: w.counts.hard_links,
        bytes_in: w.counts.bytes,
        bytes_out: w.sealed_bytes,
        seconds: started.elapsed().as_secs_f64(),
        non_utf8_names: w.non_utf8,
        deletion_due_at: published.deletion_due_at,
        client_key_id: published.client_key_id,
        profile: opts.profile.clone(),
    })
}

/// What the summary needs of a written archive once it is published.
pub(crate) struct Done {
    pub(crate) counts: Counts,
    pub(crate) non_utf8: Vec<String>,
    pub(crate) sealed_sha256: String,
    pub(crate) sealed_bytes: u64,
}

/// What the summary needs of the recording transaction.
pub(crate) struct Published {
    pub(crate) deletion_due_at: Option<String>,
    pub(crate) client_key_id: Option<String>,
}

/// Writes the archive into a local folder under a temporary name, then signs, records and
/// publishes the three files.
#[allow(clippy::too_many_arguments)]
fn export_to_dir(
    home: &Home,
    store: &mut Store,
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    out: &Path,
    receipt_code: &str,
    reporter: &dyn Reporter,
) -> Result<(Done, Published)> {
    // The temporary names are recorded before the files exist: if this process is killed,
    // the next export (or `delete` of a handover in this outbox) finds and shreds them.
    let temps = record_temps(
        store,
        &o.handover_id,
        &o.created_at,
        [&o.archive, &o.manifest, &o.sig],
    )?;
    // Declared before the files so it drops after them: on an error they are removed first.
    let mut forget = ForgetTemps {
        db: home.database(),
        paths: temps.to_vec(),
    };
    let [archive_tmp, manifest_tmp, sig_tmp] = temps.clone();
    let w = write_archive(opts, p, o, Sink::Temp(archive_tmp), receipt_code, reporter)?;

    // The write transaction starts here, before the manifest is signed: the manifest carries
    // the checkpoint of its own export row (prepared now, appended below), so the client's
    // copy anchors the provider's audit log up to and including this handover. The export
    // row binds the archive; the manifest binds the row.
    // Marked before the renames (and before the transaction below): a kill between them and
    // its commit leaves outputs under their final names that no handover owns; the next
    // clean-up shreds them. Their final names did not exist, so nothing else is touched.
    let mark = store.begin()?;
    mark.mark_temps_publishing(&temps)?;
    mark.commit()?;
    let tx = store.begin()?;
    let (m, json, sig, audited) = sign_and_prepare(&tx, home, opts, p, o, &w, receipt_code)?;
    let signed = SignedManifest::write(&json, &sig, o, manifest_tmp, sig_tmp)?;

    // Record and publish together: the row is committed only once the three files carry
    // their final names; if any rename fails the transaction rolls back and the renamed files
    // are removed. The manifest is renamed last: its presence means the set is complete.
    let published = record(&tx, home, opts, p, o, &w, &m, &json, &sig, audited)?;
    tx.insert_objects(&o.handover_id, &w.sources)?;
    for t in &temps {
        tx.delete_temp_file(t)?;
    }
    let Written {
        sealed,
        counts,
        non_utf8,
        ..
    } = w;
    let done = Done {
        counts,
        non_utf8,
        sealed_sha256: sealed.sha256.clone(),
        sealed_bytes: sealed.bytes,
    };
    publish(tx, sealed.pending.expect("a file archive"), signed, out)?;
    // The records went with the handover's row.
    forget.paths.clear();
    Ok((done, published))
}

/// Starts the recording transaction's audit row and signs the manifest that carries its
/// checkpoint: the manifest, its JSON and signature, and the prepared audit row.
pub(crate) fn sign_and_prepare(
    tx: &Tx<'_>,
    home: &Home,
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    w: &Written,
    receipt_code: &str,
) -> Result<(Manifest, Vec<u8>, String, crate::ledger::audit::Prepared)> {
    let audited =
        crate::ledger::audit::prepare(tx, home, Some(&o.handover_id), &audit_event(opts, p, o, w))?;
    let m = manifest_of(opts, p, o, w, receipt_code, audited.checkpoint());
    let mut json = serde_json::to_vec_pretty(&m).expect("manifest serializes");
    json.push(b'\n');
    let sig = signing::sign(
        &p.signer,
        &json,
        &format!("{}.manifest.json", o.name),
        o.now.unix_timestamp(),
    )
    .map_err(crate::error::KeyError::Sign)?;
    Ok((m, json, sig, audited))
}

/// Records the handover in `tx`: its row, its manifest documents, its audit row and its
/// scheduled deletion.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    tx: &Tx<'_>,
    home: &Home,
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    w: &Written,
    m: &Manifest,
    json: &[u8],
    sig: &str,
    audited: crate::ledger::audit::Prepared,
) -> Result<Published> {
    let rec = handover_record(opts, p, o, w, m, json);
    tx.insert_handover(&rec)?;
    tx.set_manifest_documents(
        &o.handover_id,
        std::str::from_utf8(json).expect("serde_json writes UTF-8"),
        sig,
    )?;
    audited.append(tx)?;
    let deletion_due_at = schedule_deletion(tx, home, opts, o)?;
    Ok(Published {
        deletion_due_at,
        client_key_id: m.client_key.as_ref().map(|k| k.key_id.clone()),
    })
}

/// The handover's row in the state database.
fn handover_record(
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    w: &Written,
    m: &Manifest,
    manifest_json: &[u8],
) -> HandoverRecord {
    HandoverRecord {
        handover_id: o.handover_id.clone(),
        client: opts.client.clone(),
        name: o.name.clone(),
        created_at: o.created_at.clone(),
        source_path: p.data.clone(),
        archive_path: o.archive.clone(),
        manifest_path: o.manifest.clone(),
        signature_path: o.sig.clone(),
        archive_sha256: w.sealed.sha256.clone(),
        archive_bytes: w.sealed.bytes,
        manifest_sha256: util::sha256_hex(manifest_json),
        tagmanifest_sha256: m.bag.tagmanifest_sha256.clone(),
        receipt_code_sha256: m.receipt_code_sha256.clone(),
        signer_key_id: p.signer.key_id(),
        recipients: m.recipients.clone(),
        files: w.counts.files,
        directories: w.counts.dirs,
        symlinks: w.counts.symlinks,
        payload_bytes: w.counts.bytes,
        voided_at: None,
        void_reason: None,
    }
}

/// `--delete-after`: scheduled in the transaction that records the handover, so that an
/// export killed between the two can never exist without the deletion it asked for.
fn schedule_deletion(
    tx: &Tx<'_>,
    home: &Home,
    opts: &ExportOptions,
    o: &Outputs,
) -> Result<Option<String>> {
    let Some(d) = opts.delete_after else {
        // A profile's contract end: a date already past is accepted, as overdue work.
        let Some(at) = opts.delete_at else {
            return Ok(None);
        };
        crate::ledger::schedule::schedule_in(tx, home, &o.handover_id, at, o.now, at < o.now)?;
        return Ok(Some(util::rfc3339(at)));
    };
    crate::ledger::schedule::schedule_in(tx, home, &o.handover_id, o.now + d, o.now, false)?;
    Ok(Some(util::rfc3339(o.now + d)))
}

/// The details of the export's audit row.
fn audit_event(
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    w: &Written,
) -> crate::ledger::event::AuditEvent {
    crate::ledger::event::AuditEvent::Export(crate::ledger::event::ExportDetails {
        client: opts.client.clone(),
        name: o.name.clone(),
        archive_sha256: w.sealed.sha256.clone(),
        files: w.counts.files,
        bytes: w.counts.bytes,
        signer_key_id: p.signer.key_id(),
        client_key_id: p.client_key.as_ref().map(|k| k.key_id.clone()),
        paths_sha256: Some(crate::ledger::audit::paths_digest([
            &p.data,
            &o.archive,
            &o.manifest,
            &o.sig,
        ])),
        profile: opts.profile.clone(),
        objects_sha256: audited_objects(p, o, w)
            .map(|objs| crate::ledger::audit::objects_digest(&objs)),
    })
}

/// The object versions the export event binds, None when the handover has none: the source
/// objects read, and for a bucket destination the archive as uploaded and the manifest and
/// signature by key (they are put after the event is written; see `objects_digest`).
fn audited_objects(p: &Prepared, o: &Outputs, w: &Written) -> Option<Vec<ObjectRecord>> {
    let mut objs = w.sources.clone();
    if let Out::Bucket(b) = &p.out {
        objs.extend(crate::pack::remote::output_objects(b, o, w));
    }
    (!objs.is_empty()).then_some(objs)
}

/// What export established before any output exists: where the data and the outbox are,
/// whom it encrypts to, and the keys it signs and binds.
pub(crate) struct Prepared {
    /// The data directory, resolved; for a bucket source, the text `s3://BUCKET/PREFIX/`.
    pub(crate) data: PathBuf,
    /// The bucket source, listed, when `data` is one.
    pub(crate) source: Option<crate::pack::source::SourceBucket>,
    /// The output directory (created and resolved), or the bucket and prefix.
    pub(crate) out: Out,
    pub(crate) client_key: Option<manifest::ClientKeyInfo>,
    pub(crate) key_path: PathBuf,
    pub(crate) signer: Signer,
}

impl Prepared {
    /// Checks the options, the data directory, the keys and the output directory (creating
    /// it last), in the order a user fixes them.
    fn check(home: &Home, opts: &ExportOptions, reporter: &dyn Reporter) -> Result<Prepared> {
        check_name("client name", &opts.client)?;
        if let Some(n) = &opts.name {
            check_name("name", n)?;
        }
        if !(1..=22).contains(&opts.level) {
            return Err(ExportError::LevelOutOfRange(opts.level).into());
        }
        let mut source = crate::pack::source::connect(&opts.data_dir)?;
        let data = match &source {
            Some(s) => s.text(),
            None => data_dir(&opts.data_dir)?,
        };
        let client_key = match &opts.client_key {
            Some(p) => Some(crate::keys::clientkey::ClientKey::load(p)?.info()),
            None => None,
        };
        let key_path = opts.sign_key.clone().unwrap_or_else(|| home.secret_key());
        let signer = keys::load_signer(&key_path, reporter)?;
        // The provider's secrets never travel to the client: a home folder (signing key, state
        // database) or signing key inside the data directory would be archived with the data.
        // A bucket source holds no local file: nothing of the provider's can be inside it.
        let local = if source.is_none() {
            vec![("home folder", &home.dir), ("signing key", &key_path)]
        } else {
            Vec::new()
        };
        for (what, p) in local {
            let resolved = util::resolve_future(p).map_err(|source| ExportError::Unreadable {
                path: p.clone(),
                source,
            })?;
            if resolved.starts_with(&data) {
                return Err(ExportError::SecretInsideData {
                    what,
                    path: p.clone(),
                    data: data.clone(),
                }
                .into());
            }
        }
        let remote = remote_out(&opts.out_dir)?;
        if let (Some(s), Some(b)) = (&source, &remote)
            && s.contains(&b.loc)
        {
            return Err(ExportError::OutInsideData {
                out: opts.out_dir.clone(),
                data,
            }
            .into());
        }
        // Listed (every key checked) before the output folder is created.
        if let Some(s) = &mut source {
            s.list()?;
        }
        let out = match remote {
            Some(b) => Out::Bucket(b),
            None => Out::Dir(out_dir(&opts.out_dir, &data)?),
        };
        Ok(Prepared {
            data,
            source,
            out,
            client_key,
            key_path,
            signer,
        })
    }
}

/// Where an export writes: a local folder, or a prefix in a bucket.
pub(crate) enum Out {
    Dir(PathBuf),
    Bucket(Bucket),
}

/// A bucket and prefix an export writes to, connected.
pub(crate) struct Bucket {
    pub(crate) loc: crate::remote::Location,
    pub(crate) client: std::sync::Arc<crate::remote::Client>,
}

impl Bucket {
    /// The key of an output path chosen by [`Outputs::choose`] (`s3://BUCKET/KEY`).
    pub(crate) fn key(&self, p: &Path) -> String {
        let url = p.to_string_lossy();
        url.strip_prefix(&format!("s3://{}/", self.loc.bucket))
            .expect("outputs are under the bucket")
            .to_string()
    }
}

/// `--out s3://BUCKET/PREFIX/`: parsed and connected, the credentials checked by listing the
/// prefix, before any work. None for a local folder.
fn remote_out(out: &Path) -> Result<Option<Bucket>> {
    let Some(loc) = out.to_str().and_then(crate::remote::Location::parse) else {
        return Ok(None);
    };
    let loc = loc?;
    let client = std::sync::Arc::new(crate::remote::Client::connect(&loc.bucket)?);
    client.check(&loc.prefix)?;
    Ok(Some(Bucket { loc, client }))
}

/// The data directory, resolved; it must exist and be a directory.
fn data_dir(dir: &Path) -> Result<PathBuf> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            Ok(
                fs::canonicalize(dir).map_err(|source| ExportError::Unreadable {
                    path: dir.to_path_buf(),
                    source,
                })?,
            )
        }
        Ok(_) => Err(ExportError::NotADirectory(dir.to_path_buf()).into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(ExportError::DataMissing(dir.to_path_buf()).into())
        }
        Err(source) => Err(ExportError::Unreadable {
            path: dir.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// Creates the output directory and returns it resolved; it must not lie inside the data.
fn out_dir(dir: &Path, data: &Path) -> Result<PathBuf> {
    let werr = |source| ExportError::Write {
        path: dir.to_path_buf(),
        source,
    };
    let inside = || ExportError::OutInsideData {
        out: dir.to_path_buf(),
        data: data.to_path_buf(),
    };
    // Checked before the output directory is created, so a refused export leaves nothing
    // inside the client's data.
    if util::resolve_future(dir).map_err(werr)?.starts_with(data) {
        return Err(inside().into());
    }
    fs::create_dir_all(dir).map_err(werr)?;
    let out = fs::canonicalize(dir).map_err(werr)?;
    if out.starts_with(data) {
        return Err(inside().into());
    }
    Ok(out)
}

/// The new handover's id, time and name, and its three output paths, none of which exists.
pub(crate) struct Outputs {
    pub(crate) now: time::OffsetDateTime,
    pub(crate) created_at: String,
    pub(crate) handover_id: String,
    pub(crate) name: String,
    pub(crate) archive: PathBuf,
    pub(crate) manifest: PathBuf,
    pub(crate) sig: PathBuf,
}

impl Outputs {
    fn choose(opts: &ExportOptions, out: &Out) -> Result<Outputs> {
        let now = util::now();
        let handover_id = util::random_hex(16);
        let name = opts
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", opts.client, util::compact_timestamp(now)));
        let names = [
            format!("{name}.tar.zst.age"),
            format!("{name}.manifest.json"),
            format!("{name}.manifest.json.minisig"),
        ];
        let [archive, manifest, sig] = match out {
            Out::Dir(d) => names.map(|n| d.join(n)),
            Out::Bucket(b) => names.map(|n| PathBuf::from(b.loc.object_url(&b.loc.key(&n)))),
        };
        for p in [&archive, &manifest, &sig] {
            let exists = match out {
                Out::Dir(_) => p.symlink_metadata().is_ok(),
                // Any version, a delete marker included: every version under these keys
                // after the export is then its own, and a clean-up may delete them all.
                Out::Bucket(b) => {
                    let key = b.key(p);
                    b.client.versions(&key)?.iter().any(|v| v.key == key)
                }
            };
            if exists {
                return Err(ExportError::OutputExists(p.clone()).into());
            }
        }
        Ok(Outputs {
            now,
            created_at: util::rfc3339(now),
            handover_id,
            name,
            archive,
            manifest,
            sig,
        })
    }
}

/// The sealed archive and what the walk found.
pub(crate) struct Written {
    pub(crate) sealed: Sealed,
    /// SHA-256 of the bag's tag manifest.
    pub(crate) tag: String,
    pub(crate) counts: Counts,
    pub(crate) non_utf8: Vec<String>,
    pub(crate) z: ZstdSettings,
    /// The `source` records of the objects read, when exported from a bucket.
    pub(crate) sources: Vec<ObjectRecord>,
}

/// Where the archive is written.
pub(crate) enum Sink {
    /// A local file under this temporary name.
    Temp(PathBuf),
    /// A multipart upload, completed by the archive's `finish`.
    Upload(crate::remote::Upload),
}

/// Walks the data into the archive, tag files last, and seals it under its temporary name.
pub(crate) fn write_archive(
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    sink: Sink,
    receipt_code: &str,
    reporter: &dyn Reporter,
) -> Result<Written> {
    let z = ZstdSettings::new(opts.level);
    let write_err = |source: io::Error| ExportError::Write {
        path: o.archive.clone(),
        source,
    };
    let mut aw = match sink {
        Sink::Temp(tmp) => ArchiveWriter::create_at(&o.archive, tmp, opts.recipients.as_slice(), z),
        Sink::Upload(u) => ArchiveWriter::upload(u, opts.recipients.as_slice(), z),
    }
    .map_err(write_err)?;

    if reporter.wants_totals() {
        let (bytes, files) = match &p.source {
            Some(s) => s.totals(),
            None => pre_count(&p.data),
        };
        reporter.start("export", Some(bytes), Some(files));
    } else {
        reporter.start("export", None, None);
    }

    let mut pass = Pass {
        root_mnt: None,
        aw: &mut aw,
        top: PathBuf::from(&o.name),
        data: &p.data,
        sums: Some(Spool::new().map_err(write_err)?),
        bagit: Some(Spool::new().map_err(write_err)?),
        links: Some(Spool::new().map_err(write_err)?),
        counts: Counts::default(),
        inodes: HashMap::new(),
        non_utf8: Vec::new(),
        strict_names: opts.strict_names,
        buf: vec![0u8; util::IO_BUF],
        reporter,
        archive_path: &o.archive,
    };
    let sources = match &p.source {
        Some(s) => {
            let read = pass.walk_bucket(s, o.now)?;
            s.recheck()?;
            read
        }
        None => {
            fsx::raise_open_files_limit();
            pass.walk()?;
            Vec::new()
        }
    };
    let (tag, counts, non_utf8) = pass.tags(
        &o.handover_id,
        &opts.client,
        &o.created_at,
        receipt_code,
        &p.signer,
        o.now,
    )?;
    let sealed = aw.finish().map_err(write_err)?;
    reporter.finish();
    Ok(Written {
        sealed,
        tag,
        counts,
        non_utf8,
        z,
        sources,
    })
}

/// The outer manifest of this handover.
fn manifest_of(
    opts: &ExportOptions,
    p: &Prepared,
    o: &Outputs,
    w: &Written,
    receipt_code: &str,
    checkpoint: crate::ledger::audit::Checkpoint,
) -> Manifest {
    Manifest {
        format: manifest::FORMAT.into(),
        handover_id: o.handover_id.clone(),
        client: opts.client.clone(),
        name: o.name.clone(),
        created_at: o.created_at.clone(),
        tool: manifest::Tool {
            name: "handover".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        signer: manifest::SignerInfo {
            public_key: p.signer.public_base64(),
            key_id: p.signer.key_id(),
        },
        recipients: opts
            .recipients
            .as_slice()
            .iter()
            .map(|r| r.text.clone())
            .collect(),
        archive: manifest::ArchiveInfo {
            file_name: format!("{}.tar.zst.age", o.name),
            bytes: w.sealed.bytes,
            sha256: w.sealed.sha256.clone(),
        },
        payload: manifest::PayloadInfo {
            files: w.counts.files,
            directories: w.counts.dirs,
            symlinks: w.counts.symlinks,
            hard_links: w.counts.hard_links,
            bytes: w.counts.bytes,
        },
        bag: manifest::BagInfo {
            top_folder: o.name.clone(),
            tagmanifest_sha256: w.tag.clone(),
        },
        compression: manifest::Compression {
            algorithm: "zstd".into(),
            level: w.z.level,
            workers: w.z.workers,
            window_log_max: ZSTD_WINDOW_LOG_MAX,
            frame_checksum: true,
        },
        encryption: "age-encryption.org/v1".into(),
        receipt_code_sha256: util::sha256_hex(receipt_code.as_bytes()),
        audit_checkpoint: Some(checkpoint),
        client_key: p.client_key.clone(),
    }
}

/// The manifest and its signature, written under their temporary names.
struct SignedManifest {
    manifest_file: home::PendingFile,
    sig_file: home::PendingFile,
}

impl SignedManifest {
    /// Writes the manifest and its signature under their temporary names.
    fn write(
        json: &[u8],
        sig: &str,
        o: &Outputs,
        manifest_tmp: PathBuf,
        sig_tmp: PathBuf,
    ) -> Result<SignedManifest> {
        let pending = |path: &Path, tmp: PathBuf, body: &[u8]| -> Result<home::PendingFile> {
            let werr = |source| ExportError::Write {
                path: path.to_path_buf(),
                source,
            };
            let mut f = home::PendingFile::create_at(path, tmp, PUBLIC_MODE).map_err(werr)?;
            f.file().write_all(body).map_err(werr)?;
            Ok(f)
        };
        let manifest_file = pending(&o.manifest, manifest_tmp, json)?;
        let sig_file = pending(&o.sig, sig_tmp, sig.as_bytes())?;
        Ok(SignedManifest {
            manifest_file,
            sig_file,
        })
    }
}

/// Renames the three outputs to their final names, the manifest last, and commits the
/// transaction that records them; on any failure the renamed files are removed again.
fn publish(
    tx: Tx<'_>,
    archive: home::PendingFile,
    signed: SignedManifest,
    out: &Path,
) -> Result<()> {
    let mut published: Vec<PathBuf> = Vec::new();
    let renamed = (|| -> io::Result<()> {
        published.push(archive.commit()?);
        published.push(signed.sig_file.commit()?);
        published.push(signed.manifest_file.commit()?);
        Ok(())
    })();
    if let Err(source) = renamed.and_then(|_| {
        tx.commit()
            .map_err(|e| io::Error::other(format!("recording the handover: {e}")))
    }) {
        for p in &published {
            let _ = fs::remove_file(p);
        }
        return Err(ExportError::Write {
            path: out.to_path_buf(),
            source,
        }
        .into());
    }
    Ok(())
}

/// Forgets the temp records of an export that failed (its files removed) when dropped,
/// unless they were taken out (the export finished and removed them in its transaction).
struct ForgetTemps {
    db: PathBuf,
    paths: Vec<PathBuf>,
}

impl Drop for ForgetTemps {
    fn drop(&mut self) {
        if !self.paths.is_empty() {
            crate::pack::stale::forget(&self.db, &self.paths);
        }
    }
}

/// Chooses the temporary names of the three outputs and records them (with this process as
/// their owner) in one transaction, before any of them exists.
fn record_temps(
    store: &mut Store,
    handover_id: &str,
    created_at: &str,
    dests: [&Path; 3],
) -> Result<[PathBuf; 3]> {
    let temps = dests.map(home::PendingFile::temp_name);
    let (pid, owner) = crate::pack::stale::this_process();
    let rows: Vec<TempFileRecord> = temps
        .iter()
        .zip(dests)
        .map(|(t, d)| TempFileRecord {
            path: t.clone(),
            final_path: d.to_path_buf(),
            handover_id: handover_id.to_string(),
            created_at: created_at.to_string(),
            pid,
            owner: owner.clone(),
            publishing: false,
        })
        .collect();
    let tx = store.begin()?;
    tx.insert_temp_files(&rows)?;
    tx.commit()?;
    Ok(temps)
}

/// A ustar header filled from a `stat` (type, mode, owner, size, mtime), byte for byte what
/// tar-rs's `set_metadata_in_mode(.., HeaderMode::Complete)` writes for the same inode (a unit
/// test holds the two together): the walk has a `stat` from the handle it opened, never a path
/// to give std. tar-rs stores the mtime as `mtime as u64`, so a date before 1970 became a huge
/// positive number that GNU tar refuses ("out of time_t range", extraction fails); such a
/// date is written in GNU's negative base-256 form instead (first byte 0xFF, then two's
/// complement), which GNU tar reads back exactly.
fn header_from(st: &fsx::Stat) -> Header {
    let mut h = Header::new_ustar();
    let mode = st.st_mode;
    let t = st.st_mtime;
    h.set_mtime(t as u64);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mode(mode);
    let ft = fsx::FileType::from_raw_mode(st.st_mode as _);
    h.set_entry_type(match ft {
        fsx::FileType::RegularFile => EntryType::file(),
        fsx::FileType::Symlink => EntryType::symlink(),
        fsx::FileType::CharacterDevice => EntryType::character_special(),
        fsx::FileType::BlockDevice => EntryType::block_special(),
        fsx::FileType::Directory => EntryType::dir(),
        fsx::FileType::Fifo => EntryType::fifo(),
        _ => EntryType::new(b' '),
    });
    let sized = !matches!(ft, fsx::FileType::Directory | fsx::FileType::Symlink);
    h.set_size(if sized { st.st_size as u64 } else { 0 });
    if let Some(u) = h.as_ustar_mut() {
        u.set_device_major(0);
        u.set_device_minor(0);
    }
    if t < 0 {
        // The 12-byte field: 4 bytes of sign extension, then the i64 itself.
        let (fill, value) = h.as_old_mut().mtime.split_at_mut(4);
        fill.fill(0xFF);
        value.copy_from_slice(&t.to_be_bytes());
    }
    h
}

/// Counts bytes and entries with metadata only, so a progress bar can show an ETA. Walks by
/// handle like the export itself (a swapped directory is not followed); errors only make the
/// estimate smaller.
fn pre_count(data: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut dirs: Vec<File> = fsx::open_dir_path(data).into_iter().collect();
    while let Some(dir) = dirs.pop() {
        for (name, ft) in fsx::read_dir(&dir).unwrap_or_default() {
            files += 1;
            match ft {
                fsx::FileType::Directory => dirs.extend(fsx::open_dir_at(&dir, &name).ok()),
                fsx::FileType::RegularFile => {
                    bytes += fsx::lstat_at(&dir, &name).map_or(0, |s| s.st_size as u64)
                }
                _ => {}
            }
        }
    }
    (bytes, files)
}

/// One directory of the walk: its handle (every name in it is opened through it) and the
/// names it held when read, sorted, still to be archived.
struct Level {
    dir: File,
    names: std::vec::IntoIter<(OsString, fsx::FileType)>,
    /// Its path below the data directory, raw bytes (empty for the data directory itself).
    rel: Vec<u8>,
}

/// The state of the one pass over the tree (or over a bucket's objects, `pack::source`).
pub(crate) struct Pass<'a> {
    pub(crate) aw: &'a mut ArchiveWriter,
    /// The mount the data directory is on: a directory on another mount inside it (a
    /// filesystem, or a bind mount of the provider's own files dropped in during the walk)
    /// is refused, never read into the client's archive.
    root_mnt: Option<u64>,
    /// The bag's top folder inside the tar (`NAME`).
    pub(crate) top: PathBuf,
    data: &'a Path,
    // Options only so that `tags` can take them out to append them.
    sums: Option<Spool>,
    bagit: Option<Spool>,
    links: Option<Spool>,
    pub(crate) counts: Counts,
    /// (dev, inode) → (bag path, hash) of files with several links, to store later names as
    /// tar hard links and list them with the same hash without reading them again.
    inodes: HashMap<(u64, u64), (Vec<u8>, String)>,
    non_utf8: Vec<String>,
    strict_names: bool,
    pub(crate) buf: Vec<u8>,
    pub(crate) reporter: &'a dyn Reporter,
    pub(crate) archive_path: &'a Path,
}

fn kind_of(ft: fsx::FileType) -> &'static str {
    match ft {
        fsx::FileType::Fifo => "fifo",
        fsx::FileType::Socket => "socket",
        fsx::FileType::BlockDevice => "block device",
        fsx::FileType::CharacterDevice => "character device",
        _ => "special file",
    }
}

/// Whether an open of a name that was a directory or file a moment ago failed because it is
/// now something else (a symlink: ELOOP; a file where a directory was: ENOTDIR).
fn swapped(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR))
}

impl Pass<'_> {
    /// Copies `size` bytes of `r` into the tar stream after the header just written,
    /// hashing them as they pass; stops with `Interrupted` on Ctrl-C between chunks.
    pub(crate) fn copy_in(
        &mut self,
        r: &mut impl Read,
        size: u64,
    ) -> std::result::Result<([u8; 32], u64), util::CopyError<Error>> {
        let (aw, reporter, archive_path) = (&mut *self.aw, self.reporter, self.archive_path);
        util::hash_copy(r, size, &mut self.buf, |chunk| {
            if reporter.cancelled() {
                return Err(Error::from(ExportError::Interrupted));
            }
            aw.tar()
                .get_mut()
                .write_all(chunk)
                .map_err(|source| ExportError::Write {
                    path: archive_path.to_path_buf(),
                    source,
                })?;
            reporter.bytes(chunk.len() as u64);
            Ok(())
        })
    }

    pub(crate) fn werr(&self, source: io::Error) -> Error {
        ExportError::Write {
            path: self.archive_path.to_path_buf(),
            source,
        }
        .into()
    }

    /// The full path of `rel`, for messages only: nothing is opened by it.
    fn shown_path(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.data.to_path_buf()
        } else {
            self.data.join(OsStr::from_bytes(rel))
        }
    }

    fn unreadable(&self, rel: &[u8], source: io::Error) -> Error {
        ExportError::Unreadable {
            path: self.shown_path(rel),
            source,
        }
        .into()
    }

    fn changed(&self, rel: &[u8], what: &'static str) -> Error {
        ExportError::Changed {
            path: self.shown_path(rel),
            what,
        }
        .into()
    }

    /// Reads a directory's names (sorted, so the archive's order does not depend on the
    /// filesystem) and keeps its handle for opening them.
    fn level(&self, dir: File, rel: Vec<u8>) -> Result<Level> {
        let names = fsx::read_dir(&dir).map_err(|e| self.unreadable(&rel, e))?;
        // Tests swap a directory for a symlink here, between reading a name and opening it.
        crate::fault::point("export.readdir");
        Ok(Level {
            dir,
            names: names.into_iter(),
            rel,
        })
    }

    /// Walks the data directory by handle: the directory is opened once (no symlink on the
    /// way), and every name below it is opened relative to its parent's descriptor without
    /// following a symlink, so a directory swapped for a symlink mid-walk fails the export
    /// instead of sending it outside. Depth first, names sorted bytewise, as the archive
    /// format has always been. One descriptor stays open per level of depth.
    fn walk(&mut self) -> Result<()> {
        let root = fsx::open_dir_path(self.data).map_err(|e| self.unreadable(b"", e))?;
        let root_meta = fsx::fstat(&root).map_err(|e| self.unreadable(b"", e))?;
        self.root_mnt = fsx::mount_id(&root);
        // The top folder, then data/ with the client's root directory's own mode and mtime.
        let mut h = header_from(&root_meta);
        let top = self.top.clone();
        self.aw
            .tar()
            .append_data(&mut h.clone(), &top, io::empty())
            .map_err(|e| self.werr(e))?;
        self.aw
            .tar()
            .append_data(&mut h, top.join("data"), io::empty())
            .map_err(|e| self.werr(e))?;

        let mut stack = vec![self.level(root, Vec::new())?];
        while let Some(level) = stack.last_mut() {
            let Some((name, ft)) = level.names.next() else {
                stack.pop();
                continue;
            };
            let mut rel = level.rel.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            if let Some(sub) = self.entry(&level.dir, &name, ft, &rel)? {
                let next = self.level(sub, rel)?;
                stack.push(next);
            }
            self.reporter.file_done();
            if self.reporter.cancelled() {
                return Err(ExportError::Interrupted.into());
            }
        }
        Ok(())
    }

    /// Archives the entry `name` of `dir` (`rel` below the data directory). Returns the
    /// opened directory when it is one, for the walk to descend into.
    fn entry(
        &mut self,
        dir: &File,
        name: &OsStr,
        ft: fsx::FileType,
        rel: &[u8],
    ) -> Result<Option<File>> {
        let mut bag_path = b"data/".to_vec();
        bag_path.extend_from_slice(rel);
        if std::str::from_utf8(rel).is_err() {
            if self.strict_names {
                return Err(ExportError::NonUtf8Names {
                    count: 1,
                    first: self.shown_path(rel),
                }
                .into());
            }
            self.non_utf8
                .push(crate::error::show(Path::new(OsStr::from_bytes(rel))));
        }
        let tar_path = self.top.join(OsStr::from_bytes(&bag_path));
        if ft == fsx::FileType::RegularFile {
            // No lstat for a file: `file` opens it without following links and takes its
            // metadata from the open file (one lookup per file, not two).
            self.file(dir, name, rel, &bag_path, &tar_path)?;
            return Ok(None);
        }
        let st = fsx::lstat_at(dir, name).map_err(|e| self.unreadable(rel, e))?;
        let now = fsx::FileType::from_raw_mode(st.st_mode as _);
        if ft != fsx::FileType::Unknown && now != ft {
            // Not what the directory listing said a moment ago: something is swapping names
            // under the walk. Whatever it is now, the tree is not the one being handed over.
            return Err(self.changed(
                rel,
                if now == fsx::FileType::Symlink {
                    "replaced by a symlink while the export walked the tree"
                } else {
                    "replaced by another kind of file while the export walked the tree"
                },
            ));
        }
        match now {
            fsx::FileType::Directory => self.dir(dir, name, rel, &st, &tar_path).map(Some),
            fsx::FileType::Symlink => {
                let target = fsx::readlink_at(dir, name).map_err(|e| self.unreadable(rel, e))?;
                let mut h = header_from(&st);
                h.set_size(0);
                self.aw
                    .tar()
                    .append_link(&mut h, &tar_path, &target)
                    .map_err(|e| self.werr(e))?;
                let line = bag::symlink_line(&bag_path, target.as_bytes());
                let links = self.links.as_mut().expect("spool present during the walk");
                links.add(line.as_bytes()).map_err(|e| self.werr(e))?;
                self.counts.symlinks += 1;
                Ok(None)
            }
            fsx::FileType::RegularFile => {
                // readdir did not say what it is; a file.
                self.file(dir, name, rel, &bag_path, &tar_path)?;
                Ok(None)
            }
            other => Err(ExportError::SpecialFile {
                path: self.shown_path(rel),
                kind: kind_of(other),
            }
            .into()),
        }
    }

    /// Opens the directory `name` of `dir` that `lstat` just saw as `st`, checks it is that
    /// same directory (not a symlink or another directory swapped in since), and archives
    /// its header. Returns the handle to descend with.
    fn dir(
        &mut self,
        dir: &File,
        name: &OsStr,
        rel: &[u8],
        st: &fsx::Stat,
        tar_path: &Path,
    ) -> Result<File> {
        let sub = fsx::open_dir_at(dir, name).map_err(|e| {
            if swapped(&e) {
                self.changed(
                    rel,
                    "replaced by a symlink or a file while the export walked the tree",
                )
            } else {
                self.unreadable(rel, e)
            }
        })?;
        let opened = fsx::fstat(&sub).map_err(|e| self.unreadable(rel, e))?;
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) {
            return Err(self.changed(
                rel,
                "replaced by another directory while the export walked the tree",
            ));
        }
        if let (Some(root), Some(here)) = (self.root_mnt, fsx::mount_id(&sub))
            && root != here
        {
            return Err(self.changed(
                rel,
                "is another mount (a filesystem or a bind mount inside the data directory); export it separately",
            ));
        }
        let mut h = header_from(&opened);
        self.aw
            .tar()
            .append_data(&mut h, tar_path, io::empty())
            .map_err(|e| self.werr(e))?;
        self.counts.dirs += 1;
        Ok(sub)
    }

    /// Stores the regular file `name` of `dir`: hashes its bytes as they go into the tar
    /// stream.
    fn file(
        &mut self,
        dir: &File,
        name: &OsStr,
        rel: &[u8],
        bag_path: &[u8],
        tar_path: &Path,
    ) -> Result<()> {
        crate::fault::point("export.file");
        // O_NOFOLLOW: if the name was swapped for a symlink since the walk saw it, fail
        // rather than archive whatever the link points to. O_NONBLOCK: if it was swapped for
        // a FIFO, do not wait for a writer; the type check below refuses it.
        let mut f = fsx::open_file_at(dir, name, false).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                self.changed(rel, "replaced by a symlink")
            } else {
                self.unreadable(rel, e)
            }
        })?;
        let meta = fsx::fstat(&f).map_err(|e| self.unreadable(rel, e))?;
        if fsx::FileType::from_raw_mode(meta.st_mode as _) != fsx::FileType::RegularFile {
            return Err(self.changed(rel, "replaced by another file"));
        }
        let key = (meta.st_dev as u64, meta.st_ino as u64);
        if meta.st_nlink > 1
            && let Some((first, hash)) = self.inodes.get(&key).cloned()
        {
            let mut h = header_from(&meta);
            h.set_entry_type(EntryType::Link);
            h.set_size(0);
            let target = self.top.join(OsStr::from_bytes(&first));
            self.aw
                .tar()
                .append_link(&mut h, tar_path, &target)
                .map_err(|e| self.werr(e))?;
            self.record_file(bag_path, &hash, meta.st_size as u64)?;
            self.counts.hard_links += 1;
            return Ok(());
        }
        let size = meta.st_size as u64;
        let mut h = header_from(&meta);
        h.set_size(size);
        // tar-rs writes the header (and a GNU long-name entry when the path needs one). The
        // contents are copied by our own loop with a large buffer, hashing as they pass, then
        // padded to the tar block: tar-rs's copy goes through 8 KiB and cannot hash.
        self.aw
            .tar()
            .append_data(&mut h, tar_path, io::empty())
            .map_err(|e| self.werr(e))?;
        let copied = self.copy_in(&mut f, size);
        let hash = match copied {
            Ok((_, n)) if n < size => return Err(self.changed(rel, "it became shorter")),
            Ok((hash, _)) => hex::encode(hash),
            Err(util::CopyError::Read(e)) => return Err(self.unreadable(rel, e)),
            Err(util::CopyError::Sink(e)) => return Err(e),
        };
        let pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
        self.aw
            .tar()
            .get_mut()
            .write_all(&[0u8; TAR_BLOCK as usize][..pad as usize])
            .map_err(|e| self.werr(e))?;
        let after = fsx::fstat(&f).map_err(|e| self.unreadable(rel, e))?;
        if after.st_size as u64 != size
            || after.st_mtime != meta.st_mtime
            || after.st_mtime_nsec != meta.st_mtime_nsec
        {
            return Err(self.changed(rel, "it was modified while being read"));
        }
        if meta.st_nlink > 1 {
            self.inodes.insert(key, (bag_path.to_vec(), hash.clone()));
        }
        self.record_file(bag_path, &hash, size)
    }

    pub(crate) fn record_file(&mut self, bag_path: &[u8], hash: &str, size: u64) -> Result<()> {
        let (sums, bagit) = (self.sums.as_mut(), self.bagit.as_mut());
        let r = sums
            .expect("spool present during the walk")
            .add(&bag::sha256sums_line(hash, bag_path))
            .and_then(|_| {
                bagit
                    .expect("spool present during the walk")
                    .add(bag::bagit_line(hash, bag_path).as_bytes())
            });
        r.map_err(|e| self.werr(e))?;
        self.counts.files += 1;
        self.counts.bytes += size;
        Ok(())
    }

    /// Appends the tag files after the payload; returns the SHA-256 of the tag manifest.
    fn tags(
        mut self,
        handover_id: &str,
        client: &str,
        created_at: &str,
        receipt_code: &str,
        signer: &Signer,
        now: time::OffsetDateTime,
    ) -> Result<(String, Counts, Vec<String>)> {
        let bag_info = bag::BagInfoFields {
            version: env!("CARGO_PKG_VERSION"),
            created_at,
            bytes: self.counts.bytes,
            files: self.counts.files,
            handover_id,
            client,
            signer_key_id: &signer.key_id(),
            receipt_code,
        }
        .text();
        let mtime = now.unix_timestamp().max(0) as u64;
        let mut tagmanifest = String::new();
        let small = |this: &mut Self, name: &str, body: &[u8], tm: &mut String| -> Result<()> {
            this.tag_file(name, body.len() as u64, body, mtime)?;
            tm.push_str(&bag::bagit_line(&util::sha256_hex(body), name.as_bytes()));
            Ok(())
        };
        small(
            &mut self,
            bag::BAGIT_TXT,
            bag::bagit_txt().as_bytes(),
            &mut tagmanifest,
        )?;
        small(
            &mut self,
            bag::BAG_INFO,
            bag_info.as_bytes(),
            &mut tagmanifest,
        )?;
        let spools = [
            (bag::MANIFEST, self.bagit.take()),
            (bag::SHA256SUMS, self.sums.take()),
            (bag::SYMLINKS, self.links.take()),
        ];
        for (name, spool) in spools {
            let spool = spool.expect("spools are taken once");
            let (f, len, hash) = spool.done().map_err(|e| self.werr(e))?;
            self.tag_file(name, len, f, mtime)?;
            tagmanifest.push_str(&bag::bagit_line(&hash, name.as_bytes()));
        }
        self.tag_file(
            bag::TAGMANIFEST,
            tagmanifest.len() as u64,
            tagmanifest.as_bytes(),
            mtime,
        )?;
        let sig = signing::sign(
            signer,
            tagmanifest.as_bytes(),
            bag::TAGMANIFEST,
            now.unix_timestamp(),
        )
        .map_err(crate::error::KeyError::Sign)?;
        self.tag_file(
            bag::TAGMANIFEST_SIG,
            sig.len() as u64,
            sig.as_bytes(),
            mtime,
        )?;
        Ok((
            util::sha256_hex(tagmanifest.as_bytes()),
            self.counts,
            self.non_utf8,
        ))
    }

    fn tag_file(&mut self, name: &str, len: u64, body: impl Read, mtime: u64) -> Result<()> {
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_size(len);
        let p = self.top.join(name);
        self.aw
            .tar()
            .append_data(&mut h, p, body)
            .map_err(|e| self.werr(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clone parses each recipient again from its canonical text: it must come out the
    /// same, for an age key and for an SSH key alike.
    #[test]
    fn recipients_clone_to_the_same_keys() {
        use base64::Engine;
        let age_key = age::x25519::Identity::generate().to_public().to_string();
        let mut blob = Vec::new();
        // The ed25519 base point: a valid public key.
        let mut point = [0x66u8; 32];
        point[0] = 0x58;
        for part in [&b"ssh-ed25519"[..], &point[..]] {
            blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
            blob.extend_from_slice(part);
        }
        let ssh_key = format!(
            "ssh-ed25519 {} client@example",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let r = Recipients::parse(&[age_key.clone(), ssh_key, age_key], &[]).unwrap();
        assert_eq!(r.as_slice().len(), 2, "duplicates are dropped");
        let c = r.clone();
        let texts = |r: &Recipients| {
            r.as_slice()
                .iter()
                .map(|r| r.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&c), texts(&r));
        assert_eq!(format!("{c:?}"), format!("{:?}", texts(&r)));
    }

    /// The header built from a `stat` is byte for byte the one tar-rs builds from std's
    /// metadata, which is what every earlier archive was made with.
    #[test]
    fn header_from_stat_matches_tar_rs() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, b"hello").unwrap();
        fs::File::open(&f)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
            .unwrap();
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        let l = t.path().join("l");
        std::os::unix::fs::symlink("f", &l).unwrap();
        let dir = fsx::open_dir_path(t.path()).unwrap();
        for (p, name) in [(&f, "f"), (&d, "d"), (&l, "l")] {
            let mut want = Header::new_ustar();
            want.set_metadata_in_mode(&fs::symlink_metadata(p).unwrap(), tar::HeaderMode::Complete);
            let got = header_from(&fsx::lstat_at(&dir, OsStr::new(name)).unwrap());
            assert_eq!(got.as_bytes(), want.as_bytes(), "{name}");
        }
    }
}
