//! [`AuditLog`]: the group-committing writer thread and the background fsync thread.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use janee_vault::SubKey;
use tokio::sync::oneshot;

use super::chain::{self, Chain};
use super::files;
use super::{AuditError, EventKind, Record};

/// Source of the current time; replaced in tests to cross midnight.
pub(super) type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Dirty files are fsynced at most this long after their write.
const SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Upper bounds of one group commit.
const MAX_BATCH: usize = 4096;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Handle to the audit log of one `logs/` directory. Cheap to clone; all clones feed one writer
/// thread, which stops (after a final fsync) when the last clone is dropped.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    dir: PathBuf,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

enum Reply<T> {
    Async(oneshot::Sender<Result<T, AuditError>>),
    Blocking(mpsc::SyncSender<Result<T, AuditError>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T, AuditError>) {
        // A caller that went away no longer needs the answer; its record is written regardless.
        match self {
            Self::Async(tx) => {
                let _ = tx.send(result);
            }
            Self::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

enum Msg {
    Append { fields: String, reply: Reply<u64> },
    Flush(Reply<()>),
}

impl AuditLog {
    /// Open (creating `logs_dir` 0700 if needed) and start the writer. Reads the chain tail of
    /// the newest file; a damaged tail is recorded with a `chain-resume` event on first append.
    pub async fn open(logs_dir: &Path, key: SubKey) -> Result<Self, AuditError> {
        let dir = logs_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir, key))
            .await
            .map_err(|e| AuditError::io("open", logs_dir)(io::Error::other(e)))?
    }

    /// [`AuditLog::open`] for callers without an async runtime (CLI commands).
    pub fn open_blocking(logs_dir: &Path, key: SubKey) -> Result<Self, AuditError> {
        Self::open_with_clock(logs_dir, key, Arc::new(Utc::now))
    }

    pub(super) fn open_with_clock(
        logs_dir: &Path,
        key: SubKey,
        clock: Clock,
    ) -> Result<Self, AuditError> {
        let dir = logs_dir.to_path_buf();
        janee_vault::fsutil::ensure_private_dir(&dir).map_err(AuditError::io("create", &dir))?;
        let lock_path = dir.join(files::LOCK_FILE);
        let lock = files::open_lock(&dir).map_err(AuditError::io("open", &lock_path))?;
        let mut writer = Writer {
            dir: dir.clone(),
            clock,
            lock,
            cur: None,
            chain: Chain {
                key: chain::mac_key(&key),
                seq: 0,
                prev: chain::ZERO_MAC,
            },
            resume_note: None,
            needs_newline: false,
            sync: Arc::new(SyncShared {
                dir: dir.clone(),
                dir_dirty: AtomicBool::new(false),
                dirty: Mutex::default(),
                error: Mutex::default(),
                stop: AtomicBool::new(false),
            }),
            buf: String::new(),
        };
        // Read the tail now so that an unreadable log fails here rather than on the first call.
        writer.locked(|w| {
            let today = (w.clock)().date_naive();
            w.resync(today)
        })?;
        let spawn_err = AuditError::io("start a thread for", &dir);
        let sync = writer.sync.clone();
        let syncer = thread::Builder::new()
            .name("janee-audit-sync".into())
            .spawn(move || sync_loop(&sync))
            .map_err(spawn_err)?;
        let (shared, syncer_thread) = (writer.sync.clone(), syncer.thread().clone());
        let (tx, rx) = mpsc::channel();
        if let Err(e) = thread::Builder::new()
            .name("janee-audit".into())
            .spawn(move || writer.run(&rx, syncer))
        {
            shared.stop.store(true, Ordering::Release);
            syncer_thread.unpark();
            return Err(AuditError::io("start a thread for", &dir)(e));
        }
        Ok(Self {
            inner: Arc::new(Inner { tx, dir }),
        })
    }

    /// The `logs/` directory written to.
    pub fn logs_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Append a record; returns its sequence number once the line has been written to the OS
    /// (not necessarily fsynced: that follows within 100 ms, or on [`AuditLog::flush`]).
    /// Dropping the future after it was first polled does not cancel the write.
    pub async fn append(&self, rec: Record) -> Result<u64, AuditError> {
        let fields = rec.encode_fields()?;
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Append {
            fields,
            reply: Reply::Async(tx),
        })?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::append`] for synchronous callers (CLI commands). Blocks the thread; do not
    /// call it from async code.
    pub fn append_blocking(&self, rec: Record) -> Result<u64, AuditError> {
        let fields = rec.encode_fields()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Msg::Append {
            fields,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv().map_err(|_| AuditError::Closed)?
    }

    /// Fsync everything appended so far (call at shutdown). Also reports a failure of a
    /// background fsync since the last flush.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Flush(Reply::Async(tx)))?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::flush`] for synchronous callers.
    pub fn flush_blocking(&self) -> Result<(), AuditError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Msg::Flush(Reply::Blocking(tx)))?;
        rx.recv().map_err(|_| AuditError::Closed)?
    }

    fn send(&self, msg: Msg) -> Result<(), AuditError> {
        self.inner.tx.send(msg).map_err(|_| AuditError::Closed)
    }
}

/// Files written but not yet fsynced, shared with the fsync thread.
struct SyncShared {
    dir: PathBuf,
    /// A file was created in `dir` since its last fsync.
    dir_dirty: AtomicBool,
    dirty: Mutex<Vec<Arc<File>>>,
    error: Mutex<Option<io::Error>>,
    stop: AtomicBool,
}

impl SyncShared {
    fn mark_dirty(&self, file: &Arc<File>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
        if !dirty.iter().any(|f| Arc::ptr_eq(f, file)) {
            dirty.push(file.clone());
        }
    }

    /// Fsync the dirty files (and the directory after a file was created); the list lock is
    /// not held during the fsync.
    fn sync_dirty(&self) -> io::Result<()> {
        let files = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(PoisonError::into_inner));
        let mut result = Ok(());
        if self.dir_dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = files::sync_dir(&self.dir)
        {
            self.dir_dirty.store(true, Ordering::Release);
            result = Err(e);
        }
        for f in files {
            if let Err(e) = f.sync_data() {
                result = Err(e);
            }
        }
        result
    }
}

fn sync_loop(shared: &SyncShared) {
    loop {
        thread::park_timeout(SYNC_INTERVAL);
        let stop = shared.stop.load(Ordering::Acquire);
        if let Err(e) = shared.sync_dirty() {
            *shared.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
        }
        if stop {
            return;
        }
    }
}

/// Sort a message into the batch; returns the bytes it adds.
fn take(msg: Msg, appends: &mut Vec<(String, Reply<u64>)>, flushes: &mut Vec<Reply<()>>) -> usize {
    match msg {
        Msg::Append { fields, reply } => {
            let n = fields.len();
            appends.push((fields, reply));
            n
        }
        Msg::Flush(reply) => {
            flushes.push(reply);
            0
        }
    }
}

/// The file being appended to.
struct Current {
    name: String,
    path: PathBuf,
    date: NaiveDate,
    file: Arc<File>,
    /// Its length after our last write; anything else means another process wrote.
    len: u64,
}

struct Writer {
    dir: PathBuf,
    clock: Clock,
    lock: File,
    /// `None` until the tail has been read, and after a failed write.
    cur: Option<Current>,
    chain: Chain,
    /// A damaged tail found by the last resync, written as a `chain-resume` event next.
    resume_note: Option<String>,
    /// The file ends in a partial line; start the next write with a newline.
    needs_newline: bool,
    sync: Arc<SyncShared>,
    buf: String,
}

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Msg>, syncer: thread::JoinHandle<()>) {
        let mut appends: Vec<(String, Reply<u64>)> = Vec::new();
        let mut flushes: Vec<Reply<()>> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut bytes = take(first, &mut appends, &mut flushes);
            while appends.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(msg) => bytes += take(msg, &mut appends, &mut flushes),
                    Err(_) => break,
                }
            }
            if !appends.is_empty() {
                match self.locked(|w| w.write_batch(&appends)) {
                    Ok(first_seq) => {
                        for (seq, (_, reply)) in (first_seq..).zip(appends.drain(..)) {
                            reply.send(Ok(seq));
                        }
                    }
                    Err(e) => {
                        for (_, reply) in appends.drain(..) {
                            reply.send(Err(e.duplicate()));
                        }
                    }
                }
            }
            if !flushes.is_empty() {
                let result = self.flush();
                for reply in flushes.drain(..) {
                    reply.send(result.as_ref().map(|_| ()).map_err(AuditError::duplicate));
                }
            }
        }
        // Every handle is gone: final fsync, then stop the fsync thread.
        let _ = self.flush();
        self.sync.stop.store(true, Ordering::Release);
        syncer.thread().unpark();
        let _ = syncer.join();
    }

    /// Run `f` under the cross-process lock.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let lock_path = self.dir.join(files::LOCK_FILE);
        self.lock
            .lock()
            .map_err(AuditError::io("lock", &lock_path))?;
        let result = f(self);
        let unlocked = self
            .lock
            .unlock()
            .map_err(AuditError::io("unlock", &lock_path));
        let value = result?;
        unlocked?;
        Ok(value)
    }

    /// Chain and write one batch; returns the sequence number of its first caller's record.
    fn write_batch(&mut self, batch: &[(String, Reply<u64>)]) -> Result<u64, AuditError> {
        // Time is taken under the lock, so times never go backwards between processes.
        let now = (self.clock)();
        let today = now.date_naive();
        if !self.still_current(today)? {
            self.resync(today)?;
        }
        let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.buf.clear();
        if self.needs_newline {
            self.buf.push('\n');
        }
        if let Some(note) = self.resume_note.take() {
            let mut rec = Record::new(EventKind::ChainResume);
            rec.detail = Some(note);
            let fields = rec.encode_fields()?;
            self.chain.push_line(&mut self.buf, &time, &fields);
        }
        let first = self.chain.seq + 1;
        for (fields, _) in batch {
            self.chain.push_line(&mut self.buf, &time, fields);
        }
        let Some(cur) = self.cur.as_mut() else {
            return Err(AuditError::Closed);
        };
        match (&*cur.file).write_all(self.buf.as_bytes()) {
            Ok(()) => {
                cur.len += self.buf.len() as u64;
                self.needs_newline = false;
                self.sync.mark_dirty(&cur.file);
                Ok(first)
            }
            Err(e) => {
                // Part of the batch may be on disk: re-read the tail before the next write.
                let err = AuditError::io("append to", &cur.path)(e);
                self.cur = None;
                Err(err)
            }
        }
    }

    /// Fast path: same day (or the clock went back), the lock file still names our file, and our
    /// file has the length we left it at. Then nobody else has written since our last batch.
    fn still_current(&self, today: NaiveDate) -> Result<bool, AuditError> {
        let Some(cur) = &self.cur else {
            return Ok(false);
        };
        if today > cur.date {
            return Ok(false);
        }
        let lock_path = self.dir.join(files::LOCK_FILE);
        if !files::lock_names(&self.lock, &cur.name).map_err(AuditError::io("read", &lock_path))? {
            return Ok(false);
        }
        let len = cur
            .file
            .metadata()
            .map_err(AuditError::io("stat", &cur.path))?
            .len();
        Ok(len == cur.len)
    }

    /// Re-read the chain tail and pick the file to append to: today's, or a newer one if one
    /// exists (the chain must run through files in date order).
    fn resync(&mut self, today: NaiveDate) -> Result<(), AuditError> {
        self.cur = None;
        let listing = files::list(&self.dir).map_err(AuditError::io("list", &self.dir))?;
        let date = listing.last().map_or(today, |f| f.date.max(today));
        let name = files::file_name(date);
        let path = self.dir.join(&name);
        let (file, created) = files::open_append(&path).map_err(AuditError::io("open", &path))?;
        if created {
            // The new directory entry is made durable by the fsync thread, not under the lock.
            self.sync.dir_dirty.store(true, Ordering::Release);
        }
        let len = file
            .metadata()
            .map_err(AuditError::io("stat", &path))?
            .len();
        let mut newest_first: Vec<&Path> = listing
            .iter()
            .filter(|f| f.date < date)
            .map(|f| f.path.as_path())
            .collect();
        newest_first.push(&path);
        newest_first.reverse();
        let tail = chain::find_tail(&newest_first, &self.chain.key)
            .map_err(AuditError::io("read the tail of", &path))?;
        self.needs_newline =
            files::lacks_final_newline(&path, len).map_err(AuditError::io("read", &path))?;
        self.chain.seq = tail.seq;
        self.chain.prev = tail.mac;
        self.resume_note = tail.note;
        let lock_path = self.dir.join(files::LOCK_FILE);
        if !files::lock_names(&self.lock, &name).map_err(AuditError::io("read", &lock_path))? {
            files::set_lock_name(&self.lock, &name).map_err(AuditError::io("write", &lock_path))?;
        }
        self.cur = Some(Current {
            name,
            path,
            date,
            file: Arc::new(file),
            len,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), AuditError> {
        let path = self
            .cur
            .as_ref()
            .map_or(self.dir.clone(), |c| c.path.clone());
        let mut result = self.sync.sync_dirty();
        if let Some(cur) = &self.cur
            && result.is_ok()
        {
            result = cur.file.sync_data();
        }
        if let Some(e) = self
            .sync
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            && result.is_ok()
        {
            result = Err(e);
        }
        result.map_err(AuditError::io("sync", &path))
    }
}
