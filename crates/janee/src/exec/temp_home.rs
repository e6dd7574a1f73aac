//! The empty `HOME` each call gets, and its clearing.
//!
//! A home is a `0700` directory with an empty `tmp/` inside, made by `tempfile` under the
//! system temporary directory. After the call (whose processes are all dead by then) it is
//! emptied and renamed to a new random name, so its path is gone like a removed directory's,
//! and the next call gets it under that name. Creating and removing directories costs more
//! than the rest of a short command's overhead on file systems that discard freed blocks
//! synchronously; a rename frees nothing. A home that cannot be emptied or renamed, or does
//! not fit in the small pool, is removed. [`drain_pool`] removes the pooled homes when the
//! server stops.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Emptied homes waiting for a call.
static POOL: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The most homes kept in the pool.
const POOL_MAX: usize = 16;

/// A home for one call; emptied (and pooled or removed) by [`TempHome::remove`] or on drop.
#[derive(Debug)]
pub(super) struct TempHome {
    path: Option<PathBuf>,
    tmp: PathBuf,
}

impl TempHome {
    pub fn new() -> io::Result<TempHome> {
        let pooled = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
        if let Some(path) = pooled {
            // Checked again: nothing may have been left in it since.
            if is_empty_home(&path) {
                let tmp = path.join("tmp");
                return Ok(TempHome {
                    path: Some(path),
                    tmp,
                });
            }
            remove_tree(&path);
        }
        let dir = tempfile::Builder::new()
            .prefix("janee-exec-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let path = dir.keep();
        let tmp = path.join("tmp");
        if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&tmp) {
            remove_tree(&path);
            return Err(e);
        }
        Ok(TempHome {
            path: Some(path),
            tmp,
        })
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Empties the home of everything the child left in it (including directories it made
    /// unreadable) and pools it, or removes it. A failure is logged: the call's result is
    /// still returned.
    pub fn remove(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        if empty_home(&path)
            && POOL.lock().unwrap_or_else(PoisonError::into_inner).len() < POOL_MAX
            && let Some(renamed) = rename_fresh(&path)
        {
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < POOL_MAX {
                pool.push(renamed);
                return;
            }
            drop(pool);
            remove_tree(&renamed);
            return;
        }
        remove_tree(&path);
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Moves `home` to a new random name beside it; `None` (and `home` left as it was) if that
/// fails.
fn rename_fresh(home: &Path) -> Option<PathBuf> {
    let parent = home.parent()?;
    let suffix = hex::encode(janee_vault::crypto::random_bytes::<9>().ok()?);
    let renamed = parent.join(format!("janee-exec-{suffix}"));
    // `renameat2(RENAME_NOREPLACE)` is not in std; a collision of 72 random bits is not a
    // concern, and `rename` refuses to replace a non-empty directory anyway.
    if renamed.exists() {
        return None;
    }
    fs::rename(home, &renamed).ok()?;
    Some(renamed)
}

/// Removes the pooled homes (when the server stops).
pub fn drain_pool() {
    let homes = std::mem::take(&mut *POOL.lock().unwrap_or_else(PoisonError::into_inner));
    for home in homes {
        remove_tree(&home);
    }
}

/// Whether `path` is still what a pooled home must be: a real `0700` directory holding only
/// an empty `tmp/` of the same kind. (Nobody else can have replaced it: it sits in a sticky
/// temporary directory under a name only this process knows.)
fn is_empty_home(path: &Path) -> bool {
    let private_dir =
        |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && m.mode() & 0o777 == 0o700);
    let only_tmp = fs::read_dir(path).is_ok_and(|entries| {
        entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .is_ok_and(|names| names == ["tmp"])
    });
    private_dir(path)
        && only_tmp
        && private_dir(&path.join("tmp"))
        && fs::read_dir(path.join("tmp")).is_ok_and(|mut e| e.next().is_none())
}

/// Removes everything in `home` but an empty `tmp/`, and restores the modes. True when the
/// home is as new.
fn empty_home(home: &Path) -> bool {
    make_dirs_writable(home);
    let tmp = home.join("tmp");
    for dir in [home, tmp.as_path()] {
        let Ok(entries) = fs::read_dir(dir) else {
            return false;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == tmp {
                continue;
            }
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            if let Err(e) = removed
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!("could not clear the exec HOME {}: {e}", home.display());
                return false;
            }
        }
    }
    if !tmp.is_dir() && fs::DirBuilder::new().mode(0o700).create(&tmp).is_err() {
        return false;
    }
    is_empty_home(home)
}

/// Removes `root` and everything under it; a failure is logged.
fn remove_tree(root: &Path) {
    make_dirs_writable(root);
    if let Err(e) = fs::remove_dir_all(root)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove the exec HOME {}: {e}", root.display());
    }
}

/// Gives the owner `rwx` on every directory under `root` (not following symlinks), so a
/// child's `chmod 000` cannot keep its files from being removed. Iterative: the child may
/// have nested directories deeply.
fn make_dirs_writable(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // `file_type` does not follow symlinks: a link to a directory elsewhere is left
            // alone (and removed as a link).
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
}
