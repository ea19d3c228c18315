//! The `hark-desktop` binary: everything is in the library (`lib.rs`).
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    hark_desktop::run()
}
