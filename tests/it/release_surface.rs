//! The command line users get has no test-only switches (issue 8, item 11): no help text
//! mentions the fault-injection or clock variables, and no command accepts a `--now` that
//! would run scheduled deletions early. Every subcommand is found from the binary's own help,
//! so one added later is covered too.
use crate::common::*;

/// The names listed under `Commands:` in a help text, `help` itself left out.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// `handover PATH... --help`, which must succeed; returns stdout.
fn help_of(env: &Env, path: &[String]) -> String {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let o = env.run(&args);
    assert_ok(&o);
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn no_help_text_mentions_a_test_switch() {
    let env = Env::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let help = help_of(&env, &path);
        seen += 1;
        for forbidden in [
            "HANDOVER_TEST",
            "HANDOVER_FAILPOINT",
            "HANDOVER_FAKE_NOW",
            "KILL_AFTER",
            "--now",
        ] {
            assert!(
                !help.contains(forbidden),
                "`handover {} --help` mentions {forbidden}:\n{help}",
                path.join(" ")
            );
        }
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
    }
    // The top level, its commands and the nested ones (certificate …, audit …): a parse of
    // the help that found nothing would make this test pass vacuously.
    assert!(seen > 15, "only {seen} help texts found");
}

#[test]
fn no_command_accepts_a_now_switch() {
    let env = Env::keyed();
    let id = "0123456789abcdef0123456789abcdef";
    for base in [
        &["run-due"][..],
        &["jobs"],
        &["schedule", id, "--at", "2099-01-01"],
    ] {
        // Without the switch the command line parses (whatever the command then finds)...
        let o = env.run(base);
        assert_ne!(
            o.status.code(),
            Some(2),
            "{base:?} alone must not be a usage error: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // ...and with it, in either spelling, it is refused as a usage error.
        for now in [
            &["--now", "2099-01-02T00:00:00Z"][..],
            &["--now=2099-01-02T00:00:00Z"],
        ] {
            let mut args = base.to_vec();
            args.extend_from_slice(now);
            let err = assert_code(&env.run(&args), 2);
            assert!(err.contains("--now"), "{args:?}: {err}");
        }
    }
}
