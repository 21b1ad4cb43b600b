//! The exit-code table: every code the binary exits with and what it means, as data. The
//! "Exit status:" section of every `--help` is rendered from it, and a test holds the README's
//! table to it, so the three cannot drift apart.

use handover::ExitClass;

/// One row of the table.
pub struct Row {
    pub code: u8,
    /// What it means, in the words of the README's exit-code table (which a test checks).
    #[cfg_attr(not(test), allow(dead_code))]
    pub meaning: &'static str,
    /// The shorter wording of `--help`; a `\n` continues it on an indented line.
    pub help: &'static str,
}

/// Success.
pub const SUCCESS: u8 = 0;
/// A usage error: clap's own code for bad arguments.
pub const USAGE: u8 = 2;

const fn class(c: ExitClass, help: &'static str) -> Row {
    Row {
        code: c.code(),
        meaning: c.meaning(),
        help,
    }
}

/// Every exit code, in order: success, clap's usage error, and each [`ExitClass`].
pub const TABLE: [Row; 6] = [
    Row {
        code: SUCCESS,
        meaning: "success",
        help: "success",
    },
    class(
        ExitClass::Operational,
        "operational error (I/O, bad key file, locked database)",
    ),
    Row {
        code: USAGE,
        meaning: "usage error (bad arguments; clap's own)",
        help: "usage error (bad arguments)",
    },
    class(
        ExitClass::Refused,
        "a check failed or a safety rule refused (verification failure, tampering,\nno receipt, unsafe deletion)",
    ),
    class(
        ExitClass::Waiting,
        "work left waiting (run-due with due jobs held back)",
    ),
    class(ExitClass::Interrupted, "interrupted (Ctrl-C or SIGTERM)"),
];

/// The row of `code`. Panics on a code the table lacks: every section names codes of the table.
fn row(code: u8) -> &'static Row {
    TABLE
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("exit code {code} is not in the table"))
}

/// Renders an "Exit status:" section: each code with the table's help wording, or with the
/// command's own (what the code means for that command).
pub fn section(codes: &[(u8, Option<&str>)]) -> String {
    // Codes right-aligned to the widest, so that the meanings line up.
    let width = codes
        .iter()
        .map(|(c, _)| c.to_string().len())
        .max()
        .unwrap_or(1);
    let indent = " ".repeat(2 + width + 2);
    let mut s = String::from("Exit status:");
    for &(code, own) in codes {
        let text = own.unwrap_or(row(code).help);
        for (i, line) in text.lines().enumerate() {
            if i == 0 {
                s.push_str(&format!("\n  {code:>width$}  {line}"));
            } else {
                s.push_str(&format!("\n{indent}{line}"));
            }
        }
    }
    s
}

/// Most commands: 0 to 4 and 130 in the table's words.
pub fn standard() -> String {
    section(&[
        (SUCCESS, None),
        (ExitClass::Operational.code(), None),
        (USAGE, None),
        (ExitClass::Refused.code(), None),
        (ExitClass::Waiting.code(), None),
        (ExitClass::Interrupted.code(), None),
    ])
}

/// `run-due`, for cron and systemd: what each code says about the due jobs.
pub fn run_due() -> String {
    section(&[
        (SUCCESS, Some("every due job was done (or none was due)")),
        (
            ExitClass::Operational.code(),
            Some("a job failed (I/O); it stays scheduled and is retried next run"),
        ),
        (USAGE, Some("usage error")),
        (
            ExitClass::Refused.code(),
            Some(
                "a job was refused by a safety rule, or the clock is behind the last recorded event",
            ),
        ),
        (
            ExitClass::Waiting.code(),
            Some("due jobs are waiting: held, or the client's receipt is not confirmed"),
        ),
        (
            ExitClass::Interrupted.code(),
            Some("interrupted (Ctrl-C or SIGTERM); the job in progress resumes next run"),
        ),
    ])
}

/// `delete` and `shred`.
pub fn delete() -> String {
    section(&[
        (
            SUCCESS,
            Some("success: everything deleted and the certificate written (or --dry-run)"),
        ),
        (
            ExitClass::Operational.code(),
            Some("operational error (I/O while deleting, bad key file, locked database)"),
        ),
        (USAGE, None),
        (
            ExitClass::Refused.code(),
            Some(
                "refused or a check failed: a blocker in the plan, no receipt, not confirmed,\na read-back mismatch; nothing is deleted on a refusal. --dry-run shows the plan\nand exits 3 too when the real run would be refused (no receipt yet, a hold)",
            ),
        ),
        (
            ExitClass::Interrupted.code(),
            Some(
                "interrupted (Ctrl-C or SIGTERM): stopped at a file boundary, progress recorded;\nrun the same command again to finish",
            ),
        ),
    ])
}

/// `audit verify`.
pub fn audit_verify() -> String {
    section(&[
        (
            SUCCESS,
            Some("intact (and consistent with every --against document)"),
        ),
        (
            ExitClass::Operational.code(),
            Some("operational error (no state database, unreadable file)"),
        ),
        (USAGE, None),
        (
            ExitClass::Refused.code(),
            Some(
                "tampering found: a row edited, removed or reordered, a signed head missing, a receipt or\nhold that disagrees with the audited events, or a rollback behind an anchor",
            ),
        ),
    ])
}

/// `certificate check`.
pub fn certificate_check() -> String {
    section(&[
        (
            SUCCESS,
            Some("every file under DIR/data is covered by the certificate"),
        ),
        (
            ExitClass::Operational.code(),
            Some("operational error (the certificate or the bag cannot be read)"),
        ),
        (USAGE, None),
        (
            ExitClass::Refused.code(),
            Some("some files are not covered (or differ in size or SHA-256); --json lists both"),
        ),
    ])
}

/// `status`: 4 tells a monitoring timer that `--overdue` found work.
pub fn status() -> String {
    section(&[
        (
            SUCCESS,
            Some("success (with --overdue: nothing is overdue)"),
        ),
        (
            ExitClass::Operational.code(),
            Some("operational error (no state database, locked database)"),
        ),
        (USAGE, None),
        (
            ExitClass::Waiting.code(),
            Some("with --overdue: overdue work is listed"),
        ),
    ])
}

/// `attest`.
pub fn attest() -> String {
    section(&[
        (SUCCESS, Some("the attestation is recorded and audited")),
        (
            ExitClass::Operational.code(),
            Some(
                "operational error, or HANDOVER names no handover or several (listed), or a\nprefix under 4 characters",
            ),
        ),
        (USAGE, Some("usage error (bad arguments, an unknown STEP)")),
        (
            ExitClass::Refused.code(),
            Some("refused: the audit log does not verify; nothing was recorded"),
        ),
    ])
}

/// `void`.
pub fn void() -> String {
    section(&[
        (
            SUCCESS,
            Some("voided, and the void recorded in the audit log"),
        ),
        (
            ExitClass::Operational.code(),
            Some(
                "operational error, or HANDOVER names no handover, several (listed), or a prefix\nunder 4 characters",
            ),
        ),
        (USAGE, None),
        (
            ExitClass::Refused.code(),
            Some(
                "refused: the client's receipt is confirmed, the handover is already deleted (or its\ndeletion started) or voided, or the audit log does not verify; nothing changed",
            ),
        ),
    ])
}

/// `share`.
pub fn share() -> String {
    section(&[
        (
            SUCCESS,
            Some("the links are printed, and their expiry recorded in the audit log"),
        ),
        (
            ExitClass::Operational.code(),
            Some(
                "operational error: the object store refused the credentials or could not be\nreached, or HANDOVER names no handover",
            ),
        ),
        (USAGE, None),
        (
            ExitClass::Refused.code(),
            Some(
                "refused: the handover is not in a bucket, is deleted (or being deleted), or voided",
            ),
        ),
    ])
}

/// `client add|edit|list|show|remove`.
pub fn client() -> String {
    section(&[
        (SUCCESS, None),
        (
            ExitClass::Operational.code(),
            Some("operational error (I/O, locked database)"),
        ),
        (
            USAGE,
            Some("usage error (a bad delay, date or number of days)"),
        ),
        (
            ExitClass::Refused.code(),
            Some(
                "refused, nothing changed: a bad client name or recipient, a profile that\nexists (add) or does not (edit, show, remove)",
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the README's "## Exit codes" table, as (code, meaning).
    fn readme_rows() -> Vec<(u8, String)> {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README has an Exit codes section");
        table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // the header and its |---| line
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').splitn(2, '|').collect();
                (
                    cells[0].trim().parse().expect("a code"),
                    cells[1].trim().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn readme_table_is_the_table() {
        let ours: Vec<(u8, String)> = TABLE
            .iter()
            .map(|r| (r.code, r.meaning.to_string()))
            .collect();
        assert_eq!(readme_rows(), ours);
    }

    #[test]
    fn every_class_is_in_the_table_once() {
        for c in ExitClass::ALL {
            assert_eq!(TABLE.iter().filter(|r| r.code == c.code()).count(), 1);
            assert_eq!(row(c.code()).meaning, c.meaning());
        }
        assert!(TABLE.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn standard_section_lists_every_code_aligned() {
        assert_eq!(
            standard(),
            "Exit status:
    0  success
    1  operational error (I/O, bad key file, locked database)
    2  usage error (bad arguments)
    3  a check failed or a safety rule refused (verification failure, tampering,
       no receipt, unsafe deletion)
    4  work left waiting (run-due with due jobs held back)
  130  interrupted (Ctrl-C or SIGTERM)"
        );
    }

    #[test]
    fn every_section_renders() {
        for s in [
            run_due(),
            delete(),
            audit_verify(),
            certificate_check(),
            status(),
            attest(),
        ] {
            let width = if s.contains("\n  130  ") { 3 } else { 1 };
            let pad = " ".repeat(2 + width - 1);
            assert!(s.starts_with(&format!("Exit status:\n{pad}0  ")), "{s}");
            assert!(s.contains(&format!("\n{pad}2  usage error")), "{s}");
        }
    }
}
