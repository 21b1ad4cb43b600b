//! A real S3 server for the object-storage tests: one SeaweedFS (`weed server -s3`) per test
//! process, on free ports of 127.0.0.1, with static credentials made up for the run. Tests
//! look at the buckets through the real `aws` CLI, an independent client, so they check what
//! a user would see with standard tools.
//!
//! Stopping: the server must not outlive the test binary, however that ends (all tests done,
//! a panic, Ctrl-C, SIGKILL), and its data directory must go with it. A `static` is never
//! dropped, so no destructor can do that, and `PR_SET_PDEATHSIG` alone would kill `weed` but
//! leave its data behind (and it fires when the spawning *thread* ends, not the process).
//! So `weed` runs under a small bash watcher that holds the read end of a pipe whose write
//! end only this process holds: when the process ends, for any reason, the kernel closes it,
//! the watcher's `read` returns, and it kills `weed` by the pid it started (SIGKILL: on
//! SIGTERM `weed` shuts down "gracefully" for well over ten seconds), waits for it, then
//! removes the directory and the gRPC sockets `weed` leaves in /tmp for its own ports. The
//! watcher ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C or a kill of the process group
//! cannot stop it before it has cleaned up; `weed`, started in the background by a
//! non-interactive shell, ignores SIGINT too.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::require_tool;

/// How long `weed` may take to answer a ListBuckets before the tests give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The watcher: starts `weed` (the arguments after the first three) in the background, prints
/// its pid, waits for end of input, then stops it and removes what it left. `$1` is the
/// directory to remove, `$2` the ports whose gRPC sockets (port + 10000) `weed` leaves in /tmp,
/// `$3` is `--`.
const WATCHER: &str = r#"
set -u
root=$1 ports=$2
shift 3
trap '' INT TERM HUP
cd "$root"
HOME="$root" TMPDIR="$root" "$@" >"$root/weed.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
while read -r _; do :; done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
for p in $ports; do
    for s in master volume filer s3; do
        rm -f "/tmp/seaweedfs-$s-grpc-$((p + 10000)).sock"
    done
done
rm -rf "$root"
"#;

/// The running server and the credentials that reach it.
pub struct S3 {
    endpoint: String,
    access_key: String,
    secret_key: String,
    /// The run's scratch folder (data, config, log, request bodies); the watcher removes it.
    root: PathBuf,
    /// Kept open for the life of the process: closing it tells the watcher to stop `weed`.
    _stop: ChildStdin,
    _watcher: Child,
}

static SERVER: OnceLock<Result<S3, String>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

impl S3 {
    /// The test process's server, started on first use. None when `weed` or `aws` is not
    /// installed (the test prints `SKIPPED: ...` and should return; under `CI=true` it fails
    /// instead, as [`require_tool`] does). Panics when the server does not come up.
    pub fn get() -> Option<&'static S3> {
        if !(require_tool("weed") && require_tool("aws")) {
            return None;
        }
        match SERVER.get_or_init(start) {
            Ok(s) => Some(s),
            Err(e) => panic!("{e}"),
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Points `cmd` (the `aws` CLI, or `handover`) at this server and at nothing else: the
    /// static credentials, region `us-east-1`, `AWS_ENDPOINT_URL`, and config and credentials
    /// files that do not exist, so that a developer's own `~/.aws` and `AWS_*` variables
    /// (profiles, session tokens, service endpoints) never reach a test.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let none = self.root.join("no-aws-config");
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CONFIG_FILE", none.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", none.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
    }

    /// `aws ARGS... --output json` against this server, whatever its outcome.
    pub fn aws_output(&self, args: &[&str]) -> Output {
        let mut c = Command::new("aws");
        self.env(&mut c).args(args).args(["--output", "json"]);
        c.output().expect("run aws")
    }

    /// `aws ARGS...`, which must succeed; its JSON output (Null when it prints nothing).
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let o = self.aws_output(args);
        assert!(
            o.status.success(),
            "`aws {}` failed ({:?}):\n{}",
            args.join(" "),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        if o.stdout.iter().all(u8::is_ascii_whitespace) {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "`aws {}` printed no JSON ({e}):\n{}",
                args.join(" "),
                String::from_utf8_lossy(&o.stdout)
            )
        })
    }

    /// A fresh, empty bucket named `PREFIX-N`, with versioning enabled. `prefix`: lowercase
    /// letters, digits and hyphens.
    pub fn bucket(&self, prefix: &str) -> String {
        let b = self.unversioned_bucket(prefix);
        self.aws(&[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            &b,
            "--versioning-configuration",
            "Status=Enabled",
        ]);
        b
    }

    /// A fresh, empty bucket with object lock enabled (which enables versioning), so objects
    /// can be put with a retention (`put-object --object-lock-mode ...`).
    pub fn locked_bucket(&self, prefix: &str) -> String {
        let b = self.bucket_name(prefix);
        self.aws(&[
            "s3api",
            "create-bucket",
            "--bucket",
            &b,
            "--object-lock-enabled-for-bucket",
        ]);
        b
    }

    /// A fresh, empty bucket without versioning: deleting there really deletes.
    pub fn unversioned_bucket(&self, prefix: &str) -> String {
        let b = self.bucket_name(prefix);
        self.aws(&["s3api", "create-bucket", "--bucket", &b]);
        b
    }

    fn bucket_name(&self, prefix: &str) -> String {
        assert!(
            prefix
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && prefix.len() <= 50,
            "bucket prefix {prefix:?}: use up to 50 lowercase letters, digits and hyphens"
        );
        // The prefix keeps the name readable in a failure; the counter makes it unique, and
        // makes it 3+ characters, as S3 wants, whatever the prefix.
        format!("{prefix}-{:03}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// A new scratch file holding `bytes`, for `aws` arguments that read a file (`--body`).
    pub fn scratch_file(&self, bytes: &[u8]) -> PathBuf {
        let p = self
            .root
            .join(format!("body-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        fs::write(&p, bytes).unwrap();
        p
    }

    /// Puts `bytes` at `bucket/key`; returns the new version's id (None in a bucket without
    /// versioning).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> Option<String> {
        let body = self.scratch_file(bytes);
        let v = self.aws(&[
            "s3api",
            "put-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--body",
            body.to_str().unwrap(),
        ]);
        fs::remove_file(body).unwrap();
        v["VersionId"]
            .as_str()
            .filter(|v| *v != "null")
            .map(String::from)
    }

    /// `delete-object` of `bucket/key` (a delete marker in a versioned bucket); its JSON.
    pub fn delete(&self, bucket: &str, key: &str) -> serde_json::Value {
        self.aws(&["s3api", "delete-object", "--bucket", bucket, "--key", key])
    }

    /// The current content of `bucket/key`; None when there is none (no such key, or its
    /// latest version is a delete marker).
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.get_object(&["--bucket", bucket, "--key", key])
    }

    /// The content of one version of `bucket/key`; None when there is no such version.
    pub fn object_version(&self, bucket: &str, key: &str, version_id: &str) -> Option<Vec<u8>> {
        self.get_object(&["--bucket", bucket, "--key", key, "--version-id", version_id])
    }

    fn get_object(&self, args: &[&str]) -> Option<Vec<u8>> {
        let out = self
            .root
            .join(format!("got-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let mut a = vec!["s3api", "get-object"];
        a.extend_from_slice(args);
        a.push(out.to_str().unwrap());
        let o = self.aws_output(&a);
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                ["NoSuchKey", "NoSuchVersion", "(404)", "Not Found"]
                    .iter()
                    .any(|m| err.contains(m)),
                "`aws {}` failed, and not for a missing object:\n{err}",
                a.join(" ")
            );
            return None;
        }
        let bytes = fs::read(&out).unwrap();
        fs::remove_file(out).unwrap();
        Some(bytes)
    }

    /// Every version and delete marker under `prefix` in `bucket`, as (key, version id, is a
    /// delete marker): the versions first, then the delete markers, each in the server's
    /// order (by key, newest first).
    pub fn versions(&self, bucket: &str, prefix: &str) -> Vec<(String, String, bool)> {
        let v = self.aws(&[
            "s3api",
            "list-object-versions",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
        ]);
        let mut all = Vec::new();
        for (field, marker) in [("Versions", false), ("DeleteMarkers", true)] {
            for e in v[field].as_array().into_iter().flatten() {
                all.push((
                    e["Key"].as_str().expect("a version has a Key").to_string(),
                    e["VersionId"]
                        .as_str()
                        .expect("a version has a VersionId")
                        .to_string(),
                    marker,
                ));
            }
        }
        all
    }

    /// The multipart uploads started and neither completed nor aborted under `prefix` in
    /// `bucket`, as (key, upload id).
    pub fn multipart_uploads(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        let v = self.aws(&[
            "s3api",
            "list-multipart-uploads",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
        ]);
        v["Uploads"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                (
                    u["Key"].as_str().expect("an upload has a Key").to_string(),
                    u["UploadId"]
                        .as_str()
                        .expect("an upload has an UploadId")
                        .to_string(),
                )
            })
            .collect()
    }

    /// Starts a multipart upload of `bucket/key`, uploads `parts` (numbered from 1) and leaves
    /// it incomplete, as an interrupted upload would; returns its upload id.
    pub fn incomplete_multipart(&self, bucket: &str, key: &str, parts: &[&[u8]]) -> String {
        let v = self.aws(&[
            "s3api",
            "create-multipart-upload",
            "--bucket",
            bucket,
            "--key",
            key,
        ]);
        let id = v["UploadId"]
            .as_str()
            .expect("create-multipart-upload prints an UploadId")
            .to_string();
        for (i, part) in parts.iter().enumerate() {
            let body = self.scratch_file(part);
            self.aws(&[
                "s3api",
                "upload-part",
                "--bucket",
                bucket,
                "--key",
                key,
                "--upload-id",
                &id,
                "--part-number",
                &(i + 1).to_string(),
                "--body",
                body.to_str().unwrap(),
            ]);
            fs::remove_file(body).unwrap();
        }
        id
    }

    /// A presigned GET URL for `bucket/key` (`aws s3 presign`), valid for `expires_secs`.
    pub fn presign(&self, bucket: &str, key: &str, expires_secs: u32) -> String {
        let o = self.aws_output(&[
            "s3",
            "presign",
            &format!("s3://{bucket}/{key}"),
            "--expires-in",
            &expires_secs.to_string(),
        ]);
        assert!(
            o.status.success(),
            "aws s3 presign failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }
}

/// Random lowercase hex, `n` bytes' worth.
fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("getrandom");
    hex::encode(b)
}

/// Whether `port` and its gRPC twin (`port + 10000`) can both be bound on 127.0.0.1 now.
fn free_pair(port: u16) -> bool {
    let bind = |p: u16| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).is_ok();
    bind(port) && bind(port + 10000)
}

/// Four ports for master, volume, filer and S3, each with its `+ 10000` gRPC port free too.
/// They are drawn from 10000..22768, so that the gRPC ports stay below 32768, where Linux's
/// ephemeral range starts and no outgoing connection can be holding them; random, so that
/// two test processes side by side do not race for the same ones.
fn free_ports() -> [u16; 4] {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 4 {
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).expect("getrandom");
        let p = 10000 + u16::from_le_bytes(b) % 12768;
        if !ports.contains(&p) && free_pair(p) {
            ports.push(p);
        }
    }
    [ports[0], ports[1], ports[2], ports[3]]
}

/// Starts the server, trying again on fresh ports when `weed` exits early (another process
/// took a port between the check and the bind); the error says why it did not come up.
fn start() -> Result<S3, String> {
    const ATTEMPTS: usize = 3;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match start_once() {
            Ok(s) => return Ok(s),
            Err((e, false)) => return Err(e),
            Err((e, true)) => last = e,
        }
    }
    Err(format!(
        "{last}
({ATTEMPTS} attempts, each on fresh ports)"
    ))
}

/// One attempt; on failure, the message and whether another attempt could help.
fn start_once() -> Result<S3, (String, bool)> {
    let root = tempfile::Builder::new()
        .prefix("handover-s3-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let (access_key, secret_key) = (format!("test{}", random_hex(8)), random_hex(20));
    let identities = serde_json::json!({"identities": [{
        "name": "admin",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]});
    fs::write(root.join("s3.json"), identities.to_string()).unwrap();
    // Each bucket is a SeaweedFS collection, and by default the master grows 7 volumes for
    // each, out of 8 allowed: the second bucket would fail with "no free volumes left". One
    // volume per bucket, and room for many buckets. `weed` reads master.toml from its
    // working directory (the watcher runs it in `root`, with HOME there too, so that no
    // ~/.seaweedfs config reaches it).
    fs::write(
        root.join("master.toml"),
        "[master.volume_growth]\ncopy_1 = 1\n",
    )
    .unwrap();
    fs::create_dir(root.join("data")).unwrap();
    let [master, volume, filer, s3] = free_ports();
    let at = |p: &str| root.join(p).to_str().unwrap().to_string();
    let args = [
        "weed".to_string(),
        "server".into(),
        "-s3".into(),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-dir={}", at("data")),
        format!("-s3.config={}", at("s3.json")),
        format!("-master.port={master}"),
        format!("-volume.port={volume}"),
        format!("-filer.port={filer}"),
        format!("-s3.port={s3}"),
        // The Iceberg (8181) and Lance (9101) listeners are on fixed ports: off, so that two
        // test processes can each run a server.
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-volume.max=1000".into(),
        "-master.telemetry=false".into(),
        // Its Unix sockets default to /tmp/seaweedfs-*-PORT.sock: keep them in `root`.
        format!("-filer.localSocket={}", at("filer.sock")),
        format!("-s3.localSocket={}", at("s3.sock")),
    ];
    let mut watcher = Command::new("bash")
        .arg("-c")
        .arg(WATCHER)
        .arg("s3-watcher")
        .arg(&root)
        .arg(format!("{master} {volume} {filer} {s3}"))
        .arg("--")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run bash");
    let stop = watcher.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(watcher.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the S3 watcher printed {line:?}, not a pid"));
    let server = S3 {
        endpoint: format!("http://127.0.0.1:{s3}"),
        access_key,
        secret_key,
        root,
        _stop: stop,
        _watcher: watcher,
    };
    wait_ready(&server, pid, s3)?;
    Ok(server)
}

/// Waits until a ListBuckets through `aws` answers. On failure the server is dropped, which
/// closes the watcher's input: it stops `weed` and removes the folder.
fn wait_ready(server: &S3, pid: u32, port: u16) -> Result<(), (String, bool)> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if !alive(pid) {
            return Err((
                format!(
                    "SeaweedFS (weed, pid {pid}) exited while starting; its log ends:\n{}",
                    log_tail(&server.root)
                ),
                true,
            ));
        }
        // A TCP connect first: it costs nothing, where each `aws` run starts Python.
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            && server
                .aws_output(&["s3api", "list-buckets"])
                .status
                .success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err((
                format!(
                    "SeaweedFS (weed, pid {pid}) did not answer a ListBuckets on {} within \
                     {START_TIMEOUT:?}; its log ends:\n{}",
                    server.endpoint,
                    log_tail(&server.root)
                ),
                false,
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether `pid` is running: not gone, and not a zombie its parent has yet to reap.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// The last lines of `weed`'s log.
fn log_tail(root: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(root.join("weed.log")) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
