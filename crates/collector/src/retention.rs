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

/// Runs one prune pass now.
pub async fn prune_once(store: &dyn Store, days: u32) -> StoreResult<PruneStats> {
    let now = now_ms();
    let cutoff = now - i64::from(days) * 86_400_000;
    let stats = store.prune(cutoff, &day_before(now, days), now).await?;
    store.reclaim_space().await?;
    Ok(stats)
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
