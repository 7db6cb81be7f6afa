use std::process::ExitCode;

use clap::Parser;

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
