//! `export --client NAME` with a client profile (issue 11): every value the command line
//! leaves out is taken from the profile, and what was taken is recorded, in the export's
//! audit event and in its summary.
//!
//! Reads the profile only; it must not change it, nor create a home by looking.

use std::path::PathBuf;

use crate::error::{ClientError, Result};
use crate::home::Home;
use crate::ledger::clients::{self, ClientField, ClientProfile, ProfileUse};
use crate::pack::export::{DEFAULT_LEVEL, ExportOptions, Recipients, check_name};
use crate::util;

/// `export` as the command line gives it: the values a profile can supply are optional.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The client's name, and the profile's.
    pub client: String,
    /// `DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `-r KEY`: with `-R`, replaces the profile's recipients (its escrow recipients stay).
    pub recipients: Vec<String>,
    /// `-R FILE`.
    pub recipient_files: Vec<PathBuf>,
    /// `--out DIR`.
    pub out_dir: Option<PathBuf>,
    /// `--name`.
    pub name: Option<String>,
    /// `--sign-key`.
    pub sign_key: Option<PathBuf>,
    /// `--level`.
    pub level: i32,
    /// `--strict-names`.
    pub strict_names: bool,
    /// `--delete-after`: replaces the profile's delay and its contract end.
    pub delete_after: Option<time::Duration>,
    /// `--client-key`.
    pub client_key: Option<PathBuf>,
}

impl ExportRequest {
    /// A request for `client` with nothing else given.
    pub fn new(client: impl Into<String>) -> Self {
        ExportRequest {
            client: client.into(),
            data_dir: None,
            recipients: Vec::new(),
            recipient_files: Vec::new(),
            out_dir: None,
            name: None,
            sign_key: None,
            level: DEFAULT_LEVEL,
            strict_names: false,
            delete_after: None,
            client_key: None,
        }
    }
}

/// The export options of `req`, completed from the client's profile when it has one.
///
/// Without `--delete-after`, a profile's contract end schedules the deletion at the contract
/// end plus the profile's delay (none: at the contract end), even when that is past.
pub fn profile_options(home: &Home, req: &ExportRequest) -> Result<ExportOptions> {
    check_name("client name", &req.client)?;
    let profile = clients::find(home, &req.client)?;
    let s = profile
        .as_ref()
        .map(|p| p.settings.clone())
        .unwrap_or_default();
    let mut used = Vec::new();
    let missing =
        |what, export_flag, profile_flag| missing(req, &profile, what, export_flag, profile_flag);

    let data_dir = match (&req.data_dir, s.data_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => {
            used.push(ClientField::DataDir);
            d
        }
        (None, None) => {
            return Err(missing(
                "the client's data directory",
                "DATA_DIR",
                "--data DIR",
            ));
        }
    };
    let (values, files) = if req.recipients.is_empty() && req.recipient_files.is_empty() {
        if !s.recipients.is_empty() {
            used.push(ClientField::Recipients);
        }
        if !s.recipient_files.is_empty() {
            used.push(ClientField::RecipientFiles);
        }
        (s.recipients, s.recipient_files)
    } else {
        (req.recipients.clone(), req.recipient_files.clone())
    };
    // The escrow recipients are added whatever the command line says, after the client's.
    let mut recipients = Recipients::parse(&values, &files)?;
    if !s.escrow.is_empty() {
        used.push(ClientField::Escrow);
        recipients = recipients.and(Recipients::parse(&s.escrow, &[])?);
    }
    let client_key = match (&req.client_key, s.client_key) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(k)) => {
            used.push(ClientField::ClientKey);
            Some(k)
        }
        (None, None) => None,
    };
    let out_dir = match (&req.out_dir, s.out_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => {
            used.push(ClientField::OutDir);
            d
        }
        (None, None) => return Err(missing("an output directory", "--out DIR", "--out DIR")),
    };

    let profile_delay = s.delete_after.map(time::Duration::seconds);
    let mut delete_after = req.delete_after;
    let mut delete_at = None;
    let mut contract_end = None;
    if delete_after.is_none() {
        if let Some(end) = s.contract_end {
            let at = util::parse_at(&end).map_err(|_| ClientError::BadContractEnd {
                client: req.client.clone(),
                value: end.clone(),
            })?;
            used.push(ClientField::ContractEnd);
            if profile_delay.is_some() {
                used.push(ClientField::DeleteAfter);
            }
            delete_at = Some(at + profile_delay.unwrap_or(time::Duration::ZERO));
            contract_end = Some(end);
        } else if profile_delay.is_some() {
            used.push(ClientField::DeleteAfter);
            delete_after = profile_delay;
        }
    }
    used.sort();
    Ok(ExportOptions {
        data_dir,
        client: req.client.clone(),
        recipients,
        out_dir,
        name: req.name.clone(),
        sign_key: req.sign_key.clone(),
        level: req.level,
        strict_names: req.strict_names,
        delete_after,
        client_key,
        delete_at,
        profile: profile.map(|p| ProfileUse {
            client: p.name,
            from_profile: used,
            contract_end,
        }),
    })
}

/// A value neither the command line nor the profile gives, with how to give it.
fn missing(
    req: &ExportRequest,
    profile: &Option<ClientProfile>,
    what: &'static str,
    export_flag: &'static str,
    profile_flag: &'static str,
) -> crate::error::Error {
    let c = &req.client;
    ClientError::Missing {
        client: c.clone(),
        what,
        export_flag,
        profile_flag,
        why: match profile {
            Some(_) => format!("client {c}'s profile has none"),
            None => format!("client {c} has no profile"),
        },
        verb: if profile.is_some() { "edit" } else { "add" },
    }
    .into()
}
