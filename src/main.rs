//! The `upki-ra` binary: see [`upki_ra::cli`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    upki_ra::cli::run()
}
