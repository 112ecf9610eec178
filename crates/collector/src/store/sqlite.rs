//! SQLite store: one database file in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a committed transaction survives a crash of the process
//! and of the machine. Writes start with `BEGIN IMMEDIATE` so a transaction that reads before it
//! writes never fails half-way on a lock upgrade; other writers wait up to the busy timeout.
//!
//! Report batches are committed on a connection of their own. A SQLite connection drops its
//! whole page cache when it finds that another connection wrote since its last transaction; on a
//! shared pool every batch landed on such a connection and read the pages it changes from disk
//! again. The ingest connection is the only one that writes reports, so its cache stays valid.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::BATCH_STATEMENT_CACHE;
use super::sql::{impl_store, impl_values_ingest};
use super::{
    AssetUpdate, CheckCount, Count, DayCount, DeviceDetail, DeviceFilter, DeviceSummary,
    Enrollment, FindingSummary, FleetSummary, IngestItem, IngestOutcome, Inventory, LatestFinding,
    OpenOptions, PruneStats, ReportMeta, Session, StoreError, StoreResult,
};

/// The collector's store in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// One connection, for report batches only (see the module documentation).
    ingest_pool: sqlx::SqlitePool,
    /// Longest time one prune statement should hold the write lock.
    prune_lock: std::time::Duration,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite:PATH`) and migrates it.
    pub async fn open(url: &str, options: &OpenOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        // Opened after the migrations, so it never sees an older schema. A batch statement
        // that changes more than 64 KiB of existing pages spilled its statement journal (what
        // undoes that one statement if it fails) to a new temporary file, created and deleted
        // for nearly every batch; in memory it costs no file. Commits go to the WAL as before.
        let ingest = connect
            .statement_cache_capacity(BATCH_STATEMENT_CACHE)
            .pragma("temp_store", "memory");
        let ingest_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.busy_timeout)
            .connect_with(ingest)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?;
        Ok(Self {
            pool,
            ingest_pool,
            prune_lock: options.prune_lock,
        })
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
impl_values_ingest!(sqlx::Sqlite);
// SQLite's `||` makes text of two blobs; the cast keeps the bytes as a blob.
super::checkins::impl_checkins!(
    sqlx::Sqlite,
    "CAST(checkin_blocks.data || excluded.data AS BLOB)"
);
