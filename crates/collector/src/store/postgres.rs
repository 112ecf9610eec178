//! PostgreSQL store, for fleets larger than one machine and for several collector processes
//! sharing one database. Migrations take PostgreSQL's advisory lock, so collectors starting
//! together migrate once.

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::sql::impl_store;
use super::state::impl_state;
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
    /// Longest time one prune statement should hold locks.
    prune_lock: std::time::Duration,
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
            prune_lock: options.prune_lock,
        })
    }
}

impl_store!(PgStore, sqlx::Postgres, "BEGIN");
// A policy change rewrites devices that ingest batches lock in id order: it locks them all in
// the same order first, before a trigger takes the counters' lock (see migration 0015).
impl_state!(
    sqlx::Postgres,
    Some("SELECT COUNT(*) FROM (SELECT id FROM devices ORDER BY id FOR UPDATE) AS locked")
);

impl PgStore {
    /// PostgreSQL checkpoints and vacuums by itself.
    #[allow(clippy::unused_async)]
    pub(crate) async fn upkeep_impl(&self, _truncate: bool) -> StoreResult<super::Upkeep> {
        Ok(super::Upkeep {
            wal_pages: -1,
            ..super::Upkeep::default()
        })
    }

    /// Autovacuum gives space back to PostgreSQL's free space map.
    #[allow(clippy::unused_async)]
    pub(crate) async fn reclaim_space_impl(&self, _max_pages: u32) -> StoreResult<u64> {
        Ok(0)
    }
}
super::checkins::impl_checkins!(sqlx::Postgres, "checkin_blocks.data || excluded.data");

/// Stores a batch with a fixed number of statements, like the SQLite store, but each statement
/// takes one array per column (`UNNEST`), so its text never depends on the batch size: the
/// connection prepares each statement once and keeps it, where a `VALUES` list of every batch
/// size was a statement of its own (a Parse round trip, and the server's planning, each time).
/// One array parameter: a field of every row of the batch, bound as a PostgreSQL array.
fn column<'a, T, U>(rows: &'a [T], field: impl FnMut(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}

async fn ingest_batch(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    items: &[IngestItem],
) -> Result<Vec<IngestOutcome>, sqlx::Error> {
    use std::collections::{HashMap, HashSet};

    use super::batch::{distinct_reports, plan};

    let rows = distinct_reports(items);
    // Check-ins and parts (src/store/checkins.rs): which ids are new, whose the others are.
    let (inserted, owners) = checkins_sql::store(tx, &rows).await?;

    let mut device_ids: Vec<&str> = items.iter().map(|i| i.device_id.as_str()).collect();
    device_ids.sort_unstable();
    device_ids.dedup();
    let mut states = HashMap::new();
    for row in sqlx::query(
        "SELECT id, latest_received_at, posture, noncompliant_since, check_now_requested_at, \
             machine_id, hw_serial, os_family, enrolled_platform \
         FROM devices WHERE id = ANY($1::text[])",
    )
    .bind(device_ids)
    .fetch_all(&mut **tx)
    .await?
    {
        states.insert(row.try_get::<String, _>("id")?, device_state(&row)?);
    }

    let plan = plan(
        items,
        &inserted,
        &owners,
        states,
        super::CHECK_NOW_CLOCK_SKEW_MS,
    );

    // Identity events first: the device rows stay locked from their UPDATE until the commit,
    // and other writers' batches for the same devices wait that long.
    if !plan.events.is_empty() {
        let events = &plan.events;
        sqlx::query(
            "INSERT INTO device_events (device_id, at, kind, old_value, new_value, report_id) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                 $6::text[]) \
             ON CONFLICT (device_id, kind, old_value, new_value) DO NOTHING",
        )
        .bind(column(events, |e| e.device_id.as_str()))
        .bind(column(events, |e| e.at))
        .bind(column(events, |e| e.kind.as_str()))
        .bind(column(events, |e| e.old_value.as_deref()))
        .bind(column(events, |e| e.new_value.as_deref()))
        .bind(column(events, |e| e.report_id.as_deref()))
        .execute(&mut **tx)
        .await?;
    }

    // Devices: one UPDATE … FROM UNNEST, in the plan's order (by id).
    let devices = &plan.devices;
    fn latest_of<'a>(d: &super::batch::DeviceUpdate<'a>) -> Option<&'a IngestItem> {
        d.latest.as_ref().map(|(item, _, _)| *item)
    }
    let text_column = |field: fn(&Inventory) -> Option<&str>| -> Vec<Option<&str>> {
        devices
            .iter()
            .map(|d| d.latest.as_ref().and_then(|(_, _, inv)| field(inv)))
            .collect()
    };
    if !devices.is_empty() {
        sqlx::query(
        "UPDATE devices SET \
             last_seen_at = v.last_seen_at, \
             check_now_requested_at = v.check_now, \
             latest_report_id = CASE WHEN v.is_latest THEN v.report_id ELSE devices.latest_report_id END, \
             latest_generated_at = CASE WHEN v.is_latest THEN v.generated_at ELSE devices.latest_generated_at END, \
             latest_received_at = CASE WHEN v.is_latest THEN v.received_at ELSE devices.latest_received_at END, \
             posture = CASE WHEN v.is_latest THEN v.posture ELSE devices.posture END, \
             noncompliant_since = CASE WHEN v.is_latest THEN v.since ELSE devices.noncompliant_since END, \
             clock_skew_ms = CASE WHEN v.is_latest THEN v.clock_skew_ms ELSE devices.clock_skew_ms END, \
             policy_mismatch = CASE WHEN v.is_latest THEN v.policy_mismatch ELSE devices.policy_mismatch END, \
             hostname = CASE WHEN v.is_latest THEN v.hostname ELSE devices.hostname END, \
             os_family = CASE WHEN v.is_latest THEN v.os_family ELSE devices.os_family END, \
             os_name = CASE WHEN v.is_latest THEN v.os_name ELSE devices.os_name END, \
             os_version = CASE WHEN v.is_latest THEN v.os_version ELSE devices.os_version END, \
             hw_vendor = CASE WHEN v.is_latest THEN v.hw_vendor ELSE devices.hw_vendor END, \
             hw_model = CASE WHEN v.is_latest THEN v.hw_model ELSE devices.hw_model END, \
             hw_serial = CASE WHEN v.is_latest THEN v.hw_serial ELSE devices.hw_serial END, \
             users = CASE WHEN v.is_latest THEN v.users ELSE devices.users END \
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bool[], $5::text[], \
             $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], \
             $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
             $18::text[], $19::text[]) \
             AS v (id, last_seen_at, check_now, is_latest, report_id, generated_at, received_at, \
                 posture, since, clock_skew_ms, policy_mismatch, hostname, os_family, os_name, \
                 os_version, hw_vendor, hw_model, hw_serial, users) \
         WHERE devices.id = v.id",
    )
    .bind(column(devices, |d| d.device_id))
    .bind(column(devices, |d| d.last_seen_at))
    .bind(column(devices, |d| d.check_now))
    .bind(column(devices, |d| d.latest.is_some()))
    .bind(column(devices, |d| latest_of(d).map(|i| i.report_id.as_str())))
    .bind(column(devices, |d| latest_of(d).map(|i| i.generated_at)))
    .bind(column(devices, |d| latest_of(d).map(|i| i.received_at)))
    .bind(column(devices, |d| latest_of(d).map(|i| i.posture.as_str())))
    .bind(column(devices, |d| d.latest.as_ref().and_then(|(_, since, _)| *since)))
    .bind(column(devices, |d| latest_of(d).and_then(|i| i.clock_skew_ms)))
    .bind(column(devices, |d| latest_of(d).map(|i| i64::from(i.policy_mismatch))))
    .bind(text_column(|i| i.hostname.as_deref()))
    .bind(text_column(|i| i.os_family.as_deref()))
    .bind(text_column(|i| i.os_name.as_deref()))
    .bind(text_column(|i| i.os_version.as_deref()))
    .bind(text_column(|i| i.hw_vendor.as_deref()))
    .bind(text_column(|i| i.hw_model.as_deref()))
    .bind(text_column(|i| i.hw_serial.as_deref()))
    .bind(text_column(|i| i.users.as_deref()))
    .execute(&mut **tx)
    .await?;
    }

    // Latest findings of devices whose latest report changed: upsert, then drop checks the new
    // latest report no longer has.
    let latest: Vec<&IngestItem> = devices.iter().filter_map(latest_of).collect();
    let findings: Vec<(&IngestItem, &FindingSummary)> = latest
        .iter()
        .flat_map(|item| {
            let mut seen = HashSet::new();
            item.findings
                .iter()
                .filter(move |f| seen.insert(f.check_id.as_str()))
                .map(move |f| (*item, f))
        })
        .collect();
    if !findings.is_empty() {
        let triggers = findings.iter().map(|(item, _)| item.trigger.as_ref());
        // "Changed at" moves only when the status does: the receive time and trigger of the
        // first report with the new status. Every right-hand side reads the row as it was
        // before this update.
        sqlx::query(
            "INSERT INTO latest_findings (device_id, check_id, report_id, title, clause, status, \
                 summary, status_since, changed_by_report, change_trigger, change_cause, \
                 change_detected_at_agent_clock, enforcement) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], \
                 $12::bigint[], $13::text[]) \
             ON CONFLICT (device_id, check_id) DO UPDATE SET \
                 report_id = excluded.report_id, title = excluded.title, \
                 clause = excluded.clause, summary = excluded.summary, \
                 enforcement = excluded.enforcement, \
                 status_since = CASE WHEN latest_findings.status = excluded.status \
                     THEN latest_findings.status_since ELSE excluded.status_since END, \
                 changed_by_report = CASE WHEN latest_findings.status = excluded.status \
                     THEN latest_findings.changed_by_report ELSE excluded.changed_by_report END, \
                 change_trigger = CASE WHEN latest_findings.status = excluded.status \
                     THEN latest_findings.change_trigger ELSE excluded.change_trigger END, \
                 change_cause = CASE WHEN latest_findings.status = excluded.status \
                     THEN latest_findings.change_cause ELSE excluded.change_cause END, \
                 change_detected_at_agent_clock = CASE WHEN latest_findings.status = excluded.status \
                     THEN latest_findings.change_detected_at_agent_clock \
                     ELSE excluded.change_detected_at_agent_clock END, \
                 status = excluded.status",
        )
        .bind(column(&findings, |(i, _)| i.device_id.as_str()))
        .bind(column(&findings, |(_, f)| f.check_id.as_str()))
        .bind(column(&findings, |(i, _)| i.report_id.as_str()))
        .bind(column(&findings, |(_, f)| f.title.as_str()))
        .bind(column(&findings, |(_, f)| f.clause.as_str()))
        .bind(column(&findings, |(_, f)| f.status.as_str()))
        .bind(column(&findings, |(_, f)| f.summary.as_str()))
        .bind(column(&findings, |(i, _)| i.received_at))
        .bind(column(&findings, |(i, _)| i.report_id.as_str()))
        .bind(triggers.clone().map(|t| t.map(|t| t.kind.as_str())).collect::<Vec<_>>())
        .bind(
            triggers
                .clone()
                .map(|t| t.and_then(|t| t.cause.as_deref()))
                .collect::<Vec<_>>(),
        )
        .bind(
            triggers
                .map(|t| t.and_then(|t| t.detected_at_agent_clock))
                .collect::<Vec<_>>(),
        )
        .bind(
            findings
                .iter()
                .map(|(_, f)| f.enforcement.map(|e| e.as_str()))
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await?;
    }
    if !latest.is_empty() {
        sqlx::query(
            "DELETE FROM latest_findings \
             WHERE device_id = ANY($1::text[]) AND report_id <> ALL($2::text[])",
        )
        .bind(column(&latest, |i| i.device_id.as_str()))
        .bind(column(&latest, |i| i.report_id.as_str()))
        .execute(&mut **tx)
        .await?;
    }

    // `generated_at` holds the collector's receive time since reports are ordered by it
    // (migration 0010).
    let daily = &plan.daily;
    if !daily.is_empty() {
        sqlx::query(
            "INSERT INTO daily_posture (day, device_id, posture, generated_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
             ON CONFLICT (day, device_id) DO UPDATE SET posture = excluded.posture, \
                 generated_at = excluded.generated_at \
             WHERE excluded.generated_at >= daily_posture.generated_at",
        )
        .bind(column(daily, |i| i.received_day.as_str()))
        .bind(column(daily, |i| i.device_id.as_str()))
        .bind(column(daily, |i| i.posture.as_str()))
        .bind(column(daily, |i| i.received_at))
        .execute(&mut **tx)
        .await?;
    }

    Ok(plan.outcomes)
}
