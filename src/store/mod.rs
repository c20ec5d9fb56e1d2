//! Storage: everything lives in one redb file.
//!
//! Each public operation is one redb transaction. Reads run on smol's blocking pool
//! ([`Store::read`]); writes go to a single writer thread ([`Store::write`]) that runs every job
//! queued at that moment in one transaction and one durable commit (group commit), then publishes
//! change events to the [`Hub`] and only then answers the callers. A lone write from a
//! blocking-pool thread may run the same way on that thread ([`Store::submit_here`]). A
//! caller's `Ok` therefore means "durably committed and announced".
//!
//! Invariant for write jobs: a job that returns `Err` has not written anything (every operation
//! checks first, then writes), so one job's refusal never affects the others in its batch. A
//! panic inside a job aborts the whole batch (nothing of it is committed) and fails its callers.
//!
//! Layout: `schema` (tables and records), `codec` (record encoding), `user`, `mailbox`,
//! `message` (operations), `delivery` (one incoming message into several mailboxes), `blob`
//! (message content in compressed chunks), `file` (the data file, its tail written ahead).

pub mod acl;
pub mod blob;
pub mod codec;
pub mod delivery;
pub mod file;
pub mod mailbox;
pub mod message;
pub mod schema;
pub mod user;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use log::{error, info};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction,
};

use crate::notify::Hub;
use schema::*;

/// Errors of storage operations: user-level conditions, or internal failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NoSuchMailbox,
    MailboxExists,
    /// The operation is not possible on this mailbox (INBOX delete, noselect, …).
    Cannot(&'static str),
    NoSuchUser,
    UserExists,
    OverQuota,
    /// The database file is held by another process (a running server).
    Locked,
    /// Corruption or I/O failure; the text is for the log only.
    Internal(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NoSuchMailbox => f.write_str("Mailbox does not exist"),
            StoreError::MailboxExists => f.write_str("Mailbox already exists"),
            StoreError::Cannot(why) => f.write_str(why),
            StoreError::NoSuchUser => f.write_str("No such user"),
            StoreError::UserExists => f.write_str("User already exists"),
            StoreError::OverQuota => f.write_str("Quota exceeded"),
            StoreError::Locked => f.write_str("Database is in use by another process"),
            StoreError::Internal(e) => write!(f, "internal storage error: {e}"),
        }
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Internal(e.to_string())
            }
        }
    )*};
}
internal_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<codec::Corrupt> for StoreError {
    fn from(_: codec::Corrupt) -> Self {
        StoreError::Internal("corrupt record".into())
    }
}

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked,
            e => StoreError::Internal(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write transaction plus the change events to publish after it commits.
pub struct Tx<'a> {
    pub txn: &'a WriteTransaction,
    /// Mailboxes whose messages changed (published after commit).
    changed: Vec<u64>,
}

impl Tx<'_> {
    /// Records that `mailbox` changed, for the hub.
    pub fn touch(&mut self, mailbox: u64) {
        if !self.changed.contains(&mailbox) {
            self.changed.push(mailbox);
        }
    }
}

type Completion = Box<dyn FnOnce(Option<StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Completion + Send>;

/// Most jobs committed together.
const MAX_BATCH: usize = 128;
/// Longest the writer holds a batch open for writes still on their way (group commit delay).
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<Database>,
    /// Closes the queue when the last handle goes, so the writer thread ends and lets go of
    /// the database.
    queue: Arc<Open>,
    hub: Arc<Hub>,
    /// Writes on their way to the writer (content being received or prepared).
    coming: Arc<AtomicUsize>,
}

/// Counts one write on its way while alive ([`Store::coming`]).
pub struct Coming(Arc<AtomicUsize>);

impl Drop for Coming {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Store {
    /// Opens (or creates) the database at `path` with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: usize, hub: Arc<Hub>) -> Result<Store> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Internal(format!("{}: {e}", path.display())))?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create_with_backend(file::DataFile::new(file)?)?;
        let db = Arc::new(db);
        init_schema(&db)?;
        let queue = Arc::new(Queue::default());
        let (wdb, whub, wqueue) = (db.clone(), hub.clone(), queue.clone());
        let coming = Arc::new(AtomicUsize::new(0));
        let wcoming = coming.clone();
        std::thread::Builder::new()
            .name("redb-writer".into())
            .spawn(move || writer_loop(&wdb, &wqueue, &whub, &wcoming))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Store {
            db,
            queue: Arc::new(Open(queue)),
            hub,
            coming,
        })
    }

    /// Announces a write on its way (a message being received or prepared for APPEND or
    /// delivery): while any is, the writer holds a batch open up to [`GATHER`], so concurrent
    /// writers share one durable commit (two fsyncs) instead of queueing for one each. Drop the
    /// guard just before submitting the write, or when it will not come.
    pub fn coming(&self) -> Coming {
        self.coming.fetch_add(1, Ordering::AcqRel);
        Coming(self.coming.clone())
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        smol::unblock(move || f(&db.begin_read()?)).await
    }

    /// A snapshot for code already on the blocking pool (inside `smol::unblock`), which can
    /// close it and then [`Store::submit`] a write from the same thread.
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    /// Queues `f` for the writer; resolves once its batch is durably committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.submit(f)?.committed().await
    }

    /// Queues `f` for the writer thread without waiting, from any thread.
    pub fn submit<T, F>(&self, f: F) -> Result<Pending<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (job, pending) = job(f);
        let queue = &self.queue.0;
        let mut waiting = queue.lock();
        if waiting.closed {
            return Err(StoreError::Internal("writer stopped".into()));
        }
        waiting.jobs.push(job);
        drop(waiting);
        queue.wake.notify_one();
        Ok(pending)
    }

    /// [`Store::submit`] for a blocking-pool thread (inside `smol::unblock`, never on the
    /// executor): when no commit is running, nothing is queued and no other write is on its
    /// way, this thread commits `f` itself, the way the writer thread would, and returns once
    /// it is durable. A lone delivery thus skips the hand-off to the writer thread (a thread
    /// wake-up, 15-30 us, on the path to its 250). Otherwise `f` is queued for the writer.
    pub fn submit_here<T, F>(&self, f: F) -> Result<Pending<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let queue = &self.queue.0;
        let mut waiting = queue.lock();
        if waiting.busy || !waiting.jobs.is_empty() || self.coming.load(Ordering::Acquire) > 0 {
            drop(waiting);
            return self.submit(f);
        }
        waiting.busy = true;
        drop(waiting);
        let (job, pending) = job(f);
        let _busy = Busy(queue);
        commit_batch(&self.db, vec![job], &self.hub);
        Ok(pending)
    }
}

/// A job for the queue, and the caller's side of its answer.
fn job<T, F>(f: F) -> (Job, Pending<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
{
    let (send, recv) = smol::channel::bounded(1);
    let job: Job = Box::new(move |tx| {
        let r = f(tx);
        Box::new(move |commit_err| {
            let _ = send.try_send(match commit_err {
                Some(e) => Err(e),
                None => r,
            });
        })
    });
    (job, Pending(recv))
}

/// Writes waiting for a commit. One commit runs at a time: the writer thread's or, when it is
/// idle, that of a blocking-pool thread with a lone write ([`Store::submit_here`]); `busy` says
/// one is running, and whoever clears it wakes the writer for what queued up meanwhile.
#[derive(Default)]
struct Queue {
    waiting: Mutex<Waiting>,
    /// Only the writer thread waits on it.
    wake: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    busy: bool,
    /// Every [`Store`] handle is gone: the writer thread finishes the queue and ends.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A job's panic is caught inside the batch; nothing panics while this lock is held.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Clears `busy` when a commit ends (even by a panic) and wakes the writer if jobs queued up.
struct Busy<'a>(&'a Queue);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut waiting = self.0.lock();
        waiting.busy = false;
        let more = !waiting.jobs.is_empty();
        drop(waiting);
        if more {
            self.0.wake.notify_one();
        }
    }
}

/// Held by every [`Store`] handle through one `Arc`: dropping the last closes the queue.
struct Open(Arc<Queue>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// A queued write ([`Store::submit`]).
pub struct Pending<T>(smol::channel::Receiver<Result<T>>);

impl<T> Pending<T> {
    /// The job's result once its batch is durably committed (or the commit's error).
    pub async fn committed(self) -> Result<T> {
        self.0
            .recv()
            .await
            .map_err(|_| StoreError::Internal("write aborted".into()))?
    }
}

/// Creates the tables and META counters on first open and checks the schema version.
fn init_schema(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let version = meta.get("schema")?.map(|v| v.value());
        match version {
            None => {
                meta.insert("schema", SCHEMA_VERSION)?;
                meta.insert("next_mailbox_id", 1)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs());
                meta.insert("last_uidvalidity", now.min(u64::from(u32::MAX) / 2))?;
                info!("created new database (schema {SCHEMA_VERSION})");
            }
            Some(SCHEMA_VERSION) => {}
            // Older files are readable as they are, but older binaries cannot use what this one
            // writes, so the mark moves up: from 2 on, chunks may be base64 runs stored decoded;
            // from 3 on, blob ids follow the last BLOBS key instead of META `next_blob_id` and
            // usage is summed from the mailbox records instead of kept in the user records
            // (version 1 user records still decode; their old counters are ignored).
            Some(v @ (1 | 2)) => {
                meta.remove("next_blob_id")?;
                meta.insert("schema", SCHEMA_VERSION)?;
                info!("database schema upgraded from {v} to {SCHEMA_VERSION}");
            }
            Some(v) => return Err(StoreError::Internal(format!("unknown schema version {v}"))),
        }
        txn.open_table(USERS)?;
        txn.open_table(MAILBOXES)?;
        txn.open_table(MAILBOX_NAMES)?;
        txn.open_table(SUBSCRIPTIONS)?;
        txn.open_table(MESSAGES)?;
        txn.open_table(CHANGES)?;
        txn.open_table(BLOBS)?;
        txn.open_table(CHUNKS)?;
        txn.open_table(acl::SEEN)?;
        txn.open_table(SIEVE)?;
    }
    txn.commit()?;
    Ok(())
}

/// The writer thread: batch, run, commit durably, publish, answer.
fn writer_loop(db: &Database, queue: &Queue, hub: &Hub, coming: &AtomicUsize) {
    let mut waiting = queue.lock();
    loop {
        if waiting.busy || waiting.jobs.is_empty() {
            if waiting.closed && !waiting.busy && waiting.jobs.is_empty() {
                return;
            }
            waiting = queue.wake.wait(waiting).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        waiting.busy = true;
        let mut batch = take(&mut waiting.jobs, MAX_BATCH);
        let until = std::time::Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            if !waiting.jobs.is_empty() {
                batch.extend(take(&mut waiting.jobs, MAX_BATCH - batch.len()));
                continue;
            }
            // Nothing queued: wait briefly, and only if more writes are on their way.
            let now = std::time::Instant::now();
            if coming.load(Ordering::Acquire) == 0 || now >= until {
                break;
            }
            waiting = queue
                .wake
                .wait_timeout(waiting, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(waiting);
        {
            let _busy = Busy(queue);
            commit_batch(db, batch, hub);
        }
        waiting = queue.lock();
    }
}

/// The first `n` queued jobs, in order.
fn take(jobs: &mut Vec<Job>, n: usize) -> Vec<Job> {
    if jobs.len() <= n {
        std::mem::take(jobs)
    } else {
        jobs.drain(..n).collect()
    }
}

/// Runs `batch` in one transaction and commits it durably, then publishes its changes and
/// answers every job (in that order: a caller's `Ok` means durable and announced).
fn commit_batch(db: &Database, batch: Vec<Job>, hub: &Hub) {
    let n = batch.len();
    match run_batch(db, batch) {
        Ok((changed, done)) => {
            for mailbox in changed {
                hub.publish(mailbox);
            }
            for d in done {
                d(None);
            }
        }
        Err((e, done)) => {
            error!("write batch of {n} failed: {e}");
            for d in done {
                d(Some(e.clone()));
            }
        }
    }
}

type BatchResult = std::result::Result<(Vec<u64>, Vec<Completion>), (StoreError, Vec<Completion>)>;

fn run_batch(db: &Database, batch: Vec<Job>) -> BatchResult {
    let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
    let txn = match begin(db) {
        Ok(t) => t,
        Err(e) => {
            // Run nothing; every job's sender is dropped, and its caller sees an error.
            return Err((e, done));
        }
    };
    let mut tx = Tx {
        txn: &txn,
        changed: Vec::new(),
    };
    for job in batch {
        match catch_unwind(AssertUnwindSafe(|| job(&mut tx))) {
            Ok(d) => done.push(d),
            Err(_) => return Err((StoreError::Internal("panic in write job".into()), done)),
        }
    }
    let changed = std::mem::take(&mut tx.changed);
    drop(tx);
    match txn.commit() {
        Ok(()) => Ok((changed, done)),
        Err(e) => Err((e.into(), done)),
    }
}

fn begin(db: &Database) -> Result<WriteTransaction> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    // Message content is attacker-controlled: do not rely on checksums alone (redb docs).
    txn.set_two_phase_commit(true);
    Ok(txn)
}

/// Reads and increments a META counter.
pub(crate) fn next_counter(txn: &WriteTransaction, key: &str) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let v = meta.get(key)?.map_or(1, |v| v.value());
    meta.insert(key, v + 1)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::codec::Writer;
    use super::*;

    /// A schema 2 file (META `next_blob_id`, a version 1 user record with usage counters) opens
    /// as schema 3: the counter is gone, the account still reads, and its usage is the sum of
    /// its mailboxes whatever the old counters said.
    #[test]
    fn schema_2_files_are_upgraded() {
        let dir = std::env::temp_dir().join(format!("postfach-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("schema", 2).unwrap();
                meta.insert("next_mailbox_id", 1).unwrap();
                meta.insert("next_blob_id", 7).unwrap();
                meta.insert("last_uidvalidity", 1000).unwrap();
                let mut w = Writer::new(1);
                w.str("$argon2id$x").opt_u64(Some(1 << 20)).opt_u64(None);
                w.u64(12345).u64(99); // the old usage counters, stale on purpose
                let rec = w.finish();
                txn.open_table(USERS)
                    .unwrap()
                    .insert("alice", rec.as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path, 1 << 20, Hub::new()).unwrap();
        let rtx = store.begin_read().unwrap();
        let meta = rtx.open_table(META).unwrap();
        assert_eq!(meta.get("schema").unwrap().map(|v| v.value()), Some(3));
        assert!(meta.get("next_blob_id").unwrap().is_none());
        drop((meta, rtx));
        let (rec, used) = smol::block_on(store.user_quota("alice".into()))
            .unwrap()
            .unwrap();
        assert_eq!(rec.quota_storage, Some(1 << 20));
        assert_eq!(used, Usage::default());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A lone write from a blocking thread commits on that thread; with another write on its
    /// way it goes to the writer thread (which holds the batch open for it); either way it is
    /// committed and visible when its `Pending` resolves, and the writer ends with the store.
    #[test]
    fn lone_writes_commit_on_the_calling_thread() {
        let dir = std::env::temp_dir().join(format!("postfach-lone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("data.redb"), 1 << 20, Hub::new()).unwrap();
        let put = |store: &Store, key: &'static str| {
            store
                .submit_here(move |tx| {
                    tx.txn.open_table(META)?.insert(key, 1)?;
                    Ok(std::thread::current().name().map(str::to_string))
                })
                .unwrap()
        };
        let here = std::thread::current().name().map(str::to_string);
        let alone = smol::block_on(put(&store, "test_alone").committed()).unwrap();
        assert_eq!(alone, here);
        let announced = store.coming();
        let queued = put(&store, "test_queued");
        drop(announced);
        let by = smol::block_on(queued.committed()).unwrap();
        assert_eq!(by.as_deref(), Some("redb-writer"));
        let rtx = store.begin_read().unwrap();
        let meta = rtx.open_table(META).unwrap();
        for key in ["test_alone", "test_queued"] {
            assert_eq!(meta.get(key).unwrap().map(|v| v.value()), Some(1));
        }
        drop((meta, rtx));
        let db = store.db.clone();
        drop(store);
        // The writer thread lets go of the database once the last handle is gone.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&db) > 1 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(Arc::strong_count(&db), 1);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
