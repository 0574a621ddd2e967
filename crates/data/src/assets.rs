//! Where the real assets of `scripts/fetch-assets.sh` live, for the main job, benches and examples (tests use `trrg-testutil`).

use std::path::{Path, PathBuf};

/// The asset directory: `$TRRG_ASSETS_DIR`, else `.assets` at the workspace root.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("TRRG_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.assets"))
}
