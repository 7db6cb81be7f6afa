use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a GraphQL response is thousands of small, short-lived allocations spread over
/// the runtime's worker threads, where glibc's allocator spent over a quarter of the CPU and
/// waited on its arena locks (#14's profile; `bench/run` measures the difference).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = plugs::cli::Cli::parse();
    match plugs::run_cli(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One readable line, no backtrace: the operator fixes configuration, not code.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
