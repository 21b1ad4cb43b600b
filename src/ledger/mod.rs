//! Ledger: the provider's local record. The SQLite state database (`store`, the only module
//! that speaks SQL, with the typed states of its jobs, entries and schedules in `state`), the
//! signed tamper-evident audit log (`audit`, its typed events in `event`), the audited side of
//! the certificate key's delegation (`delegation`), leases, deletion schedules and holds, and
//! the evidence bundle that gathers it all for an auditor.
//!
//! Owns state and evidence; it must not touch the client's files. Stages above it (pack,
//! receive, erase) call down into it, never the other way round.

pub mod audit;
pub mod delegation;
pub mod event;
pub mod evidence;
pub mod lease;
pub mod schedule;
pub mod state;
pub mod store;
