//! Resolving annotation image paths under an images root, refusing any that escape it.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Joins `relative` (as written in an annotation) onto `root`, refusing paths that escape it.
///
/// Refused: absolute paths, Windows prefixes, and `..` components that climb above `root`
/// (`a/../b` is fine, `../x` and `a/../../x` are not). When the file exists, symbolic links are
/// resolved too and the target must still lie under the canonical root.
///
/// ```
/// use std::path::Path;
/// let p = trrg_io::resolve_under(Path::new("/data/iu/images"), "CXR1/0.png", "CXR1").unwrap();
/// assert_eq!(p, Path::new("/data/iu/images/CXR1/0.png"));
/// assert!(trrg_io::resolve_under(Path::new("/data/iu/images"), "../../etc/passwd", "x").is_err());
/// ```
pub fn resolve_under(root: &Path, relative: &str, id: &str) -> Result<PathBuf> {
    let escape = || Error::PathEscapesRoot {
        id: id.to_string(),
        image_path: relative.to_string(),
        root: root.to_path_buf(),
    };
    if relative.is_empty() {
        return Err(escape());
    }
    let mut depth: usize = 0;
    let mut clean = PathBuf::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => {
                depth += 1;
                clean.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth.checked_sub(1).ok_or_else(escape)?;
                clean.pop();
            }
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    if depth == 0 {
        return Err(escape());
    }
    let joined = root.join(clean);
    if let (Ok(real), Ok(real_root)) = (joined.canonicalize(), root.canonicalize()) {
        if !real.starts_with(&real_root) {
            return Err(escape());
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_relative_paths() {
        let root = Path::new("/r");
        assert_eq!(
            resolve_under(root, "a/b.png", "s").unwrap(),
            Path::new("/r/a/b.png")
        );
        assert_eq!(
            resolve_under(root, "./a/../b.png", "s").unwrap(),
            Path::new("/r/b.png")
        );
    }

    #[test]
    fn refuses_escapes() {
        let root = Path::new("/r");
        for bad in [
            "../x.png",
            "../../etc/passwd",
            "a/../../x",
            "/etc/passwd",
            "",
            ".",
            "a/..",
        ] {
            let err = resolve_under(root, bad, "s1").unwrap_err();
            assert!(matches!(err, Error::PathEscapesRoot { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("s1"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlink_escapes() {
        let dir = std::env::temp_dir().join(format!("trrg-paths-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.join("secret.png"), b"x").unwrap();
        let link = root.join("link.png");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dir.join("secret.png"), &link).unwrap();
        assert!(resolve_under(&root, "link.png", "s").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
