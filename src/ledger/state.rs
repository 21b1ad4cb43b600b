//! The states a deletion job, an entry of its plan and a scheduled deletion go through, as
//! the state database stores them (TEXT columns, checked by the schema), and the proof level
//! of a recorded receipt with the words that say what it proves.
//!
//! Each enum reads and writes exactly the strings stored today, in SQLite and in `--json`
//! (serde snake_case). A stored value no variant names is an error that says the database was
//! edited outside handover, never a panic.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A state column holds a value that handover never writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// `table.column`.
    pub column: &'static str,
    /// The value found there.
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} holds {:?}, which handover never writes: the state database was edited outside handover",
            self.column, self.value
        )
    }
}

impl std::error::Error for UnknownState {}

/// One enum per state column: the variants with their stored strings, `as_str`, `FromStr`,
/// `Display` and the SQLite conversions.
macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        $name:ident in $column:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every state, in the order a job goes through them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and shown in `--json`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownState {
                        column: $column,
                        value: s.to_string(),
                    }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: UnknownState| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

state_enum! {
    /// How far a deletion job (`delete` or `shred`) got.
    JobState in "deletion_jobs.state" {
        /// Planned or under way; an interrupted job is resumed.
        Running = "running",
        /// Its certificate is stored.
        Done = "done",
    }
}

state_enum! {
    /// How far the deletion of one entry of a plan got.
    EntryState in "deletion_entries.state" {
        /// Planned, not yet touched.
        Pending = "pending",
        /// Its content hash is recorded (files only).
        Hashed = "hashed",
        /// Overwritten (or checked) and ready to be unlinked.
        Ready = "ready",
        /// Removed.
        Done = "done",
        /// Already gone when the deletion reached it.
        Vanished = "vanished",
        /// Could not be deleted.
        Failed = "failed",
    }
}

state_enum! {
    /// Where a handover's scheduled deletion stands.
    ScheduleState in "schedules.state" {
        /// Waiting for its time (or for a receipt, or a hold to be lifted).
        Scheduled = "scheduled",
        /// Deleted, with a certificate.
        Done = "done",
        /// Nothing was left to delete when it was due.
        Gone = "gone",
    }
}

/// What a confirmation proves, weakest first (the order is the one upgrades follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// The receipt code alone (typed, or inside an unsigned receipt file).
    Code,
    /// A receipt signed by a key that was not bound at export.
    UnboundSignature,
    /// A receipt signed by the client key bound in the signed manifest at export.
    ClientSignature,
}

/// What a receipt code proves, said the same way wherever a code confirmation is shown.
pub const CODE_CAVEAT: &str = "the receipt code was generated by the provider and is readable by every recipient of the archive (the provider's own escrow key included), so it proves the client's cooperation but not receipt to a third party";

impl Proof {
    /// The stable snake_case name (`--json`, the database, the certificate).
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::Code => "code",
            Proof::UnboundSignature => "unbound_signature",
            Proof::ClientSignature => "client_signature",
        }
    }

    /// Reads a recorded level; anything unknown counts as the weakest, never as more.
    pub fn parse(s: &str) -> Proof {
        match s {
            "client_signature" => Proof::ClientSignature,
            "unbound_signature" => Proof::UnboundSignature,
            _ => Proof::Code,
        }
    }
}

/// What a confirmation proves, for people: the level, the key and the caveat, in the same
/// words in `confirm`, `status`, `list`, the certificate and the evidence report.
pub fn proof_meaning(proof: &str, client_key_id: Option<&str>) -> String {
    let key = client_key_id.unwrap_or("?");
    match Proof::parse(proof) {
        Proof::ClientSignature => format!(
            "client_signature: receipt signed by the client's key {key}, bound in the signed manifest at export"
        ),
        Proof::UnboundSignature => format!(
            "unbound_signature: receipt signed by key {key}, which was not bound at export; it proves only that whoever holds that key signed"
        ),
        Proof::Code => format!("code: {CODE_CAVEAT}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + fmt::Debug + Serialize + FromStr<Err = UnknownState>,
    {
        for &v in all {
            let s = as_str(v);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{s}\""));
            assert_eq!(s.parse::<T>().unwrap(), v);
        }
    }

    #[test]
    fn states_keep_the_stored_strings() {
        round_trips(JobState::ALL, JobState::as_str);
        round_trips(EntryState::ALL, EntryState::as_str);
        round_trips(ScheduleState::ALL, ScheduleState::as_str);
        let texts = |v: Vec<&'static str>| v.join(" ");
        assert_eq!(
            texts(JobState::ALL.iter().map(|s| s.as_str()).collect()),
            "running done"
        );
        assert_eq!(
            texts(EntryState::ALL.iter().map(|s| s.as_str()).collect()),
            "pending hashed ready done vanished failed"
        );
        assert_eq!(
            texts(ScheduleState::ALL.iter().map(|s| s.as_str()).collect()),
            "scheduled done gone"
        );
    }

    #[test]
    fn an_unknown_stored_state_says_the_database_was_edited() {
        let e = "erased".parse::<JobState>().unwrap_err();
        assert_eq!(e.column, "deletion_jobs.state");
        assert!(e.to_string().contains("edited outside handover"), "{e}");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let r = conn.query_row("SELECT 'erased'", [], |r| r.get::<_, ScheduleState>(0));
        assert!(r.unwrap_err().to_string().contains("schedules.state"));
        let ok = conn.query_row("SELECT 'gone'", [], |r| r.get::<_, ScheduleState>(0));
        assert_eq!(ok.unwrap(), ScheduleState::Gone);
    }
}
