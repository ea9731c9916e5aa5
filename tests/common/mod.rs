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

/// The real Keycloak server of this test run (started by
/// `scripts/test-all.sh`), reached on loopback with its admin client.
#[derive(Clone)]
pub struct Keycloak {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The bootstrap admin client of the master realm.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
}

/// The test run's Keycloak, or `None` (after one line saying how to run the
/// suite) when there is none. Fails instead when `ORGCTL_TEST_REQUIRE_SERVERS`
/// is set, so the full suite cannot pass by skipping.
pub fn keycloak(suite: &str) -> Option<Keycloak> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("ORGCTL_TEST_KEYCLOAK_URL"),
        var("ORGCTL_TEST_KEYCLOAK_CLIENT_ID"),
        var("ORGCTL_TEST_KEYCLOAK_CLIENT_SECRET"),
    ) {
        (Some(url), Some(client_id), Some(client_secret)) => {
            assert!(
                url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
                "tests only talk to loopback, not {url}"
            );
            Some(Keycloak {
                url,
                client_id,
                client_secret,
            })
        }
        _ => {
            assert!(
                var("ORGCTL_TEST_REQUIRE_SERVERS").is_none(),
                "{suite}: ORGCTL_TEST_REQUIRE_SERVERS is set but no Keycloak is (ORGCTL_TEST_KEYCLOAK_URL)"
            );
            // Once per suite (all share one test binary), straight to stderr: the harness captures
            // eprintln! of passing tests, and this line must be seen.
            if first_skip(suite) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "{suite}: skipped, no Keycloak server (ORGCTL_TEST_KEYCLOAK_URL unset); run scripts/test-all.sh to start one and run these tests"
                );
            }
            None
        }
    }
}

impl Keycloak {
    /// The orgctl backend address of this server.
    pub fn address(&self) -> String {
        format!("keycloak+{}", self.url)
    }

    /// Environment for an orgctl process that talks to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ORGCTL_KEYCLOAK_CLIENT_ID", self.client_id.clone()),
            ("ORGCTL_KEYCLOAK_CLIENT_SECRET", self.client_secret.clone()),
        ]
    }

    /// An admin token of the master realm (for tests acting behind orgctl's back).
    pub fn token(&self) -> String {
        let c = reqwest::blocking::Client::new();
        let v: serde_json::Value = c
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.url
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.as_str()),
            ])
            .send()
            .expect("token request")
            .json()
            .expect("token json");
        v["access_token"].as_str().expect("access_token").to_string()
    }

    /// One admin API call as an administrator would make it by hand:
    /// `path` is under `/admin/realms`. Returns status and JSON body.
    pub fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = c
            .request(method, format!("{}/admin/realms{path}", self.url))
            .bearer_auth(self.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("admin call");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The id of the first object a list call returns.
    pub fn id_of(&self, path: &str) -> String {
        let (status, v) = self.admin("GET", path, None);
        assert_eq!(status, 200, "{path}: {v}");
        v[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no id in {v}"))
            .to_string()
    }

    /// Deletes a realm (gone already is fine).
    pub fn drop_realm(&self, realm: &str) {
        let (status, v) = self.admin("DELETE", &format!("/{realm}"), None);
        assert!(
            status == 204 || status == 404,
            "delete realm {realm}: {status} {v}"
        );
    }

    /// A token request (password grant) of `user` to client `client_id` of
    /// `realm`: the HTTP status and the error text, if any.
    pub fn sign_in(
        &self,
        realm: &str,
        client_id: &str,
        secret: &str,
        user: &str,
        password: &str,
    ) -> (u16, String) {
        let c = reqwest::blocking::Client::new();
        let resp = c
            .post(format!(
                "{}/realms/{realm}/protocol/openid-connect/token",
                self.url
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("username", user),
                ("password", password),
            ])
            .send()
            .expect("token request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let err = v["error_description"]
            .as_str()
            .or(v["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                if text.contains("Access denied") {
                    "Access denied".into()
                } else {
                    String::new()
                }
            });
        (status, err)
    }
}

/// A real Kanidm server given by `ORGCTL_TEST_KANIDM_URL` (https, or http on
/// loopback) and `ORGCTL_TEST_KANIDM_TOKEN` (a read-write API token of a
/// service account in idm_admins, idm_people_admins, idm_group_admins,
/// idm_oauth2_admins and idm_account_policy_admins), with
/// `ORGCTL_TEST_KANIDM_CA_FILE` for a private CA. Its domain is wiped of
/// what the tests make before each case.
#[derive(Clone)]
pub struct RealKanidm {
    /// `https://HOST:PORT`.
    pub url: String,
    /// The API token.
    pub token: String,
    /// A CA file, if the server's certificate needs one.
    pub ca_file: Option<String>,
}

/// The real Kanidm of this run, or `None` after one line saying how to
/// run these cases (they never pass by skipping when
/// `ORGCTL_TEST_REQUIRE_KANIDM` is set).
pub fn real_kanidm(suite: &str) -> Option<RealKanidm> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("ORGCTL_TEST_KANIDM_URL"), var("ORGCTL_TEST_KANIDM_TOKEN")) {
        (Some(url), Some(token)) => Some(RealKanidm {
            url: url.trim_end_matches('/').to_string(),
            token,
            ca_file: var("ORGCTL_TEST_KANIDM_CA_FILE"),
        }),
        _ => {
            assert!(
                var("ORGCTL_TEST_REQUIRE_KANIDM").is_none(),
                "{suite}: ORGCTL_TEST_REQUIRE_KANIDM is set but ORGCTL_TEST_KANIDM_URL and ORGCTL_TEST_KANIDM_TOKEN are not"
            );
            if first_skip(suite) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "{suite}: skipped, no real Kanidm (set ORGCTL_TEST_KANIDM_URL and ORGCTL_TEST_KANIDM_TOKEN, see docs/kanidm.md); the simulator cases ran"
                );
            }
            None
        }
    }
}

impl RealKanidm {
    /// The orgctl backend address of this server.
    pub fn address(&self) -> String {
        format!("kanidm+{}", self.url)
    }

    /// Environment for an orgctl process that talks to this server (the token aside).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.ca_file
            .iter()
            .map(|f| ("ORGCTL_KANIDM_CA_FILE", f.clone()))
            .collect()
    }

    fn http(&self) -> reqwest::blocking::Client {
        let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30));
        if let Some(f) = &self.ca_file {
            let pem = std::fs::read(f).expect("read the CA file");
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA pem"));
        }
        b.build().expect("client")
    }

    /// One API call (`path` under `/v1`): status and JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http()
            .request(method, format!("{}/v1{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("call Kanidm");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Removes what the tests make: the entries orgctl tracks, its own
    /// `orgctl_…` groups, the test data's names, and the default account
    /// policy's settings.
    pub fn reset(&self) {
        let (status, groups) = self.call("GET", "/group", None);
        assert_eq!(status, 200, "list groups: {groups}");
        let name = |e: &serde_json::Value| e["attrs"]["name"][0].as_str().unwrap_or_default().to_string();
        let mut doomed: Vec<String> = vec!["alice".into(), "bob".into(), "sales".into(), "portal".into()];
        for g in groups.as_array().into_iter().flatten() {
            let n = name(g);
            if n == "orgctl_managed" {
                for m in g["attrs"]["member"].as_array().into_iter().flatten() {
                    let m = m.as_str().unwrap_or_default();
                    doomed.push(m.split('@').next().unwrap_or(m).to_string());
                }
            }
        }
        for n in &doomed {
            for kind in ["person", "group", "oauth2"] {
                let (s, v) = self.call("DELETE", &format!("/{kind}/{n}"), None);
                assert!(s == 200 || s == 404 || s == 400, "delete {kind} {n}: {s} {v}");
            }
        }
        for g in groups.as_array().into_iter().flatten() {
            let n = name(g);
            if n.starts_with("orgctl_") {
                let (s, v) = self.call("DELETE", &format!("/group/{n}"), None);
                assert!(s == 200 || s == 404, "delete group {n}: {s} {v}");
            }
        }
        for attr in [
            "auth_password_minimum_length",
            "credential_type_minimum",
            "authsession_expiry",
        ] {
            let (s, v) = self.call("DELETE", &format!("/group/idm_all_persons/_attr/{attr}"), None);
            assert_eq!(s, 200, "reset {attr}: {v}");
        }
    }
}

/// True the first time `suite` skips: all suites share one test binary, and
/// each still prints its own skip line once.
fn first_skip(suite: &str) -> bool {
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    SAID.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(suite.to_string())
}
