//! The `dynunc` command: parse the command line, run, print errors with their causes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dynunc::cli::Cli::parse();
    match dynunc::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
