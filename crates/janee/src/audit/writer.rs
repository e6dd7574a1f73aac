//! [`AuditLog`]: group-committed appends written by the calling thread, and the background
//! fsync thread.
//!
//! Whoever appends while no batch is being written writes its own record at once, on its own
//! thread. Records appended while a batch is being written wait in a queue; the thread writing
//! takes the whole queue as its next batch (one lock cycle, one `write(2)`) before it lets go,
//! and then answers each waiting caller. So under load many calls share one write, and alone a
//! call pays no hand-over to another thread.
//!
//! Calls announce the record they will write ([`AuditLog::coming`]). An async append made
//! while other records are coming queues its record and yields once to the runtime first, so
//! the calls that finish in the same turn of the scheduler share its write.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};
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

/// Handle to the audit log of one `logs/` directory. Cheap to clone; when the last clone is
/// dropped, the log is fsynced a final time and the fsync thread stops.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// The chain and the open file. Held while one batch is written.
    writer: Mutex<Writer>,
    /// Records waiting for the thread that holds `writer`.
    queue: Mutex<Vec<(String, Reply<u64>)>>,
    /// Calls that announced a record ([`AuditLog::coming`]) and have not finished.
    coming: AtomicUsize,
    /// Batches written (one `write(2)` each).
    batches: AtomicUsize,
    syncer: Option<thread::JoinHandle<()>>,
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

impl AuditLog {
    /// Open (creating `logs_dir` 0700 if needed) and start the fsync thread. Reads the chain
    /// tail of the newest file; a damaged tail is recorded with a `chain-resume` event on first
    /// append.
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
        let sync = writer.sync.clone();
        let syncer = thread::Builder::new()
            .name("janee-audit-sync".into())
            .spawn(move || sync_loop(&sync))
            .map_err(AuditError::io("start a thread for", &dir))?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                writer: Mutex::new(writer),
                queue: Mutex::default(),
                coming: AtomicUsize::new(0),
                batches: AtomicUsize::new(0),
                syncer: Some(syncer),
            }),
        })
    }

    /// The `logs/` directory written to.
    pub fn logs_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Append a record; returns its sequence number once the line has been written to the OS
    /// (not necessarily fsynced: that follows within 100 ms, or on [`AuditLog::flush`]).
    /// The record is written, or queued for the batch being written, on the first poll:
    /// dropping the future after that does not cancel the write.
    pub async fn append(&self, rec: Record) -> Result<u64, AuditError> {
        let fields = rec.encode_fields()?;
        if self.inner.coming.load(Ordering::Relaxed) > 1 {
            // Others are on their way: let them queue their records behind this one, then write
            // the lot (or leave it to whoever is writing already).
            let (tx, rx) = oneshot::channel();
            self.inner.queue().push((fields, Reply::Async(tx)));
            let pick_up = PickUp(&self.inner);
            tokio::task::yield_now().await;
            drop(pick_up);
            return rx.await.map_err(|_| AuditError::Closed)?;
        }
        let fields = match self.inner.write_now(fields) {
            Ok(result) => return result,
            Err(fields) => fields,
        };
        let (tx, rx) = oneshot::channel();
        self.inner.enqueue(fields, Reply::Async(tx));
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Announce a record this call will append: while the guard lives, other appends may wait
    /// a moment to share one write with it.
    pub fn coming(&self) -> Coming<'_> {
        self.inner.coming.fetch_add(1, Ordering::Relaxed);
        Coming(&self.inner)
    }

    /// How many batches this handle's log has written.
    pub fn batches_written(&self) -> usize {
        self.inner.batches.load(Ordering::Relaxed)
    }

    /// [`AuditLog::append`] for synchronous callers (CLI commands). Blocks the thread; do not
    /// call it from async code.
    pub fn append_blocking(&self, rec: Record) -> Result<u64, AuditError> {
        let fields = rec.encode_fields()?;
        let fields = match self.inner.write_now(fields) {
            Ok(result) => return result,
            Err(fields) => fields,
        };
        let (tx, rx) = mpsc::sync_channel(1);
        self.inner.enqueue(fields, Reply::Blocking(tx));
        rx.recv().map_err(|_| AuditError::Closed)?
    }

    /// Fsync everything appended so far (call at shutdown). Also reports a failure of a
    /// background fsync since the last flush.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush())
            .await
            .map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::flush`] for synchronous callers.
    pub fn flush_blocking(&self) -> Result<(), AuditError> {
        self.inner.flush()
    }
}

/// A call's announcement of its coming record ([`AuditLog::coming`]); withdrawn on drop.
#[must_use = "the announcement ends when the guard is dropped"]
pub struct Coming<'a>(&'a Inner);

impl fmt::Debug for Coming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Coming")
    }
}

impl Drop for Coming<'_> {
    fn drop(&mut self) {
        self.0.coming.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Writes what is queued when dropped: after the yield of an append, or when its future is
/// dropped during that yield (the record is never left waiting for a writer that may not come).
struct PickUp<'a>(&'a Inner);

impl Drop for PickUp<'_> {
    fn drop(&mut self) {
        self.0.pick_up_queued();
    }
}

impl Inner {
    fn try_writer(&self) -> Option<MutexGuard<'_, Writer>> {
        match self.writer.try_lock() {
            Ok(w) => Some(w),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn queue(&self) -> MutexGuard<'_, Vec<(String, Reply<u64>)>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write `fields` on this thread if no batch is being written (with whatever else is
    /// queued); hands `fields` back otherwise.
    fn write_now(&self, fields: String) -> Result<Result<u64, AuditError>, String> {
        let Some(mut w) = self.try_writer() else {
            return Err(fields);
        };
        let result = self.write_batches(&mut w, Some(fields));
        drop(w);
        self.pick_up_queued();
        Ok(result.unwrap_or(Err(AuditError::Closed)))
    }

    /// Queue a record for the thread writing now, or write it if that thread has just let go.
    fn enqueue(&self, fields: String, reply: Reply<u64>) {
        self.queue().push((fields, reply));
        self.pick_up_queued();
    }

    /// Whoever queues a record or lets go of the writer looks at the queue afterwards, so no
    /// record is left behind: a record queued while the writer is held is seen by its holder
    /// once it lets go.
    fn pick_up_queued(&self) {
        while !self.queue().is_empty() {
            let Some(mut w) = self.try_writer() else {
                return;
            };
            self.write_batches(&mut w, None);
        }
    }

    /// Holding the writer: write `own` (first) and everything queued, batch after batch, until
    /// the queue is empty; answer every queued caller. Returns the result for `own`.
    fn write_batches(
        &self,
        w: &mut Writer,
        mut own: Option<String>,
    ) -> Option<Result<u64, AuditError>> {
        let mut own_result = None;
        loop {
            let mut batch = Vec::new();
            let mut bytes = 0;
            if let Some(fields) = own.take() {
                bytes += fields.len();
                batch.push((fields, None));
            }
            {
                let mut queue = self.queue();
                let mut taken = 0;
                for (fields, _) in queue.iter() {
                    if batch.len() + taken >= MAX_BATCH || bytes >= MAX_BATCH_BYTES {
                        break;
                    }
                    bytes += fields.len();
                    taken += 1;
                }
                batch.extend(queue.drain(..taken).map(|(f, r)| (f, Some(r))));
            }
            if batch.is_empty() {
                return own_result;
            }
            let lines: Vec<&str> = batch.iter().map(|(f, _)| f.as_str()).collect();
            let result = w.locked(|w| w.write_batch(&lines));
            self.batches.fetch_add(1, Ordering::Relaxed);
            for (seq, (_, reply)) in (0..).zip(batch) {
                let answer = match &result {
                    Ok(first) => Ok(first + seq),
                    Err(e) => Err(e.duplicate()),
                };
                match reply {
                    Some(reply) => reply.send(answer),
                    None => own_result = Some(answer),
                }
            }
        }
    }

    fn flush(&self) -> Result<(), AuditError> {
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.write_batches(&mut w, None);
        let result = w.flush();
        drop(w);
        self.pick_up_queued();
        result
    }
}

impl Drop for Inner {
    /// The last handle is gone: a final fsync, then stop the fsync thread.
    fn drop(&mut self) {
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let queued = std::mem::take(self.queue.get_mut().unwrap_or_else(PoisonError::into_inner));
        if !queued.is_empty() {
            let lines: Vec<&str> = queued.iter().map(|(f, _)| f.as_str()).collect();
            let result = w.locked(|w| w.write_batch(&lines));
            for (seq, (_, reply)) in (0..).zip(queued) {
                reply.send(
                    result
                        .as_ref()
                        .map(|first| first + seq)
                        .map_err(AuditError::duplicate),
                );
            }
        }
        let _ = w.flush();
        w.sync.stop.store(true, Ordering::Release);
        if let Some(syncer) = self.syncer.take() {
            syncer.thread().unpark();
            let _ = syncer.join();
        }
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
    fn write_batch(&mut self, batch: &[&str]) -> Result<u64, AuditError> {
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
        for fields in batch {
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
