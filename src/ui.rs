//! The terminal side of the binary: the indicatif progress reporter and text rendering of
//! summaries. Progress, warnings and human text go to stderr; stdout carries only the
//! `--json` document (and `list`'s table, which is the command's output).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use handover::Reporter;

/// Shows progress on stderr when it is a terminal and neither `--quiet` nor `--json` is set.
pub struct TermReporter {
    bar: Mutex<Option<ProgressBar>>,
    show: bool,
    quiet: bool,
}

impl TermReporter {
    pub fn new(quiet: bool, json: bool) -> Self {
        TermReporter {
            bar: Mutex::new(None),
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

    fn password(&self, prompt: &str) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(prompt).ok()
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

/// Bytes for people: 1.5 GiB, 12.0 KiB.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
