//! Confinement of client-named files to their directories: `config_path`
//! to the swarm directory and skill names to the skills directory. A name
//! that is absolute, contains `..`, or resolves (through symlinks) outside
//! its directory is refused with 403.

use std::path::{Component, Path, PathBuf};

use super::error::ApiError;
use crate::ErrorCode;

fn outside(name: &str, base: &Path) -> ApiError {
    ApiError::new(ErrorCode::PathForbidden, format!("'{name}' is outside the allowed directory {}", base.display()))
        .with_details(serde_json::json!({"path": name, "allowed_dir": base.display().to_string()}))
}

/// Resolves `name` inside `base`. The file need not exist (its parent must).
pub(crate) fn confined(base: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let rel = Path::new(name);
    let plain = !name.is_empty()
        && !name.contains('\0')
        && rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(outside(name, base));
    }
    let root = base.canonicalize().map_err(|e| {
        ApiError::new(ErrorCode::NotFound, format!("the directory {} is not available: {e}", base.display()))
    })?;
    let joined = root.join(rel);
    let resolved = match joined.canonicalize() {
        Ok(p) => p,
        Err(_) => {
            let parent = joined
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .ok_or_else(|| ApiError::not_found(format!("'{name}' does not exist in {}", base.display())))?;
            parent.join(joined.file_name().unwrap_or_default())
        }
    };
    if resolved.starts_with(&root) { Ok(resolved) } else { Err(outside(name, base)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_absolute_and_symlinks_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("skills");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("a.md"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), base.join("link")).unwrap();
        assert!(confined(&base, "a.md").is_ok());
        assert!(confined(&base, "new.md").is_ok(), "a file that does not exist yet");
        for bad in ["../secret", "/etc/passwd", "", "x/../../secret", "link"] {
            let e = confined(&base, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::PathForbidden, "{bad}");
        }
    }
}
