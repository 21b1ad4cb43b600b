//! Receive: the client's side. Opens an archive (age → zstd → tar), checks every layer and
//! every file against the signed manifest and the bag, optionally extracts it without letting
//! any entry escape the target, and records the client's receipt.
//!
//! Owns reading and checking; it never changes the provider's copies, and a failed check is a
//! typed problem in the report, never a panic or a partial success.

pub mod extract;
mod fetch;
pub mod listing;
pub mod problem;
pub mod reader;
pub mod receipt;
pub(crate) mod spill;
pub mod verify;
