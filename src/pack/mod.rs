//! Pack: the provider's side of the handover. One streaming pass walks the client's tree by
//! handle, hashes every file, writes the BagIt bag into tar, compresses it with zstd, encrypts
//! it with age, and signs the manifest that goes beside the archive.
//!
//! Owns the walk, the archive writer, export's temporary files and its uploads to a bucket. It must not delete
//! anything of the client's, nor write outside the output folder and the home.

pub mod archive;
pub mod export;
pub mod profile;
pub mod remote;
pub mod share;
pub(crate) mod source;
pub mod stale;
