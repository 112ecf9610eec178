//! PostgreSQL store, for fleets larger than one machine and for several collector processes
//! sharing one database. Migrations take PostgreSQL's advisory lock, so collectors starting
//! together migrate once.

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::sql::impl_store;
use super::{
    AssetUpdate, CheckCount, Count, DayCount, DeviceDetail, DeviceFilter, DeviceSummary,
    Enrollment, FindingSummary, FleetSummary, IngestItem, IngestOutcome, Inventory, LatestFinding,
    OpenOptions, PruneStats, ReportMeta, Session, StoreError, StoreResult, redact_url,
};

/// The collector's store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: sqlx::PgPool,
    /// The same pool: PostgreSQL keeps one shared buffer cache, so batches may use any
    /// connection.
    ingest_pool: sqlx::PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn open(url: &str, options: &OpenOptions) -> StoreResult<Self> {
        let shown = redact_url(url);
        let connect: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("{shown}: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect.statement_cache_capacity(super::BATCH_STATEMENT_CACHE))
            .await
            .map_err(|e| StoreError::Unavailable(format!("{shown}: {e}")))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self {
            ingest_pool: pool.clone(),
            pool,
        })
    }
}

impl_store!(PgStore, sqlx::Postgres, "BEGIN");
