//! The `dynunc` command: parse the command line, run, print errors with their causes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // A reader that stops early (`| head`) ends the process as it ends other Unix tools,
    // rather than making every print a panic.
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = dynunc::cli::Cli::parse();
    let result = dynunc::cli::run(cli);
    if dynunc::fault::armed() {
        eprintln!(
            "fault injection: {} file operations",
            dynunc::fault::count()
        );
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
