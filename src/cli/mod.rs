//! The command line: clap structs and help text only, no logic.

pub mod exit;
pub mod render;
pub mod shell;
pub mod ui;
pub mod ui_delete;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "handover",
    version,
    about = "Hand a client's data back securely, then destroy your copies, with evidence at every step.",
    long_about = "Hand a client's data back securely, then destroy your copies, with evidence at every step.\n\n\
A typical handover:\n  \
handover keygen                                   # once: your signing key pair\n  \
handover export ./clients/acme --client acme -r age1... --out ./outbox\n  \
handover list                                     # what was handed over\n  \
handover verify NAME.tar.zst.age -i key --signer handover.pub   # the client checks it\n  \
handover confirm receipt.json                     # the client's proof of receipt\n  \
handover schedule ID --after 30d                  # deletion of your copies; run-due from cron\n  \
handover evidence ID --out ./evidence             # what an auditor asks for\n\n\
State and keys live in one home folder: --home DIR, else $HANDOVER_HOME, else\n\
$XDG_DATA_HOME/handover (~/.local/share/handover).",
    after_help = exit::standard()
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
In the home folder it also makes cert.key (unencrypted, mode 0600) and cert-delegation.json with\n\
its .minisig, signed by the new key: the provider key's authorisation of cert.key to sign\n\
deletion certificates, so that run-due from cron or systemd never needs the password.\n\n\
With --age, write an age identity file (age.key, the age-keygen format) instead, for a client\n\
that has none; its public key (age1...) is printed for use with export -r.",
        after_help = exit::standard()
    )]
    Keygen(KeygenArgs),
    /// Authorise the unattended certificate key (cert.key) with the provider key, once
    #[command(
        long_about = "Authorise cert.key, an unencrypted key kept in the home folder (mode 0600), to sign\n\
deletion certificates on behalf of the provider key, so that run-due from cron or systemd needs\n\
no password. Asks the provider key's password (or reads HANDOVER_KEY_PASSWORD) and writes\n\
cert-delegation.json and its .minisig, signed by handover.key. keygen, export and delete do this\n\
on their own when the password is at hand; run it once on a terminal for a home that has\n\
neither. Each certificate carries the delegation; a client checks both with minisign:\n  \
minisign -Vm NAME.cert-delegation.json -p handover.pub\n  \
minisign -Vm NAME.deletion-certificate.json -P <the key named in the line above>",
        after_help = exit::standard()
    )]
    Delegate(DelegateArgs),
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
Nothing appears under a final name unless the whole export succeeded.\n\n\
DATA_DIR may be s3://BUCKET/PREFIX/ (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n\
AWS_REGION, AWS_ENDPOINT_URL): every current object under the prefix becomes a file, its key\n\
below the prefix its path, read by the version listed and recorded with the handover. An\n\
object written or deleted during the export fails it, as a changed file does.\n\n\
With a client profile (`handover client add`), `handover export --client acme` takes every\n\
value it is not given from the profile: the data directory, recipients (plus the escrow\n\
recipients, always), --client-key, --out and --delete-after. Without --delete-after, a\n\
profile's contract end schedules the deletion at the contract end plus the profile's delay,\n\
even when that date has passed (the deletion is then overdue). The summary and the audit\n\
log record which values came from the profile.",
        after_help = exit::standard()
    )]
    Export(ExportArgs),
    /// List every handover recorded so far, or one client's (voided ones with --all)
    #[command(after_help = format!(
        "Examples:\n  handover list\n  handover list acme --all\n  handover --json list\n\n{}",
        exit::standard()
    ))]
    List(ListArgs),
    /// Client side: verify a received handover, optionally extract it and write a receipt
    #[command(
        long_about = "Verify a received handover without trusting the channel it came over: the manifest's\n\
signature (--signer), the archive's size and SHA-256, then in one streaming pass decrypt (age),\n\
decompress (zstd) and read the tar, hashing every file and checking it against the bag's\n\
manifest, counts, Payload-Oxum and the bag's own signature. Nothing is written without --extract.\n\n\
--extract DIR writes into a hidden staging directory beside DIR and renames it to DIR only\n\
when everything verified. Unsafe entries (absolute paths, `..`, hard links out of the bag,\n\
devices, fifos) are refused. Symlinks pointing outside DIR are reported and created only with\n\
--keep-outside-links, after every file was written. A staging directory that a killed verify\n\
left (.DIR.handover-partial-*, beside DIR or the archive) is reported; --clean removes it.\n\n\
On success it prints the receipt code: send it (or the --receipt file) to the provider, who\n\
runs `handover confirm`. Every problem found is listed; with --json each has a stable `kind`.\n\n\
Example:\n  \
handover verify acme-20261125T101500Z.tar.zst.age -i client.agekey --signer provider.pub \\\n      \
--extract ./acme-data --receipt receipt.json",
        after_help = exit::standard()
    )]
    Verify(VerifyArgs),
    /// Provider side: check the client's receipt (or receipt code) and record it
    #[command(
        long_about = "Check the client's proof of receipt and record it in the state database:\n  \
handover confirm receipt.json                     # the file verify --receipt wrote\n  \
handover confirm 7f3c... --code XXXX-XXXX-XXXX-XXXX-XXXX\n\n\
A receipt must name a recorded handover, its archive and manifest SHA-256 and its code; its\n\
signature beside it (receipt.json.minisig, or receipt.json.sig from ssh-keygen -Y sign) must\n\
verify. When the client's key was bound at export (export --client-key), only that key may\n\
have signed. A wrong code, a receipt for another handover, a tampered receipt or one signed\n\
by another key is refused (exit 3) and changes nothing.\n\n\
The proof level recorded: client_signature (signed by the key bound at export),\n\
unbound_signature (signed, but no key was bound: proves only that whoever holds that key\n\
signed) or code (the receipt code: the provider generated it and every recipient of the\n\
archive can read it, so it proves the client's cooperation, not receipt, to a third party).\n\
A later receipt of a higher level upgrades the confirmation; anything else changes nothing.",
        after_help = exit::standard()
    )]
    Confirm(ConfirmArgs),
    /// Securely delete a handover's local copies, after the client confirmed receipt
    #[command(
        long_about = "Securely delete everything the handover recorded as local: the source data directory,\n\
the archive, the manifest and its signature (plus --also PATH), then write a signed deletion\n\
certificate NAME.deletion-certificate.json (+ .minisig) beside the archive.\n\n\
Refuses (exit 3) until the client's receipt is confirmed, unless --without-receipt --reason.\n\
Each file is hashed (SHA-256, listed in the certificate), then deleted as `shred` does.\n\
An interrupted run is finished by running the same command again.",
        after_help = exit::delete()
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
        after_help = exit::delete()
    )]
    Shred(ShredArgs),
    /// Deletion certificates
    #[command(subcommand)]
    Certificate(CertificateCommand),
    /// Schedule (or move) the deletion of a handover's local copies
    #[command(
        long_about = "Schedule, or reschedule, the deletion of a handover's local copies (the source data\n\
directory and the local archive and manifest). It runs through `run-due` once the time has\n\
come, the client's receipt is confirmed and no hold is placed. A time in the past is refused\n\
(a typo must not delete data today) unless --allow-past.",
        after_help = exit::standard()
    )]
    Schedule(ScheduleArgs),
    /// Place a hold (e.g. a litigation hold): the handover's deletion will not run
    #[command(after_help = exit::standard())]
    Hold(HoldArgs),
    /// Lift the hold on a handover's deletion
    #[command(after_help = exit::standard())]
    Release(IdArg),
    /// Deletion jobs: what is due, when, and why it waits (voided handovers' with --all)
    #[command(after_help = exit::standard())]
    Jobs(JobsArgs),
    /// Run every due deletion (from cron or a systemd timer); never prompts
    #[command(
        long_about = "Run every deletion job whose time has come, whose receipt is confirmed and which has no\n\
hold, through the deletion engine (--yes implied; it never prompts). Due jobs without a receipt\n\
or under a hold stay, and are reported with the reason. Safe to run often and at once: a job\n\
is claimed by one run only; a run killed half way is finished by the next.",
        after_help = exit::run_due()
    )]
    RunDue(RunDueArgs),
    /// Print a systemd unit pair or a crontab line that runs `run-due`
    #[command(
        long_about = "Print a systemd service and timer pair, or a crontab line, that runs `run-due` hourly with\n\
this program and this home folder (paths quoted for systemd or the shell, `%` escaped).\n\
With --systemd --out DIR, write them as two files instead:\n  \
sudo handover --home /srv/handover timer --systemd --out /etc/systemd/system\n  \
sudo systemctl daemon-reload && sudo systemctl enable handover-run-due.timer\n  \
sudo systemctl start handover-run-due.timer\n\n\
The service runs as User= (the owner of the home folder unless --user), and treats exit 4\n\
(due jobs waiting: held, or no receipt yet) as success; run-due reports them in the journal.",
        after_help = exit::standard()
    )]
    Timer(TimerArgs),
    /// The offboarding checklist of every handover (or of one client), or what is overdue
    #[command(
        long_about = "The offboarding checklist of every handover (or of one client's): the data steps the\n\
tool recorded (export, receipt, deletion) and the steps the operator attests (`handover attest`).\n\n\
With --overdue, only what waits too long, one line each, for a monitoring timer or an\n\
OnFailure= unit to mail: receipts pending longer than the client profile's --receipt-days\n\
(default 14), deletions due but held or without a receipt, deletions that failed or were\n\
interrupted, confirmed receipts whose access revocation is not attested, and contracts that\n\
ended with nothing exported. It exits 4 when anything is listed.\n\n\
Examples:\n  \
handover status acme\n  \
handover status --overdue > overdue.txt || mail -s 'handover: overdue work' it@example.com < overdue.txt",
        after_help = exit::status()
    )]
    Status(StatusArgs),
    /// Write everything an auditor asks for about one handover into a new folder
    #[command(
        long_about = "Write the evidence pack of one handover into a new folder: the signed manifest, the\n\
receipt, the deletion certificate with their signatures, the provider's public key, the audit\n\
events of that handover with the signed chain head, and a one-page report (report.md and\n\
report.html) with the checklist and the timeline. A SHA256SUMS lists every file.",
        after_help = exit::standard()
    )]
    Evidence(EvidenceArgs),
    /// The tamper-evident audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Attest a step of the offboarding done outside the tool (access revoked, billing settled, ...)
    #[command(
        long_about = "Record that a step of the offboarding that happens outside the tool is done, with who\n\
and when, in the audit log like every change. `status`, `status --json` and the evidence\n\
report show every step; `status --overdue` lists a confirmed receipt whose access revocation\n\
is not attested. Attesting a step again records the new attestation; the latest is shown.\n\n\
The handover: its name, its id (or a prefix of at least 4 characters), or its client's name\n\
when that client has one handover in progress, as every command takes it. Who attests:\n\
--operator, else the client profile's operator, else your login name.\n\n\
Examples:\n  \
handover attest acme access-revocation --note \"VPN and SSO accounts disabled\"\n  \
handover attest acme-20261201T101500Z final-billing --operator \"J. Smith\"",
        after_help = exit::attest()
    )]
    Attest(AttestArgs),
    /// Withdraw a handover that was never delivered (a test, a wrong recipient)
    #[command(
        long_about = "Withdraw a handover that was never delivered: a test export, an archive encrypted to the\n\
wrong recipient. The void and its reason are recorded in the audit log. From then on list,\n\
status and jobs leave it out (--all shows it, marked), run-due leaves its schedule, and\n\
`handover delete` deletes its own files (archive, manifest, signature) without a receipt, the\n\
void's reason in the certificate. The client's data directory stays: the export that replaces\n\
it needs it (add --also DIR to delete it too).\n\n\
Refused (exit 3) once the client's receipt is confirmed (it was delivered: delete it with the\n\
receipt), once its deletion started or finished, or when it is already voided.\n\n\
Example:\n  \
handover void acme-20261201T101500Z --reason \"test export, sent to nobody\"\n  \
handover delete acme-20261201T101500Z --yes",
        after_help = exit::void()
    )]
    Void(VoidArgs),
    /// Print download links (presigned HTTPS URLs) to a handover in a bucket
    #[command(
        long_about = "Print presigned HTTPS links to a handover exported to a bucket (--out s3://...): its\n\
archive, manifest and signature, one per line on stdout, in that order. Anyone with a link can\n\
download that object until the link expires, so send them to the client only; the archive\n\
stays encrypted to the client's keys. The expiry (not the links) is recorded in the audit log.\n\n\
The client verifies straight from the links, nothing stored first:\n  \
handover verify 'ARCHIVE-URL' --manifest 'MANIFEST-URL' --signature 'SIGNATURE-URL' \\\n      \
-i key.txt --signer provider.pub --receipt receipt.json\n\
or with standard tools: curl -fsS 'ARCHIVE-URL' | age -d -i key.txt | zstd -d | tar -x\n\n\
Example:\n  \
handover share acme --expires 7d",
        after_help = exit::share()
    )]
    Share(ShareArgs),
    /// Client profiles: record once what each client's offboarding needs
    #[command(
        subcommand,
        long_about = "Client profiles: record once what an offboarding of each client needs (data directory,\n\
recipients, escrow recipients, the client's receipt key, outbox, deletion delay, contract end,\n\
operator, organisation), so that `handover export --client NAME` needs nothing else.\n\
Every change is recorded in the audit log.\n\n\
Example:\n  \
handover client add acme --data /srv/clients/acme -R acme.recipients --out /srv/outbox \\\n      \
--delete-after 30d --contract-end 2027-01-31\n  \
handover export --client acme"
    )]
    Client(ClientCommand),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell
    #[command(
        long_about = "Print the completion script of a shell on stdout, generated from the same definitions\n\
as the parser, so it always knows every command and flag of this version. Install it where\n\
the shell looks for completions, for example:\n  \
handover completions bash > ~/.local/share/bash-completion/completions/handover\n  \
handover completions zsh > ~/.zfunc/_handover     # with fpath+=(~/.zfunc) in ~/.zshrc\n  \
handover completions fish > ~/.config/fish/completions/handover.fish",
        after_help = exit::standard()
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write every page into a folder
    #[command(
        long_about = "Print the manual page, in roff, on stdout: the commands, flags and exit codes of this\n\
version, generated from the same definitions as the parser and --help. Give a command for\n\
its own page (handover-export(1)); --out DIR writes handover.1 and a page for every command\n\
into DIR, replacing older ones. Read a page at once, or install them where man looks:\n  \
handover man | man -l -\n  \
handover man export | man -l -\n  \
handover man --out ~/.local/share/man/man1",
        after_help = exit::standard()
    )]
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct AttestArgs {
    /// The handover: id (or a prefix of at least 4 characters), name, or client name
    #[arg(value_name = "CLIENT|HANDOVER")]
    pub handover: String,
    /// The step done
    #[arg(value_enum, value_name = "STEP")]
    pub step: StepArg,
    /// What was done, for the auditor ("VPN and SSO accounts disabled")
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Who attests it [default: the client profile's operator, else $USER]
    #[arg(long, env = "HANDOVER_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
}

/// A step of the offboarding checklist that the operator attests.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepArg {
    /// The client was notified and the contract's end date confirmed
    NotificationAndEndDate,
    /// Documentation, credentials and know-how handed over with the data
    KnowledgeAndDataTransfer,
    /// The final bill is settled
    FinalBilling,
    /// The provider's and third parties' access to the client's systems is revoked
    #[value(alias = "access-revoked")]
    AccessRevocation,
    /// The client's feedback was collected
    Feedback,
}

impl From<StepArg> for handover::AttestStep {
    fn from(s: StepArg) -> Self {
        match s {
            StepArg::NotificationAndEndDate => handover::AttestStep::NotificationAndEndDate,
            StepArg::KnowledgeAndDataTransfer => handover::AttestStep::KnowledgeAndDataTransfer,
            StepArg::FinalBilling => handover::AttestStep::FinalBilling,
            StepArg::AccessRevocation => handover::AttestStep::AccessRevocation,
            StepArg::Feedback => handover::AttestStep::Feedback,
        }
    }
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The command whose page to print (`export`, `certificate check`) [default: handover(1)]
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub command: Vec<String>,
    /// Write handover.1 and every command's page into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
    pub id: String,
    /// The folder to create (must not exist)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The client's receipt.json (and its .minisig beside it) to include; it must be the one
    /// `confirm` checked
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
}

/// Parses a time for --at (a clap value parser, so a bad date is a usage error).
fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    handover::parse_at(s)
}

/// Parses a delay for --after/--delete-after.
fn parse_delay(s: &str) -> Result<time::Duration, String> {
    handover::parse_after(s)
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
    pub id: String,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["at", "after"])))]
pub struct ScheduleArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
    pub id: String,
    /// When: a date (2027-01-31, midnight UTC) or an RFC 3339 time
    #[arg(long, value_parser = parse_time)]
    pub at: Option<time::OffsetDateTime>,
    /// When, from now: 30d, 12h, 2w
    #[arg(long, value_parser = parse_delay)]
    pub after: Option<time::Duration>,
    /// Accept a time in the past (deletion then runs at the next run-due)
    #[arg(long)]
    pub allow_past: bool,
}

#[derive(Args, Debug)]
pub struct HoldArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
    pub id: String,
    /// Why (recorded in the audit log and shown by jobs and status)
    #[arg(long)]
    pub reason: String,
}

#[derive(Args, Debug)]
pub struct RunDueArgs {
    /// Show what would run; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["systemd", "cron"])))]
pub struct TimerArgs {
    /// A systemd service and timer pair (hourly)
    #[arg(long)]
    pub systemd: bool,
    /// A crontab line (hourly)
    #[arg(long)]
    pub cron: bool,
    /// With --systemd: write handover-run-due.service and .timer into DIR (created if
    /// missing; an existing unit is never overwritten) instead of printing them
    #[arg(long, value_name = "DIR", conflicts_with = "cron")]
    pub out: Option<PathBuf>,
    /// The user the service runs as (User=) [default: the owner of the home folder]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only this client's handovers, or the one handover this names (its name, id or a unique
    /// id prefix of at least 4 characters)
    pub client: Option<String>,
    /// Only what is overdue, one line each; exits 4 when anything is listed
    #[arg(long)]
    pub overdue: bool,
    /// Also show voided handovers (marked VOIDED)
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and every signed head, check receipts, holds and schedules against
    /// the audited events; name the first row edited, deleted or reordered
    #[command(after_help = format!("{AUDIT_VERIFY_HELP}\n\n{}", exit::audit_verify()))]
    Verify {
        /// A document that carries an audit checkpoint (signed manifest, receipt, deletion
        /// certificate, or an evidence pack folder): check that the database still holds that
        /// row with that hash, so a rollback or a rewrite before it is caught; repeatable
        #[arg(long, value_name = "FILE")]
        against: Vec<PathBuf>,
    },
    /// Replace a lost audit.key: check the log, make a new key, record the re-keying
    #[command(
        long_about = "Replace a lost audit.key (restore it from a backup instead if you can). Checks the whole\n\
chain and, with the old audit.pub, the signature of its head; keeps the old audit.pub as\n\
audit.pub.replaced-TIME; makes a new audit key pair; and records the re-keying, with the\n\
reason and both key ids, as an audit event signed with the new key. Refuses while audit.key\n\
is present, or when the chain does not verify.",
        after_help = exit::standard()
    )]
    Rekey {
        /// Why the key was lost (recorded in the audit log)
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The encrypted archive (NAME.tar.zst.age): a file, an https:// link (streamed, never
    /// stored), or an s3://BUCKET/KEY object
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// Identity: an age identity file or an OpenSSH private key; repeatable
    #[arg(short = 'i', long = "identity", value_name = "FILE", required = true)]
    pub identities: Vec<PathBuf>,
    /// The manifest, a file or a link [default: NAME.manifest.json beside the archive]
    #[arg(long, value_name = "FILE|URL")]
    pub manifest: Option<PathBuf>,
    /// The manifest's signature, a file or a link [default: beside the manifest]; a
    /// presigned archive link needs --manifest and --signature (`handover share` prints them)
    #[arg(long, value_name = "FILE|URL")]
    pub signature: Option<PathBuf>,
    /// The provider's minisign public key file (without it the signer is unauthenticated)
    #[arg(long, value_name = "FILE", conflicts_with = "signer_key")]
    pub signer: Option<PathBuf>,
    /// The provider's minisign public key as a string (RW...)
    #[arg(long, value_name = "RW...")]
    pub signer_key: Option<String>,
    /// Extract the bag into DIR (must not exist) once everything verified
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
    /// Also create symlinks that point outside DIR
    #[arg(long, requires = "extract")]
    pub keep_outside_links: bool,
    /// Write a receipt (JSON) to FILE once everything verified
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Sign the receipt with your own minisign key (from `handover keygen`); writes FILE.minisig
    #[arg(long, value_name = "KEY", requires = "receipt")]
    pub sign_receipt: Option<PathBuf>,
    /// Remove partial extractions (.DIR.handover-partial-*) that a killed `verify --extract`
    /// left beside DIR or the archive; without it they are only reported
    #[arg(long)]
    pub clean: bool,
    /// Once everything verified, print the contents on stdout (mode, size, mtime, path; like
    /// `tar -tv`) without extracting anything; with --json they are in "contents"
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Debug)]
pub struct ConfirmArgs {
    /// A receipt file, or with --code the handover (its name, id, id prefix or client's name)
    ///
    /// With --code: the handover's name, its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "RECEIPT|HANDOVER")]
    pub target: String,
    /// The receipt code the client read out (XXXX-XXXX-XXXX-XXXX-XXXX)
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// The client's public key file (minisign, or ssh-ed25519): the receipt must be signed
    /// with it. Not needed when the key was bound at export (`export --client-key`), and it
    /// must then be that key
    #[arg(long, value_name = "FILE", conflicts_with = "code")]
    pub client_key: Option<PathBuf>,
}

/// `audit verify`: the witness model in short (its exit codes follow, from [`exit`]).
const AUDIT_VERIFY_HELP: &str = "\
The database alone can be rolled back to an older copy without a trace. Every manifest,
receipt, certificate and evidence pack carries the audit checkpoint of its moment; whoever
holds one (the client keeps the manifest and the receipt) can check the log against it:
  handover audit verify --against acme-20261201T101500Z.manifest.json --against receipt.json";

#[derive(Subcommand, Debug)]
pub enum CertificateCommand {
    /// Show a deletion certificate (--json prints the signed document itself)
    #[command(after_help = exit::standard())]
    Show {
        /// Certificate id (or its first characters)
        #[arg(value_name = "CERTIFICATE_ID")]
        id: String,
    },
    /// For the client: which files of an extracted bag a certificate covers
    #[command(
        long_about = "For the client: which files of the bag you extracted (`handover verify --extract DIR`,\n\
or tar) the deletion certificate covers, and which it does not.\n\n\
A certificate names paths as salted SHA-256 hashes by default (names: salted_sha256): each\n\
file under DIR/data is hashed with the certificate's salt, as SHA-256 of SALT:PATH (PATH\n\
relative to data/, raw bytes), and matched with its entries; its size and, where\n\
the certificate lists one, the SHA-256 of its bytes must match too. A certificate with\n\
names: clear is matched by path.\n\n\
Also says whether the signature file CERT.minisig is there and verifies with the key the\n\
certificate names. With --signer handover.pub (the provider's public key you were given), it\n\
also checks that key is the provider's or authorised by it (the delegation inside the\n\
certificate), and refuses the certificate otherwise (exit 3).\n\n\
Example:\n  \
handover certificate check acme-20261201T101500Z.deletion-certificate.json --bag ./acme-data \\\n      \
--signer provider.pub",
        after_help = exit::certificate_check()
    )]
    Check {
        /// The certificate file (NAME.deletion-certificate.json)
        #[arg(value_name = "CERT")]
        cert: PathBuf,
        /// The extracted bag (the folder holding data/)
        #[arg(long, value_name = "DIR")]
        bag: PathBuf,
        /// The provider's public key file (handover.pub): the certificate must be theirs
        #[arg(long, value_name = "FILE", conflicts_with = "signer_key")]
        signer: Option<PathBuf>,
        /// The provider's public key as a string (RW...)
        #[arg(long, value_name = "RW...")]
        signer_key: Option<String>,
    },
}

/// How the certificate and, once the deletion is done, the state database name paths.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NamesArg {
    /// A salted SHA-256 of each path; the client checks coverage with `certificate check`
    #[default]
    Salted,
    /// The paths in clear, for providers whose policy needs them
    Clear,
}

impl From<NamesArg> for handover::Names {
    fn from(n: NamesArg) -> Self {
        match n {
            NamesArg::Salted => handover::Names::SaltedSha256,
            NamesArg::Clear => handover::Names::Clear,
        }
    }
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
    /// How the certificate (and the state database, once done) names the deleted paths:
    /// salted (a salted SHA-256 of each path, no client file name in clear) or clear
    #[arg(long, value_enum, value_name = "FORM", default_value_t = NamesArg::Salted)]
    pub names: NamesArg,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
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
    /// Organisation named in the certificate key's delegation
    #[arg(long, env = "HANDOVER_ORGANIZATION")]
    pub organization: Option<String>,
}

#[derive(Args, Debug)]
pub struct DelegateArgs {
    /// Organisation named in the delegation
    #[arg(long, env = "HANDOVER_ORGANIZATION")]
    pub organization: Option<String>,
    /// Sign a new delegation even if a valid one exists (for example a new organisation)
    #[arg(long)]
    pub renew: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The client's data directory, or s3://BUCKET/PREFIX/ for objects in a bucket [default:
    /// the client profile's --data]
    #[arg(value_name = "DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client name (letters, digits, '.', '_', '-'); names the output files
    #[arg(long)]
    pub client: String,
    /// Recipient: an age public key (age1...) or an ssh-ed25519/ssh-rsa public key; repeatable
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// File of recipients, one per line (# comments and blank lines allowed); repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipient_files: Vec<PathBuf>,
    /// Output directory (created if missing; must not be inside DATA_DIR) [default: the
    /// client profile's --out]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Base name of the outputs [default: <client>-<UTC timestamp>]
    #[arg(long)]
    pub name: Option<String>,
    /// Signing key [default: handover.key in the home folder]
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// zstd compression level, 1-22
    #[arg(long, default_value_t = handover::DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Refuse file names that are not valid UTF-8 instead of storing them and warning
    #[arg(long)]
    pub strict_names: bool,
    /// Schedule deletion of the local copies this long after the export (30d, 12h, 2w)
    #[arg(long, value_parser = parse_delay, value_name = "DELAY")]
    pub delete_after: Option<time::Duration>,
    /// The client's public signing key (minisign .pub, or an ssh-ed25519 public key line):
    /// bound in the signed manifest, so `confirm` takes a signed receipt only from this key
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this client's handovers
    #[arg(value_name = "CLIENT")]
    pub client: Option<String>,
    /// Also list voided handovers (RECEIVED shows VOIDED)
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct JobsArgs {
    /// Also show the jobs of voided handovers (status voided)
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct VoidArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    ///
    /// Its name (acme-20261201T101500Z), its id or a unique prefix of it (at least 4
    /// characters), or its client's name when that client has one handover in progress (not
    /// deleted, not voided). No match, several (they are listed) or a shorter prefix: exit 1.
    #[arg(value_name = "HANDOVER")]
    pub id: String,
    /// Why it is withdrawn (recorded in the audit log and in the deletion certificate)
    #[arg(long)]
    pub reason: String,
}

#[derive(Args, Debug)]
pub struct ShareArgs {
    /// The handover: its name, its id or an id prefix, or its client's name
    #[arg(value_name = "HANDOVER")]
    pub id: String,
    /// How long the links work: a number with h, d or w, at most 7d (the longest a presigned
    /// link can last)
    #[arg(long, value_name = "DELAY", default_value = "7d", value_parser = handover::parse_after)]
    pub expires: time::Duration,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Record a client's profile
    #[command(after_help = format!("Example:\n  handover client add acme --data /srv/clients/acme -r age1... --escrow age1... \\\n      --out /srv/outbox --delete-after 30d --contract-end 2027-01-31 --operator 'J. Doe'\n\n{}", exit::client()))]
    Add {
        /// The client's name (letters, digits, '.', '_', '-'), as `export --client` takes it
        name: String,
        #[command(flatten)]
        set: ClientSetArgs,
    },
    /// Change a client's profile: given flags replace values, --clear removes them
    #[command(after_help = format!("Example:\n  handover client edit acme --out /srv/outbox2 --clear contract-end\n\n{}", exit::client()))]
    Edit {
        /// The client's name
        name: String,
        #[command(flatten)]
        set: ClientSetArgs,
        /// Remove a value (the receipt threshold returns to 14 days); repeatable
        #[arg(long, value_enum, value_name = "FIELD")]
        clear: Vec<ClearArg>,
    },
    /// List the client profiles
    #[command(after_help = format!("Example:\n  handover client list --json\n\n{}", exit::client()))]
    List,
    /// Show one client's profile
    #[command(after_help = format!("Example:\n  handover client show acme --json\n\n{}", exit::client()))]
    Show {
        /// The client's name
        name: String,
    },
    /// Remove a client's profile (its handovers and their records stay)
    #[command(after_help = format!("Example:\n  handover client remove acme\n\n{}", exit::client()))]
    Remove {
        /// The client's name
        name: String,
    },
}

/// Parses a receipt threshold: whole days, at least 1.
fn parse_days(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of days from 1 to 3650 (default 14)"
        )),
    }
}

/// The settings `client add` and `client edit` take.
#[derive(Args, Debug)]
pub struct ClientSetArgs {
    /// The client's data directory
    #[arg(long = "data", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Recipient: an age public key (age1...) or an ssh-ed25519/ssh-rsa public key; repeatable
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// File of recipients, one per line, read again at each export; repeatable
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipient_files: Vec<PathBuf>,
    /// Escrow recipient, added to every export of this client even when -r overrides the
    /// recipients; repeatable
    #[arg(long, value_name = "RECIPIENT")]
    pub escrow: Vec<String>,
    /// The client's public signing key for receipts (minisign .pub or ssh-ed25519)
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// The outbox: export's --out
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Delete the local copies this long after the export, or after the contract end when
    /// one is set (30d, 12h, 2w)
    #[arg(long, value_parser = parse_delay, value_name = "DELAY")]
    pub delete_after: Option<time::Duration>,
    /// When the contract ends: a date (2027-01-31, midnight UTC) or an RFC 3339 time; a past
    /// date is accepted
    #[arg(long, value_parser = parse_time, value_name = "DATE")]
    pub contract_end: Option<time::OffsetDateTime>,
    /// Who runs this client's offboarding
    #[arg(long, value_name = "TEXT")]
    pub operator: Option<String>,
    /// The provider's organisation
    #[arg(long, value_name = "TEXT")]
    pub organization: Option<String>,
    /// Days a receipt may stay pending before it is overdue [default: 14]
    #[arg(long, value_parser = parse_days, value_name = "N")]
    pub receipt_days: Option<u32>,
}

/// A value `client edit --clear` removes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearArg {
    /// --data
    Data,
    /// -r
    Recipients,
    /// -R
    #[value(alias = "recipients-file")]
    RecipientsFiles,
    /// --escrow
    Escrow,
    /// --client-key
    ClientKey,
    /// --out
    Out,
    /// --delete-after
    DeleteAfter,
    /// --contract-end
    ContractEnd,
    /// --operator
    Operator,
    /// --organization
    Organization,
    /// --receipt-days (back to 14)
    ReceiptDays,
}

impl From<ClearArg> for handover::ClientField {
    fn from(c: ClearArg) -> Self {
        use handover::ClientField as F;
        match c {
            ClearArg::Data => F::DataDir,
            ClearArg::Recipients => F::Recipients,
            ClearArg::RecipientsFiles => F::RecipientFiles,
            ClearArg::Escrow => F::Escrow,
            ClearArg::ClientKey => F::ClientKey,
            ClearArg::Out => F::OutDir,
            ClearArg::DeleteAfter => F::DeleteAfter,
            ClearArg::ContractEnd => F::ContractEnd,
            ClearArg::Operator => F::Operator,
            ClearArg::Organization => F::Organization,
            ClearArg::ReceiptDays => F::ReceiptDays,
        }
    }
}

impl ClientSetArgs {
    /// The library's changes, with the values to clear.
    pub fn changes(self, clear: &[ClearArg]) -> handover::ClientChanges {
        handover::ClientChanges {
            data_dir: self.data_dir,
            recipients: self.recipients,
            recipient_files: self.recipient_files,
            escrow: self.escrow,
            client_key: self.client_key,
            out_dir: self.out,
            delete_after: self.delete_after,
            contract_end: self.contract_end,
            operator: self.operator,
            organization: self.organization,
            receipt_days: self.receipt_days,
            clear: clear.iter().map(|&c| c.into()).collect(),
        }
    }
}
