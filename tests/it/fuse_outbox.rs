//! Export and extraction on a FUSE filesystem (issue 8, item 9), where
//! `renameat2(RENAME_NOREPLACE)` fails with EINVAL: a bindfs mount, the way NFS and SMB
//! behave too. The outputs must still appear under their final names, complete, with nothing
//! replaced and no temporary file left.
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A bindfs mount of `src` at `at`, unmounted when dropped (before the scratch area goes).
struct Mount(PathBuf);

impl Mount {
    fn new(src: &Path, at: &Path) -> Mount {
        std::fs::create_dir_all(src).unwrap();
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("bindfs").arg(src).arg(at).output().unwrap();
        assert!(
            o.status.success(),
            "bindfs failed (is /dev/fuse there?): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("fusermount")
            .arg("-u")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
}

#[test]
fn export_and_extraction_work_where_rename_noreplace_is_refused() {
    if !require_tool("bindfs") {
        return;
    }
    let env = Env::new();
    let _m = Mount::new(&env.path("fuse-src"), &env.path("out"));
    let fs = String::from_utf8(
        Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(env.path("out"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(fs.contains("fuse"), "out/ is on {fs}, not FUSE");

    support::export(&env, &fixture("acme"), "acme-1");
    assert_eq!(
        listing(&env.path("out")),
        vec![
            "acme-1.manifest.json",
            "acme-1.manifest.json.minisig",
            "acme-1.tar.zst.age"
        ]
    );

    let target = env.path("out/x");
    let o = support::verify_cmd(&env, &support::archive(&env, "acme-1"))
        .arg("--extract")
        .arg(&target)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("check then rename"), "{err}");
    // Names, kinds and contents. Not mtimes, which bindfs does not keep (its write-back lands
    // after the mtime was set), nor modes, which depend on the umask of the checkout and of
    // the test (the `verify` module checks them).
    let strip = |m: std::collections::BTreeMap<Vec<u8>, Node>| {
        m.into_iter().map(|(k, n)| (k, n.kind)).collect::<Vec<_>>()
    };
    assert_eq!(
        strip(snapshot(&target.join("data"))),
        strip(snapshot(&fixture("acme"))),
        "the extracted data differs from what was exported"
    );
    assert_eq!(
        listing(&env.path("out")).len(),
        4,
        "{:?}",
        listing(&env.path("out"))
    );
}
