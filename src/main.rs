//! The orgctl binary: parse arguments, hand them to the library.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    orgctl::cli::run(orgctl::cli::Cli::parse())
}
