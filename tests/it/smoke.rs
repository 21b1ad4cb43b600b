//! The shipped fixture exports with the shipped test keys, as the README's demo does.
use crate::common::*;

#[test]
fn fixture_exports_and_is_listed() {
    let env = Env::new();
    let (recipients, key) = (
        fixture("keys/client.recipients"),
        fixture("keys/provider.key"),
    );
    let s = env.export_with(
        &fixture("acme"),
        &[
            "-R",
            recipients.to_str().unwrap(),
            "--sign-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(s.files, 12);
    assert_eq!(s.symlinks, 1);
    let id = s.handover_id.as_str();
    for (k, p) in export_outputs(&s) {
        assert!(p.is_file(), "{k}");
    }
    let l = env.run(&["--json", "list"]);
    assert_ok(&l);
    let l: serde_json::Value = serde_json::from_slice(&l.stdout).unwrap();
    assert_eq!(l["handovers"][0]["handover_id"], id);
}
