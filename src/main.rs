//! postfach: a minimal single-binary IMAP server on one redb file.
//!
//! `main` parses the command line, sets up logging and runs the chosen subcommand; the layers
//! live in `proto` (bytes ↔ types), `imap` (sessions and commands) and `store` (redb).
#![forbid(unsafe_code)]

mod admin;
mod auth;
mod base64;
mod cli;
mod config;
mod deliver;
mod error;
mod imap;
mod lmtp;
mod mime;
mod notify;
mod proto;
mod server;
mod sieve;
mod store;

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli: cli::Cli = argh::from_env();
    if cli.version {
        println!(
            "postfach {} ({})",
            env!("CARGO_PKG_VERSION"),
            target_triple()
        );
        return ExitCode::SUCCESS;
    }
    let result = match cli.command {
        None => Err("no command given; try `postfach serve` or `postfach --help`".to_string()),
        Some(cli::Command::Serve(s)) => server::run(s),
        Some(cli::Command::User(u)) => admin::user_command(u),
        Some(cli::Command::Sieve(c)) => admin::sieve_command(c),
        Some(cli::Command::Deliver(d)) => return admin::deliver_command(d),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postfach: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The target this binary was built for.
fn target_triple() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}
