//! Shared by the HTTP test binaries: starts a real `orgctl serve` on a free
//! loopback port (the server prints the bound address) and stops it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The token every test server accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef";
/// A token the servers accept for reads only.
pub const READ_TOKEN: &str = "read-only-token-0123456789";

/// A running `orgctl serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or https).
    pub address: String,
    /// The directory file.
    pub db: PathBuf,
    /// stderr of the server (its request log).
    pub log: PathBuf,
    args: Vec<String>,
}

/// Options of a test server.
#[derive(Default, Clone)]
pub struct Opts {
    /// Extra arguments (`--inject-fault 503:4`, TLS files…).
    pub args: Vec<String>,
}

impl Server {
    /// Starts a server on `db` (created if missing).
    pub fn start(db: &Path, opts: Opts) -> Server {
        let dir = db.parent().expect("db dir");
        let tokens = dir.join("tokens");
        std::fs::write(
            &tokens,
            format!("# test tokens\n{TOKEN}\n\n{READ_TOKEN} read-only\n"),
        )
        .expect("write tokens");
        let mut args = vec![
            "serve".to_string(),
            "--db".to_string(),
            db.display().to_string(),
            "--listen".to_string(),
            "127.0.0.1:0".to_string(),
            "--token-file".to_string(),
            tokens.display().to_string(),
        ];
        args.extend(opts.args);
        let mut server = Server {
            child: None,
            address: String::new(),
            db: db.to_path_buf(),
            log: dir.join(format!("serve-{}.log", std::process::id())),
            args,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .args(&self.args)
            .env_remove("ORGCTL_SERVE_TOKEN")
            .env_remove("ORGCTL_TOKEN_FILE")
            .env_remove("ORGCTL_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start orgctl serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let address = line
            .trim()
            .strip_prefix("orgctl serve: listening on ")
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("server did not start: {line:?}\n{log}")
            })
            .to_string();
        self.address = address;
        self.child = Some(child);
    }

    /// Kills the server with SIGKILL (no graceful anything) and waits.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops with SIGTERM and returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Starts the server again on the same file and arguments (a new port).
    pub fn restart(&mut self) {
        self.kill();
        // Port 0 again: the old port may linger in TIME_WAIT.
        self.spawn();
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ureq`-free raw HTTP client for API tests.
    pub fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test data folder.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

/// One run of the orgctl binary as a test sees it.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, with the temp dir shown as `[TMP]` and the repo as `[REPO]`.
    pub stdout: String,
    /// Standard error, cleaned the same way.
    pub stderr: String,
}

impl Run {
    /// The run's output with `tmp` and the repository path replaced.
    pub fn from_output(out: &std::process::Output, tmp: &Path) -> Run {
        let clean = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .replace(&tmp.display().to_string(), "[TMP]")
                .replace(env!("CARGO_MANIFEST_DIR"), "[REPO]")
        };
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: clean(&out.stdout),
            stderr: clean(&out.stderr),
        };
        assert!(!run.stderr.contains("panicked"), "panic:\n{}", run.transcript());
        run
    }

    /// Exit code, stdout and stderr as one text for snapshots and failures.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Copies a folder of `tests/data` into `dir` so a test can edit it.
pub fn copy_data(rel: &str, dir: &Path) -> PathBuf {
    let to = dir.join(rel);
    std::fs::create_dir_all(&to).expect("mkdir");
    for e in std::fs::read_dir(data(rel)).expect("read data") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
    to
}
