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
//!
//! The write-ahead log stays bounded under constant ingest: SQLite's automatic checkpoints are
//! passive and never reset the log while readers keep using it, so the collector runs its own
//! ([`SqliteStore::upkeep_impl`], every few seconds from `serve`), truncating the log when it has
//! grown past [`OpenOptions::wal_max_bytes`], which is also the `journal_size_limit`. New
//! databases use `auto_vacuum = INCREMENTAL`, and prune gives the freed pages back
//! (`incremental_vacuum`); an older database is converted by a `VACUUM` when it is opened, if it
//! is small enough ([`AUTO_VACUUM_CONVERT_MAX_BYTES`]), else the log says how.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::BATCH_STATEMENT_CACHE;
use super::sql::{impl_store, impl_values_ingest};
use super::state::impl_state;
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
    /// Bound of the write-ahead log (bytes).
    wal_max_bytes: u64,
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
            .foreign_keys(true)
            // Not `auto_vacuum` here: setting it opens a write transaction on every new
            // connection, which then waits for the ingest writer. A database that is not in
            // incremental mode yet, a new one included, is converted once below.
            .pragma("journal_size_limit", options.wal_max_bytes.to_string())
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
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
        convert_to_incremental_vacuum(&pool).await?;
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
            wal_max_bytes: options.wal_max_bytes,
            prune_lock: options.prune_lock,
        })
    }

    /// A passive checkpoint, then a truncating one if the log is still above its bound or
    /// `truncate` asks for it. A truncating checkpoint waits for readers (up to the busy timeout)
    /// and holds new writers back meanwhile; the reads it waits for take milliseconds.
    pub(crate) async fn upkeep_impl(&self, truncate: bool) -> StoreResult<super::Upkeep> {
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let checkpoint = |mode: &'static str| async move {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA wal_checkpoint({mode})"
            )))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
            let busy: i64 = row.try_get(0).map_err(StoreError::from_sqlx)?;
            let log: i64 = row.try_get(1).map_err(StoreError::from_sqlx)?;
            let done: i64 = row.try_get(2).map_err(StoreError::from_sqlx)?;
            Ok::<_, StoreError>(super::Upkeep {
                wal_pages: log,
                checkpointed_pages: done,
                busy: busy != 0,
            })
        };
        let passive = checkpoint("PASSIVE").await?;
        // Each WAL frame is a page and a 24-byte header.
        let wal_bytes = passive.wal_pages.max(0).saturating_mul(page_size + 24);
        if truncate || wal_bytes > i64::try_from(self.wal_max_bytes).unwrap_or(i64::MAX) {
            return checkpoint("TRUNCATE").await;
        }
        Ok(passive)
    }

    /// `incremental_vacuum` of at most `max_pages` free pages; returns the pages given back.
    pub(crate) async fn reclaim_space_impl(&self, max_pages: u32) -> StoreResult<u64> {
        let before: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        // A pragma that returns rows runs one step per row: fetch them all.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA incremental_vacuum({max_pages})"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let after: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(u64::try_from(before - after).unwrap_or(0))
    }
}

/// Pages after which a committing connection tries a passive checkpoint (SQLite's default).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 1000;

/// Largest database converted to `auto_vacuum = INCREMENTAL` by a `VACUUM` when it is opened
/// (which rewrites the file and needs as much free space again): a few seconds at most.
pub(super) const AUTO_VACUUM_CONVERT_MAX_BYTES: i64 = 512 * 1024 * 1024;

/// A database created before incremental vacuum: converted now if it is small, else the log
/// says how to convert it while the collector is stopped.
async fn convert_to_incremental_vacuum(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    if mode == 2 {
        return Ok(());
    }
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    let bytes = pages.saturating_mul(page_size);
    if bytes > AUTO_VACUUM_CONVERT_MAX_BYTES {
        tracing::warn!(
            database_bytes = bytes,
            "this database predates incremental vacuum, and is too large to convert at every \
             start: space freed by pruning is reused but not given back to the file system; \
             to convert it, stop the collector and run \
             `sqlite3 DATABASE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'` (needs as much \
             free disk as the database)"
        );
        return Ok(());
    }
    let mut conn = pool.acquire().await.map_err(StoreError::from_sqlx)?;
    sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    sqlx::query("VACUUM")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    tracing::info!(
        database_bytes = bytes,
        "converted the database to incremental vacuum"
    );
    Ok(())
}

impl_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
impl_values_ingest!(sqlx::Sqlite);
impl_state!(sqlx::Sqlite, None);
// SQLite's `||` makes text of two blobs; the cast keeps the bytes as a blob.
super::checkins::impl_checkins!(
    sqlx::Sqlite,
    "CAST(checkin_blocks.data || excluded.data AS BLOB)"
);
