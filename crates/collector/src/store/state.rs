//! The fleet's current state beyond what an ingest batch writes itself.
//!
//! `devices` (one row per device: posture, since when, last seen, OS, owner, asset state) and
//! `latest_findings` (one row per device and check: status, since when, report id) are written
//! by the ingest transaction; `fleet_counts`, the counts that the summary, the dashboard cards
//! and `/metrics` read, follow every change of those two tables through triggers (migration
//! 0015), whatever code path makes it. This module keeps the rest in step, each function in the
//! transaction of the change it follows:
//!
//! * [`after_ingest`](self): the policy digest of each device's latest report, so that a fleet
//!   policy change can be applied to the stored verdicts, and the agent version it names (the
//!   exports carry it);
//! * a fleet policy change: the `unknown` findings the collector adds for checks the policy
//!   enables but a report lacks, each device's `policy_mismatch` and posture, recomputed at once
//!   so that no verdict is judged with an older policy;
//! * [`recount`](self): the counters (`fleet_counts`, and `daily_posture_counts` of migration
//!   0018) against a count of the state rows (tests, diagnostics).

/// What the collector writes as the summary of a check that the fleet policy enables and a
/// report lacks (the finding's title is the check id, its clause empty).
pub const MISSING_CHECK_SUMMARY: &str =
    "the report has no result for this check, which the fleet policy enables";

/// Expands, in a store module, to the state-maintenance functions for database `$db`.
/// `$lock_devices` is a statement that locks every device row in id order before a policy
/// change rewrites them (PostgreSQL; `None` on SQLite, whose writer holds the whole database).
macro_rules! impl_state {
    ($db:ty, $lock_devices:expr) => {
        /// Rows per statement of the functions below (parameters stay far below the limits).
        const STATE_ROWS_PER_STATEMENT: usize = 300;

        /// After an ingest batch, in its transaction: records the policy digest of each device
        /// whose latest report is now one of the batch.
        async fn state_after_ingest(
            tx: &mut sqlx::Transaction<'static, $db>,
            items: &[IngestItem],
        ) -> Result<(), sqlx::Error> {
            for chunk in items.chunks(STATE_ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "WITH v (id, report_id, digest, agent_version) AS (VALUES ",
                );
                for (n, item) in chunk.iter().enumerate() {
                    if n > 0 {
                        q.push(", ");
                    }
                    q.push("(CAST(");
                    q.push_bind(item.device_id.clone());
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(item.report_id.clone());
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(item.policy_digest.clone());
                    q.push(" AS TEXT), CAST(");
                    q.push_bind(item.agent_version.clone());
                    q.push(" AS TEXT))");
                }
                q.push(
                    ") UPDATE devices SET policy_digest = v.digest, \
                     report_agent_version = v.agent_version FROM v \
                     WHERE devices.id = v.id AND devices.latest_report_id = v.report_id \
                     AND (devices.policy_digest IS NULL OR devices.policy_digest <> v.digest \
                     OR devices.report_agent_version IS NULL \
                     OR devices.report_agent_version <> v.agent_version)",
                );
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// A new fleet policy, in the transaction that stores it: the findings the collector
        /// adds for enabled checks a report lacks, `policy_mismatch` and each posture are
        /// recomputed from the stored latest findings. Since when a device is non-compliant
        /// stays when it stays non-compliant, and is `now` when the policy makes it so.
        async fn state_policy_changed(
            tx: &mut sqlx::Transaction<'static, $db>,
            policy: &$crate::ingest::FleetPolicy,
            now: i64,
        ) -> Result<(), sqlx::Error> {
            let lock: Option<&str> = $lock_devices;
            if let Some(sql) = lock {
                sqlx::query(sql).execute(&mut **tx).await?;
            }
            let missing = $crate::store::state::MISSING_CHECK_SUMMARY;
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "DELETE FROM latest_findings WHERE summary = ",
            );
            q.push_bind(missing);
            q.push(" AND clause = '' AND title = check_id AND status = 'unknown'");
            if !policy.enabled_checks.is_empty() {
                q.push(" AND check_id NOT IN (");
                let mut list = q.separated(", ");
                for check in &policy.enabled_checks {
                    list.push_bind(check.clone());
                }
                q.push(")");
            }
            q.build().execute(&mut **tx).await?;
            for check in &policy.enabled_checks {
                sqlx::query(
                    "INSERT INTO latest_findings (device_id, check_id, report_id, title, clause, \
                         status, summary, status_since, enforcement) \
                     SELECT id, $1, latest_report_id, $1, '', 'unknown', $2, $3, \
                         'not_applicable' FROM devices \
                     WHERE latest_report_id IS NOT NULL \
                     ON CONFLICT (device_id, check_id) DO NOTHING",
                )
                .bind(check)
                .bind(missing)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            sqlx::query(
                "WITH worst AS (\
                     SELECT device_id, MAX(CASE status WHEN 'fail' THEN 2 \
                         WHEN 'unknown' THEN 1 WHEN 'error' THEN 1 ELSE 0 END) AS w \
                     FROM latest_findings GROUP BY device_id), \
                 judged AS (\
                     SELECT d.id, \
                         CASE WHEN d.policy_digest IS NULL OR d.policy_digest <> $1 \
                             THEN 1 ELSE 0 END AS mismatch, \
                         COALESCE(w.w, 1) AS w \
                     FROM devices d LEFT JOIN worst w ON w.device_id = d.id \
                     WHERE d.latest_report_id IS NOT NULL), \
                 v AS (\
                     SELECT id, mismatch, CASE WHEN w = 2 THEN 'noncompliant' \
                         WHEN w = 1 OR mismatch = 1 THEN 'unknown' ELSE 'compliant' END AS posture \
                     FROM judged) \
                 UPDATE devices SET policy_mismatch = v.mismatch, posture = v.posture, \
                     noncompliant_since = CASE WHEN v.posture <> 'noncompliant' THEN NULL \
                         WHEN devices.posture = 'noncompliant' \
                             THEN COALESCE(devices.noncompliant_since, $2) \
                         ELSE $2 END \
                 FROM v WHERE devices.id = v.id \
                     AND (devices.policy_mismatch <> v.mismatch \
                         OR devices.posture IS NULL OR devices.posture <> v.posture)",
            )
            .bind(&policy.digest)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// The maintained counters and the same counts taken from the state rows: `(kind, k1,
        /// k2, maintained, recounted)` for every key where they differ. Empty when they agree.
        /// Kind `day` is a per-day chart count: `k1` the day, `k2` the posture.
        async fn state_recount(
            pool: &sqlx::Pool<$db>,
        ) -> Result<Vec<(String, String, String, i64, i64)>, sqlx::Error> {
            let rows = sqlx::query(
                "WITH recount (kind, k1, k2, n) AS (\
                     SELECT 'posture', COALESCE(posture, 'never'), '', COUNT(*) FROM devices \
                     WHERE asset_state <> 'retired' GROUP BY COALESCE(posture, 'never') \
                     UNION ALL \
                     SELECT 'check', f.check_id, f.status, COUNT(*) \
                     FROM latest_findings f JOIN devices d ON d.id = f.device_id \
                     WHERE d.asset_state <> 'retired' GROUP BY f.check_id, f.status \
                     UNION ALL \
                     SELECT 'enforcement', f.check_id, \
                         f.status || ':' || COALESCE(f.enforcement, 'unknown'), COUNT(*) \
                     FROM latest_findings f JOIN devices d ON d.id = f.device_id \
                     WHERE d.asset_state <> 'retired' \
                     GROUP BY f.check_id, f.status || ':' || COALESCE(f.enforcement, 'unknown') \
                     UNION ALL \
                     SELECT 'day', p.day, p.posture, COUNT(*) \
                     FROM daily_posture p JOIN devices d ON d.id = p.device_id \
                     WHERE d.asset_state <> 'retired' GROUP BY p.day, p.posture), \
                 kept AS (SELECT kind, k1, k2, n FROM fleet_counts WHERE n <> 0 \
                     UNION ALL \
                     SELECT 'day', day, posture, n FROM daily_posture_counts WHERE n <> 0), \
                 both_sides AS (\
                     SELECT kind, k1, k2, n AS kept, 0 AS counted FROM kept \
                     UNION ALL SELECT kind, k1, k2, 0, n FROM recount) \
                 SELECT kind, k1, k2, CAST(SUM(kept) AS BIGINT) AS kept, \
                     CAST(SUM(counted) AS BIGINT) AS counted \
                 FROM both_sides GROUP BY kind, k1, k2 HAVING SUM(kept) <> SUM(counted) \
                 ORDER BY kind, k1, k2",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("kind")?,
                        r.try_get("k1")?,
                        r.try_get("k2")?,
                        r.try_get("kept")?,
                        r.try_get("counted")?,
                    ))
                })
                .collect()
        }
    };
}

pub(crate) use impl_state;
