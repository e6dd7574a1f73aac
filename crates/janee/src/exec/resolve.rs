//! Which file a command name means, decided once at config load.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::ExecError;

/// The trusted PATH used when the config names none, and the child's `PATH` by default.
pub const DEFAULT_TRUSTED_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Executables resolved once, at config load, from a trusted PATH: bare name → absolute,
/// canonical path of a regular executable file.
#[derive(Debug, Clone, Default)]
pub struct ResolvedCommands {
    paths: BTreeMap<String, PathBuf>,
}

impl ResolvedCommands {
    /// Resolves each bare name (no `/`, not `.` or `..`) against `trusted_path`, a
    /// `:`-separated list of directories searched in order. Empty and relative entries are
    /// skipped (in a PATH they would mean the working directory). Symlinks are followed to a
    /// canonical absolute path; the first regular file with an execute bit wins. A file, or
    /// a directory holding it, that any user may write is refused.
    pub fn resolve(names: &[String], trusted_path: &str) -> Result<ResolvedCommands, ExecError> {
        let dirs: Vec<&Path> = trusted_path
            .split(':')
            .map(Path::new)
            .filter(|d| d.is_absolute())
            .collect();
        let mut paths = BTreeMap::new();
        for name in names {
            let path = resolve_one(name, &dirs, trusted_path)?;
            paths.insert(name.clone(), path);
        }
        Ok(ResolvedCommands { paths })
    }

    /// The absolute path `name` was resolved to, if it is one of the resolved names.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }
}

fn resolve_one(name: &str, dirs: &[&Path], trusted_path: &str) -> Result<PathBuf, ExecError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(ExecError::InvalidName {
            command: name.to_owned(),
        });
    }
    let mut not_executable = None;
    for dir in dirs {
        // Missing files and dangling links fail here and are skipped, as a shell would.
        let Ok(real) = fs::canonicalize(dir.join(name)) else {
            continue;
        };
        let Ok(meta) = fs::metadata(&real) else {
            continue;
        };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            not_executable.get_or_insert(real);
            continue;
        }
        let world_writable =
            |p: &Path| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o002 != 0);
        if world_writable(&real) || real.parent().is_some_and(world_writable) {
            return Err(ExecError::Insecure {
                command: name.to_owned(),
                path: real,
            });
        }
        return Ok(real);
    }
    Err(match not_executable {
        Some(path) => ExecError::NotExecutable {
            command: name.to_owned(),
            path,
        },
        None => ExecError::NotFound {
            command: name.to_owned(),
            path: trusted_path.to_owned(),
        },
    })
}
