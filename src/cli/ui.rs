//! The terminal side of the binary: the indicatif progress reporter and text rendering of
//! summaries. Progress, warnings and human text go to stderr; stdout carries only the
//! `--json` document (and `list`'s table, which is the command's output).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use handover::Reporter;

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

/// One row of `list --json`: the handover, with its confirmed receipt if any.
#[derive(serde::Serialize)]
pub struct ListRow<'a> {
    #[serde(flatten)]
    pub handover: &'a handover::ledger::store::HandoverRecord,
    pub receipt: Option<&'a handover::ledger::store::ReceiptRecord>,
}

/// Prints a verification report on stderr: the problems, or the summary and receipt code.
pub fn print_verify(r: &handover::VerifyReport) {
    if !r.ok {
        eprintln!(
            "handover: error: verification FAILED for {} ({} problem{}); nothing was extracted or marked verified",
            r.archive_path.display(),
            r.problems.len() as u64 + r.problems_not_listed,
            if r.problems.len() as u64 + r.problems_not_listed == 1 {
                ""
            } else {
                "s"
            }
        );
        for p in &r.problems {
            let mut lines = p.message.lines();
            eprintln!("  - {}: {}", p.kind, lines.next().unwrap_or(""));
            for l in lines {
                eprintln!("    {l}");
            }
        }
        if r.problems_not_listed > 0 {
            eprintln!("  ... and {} more (not listed)", r.problems_not_listed);
        }
        return;
    }
    eprintln!(
        "verified handover {} for {}: {} files, {} dirs, {} symlinks, {}",
        r.handover_id,
        r.client,
        r.files,
        r.directories,
        r.symlinks,
        human_bytes(r.bytes)
    );
    eprintln!(
        "  signed by key {}{}",
        r.signer_key_id,
        if r.signer_authenticated {
            ""
        } else {
            " (NOT authenticated: compare this key id with the provider)"
        }
    );
    if let Some(d) = &r.extracted_to {
        eprintln!("  extracted to {}", d.display());
    }
    if let Some(p) = &r.receipt_path {
        eprintln!("  receipt written to {}", p.display());
    }
    if let Some(c) = &r.receipt_code {
        eprintln!("receipt code: {c}");
        eprintln!("  send it (or the receipt file) to the provider as proof of receipt");
    }
}
