//! The bad-input corpus: every `tests/corpus/bad/NN-name.yaml` is validated
//! together with the valid `tests/corpus/base.yaml` (and, when a directory
//! `NN-name.d/` exists, its `.yaml` files after it). Each must fail with exit
//! code 1, print nothing on stdout, and print exactly `NN-name.stderr`.
//!
//! Regenerate the expectations with `CORPUS_BLESS=1 cargo test --test suite corpus::`,
//! then read every changed `.stderr` file: it is what a user will see.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const BASE: &str = "tests/corpus/base.yaml";
const BAD: &str = "tests/corpus/bad";
/// Inline secrets written in the corpus (a string and a number); no message
/// may repeat them.
const SECRETS: [&str; 2] = ["hunter2", "31415.92653"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cases as paths relative to the crate root, sorted.
fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join(BAD))
        .expect("tests/corpus/bad is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| Path::new(BAD).join(p.file_name().expect("file name")))
        .collect();
    cases.sort();
    cases
}

/// Extra files validated after a case: `NN-name.d/*.yaml`, sorted.
fn extra_files(case: &Path) -> Vec<PathBuf> {
    let dir = case.with_extension("d");
    let Ok(entries) = std::fs::read_dir(root().join(&dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| dir.join(p.file_name().expect("file name")))
        .collect();
    files.sort();
    files
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn validate(files: &[PathBuf]) -> Run {
    let mut cmd = Command::cargo_bin("orgctl").expect("the orgctl binary is built");
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("ORGCTL_LOG")
        .env_remove("ORGCTL_BACKEND")
        .arg("validate");
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .expect("orgctl runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_case(case: &Path) -> Run {
    let mut files = vec![PathBuf::from(BASE), case.to_path_buf()];
    files.extend(extra_files(case));
    validate(&files)
}

fn bless() -> bool {
    std::env::var("CORPUS_BLESS").is_ok_and(|v| v == "1")
}

#[test]
fn every_bad_input_fails_with_exactly_the_expected_messages() {
    let bless = bless();
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let run = run_case(case);
        let expected_path = root().join(case.with_extension("stderr"));
        let name = case.display();
        if run.code != Some(1) {
            failures.push(format!("{name}: exit code {:?}, expected 1", run.code));
        }
        if !run.stdout.is_empty() {
            failures.push(format!("{name}: stdout is not empty:\n{}", run.stdout));
        }
        if bless {
            std::fs::write(&expected_path, &run.stderr).expect("write the .stderr file");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == run.stderr => {}
            Ok(expected) => failures.push(format!(
                "{name}: stderr differs\n--- expected ({})\n{expected}+++ actual\n{}",
                expected_path.display(),
                run.stderr
            )),
            Err(e) => failures.push(format!(
                "{name}: cannot read {}: {e} (run with CORPUS_BLESS=1 to create it)\n+++ actual\n{}",
                expected_path.display(),
                run.stderr
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_expectation_belongs_to_a_case() {
    let cases = cases();
    let orphans: Vec<String> = std::fs::read_dir(root().join(BAD))
        .expect("tests/corpus/bad is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
        .map(|p| Path::new(BAD).join(p.file_name().expect("file name")))
        .filter(|p| !cases.contains(&p.with_extension("yaml")))
        .map(|p| p.display().to_string())
        .collect();
    assert!(orphans.is_empty(), ".stderr files without a case: {orphans:?}");
}

#[test]
fn the_base_organization_is_valid() {
    let run = validate(&[PathBuf::from(BASE)]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr:\n{}", run.stderr);
    assert!(
        run.stdout.starts_with("The files are valid:"),
        "stdout:\n{}",
        run.stdout
    );
}

#[test]
fn the_corpus_has_at_least_45_cases() {
    let n = cases().len();
    assert!(n >= 45, "only {n} corpus cases");
}

#[test]
fn no_message_repeats_an_inline_secret() {
    let mut leaks = Vec::new();
    for secret in SECRETS {
        let mut writers = 0;
        for case in cases() {
            let expected =
                std::fs::read_to_string(root().join(case.with_extension("stderr"))).unwrap_or_default();
            if expected.contains(secret) {
                leaks.push(format!("{} (expected)", case.with_extension("stderr").display()));
            }
            let text = std::fs::read_to_string(root().join(&case)).unwrap_or_default();
            if text.contains(secret) {
                writers += 1;
                let run = run_case(&case);
                if run.stderr.contains(secret) || run.stdout.contains(secret) {
                    leaks.push(format!("{}: {secret}", case.display()));
                }
            }
        }
        // The corpus writes each secret inline somewhere, so this checks something.
        assert!(writers > 0, "no corpus case writes {secret:?} inline");
    }
    assert!(leaks.is_empty(), "messages repeat an inline secret: {leaks:?}");
}

/// A file saved with a byte-order mark and CRLF line ends (as editors on
/// Windows write it) is the same YAML: valid, and read the same way.
#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join(BASE)).expect("read the base");
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(text.replace('\n', "\r\n").as_bytes());
    let path = dir.path().join("base-windows.yaml");
    std::fs::write(&path, bytes).expect("write");
    let run = validate(&[path]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let plain = validate(&[PathBuf::from(BASE)]);
    assert_eq!(run.stdout, plain.stdout);
}
