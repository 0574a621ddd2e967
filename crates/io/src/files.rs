//! Reading JSON with located errors, and writing files atomically.

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Reads and parses a JSON file; errors name the file and the JSON path of the problem.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_json(&text, path)
}

/// Parses JSON text; `origin` names the source in error messages.
pub fn parse_json<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Json {
        path: origin.to_path_buf(),
        json_path: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so that
/// readers see either the old file or the whole new one, never a partial write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("trrg-files-{}", std::process::id()));
        let path = dir.join("sub/x.json");
        write_atomic(&path, b"[1]").unwrap();
        write_atomic(&path, b"[2, 3]").unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), [2, 3]);
        let leftovers = std::fs::read_dir(dir.join("sub")).unwrap().count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_json::<u32>(Path::new("/nonexistent/trrg.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/trrg.json"));
    }
}
