//! The settings layer's precedence and error messages.

use std::collections::BTreeMap;

use clap::FromArgMatches;

use super::*;
use crate::cli::args::{Layout, TextOrJson};

impl Environment for BTreeMap<&'static str, &'static str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string())
    }
}

fn parse(args: &[&str]) -> Cli {
    let matches = crate::cli::args::command()
        .try_get_matches_from(std::iter::once("orgctl").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| panic!("{e}"))
}

fn env(vars: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
    vars.iter().copied().collect()
}

fn backend_of(args: &[&str], vars: &[(&'static str, &'static str)]) -> BackendSettings {
    let cli = parse(args);
    let Command::Plan(a) = &cli.command else {
        panic!("not a plan: {args:?}");
    };
    backend(&a.backend, None, &cli.before_command, &env(vars))
}

#[test]
fn backend_address_flag_beats_flag_before_command_beats_variable_beats_default() {
    let vars = [("ORGCTL_BACKEND", "sqlite:env.db")];
    let after = [
        "--backend",
        "sqlite:before.db",
        "plan",
        "-f",
        "x",
        "--backend",
        "sqlite:after.db",
    ];
    assert_eq!(backend_of(&after, &vars).address, "sqlite:after.db");
    let before = ["--backend", "sqlite:before.db", "plan", "-f", "x"];
    assert_eq!(backend_of(&before, &vars).address, "sqlite:before.db");
    assert_eq!(backend_of(&["plan", "-f", "x"], &vars).address, "sqlite:env.db");
    assert_eq!(
        backend_of(&["plan", "-f", "x"], &[]).address,
        backend::DEFAULT_ADDRESS
    );
}

#[test]
fn token_file_flag_beats_its_variable_which_beats_the_token_variable() {
    let vars = [("ORGCTL_TOKEN_FILE", "env-token"), ("ORGCTL_TOKEN", "t0ken")];
    let s = backend_of(&["plan", "-f", "x", "--token-file", "flag-token"], &vars);
    assert_eq!(s.token, TokenSource::File("flag-token".into()));
    let s = backend_of(&["plan", "-f", "x"], &vars);
    assert_eq!(s.token, TokenSource::File("env-token".into()));
    let s = backend_of(&["plan", "-f", "x"], &[("ORGCTL_TOKEN", " t0ken\n")]);
    assert_eq!(s.token, TokenSource::Variable(SecretValue::new("t0ken")));
    assert_eq!(backend_of(&["plan", "-f", "x"], &[]).token, TokenSource::None);
}

#[test]
fn http_client_options_default_and_come_from_flags() {
    let s = backend_of(&["plan", "-f", "x"], &[]);
    assert_eq!(
        (
            s.request_timeout,
            s.parallelism,
            s.insecure_skip_tls_verify,
            s.ca_file
        ),
        (Duration::from_secs(30), 8, false, None)
    );
    let s = backend_of(
        &[
            "--request-timeout",
            "5",
            "plan",
            "-f",
            "x",
            "--ca-file",
            "ca.pem",
            "--insecure-skip-tls-verify",
        ],
        &[],
    );
    assert_eq!(
        (s.request_timeout, s.insecure_skip_tls_verify, s.ca_file),
        (Duration::from_secs(5), true, Some("ca.pem".into()))
    );
    let cli = parse(&["--parallelism", "2", "apply", "-f", "x", "--parallelism", "3"]);
    let Command::Apply(a) = &cli.command else {
        panic!("not an apply");
    };
    let s = backend(&a.backend, Some(&a.writes), &cli.before_command, &env(&[]));
    assert_eq!(s.parallelism, 3);
}

#[test]
fn color_flag_beats_no_color_and_a_truthy_variable_which_mean_never() {
    use crate::cli::args::ColorWhen::{Always, Auto, Never};
    let on = |args: &[&str], vars: &[(&'static str, &'static str)]| {
        global(&parse(args), &env(vars)).map(|g| g.color)
    };
    assert_eq!(on(&["validate", "-f", "x"], &[]), Ok(Auto));
    assert_eq!(on(&["validate", "-f", "x", "--no-color"], &[]), Ok(Never));
    assert_eq!(on(&["validate", "-f", "x"], &[("NO_COLOR", "1")]), Ok(Never));
    assert_eq!(on(&["validate", "-f", "x"], &[("NO_COLOR", "0")]), Ok(Auto));
    assert_eq!(on(&["validate", "-f", "x"], &[("NO_COLOR", "")]), Ok(Auto));
    assert_eq!(
        on(
            &["--color", "always", "validate", "-f", "x"],
            &[("NO_COLOR", "1")]
        ),
        Ok(Always)
    );
    assert_eq!(on(&["validate", "-f", "x", "--color", "never"], &[]), Ok(Never));
    assert!(crate::cli::args::command()
        .try_get_matches_from(["orgctl", "--color", "always", "--no-color", "validate", "-f", "x"])
        .is_err());
}

#[test]
fn progress_is_a_flag_of_plan_and_apply_only() {
    let g = global(&parse(&["plan", "-f", "x", "--progress"]), &env(&[]));
    assert_eq!(g.map(|g| g.progress), Ok(true));
    let g = global(&parse(&["--progress", "apply", "-f", "x"]), &env(&[]));
    assert_eq!(g.map(|g| g.progress), Ok(true));
    let wrong = global(&parse(&["--progress", "diff", "-f", "x"]), &env(&[]));
    assert_eq!(
        wrong.map_err(|e| e.to_string()),
        Err("--progress is not an option of `orgctl diff`".to_string())
    );
}

#[test]
fn a_backend_flag_before_a_command_without_a_backend_is_refused() {
    let e = global(
        &parse(&["--backend", "sqlite:x.db", "validate", "-f", "x"]),
        &env(&[]),
    );
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("--backend is not an option of `orgctl validate`".to_string())
    );
    let e = global(&parse(&["--parallelism", "4", "plan", "-f", "x"]), &env(&[]));
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("--parallelism is not an option of `orgctl plan`".to_string())
    );
    let cli = parse(&[
        "--token-file",
        "tokens",
        "serve",
        "--db",
        "d.db",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(global(&cli, &env(&[])).is_ok());
    let Command::Serve(a) = &cli.command else {
        panic!("not serve");
    };
    assert_eq!(
        serve(a, &cli.before_command, &env(&[("ORGCTL_TOKEN_FILE", "other")])).token_file,
        Some("tokens".into())
    );
}

fn plan_of(args: &[&str], vars: &[(&'static str, &'static str)]) -> Result<PlanSettings, SettingsError> {
    let cli = parse(args);
    let Command::Plan(a) = &cli.command else {
        panic!("not a plan");
    };
    plan(&a.flags, &env(vars))
}

#[test]
fn guard_flags_beat_their_variables_and_bad_values_name_their_origin() {
    let vars = [("ORGCTL_AS", "env-admin"), ("ORGCTL_MY_IP", "10.0.0.1, 10.0.0.2")];
    let s = plan_of(
        &["plan", "-f", "x", "--as", "flag-admin", "--my-ip", "192.0.2.1"],
        &vars,
    );
    let guard = s.map(|s| s.options.guard);
    assert_eq!(
        guard
            .as_ref()
            .map(|g| (g.applier.as_ref().map(Name::as_str), g.addresses.clone())),
        Ok((
            Some("flag-admin"),
            vec!["192.0.2.1".parse::<IpAddr>().unwrap_or(IpAddr::from([0; 4]))]
        ))
    );
    let guard = plan_of(&["plan", "-f", "x"], &vars).map(|s| s.options.guard);
    assert_eq!(
        guard
            .as_ref()
            .map(|g| (g.applier.as_ref().map(Name::as_str), g.addresses.len())),
        Ok((Some("env-admin"), 2))
    );
    let bad = plan_of(&["plan", "-f", "x"], &[("ORGCTL_MY_IP", "10.0.0.1,nowhere")]);
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.to_string()),
        Err("ORGCTL_MY_IP \"nowhere\": invalid IP address syntax".to_string())
    );
    let bad = plan_of(&["plan", "-f", "x"], &[("ORGCTL_AS", "Not A Name")]).map(|_| ());
    assert!(
        matches!(&bad, Err(SettingsError::Invalid { origin, .. }) if origin == "ORGCTL_AS"),
        "{bad:?}"
    );
    let bad = plan_of(&["plan", "-f", "x", "--as", "Not A Name"], &[]).map(|_| ());
    assert!(
        matches!(&bad, Err(SettingsError::Invalid { origin, .. }) if origin == "--as"),
        "{bad:?}"
    );
}

#[test]
fn posture_checks_everything_live_without_files_and_refuses_a_bad_sensitive_group() {
    let resolve = |args: &[&str]| {
        let cli = parse(args);
        let Command::Posture(a) = &cli.command else {
            panic!("not posture");
        };
        posture_command(a, &cli.before_command, &env(&[]))
    };
    let live = resolve(&["posture"]).map(|p| (p.live, p.checks.max_full_admins));
    assert_eq!(live, Ok((true, 3)));
    let files = resolve(&["posture", "-f", "x", "--sensitive-group", "payroll"]);
    assert_eq!(
        files.map(|p| (p.live, p.checks.sensitive_groups.len())),
        Ok((false, 1))
    );
    let bad = resolve(&["posture", "--sensitive-group", "Pay Roll"]).map(|_| ());
    assert!(
        matches!(&bad, Err(SettingsError::Invalid { origin, .. }) if origin == "--sensitive-group"),
        "{bad:?}"
    );
}

#[test]
fn controller_takes_its_lease_namespace_and_identity_from_the_pod() {
    let cli = parse(&[
        "controller",
        "--leader-election",
        "--backend",
        "https://dir:8443",
        "--token-file",
        "t",
    ]);
    let Command::Controller(a) = &cli.command else {
        panic!("not the controller");
    };
    let vars = env(&[
        ("POD_NAMESPACE", "orgctl-system"),
        ("POD_NAME", "orgctl-0"),
        ("HOSTNAME", "host"),
    ]);
    let s = controller(a, &cli.before_command, &vars);
    assert_eq!(
        s.as_ref().map(|s| (
            s.backend.as_str(),
            s.token_file.clone(),
            s.identity.as_str(),
            s.leader.is_some()
        )),
        Ok(("https://dir:8443", Some("t".into()), "orgctl-0", true))
    );
    let missing = controller(a, &cli.before_command, &env(&[])).map(|_| ());
    assert_eq!(missing, Err(SettingsError::LeaseNamespaceMissing));
}

#[test]
fn validate_keeps_its_files_and_format() {
    let cli = parse(&["validate", "-f", "a.yaml", "-f", "b", "--output", "json"]);
    let Command::Validate(a) = &cli.command else {
        panic!("not validate")
    };
    let s = validate_command(a);
    assert_eq!(s.files, vec![PathBuf::from("a.yaml"), PathBuf::from("b")]);
    assert_eq!(s.format, TextOrJson::Json);
}

fn export_of(args: &[&str], vars: &[(&'static str, &'static str)]) -> Result<ExportCommand, SettingsError> {
    let cli = parse(args);
    let Command::Export(a) = &cli.command else {
        panic!("not export: {args:?}")
    };
    export_command(a, &cli.before_command, &env(vars))
}

#[test]
fn export_takes_its_backend_from_the_variable_and_refuses_a_bad_org() {
    let s = export_of(
        &["export", "--org", "acme"],
        &[("ORGCTL_BACKEND", "sqlite:env.db")],
    )
    .unwrap();
    assert_eq!(s.organization.as_str(), "acme");
    assert_eq!(s.backend.address, "sqlite:env.db");
    assert_eq!(s.layout, Layout::Kind);
    assert_eq!(s.dir, None);
    let e = export_of(&["export", "--org", "Not A Name"], &[]).unwrap_err();
    assert!(
        e.to_string().starts_with("--org: invalid name \"Not A Name\": "),
        "{e}"
    );
}

#[test]
fn history_defaults_to_twenty_text_entries_of_every_organization() {
    let cli = parse(&["history"]);
    let Command::History(a) = &cli.command else {
        panic!("not history")
    };
    let s = history_command(a, &cli.before_command, &env(&[])).unwrap();
    assert_eq!((s.organization, s.limit, s.format), (None, 20, TextOrJson::Text));
    assert_eq!(s.backend.address, backend::DEFAULT_ADDRESS);
    let cli = parse(&["history", "--org", "x y"]);
    let Command::History(a) = &cli.command else {
        panic!("not history")
    };
    let e = history_command(a, &cli.before_command, &env(&[])).unwrap_err();
    assert!(e.to_string().starts_with("--org: invalid name \"x y\": "), "{e}");
}

#[test]
fn schema_resolves_a_kind_or_refuses_it_with_a_hint() {
    let schema = |args: &[&str]| {
        let cli = parse(args);
        let Command::Schema(a) = &cli.command else {
            panic!("not schema")
        };
        schema_command(a)
    };
    assert_eq!(schema(&["schema"]).unwrap().kind, None);
    assert_eq!(
        schema(&["schema", "User"]).unwrap().kind,
        Some(crate::model::Kind::User)
    );
    assert_eq!(
        schema(&["schema", "Usr"]).unwrap_err().to_string(),
        "unknown kind \"Usr\", did you mean \"User\"?"
    );
}

#[test]
fn crds_man_completions_and_version_keep_their_values() {
    let cli = parse(&["crds", "--dir", "out"]);
    let Command::Crds(a) = &cli.command else {
        panic!("not crds")
    };
    assert_eq!(crds_command(a).dir, Some(PathBuf::from("out")));
    let cli = parse(&["man", "--out", "pages"]);
    let Command::Man(a) = &cli.command else {
        panic!("not man")
    };
    assert_eq!(man_command(a).out, PathBuf::from("pages"));
    let cli = parse(&["completions", "zsh"]);
    let Command::Completions(a) = &cli.command else {
        panic!("not completions")
    };
    assert_eq!(completions_command(a).shell, clap_complete::Shell::Zsh);
    let cli = parse(&["version"]);
    let Command::Version(a) = &cli.command else {
        panic!("not version")
    };
    assert_eq!(version_command(a).format, TextOrJson::Text);
}

#[test]
fn explain_reads_the_backend_variable_and_signin_at_refuses_files() {
    let vars = [("ORGCTL_BACKEND", "sqlite:env.db")];
    let cli = parse(&["explain", "user", "alice", "--output", "json"]);
    let Command::Explain(e) = &cli.command else {
        panic!("not explain")
    };
    let ExplainWhat::User(u) = &e.what else {
        panic!("not user")
    };
    let s = explain_user_command(u, &cli.before_command, &env(&vars));
    assert_eq!(s.name, "alice");
    assert_eq!(s.source.backend.address, "sqlite:env.db");
    assert_eq!(s.source.format, TextOrJson::Json);
    let signin = |args: &[&str]| {
        let cli = parse(args);
        let Command::Explain(e) = &cli.command else {
            panic!("not explain")
        };
        let ExplainWhat::Signin(a) = &e.what else {
            panic!("not signin")
        };
        explain_signin_command(a, &cli.before_command, &env(&vars))
    };
    let s = signin(&["explain", "signin", "--user", "bob", "--ip", "10.0.0.1"]).unwrap();
    assert_eq!(
        (s.user.as_str(), s.ip.to_string()),
        ("bob", "10.0.0.1".to_string())
    );
    assert_eq!(s.source.backend.address, "sqlite:env.db");
    let e = signin(&[
        "explain",
        "signin",
        "--user",
        "bob",
        "--ip",
        "10.0.0.1",
        "--at",
        "2026-01-01T00:00:00Z",
        "-f",
        "x",
    ])
    .unwrap_err();
    assert_eq!(e, SettingsError::AtWithFiles);
}

#[test]
fn serve_defaults_its_limits_and_takes_tokens_from_variables() {
    let cli = parse(&["serve", "--db", "d.db", "--listen", "127.0.0.1:0"]);
    let Command::Serve(a) = &cli.command else {
        panic!("not serve")
    };
    let vars = [
        ("ORGCTL_TOKEN_FILE", "tokens"),
        ("ORGCTL_SERVE_TOKEN", "s3cret-serve-token"),
    ];
    let s = serve(a, &cli.before_command, &env(&vars));
    assert_eq!(s.token_file, Some(PathBuf::from("tokens")));
    assert_eq!(s.token.as_deref(), Some("s3cret-serve-token"));
    assert_eq!(s.db, PathBuf::from("d.db"));
    assert_eq!(s.tls, None);
    assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(s.limits.body_timeout, Duration::from_secs(30));
    assert_eq!(s.limits.max_connections, 512);
}
