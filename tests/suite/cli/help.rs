//! Help as users read it: each command lists only the options it uses, the
//! option names of every command are pinned (names only, so a wording edit
//! does not churn), and the option tables of `docs/cli.md` are generated from
//! the same clap definition. Regenerate both with
//! `ORGCTL_BLESS=1 cargo test --test suite cli::help::`.

use std::path::{Path, PathBuf};

use super::Env;

const REGENERATE: &str = "ORGCTL_BLESS=1 cargo test --test suite cli::help::";

/// Every command path, as typed after `orgctl`.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["validate"],
    &["plan"],
    &["apply"],
    &["diff"],
    &["export"],
    &["history"],
    &["schema"],
    &["crds"],
    &["explain", "user"],
    &["explain", "signin"],
    &["posture"],
    &["serve"],
    &["controller"],
    &["version"],
    &["completions"],
    &["man"],
];

fn bless() -> bool {
    std::env::var_os("ORGCTL_BLESS").is_some()
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Compares `actual` with the committed file, or rewrites it when blessing.
fn expect_file(rel: &str, actual: &str) {
    let path = repo(rel);
    if bless() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {rel}: {e} ({REGENERATE})"));
    assert!(
        expected == actual,
        "{rel} is out of date: run {REGENERATE}\n--- committed\n{expected}\n+++ actual\n{actual}"
    );
}

/// The option names a help text lists (`-o/--output`, `--backend`…),
/// in the order shown.
fn option_names(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|line| {
            let t = line.trim_start();
            // Option lines are indented and start with a dash; wrapped
            // description lines never do (they are indented further and
            // start with text).
            if !t.starts_with('-') || line.len() - t.len() > 6 {
                return None;
            }
            let names: Vec<&str> = t
                .split([',', ' '])
                .take_while(|w| w.starts_with('-') || w.is_empty())
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_end_matches("..."))
                .collect();
            (!names.is_empty()).then(|| names.join("/"))
        })
        .collect()
}

fn help_of(env: &Env, path: &[&str]) -> String {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.stdout
}

#[test]
fn help_lists_backend_options_only_on_commands_that_read_a_backend() {
    let env = Env::new();
    let backend_flags = [
        "--backend",
        "--token-file",
        "--ca-file",
        "--insecure-skip-tls-verify",
        "--request-timeout",
    ];
    let without = [
        &["validate"][..],
        &["schema"],
        &["crds"],
        &["version"],
        &["completions"],
        &["man"],
    ];
    let with = [
        &["plan"][..],
        &["apply"],
        &["diff"],
        &["export"],
        &["history"],
        &["explain", "user"],
        &["posture"],
    ];
    for (paths, flags, listed) in [
        (
            &without[..],
            &[&backend_flags[..], &["--parallelism", "--progress"]].concat(),
            false,
        ),
        (&with[..], &backend_flags.to_vec(), true),
    ] {
        for path in paths {
            let names = option_names(&help_of(&env, path));
            for flag in flags {
                assert_eq!(
                    names.iter().any(|n| n == flag),
                    listed,
                    "`orgctl {path:?} --help` lists {flag}: {listed} expected; it lists {names:?}"
                );
            }
        }
    }
    // Concurrent writes only where something is written; progress only where it is shown.
    let plan = option_names(&help_of(&env, &["plan"]));
    assert!(
        !plan.iter().any(|n| n == "--parallelism") && plan.iter().any(|n| n == "--progress"),
        "{plan:?}"
    );
    let serve = option_names(&help_of(&env, &["serve"]));
    assert!(
        serve.iter().any(|n| n == "--token-file") && !serve.iter().any(|n| n == "--backend"),
        "{serve:?}"
    );
}

#[test]
fn option_names_of_every_command_match_the_committed_list() {
    let env = Env::new();
    let mut out = String::new();
    for path in COMMANDS {
        let names = option_names(&help_of(&env, path));
        out.push_str(&format!("orgctl {}\n", path.join(" ")).replace("orgctl \n", "orgctl\n"));
        for n in names {
            out.push_str(&format!("  {n}\n"));
        }
    }
    expect_file("tests/data/cli-options.txt", &out);
}

const BEGIN: &str = "<!-- BEGIN generated options: do not edit; regenerate with `ORGCTL_BLESS=1 cargo test --test suite cli::help::` -->\n";
const END: &str = "<!-- END generated options -->\n";

/// One Markdown table of the visible options of `cmd` (help and version excluded).
fn table(cmd: &clap::Command) -> String {
    let mut rows = String::new();
    let mut heading: Option<&str> = None;
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || arg.is_global_set() {
            continue;
        }
        let Some(long) = arg.get_long() else {
            // A positional argument.
            let value = arg.get_value_names().map(|v| v.join(" ")).unwrap_or_default();
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            rows.push_str(&format!("| `{value}` (argument) | {} |\n", cell(&help)));
            continue;
        };
        if long == "help" || long == "version" {
            continue;
        }
        if arg.get_help_heading() != heading {
            heading = arg.get_help_heading();
            if let Some(h) = heading {
                rows.push_str(&format!("| **{h}** | |\n"));
            }
        }
        let mut name = match arg.get_short() {
            Some(s) => format!("`-{s}`, `--{long}`"),
            None => format!("`--{long}`"),
        };
        if arg.get_num_args().is_none_or(|n| n.takes_values()) && arg.get_action().takes_values() {
            if let Some(v) = arg.get_value_names() {
                name.push_str(&format!(" `{}`", v.join(" ")));
            }
        }
        let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        if !help.is_empty() && !help.ends_with('.') {
            help.push('.');
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() && arg.get_action().takes_values() {
            help.push_str(&format!(" One of {}.", values.join(", ")));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            help.push_str(&format!(" Default `{}`.", defaults.join(",")));
        }
        rows.push_str(&format!("| {name} | {} |\n", cell(&help)));
    }
    if rows.is_empty() {
        return "No options besides the global ones.\n".to_string();
    }
    format!("| option | meaning |\n|---|---|\n{rows}")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn sections(cmd: &clap::Command, path: &str, out: &mut String) {
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let path = format!("{path} {}", sub.get_name());
        if sub.has_subcommands() {
            sections(sub, &path, out);
            continue;
        }
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        out.push_str(&format!("\n### `{path}`\n\n{about}\n\n{}", table(sub)));
    }
}

#[test]
fn docs_cli_option_tables_are_generated_from_the_clap_definition() {
    let cmd = orgctl::cli::args::documented();
    let mut generated = String::new();
    generated.push_str("### Global options (every command, before or after its name)\n\n");
    let globals: String = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| {
            let name = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("`-{s}`, `--{l}`"),
                (None, Some(l)) => format!("`--{l}`"),
                _ => String::new(),
            };
            format!(
                "| {name} | {} |\n",
                cell(&a.get_help().map(ToString::to_string).unwrap_or_default())
            )
        })
        .collect();
    generated.push_str(&format!("| option | meaning |\n|---|---|\n{globals}"));
    sections(&cmd, "orgctl", &mut generated);
    let path = "docs/cli.md";
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("{path} lacks the generated-options markers");
    };
    let actual = format!("{}{BEGIN}{generated}{END}{}", &text[..b], &text[e + END.len()..]);
    expect_file(path, &actual);
}

#[test]
fn backend_flags_before_the_command_still_work_where_the_command_reads_a_backend() {
    let env = Env::new();
    let db = format!("sqlite:{}", env.dir.path().join("before.db").display());
    let small = super::small();
    let r = env.run(&["--backend", &db, "apply", "-f", &small, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        env.dir.path().join("before.db").exists(),
        "the flag before the command chose the backend"
    );
    let r = env.run(&["--backend", &db, "validate", "-f", &small]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (1, "", "error: --backend is not an option of `orgctl validate`\n")
    );
    let r = env.run(&["validate", "-f", &small, "--backend", &db]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.contains("unexpected argument '--backend'"),
        "{}",
        r.stderr
    );
}
