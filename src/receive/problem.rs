//! What `verify` can find wrong: one [`ProblemKind`] per stable snake_case name that scripts
//! match (`problems[].kind` in `--json`), and the per-kind cap on how many are listed.
//!
//! The kinds are a contract: a variant is never renamed, and the README's table of problem
//! kinds is tested against this enum, so neither can drift from the other. Must not print.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// At most this many problems of one kind are listed; the rest are counted.
const PER_KIND: usize = 20;

/// Declares [`ProblemKind`] with its doc lines and the stable names `as_str` returns; serde's
/// snake_case renaming gives the same names (a unit test holds the two together).
macro_rules! problem_kinds {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)+) => {
        /// Why a verification failed: a stable snake_case name for scripts, one per check.
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ProblemKind {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ProblemKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$variant,)+];

            /// The stable snake_case name (`--json`'s `problems[].kind`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemKind::$variant => $name,)+
                }
            }
        }
    };
}

problem_kinds! {
    /// The manifest does not parse, has a format this version does not read, or names no
    /// usable signer key.
    ManifestMalformed => "manifest_malformed",
    /// There is no `.minisig` signature beside the manifest.
    ManifestSignatureMissing => "manifest_signature_missing",
    /// The manifest's signature is not a minisign signature.
    ManifestSignatureMalformed => "manifest_signature_malformed",
    /// The manifest is signed by another key than the signer's.
    ManifestSignedByOtherKey => "manifest_signed_by_other_key",
    /// The manifest's signature does not match its content: it was changed after signing.
    ManifestSignatureInvalid => "manifest_signature_invalid",
    /// The archive file is empty.
    ArchiveEmpty => "archive_empty",
    /// The archive's size is not the one the manifest gives.
    ArchiveSizeMismatch => "archive_size_mismatch",
    /// The archive is not an age-encrypted file.
    NotAnAgeFile => "not_an_age_file",
    /// None of the identities given can decrypt the archive.
    NoMatchingIdentity => "no_matching_identity",
    /// The archive ends early: inside its age header, or before age's final chunk.
    ArchiveTruncated => "archive_truncated",
    /// The archive's age header is damaged or was tampered with.
    ArchiveHeaderInvalid => "archive_header_invalid",
    /// The archive fails age's authentication: a byte was changed in transit, on disk, or on
    /// purpose.
    ArchiveCorrupt => "archive_corrupt",
    /// The decrypted archive is not valid zstd.
    DecompressionFailed => "decompression_failed",
    /// The archive decompresses to more than the manifest allows (a decompression bomb).
    DecompressionLimitExceeded => "decompression_limit_exceeded",
    /// Reading the archive failed for another reason.
    ArchiveUnreadable => "archive_unreadable",
    /// The decompressed archive is not a valid tar stream.
    TarMalformed => "tar_malformed",
    /// The archive's SHA-256 is not the one the manifest gives.
    ArchiveHashMismatch => "archive_hash_mismatch",
    /// An entry has an absolute path or a `..` component; it was not extracted.
    UnsafePath => "unsafe_path",
    /// An entry lies outside the bag's folder; it was not extracted.
    OutsideBag => "outside_bag",
    /// An entry is neither payload (`data/`) nor a tag file, or is not of the type its place
    /// requires.
    UnexpectedEntry => "unexpected_entry",
    /// A name appears twice, or collides with an earlier entry (a file where a directory is).
    DuplicateEntry => "duplicate_entry",
    /// A hard link points to something other than a file earlier in the bag.
    UnsafeHardLink => "unsafe_hard_link",
    /// An entry is a device or a FIFO, which a handover never contains.
    SpecialFile => "special_file",
    /// An entry has a tar type that a handover never contains.
    UnsupportedEntry => "unsupported_entry",
    /// The archive holds no folder named as the manifest's bag.
    BagFolderMissing => "bag_folder_missing",
    /// A tag file is missing from the bag, or one that the tag manifest lists is absent.
    TagFileMissing => "tag_file_missing",
    /// `bag-info.txt` names another handover than the manifest.
    HandoverIdMismatch => "handover_id_mismatch",
    /// `Payload-Oxum` disagrees with the payload read or with the manifest's counts.
    PayloadOxumMismatch => "payload_oxum_mismatch",
    /// The receipt code in `bag-info.txt` is not the one the manifest was made with.
    ReceiptCodeMismatch => "receipt_code_mismatch",
    /// `tagmanifest-sha256.txt` is not the one the manifest was signed with.
    TagmanifestMismatch => "tagmanifest_mismatch",
    /// The bag's signature is not a minisign signature.
    BagSignatureMalformed => "bag_signature_malformed",
    /// The bag is signed by another key than the signer's.
    BagSignedByOtherKey => "bag_signed_by_other_key",
    /// The bag's signature does not match `tagmanifest-sha256.txt`: it was changed after
    /// signing.
    BagSignatureInvalid => "bag_signature_invalid",
    /// A tag file does not match its hash in `tagmanifest-sha256.txt`.
    TagFileHashMismatch => "tag_file_hash_mismatch",
    /// A tag file is not listed in `tagmanifest-sha256.txt`: it was added.
    UnlistedTagFile => "unlisted_tag_file",
    /// A line of a manifest or of `symlinks.txt` does not parse, or a path is listed twice.
    TagFileMalformed => "tag_file_malformed",
    /// A payload file is not listed in `manifest-sha256.txt`: it was added.
    UnlistedFile => "unlisted_file",
    /// A payload file does not match its SHA-256 in `manifest-sha256.txt`: it was changed.
    FileHashMismatch => "file_hash_mismatch",
    /// A file listed in `manifest-sha256.txt` is not in the archive: it was removed.
    MissingFile => "missing_file",
    /// A symlink is not listed in `symlinks.txt`: it was added.
    UnlistedSymlink => "unlisted_symlink",
    /// A symlink points elsewhere than `symlinks.txt` says: it was changed.
    SymlinkMismatch => "symlink_mismatch",
    /// A symlink listed in `symlinks.txt` is not in the archive: it was removed.
    MissingSymlink => "missing_symlink",
    /// An entry lies beneath a symlink: extracting it would write through the link.
    PathThroughSymlink => "path_through_symlink",
    /// The payload's counts of files, directories, symlinks, hard links or bytes are not the
    /// manifest's.
    CountMismatch => "count_mismatch",
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that did not verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    /// Stable snake_case name, for scripts.
    pub kind: ProblemKind,
    /// What happened and what to do, for people.
    pub message: String,
}

/// The collected problems, capped per kind.
#[derive(Default)]
pub(crate) struct Problems {
    pub(crate) list: Vec<Problem>,
    per_kind: HashMap<ProblemKind, usize>,
    pub(crate) not_listed: u64,
}

impl Problems {
    /// Records a problem; beyond [`PER_KIND`] of its kind, only counts it.
    pub(crate) fn add(&mut self, kind: ProblemKind, message: String) {
        let n = self.per_kind.entry(kind).or_default();
        *n += 1;
        if *n > PER_KIND {
            self.not_listed += 1;
        } else {
            self.list.push(Problem { kind, message });
        }
    }

    /// Adds problems collected apart, as if each had been added here: the per-kind caps
    /// and the count of those not listed come out the same.
    pub(crate) fn absorb(&mut self, other: Problems) {
        let mut listed: HashMap<ProblemKind, usize> = HashMap::new();
        for p in other.list {
            *listed.entry(p.kind).or_default() += 1;
            self.add(p.kind, p.message);
        }
        for (kind, n) in other.per_kind {
            let extra = n - listed.get(&kind).copied().unwrap_or(0);
            *self.per_kind.entry(kind).or_default() += extra;
            self.not_listed += extra as u64;
        }
    }

    /// Whether any problem was found.
    pub(crate) fn any(&self) -> bool {
        !self.list.is_empty() || self.not_listed > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first cells of the README's problem-kind table (the one headed `| kind |`).
    fn readme_kinds() -> Vec<String> {
        let readme = include_str!("../../README.md");
        let mut lines = readme
            .lines()
            .skip_while(|l| !l.replace(' ', "").starts_with("|kind|"))
            .skip(2);
        let mut kinds = Vec::new();
        for line in lines.by_ref().take_while(|l| l.starts_with('|')) {
            let cell = line.trim_start_matches('|').split('|').next().unwrap_or("");
            kinds.push(cell.trim().trim_matches('`').to_string());
        }
        kinds
    }

    #[test]
    fn the_readme_lists_exactly_the_problem_kinds() {
        let mut readme = readme_kinds();
        assert!(!readme.is_empty(), "the README has no `| kind |` table");
        let listed = readme.len();
        readme.sort();
        readme.dedup();
        assert_eq!(readme.len(), listed, "the README lists a kind twice");
        let mut ours: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.as_str()).collect();
        ours.sort();
        assert_eq!(readme, ours, "README problem-kind table vs ProblemKind");
    }

    #[test]
    fn names_are_serde_snake_case_and_round_trip() {
        for &k in ProblemKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ProblemKind>(&json).unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
        }
        let unique: std::collections::HashSet<_> = ProblemKind::ALL.iter().collect();
        assert_eq!(unique.len(), ProblemKind::ALL.len());
        assert_eq!(ProblemKind::ALL.len(), 44);
    }
}
