//! The integration tests, one binary (as ripgrep has it): each module is one area of the
//! tool, run against the real `handover` binary; `common`, `support` and `deletion` are the
//! helpers they share, compiled once.

mod common;
mod deletion;
mod support;

mod audit;
mod certs;
mod client_view;
mod delete;
mod export;
mod export_races;
mod fuse_outbox;
mod gates;
mod hostile;
mod ids;
mod interop_export;
mod layers;
mod names;
mod offboarding;
mod overdue;
mod profiles;
mod receipt;
mod release_surface;
mod s3;
mod s3_attack;
mod s3_delete;
mod s3_export;
mod s3_source;
mod schedule;
mod shell;
mod shred;
mod shred_races;
mod smoke;
mod vectors;
mod verify;
mod verify_partial;
mod void;
