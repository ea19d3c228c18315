//! Tauri's build step, reading the app's config from the repository root (`../tauri.conf.json`,
//! where the design keeps it). It also generates the app's context (`tauri_build_context!` in
//! `src/lib.rs`): `ui/dist` embedded, capabilities resolved. Generated here rather than by
//! `generate_context!`, so a rebuilt `ui/dist` reruns this script and is embedded again. The
//! app's own commands are declared here, so each needs a permission (`allow-<command>`) that only
//! the main window's capability grants (`capabilities/main.json`).

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .codegen(tauri_build::CodegenContext::new())
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "daemon_connection",
            "open_external",
            "quit_app",
        ]));
    tauri_build::try_build(attributes).expect("tauri build step");
}
