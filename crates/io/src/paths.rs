//! Resolving annotation image paths under an images root, refusing any that escape it; and
//! model ids in the local Hugging Face Hub cache.

use std::ffi::OsString;
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
    let joined = join_relative(root, relative, id)?;
    if let (Ok(real), Ok(real_root)) = (joined.canonicalize(), root.canonicalize()) {
        if !real.starts_with(&real_root) {
            return Err(Error::PathEscapesRoot {
                id: id.to_string(),
                image_path: relative.to_string(),
                root: root.to_path_buf(),
            });
        }
    }
    Ok(joined)
}

/// The lexical half of [`resolve_under`]: `relative` may not be absolute or climb above `root`,
/// but symbolic links are followed wherever they point (a Hub-cache snapshot links each file to
/// `../../blobs/`).
pub(crate) fn join_relative(root: &Path, relative: &str, id: &str) -> Result<PathBuf> {
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
    Ok(root.join(clean))
}

/// The Hugging Face Hub cache as `huggingface_hub` finds it: `HF_HUB_CACHE`, else
/// `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
/// `var` reads an environment variable (`std::env::var_os` outside tests).
pub fn hf_hub_cache(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("HF_HUB_CACHE")
        .or_else(|| set("HF_HOME").map(|home| home.join("hub")))
        .or_else(|| set("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| set("HOME").map(|home| home.join(".cache/huggingface/hub")))
}

/// A model given as a path or as a Hub model id (`org/name`): an existing path is returned as
/// it is; an id that is not a path is looked up, offline, in the Hub cache [`hf_hub_cache`]
/// finds, and its snapshot directory returned (the revision `refs/main` names, or the only
/// snapshot). Anything else is returned unchanged, for the loader to report as missing.
///
/// trrg never downloads: an id that is not cached is an error that says how to fetch it.
pub fn resolve_model(path: &Path) -> Result<PathBuf> {
    resolve_model_in(path, hf_hub_cache(|name| std::env::var_os(name)).as_deref())
}

/// [`resolve_model`] with the cache given.
pub fn resolve_model_in(path: &Path, cache: Option<&Path>) -> Result<PathBuf> {
    let Some((org, name)) = model_id(path) else {
        return Ok(path.to_path_buf());
    };
    let id = format!("{org}/{name}");
    let not_cached = |cache: &Path, reason: String| Error::NotCached {
        id: id.clone(),
        cache: cache.to_path_buf(),
        reason,
    };
    let Some(cache) = cache else {
        return Err(not_cached(
            Path::new("(none: HF_HUB_CACHE, HF_HOME and HOME are unset)"),
            "no cache to look in".into(),
        ));
    };
    let repo = cache.join(format!("models--{org}--{name}"));
    if !repo.is_dir() {
        return Err(not_cached(
            cache,
            format!("{} does not exist", repo.display()),
        ));
    }
    let snapshots = repo.join("snapshots");
    let revision = match std::fs::read_to_string(repo.join("refs/main")) {
        Ok(hash) => hash.trim().to_string(),
        Err(_) => only_snapshot(&snapshots).map_err(|reason| not_cached(cache, reason))?,
    };
    let snapshot = join_relative(&snapshots, &revision, &id)?;
    if !snapshot.is_dir() {
        return Err(not_cached(
            cache,
            format!("refs/main names {revision}, which has no snapshot directory"),
        ));
    }
    Ok(snapshot)
}

/// The one snapshot of a cached model without `refs/main`, or why there is not exactly one.
fn only_snapshot(snapshots: &Path) -> std::result::Result<String, String> {
    let mut all: Vec<String> = std::fs::read_dir(snapshots)
        .map_err(|e| format!("{}: {e}", snapshots.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    match all.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err("it has no snapshot".into()),
        _ => Err(format!(
            "it has no refs/main and {} snapshots ({}); give the snapshot directory itself",
            all.len(),
            all.join(", ")
        )),
    }
}

/// `org/name` when `path` is a Hub model id and no file or directory: two parts of letters,
/// digits, `-`, `_` and `.`, neither starting with `.`.
fn model_id(path: &Path) -> Option<(&str, &str)> {
    if path.exists() {
        return None;
    }
    let (org, name) = path.to_str()?.split_once('/')?;
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (ok(org) && ok(name)).then_some((org, name))
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

    #[test]
    fn hub_cache_follows_huggingface_hub() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        const ALL: &[(&str, &str)] = &[
            ("HF_HUB_CACHE", "/c"),
            ("HF_HOME", "/h"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/u"),
        ];
        assert_eq!(hf_hub_cache(env(ALL)), Some(PathBuf::from("/c")));
        assert_eq!(hf_hub_cache(env(&ALL[1..])), Some(PathBuf::from("/h/hub")));
        assert_eq!(
            hf_hub_cache(env(&ALL[2..])),
            Some(PathBuf::from("/x/huggingface/hub"))
        );
        assert_eq!(
            hf_hub_cache(env(&[("HF_HUB_CACHE", ""), ("HOME", "/u")])),
            Some(PathBuf::from("/u/.cache/huggingface/hub"))
        );
        assert_eq!(hf_hub_cache(env(&[])), None);
    }

    /// A cache laid out as `huggingface_hub` writes it: `refs/main`, `snapshots/<hash>/` with
    /// links into `blobs/`.
    #[cfg(unix)]
    #[test]
    fn model_ids_resolve_in_the_hub_cache() {
        let cache = std::env::temp_dir().join(format!("trrg-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let repo = cache.join("models--org--tiny-model");
        let snapshot = repo.join("snapshots/0123abcd");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("blobs/e3b0"), b"{}").unwrap();
        std::os::unix::fs::symlink("../../blobs/e3b0", snapshot.join("config.json")).unwrap();
        let id = Path::new("org/tiny-model");
        // The only snapshot, without refs/main.
        assert_eq!(resolve_model_in(id, Some(&cache)).unwrap(), snapshot);
        // refs/main decides between several.
        std::fs::create_dir_all(repo.join("snapshots/ffff")).unwrap();
        let err = resolve_model_in(id, Some(&cache)).unwrap_err().to_string();
        assert!(err.contains("2 snapshots (0123abcd, ffff)"), "{err}");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "0123abcd\n").unwrap();
        let found = resolve_model_in(id, Some(&cache)).unwrap();
        assert_eq!(found, snapshot);
        assert_eq!(std::fs::read(found.join("config.json")).unwrap(), b"{}");
        std::fs::write(repo.join("refs/main"), "../../../etc").unwrap();
        assert!(resolve_model_in(id, Some(&cache)).is_err());
        // Not cached: one error naming the id and the cache, and how to fetch it.
        let err = resolve_model_in(Path::new("org/other"), Some(&cache))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`org/other`")
                && err.contains(&cache.display().to_string())
                && err.contains("huggingface-cli download org/other"),
            "{err}"
        );
        // Paths that exist, and strings that are not ids, are returned unchanged.
        assert_eq!(resolve_model_in(&cache, Some(&cache)).unwrap(), cache);
        for not_id in ["model.gguf", "a/b/c", "./x/y", "/abs/x"] {
            assert_eq!(
                resolve_model_in(Path::new(not_id), Some(&cache)).unwrap(),
                Path::new(not_id)
            );
        }
        std::fs::remove_dir_all(&cache).unwrap();
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
