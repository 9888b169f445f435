//! Client-named files under the daemon's configured directories: swarm
//! files (`config_path`, under the swarm directory) and skill files (under
//! the skills directory). The only code that reads or writes them.
//!
//! Guarantees: every name is confined to its directory first ([`confined`]:
//! absolute paths, `..` and symlinks out are [`HiveError::PathForbidden`])
//! and all file-system work, the confinement's included, runs on the
//! blocking pool, never on the async workers. A skills listing is bounded
//! (8 levels deep, 10 000 files). The HTTP adapter makes one call here per
//! request; the directories are its configuration, passed in.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{self, SwarmSpec, ValidateOptions};
use crate::error::{HiveError, Resource};
use crate::runtime::Hive;

/// Deepest directory level a skills listing descends to.
const MAX_DEPTH: usize = 8;
/// Most files a skills listing returns.
const MAX_FILES: usize = 10_000;

/// A skill file of an agent, with its content or why it could not be read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkillFile {
    /// The name as listed in the agent's `skills`.
    pub name: String,
    /// Resolved path.
    pub path: String,
    /// Content, when it could be read.
    pub content: Option<String>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// A skill file under the skills directory (genswarms'
/// `{name, path, relative_path, category}`, and its size).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkillEntry {
    /// File name without its extension.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// Path relative to the skills directory.
    pub relative_path: String,
    /// Its subdirectory (`default` at the root).
    pub category: String,
    /// Bytes.
    pub size: u64,
}

/// One skill's content (genswarms' `{name, path, content, size}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkillContent {
    /// The name asked for.
    pub name: String,
    /// Resolved path.
    pub path: String,
    /// The file's text.
    pub content: String,
    /// Its length in bytes.
    pub size: usize,
}

/// A skill file written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkillWritten {
    /// The skill as listed in the agent's `skills`.
    pub skill: String,
    /// The file written.
    pub path: String,
    /// Bytes written.
    pub size: usize,
}

fn outside(name: &str, base: &Path) -> HiveError {
    HiveError::PathForbidden { path: name.to_string(), allowed_dir: base.display().to_string() }
}

/// Resolves `name` inside `base`. The file need not exist (its parent must).
pub fn confined(base: &Path, name: &str) -> Result<PathBuf, HiveError> {
    let rel = Path::new(name);
    let plain = !name.is_empty()
        && !name.contains('\0')
        && rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(outside(name, base));
    }
    let root = base.canonicalize().map_err(|_| HiveError::not_found(Resource::File, base.display().to_string()))?;
    let joined = root.join(rel);
    let resolved = match joined.canonicalize() {
        Ok(p) => p,
        Err(_) => {
            let parent = joined
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .ok_or_else(|| HiveError::not_found(Resource::File, name))?;
            parent.join(joined.file_name().unwrap_or_default())
        }
    };
    if resolved.starts_with(&root) { Ok(resolved) } else { Err(outside(name, base)) }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HiveError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HiveError::Unavailable(format!("file work failed: {e}")))
}

/// Whether the listed skill `s` is the one named `skill` (by path, file
/// name or stem).
fn names(s: &str, skill: &str) -> bool {
    let p = Path::new(s);
    s == skill || p.file_name().is_some_and(|f| f == skill) || p.file_stem().is_some_and(|f| f == skill)
}

impl Hive {
    /// Reads and validates the swarm file `name` under `dir`.
    pub async fn read_swarm_file(&self, dir: &Path, name: &str) -> Result<SwarmSpec, HiveError> {
        let (dir, name, opts): (PathBuf, String, ValidateOptions) =
            (dir.to_path_buf(), name.to_string(), self.validate_options());
        blocking(move || {
            let path = confined(&dir, &name)?;
            if !path.is_file() {
                return Err(HiveError::not_found(Resource::File, name));
            }
            config::parse_file(&path, &opts).map_err(HiveError::InvalidConfig)
        })
        .await?
    }

    /// The skill files of agent `agent` of swarm `swarm` (its `skills`,
    /// under `dir`), each with its content or why it could not be read.
    pub async fn agent_skills(&self, swarm: &str, agent: &str, dir: &Path) -> Result<Vec<SkillFile>, HiveError> {
        let listed = self.swarm(swarm).await?.agent_status(agent).await?.skills;
        let dir = dir.to_path_buf();
        blocking(move || {
            listed
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
                    Err(e) => SkillFile { path: name.clone(), name, content: None, error: Some(e.to_string()) },
                })
                .collect()
        })
        .await
    }

    /// Replaces the content of `skill`, one of the agent's `skills` (by
    /// path, file name or stem), under `dir`.
    pub async fn write_agent_skill(
        &self,
        swarm: &str,
        agent: &str,
        skill: &str,
        dir: &Path,
        content: String,
    ) -> Result<SkillWritten, HiveError> {
        let status = self.swarm(swarm).await?.agent_status(agent).await?;
        let listed = status
            .skills
            .into_iter()
            .find(|s| names(s, skill))
            .ok_or_else(|| HiveError::not_found(Resource::Skill, format!("{agent}/{skill}")))?;
        let dir = dir.to_path_buf();
        blocking(move || {
            let path = confined(&dir, &listed)?;
            let size = content.len();
            std::fs::write(&path, content)
                .map_err(|e| HiveError::BadRequest(format!("could not write {}: {e}", path.display())))?;
            Ok(SkillWritten { skill: listed, path: path.display().to_string(), size })
        })
        .await?
    }

    /// The skill `name` (`.md` optional) under `dir`, with its content.
    pub async fn read_skill(&self, dir: &Path, name: &str) -> Result<SkillContent, HiveError> {
        let (dir, name) = (dir.to_path_buf(), name.to_string());
        blocking(move || {
            let mut path = confined(&dir, &name)?;
            if !path.is_file() && !name.ends_with(".md") {
                path = confined(&dir, &format!("{name}.md"))?;
            }
            let content =
                std::fs::read_to_string(&path).map_err(|_| HiveError::not_found(Resource::Skill, name.clone()))?;
            Ok(SkillContent { name, path: path.display().to_string(), size: content.len(), content })
        })
        .await?
    }

    /// Every file under `dir`, by relative path.
    pub async fn list_skills(&self, dir: &Path) -> Result<Vec<SkillEntry>, HiveError> {
        let root = dir.to_path_buf();
        let mut items = blocking(move || {
            let mut out = Vec::new();
            let base = root.canonicalize().unwrap_or_else(|_| root.clone());
            walk(&base, &base, &mut out, 0);
            out
        })
        .await?;
        items.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
        Ok(items)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SkillEntry>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(root, &path, out, depth + 1);
        } else if meta.is_file() && out.len() < MAX_FILES {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let category = rel.parent().filter(|p| !p.as_os_str().is_empty());
            out.push(SkillEntry {
                name: path.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
                path: path.display().to_string(),
                relative_path: rel.display().to_string(),
                category: category.map_or("default".into(), |c| c.display().to_string()),
                size: meta.len(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

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
            assert_eq!(e.code(), ErrorCode::PathForbidden, "{bad}");
            assert!(matches!(&e, HiveError::PathForbidden { path, .. } if path == bad), "{e:?}");
        }
    }

    #[test]
    fn skills_match_by_path_file_name_or_stem() {
        assert!(names("research/search.md", "search"));
        assert!(names("research/search.md", "search.md"));
        assert!(names("research/search.md", "research/search.md"));
        assert!(!names("research/search.md", "other"));
    }
}
