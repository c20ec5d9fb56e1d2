//! Storage: everything lives in one redb file.
//!
//! Each public operation is one redb transaction. Reads run on smol's blocking pool
//! ([`Store::read`]); writes go to a single writer thread ([`Store::write`]) that runs every job
//! queued at that moment in one transaction and one durable commit (group commit), then publishes
//! change events to the [`Hub`] and only then answers the callers. A caller's `Ok` therefore means
//! "durably committed and announced".
//!
//! Invariant for write jobs: a job that returns `Err` has not written anything (every operation
//! checks first, then writes), so one job's refusal never affects the others in its batch. A
//! panic inside a job aborts the whole batch (nothing of it is committed) and fails its callers.
//!
//! Layout: `schema` (tables and records), `codec` (record encoding), `user`, `mailbox`,
//! `message` (operations), `delivery` (one incoming message into several mailboxes), `blob`
//! (message content in compressed chunks).

pub mod acl;
pub mod blob;
pub mod codec;
pub mod delivery;
pub mod mailbox;
pub mod message;
pub mod schema;
pub mod user;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

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
    jobs: mpsc::Sender<Job>,
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
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)?;
        let db = Arc::new(db);
        init_schema(&db)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let wdb = db.clone();
        let whub = hub.clone();
        let coming = Arc::new(AtomicUsize::new(0));
        let wcoming = coming.clone();
        std::thread::Builder::new()
            .name("redb-writer".into())
            .spawn(move || writer_loop(&wdb, &rx, &whub, &wcoming))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Store {
            db,
            jobs: tx,
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

    /// Queues `f` for the writer without waiting, from any thread: a delivery prepared on the
    /// blocking pool goes straight to the writer instead of back through the executor first.
    pub fn submit<T, F>(&self, f: F) -> Result<Pending<T>>
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
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Internal("writer stopped".into()))?;
        Ok(Pending(recv))
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
fn writer_loop(db: &Database, jobs: &mpsc::Receiver<Job>, hub: &Hub, coming: &AtomicUsize) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let until = std::time::Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            if let Ok(j) = jobs.try_recv() {
                batch.push(j);
                continue;
            }
            // Nothing queued: wait briefly, and only if more writes are on their way.
            let now = std::time::Instant::now();
            if coming.load(Ordering::Acquire) == 0 || now >= until {
                break;
            }
            match jobs.recv_timeout(until - now) {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
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
}
