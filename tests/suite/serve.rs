//! `orgctl serve` as clients see it, against the real server process on a
//! free loopback port: auth, revisions and preconditions, domain rules (422
//! naming the field), pages, bad input (each a clear 4xx that changes
//! nothing), secrets kept out of answers and logs, the OpenAPI document in
//! sync, graceful shutdown and TLS.

use crate::common;

use std::time::Duration;

use common::{Opts, Server, READ_TOKEN, TOKEN};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    (dir, server)
}

struct Api<'a> {
    server: &'a Server,
    client: Client,
}

impl<'a> Api<'a> {
    fn new(server: &'a Server) -> Self {
        Api {
            server,
            client: server.client(),
        }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.server.url(path))
            .bearer_auth(TOKEN)
    }
    fn get(&self, path: &str) -> Response {
        self.req(reqwest::Method::GET, path).send().expect("send")
    }
    fn put(&self, path: &str, body: &Value, pre: (&str, &str)) -> Response {
        self.req(reqwest::Method::PUT, path)
            .header(pre.0, pre.1)
            .json(body)
            .send()
            .expect("send")
    }
    fn revision(&self) -> u64 {
        let r = self.get("/v1/orgs/acme");
        if r.status() == 404 {
            return 0;
        }
        r.json::<Value>().expect("json")["revision"]
            .as_u64()
            .expect("revision")
    }
}

/// Status and JSON body; every error answer must be a JSON error with a code.
fn answer(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().expect("body");
    assert!(
        ct.starts_with("application/json"),
        "status {status}: content type {ct:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    if status >= 400 {
        assert!(body["error"]["code"].is_string(), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    (status, body)
}

fn org_spec() -> Value {
    json!({"displayName": "Acme", "superAdmin": "alice", "domains": ["acme.example"]})
}

fn user(name: &str) -> Value {
    json!({"spec": {"organization": "acme", "email": format!("{name}@acme.example"), "firstName": name}})
}

/// Creates the organization and `n` users; returns the org revision.
fn seed(api: &Api, n: usize) {
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/organizations/acme",
        &json!({"spec": org_spec()}),
        ("If-None-Match", "*"),
    ));
    assert_eq!(s, 201, "{b}");
    for i in 0..n {
        let name = format!("u{i:03}");
        let (s, b) = answer(api.put(
            &format!("/v1/orgs/acme/objects/users/{name}"),
            &user(&name),
            ("If-None-Match", "*"),
        ));
        assert_eq!(s, 201, "{b}");
    }
}

#[test]
fn probes_need_no_token_and_the_api_needs_a_valid_one() {
    let (_dir, server) = start();
    let c = server.client();
    assert_eq!(answer(c.get(server.url("/healthz")).send().expect("send")).0, 200);
    assert_eq!(answer(c.get(server.url("/readyz")).send().expect("send")).0, 200);
    let r = c.get(server.url("/v1/orgs")).send().expect("send");
    assert_eq!(
        r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let (s, b) = answer(r);
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (s, _) = answer(
        c.get(server.url("/v1/orgs"))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .expect("send"),
    );
    assert_eq!(s, 401);
    let (s, _) = answer(
        c.get(server.url("/v1/orgs"))
            .header("authorization", TOKEN)
            .send()
            .expect("send"),
    );
    assert_eq!(s, 401, "the Bearer scheme is required");
    let (s, b) = answer(
        c.get(server.url("/v1/orgs"))
            .bearer_auth(READ_TOKEN)
            .send()
            .expect("send"),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = answer(
        c.put(server.url("/v1/orgs/acme/objects/organizations/acme"))
            .bearer_auth(READ_TOKEN)
            .header("If-None-Match", "*")
            .json(&json!({"spec": org_spec()}))
            .send()
            .expect("send"),
    );
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")));
    // The address the server sees (for the client's lockout guards).
    let (s, b) = answer(
        c.get(server.url("/v1/whoami"))
            .bearer_auth(READ_TOKEN)
            .send()
            .expect("send"),
    );
    assert_eq!((s, b["address"].as_str()), (200, Some("127.0.0.1")));
    let log = server.log_text();
    assert!(
        !log.contains(TOKEN) && !log.contains(READ_TOKEN),
        "tokens are never logged"
    );
    assert!(
        log.contains("status=401") && log.contains("path=\"/v1/orgs\""),
        "structured request log:\n{log}"
    );
}

#[test]
fn objects_carry_revisions_and_writes_need_preconditions() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 0);
    let r = api.put(
        "/v1/orgs/acme/objects/users/carol",
        &user("carol"),
        ("If-None-Match", "*"),
    );
    let tag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .expect("etag");
    let (s, b) = answer(r);
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        tag,
        format!("\"{}\"", b["objectRevision"].as_str().expect("objectRevision"))
    );
    // Creating it again fails its precondition.
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/users/carol",
        &user("carol"),
        ("If-None-Match", "*"),
    ));
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (412, Some("precondition_failed"))
    );
    assert_eq!(b["error"]["object"], "user \"carol\"");
    // Read it: the same revision as ETag and in the body.
    let r = api.get("/v1/orgs/acme/objects/users/carol");
    assert_eq!(
        r.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(tag.as_str())
    );
    let (s, b) = answer(r);
    assert_eq!(s, 200);
    assert_eq!(b["spec"]["email"], "carol@acme.example");
    assert_eq!(b["managed"], true);
    // A write without a precondition is refused; a stale one fails; the current one works.
    let (s, b) = answer(
        api.req(reqwest::Method::PUT, "/v1/orgs/acme/objects/users/carol")
            .json(&user("carol"))
            .send()
            .expect("send"),
    );
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (428, Some("precondition_required"))
    );
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/users/carol",
        &user("carol"),
        ("If-Match", "\"r1\""),
    ));
    assert_eq!(s, 412, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("re-run plan"),
        "{b}"
    );
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/users/carol",
        &user("carol"),
        ("If-Match", &tag),
    ));
    assert_eq!(s, 200, "{b}");
    let new_tag = format!("\"{}\"", b["objectRevision"].as_str().expect("rev"));
    assert_ne!(new_tag, tag);
    // Delete: stale precondition 412, current one works, already gone is success.
    let del = |pre: Option<&str>| {
        let mut r = api.req(reqwest::Method::DELETE, "/v1/orgs/acme/objects/users/carol");
        if let Some(p) = pre {
            r = r.header("If-Match", p);
        }
        answer(r.send().expect("send"))
    };
    let (s, b) = del(None);
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (428, Some("a write needs If-Match: \"<revision>\" to update or delete (If-Match: * for any revision) or If-None-Match: * to create")),
        "a delete needs a precondition like a put"
    );
    assert_eq!(del(Some(&tag)).0, 412);
    assert_eq!(del(Some(&new_tag)).0, 200);
    assert_eq!(del(Some(&new_tag)).0, 200, "deleting what is gone is success");
    assert_eq!(del(Some("*")).0, 200, "If-Match: * deletes whatever is there");
    let (s, b) = answer(api.get("/v1/orgs/acme/objects/users/carol"));
    assert_eq!((s, b["error"]["object"].as_str()), (404, Some("user \"carol\"")));
    // The audit history recorded each write.
    let (s, h) = answer(api.get("/v1/history?org=acme&limit=50"));
    assert_eq!(s, 200);
    assert_eq!(h.as_array().map(Vec::len), Some(4), "{h}");
}

#[test]
fn lists_and_snapshots_come_in_pages_of_one_revision() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 23);
    let revision = api.revision();
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/orgs/acme/snapshot?limit=5&after={a}"),
            None => "/v1/orgs/acme/snapshot?limit=5".to_string(),
        };
        let (s, b) = answer(api.get(&path));
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["revision"].as_u64(), Some(revision));
        pages += 1;
        for o in b["items"].as_array().expect("items") {
            seen.push(format!(
                "{}/{}",
                o["kind"].as_str().expect("kind"),
                o["name"].as_str().expect("name")
            ));
        }
        match b["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 24);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 24, "no object twice");
    // Per-kind lists with filters.
    let (_, b) = answer(api.get("/v1/orgs/acme/objects/users?prefix=u01&limit=100"));
    assert_eq!(b["items"].as_array().map(Vec::len), Some(10));
    let (_, b) = answer(api.get("/v1/orgs/acme/objects/users?managed=false"));
    assert_eq!(b["items"].as_array().map(Vec::len), Some(0));
    let (_, b) = answer(api.get("/v1/orgs/acme/objects/organizations"));
    assert_eq!(b["items"][0]["name"], "acme");
    let (_, b) = answer(api.get("/v1/orgs"));
    assert_eq!(b["items"][0]["name"], "acme");
    assert_eq!(b["items"][0]["revision"].as_u64(), Some(revision));
    let (s, b) = answer(api.get("/v1/orgs/nobody"));
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn domain_rules_hold_whoever_writes_with_422_naming_the_field() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 1);
    let policy = |password: Value, session: Value| json!({"spec": {"organization": "acme", "default": true, "password": password, "session": session}});
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/security-policies/default",
        &policy(json!({"minLength": 6}), json!({"lifetime": "31d"})),
        ("If-None-Match", "*"),
    ));
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("validation_failed")),
        "{b}"
    );
    assert_eq!(b["error"]["field"], "spec.password.minLength");
    assert_eq!(b["error"]["object"], "security policy \"default\"");
    let fields: Vec<&str> = b["error"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["spec.password.minLength", "spec.session.lifetime"],
        "{b}"
    );
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/security-policies/default",
        &policy(json!({"minLength": 12}), json!({"lifetime": "7d"})),
        ("If-None-Match", "*"),
    ));
    assert_eq!(s, 201, "{b}");
    // The object's organization must be the one in the path.
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/users/eve",
        &json!({"spec": {"organization": "other", "email": "eve@acme.example"}}),
        ("If-None-Match", "*"),
    ));
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (422, Some("spec.organization")),
        "{b}"
    );
    // A user needs an e-mail.
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/users/eve",
        &json!({"spec": {"organization": "acme"}}),
        ("If-None-Match", "*"),
    ));
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap_or("").contains("email"),
        "{b}"
    );
    // Secrets: the field holds a digest that must match the value sent.
    let app = json!({"spec": {"organization": "acme", "type": "oidc", "oidc": {"redirectUris": ["https://a.example/cb"], "clientSecret": {"digest": "sha256:00"}}}, "secrets": {"oidc.clientSecret": "hunter2-secret-value"}});
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/applications/portal",
        &app,
        ("If-None-Match", "*"),
    ));
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (422, Some("spec.oidc.clientSecret.digest")),
        "{b}"
    );
    assert!(!b.to_string().contains("hunter2"));
    // Deleting the super admin is refused.
    let user_spec = user("alice");
    let (s, _) = answer(api.put(
        "/v1/orgs/acme/objects/users/alice",
        &user_spec,
        ("If-None-Match", "*"),
    ));
    assert_eq!(s, 201);
    let (s, b) = answer(
        api.req(reqwest::Method::DELETE, "/v1/orgs/acme/objects/users/alice")
            .header("If-Match", "*")
            .send()
            .expect("send"),
    );
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("super admin"),
        "{b}"
    );
}

/// A bad-input case: what, the answer, the status, code and field expected.
type Case<'a> = (&'a str, (u16, Value), u16, &'a str, Option<&'a str>);

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 2);
    let before = api.revision();
    let raw = |method: reqwest::Method, path: &str, ct: Option<&str>, body: Vec<u8>| {
        let mut r = api.req(method, path).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        answer(r.header("If-None-Match", "*").send().expect("send"))
    };
    let put = reqwest::Method::PUT;
    let cases: Vec<Case> = vec![
        ("malformed JSON", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), b"{\"spec\": {".to_vec()), 400, "malformed_json", None),
        ("trailing garbage", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), b"{\"spec\": {}} x".to_vec()), 400, "malformed_json", None),
        ("wrong content type", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("text/plain"), user("x").to_string().into_bytes()), 415, "unsupported_media_type", None),
        ("no content type", raw(put.clone(), "/v1/orgs/acme/objects/users/x", None, user("x").to_string().into_bytes()), 415, "unsupported_media_type", None),
        ("oversized body", oversized(&server), 413, "payload_too_large", None),
        ("unknown body field", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), br#"{"spec": {}, "owner": "me"}"#.to_vec()), 400, "invalid_body", None),
        ("unknown spec field", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), br#"{"spec": {"organization": "acme", "emial": "x@acme.example"}}"#.to_vec()), 400, "invalid_field", Some("spec.emial")),
        ("wrong type", raw(put.clone(), "/v1/orgs/acme/objects/security-policies/p", Some("application/json"), br#"{"spec": {"organization": "acme", "password": {"minLength": "long"}}}"#.to_vec()), 400, "invalid_field", Some("spec.password.minLength")),
        ("path traversal", answer(api.get("/v1/orgs/acme/objects/users/..%2F..%2Fetc%2Fpasswd")), 400, "invalid_name", None),
        ("dot-dot name", answer(api.get("/v1/orgs/../objects/users/x")), 404, "no_route", None),
        ("upper-case name", answer(api.get("/v1/orgs/ACME/snapshot")), 400, "invalid_name", None),
        ("long name", answer(api.get(&format!("/v1/orgs/{}/snapshot", "a".repeat(64)))), 400, "invalid_name", None),
        ("huge page", answer(api.get("/v1/orgs/acme/snapshot?limit=100000000")), 400, "invalid_limit", Some("limit")),
        ("zero page", answer(api.get("/v1/orgs/acme/snapshot?limit=0")), 400, "invalid_limit", Some("limit")),
        ("page not a number", answer(api.get("/v1/orgs/acme/snapshot?limit=-1")), 400, "invalid_limit", Some("limit")),
        ("bad cursor", answer(api.get("/v1/orgs/acme/snapshot?after=User%2F..%2Fx")), 400, "invalid_cursor", Some("after")),
        ("unknown parameter", answer(api.get("/v1/orgs/acme/snapshot?page=2")), 400, "unknown_parameter", Some("page")),
        ("bad percent escape", answer(api.get("/v1/orgs/acme/snapshot?after=%zz")), 400, "invalid_query", None),
        ("unknown resource", answer(api.get("/v1/orgs/acme/objects/widgets")), 404, "unknown_resource", None),
        ("bad filter", answer(api.get("/v1/orgs/acme/objects/users?managed=maybe")), 400, "invalid_filter", Some("managed")),
        ("history limit", answer(api.get("/v1/history?limit=0")), 400, "invalid_limit", Some("limit")),
        ("invalid revision", answer(api.put("/v1/orgs/acme/objects/users/u000", &user("u000"), ("If-Match", "\"seven\""))), 400, "invalid_revision", Some("If-Match")),
        ("invalid If-None-Match", answer(api.put("/v1/orgs/acme/objects/users/u000", &user("u000"), ("If-None-Match", "\"r1\""))), 400, "invalid_revision", Some("If-None-Match")),
        ("invalid org revision", answer(api.put("/v1/orgs/acme/objects/users/y", &user("y"), ("x-orgctl-expected-revision", "soon"))), 400, "invalid_revision", None),
        ("no such route", answer(api.get("/v2/orgs")), 404, "no_route", None),
        ("wrong method", answer(api.req(reqwest::Method::POST, "/v1/orgs").send().expect("send")), 405, "method_not_allowed", None),
        ("audit of another object", answer(api.put("/v1/orgs/acme/objects/users/z", &json!({"spec": user("z")["spec"], "audit": {"kind": "User", "name": "alice", "action": "create"}}), ("If-None-Match", "*"))), 400, "invalid_body", Some("audit")),
        ("secret on a user", answer(api.put("/v1/orgs/acme/objects/users/z", &json!({"spec": user("z")["spec"], "secrets": {"email": "x"}}), ("If-None-Match", "*"))), 422, "validation_failed", Some("secrets.email")),
        ("duplicate key", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), br#"{"spec": {"organization": "acme", "email": "a@acme.example", "email": "b@acme.example"}}"#.to_vec()), 400, "duplicate_key", Some("spec.email")),
        ("duplicate top-level key", raw(put.clone(), "/v1/orgs/acme/objects/users/x", Some("application/json"), br#"{"spec": {}, "managed": true, "managed": false}"#.to_vec()), 400, "duplicate_key", Some("managed")),
        ("grant of an unknown app", answer(api.req(reqwest::Method::PUT, "/v1/orgs/acme/manual-grants/u000/nosuch").json(&json!({"role": "user"})).send().expect("send")), 404, "not_found", Some("app")),
        ("huge header", huge_header(&server), 431, "headers_too_large", None),
        ("grants of a missing user", answer(api.req(reqwest::Method::PUT, "/v1/orgs/acme/grants/ghost").json(&json!({"grants": []})).send().expect("send")), 404, "not_found", None),
    ];
    for (what, (status, body), want_status, want_code, want_field) in cases {
        assert_eq!(status, want_status, "{what}: {body}");
        assert_eq!(body["error"]["code"].as_str(), Some(want_code), "{what}: {body}");
        if let Some(f) = want_field {
            assert_eq!(body["error"]["field"].as_str(), Some(f), "{what}: {body}");
        }
    }
    let (_, b) = raw(
        put.clone(),
        "/v1/orgs/acme/objects/users/x",
        Some("application/json"),
        br#"{"spec": {"organization": "acme", "email": "a@acme.example", "email": "b@acme.example"}}"#
            .to_vec(),
    );
    assert_eq!(
        b["error"]["message"],
        "invalid body at spec.email: the key \"email\" is given twice"
    );
    let (_, b) = answer(
        api.req(reqwest::Method::PUT, "/v1/orgs/acme/manual-grants/u000/nosuch")
            .json(&json!({"role": "user"}))
            .send()
            .expect("send"),
    );
    assert_eq!(b["error"]["message"], "application \"nosuch\" does not exist");
    assert_eq!(api.revision(), before, "nothing was written");
    assert_eq!(
        answer(server.client().get(server.url("/healthz")).send().expect("send")).0,
        200,
        "still up"
    );
}

/// Connects to the server without HTTP: the raw socket, with a read bound.
fn raw_socket(server: &Server) -> std::net::TcpStream {
    let host = server.address.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Status and JSON body of a raw answer.
fn parse_raw(text: &str) -> (u16, Value) {
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// A request whose one header is 512 KiB (more than the server buffers).
fn huge_header(server: &Server) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = raw_socket(server);
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    // The server answers and closes before it has read everything.
    let _ = stream.write_all(head.as_bytes());
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    parse_raw(&String::from_utf8_lossy(&text))
}

/// A PUT announcing a 5 MiB body: the server answers 413 before reading it.
fn oversized(server: &Server) -> (u16, Value) {
    use std::io::{Read, Write};
    let host = server.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "PUT /v1/orgs/acme/objects/users/x HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nIf-None-Match: *\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{",
        5 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// The first 128 bits of the unkeyed SHA-256 of `value`, as orgctl used to
/// store and serve it: anyone could test guesses against it.
fn unkeyed_digest(value: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(value.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[test]
fn secrets_stay_out_of_answers_and_logs() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 0);
    let secret = "hunter2";
    // Any valid token may ask for the keyed digests a plan compares.
    let ask = |token: &str, body: &Value| {
        answer(
            api.client
                .post(server.url("/v1/orgs/acme/secret-digests"))
                .bearer_auth(token)
                .json(body)
                .send()
                .expect("send"),
        )
    };
    let (s, b) = ask(READ_TOKEN, &json!({"values": [secret, "other"]}));
    assert_eq!(s, 200, "{b}");
    let digest = b["digests"][0].as_str().expect("a digest").to_string();
    assert!(digest.starts_with("hmac-sha256:"), "{b}");
    assert_ne!(b["digests"][0], b["digests"][1]);
    assert_eq!(
        ask(TOKEN, &json!({"values": [secret]})).1["digests"][0],
        json!(digest)
    );
    let (s, b) = ask(TOKEN, &json!({"values": vec!["x"; 1001]}));
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some("at most 1000 values per request")),
        "{b}"
    );
    // A put whose field carries the keyed digest of the value sent is stored.
    let app = json!({"spec": {"organization": "acme", "type": "oidc", "oidc": {"redirectUris": ["https://a.example/cb"], "clientSecret": {"digest": digest}}}, "secrets": {"oidc.clientSecret": secret}});
    let (s, b) = answer(api.put(
        "/v1/orgs/acme/objects/applications/portal",
        &app,
        ("If-None-Match", "*"),
    ));
    assert_eq!(s, 201, "{b}");
    let as_reader = |path: &str| {
        api.client
            .get(server.url(path))
            .bearer_auth(READ_TOKEN)
            .send()
            .expect("send")
            .text()
            .expect("text")
    };
    let snapshot = as_reader("/v1/orgs/acme/snapshot");
    assert!(
        snapshot.contains(&digest) && !snapshot.contains(secret),
        "{snapshot}"
    );
    let unkeyed = unkeyed_digest(secret);
    for text in [
        snapshot,
        as_reader("/v1/orgs/acme/objects/applications/portal"),
        as_reader("/v1/history"),
    ] {
        assert!(!text.contains(&unkeyed), "an unkeyed digest is served: {text}");
        assert!(!text.contains(secret));
    }
    let log = server.log_text();
    assert!(!log.contains(secret) && !log.contains(TOKEN), "{log}");
}

#[test]
fn the_openapi_document_is_served_committed_and_routed() {
    let (_dir, server) = start();
    let committed_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = serde_json::to_string_pretty(&orgctl::serve::openapi_document()).expect("json") + "\n";
    if std::env::var_os("ORGCTL_BLESS").is_some() {
        std::fs::write(&committed_path, &generated).expect("bless openapi.json");
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run ORGCTL_BLESS=1 cargo test --test suite serve::"
    );
    let (s, served) = answer(
        server
            .client()
            .get(server.url("/openapi.json"))
            .send()
            .expect("send"),
    );
    assert_eq!(s, 200);
    assert_eq!(
        served,
        serde_json::from_str::<Value>(&committed).expect("committed json")
    );
    // Every documented operation is routed (whatever it answers, it is not "no such endpoint").
    let api = Api::new(&server);
    for (method, path) in orgctl::serve::openapi_operations() {
        let concrete = path
            .replace("{org}", "acme")
            .replace("{resource}", "users")
            .replace("{name}", "nobody")
            .replace("{user}", "nobody")
            .replace("{app}", "portal");
        let method: reqwest::Method = method.to_uppercase().parse().expect("method");
        let r = api.req(method.clone(), &concrete).send().expect("send");
        let (status, body) = answer(r);
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "no_route" && code != "method_not_allowed",
            "{method} {path}: {status} {body}"
        );
    }
}

#[test]
fn sigterm_lets_the_server_finish_and_exit_cleanly() {
    let (_dir, mut server) = start();
    let api = Api::new(&server);
    seed(&api, 3);
    // Requests in flight while the signal arrives still get whole answers.
    let address = server.address.clone();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let c = Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut ok = 0;
                for _ in 0..50 {
                    match c
                        .get(format!("{address}/v1/orgs/acme/snapshot"))
                        .bearer_auth(TOKEN)
                        .send()
                    {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().expect("a whole JSON answer");
                            assert_eq!(body["items"].as_array().map(Vec::len), Some(4));
                            ok += 1;
                        }
                        _ => break,
                    }
                }
                ok
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let status = server.terminate().expect("exit status");
    assert!(status.success(), "{status:?}");
    let served: i32 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(served > 0);
    assert!(
        server.log_text().contains("shutting down"),
        "{}",
        server.log_text()
    );
    // The file is whole: a new server reads it.
    let mut again = Server::start(&server.db, Opts::default());
    let api = Api::new(&again);
    assert_eq!(
        answer(api.get("/v1/orgs/acme/objects/users")).1["items"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    again.kill();
}

#[test]
fn https_verifies_the_certificate_unless_told_not_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("cert");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
    let server = Server::start(
        &dir.path().join("d.db"),
        Opts {
            args: vec![
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ],
        },
    );
    assert!(
        server.address.starts_with("https://127.0.0.1:"),
        "{}",
        server.address
    );
    let small = common::data("small").display().to_string();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .args(["plan", "-f", &small])
            .args(extra)
            .env("ORGCTL_BACKEND", &server.address)
            .env("ORGCTL_TOKEN", TOKEN)
            .env("ORGCTL_TEST_PORTAL_SECRET", "x")
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_TOKEN_FILE")
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "is not signed by a trusted CA (UnknownIssuer): pass the CA that signed it with --ca-file"
        ),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    assert!(!err.contains(TOKEN));
    let (code, out, err) = run(&["--ca-file", &cert.display().to_string()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Plan: 8 to add"), "{out}");
    let (code, _, err) = run(&["--insecure-skip-tls-verify"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning") && err.contains("--insecure-skip-tls-verify"),
        "{err}"
    );
}

#[test]
fn slow_and_idle_connections_are_closed_and_real_clients_still_served() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--max-connections",
        "6",
    ];
    let server = Server::start(
        &dir.path().join("d.db"),
        Opts {
            args: args.iter().map(|a| a.to_string()).collect(),
        },
    );
    let started = Instant::now();
    // Six connections fill the server: idle ones, a slow head, a slow body.
    let idle: Vec<_> = (0..4).map(|_| raw_socket(&server)).collect();
    let mut slow_head = raw_socket(&server);
    slow_head
        .write_all(b"GET /v1/orgs HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut slow_body = raw_socket(&server);
    let head = format!(
        "PUT /v1/orgs/acme/objects/users/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nIf-None-Match: *\r\nContent-Length: 100\r\n\r\n{{\"spec\":"
    );
    slow_body.write_all(head.as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(300));
    // A seventh is closed at once, without an answer.
    let mut over = raw_socket(&server);
    let mut buf = Vec::new();
    let n = over.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "over the limit: {}", String::from_utf8_lossy(&buf));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "closed before any timeout"
    );
    // The slow body gets a 408; the others are closed without a word.
    let mut text = String::new();
    let _ = slow_body.read_to_string(&mut text);
    let (status, body) = parse_raw(&text);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (408, Some("body_timeout")),
        "{body}"
    );
    assert_eq!(body["error"]["message"], "the body did not arrive within 1 s");
    for mut s in idle.into_iter().chain([slow_head]) {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "every connection closed within its timeout: {:?}",
        started.elapsed()
    );
    // The slots are free again: a real client is served.
    let api = Api::new(&server);
    let (s, b) = answer(api.get("/v1/orgs"));
    assert_eq!(s, 200, "{b}");
    assert!(server.log_text().contains("connection limit reached"));
}

#[test]
fn grants_of_many_users_are_written_in_one_request_or_not_at_all() {
    let (_dir, server) = start();
    let api = Api::new(&server);
    seed(&api, 3);
    let jira = json!({"app": "jira", "role": "user", "rule": "all"});
    let put = |body: &Value| {
        answer(
            api.req(reqwest::Method::PUT, "/v1/orgs/acme/grants")
                .json(body)
                .send()
                .expect("send"),
        )
    };
    let (s, b) = put(&json!({"users": {"u000": [jira], "u001": [jira], "u002": []}}));
    assert_eq!(s, 200, "{b}");
    let (_, g) = answer(api.get("/v1/orgs/acme/grants"));
    assert_eq!(g["sets"], json!([[jira]]), "one list, stored once: {g}");
    assert_eq!(g["users"], json!({"u000": 0, "u001": 0}), "{g}");
    // A user who does not exist fails the whole batch, naming them.
    let before = api.revision();
    let (s, b) = put(&json!({"users": {"u002": [jira], "ghost": [jira]}}));
    assert_eq!(
        (s, b["error"]["object"].as_str()),
        (404, Some("user \"ghost\"")),
        "{b}"
    );
    assert_eq!(b["error"]["message"], "user \"ghost\" does not exist");
    assert_eq!(api.revision(), before, "nothing was written");
    let (_, g) = answer(api.get("/v1/orgs/acme/grants"));
    assert_eq!(g["users"], json!({"u000": 0, "u001": 0}), "{g}");
}

#[test]
fn a_ca_certificate_served_as_the_server_s_own_is_explained_and_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    let ca = params.self_signed(&key).expect("self-signed CA");
    let cert = dir.path().join("ca.pem");
    let key_file = dir.path().join("ca-key.pem");
    std::fs::write(&cert, ca.pem()).expect("cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("key");
    let server = Server::start(
        &dir.path().join("d.db"),
        Opts {
            args: vec![
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key_file.display().to_string(),
            ],
        },
    );
    let small = common::data("small").display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
        .args(["plan", "-f", &small, "--ca-file", &cert.display().to_string()])
        .env("ORGCTL_BACKEND", &server.address)
        .env("ORGCTL_TOKEN", TOKEN)
        .env("ORGCTL_TEST_PORTAL_SECRET", "x")
        .env("NO_COLOR", "1")
        .env_remove("ORGCTL_TOKEN_FILE")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let expected = format!(
        "the certificate of {} is a CA certificate (CaUsedAsEndEntity): a server must present a certificate of its own, signed by a CA, and --ca-file names that CA. Make a CA, sign a certificate for the server's host name with it, serve that one (--tls-cert/--tls-key), and pass the CA's certificate to --ca-file",
        server.address
    );
    assert!(err.contains(&expected), "{err}");
    assert!(
        !err.contains("retrying"),
        "a certificate error is not retried: {err}"
    );
}
