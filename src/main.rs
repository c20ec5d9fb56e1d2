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
mod limits;
mod lmtp;
mod mime;
mod notify;
mod proto;
mod server;
mod shutdown;
mod sieve;
mod store;
mod tls;

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli: cli::Cli = argh::from_env();
    if matches!(cli.command, Some(cli::Command::Serve(_))) {
        tune_glibc_malloc();
    }
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
        Some(cli::Command::Acl(a)) => admin::acl_command(a),
        Some(cli::Command::Mailbox(m)) => admin::mailbox_command(m),
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

/// glibc's malloc raises its mmap threshold each time a large block is freed (argon2's 19 MiB,
/// big literals); later buffers then come from per-thread heaps that are rarely returned, which
/// cost ~2 MiB of RSS per connection in the benchmark. A fixed threshold and two arenas keep
/// large buffers mmapped and returned at free. The threshold, 68 KiB, is just above redb's page
/// for one 64 KiB message chunk: below it every chunk read would be an mmap, 17 page faults, a
/// zero fill and an munmap (a TLB shootdown on every core), which cost FETCH BODY[] a third of
/// its speed. glibc reads these settings only at start, so the server re-executes itself once
/// with them set (same PID, same arguments). Static musl builds are not affected.
///
/// Not in static glibc builds (`+crt-static`, the armv7 Raspberry Pi binary): those are the ones
/// run under qemu-user (CI's smoke test, trying a Pi build on a PC), where `current_exe()` names
/// an ARM file the host kernel cannot execute, and glibc's `execvp` then hands it to `/bin/sh`,
/// replacing the server with a shell error. Static glibc still reads both variables at start,
/// so the shipped systemd unit sets them in `Environment=` instead (docs/systemd/postfach.service).
#[cfg(all(target_env = "gnu", not(target_feature = "crt-static")))]
fn tune_glibc_malloc() {
    use std::os::unix::process::CommandExt;
    const MARK: &str = "MALLOC_MMAP_THRESHOLD_";
    const MMAP_THRESHOLD: &str = "69632";
    if std::env::var_os(MARK).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MARK, MMAP_THRESHOLD)
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    log::warn!("could not re-execute with malloc settings: {err}");
}

#[cfg(not(all(target_env = "gnu", not(target_feature = "crt-static"))))]
fn tune_glibc_malloc() {}

/// The target triple this binary was built for (from `src/build.rs`), with `+crt-static` when
/// a glibc build is statically linked, so a bug report names the exact build.
fn target_triple() -> String {
    let triple = env!("POSTFACH_TARGET");
    if cfg!(all(target_env = "gnu", target_feature = "crt-static")) {
        format!("{triple}, +crt-static")
    } else {
        triple.to_string()
    }
}
