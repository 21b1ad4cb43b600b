//! The command line: clap structs and help text only, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit-code table, shown at the end of every `--help`.
pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  operational error (I/O, bad key file, locked database)
  2  usage error (bad arguments)
  3  a check failed or a safety rule refused (verification failure, tampering,
     no receipt, unsafe deletion)
  4  work left waiting (run-due with due jobs held back)";

#[derive(Parser, Debug)]
#[command(
    name = "handover",
    version,
    about = "Hand a client's data back securely, then destroy your copies, with evidence at every step.",
    long_about = "Hand a client's data back securely, then destroy your copies, with evidence at every step.\n\n\
A typical handover:\n  \
handover keygen                                   # once: your signing key pair\n  \
handover export ./clients/acme --client acme -r age1... --out ./outbox\n  \
handover list                                     # what was handed over\n\n\
State and keys live in one home folder: --home DIR, else $HANDOVER_HOME, else\n\
$XDG_DATA_HOME/handover (~/.local/share/handover).",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Home folder for state and keys [default: $HANDOVER_HOME, else the XDG data directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text (text and progress go to stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress display and no warnings on stderr; errors are still printed
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make the provider's signing key pair (minisign format), or an age identity
    #[command(
        long_about = "Make the provider's signing key pair in the minisign format: handover.key (mode 0600,\n\
password-protected unless --no-password) and handover.pub, in the home folder or --out DIR.\n\
The password is read from HANDOVER_KEY_PASSWORD or asked on the terminal. An existing key is\n\
never overwritten.\n\n\
With --age, write an age identity file (age.key, the age-keygen format) instead, for a client\n\
that has none; its public key (age1...) is printed for use with export -r.",
        after_help = EXIT_CODES
    )]
    Keygen(KeygenArgs),
    /// Export a client's data directory to an encrypted, signed handover
    #[command(
        long_about = "Export a client's data directory in one streaming pass: every file is hashed (SHA-256)\n\
as it goes into a tar stream, compressed with zstd and encrypted with age to every recipient.\n\n\
Writes into --out, named <client>-<UTC timestamp> unless --name:\n  \
NAME.tar.zst.age               the archive: a BagIt bag in the folder NAME/\n  \
NAME.manifest.json             the outer manifest (no file names of the client)\n  \
NAME.manifest.json.minisig     its minisign signature\n\n\
The client opens it with standard tools:\n  \
age -d -i key.txt NAME.tar.zst.age | zstd -d | tar -xf -\n  \
cd NAME && sha256sum -c SHA256SUMS\n  \
minisign -Vm NAME.manifest.json -p handover.pub\n\n\
Nothing appears under a final name unless the whole export succeeded.",
        after_help = EXIT_CODES
    )]
    Export(ExportArgs),
    /// List every handover recorded so far
    #[command(after_help = EXIT_CODES)]
    List,
    /// Securely delete a handover's local copies, after the client confirmed receipt
    #[command(
        long_about = "Securely delete everything the handover recorded as local: the source data directory,\n\
the archive, the manifest and its signature (plus --also PATH), then write a signed deletion\n\
certificate NAME.deletion-certificate.json (+ .minisig) beside the archive.\n\n\
Refuses (exit 3) until the client's receipt is confirmed, unless --without-receipt --reason.\n\
Each file is hashed (SHA-256, listed in the certificate), then deleted as `shred` does.\n\
An interrupted run is finished by running the same command again.",
        after_help = DELETE_HELP
    )]
    Delete(DeleteArgs),
    /// Securely delete files or trees: plan, overwrite, read back, unlink, certify
    #[command(
        long_about = "Securely delete files or directory trees, with a signed certificate.\n\n\
1. Plan, touching nothing: walk every path (never following symlinks), find each filesystem\n   \
and device, shared extents and hard links. Blockers stop the run: a file that cannot be\n   \
opened for writing, a hard link with names outside the paths, /, a home directory, the\n   \
handover home folder, a mount point inside a tree. --dry-run stops here.\n\
2. Ask for confirmation (or --yes; without a terminal, --yes is required).\n\
3. Each regular file is overwritten with a ChaCha20 keystream, fdatasync'ed, read back from the\n   \
device and compared, then truncated, renamed to a random name and unlinked; each directory is\n   \
synced. Symlinks are unlinked, never followed. Directories are removed bottom-up.\n\
Where overwriting cannot reach the old blocks (copy-on-write, overlay, network filesystems,\n\
shared extents) the file is deleted logically and the certificate says so; on SSDs, memory\n\
filesystems and journalled data it says \"overwrite, best effort\" with the reason.\n\n\
The certificate (NAME.deletion-certificate.json + .minisig, verifiable with minisign -V) goes\n\
to --out DIR, default the home folder's certificates/. An interrupted run is finished by\n\
running the same command again.",
        after_help = DELETE_HELP
    )]
    Shred(ShredArgs),
    /// Deletion certificates
    #[command(subcommand)]
    Certificate(CertificateCommand),
}

/// Exit codes of `delete` and `shred`, and the test-only variable.
pub const DELETE_HELP: &str = "\
Exit status:
  0  success: everything deleted and the certificate written (or --dry-run)
  1  operational error (I/O while deleting, bad key file, locked database)
  2  usage error (bad arguments)
  3  refused or a check failed: a blocker in the plan, no receipt, not confirmed,
     a read-back mismatch; nothing is deleted on a refusal

HANDOVER_TEST_KILL_AFTER=verified:N|done:N is for the test suite only (it kills the process).";

#[derive(Subcommand, Debug)]
pub enum CertificateCommand {
    /// Show a deletion certificate (--json prints the signed document itself)
    #[command(after_help = EXIT_CODES)]
    Show {
        /// Certificate id (or its first characters)
        #[arg(value_name = "CERTIFICATE_ID")]
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// Signing key for the certificate [default: handover.key in the home folder]
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Name of the person running the deletion [default: $USER]
    #[arg(long, env = "HANDOVER_OPERATOR")]
    pub operator: Option<String>,
    /// Organisation named in the certificate
    #[arg(long, env = "HANDOVER_ORGANIZATION")]
    pub organization: Option<String>,
    /// Show the plan and stop; nothing is changed
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The handover id (or its first characters), as `handover list` shows
    #[arg(value_name = "HANDOVER_ID")]
    pub handover: String,
    /// Also delete this path (file or tree); repeatable
    #[arg(long, value_name = "PATH")]
    pub also: Vec<PathBuf>,
    /// Delete although no receipt is confirmed (needs --reason)
    #[arg(long, requires = "reason")]
    pub without_receipt: bool,
    /// Why the deletion runs without a receipt (written into the certificate)
    #[arg(long, requires = "without_receipt")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct ShredArgs {
    /// Files or directories to delete
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Directory for the certificate [default: certificates/ in the home folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write into DIR instead of the home folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Make an age identity file (age.key) instead of a signing key pair
    #[arg(long)]
    pub age: bool,
    /// Do not protect the signing key with a password (for automation)
    #[arg(long, conflicts_with = "age")]
    pub no_password: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The client's data directory
    #[arg(value_name = "DATA_DIR")]
    pub data_dir: PathBuf,
    /// Client name (letters, digits, '.', '_', '-'); names the output files
    #[arg(long)]
    pub client: String,
    /// Recipient: an age public key (age1...) or an ssh-ed25519/ssh-rsa public key; repeatable
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// File of recipients, one per line (# comments and blank lines allowed); repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipient_files: Vec<PathBuf>,
    /// Output directory (created if missing; must not be inside DATA_DIR)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Base name of the outputs [default: <client>-<UTC timestamp>]
    #[arg(long)]
    pub name: Option<String>,
    /// Signing key [default: handover.key in the home folder]
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// zstd compression level, 1-22
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Refuse file names that are not valid UTF-8 instead of storing them and warning
    #[arg(long)]
    pub strict_names: bool,
}
