//! The `hark` binary: everything is in the library (`lib.rs`), which the desktop app shares.

fn main() -> std::process::ExitCode {
    hark_cli::main()
}
