//! Where the real assets of `scripts/fetch-assets.sh` live, for the main job, benches and examples (tests use `trrg-testutil`).

use std::path::{Path, PathBuf};

/// The asset directory: `$TRRG_ASSETS_DIR`; else `.assets` at the root of the source tree this
/// was built from, while it exists (a checkout); else the per-user data directory
/// (`$XDG_DATA_HOME/trrg/assets`, by default `~/.local/share/trrg/assets`), where an installed
/// binary (`cargo install --path crates/cli`) looks: `scripts/fetch-assets.sh DIR` fills any of
/// them.
pub fn assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRRG_ASSETS_DIR") {
        return PathBuf::from(dir);
    }
    let build_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.assets");
    if build_tree.is_dir() {
        return build_tree;
    }
    user_data_dir().join("trrg").join("assets")
}

/// `$XDG_DATA_HOME`, else `~/.local/share` (`%APPDATA%` on Windows), else `.`.
fn user_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if cfg!(windows) {
        if let Some(dir) = std::env::var_os("APPDATA") {
            return PathBuf::from(dir);
        }
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local").join("share"),
        None => PathBuf::from("."),
    }
}
