//! Fault injection for the test suite: named points where a test can make the process
//! SIGKILL itself or pause, and a clock a test can set.
//!
//! It is compiled in only with the `failpoints` cargo feature. The test suite turns that on
//! through a dev-dependency of the crate on itself (see `Cargo.toml`); `cargo build --release`
//! and `cargo install` never build dev-dependencies, so a release binary has no way to kill
//! itself, stop half way, or believe it is another day. Without the feature every function
//! here is an empty inline function.
//!
//! Why not the `fail` crate: its `pause` waits for the same process to reconfigure the point,
//! and it has no kill action. The tests drive a separate process (the real binary), so the
//! two actions they need are a real SIGKILL and a pause that another process releases.
//!
//! With the feature, the environment sets the points:
//! - `HANDOVER_FAILPOINTS="NAME=ACTION[;NAME=ACTION...]"`, ACTION one of `kill`, `kill@N`
//!   (at the N-th hit), `pause`, `pause@N`, or `fail` (for points asked with [`fails`]: the
//!   library then acts as if the operation there had failed, at every hit). A pause creates `NAME.reached` in
//!   `HANDOVER_FAILPOINT_DIR` and waits (up to 120 s) until `NAME.go` exists there.
//! - `HANDOVER_FAKE_NOW=RFC3339`: [`crate::util::now`] returns that time.

#[cfg(feature = "failpoints")]
mod imp {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static HITS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

    /// The action configured for `name`, and the hit it fires on.
    fn action(name: &str) -> Option<(String, u64)> {
        let spec = std::env::var("HANDOVER_FAILPOINTS").ok()?;
        spec.split(';').find_map(|item| {
            let (n, act) = item.split_once('=')?;
            if n.trim() != name {
                return None;
            }
            let (a, at) = match act.trim().split_once('@') {
                Some((a, at)) => (a.to_string(), at.parse().ok()?),
                None => (act.trim().to_string(), 1),
            };
            Some((a, at))
        })
    }

    pub fn point(name: &str) {
        let Some((act, at)) = action(name) else {
            return;
        };
        let n = {
            let mut g = HITS.lock().unwrap_or_else(|e| e.into_inner());
            let c = g
                .get_or_insert_with(HashMap::new)
                .entry(name.to_string())
                .or_insert(0);
            *c += 1;
            *c
        };
        if n != at {
            return;
        }
        match act.as_str() {
            "kill" => {
                // SAFETY: raising a signal on ourselves has no memory-safety preconditions.
                unsafe {
                    libc::raise(libc::SIGKILL);
                }
            }
            "pause" => {
                let dir = std::path::PathBuf::from(
                    std::env::var_os("HANDOVER_FAILPOINT_DIR").unwrap_or_else(|| ".".into()),
                );
                let _ = std::fs::write(dir.join(format!("{name}.reached")), b"");
                let go = dir.join(format!("{name}.go"));
                let until = Instant::now() + Duration::from_secs(120);
                while !go.exists() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            other => panic!("unknown failpoint action {other:?} for {name}"),
        }
    }

    pub fn fails(name: &str) -> bool {
        action(name).is_some_and(|(a, _)| a == "fail")
    }

    pub fn now() -> Option<time::OffsetDateTime> {
        let s = std::env::var("HANDOVER_FAKE_NOW").ok()?;
        Some(
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .expect("HANDOVER_FAKE_NOW is RFC 3339"),
        )
    }
}

/// A named point where a test may kill or pause the process (nothing without the feature).
#[inline(always)]
pub(crate) fn point(_name: &str) {
    #[cfg(feature = "failpoints")]
    imp::point(_name);
}

/// Called by the binary once a signal raised the stop flag (Ctrl-C, SIGTERM): the test-only
/// point `signal.caught` lets a test know the flag is set before it releases a pause, so
/// "stops at the next file boundary" is tested without timing.
#[doc(hidden)]
#[inline(always)]
pub fn signal_caught() {
    point("signal.caught");
}

/// True when a test configured `name=fail`: the caller then acts as if the operation at this
/// point had failed (always `false` without the feature).
#[inline(always)]
pub(crate) fn fails(_name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    return imp::fails(_name);
    #[cfg(not(feature = "failpoints"))]
    false
}

/// The clock a test set, if any (always `None` without the feature).
#[inline(always)]
pub(crate) fn now() -> Option<time::OffsetDateTime> {
    #[cfg(feature = "failpoints")]
    return imp::now();
    #[cfg(not(feature = "failpoints"))]
    None
}
