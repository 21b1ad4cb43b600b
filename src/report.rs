//! How the library talks to whoever runs it, without printing: progress, warnings, and the
//! passwords go through [`Reporter`]; results come back as plain summary structs.
//!
//! The binary implements `Reporter` with indicatif on stderr; tests and scripts use
//! [`NoReporter`]. Nothing here may print or read the terminal itself, and the library reads
//! no secret from the environment: a password comes only from the reporter.

/// Receives progress and warnings from long-running library work.
pub trait Reporter: Sync {
    /// True when a progress display would be shown. Export uses this to decide whether
    /// the tree is counted first (a metadata-only pre-walk) so the bar can show an ETA.
    fn wants_totals(&self) -> bool {
        false
    }
    /// A stage begins; totals are known only when `wants_totals` was true.
    fn start(&self, _stage: &str, _total_bytes: Option<u64>, _total_files: Option<u64>) {}
    /// `bytes` more payload bytes were processed.
    fn bytes(&self, _bytes: u64) {}
    /// One more file (or other entry) is done.
    fn file_done(&self) {}
    /// The stage is over.
    fn finish(&self) {}
    /// Something the user should know that does not stop the work.
    fn warn(&self, _message: &str) {}
    /// True once the user asked to stop (Ctrl-C, SIGTERM). Long work checks it between
    /// chunks and returns an error, so temporary files are removed on the way out.
    fn cancelled(&self) -> bool {
        false
    }
    /// A password for a key (to unlock the signing key, or to protect a new one), by any
    /// means the host has: the binary takes `HANDOVER_KEY_PASSWORD` if set, else asks on the
    /// terminal. `None`: none can be had.
    fn password(&self, _prompt: &str) -> Option<String> {
        None
    }
    /// A password that can be had without asking anyone (the binary: `HANDOVER_KEY_PASSWORD`).
    /// Unattended work (`run-due`) takes only this one, and it tells whether a
    /// password-protected key could be unlocked with nobody at a terminal. `None`: no such
    /// password.
    fn unattended_password(&self) -> Option<String> {
        None
    }
    /// A passphrase for one of the client's own secret keys (a passphrase-protected SSH
    /// identity), asked of a person at `prompt`; never taken from the environment, where the
    /// provider's key password lives. `None`: nobody can be asked.
    fn passphrase(&self, _prompt: &str) -> Option<String> {
        None
    }
    /// Whether [`Reporter::confirm`] can ask anyone (a terminal on stdin). Deletion fails
    /// with a message instead of asking when it cannot.
    fn can_ask(&self) -> bool {
        false
    }
    /// Asks a yes/no question; anything but a clear yes is no.
    fn confirm(&self, _question: &str) -> bool {
        false
    }
}

/// A reporter that shows nothing and cannot prompt.
pub struct NoReporter;

impl Reporter for NoReporter {}
