//! Audit files on disk: naming, listing, the cross-process lock, and a bounded line reader.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Take};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// Exclusive lock taken around "check tail, chain, append" by every writer, in every process.
/// Its content is the name of the file currently appended to, so that a writer notices another
/// writer's switch to a newer file.
pub(super) const LOCK_FILE: &str = ".audit.lock";
/// Length of `audit-YYYY-MM-DD.jsonl`.
pub(super) const NAME_LEN: usize = 22;
/// Longer lines are malformed (a record is a few KiB at most).
pub(super) const MAX_LINE: usize = 1024 * 1024;

pub(super) fn file_name(date: NaiveDate) -> String {
    format!("audit-{}.jsonl", date.format("%Y-%m-%d"))
}

fn parse_name(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// One day's file and, in a snapshot, its length at the time of the snapshot.
#[derive(Debug, Clone)]
pub(super) struct LogFile {
    pub date: NaiveDate,
    pub path: PathBuf,
    pub len: u64,
}

/// The audit files in `dir`, oldest first. A missing directory has none.
pub(super) fn list(dir: &Path) -> io::Result<Vec<LogFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(date) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        let meta = entry.metadata()?;
        if meta.is_file() {
            out.push(LogFile {
                date,
                path: entry.path(),
                len: meta.len(),
            });
        }
    }
    out.sort_by_key(|f| f.date);
    Ok(out)
}

/// [`list`] taken under a shared lock, so every length ends on a line boundary (writers append
/// whole batches under the exclusive lock). Without a lock file, an unlocked listing.
pub(super) fn snapshot(dir: &Path) -> io::Result<Vec<LogFile>> {
    let lock = match File::open(dir.join(LOCK_FILE)) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(l) = &lock {
        l.lock_shared()?;
    }
    let listing = list(dir);
    if let Some(l) = &lock {
        l.unlock()?;
    }
    listing
}

pub(super) fn open_lock(dir: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(dir.join(LOCK_FILE))
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(offset))?;
    f.read(buf)
}

/// Whether the lock file names `name` as the current file.
pub(super) fn lock_names(lock: &File, name: &str) -> io::Result<bool> {
    let mut buf = [0u8; NAME_LEN];
    let n = read_at(lock, &mut buf, 0)?;
    Ok(n == NAME_LEN && buf == name.as_bytes())
}

pub(super) fn set_lock_name(mut lock: &File, name: &str) -> io::Result<()> {
    use std::io::{Seek, Write};
    lock.seek(io::SeekFrom::Start(0))?;
    lock.write_all(name.as_bytes())?;
    lock.set_len(name.len() as u64)
}

/// Open `path` for appending, creating it 0600 if needed; `true` when it was created.
pub(super) fn open_append(path: &Path) -> io::Result<(File, bool)> {
    let mut o = OpenOptions::new();
    o.append(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    match o.open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let f = OpenOptions::new().append(true).open(path)?;
            #[cfg(unix)]
            {
                let mode = f.metadata()?.permissions().mode();
                if mode & 0o077 != 0 {
                    f.set_permissions(fs::Permissions::from_mode(0o600))?;
                }
            }
            Ok((f, false))
        }
        Err(e) => Err(e),
    }
}

/// Whether a non-empty file does not end with a newline.
pub(super) fn lacks_final_newline(path: &Path, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(false);
    }
    let f = File::open(path)?;
    let mut last = [0u8; 1];
    let n = read_at(&f, &mut last, len - 1)?;
    Ok(n == 1 && last[0] != b'\n')
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    let _ = dir;
    Ok(())
}

/// A line from [`Lines`].
pub(super) enum Line<'a> {
    /// The line without its newline; `newline` is false for a last line cut short.
    Text { bytes: &'a [u8], newline: bool },
    /// Longer than [`MAX_LINE`]; skipped.
    TooLong,
}

/// Reads the first `len` bytes of a file line by line, never holding more than [`MAX_LINE`].
pub(super) struct Lines {
    reader: BufReader<Take<File>>,
    buf: Vec<u8>,
}

impl Lines {
    pub fn open(path: &Path, len: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(Self {
            reader: BufReader::with_capacity(256 * 1024, file.take(len)),
            buf: Vec::new(),
        })
    }

    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        let newline = self.buf.last() == Some(&b'\n');
        if !newline && self.buf.len() > MAX_LINE {
            loop {
                self.buf.clear();
                let n = (&mut self.reader)
                    .take(64 * 1024)
                    .read_until(b'\n', &mut self.buf)?;
                if n == 0 || self.buf.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Some(Line::TooLong));
        }
        if newline {
            self.buf.pop();
        }
        Ok(Some(Line::Text {
            bytes: &self.buf,
            newline,
        }))
    }
}
