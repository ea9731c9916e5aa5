//! The orgctl binary: parse arguments, hand them to the library.
#![deny(unsafe_code)]

// mimalloc keeps memory flat when many small specs are built on two threads
// and freed in bulk (glibc's per-thread arenas fragment under that pattern).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc makes its first arena at the first allocation, which happens
// before `main`; its commit setting must be in place by then.
#[ctor::ctor(unsafe)]
fn tune_allocator() {
    orgctl::memory::release_promptly();
}

fn main() -> std::process::ExitCode {
    match orgctl::cli::parse_args() {
        Ok(cli) => orgctl::cli::run(cli),
        Err(code) => code,
    }
}
