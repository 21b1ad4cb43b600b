//! Ledger: the provider's local record. The SQLite state database (`store`, the only module
//! that speaks SQL, with the typed states of its jobs, entries, schedules and receipts in
//! `state`), the signed tamper-evident audit log (`audit`, its typed events in `event`), the
//! audited side of the certificate key's delegation (`delegation`), leases, and deletion
//! schedules and holds (`schedule`), the offboarding checklist and overdue work (`checklist`),
//! and client profiles (`clients`).
//!
//! Owns state and the log; it must not touch the client's files. Stages above it (pack,
//! receive, erase, evidence) call down into it, never the other way round: `schedule` runs
//! due deletions through a function its caller passes in.

pub mod audit;
pub mod checklist;
pub mod clients;
pub mod delegation;
pub mod event;
pub mod lease;
pub mod schedule;
pub mod state;
pub mod store;
pub mod void;
