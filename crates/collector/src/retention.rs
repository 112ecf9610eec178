//! Retention: every report is kept for a configurable period, each device's latest report
//! forever. A periodic task deletes the rest; with several collectors on one database each runs
//! it, which is harmless (deletes are idempotent and batched).

use std::sync::Arc;
use std::time::Duration;

use crate::app::now_ms;
use crate::display::day_before;
use crate::store::{PruneStats, Store, StoreResult};

/// How long reports are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Reports older than this many days are deleted (except each device's latest).
    pub days: u32,
    /// Time between prune passes.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            days: 90,
            interval: Duration::from_secs(60 * 60),
        }
    }
}

/// Runs one prune pass now, then gives the freed space back (SQLite incremental vacuum).
pub async fn prune_once(store: &dyn Store, days: u32) -> StoreResult<PruneStats> {
    let now = now_ms();
    let cutoff = now - i64::from(days) * 86_400_000;
    let stats = store.prune(cutoff, &day_before(now, days), now).await?;
    reclaim(store).await?;
    Ok(stats)
}

/// Pages one incremental-vacuum step gives back (4 MiB of 4 KiB pages): each step is a short
/// write transaction, so ingest waits for none long.
const RECLAIM_PAGES_PER_STEP: u32 = 1024;

/// Gives free pages back to the file system, a step at a time, until none is left; returns
/// how many.
pub async fn reclaim(store: &dyn Store) -> StoreResult<u64> {
    let mut total = 0;
    loop {
        let pages = store.reclaim_space(RECLAIM_PAGES_PER_STEP).await?;
        total += pages;
        if pages == 0 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Time between database upkeep passes (SQLite WAL checkpoints).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Spawns the database upkeep task: on SQLite, a passive WAL checkpoint every
/// [`UPKEEP_INTERVAL`], truncating the log when it has grown past `--wal-max-bytes`
/// (SQLite's own checkpoints never reset a log that readers keep using, which is how it grew
/// without bound under constant ingest). `posture_sqlite_wal_pages` shows the log's size.
pub fn spawn_upkeep(store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.upkeep(false).await {
                Ok(upkeep) if upkeep.wal_pages >= 0 => {
                    metrics::gauge!("posture_sqlite_wal_pages").set(upkeep.wal_pages as f64);
                    if upkeep.busy {
                        tracing::debug!(?upkeep, "WAL checkpoint left pages for a reader");
                    }
                }
                Ok(_) => return,
                Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
            }
        }
    })
}

/// Spawns the periodic prune task (first pass right away).
pub fn spawn(store: Arc<dyn Store>, retention: Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(retention.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match prune_once(store.as_ref(), retention.days).await {
                Ok(stats) => {
                    metrics::counter!("posture_reports_pruned_total").increment(stats.reports);
                    if stats != PruneStats::default() {
                        tracing::info!(
                            reports = stats.reports,
                            checkin_blocks = stats.checkin_blocks,
                            parts = stats.parts,
                            rollup_days = stats.rollup_days,
                            daily_rows = stats.daily_rows,
                            sessions = stats.sessions,
                            "pruned old data"
                        );
                    }
                }
                // The next pass will try again; a database outage must not stop the collector.
                Err(err) => tracing::warn!(error = %err, "prune pass failed"),
            }
        }
    })
}
