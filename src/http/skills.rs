//! Skill files: the only code that reads or writes the skills directory.
//! Every call confines the names it is given to the directory first
//! (`paths.rs`: absolute paths, `..` and symlinks out are 403) and does all
//! of its file-system work, the confinement's included, on the blocking
//! pool, so a handler only extracts, makes one of these calls and maps the
//! answer. A listing is bounded (8 levels deep, 10 000 files).

use std::path::{Path, PathBuf};

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::paths::confined;

/// A skill file of an agent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SkillFile {
    /// The name as listed in the agent's `skills`.
    name: String,
    /// Resolved path.
    path: String,
    /// Content, when it could be read.
    content: Option<String>,
    /// Why it could not be read.
    error: Option<String>,
}

/// A skill file under the skills directory.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SkillEntry {
    /// File name without `.md`.
    name: String,
    /// Path relative to the skills directory.
    relative_path: String,
    /// Its subdirectory (`default` at the root).
    category: String,
    /// Bytes.
    size: u64,
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::from(crate::HiveError::Unavailable(e.to_string())))
}

/// The files named `names` (an agent's `skills`), each with its content or
/// why it could not be read.
pub(crate) async fn read_listed(dir: &Path, names: Vec<String>) -> Result<Vec<SkillFile>, ApiError> {
    let dir = dir.to_path_buf();
    blocking(move || {
        names
            .into_iter()
            .map(|name| match confined(&dir, &name) {
                Ok(path) => {
                    let read = std::fs::read_to_string(&path);
                    SkillFile {
                        name,
                        path: path.display().to_string(),
                        error: read.as_ref().err().map(|e| e.to_string()),
                        content: read.ok(),
                    }
                }
                Err(e) => SkillFile { path: name.clone(), name, content: None, error: Some(e.message) },
            })
            .collect()
    })
    .await
}

/// The file `name` (`.md` optional) and its content; 404 if it is not there.
pub(crate) async fn read(dir: &Path, name: &str) -> Result<(PathBuf, String), ApiError> {
    let (dir, name) = (dir.to_path_buf(), name.to_string());
    blocking(move || {
        let mut path = confined(&dir, &name)?;
        if !path.is_file() && !name.ends_with(".md") {
            path = confined(&dir, &format!("{name}.md"))?;
        }
        let content = std::fs::read_to_string(&path)
            .map_err(|_| ApiError::from(crate::HiveError::not_found(crate::Resource::Skill, name.clone())))?;
        Ok((path, content))
    })
    .await?
}

/// Replaces the content of the file `name`; answers its path.
pub(crate) async fn write(dir: &Path, name: &str, content: String) -> Result<PathBuf, ApiError> {
    let (dir, name) = (dir.to_path_buf(), name.to_string());
    blocking(move || {
        let path = confined(&dir, &name)?;
        std::fs::write(&path, content)
            .map_err(|e| ApiError::bad_request(format!("could not write {}: {e}", path.display())))?;
        Ok(path)
    })
    .await?
}

/// Every file under the directory, by relative path.
pub(crate) async fn list(dir: &Path) -> Result<Vec<SkillEntry>, ApiError> {
    let root = dir.to_path_buf();
    let mut items = blocking(move || {
        let mut out = Vec::new();
        walk(&root, &root, &mut out, 0);
        out
    })
    .await?;
    items.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
    Ok(items)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SkillEntry>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() && depth < 8 {
            walk(root, &path, out, depth + 1);
        } else if meta.is_file() && out.len() < 10_000 {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let category = rel.parent().filter(|p| !p.as_os_str().is_empty());
            out.push(SkillEntry {
                name: path.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
                relative_path: rel.display().to_string(),
                category: category.map_or("default".into(), |c| c.display().to_string()),
                size: meta.len(),
            });
        }
    }
}
