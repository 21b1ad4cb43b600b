//! Client profiles (issue 11): what an offboarding of one client needs, recorded once in the
//! state database, so that `export --client NAME` need not retype the data directory, the
//! recipients, the outbox and the deletion delay for each of fifty clients a year.
//!
//! Adds, edits and removals are audited (`client_add`, `client_edit`, `client_remove`), with
//! the names of the fields that changed and the values after the change: paths, public keys
//! and dates, never a secret (a profile holds none). Recipients and the client key are parsed
//! when the profile is saved, so a typo shows up now, not at the export months later.
//! Profiles are read through [`Store::clients`] and [`Store::client`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ClientError, Result, StoreError};
use crate::home::Home;
use crate::keys;
use crate::ledger::audit;
use crate::ledger::event::{AuditEvent, ClientDetails};
use crate::ledger::store::Store;
use crate::util;

/// How many days a receipt may stay pending before `status --overdue` lists it, unless the
/// profile says otherwise: two weeks, the default.
pub const DEFAULT_RECEIPT_DAYS: u32 = 14;

/// One setting of a profile, as `client edit --clear` and the audit log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientField {
    /// The client's data directory.
    DataDir,
    /// Recipients given as keys (`-r`).
    Recipients,
    /// Recipients files (`-R`).
    RecipientFiles,
    /// Escrow recipients, added to every export of the client.
    Escrow,
    /// The client's public key that signs receipts.
    ClientKey,
    /// The outbox.
    OutDir,
    /// How long after the export (or after the contract end) the local copies are deleted.
    DeleteAfter,
    /// The contract's end.
    ContractEnd,
    /// The operator who runs the client's offboarding.
    Operator,
    /// The provider's organisation, as certificates name it.
    Organization,
    /// Days a receipt may stay pending before it is overdue.
    ReceiptDays,
}

impl ClientField {
    /// The snake_case name, as JSON and the audit log write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientField::DataDir => "data_dir",
            ClientField::Recipients => "recipients",
            ClientField::RecipientFiles => "recipient_files",
            ClientField::Escrow => "escrow",
            ClientField::ClientKey => "client_key",
            ClientField::OutDir => "out_dir",
            ClientField::DeleteAfter => "delete_after",
            ClientField::ContractEnd => "contract_end",
            ClientField::Operator => "operator",
            ClientField::Organization => "organization",
            ClientField::ReceiptDays => "receipt_days",
        }
    }
}

/// The settings of a profile, each optional except the receipt threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    /// The client's data directory (absolute).
    pub data_dir: Option<PathBuf>,
    /// Recipients, in canonical form (age1... or ssh-...).
    pub recipients: Vec<String>,
    /// Files of recipients (absolute), read again at each export.
    pub recipient_files: Vec<PathBuf>,
    /// Escrow recipients, canonical, added to every export of this client even when `-r`
    /// overrides the recipients.
    pub escrow: Vec<String>,
    /// The client's public key file (minisign or ssh-ed25519) bound at export.
    pub client_key: Option<PathBuf>,
    /// The outbox (absolute).
    pub out_dir: Option<PathBuf>,
    /// Deletion delay in seconds: after the export, or after `contract_end` when set.
    pub delete_after: Option<i64>,
    /// When the contract ends (UTC, RFC 3339).
    pub contract_end: Option<String>,
    /// Who runs this client's offboarding.
    pub operator: Option<String>,
    /// The provider's organisation.
    pub organization: Option<String>,
    /// Days a receipt may stay pending before it is overdue.
    pub receipt_days: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            data_dir: None,
            recipients: Vec::new(),
            recipient_files: Vec::new(),
            escrow: Vec::new(),
            client_key: None,
            out_dir: None,
            delete_after: None,
            contract_end: None,
            operator: None,
            organization: None,
            receipt_days: DEFAULT_RECEIPT_DAYS,
        }
    }
}

/// A client's profile, as `client show --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientProfile {
    /// The client's name, as `export --client` takes it.
    pub name: String,
    /// What its offboarding needs.
    #[serde(flatten)]
    pub settings: ClientSettings,
    /// When the profile was added (UTC, RFC 3339).
    pub created_at: String,
    /// When it last changed (UTC, RFC 3339).
    pub updated_at: String,
}

/// What `client add` or `client edit` sets; `None` (or an empty list) leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    /// `--data DIR`.
    pub data_dir: Option<PathBuf>,
    /// `-r KEY`: replaces the recipients when given.
    pub recipients: Vec<String>,
    /// `-R FILE`: replaces the recipients files when given.
    pub recipient_files: Vec<PathBuf>,
    /// `--escrow KEY`: replaces the escrow recipients when given.
    pub escrow: Vec<String>,
    /// `--client-key FILE`.
    pub client_key: Option<PathBuf>,
    /// `--out DIR`.
    pub out_dir: Option<PathBuf>,
    /// `--delete-after DELAY`.
    pub delete_after: Option<time::Duration>,
    /// `--contract-end DATE`.
    pub contract_end: Option<OffsetDateTime>,
    /// `--operator TEXT`.
    pub operator: Option<String>,
    /// `--organization TEXT`.
    pub organization: Option<String>,
    /// `--receipt-days N`.
    pub receipt_days: Option<u32>,
    /// `--clear FIELD`: settings to remove (the receipt threshold returns to its default).
    pub clear: Vec<ClientField>,
}

/// What `client add`, `client edit` or `client remove` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSummary {
    /// The profile as saved (as it was, for a removal).
    pub client: ClientProfile,
    /// The settings that changed, in field order.
    pub changed: Vec<ClientField>,
}

/// An absolute path: profiles are used from cron and other working directories.
/// Only UTF-8 paths: the profile's paths are shown, stored and audited as text.
fn absolute(p: &Path) -> Result<PathBuf> {
    let bad = |source| ClientError::BadPath {
        path: p.to_path_buf(),
        source,
    };
    if p.to_str().is_none() {
        return Err(bad(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a profile keeps only UTF-8 paths; give this one on the export command line",
        ))
        .into());
    }
    // A bucket location is kept as written (checked): it is no path to make absolute.
    if let Some(loc) = p.to_str().and_then(crate::remote::Location::parse) {
        loc?;
        return Ok(p.to_path_buf());
    }
    std::path::absolute(p).map_err(|e| bad(e).into())
}

/// Applies `c` to `s` and returns the fields whose value changed. Recipients, recipients
/// files and the client key are parsed here, so a bad one is refused before anything is saved.
fn apply(name: &str, s: &mut ClientSettings, c: &ClientChanges) -> Result<Vec<ClientField>> {
    let before = s.clone();
    for f in &c.clear {
        match f {
            ClientField::DataDir => s.data_dir = None,
            ClientField::Recipients => s.recipients.clear(),
            ClientField::RecipientFiles => s.recipient_files.clear(),
            ClientField::Escrow => s.escrow.clear(),
            ClientField::ClientKey => s.client_key = None,
            ClientField::OutDir => s.out_dir = None,
            ClientField::DeleteAfter => s.delete_after = None,
            ClientField::ContractEnd => s.contract_end = None,
            ClientField::Operator => s.operator = None,
            ClientField::Organization => s.organization = None,
            ClientField::ReceiptDays => s.receipt_days = DEFAULT_RECEIPT_DAYS,
        }
    }
    let bad_recipients = |source| ClientError::BadKey {
        client: name.to_string(),
        source,
    };
    if let Some(d) = &c.data_dir {
        s.data_dir = Some(absolute(d)?);
    }
    if !c.recipients.is_empty() {
        s.recipients = keys::recipients(&c.recipients, &[])
            .map_err(bad_recipients)?
            .into_iter()
            .map(|r| r.text)
            .collect();
    }
    if !c.recipient_files.is_empty() {
        // Read now to refuse a bad file; read again at each export, so the file stays the
        // place the client's keys are kept up to date.
        keys::recipients(&[], &c.recipient_files).map_err(bad_recipients)?;
        s.recipient_files = c
            .recipient_files
            .iter()
            .map(|f| absolute(f))
            .collect::<Result<_>>()?;
    }
    if !c.escrow.is_empty() {
        s.escrow = keys::recipients(&c.escrow, &[])
            .map_err(bad_recipients)?
            .into_iter()
            .map(|r| r.text)
            .collect();
    }
    if let Some(k) = &c.client_key {
        keys::clientkey::ClientKey::load(k).map_err(bad_recipients)?;
        s.client_key = Some(absolute(k)?);
    }
    if let Some(d) = &c.out_dir {
        s.out_dir = Some(absolute(d)?);
    }
    if let Some(d) = c.delete_after {
        s.delete_after = Some(d.whole_seconds());
    }
    if let Some(t) = c.contract_end {
        s.contract_end = Some(util::rfc3339(t));
    }
    if let Some(o) = &c.operator {
        s.operator = Some(o.clone());
    }
    if let Some(o) = &c.organization {
        s.organization = Some(o.clone());
    }
    if let Some(n) = c.receipt_days {
        if n == 0 {
            return Err(ClientError::BadReceiptDays.into());
        }
        s.receipt_days = n;
    }
    Ok(changed(&before, s))
}

/// The fields whose value differs between `a` and `b`.
fn changed(a: &ClientSettings, b: &ClientSettings) -> Vec<ClientField> {
    let pairs = [
        (ClientField::DataDir, a.data_dir != b.data_dir),
        (ClientField::Recipients, a.recipients != b.recipients),
        (
            ClientField::RecipientFiles,
            a.recipient_files != b.recipient_files,
        ),
        (ClientField::Escrow, a.escrow != b.escrow),
        (ClientField::ClientKey, a.client_key != b.client_key),
        (ClientField::OutDir, a.out_dir != b.out_dir),
        (ClientField::DeleteAfter, a.delete_after != b.delete_after),
        (ClientField::ContractEnd, a.contract_end != b.contract_end),
        (ClientField::Operator, a.operator != b.operator),
        (ClientField::Organization, a.organization != b.organization),
        (ClientField::ReceiptDays, a.receipt_days != b.receipt_days),
    ];
    pairs.into_iter().filter(|p| p.1).map(|p| p.0).collect()
}

/// Opens the home's database, creating the home if needed.
fn open(home: &Home) -> Result<Store> {
    home.ensure().map_err(|source| StoreError::Home {
        path: home.dir.clone(),
        source,
    })?;
    Ok(Store::open(&home.database())?)
}

/// `client add NAME`: records a new profile. Refuses a name that exists or would make a bad
/// file name (the rule of `export --client`).
pub fn add(home: &Home, name: &str, c: &ClientChanges) -> Result<ClientSummary> {
    check_name(name)?;
    let mut settings = ClientSettings::default();
    let changed = apply(name, &mut settings, c)?;
    let mut store = open(home)?;
    let tx = store.begin()?;
    if tx.client(name)?.is_some() {
        return Err(ClientError::Exists(name.to_string()).into());
    }
    let now = util::rfc3339(util::now());
    let profile = ClientProfile {
        name: name.to_string(),
        settings,
        created_at: now.clone(),
        updated_at: now,
    };
    tx.put_client(&profile)?;
    let event = AuditEvent::ClientAdd(details(&profile, &changed, true));
    audit::append(&tx, home, None, &event)?;
    tx.commit()?;
    Ok(ClientSummary {
        client: profile,
        changed,
    })
}

/// `client edit NAME`: changes a profile; an edit that changes nothing records nothing.
pub fn edit(home: &Home, name: &str, c: &ClientChanges) -> Result<ClientSummary> {
    let mut store = open(home)?;
    // An edit records all the settings after it: never over a profile changed behind the
    // tool, which it would make the audited one.
    audit::audited_client(&store, name)?;
    let tx = store.begin()?;
    let mut profile = tx
        .client(name)?
        .ok_or_else(|| ClientError::Unknown(name.to_string()))?;
    let changed = apply(name, &mut profile.settings, c)?;
    if !changed.is_empty() {
        profile.updated_at = util::rfc3339(util::now());
        tx.put_client(&profile)?;
        let event = AuditEvent::ClientEdit(details(&profile, &changed, true));
        audit::append(&tx, home, None, &event)?;
        tx.commit()?;
    }
    Ok(ClientSummary {
        client: profile,
        changed,
    })
}

/// `client remove NAME`: forgets a profile. Its handovers and their records stay.
pub fn remove(home: &Home, name: &str) -> Result<ClientSummary> {
    let mut store = open(home)?;
    let tx = store.begin()?;
    let profile = tx
        .client(name)?
        .ok_or_else(|| ClientError::Unknown(name.to_string()))?;
    tx.delete_client(name)?;
    let event = AuditEvent::ClientRemove(details(&profile, &[], false));
    audit::append(&tx, home, None, &event)?;
    tx.commit()?;
    Ok(ClientSummary {
        client: profile,
        changed: Vec::new(),
    })
}

/// `client list`: every profile, by name. A home without a database has none.
pub fn list(home: &Home) -> Result<Vec<ClientProfile>> {
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    Ok(Store::open(&home.database())?.clients()?)
}

/// `client show NAME`.
pub fn show(home: &Home, name: &str) -> Result<ClientProfile> {
    find(home, name)?.ok_or_else(|| ClientError::Unknown(name.to_string()).into())
}

/// The profile of `name`, if the home has one (a home without a database has none, and is
/// not created by looking).
pub fn find(home: &Home, name: &str) -> Result<Option<ClientProfile>> {
    if !home.database().exists() {
        return Ok(None);
    }
    let store = Store::open(&home.database())?;
    // Used only as the audit log recorded it: an edit behind the tool is refused here.
    crate::ledger::audit::audited_client(&store, name)
}

/// The audit details of a change: the fields changed and, unless removed, the settings after.
fn details(p: &ClientProfile, changed: &[ClientField], with_settings: bool) -> ClientDetails {
    ClientDetails {
        client: p.name.clone(),
        changed: changed.to_vec(),
        settings: with_settings.then(|| p.settings.clone()),
    }
}

/// The rule of `export --client`: the name becomes part of file names.
fn check_name(v: &str) -> Result<()> {
    if util::is_safe_name(v) {
        Ok(())
    } else {
        Err(ClientError::BadName(v.to_string()).into())
    }
}

/// What `export --client NAME` took from the client's profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileUse {
    /// The profile's name.
    pub client: String,
    /// The values that came from the profile; the others were given on the command line.
    pub from_profile: Vec<ClientField>,
    /// The contract end the deletion was scheduled from, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_end: Option<String>,
}
