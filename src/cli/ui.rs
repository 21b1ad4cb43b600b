//! The terminal side of the binary: the indicatif progress reporter, the prompts, and the
//! password from the environment (the library reads none). Text rendering of summaries is in
//! `render`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use handover::Reporter;

/// The environment variable that may hold the signing key's password (for automation).
pub const PASSWORD_ENV: &str = "HANDOVER_KEY_PASSWORD";

/// Whether the running command checks the stop flag itself (export, delete, shred, run-due stop
/// at a file boundary with their progress recorded); any other command ends at the first
/// Ctrl-C or SIGTERM with exit 130.
static STOPS_ITSELF: AtomicBool = AtomicBool::new(false);

/// Says that the running command stops by itself at the next boundary once the stop flag is
/// raised, rather than at once.
pub fn command_stops_itself(yes: bool) {
    STOPS_ITSELF.store(yes, Ordering::SeqCst);
}

/// Shows progress on stderr when it is a terminal and neither `--quiet` nor `--json` is set.
pub struct TermReporter {
    bar: Mutex<Option<ProgressBar>>,
    cancel: &'static AtomicBool,
    show: bool,
    quiet: bool,
}

impl TermReporter {
    pub fn new(quiet: bool, json: bool) -> Self {
        // Ctrl-C and SIGTERM only raise a flag: the library stops at its next check and
        // returns an error, so temporary outputs are dropped (and deleted) on the way out.
        static CANCEL: AtomicBool = AtomicBool::new(false);
        // A second signal ends the process at once, for when the first is not enough.
        let _ = ctrlc::set_handler(|| {
            if CANCEL.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            handover::signal_caught();
            // A command that never looks at the flag (verify, evidence, a prompt) would run
            // on to the end and exit 0: it stops here, as a kill would stop it.
            if !STOPS_ITSELF.load(Ordering::SeqCst) {
                crate::cli::shell::restore_terminal();
                std::process::exit(130);
            }
        });
        TermReporter {
            bar: Mutex::new(None),
            cancel: &CANCEL,
            show: !quiet && !json && std::io::stderr().is_terminal(),
            quiet,
        }
    }
}

impl Reporter for TermReporter {
    fn wants_totals(&self) -> bool {
        self.show
    }

    fn start(&self, stage: &str, total_bytes: Option<u64>, _total_files: Option<u64>) {
        if !self.show {
            return;
        }
        let bar = match total_bytes {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {pos_files} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_message(stage.to_string());
        *self.bar.lock().unwrap() = Some(bar);
    }

    fn bytes(&self, bytes: u64) {
        if let Some(b) = self.bar.lock().unwrap().as_ref() {
            b.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }

    fn warn(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().unwrap().as_ref() {
            Some(b) => b.suspend(|| eprintln!("handover: warning: {message}")),
            None => eprintln!("handover: warning: {message}"),
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn password(&self, prompt: &str) -> Option<String> {
        if let Some(pw) = self.unattended_password() {
            return Some(pw);
        }
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(prompt).ok()
    }

    fn passphrase(&self, prompt: &str) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(prompt).ok()
    }

    fn unattended_password(&self) -> Option<String> {
        std::env::var(PASSWORD_ENV).ok()
    }

    fn can_ask(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn confirm(&self, question: &str) -> bool {
        if !self.can_ask() {
            return false;
        }
        let mut line = String::new();
        let guard = self.bar.lock().unwrap();
        let mut ask = || {
            eprint!("{question}");
            std::io::stdin().read_line(&mut line).is_ok()
        };
        let ok = match guard.as_ref() {
            Some(b) => b.suspend(ask),
            None => ask(),
        };
        ok && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}
