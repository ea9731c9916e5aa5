//! The OpenAPI document checked by real OpenAPI tools, not by our own reading
//! of it: `openapi-spec-validator` validates the committed `openapi.json`, and
//! schemathesis sends generated requests for every operation to a real
//! `orgctl serve` and checks each answer (status code declared, content type,
//! body matching its schema, never a 5xx). The tools come from PyPI in a
//! virtualenv that `scripts/openapi-tools.sh install` caches
//! (`ORGCTL_TEST_OPENAPI_BIN` names its `bin`, `scripts/test-all.sh` sets it);
//! without them each test prints one skip line, or fails when
//! `ORGCTL_TEST_REQUIRE_SERVERS=1`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Opts, Server, TOKEN};

/// A tool of the cached virtualenv, or why the test cannot run.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("ORGCTL_TEST_OPENAPI_BIN")
        .map(|dir| Path::new(&dir).join(name))
        .filter(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("ORGCTL_TEST_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "ORGCTL_TEST_REQUIRE_SERVERS=1 but {name} is missing: run scripts/openapi-tools.sh install and set ORGCTL_TEST_OPENAPI_BIN"
        );
        // Once per test binary, straight to stderr: the harness captures
        // eprintln! of passing tests, and this line must be seen.
        static SKIP: std::sync::Once = std::sync::Once::new();
        SKIP.call_once(|| {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "openapi: skipped, the OpenAPI checkers are not installed (ORGCTL_TEST_OPENAPI_BIN unset); run scripts/openapi-tools.sh install or scripts/test-all.sh"
            );
        });
    }
    found
}

/// Runs `command` to its end or until `limit`, returning status and output.
fn run_bounded(mut command: Command, limit: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let err = out.try_clone().expect("clone");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the tool");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\n(killed after {limit:?})")),
    }
}

#[test]
fn the_committed_document_is_valid_openapi() {
    let Some(validator) = tool("openapi-spec-validator") else {
        return;
    };
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let mut command = Command::new(validator);
    command.arg(&document);
    let (ok, text) = run_bounded(command, Duration::from_secs(120));
    assert!(ok, "openapi-spec-validator refused openapi.json:\n{text}");
}

#[test]
fn real_answers_match_the_document() {
    let Some(st) = tool("st") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    // An organization with a user, so reads have something to answer with.
    let client = server.client();
    for (path, body) in [
        (
            "/v1/orgs/acme/objects/organizations/acme",
            serde_json::json!({"spec": {"displayName": "Acme", "superAdmin": "alice"}}),
        ),
        (
            "/v1/orgs/acme/objects/users/alice",
            serde_json::json!({"spec": {"organization": "acme", "email": "alice@acme.example"}}),
        ),
    ] {
        let r = client
            .put(server.url(path))
            .bearer_auth(TOKEN)
            .header("If-None-Match", "*")
            .json(&body)
            .send()
            .expect("seed");
        assert_eq!(r.status().as_u16(), 201, "{path}");
    }
    let mut command = Command::new(st);
    command
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("run")
        // The committed file (the served one equals it, tests/serve.rs checks),
        // so /openapi.json itself is tested too.
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"))
        .args(["--url", server.address.as_str()])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "5", "--max-time", "60", "--workers", "1"])
        .args(["--request-timeout", "10", "--seed", "1"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ]);
    let (ok, text) = run_bounded(command, Duration::from_secs(240));
    assert!(
        ok,
        "schemathesis found answers the document does not describe:\n{text}"
    );
    let operations = orgctl::serve::openapi_operations().len();
    assert!(
        text.contains(&format!("Tested: {operations}\n")),
        "every operation was tested:\n{text}"
    );
}
