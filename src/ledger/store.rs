//! Local state in SQLite (rusqlite, bundled): handovers and, in later stages, receipts,
//! deletion jobs and the audit log. The only module that contains SQL.
//!
//! Holds hashes and paths, never a secret: the receipt code is stored only as its SHA-256.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Corruption, HandoverCandidate, HandoverState, StoreError, UnknownState};
use crate::ledger::clients::{ClientProfile, ClientSettings};
use crate::ledger::state::{EntryState, JobState, ScheduleState};

/// How long to wait for another process's lock before reporting the database as locked.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, applied in order; `PRAGMA user_version` counts the ones applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE handovers (
    id                  TEXT PRIMARY KEY,
    client              TEXT NOT NULL,
    name                TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    source_path         BLOB NOT NULL,
    archive_path        BLOB NOT NULL,
    manifest_path       BLOB NOT NULL,
    signature_path      BLOB NOT NULL,
    archive_sha256      TEXT NOT NULL,
    archive_bytes       INTEGER NOT NULL,
    manifest_sha256     TEXT NOT NULL,
    tagmanifest_sha256  TEXT NOT NULL,
    receipt_code_sha256 TEXT NOT NULL,
    signer_key_id       TEXT NOT NULL,
    recipients          TEXT NOT NULL,
    files               INTEGER NOT NULL,
    directories         INTEGER NOT NULL,
    symlinks            INTEGER NOT NULL,
    payload_bytes       INTEGER NOT NULL
);
"#,
    // 2: proof of receipt, one per handover (issue 3). Deletion is gated on it (issue 4).
    r#"
CREATE TABLE receipts (
    handover_id     TEXT PRIMARY KEY REFERENCES handovers(id),
    confirmed_at    TEXT NOT NULL,
    method          TEXT NOT NULL CHECK (method IN ('code', 'receipt')),
    receipt_sha256  TEXT,
    client_key_id   TEXT,
    received_at     TEXT
);
"#,
    // 3: the tamper-evident audit log (issue 5): each row holds the hash of the one before;
    // the single head row is signed after every append.
    r#"
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    command     TEXT NOT NULL,
    handover_id TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    signature   TEXT NOT NULL
);
"#,
    // 4: post-contract deletion schedule (issue 5): one job per handover, with its hold and
    // the lease that makes concurrent `run-due` runs claim it exactly once.
    r#"
CREATE TABLE schedules (
    handover_id    TEXT PRIMARY KEY REFERENCES handovers(id),
    due_at         TEXT,
    scheduled_at   TEXT,
    hold_reason    TEXT,
    held_at        TEXT,
    state          TEXT NOT NULL DEFAULT 'scheduled'
                   CHECK (state IN ('scheduled', 'done', 'gone')),
    lease_owner    TEXT,
    lease_until    TEXT,
    finished_at    TEXT,
    certificate_id TEXT,
    last_error     TEXT
);
"#,
    // 5: keep the signed outer manifest itself, so the evidence pack can include it after the
    // local copies have been deleted. It names no client file, and holds no secret.
    r#"
ALTER TABLE handovers ADD COLUMN manifest_json TEXT;
ALTER TABLE handovers ADD COLUMN manifest_signature TEXT;
"#,
    // 6: deletion jobs with their plans, and the signed certificates (issue 4). A job and
    // every entry of its plan are recorded before anything is touched, so an interrupted
    // deletion can be finished and certified once.
    r#"
CREATE TABLE deletion_jobs (
    id                     TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL CHECK (kind IN ('delete', 'shred')),
    handover_id            TEXT REFERENCES handovers(id),
    roots_key              TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('running', 'done')),
    runs                   INTEGER NOT NULL,
    without_receipt_reason TEXT,
    certificate_id         TEXT
);
CREATE TABLE deletion_roots (
    job_id TEXT NOT NULL REFERENCES deletion_jobs(id),
    idx    INTEGER NOT NULL,
    path   BLOB NOT NULL,
    label  TEXT NOT NULL,
    fs     TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE deletion_entries (
    job_id       TEXT NOT NULL REFERENCES deletion_jobs(id),
    seq          INTEGER NOT NULL,
    root_idx     INTEGER NOT NULL,
    rel_path     BLOB NOT NULL,
    kind         TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    dev          INTEGER NOT NULL,
    ino          INTEGER NOT NULL,
    method       TEXT NOT NULL,
    reason       TEXT,
    tmp_name     TEXT NOT NULL,
    state        TEXT NOT NULL
                 CHECK (state IN ('pending', 'hashed', 'ready', 'done', 'vanished', 'failed')),
    sha256       TEXT,
    verification TEXT,
    note         TEXT,
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, root_idx, rel_path)
);
CREATE TABLE certificates (
    id             TEXT PRIMARY KEY,
    job_id         TEXT NOT NULL UNIQUE REFERENCES deletion_jobs(id),
    handover_id    TEXT,
    created_at     TEXT NOT NULL,
    document       BLOB NOT NULL,
    signature      TEXT NOT NULL,
    json_path      BLOB NOT NULL,
    signature_path BLOB NOT NULL
);
"#,
    // 6: every signed head of the audit log, not only the latest (issue 9): a rewrite of any
    // row before a head breaks that head's signature, and a head that disappeared is seen.
    r#"
CREATE TABLE audit_heads (
    seq         INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    signature   TEXT NOT NULL
);
INSERT INTO audit_heads (seq, hash, signature) SELECT seq, hash, signature FROM audit_head;
"#,
    // 7: the proof level of a confirmed receipt (issue 9), and when a later, stronger receipt
    // upgraded it. Earlier signed confirmations had no key bound at export: unbound.
    r#"
ALTER TABLE receipts ADD COLUMN proof TEXT NOT NULL DEFAULT 'code'
    CHECK (proof IN ('code', 'unbound_signature', 'client_signature'));
ALTER TABLE receipts ADD COLUMN upgraded_at TEXT;
UPDATE receipts SET proof = 'unbound_signature' WHERE client_key_id IS NOT NULL;
"#,
    // 8: leases on deletions (issue 8), replacing schedules.lease_owner/lease_until (left in
    // place, no longer used). One row per running deletion: `handover:<id>` for
    // `delete` and `run-due`, `roots:<roots_key>` for `shred`, with the paths it covers, so
    // that two deletions of one handover, or of overlapping paths, never run at once.
    r#"
CREATE TABLE deletion_leases (
    key      TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    until    TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    job_id   TEXT
);
CREATE TABLE deletion_lease_paths (
    key  TEXT NOT NULL,
    path BLOB NOT NULL
);
CREATE INDEX deletion_lease_paths_key ON deletion_lease_paths (key);
"#,
    // 9: temporary files export is about to write (issue 8), recorded before they exist, so a
    // killed export's partial archive is found and shredded by the next export or `delete`.
    // `owner` tells a live writer from a dead one (see `export::process_owner`).
    r#"
CREATE TABLE temp_files (
    path        BLOB PRIMARY KEY,
    final_path  BLOB NOT NULL,
    handover_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    publishing  INTEGER NOT NULL DEFAULT 0
);
"#,
    // 10: how a finished job's paths are kept (issue 9): `salted_sha256` (rel_path and the
    // non-outbox roots' paths replaced by `salted-sha256:<hex>`, as the certificate lists
    // them) or `clear`. NULL: running, or finished before this column existed (clear).
    r#"
ALTER TABLE deletion_jobs ADD COLUMN names TEXT;
"#,
    // 11: the offboarding steps the operator attests (issue 11): who said when that a step
    // outside the tool was done (access revoked, billing settled, ...). Every attestation is
    // kept; the latest of a step is the one shown. Audited as `attest` events.
    r#"
CREATE TABLE attestations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    handover_id TEXT NOT NULL,
    step        TEXT NOT NULL,
    attested_at TEXT NOT NULL,
    operator    TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX attestations_handover ON attestations (handover_id);
"#,
    // 12: a handover withdrawn before it was delivered (`handover void`): when, and why. The
    // audited `void` event is what counts; these columns must agree with it (`audit`).
    r#"
ALTER TABLE handovers ADD COLUMN voided_at TEXT;
ALTER TABLE handovers ADD COLUMN void_reason TEXT;
"#,
    // 13: client profiles (issue 11): what an offboarding of one client needs, recorded once.
    // Lists are JSON arrays of text; paths are absolute and UTF-8; delete_after in seconds.
    r#"
CREATE TABLE clients (
    name            TEXT PRIMARY KEY,
    data_dir        TEXT,
    recipients      TEXT NOT NULL DEFAULT '[]',
    recipient_files TEXT NOT NULL DEFAULT '[]',
    escrow          TEXT NOT NULL DEFAULT '[]',
    client_key      TEXT,
    out_dir         TEXT,
    delete_after    INTEGER,
    contract_end    TEXT,
    operator        TEXT,
    organization    TEXT,
    receipt_days    INTEGER NOT NULL DEFAULT 14,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
"#,
    // 14: object storage (issue 12). `objects`: every object version a handover wrote
    // (`archive`, `manifest`, `signature`) or read (`source`), the versions `delete` removes.
    // `remote_temps`: the keys an export is uploading to, recorded before the upload starts,
    // so that the next export aborts the incomplete upload and removes the objects of an
    // export killed before it recorded its handover.
    r#"
CREATE TABLE objects (
    handover_id TEXT NOT NULL,
    role        TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    version_id  TEXT,
    etag        TEXT,
    bytes       INTEGER NOT NULL,
    endpoint    TEXT NOT NULL
);
CREATE INDEX objects_handover ON objects (handover_id, role);
CREATE TABLE remote_temps (
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    handover_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
"#,
    // 15: what a deletion job removes in a bucket (issue 12), apart from its local entries so
    // that a key is never taken for a path: one row per object version, delete marker or
    // incomplete multipart upload (`version_id` holds its upload id), recorded with the plan
    // before anything is touched, and its state as the run goes (`ready`: the delete was
    // about to be sent, so a version gone on resume was removed by this job).
    r#"
CREATE TABLE deletion_objects (
    job_id     TEXT NOT NULL REFERENCES deletion_jobs(id),
    seq        INTEGER NOT NULL,
    role       TEXT NOT NULL,
    bucket     TEXT NOT NULL,
    key        TEXT NOT NULL,
    version_id TEXT,
    kind       TEXT NOT NULL CHECK (kind IN ('object', 'delete_marker', 'multipart_upload')),
    bytes      INTEGER NOT NULL,
    method     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'done', 'vanished', 'failed')),
    note       TEXT,
    PRIMARY KEY (job_id, seq)
);
"#,
];

/// One recorded handover.
#[derive(Debug, Clone, Serialize)]
pub struct HandoverRecord {
    /// The handover's id (32 hex characters).
    pub handover_id: String,
    /// The client's name.
    pub client: String,
    /// The handover's name, the base name of its files (default `<client>-<UTC timestamp>`).
    pub name: String,
    /// When it was exported (UTC, RFC 3339).
    pub created_at: String,
    /// The client's data directory that was exported.
    #[serde(serialize_with = "crate::util::path_text")]
    pub source_path: PathBuf,
    /// The encrypted archive, `NAME.tar.zst.age`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub archive_path: PathBuf,
    /// The outer manifest, `NAME.manifest.json`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub manifest_path: PathBuf,
    /// The manifest's signature, `NAME.manifest.json.minisig`.
    #[serde(serialize_with = "crate::util::path_text")]
    pub signature_path: PathBuf,
    /// SHA-256 of the encrypted archive, hex.
    pub archive_sha256: String,
    /// Bytes of the encrypted archive.
    pub archive_bytes: u64,
    /// SHA-256 of the signed manifest's bytes, hex.
    pub manifest_sha256: String,
    /// SHA-256 of the bag's `tagmanifest-sha256.txt`, hex.
    pub tagmanifest_sha256: String,
    /// SHA-256 of the receipt code, hex: the code itself is never stored.
    pub receipt_code_sha256: String,
    /// The key id of the key that signed the manifest and the bag.
    pub signer_key_id: String,
    /// The age recipients the archive is encrypted to, in canonical form.
    pub recipients: Vec<String>,
    /// Regular files, hard-linked names included.
    pub files: u64,
    /// Directories below the data directory.
    pub directories: u64,
    /// Symlinks, stored as symlinks.
    pub symlinks: u64,
    /// Bytes of file content, a hard-linked file counted under each of its names.
    pub payload_bytes: u64,
    /// When it was voided (`handover void`), UTC, RFC 3339; absent unless it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<String>,
    /// Why it was voided, as the operator gave it; absent unless it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub command: String,
    pub handover_id: Option<String>,
    /// JSON text, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The signed head of the audit chain.
#[derive(Debug, Clone)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    pub signature: String,
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: r.get(0)?,
        at: r.get(1)?,
        command: r.get(2)?,
        handover_id: r.get(3)?,
        details: r.get(4)?,
        prev_hash: r.get(5)?,
        hash: r.get(6)?,
    })
}

const AUDIT_COLUMNS: &str = "seq, at, command, handover_id, details, prev_hash, hash";

/// A deletion job on the schedule.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRecord {
    pub handover_id: String,
    /// None: not scheduled (a hold can exist before a schedule does).
    pub due_at: Option<String>,
    pub scheduled_at: Option<String>,
    pub hold_reason: Option<String>,
    pub held_at: Option<String>,
    /// `scheduled`, `done` (deleted, with a certificate) or `gone` (nothing was left to delete).
    pub state: ScheduleState,
    pub lease_owner: Option<String>,
    pub lease_until: Option<String>,
    pub finished_at: Option<String>,
    pub certificate_id: Option<String>,
    pub last_error: Option<String>,
}

const SCHEDULE_COLUMNS: &str = "handover_id, due_at, scheduled_at, hold_reason, held_at, state,
    lease_owner, lease_until, finished_at, certificate_id, last_error";

fn schedule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        handover_id: r.get(0)?,
        due_at: r.get(1)?,
        scheduled_at: r.get(2)?,
        hold_reason: r.get(3)?,
        held_at: r.get(4)?,
        state: r.get(5)?,
        lease_owner: r.get(6)?,
        lease_until: r.get(7)?,
        finished_at: r.get(8)?,
        certificate_id: r.get(9)?,
        last_error: r.get(10)?,
    })
}

/// A write transaction on the state database.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
}

/// A confirmed proof of receipt.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptRecord {
    /// The handover the receipt confirms (32 hex characters).
    pub handover_id: String,
    /// When the provider confirmed it (UTC, RFC 3339).
    pub confirmed_at: String,
    /// `code` (the receipt code was typed) or `receipt` (a receipt file was checked).
    pub method: String,
    /// SHA-256 of the receipt file, when one was given.
    pub receipt_sha256: Option<String>,
    /// Minisign key id of the client's signature on the receipt, when signed.
    pub client_key_id: Option<String>,
    /// The time the client's receipt states, when one was given.
    pub received_at: Option<String>,
    /// What the confirmation proves (`receipt::Proof`): `client_signature`,
    /// `unbound_signature` or `code`.
    pub proof: String,
    /// When a later receipt raised the proof level (UTC, RFC 3339); `confirmed_at` stays the
    /// first confirmation.
    pub upgraded_at: Option<String>,
}

const RECEIPT_COLUMNS: &str = "handover_id, confirmed_at, method, receipt_sha256, client_key_id, received_at, proof, upgraded_at";

fn receipt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReceiptRecord> {
    Ok(ReceiptRecord {
        handover_id: r.get(0)?,
        confirmed_at: r.get(1)?,
        method: r.get(2)?,
        receipt_sha256: r.get(3)?,
        client_key_id: r.get(4)?,
        received_at: r.get(5)?,
        proof: r.get(6)?,
        upgraded_at: r.get(7)?,
    })
}

/// An open state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn path_bytes(p: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

fn bytes_path(b: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(b))
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.err(e))?;
        // Freed content is overwritten with zeros, so that a path replaced by its salted
        // hash once a deletion is done does not live on in a free page or free block.
        store
            .conn
            .pragma_update(None, "secure_delete", true)
            .map_err(|e| store.err(e))?;
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// Applies the migrations not yet applied. Several processes may open a fresh home at
    /// once: the version is read again inside an IMMEDIATE transaction (which takes the write
    /// lock at BEGIN), so only the first applies a migration and the others, once they get the
    /// lock, find it applied. A deferred transaction would let all of them read version 0
    /// and then fail with "table ... already exists".
    fn migrate(&mut self) -> Result<(), StoreError> {
        let read_version = |c: &Connection| -> rusqlite::Result<usize> {
            c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
                .map(|v| v as usize)
        };
        if read_version(&self.conn).map_err(|e| self.err(e))? >= MIGRATIONS.len() {
            return Ok(());
        }
        // Test builds: lets a test line several processes up right here.
        crate::fault::point("store.migrate");
        let path = self.path.clone();
        let err = |e| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let version = read_version(&tx).map_err(err)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql).map_err(err)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Begins a write transaction; it rolls back unless [`Tx::commit`] is called.
    pub fn begin(&mut self) -> Result<Tx<'_>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e))?;
        Ok(Tx { tx, path })
    }
}

impl Tx<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// The state database this transaction writes.
    pub fn db_path(&self) -> &Path {
        &self.path
    }

    /// Runs one statement, mapping its failure to what the user can act on.
    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<(), StoreError> {
        self.tx.execute(sql, p).map(|_| ()).map_err(|e| self.err(e))
    }

    /// Records a handover.
    pub fn insert_handover(&self, h: &HandoverRecord) -> Result<(), StoreError> {
        self.tx
            .execute(
            "INSERT INTO handovers (id, client, name, created_at, source_path, archive_path,
                manifest_path, signature_path, archive_sha256, archive_bytes, manifest_sha256,
                tagmanifest_sha256, receipt_code_sha256, signer_key_id, recipients, files,
                directories, symlinks, payload_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            params![
                h.handover_id,
                h.client,
                h.name,
                h.created_at,
                path_bytes(&h.source_path),
                path_bytes(&h.archive_path),
                path_bytes(&h.manifest_path),
                path_bytes(&h.signature_path),
                h.archive_sha256,
                h.archive_bytes as i64,
                h.manifest_sha256,
                h.tagmanifest_sha256,
                h.receipt_code_sha256,
                h.signer_key_id,
                serde_json::to_string(&h.recipients).unwrap_or_default(),
                h.files as i64,
                h.directories as i64,
                h.symlinks as i64,
                h.payload_bytes as i64,
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores the signed outer manifest of a handover (for the evidence pack).
    pub fn set_manifest_documents(
        &self,
        handover_id: &str,
        json: &str,
        sig: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE handovers SET manifest_json = ?2, manifest_signature = ?3 WHERE id = ?1",
            params![handover_id, json, sig],
        )
    }

    /// Records a confirmed receipt.
    pub fn insert_receipt(&self, r: &ReceiptRecord) -> Result<(), StoreError> {
        self.exec(
            &format!(
                "INSERT INTO receipts ({RECEIPT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                r.handover_id,
                r.confirmed_at,
                r.method,
                r.receipt_sha256,
                r.client_key_id,
                r.received_at,
                r.proof,
                r.upgraded_at
            ],
        )
    }

    /// Replaces a confirmed receipt by a stronger one (a higher proof level), keeping the
    /// time of the first confirmation.
    pub fn upgrade_receipt(&self, r: &ReceiptRecord) -> Result<(), StoreError> {
        self.exec(
            "UPDATE receipts SET method = ?2, receipt_sha256 = ?3, client_key_id = ?4,
                    received_at = ?5, proof = ?6, upgraded_at = ?7 WHERE handover_id = ?1",
            params![
                r.handover_id,
                r.method,
                r.receipt_sha256,
                r.client_key_id,
                r.received_at,
                r.proof,
                r.upgraded_at
            ],
        )
    }

    /// Appends an audit row and moves the signed head to it.
    pub fn append_audit(&self, row: &AuditRow, head_signature: &str) -> Result<(), StoreError> {
        self.exec(
            &format!(
                "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                row.seq,
                row.at,
                row.command,
                row.handover_id,
                row.details,
                row.prev_hash,
                row.hash
            ],
        )?;
        self.exec(
            "INSERT INTO audit_heads (seq, hash, signature) VALUES (?1, ?2, ?3)",
            params![row.seq, row.hash, head_signature],
        )?;
        self.exec(
            "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET seq = ?1, hash = ?2, signature = ?3",
            params![row.seq, row.hash, head_signature],
        )
    }

    /// The whole audit log and every signed head, read inside this transaction (an append
    /// checks them before it signs anything new).
    pub fn audit_log(&self) -> Result<(Vec<AuditRow>, Vec<AuditHead>), StoreError> {
        read_audit_log(&self.tx, None).map_err(|e| self.err(e))
    }

    /// Creates or moves the deletion job of a handover (a finished job is not reopened).
    pub fn set_schedule(
        &self,
        handover_id: &str,
        due_at: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO schedules (handover_id, due_at, scheduled_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(handover_id) DO UPDATE SET due_at = ?2, scheduled_at = ?3",
            params![handover_id, due_at, now],
        )
    }

    /// Places (Some) or lifts (None) a hold on a job.
    pub fn set_hold(
        &self,
        handover_id: &str,
        reason: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO schedules (handover_id, hold_reason, held_at)
                    VALUES (?1, ?2, CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END)
                 ON CONFLICT(handover_id) DO UPDATE SET hold_reason = ?2,
                    held_at = CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END",
            params![handover_id, reason, now],
        )
    }

    /// The job of a handover, read inside this transaction.
    pub fn schedule(&self, handover_id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        self.tx
            .query_row(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE handover_id = ?1"),
                [handover_id],
                schedule_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Closes a job: `done` with its certificate, or `gone`; or records an error and keeps it open.
    pub fn finish_schedule(
        &self,
        handover_id: &str,
        state: ScheduleState,
        finished_at: Option<&str>,
        certificate_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE schedules SET state = ?2, finished_at = ?3, certificate_id = ?4,
                    last_error = ?5, lease_owner = NULL, lease_until = NULL WHERE handover_id = ?1",
            params![handover_id, state, finished_at, certificate_id, error],
        )
    }

    /// The confirmed receipt of a handover, read inside this transaction.
    pub fn receipt(&self, handover_id: &str) -> Result<Option<ReceiptRecord>, StoreError> {
        self.tx
            .query_row(
                &format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE handover_id = ?1"),
                [handover_id],
                receipt_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The time of the latest audit event, if any.
    pub fn last_event_at(&self) -> Result<Option<String>, StoreError> {
        self.tx
            .query_row("SELECT max(at) FROM audit_events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Makes the transaction's changes durable.
    pub fn commit(self) -> Result<(), StoreError> {
        let path = self.path;
        self.tx.commit().map_err(|e| classify(&path, e))
    }
}

impl Store {
    /// Every handover, oldest first.
    pub fn handovers(&self) -> Result<Vec<HandoverRecord>, StoreError> {
        self.select("ORDER BY rowid", [])
    }

    fn select<P: rusqlite::Params>(
        &self,
        tail: &str,
        p: P,
    ) -> Result<Vec<HandoverRecord>, StoreError> {
        let sql = format!(
            "SELECT id, client, name, created_at, source_path, archive_path, manifest_path,
                signature_path, archive_sha256, archive_bytes, manifest_sha256, tagmanifest_sha256,
                receipt_code_sha256, signer_key_id, recipients, files, directories, symlinks,
                payload_bytes, voided_at, void_reason FROM handovers {tail}"
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(p, |r| {
                Ok(HandoverRecord {
                    handover_id: r.get(0)?,
                    client: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                    source_path: bytes_path(r.get(4)?),
                    archive_path: bytes_path(r.get(5)?),
                    manifest_path: bytes_path(r.get(6)?),
                    signature_path: bytes_path(r.get(7)?),
                    archive_sha256: r.get(8)?,
                    archive_bytes: r.get::<_, i64>(9)? as u64,
                    manifest_sha256: r.get(10)?,
                    tagmanifest_sha256: r.get(11)?,
                    receipt_code_sha256: r.get(12)?,
                    signer_key_id: r.get(13)?,
                    recipients: serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default(),
                    files: r.get::<_, i64>(15)? as u64,
                    directories: r.get::<_, i64>(16)? as u64,
                    symlinks: r.get::<_, i64>(17)? as u64,
                    payload_bytes: r.get::<_, i64>(18)? as u64,
                    voided_at: r.get(19)?,
                    void_reason: r.get(20)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The signed outer manifest of a handover, as written at export: (JSON, minisig).
    pub fn manifest_documents(
        &self,
        handover_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT manifest_json, manifest_signature FROM handovers WHERE id = ?1",
                [handover_id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                    ))
                },
            )
            .optional()
            .map(|o| o.and_then(|(m, s)| Some((m?, s?))))
            .map_err(|e| self.err(e))
    }

    /// The confirmed receipt of a handover, if any.
    pub fn receipt(&self, handover_id: &str) -> Result<Option<ReceiptRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE handover_id = ?1"),
                [handover_id],
                receipt_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The whole audit log (or one handover's events) and every signed head.
    pub fn audit_log(
        &self,
        handover_id: Option<&str>,
    ) -> Result<(Vec<AuditRow>, Vec<AuditHead>), StoreError> {
        // One read transaction, so the rows and the heads are one snapshot: read apart, a
        // row and its head appended by another process in between look like tampering.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let out = read_audit_log(&tx, handover_id).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The audit log in order of its sequence numbers (as stored: verification decides).
    pub fn audit_events(&self, handover_id: Option<&str>) -> Result<Vec<AuditRow>, StoreError> {
        let (sql, p): (String, Vec<String>) = match handover_id {
            Some(id) => (
                format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE handover_id = ?1 ORDER BY seq"
                ),
                vec![id.to_string()],
            ),
            None => (
                format!("SELECT {AUDIT_COLUMNS} FROM audit_events ORDER BY seq"),
                vec![],
            ),
        };
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(p.iter()), audit_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The signed head of the audit chain, if any event was recorded.
    pub fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.conn
            .query_row(
                "SELECT seq, hash, signature FROM audit_heads ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(AuditHead {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                        signature: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The deletion job of one handover, if any.
    pub fn schedule(&self, handover_id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE handover_id = ?1"),
                [handover_id],
                schedule_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every deletion job, soonest first.
    pub fn schedules(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY due_at, handover_id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], schedule_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

impl Store {
    /// Every confirmed receipt.
    pub fn receipts(&self) -> Result<Vec<ReceiptRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {RECEIPT_COLUMNS} FROM receipts ORDER BY confirmed_at"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], receipt_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// Rows (all, or one handover's) and every signed head, each in sequence order.
fn read_audit_log(
    conn: &Connection,
    handover_id: Option<&str>,
) -> rusqlite::Result<(Vec<AuditRow>, Vec<AuditHead>)> {
    let sql = match handover_id {
        Some(_) => {
            format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE handover_id = ?1 ORDER BY seq")
        }
        None => format!("SELECT {AUDIT_COLUMNS} FROM audit_events ORDER BY seq"),
    };
    let mut st = conn.prepare(&sql)?;
    let rows = match handover_id {
        Some(id) => st
            .query_map([id], audit_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => st
            .query_map([], audit_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    let mut st = conn.prepare("SELECT seq, hash, signature FROM audit_heads ORDER BY seq")?;
    let heads = st
        .query_map([], |r| {
            Ok(AuditHead {
                seq: r.get(0)?,
                hash: r.get(1)?,
                signature: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, heads))
}

/// Maps SQLite failures to what the user can act on.
pub fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    // A state the typed columns refuse: said as what it is, without rusqlite's wrapping.
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e
        && let Some(u) = inner.downcast_ref::<UnknownState>()
    {
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: Corruption::Edited(u.clone()),
        };
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Locked(path.to_path_buf())
        }
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: Corruption::Sqlite(e),
        },
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// A deletion job (`delete` or `shred`): its plan lives in [`EntryRecord`]s.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job_id: String,
    /// `delete` or `shred`.
    pub kind: String,
    pub handover_id: Option<String>,
    /// SHA-256 over the sorted root paths: finds the unfinished job for the same paths.
    pub roots_key: String,
    pub created_at: String,
    /// `running` until its certificate is stored, then `done`.
    pub state: JobState,
    /// How many times the job was started (more than 1: it was interrupted and resumed).
    pub runs: u32,
    pub without_receipt_reason: Option<String>,
    pub certificate_id: Option<String>,
}

/// One path a deletion job was asked to remove.
#[derive(Debug, Clone)]
pub struct RootRecord {
    pub path: PathBuf,
    /// What the path is: `source`, `archive`, `manifest`, `signature`, `also` or `path`.
    pub label: String,
    /// The filesystem description at plan time, JSON.
    pub fs_json: String,
}

/// One entry of a deletion plan and how far its deletion got.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    pub seq: u64,
    pub root_idx: u32,
    /// Relative to the root (empty for the root itself), raw bytes.
    pub rel_path: Vec<u8>,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    pub bytes: u64,
    pub dev: u64,
    pub ino: u64,
    /// `clear`, `overwrite_best_effort`, `logical_delete` or `unlink`.
    pub method: String,
    pub reason: Option<String>,
    /// The random name the entry is renamed to just before it is unlinked.
    pub tmp_name: String,
    /// `pending`, `hashed`, `ready`, `done`, `vanished` or `failed`.
    pub state: EntryState,
    pub sha256: Option<String>,
    pub verification: Option<String>,
    pub note: Option<String>,
}

/// A stored deletion certificate.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub certificate_id: String,
    pub job_id: String,
    pub handover_id: Option<String>,
    pub created_at: String,
    /// The exact signed JSON bytes.
    pub document: Vec<u8>,
    /// The `.minisig` text.
    pub signature: String,
    pub json_path: PathBuf,
    pub signature_path: PathBuf,
}

impl Tx<'_> {
    /// Records a new deletion job.
    pub fn insert_job(&self, j: &JobRecord) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO deletion_jobs (id, kind, handover_id, roots_key, created_at, state,
                    runs, without_receipt_reason, certificate_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                j.job_id,
                j.kind,
                j.handover_id,
                j.roots_key,
                j.created_at,
                j.state,
                j.runs,
                j.without_receipt_reason,
                j.certificate_id
            ],
        )
    }

    /// Records one root of a job.
    pub fn insert_root(&self, job_id: &str, idx: u32, r: &RootRecord) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO deletion_roots (job_id, idx, path, label, fs) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![job_id, idx, path_bytes(&r.path), r.label, r.fs_json],
        )
    }

    /// Adds a plan entry, or refreshes a pending one planned again on a resumed run.
    pub fn upsert_entry(&self, job_id: &str, e: &EntryRecord) -> Result<(), StoreError> {
        let mut st = self
            .tx
            .prepare_cached(
                "INSERT INTO deletion_entries (job_id, seq, root_idx, rel_path, kind, bytes, dev,
                    ino, method, reason, tmp_name, state, sha256, verification, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (job_id, seq) DO UPDATE SET kind = excluded.kind,
                    bytes = excluded.bytes, dev = excluded.dev, ino = excluded.ino,
                    method = excluded.method, reason = excluded.reason, state = excluded.state,
                    sha256 = excluded.sha256, verification = excluded.verification,
                    note = excluded.note",
            )
            .map_err(|e| self.err(e))?;
        st.execute(params![
            job_id,
            e.seq as i64,
            e.root_idx,
            e.rel_path,
            e.kind,
            e.bytes as i64,
            e.dev as i64,
            e.ino as i64,
            e.method,
            e.reason,
            e.tmp_name,
            e.state,
            e.sha256,
            e.verification,
            e.note
        ])
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records how far one entry got.
    pub fn set_entry_state(
        &self,
        job_id: &str,
        seq: u64,
        state: EntryState,
        sha256: Option<&str>,
        verification: Option<&str>,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut st = self
            .tx
            .prepare_cached(
                "UPDATE deletion_entries SET state = ?3, sha256 = COALESCE(?4, sha256),
                    verification = COALESCE(?5, verification), note = COALESCE(?6, note)
                 WHERE job_id = ?1 AND seq = ?2",
            )
            .map_err(|e| self.err(e))?;
        st.execute(params![
            job_id,
            seq as i64,
            state,
            sha256,
            verification,
            note
        ])
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Counts one more run of an interrupted job, and the reason it runs without a receipt.
    pub fn resume_job(&self, job_id: &str, reason: Option<&str>) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_jobs SET runs = runs + 1,
                    without_receipt_reason = COALESCE(?2, without_receipt_reason) WHERE id = ?1",
            params![job_id, reason],
        )
    }

    /// Stores a certificate and marks its job done.
    pub fn insert_certificate(&self, c: &CertificateRecord) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO certificates (id, job_id, handover_id, created_at, document,
                    signature, json_path, signature_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.certificate_id,
                c.job_id,
                c.handover_id,
                c.created_at,
                c.document,
                c.signature,
                path_bytes(&c.json_path),
                path_bytes(&c.signature_path)
            ],
        )?;
        self.exec(
            "UPDATE deletion_jobs SET state = ?3, certificate_id = ?2 WHERE id = ?1",
            params![c.job_id, c.certificate_id, JobState::Done],
        )
    }
}

impl Tx<'_> {
    /// Records how a finished job's paths are kept (`salted_sha256` or `clear`).
    pub fn set_job_names(&self, job_id: &str, names: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_jobs SET names = ?2 WHERE id = ?1",
            params![job_id, names],
        )
    }

    /// Replaces an entry's path with what the certificate lists in its place.
    pub fn redact_entry_path(&self, job_id: &str, seq: u64, form: &[u8]) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_entries SET rel_path = ?3 WHERE job_id = ?1 AND seq = ?2",
            params![job_id, seq as i64, form],
        )
    }

    /// Replaces a root's path with what the certificate lists in its place.
    pub fn redact_root_path(&self, job_id: &str, idx: u32, form: &[u8]) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_roots SET path = ?3 WHERE job_id = ?1 AND idx = ?2",
            params![job_id, idx, form],
        )
    }

    /// Replaces one object entry's key with its stored salted form, once its job is done.
    pub fn redact_object_key(&self, job_id: &str, seq: u64, form: &[u8]) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_objects SET key = CAST(?3 AS TEXT) WHERE job_id = ?1 AND seq = ?2",
            params![job_id, seq as i64, form],
        )
    }
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        job_id: r.get(0)?,
        kind: r.get(1)?,
        handover_id: r.get(2)?,
        roots_key: r.get(3)?,
        created_at: r.get(4)?,
        state: r.get(5)?,
        runs: r.get(6)?,
        without_receipt_reason: r.get(7)?,
        certificate_id: r.get(8)?,
    })
}

const JOB_COLUMNS: &str = "id, kind, handover_id, roots_key, created_at, state, runs,
    without_receipt_reason, certificate_id";

impl Store {
    /// The newest job of `kind` for these roots (and handover), in `state`.
    pub fn deletion_job(
        &self,
        kind: &str,
        roots_key: &str,
        state: JobState,
    ) -> Result<Option<JobRecord>, StoreError> {
        job_for_roots_on(&self.conn, kind, roots_key, state).map_err(|e| self.err(e))
    }

    /// The newest job for a handover, whatever its roots.
    pub fn deletion_job_for_handover(
        &self,
        handover_id: &str,
    ) -> Result<Option<JobRecord>, StoreError> {
        job_for_handover_on(&self.conn, handover_id).map_err(|e| self.err(e))
    }

    /// A job by id.
    pub fn deletion_job_by_id(&self, job_id: &str) -> Result<JobRecord, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM deletion_jobs WHERE id = ?1"),
                [job_id],
                job_row,
            )
            .map_err(|e| self.err(e))
    }

    /// The roots of a job, in order.
    pub fn deletion_roots(&self, job_id: &str) -> Result<Vec<RootRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT path, label, fs FROM deletion_roots WHERE job_id = ?1 ORDER BY idx")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([job_id], |r| {
                Ok(RootRecord {
                    path: bytes_path(r.get(0)?),
                    label: r.get(1)?,
                    fs_json: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every entry of a job's plan, in plan order.
    pub fn deletion_entries(&self, job_id: &str) -> Result<Vec<EntryRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT seq, root_idx, rel_path, kind, bytes, dev, ino, method, reason, tmp_name,
                    state, sha256, verification, note
                 FROM deletion_entries WHERE job_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([job_id], |r| {
                Ok(EntryRecord {
                    seq: r.get::<_, i64>(0)? as u64,
                    root_idx: r.get(1)?,
                    rel_path: r.get(2)?,
                    kind: r.get(3)?,
                    bytes: r.get::<_, i64>(4)? as u64,
                    dev: r.get::<_, i64>(5)? as u64,
                    ino: r.get::<_, i64>(6)? as u64,
                    method: r.get(7)?,
                    reason: r.get(8)?,
                    tmp_name: r.get(9)?,
                    state: r.get(10)?,
                    sha256: r.get(11)?,
                    verification: r.get(12)?,
                    note: r.get(13)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The certificate whose id is `id` or starts with it (at least 4 hex characters).
    pub fn certificate(&self, id: &str) -> Result<CertificateRecord, StoreError> {
        let id = id.trim().to_ascii_lowercase();
        let not_found = || StoreError::CertificateNotFound(id.clone());
        if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT id, job_id, handover_id, created_at, document, signature, json_path,
                    signature_path FROM certificates WHERE id LIKE ?1 || '%' ORDER BY id LIMIT 2",
            )
            .map_err(|e| self.err(e))?;
        let mut found = st
            .query_map([&id], |r| {
                Ok(CertificateRecord {
                    certificate_id: r.get(0)?,
                    job_id: r.get(1)?,
                    handover_id: r.get(2)?,
                    created_at: r.get(3)?,
                    document: r.get(4)?,
                    signature: r.get(5)?,
                    json_path: bytes_path(r.get(6)?),
                    signature_path: bytes_path(r.get(7)?),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        match found.len() {
            0 => Err(not_found()),
            1 => Ok(found.remove(0)),
            _ => Err(StoreError::Ambiguous(id)),
        }
    }
}

/// A lease on a running deletion: who runs it, until when, and the paths it covers.
#[derive(Debug, Clone)]
pub struct LeaseRecord {
    /// `handover:<id>` (delete, run-due) or `roots:<roots_key>` (shred).
    pub key: String,
    /// `host:pid:start-time:random` of the process that holds it (see `crate::ledger::lease`).
    pub owner: String,
    /// When a holder on another host is presumed gone (UTC, RFC 3339).
    pub until: String,
    pub taken_at: String,
    /// The deletion job it runs, once started.
    pub job_id: Option<String>,
    /// The paths the deletion covers (absolute).
    pub paths: Vec<PathBuf>,
}

/// A hold on a handover's deletion.
#[derive(Debug, Clone)]
pub struct HoldRecord {
    pub handover_id: String,
    pub reason: String,
    pub held_at: Option<String>,
}

fn leases_on(conn: &Connection) -> rusqlite::Result<Vec<LeaseRecord>> {
    let mut st = conn
        .prepare("SELECT key, owner, until, taken_at, job_id FROM deletion_leases ORDER BY key")?;
    let mut out = st
        .query_map([], |r| {
            Ok(LeaseRecord {
                key: r.get(0)?,
                owner: r.get(1)?,
                until: r.get(2)?,
                taken_at: r.get(3)?,
                job_id: r.get(4)?,
                paths: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare("SELECT path FROM deletion_lease_paths WHERE key = ?1")?;
    for l in &mut out {
        l.paths = st
            .query_map([&l.key], |r| r.get::<_, Vec<u8>>(0))?
            .map(|b| b.map(bytes_path))
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(out)
}

impl Tx<'_> {
    /// Every lease, read inside this transaction.
    pub fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        leases_on(&self.tx).map_err(|e| self.err(e))
    }

    /// Takes (or renews) a lease, replacing any row with its key.
    pub fn put_lease(&self, l: &LeaseRecord) -> Result<(), StoreError> {
        self.drop_lease(&l.key, None)?;
        self.exec(
            "INSERT INTO deletion_leases (key, owner, until, taken_at, job_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            params![l.key, l.owner, l.until, l.taken_at, l.job_id],
        )?;
        for p in &l.paths {
            self.exec(
                "INSERT INTO deletion_lease_paths (key, path) VALUES (?1, ?2)",
                params![l.key, path_bytes(p)],
            )?;
        }
        Ok(())
    }

    /// Removes the lease `key`: any holder's (None), or only `owner`'s.
    pub fn drop_lease(&self, key: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let held = self
            .tx
            .query_row(
                "SELECT owner FROM deletion_leases WHERE key = ?1",
                [key],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match (held, owner) {
            (Some(h), Some(o)) if h != o => Ok(()),
            (None, _) => Ok(()),
            _ => {
                self.exec("DELETE FROM deletion_lease_paths WHERE key = ?1", [key])?;
                self.exec("DELETE FROM deletion_leases WHERE key = ?1", [key])
            }
        }
    }

    /// Every hold in place, read inside this transaction.
    pub fn holds(&self) -> Result<Vec<HoldRecord>, StoreError> {
        let mut st = self
            .tx
            .prepare(
                "SELECT handover_id, hold_reason, held_at FROM schedules
                 WHERE hold_reason IS NOT NULL ORDER BY handover_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(HoldRecord {
                    handover_id: r.get(0)?,
                    reason: r.get(1)?,
                    held_at: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The newest deletion job of a handover (a running one first), inside this transaction.
    pub fn deletion_job_for_handover(
        &self,
        handover_id: &str,
    ) -> Result<Option<JobRecord>, StoreError> {
        job_for_handover_on(&self.tx, handover_id).map_err(|e| self.err(e))
    }

    /// The newest job of `kind` for these roots in `state`, inside this transaction.
    pub fn deletion_job(
        &self,
        kind: &str,
        roots_key: &str,
        state: JobState,
    ) -> Result<Option<JobRecord>, StoreError> {
        job_for_roots_on(&self.tx, kind, roots_key, state).map_err(|e| self.err(e))
    }
}

fn job_for_handover_on(
    conn: &Connection,
    handover_id: &str,
) -> rusqlite::Result<Option<JobRecord>> {
    conn.query_row(
        &format!(
            "SELECT {JOB_COLUMNS} FROM deletion_jobs WHERE handover_id = ?1
             ORDER BY (state = ?2) DESC, created_at DESC, rowid DESC LIMIT 1"
        ),
        params![handover_id, JobState::Running],
        job_row,
    )
    .optional()
}

fn job_for_roots_on(
    conn: &Connection,
    kind: &str,
    roots_key: &str,
    state: JobState,
) -> rusqlite::Result<Option<JobRecord>> {
    conn.query_row(
        &format!(
            "SELECT {JOB_COLUMNS} FROM deletion_jobs WHERE kind = ?1 AND roots_key = ?2
             AND state = ?3 ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ),
        params![kind, roots_key, state],
        job_row,
    )
    .optional()
}

impl Store {
    /// Every lease on a deletion.
    pub fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        leases_on(&self.conn).map_err(|e| self.err(e))
    }
}

/// A temporary file export recorded before writing it (`temp_files`).
#[derive(Debug, Clone)]
pub struct TempFileRecord {
    pub path: PathBuf,
    /// The name it was to be published under.
    pub final_path: PathBuf,
    /// The export's handover id (no `handovers` row exists unless the export finished).
    pub handover_id: String,
    pub created_at: String,
    pub pid: u32,
    /// Who wrote it: boot id, pid and process start time, compared with the live process.
    pub owner: String,
    /// Set just before the file is renamed to `final_path`: a file under that name may be
    /// this export's (killed before it recorded its handover).
    pub publishing: bool,
}

impl Tx<'_> {
    /// Records temporary files before they are created.
    pub fn insert_temp_files(&self, files: &[TempFileRecord]) -> Result<(), StoreError> {
        for t in files {
            self.exec(
                "INSERT INTO temp_files (path, final_path, handover_id, created_at, pid, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    path_bytes(&t.path),
                    path_bytes(&t.final_path),
                    t.handover_id,
                    t.created_at,
                    t.pid,
                    t.owner
                ],
            )?;
        }
        Ok(())
    }

    /// Marks temporary files as about to be renamed to their final names.
    pub fn mark_temps_publishing(&self, paths: &[PathBuf]) -> Result<(), StoreError> {
        for p in paths {
            self.exec(
                "UPDATE temp_files SET publishing = 1 WHERE path = ?1",
                params![path_bytes(p)],
            )?;
        }
        Ok(())
    }

    /// Forgets a temporary file: it was published, removed, or never created.
    pub fn delete_temp_file(&self, path: &Path) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM temp_files WHERE path = ?1",
            params![path_bytes(path)],
        )
    }
}

impl Store {
    /// Every recorded temporary file, oldest first.
    pub fn temp_files(&self) -> Result<Vec<TempFileRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT path, final_path, handover_id, created_at, pid, owner, publishing
                 FROM temp_files ORDER BY created_at, path",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(TempFileRecord {
                    path: bytes_path(r.get(0)?),
                    final_path: bytes_path(r.get(1)?),
                    handover_id: r.get(2)?,
                    created_at: r.get(3)?,
                    pid: r.get(4)?,
                    owner: r.get(5)?,
                    publishing: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// One attested step of an offboarding's checklist (`attestations`).
#[derive(Debug, Clone, Serialize)]
pub struct AttestationRecord {
    /// The handover it belongs to (32 hex characters).
    pub handover_id: String,
    /// The step, snake_case (`access_revocation`, ...).
    pub step: String,
    /// When it was attested (UTC, RFC 3339).
    pub attested_at: String,
    /// Who attested it.
    pub operator: String,
    /// What the operator wrote, if anything.
    pub note: Option<String>,
}

impl Tx<'_> {
    /// Records an attestation.
    pub fn insert_attestation(&self, a: &AttestationRecord) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO attestations (handover_id, step, attested_at, operator, note)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.handover_id, a.step, a.attested_at, a.operator, a.note],
        )
    }
}

impl Store {
    /// A handover's attestations, oldest first.
    pub fn attestations(&self, handover_id: &str) -> Result<Vec<AttestationRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT handover_id, step, attested_at, operator, note FROM attestations
                 WHERE handover_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([handover_id], |r| {
                Ok(AttestationRecord {
                    handover_id: r.get(0)?,
                    step: r.get(1)?,
                    attested_at: r.get(2)?,
                    operator: r.get(3)?,
                    note: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// Minimum length of an id prefix: shorter ones match too much to be typed safely.
pub const MIN_PREFIX: usize = 4;

impl Store {
    /// The handover `reference` names, resolved in one place for every command: its id, its
    /// name (`acme-20261201T101500Z`), its client's name (the client's one handover in
    /// progress, not deleted nor voided; or, when none is, its only handover if that one was
    /// deleted), or a unique prefix of its id of at least [`MIN_PREFIX`] hex characters.
    ///
    /// Every reading is tried, and a reference that reads as more than one handover is an
    /// error listing them all: a handover named like another client, or a client named like
    /// an id prefix, must never send a hold or a deletion to the wrong one. A client name
    /// that picks none of its handovers is an error listing them, never a fall-through to
    /// another reading. A full 32-character id is a reading like the others.
    pub fn handover(&self, reference: &str) -> Result<HandoverRecord, StoreError> {
        let given = reference.trim();
        let lower = given.to_ascii_lowercase();
        let hex = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_hexdigit());
        // A full id is one reading among the others: a client or a handover may be named
        // with 32 hex characters too.
        let mut found = if hex && lower.len() == 32 {
            self.select("WHERE id = ?1", [&lower])?
        } else {
            Vec::new()
        };
        found.extend(self.select("WHERE name = ?1 ORDER BY rowid", [given])?);
        let of_client = self.select("WHERE client = ?1 ORDER BY rowid", [given])?;
        if !of_client.is_empty() {
            let mut open = Vec::new();
            for h in &of_client {
                if !self.handover_state(&h.handover_id)?.finished() {
                    open.push(h.clone());
                }
            }
            let deleted_only = of_client.len() == 1 && of_client[0].voided_at.is_none();
            match open.len() {
                0 if deleted_only => found.push(of_client[0].clone()),
                0 if found.is_empty() => {
                    return Err(StoreError::ClientNotInProgress {
                        client: given.to_string(),
                        candidates: self.candidates(&of_client)?,
                    });
                }
                // Named like a handover too: list both readings rather than pick one.
                0 => found.extend(of_client),
                // Several in progress: every one of them is a candidate.
                _ => found.extend(open),
            }
        }
        if hex && lower.len() >= MIN_PREFIX {
            found.extend(self.select("WHERE id LIKE ?1 || '%' ORDER BY rowid", [&lower])?);
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|h| seen.insert(h.handover_id.clone()));
        match found.len() {
            1 => Ok(found.remove(0)),
            0 if hex && lower.len() < MIN_PREFIX => Err(StoreError::PrefixTooShort(lower)),
            0 if hex => Err(StoreError::NotFound(lower)),
            0 => Err(StoreError::NotFound(given.to_string())),
            _ => Err(StoreError::HandoverAmbiguous {
                given: given.to_string(),
                candidates: self.candidates(&found)?,
            }),
        }
    }

    /// How far a handover got, as a name lists it: voided, deleted, received or exported.
    pub fn handover_state(&self, handover_id: &str) -> Result<HandoverState, StoreError> {
        let state: String = self
            .conn
            .query_row(
                "SELECT CASE
                    WHEN h.voided_at IS NOT NULL THEN 'voided'
                    WHEN EXISTS (SELECT 1 FROM deletion_jobs j
                                 WHERE j.handover_id = h.id AND j.state = 'done')
                      OR EXISTS (SELECT 1 FROM schedules s
                                 WHERE s.handover_id = h.id AND s.state IN ('done', 'gone'))
                        THEN 'deleted'
                    WHEN EXISTS (SELECT 1 FROM receipts r WHERE r.handover_id = h.id)
                        THEN 'received'
                    ELSE 'exported' END
                 FROM handovers h WHERE h.id = ?1",
                [handover_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(match state.as_str() {
            "voided" => HandoverState::Voided,
            "deleted" => HandoverState::Deleted,
            "received" => HandoverState::Received,
            _ => HandoverState::Exported,
        })
    }

    fn candidates(&self, hs: &[HandoverRecord]) -> Result<Vec<HandoverCandidate>, StoreError> {
        hs.iter()
            .map(|h| {
                Ok(HandoverCandidate {
                    handover_id: h.handover_id.clone(),
                    name: h.name.clone(),
                    created_at: h.created_at.clone(),
                    state: self.handover_state(&h.handover_id)?,
                })
            })
            .collect()
    }
}

impl Tx<'_> {
    /// Marks a handover voided (`handover void`), in the transaction that audits it.
    pub fn set_void(&self, handover_id: &str, at: &str, reason: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE handovers SET voided_at = ?2, void_reason = ?3 WHERE id = ?1",
            params![handover_id, at, reason],
        )
    }

    /// When a handover was voided, read inside this transaction (None: it was not).
    pub fn voided_at(&self, handover_id: &str) -> Result<Option<String>, StoreError> {
        self.tx
            .query_row(
                "SELECT voided_at FROM handovers WHERE id = ?1",
                [handover_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

// Client profiles (issue 11).

const CLIENT_COLUMNS: &str = "name, data_dir, recipients, recipient_files, escrow, client_key,
    out_dir, delete_after, contract_end, operator, organization, receipt_days, created_at,
    updated_at";

/// A JSON list column; a value that does not parse is an edited database.
fn json_list<T: serde::de::DeserializeOwned>(text: String, idx: usize) -> rusqlite::Result<Vec<T>> {
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientProfile> {
    let path = |i: usize| -> rusqlite::Result<Option<PathBuf>> {
        Ok(r.get::<_, Option<String>>(i)?.map(PathBuf::from))
    };
    let files: Vec<String> = json_list(r.get(3)?, 3)?;
    Ok(ClientProfile {
        name: r.get(0)?,
        settings: ClientSettings {
            data_dir: path(1)?,
            recipients: json_list(r.get(2)?, 2)?,
            recipient_files: files.into_iter().map(PathBuf::from).collect(),
            escrow: json_list(r.get(4)?, 4)?,
            client_key: path(5)?,
            out_dir: path(6)?,
            delete_after: r.get(7)?,
            contract_end: r.get(8)?,
            operator: r.get(9)?,
            organization: r.get(10)?,
            receipt_days: r.get(11)?,
        },
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

impl Tx<'_> {
    /// The profile of client `name`, if any.
    pub fn client(&self, name: &str) -> Result<Option<ClientProfile>, StoreError> {
        self.tx
            .query_row(
                &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE name = ?1"),
                [name],
                client_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records a profile, replacing the one of the same name.
    pub fn put_client(&self, p: &ClientProfile) -> Result<(), StoreError> {
        let s = &p.settings;
        let text = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let list = |v: &[String]| serde_json::to_string(v).expect("a list of text serializes");
        let files: Vec<String> = s
            .recipient_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        self.exec(
            &format!(
                "INSERT OR REPLACE INTO clients ({CLIENT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            params![
                p.name,
                text(&s.data_dir),
                list(&s.recipients),
                list(&files),
                list(&s.escrow),
                text(&s.client_key),
                text(&s.out_dir),
                s.delete_after,
                s.contract_end,
                s.operator,
                s.organization,
                s.receipt_days,
                p.created_at,
                p.updated_at,
            ],
        )
    }

    /// Removes the profile of client `name`.
    pub fn delete_client(&self, name: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM clients WHERE name = ?1", [name])
    }
}

impl Store {
    /// Every client profile, by name.
    pub fn clients(&self) -> Result<Vec<ClientProfile>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY name"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], client_row)
            .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The profile of client `name`, if any.
    pub fn client(&self, name: &str) -> Result<Option<ClientProfile>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE name = ?1"),
                [name],
                client_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// One object version a handover wrote or read (`objects`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRecord {
    /// `archive`, `manifest`, `signature` (written by export) or `source` (read by it).
    pub role: String,
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// Its version id; None in a bucket that keeps no versions.
    pub version_id: Option<String>,
    /// Its ETag, without quotes.
    pub etag: Option<String>,
    /// Its size.
    pub bytes: u64,
    /// The service it is in (the endpoint URL): a bucket name means nothing without it.
    pub endpoint: String,
}

/// One thing a deletion job removes in a bucket (`deletion_objects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntryRecord {
    /// Its place in the job's plan.
    pub seq: u64,
    /// The role of the recorded key it belongs to (`archive`, `manifest`, `signature`, `source`).
    pub role: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The version id (`object`, `delete_marker`; None in a bucket without versions), or the
    /// upload id (`multipart_upload`).
    pub version_id: Option<String>,
    /// `object` (a version with data), `delete_marker` or `multipart_upload`.
    pub kind: String,
    /// The version's size (0 for the others).
    pub bytes: u64,
    /// `logical_delete`: the service is asked to remove it; it decides when the bytes go.
    pub method: String,
    /// How far it got: `pending`, `ready` (the delete was being sent), `done`, `vanished`,
    /// `failed`.
    pub state: EntryState,
    /// What happened, where there is more to say.
    pub note: Option<String>,
}

/// A key an export is uploading to (`remote_temps`).
#[derive(Debug, Clone)]
pub struct RemoteTempRecord {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The export's handover id.
    pub handover_id: String,
    /// When the export started.
    pub created_at: String,
    /// The exporting process.
    pub pid: u32,
    /// Boot id, pid and start time of that process (see `TempFileRecord::owner`).
    pub owner: String,
    /// The service (endpoint URL) the upload goes to.
    pub endpoint: String,
}

impl Tx<'_> {
    /// Records the object versions of a handover.
    pub fn insert_objects(
        &self,
        handover_id: &str,
        objects: &[ObjectRecord],
    ) -> Result<(), StoreError> {
        for o in objects {
            self.exec(
                "INSERT INTO objects (handover_id, role, bucket, key, version_id, etag, bytes, endpoint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    handover_id,
                    o.role,
                    o.bucket,
                    o.key,
                    o.version_id,
                    o.etag,
                    o.bytes as i64,
                    o.endpoint
                ],
            )?;
        }
        Ok(())
    }

    /// Records keys an export is about to upload to.
    pub fn insert_remote_temps(&self, rows: &[RemoteTempRecord]) -> Result<(), StoreError> {
        for t in rows {
            self.exec(
                "INSERT INTO remote_temps (bucket, key, handover_id, created_at, pid, owner, endpoint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![t.bucket, t.key, t.handover_id, t.created_at, t.pid, t.owner, t.endpoint],
            )?;
        }
        Ok(())
    }

    /// Records (or, on a resumed job, updates) one object entry of a deletion job.
    pub fn upsert_object_entry(
        &self,
        job_id: &str,
        e: &ObjectEntryRecord,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO deletion_objects (job_id, seq, role, bucket, key, version_id, kind,
                bytes, method, state, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (job_id, seq) DO UPDATE SET state = excluded.state,
                note = excluded.note",
            params![
                job_id,
                e.seq as i64,
                e.role,
                e.bucket,
                e.key,
                e.version_id,
                e.kind,
                e.bytes as i64,
                e.method,
                e.state,
                e.note
            ],
        )
    }

    /// Records how far one object entry got.
    pub fn set_object_state(
        &self,
        job_id: &str,
        seq: u64,
        state: EntryState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deletion_objects SET state = ?3, note = COALESCE(?4, note)
             WHERE job_id = ?1 AND seq = ?2",
            params![job_id, seq as i64, state, note],
        )
    }

    /// Forgets one key of `remote_temps`.
    pub fn delete_remote_temp(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM remote_temps WHERE bucket = ?1 AND key = ?2",
            params![bucket, key],
        )
    }
}

impl Store {
    /// The object versions recorded for a handover, of every role, in the order recorded.
    pub fn objects(&self, handover_id: &str) -> Result<Vec<ObjectRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT role, bucket, key, version_id, etag, bytes, endpoint FROM objects
                 WHERE handover_id = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![handover_id], |r| {
                Ok(ObjectRecord {
                    role: r.get(0)?,
                    bucket: r.get(1)?,
                    key: r.get(2)?,
                    version_id: r.get(3)?,
                    etag: r.get(4)?,
                    bytes: r.get::<_, i64>(5)? as u64,
                    endpoint: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The object entries of a deletion job, in plan order.
    pub fn object_entries(&self, job_id: &str) -> Result<Vec<ObjectEntryRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT seq, role, bucket, key, version_id, kind, bytes, method, state, note
                 FROM deletion_objects WHERE job_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([job_id], |r| {
                Ok(ObjectEntryRecord {
                    seq: r.get::<_, i64>(0)? as u64,
                    role: r.get(1)?,
                    bucket: r.get(2)?,
                    key: r.get(3)?,
                    version_id: r.get(4)?,
                    kind: r.get(5)?,
                    bytes: r.get::<_, i64>(6)? as u64,
                    method: r.get(7)?,
                    state: r.get(8)?,
                    note: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every key an export recorded before uploading to it, oldest first.
    pub fn remote_temps(&self) -> Result<Vec<RemoteTempRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT bucket, key, handover_id, created_at, pid, owner, endpoint FROM remote_temps
                 ORDER BY created_at, bucket, key",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(RemoteTempRecord {
                    bucket: r.get(0)?,
                    key: r.get(1)?,
                    handover_id: r.get(2)?,
                    created_at: r.get(3)?,
                    pid: r.get(4)?,
                    owner: r.get(5)?,
                    endpoint: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
