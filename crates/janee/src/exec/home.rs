//! The fresh `HOME` each call gets, and its removal.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// A `0700` directory with a `tmp/` inside, removed by [`TempHome::remove`] or on drop.
#[derive(Debug)]
pub(super) struct TempHome {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    tmp: PathBuf,
}

impl TempHome {
    pub fn new() -> io::Result<TempHome> {
        let dir = tempfile::Builder::new()
            .prefix("janee-exec-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let path = dir.path().to_path_buf();
        let tmp = path.join("tmp");
        fs::DirBuilder::new().mode(0o700).create(&tmp)?;
        Ok(TempHome {
            dir: Some(dir),
            path,
            tmp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Removes the directory and everything the child left in it, including directories it
    /// made unreadable. A failure is logged: the call's result is still returned.
    pub fn remove(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        if dir.close().is_ok() {
            return;
        }
        make_dirs_writable(&self.path);
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(
                "could not remove the exec HOME {}: {e}",
                self.path.display()
            );
        }
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        self.remove();
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
