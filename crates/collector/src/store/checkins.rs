//! Check-ins and report parts in the database (the encoding is in [`super::content`]): storing a
//! batch's reports, reading a device's history and one report back, retention and daily
//! roll-ups. The SQL is the same on both backends except the blob concatenation, so one macro
//! expands it for each.

use std::time::Duration;

use super::content::DAY_MS;

/// How long report ids stay in `recent_report_ids`: within this window a resent report is a
/// duplicate and another device's id is refused; older resends are looked up in the device's
/// own check-ins.
pub const RECENT_IDS_MS: i64 = 7 * DAY_MS;

/// Rows per statement (bound parameters stay far below both databases' limits).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Blocks read per query when walking a device's days.
pub(crate) const BLOCKS_PER_PAGE: i64 = 8;

/// Default longest time one prune statement may hold the write lock.
pub const DEFAULT_PRUNE_LOCK: Duration = Duration::from_millis(50);

/// A batch size for the next delete, from how long the last one took: halve above the budget,
/// double under half of it.
#[must_use]
pub(crate) fn next_batch(limit: i64, took: Duration, budget: Duration) -> i64 {
    if took > budget {
        (limit / 2).max(16)
    } else if took < budget / 2 {
        (limit * 2).min(50_000)
    } else {
        limit
    }
}

/// The `YYYY-MM-DD` of a day number.
#[must_use]
pub fn day_text(day: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Expands to the check-in functions of a store over `$db`; `$concat` is the SQL that appends
/// `excluded.data` to `checkin_blocks.data`.
macro_rules! impl_checkins {
    ($db:ty, $concat:expr) => {
        mod checkins_sql {
            use std::collections::{BTreeMap, HashMap, HashSet};
            use std::time::{Duration, Instant};

            use sqlx::Row as _;

            use $crate::store::checkins::{
                BLOCKS_PER_PAGE, ROWS_PER_STATEMENT, day_text, next_batch,
            };
            use $crate::store::content::{
                self, DAY_MS, Record, day_of, decode_block, split_or_whole,
            };
            use $crate::store::{CheckRollup, IngestItem, ReportMeta};

            type Tx = sqlx::Transaction<'static, $db>;
            type Pool = sqlx::Pool<$db>;

            /// Stores the check-ins of a batch's distinct reports (`rows`, one per report id).
            /// Returns the ids stored now, and the device of every other id already known
            /// (stored before this migration, or within [`RECENT_IDS_MS`]).
            pub(crate) async fn store(
                tx: &mut Tx,
                rows: &[&IngestItem],
            ) -> Result<(HashSet<String>, HashMap<String, String>), sqlx::Error> {
                let mut owners = HashMap::new();
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT report_id, device_id FROM reports WHERE report_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for item in chunk {
                        list.push_bind(item.report_id.clone());
                    }
                    q.push(")");
                    for row in q.build().fetch_all(&mut **tx).await? {
                        owners.insert(
                            row.try_get::<String, _>("report_id")?,
                            row.try_get::<String, _>("device_id")?,
                        );
                    }
                }
                let fresh: Vec<&IngestItem> = rows
                    .iter()
                    .copied()
                    .filter(|i| !owners.contains_key(&i.report_id))
                    .collect();
                let mut inserted = HashSet::new();
                for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO recent_report_ids (report_id, device_id, received_at) ",
                    );
                    q.push_values(chunk, |mut b, item| {
                        b.push_bind(item.report_id.clone())
                            .push_bind(item.device_id.clone())
                            .push_bind(item.received_at);
                    });
                    q.push(" ON CONFLICT (report_id) DO NOTHING RETURNING report_id");
                    for row in q.build().fetch_all(&mut **tx).await? {
                        inserted.insert(row.try_get::<String, _>("report_id")?);
                    }
                }
                let known: Vec<&str> = fresh
                    .iter()
                    .map(|i| i.report_id.as_str())
                    .filter(|id| !inserted.contains(*id))
                    .collect();
                for chunk in known.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT report_id, device_id FROM recent_report_ids WHERE report_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind((*id).to_owned());
                    }
                    q.push(")");
                    for row in q.build().fetch_all(&mut **tx).await? {
                        owners.insert(
                            row.try_get::<String, _>("report_id")?,
                            row.try_get::<String, _>("device_id")?,
                        );
                    }
                }

                let stored: Vec<&IngestItem> = fresh
                    .into_iter()
                    .filter(|i| inserted.contains(&i.report_id))
                    .collect();
                if stored.is_empty() {
                    return Ok((inserted, owners));
                }
                let splits: Vec<content::Split<'_>> =
                    stored.iter().map(|i| split_or_whole(&i.body)).collect();
                let day = stored
                    .iter()
                    .map(|i| day_of(i.received_at))
                    .max()
                    .unwrap_or_default();
                let mut wanted: BTreeMap<Vec<u8>, content::Part<'_>> = BTreeMap::new();
                for s in &splits {
                    for p in s.parts() {
                        wanted.entry(p.digest()).or_insert(p);
                    }
                }
                let ids = part_ids(tx, &wanted, day).await?;

                // One appended chunk per (device, day), in key order (PostgreSQL row locks are
                // then taken in the same order by every writer).
                let mut chunks: BTreeMap<(String, i64), (i64, Vec<u8>)> = BTreeMap::new();
                for (item, split) in stored.iter().zip(&splits) {
                    let parts = split
                        .parts()
                        .iter()
                        .map(|p| ids.get(&p.digest()).copied().unwrap_or_default())
                        .collect();
                    let record =
                        Record::new(item.received_at, item.posture, split, &item.report_id, parts);
                    let d = day_of(item.received_at);
                    let entry = chunks
                        .entry((item.device_id.clone(), d))
                        .or_insert_with(|| (0, Vec::new()));
                    entry.0 += 1;
                    record.encode(d * DAY_MS, &mut entry.1);
                }
                let chunks: Vec<_> = chunks.into_iter().collect();
                for chunk in chunks.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO checkin_blocks (device_id, day, records, data) ",
                    );
                    q.push_values(chunk, |mut b, ((device, d), (n, data))| {
                        b.push_bind(device.clone())
                            .push_bind(*d)
                            .push_bind(*n)
                            .push_bind(data.clone());
                    });
                    q.push(
                        " ON CONFLICT (device_id, day) DO UPDATE SET \
                             records = checkin_blocks.records + excluded.records, data = ",
                    );
                    q.push($concat);
                    q.build().execute(&mut **tx).await?;
                }
                Ok((inserted, owners))
            }

            /// The ids of parts, storing those not yet known; every one is marked used on
            /// `day`, so retention keeps it at least as long as the check-ins that name it.
            async fn part_ids(
                tx: &mut Tx,
                wanted: &BTreeMap<Vec<u8>, content::Part<'_>>,
                day: i64,
            ) -> Result<HashMap<Vec<u8>, i64>, sqlx::Error> {
                let digests: Vec<&Vec<u8>> = wanted.keys().collect();
                let mut ids = HashMap::new();
                for chunk in digests.chunks(ROWS_PER_STATEMENT) {
                    // Touch first: a part whose last day is today cannot be pruned, so the id
                    // read next stays valid until this transaction commits.
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE report_parts SET last_day = ",
                    );
                    q.push_bind(day);
                    q.push(" WHERE last_day < ");
                    q.push_bind(day);
                    q.push(" AND digest IN (");
                    let mut list = q.separated(", ");
                    for d in chunk {
                        list.push_bind((*d).clone());
                    }
                    q.push(")");
                    q.build().execute(&mut **tx).await?;
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT id, digest FROM report_parts WHERE digest IN (",
                    );
                    let mut list = q.separated(", ");
                    for d in chunk {
                        list.push_bind((*d).clone());
                    }
                    q.push(")");
                    for row in q.build().fetch_all(&mut **tx).await? {
                        ids.insert(
                            row.try_get::<Vec<u8>, _>("digest")?,
                            row.try_get::<i64, _>("id")?,
                        );
                    }
                }
                let missing: Vec<(&Vec<u8>, &content::Part<'_>)> =
                    wanted.iter().filter(|(d, _)| !ids.contains_key(*d)).collect();
                for chunk in missing.chunks(ROWS_PER_STATEMENT / 2) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO report_parts (digest, data, raw_bytes, check_id, status, \
                             last_day) ",
                    );
                    q.push_values(chunk, |mut b, (digest, part)| {
                        let verdict = part.check_status();
                        b.push_bind((*digest).clone())
                            .push_bind(content::compress(part.bytes))
                            .push_bind(i64::try_from(part.bytes.len()).unwrap_or(i64::MAX))
                            .push_bind(verdict.as_ref().map(|v| v.0.clone()))
                            .push_bind(verdict.map(|v| v.1))
                            .push_bind(day);
                    });
                    // Another collector may have stored the same part meanwhile.
                    q.push(
                        " ON CONFLICT (digest) DO UPDATE SET last_day = CASE \
                             WHEN report_parts.last_day < excluded.last_day \
                             THEN excluded.last_day ELSE report_parts.last_day END \
                         RETURNING id, digest",
                    );
                    for row in q.build().fetch_all(&mut **tx).await? {
                        ids.insert(
                            row.try_get::<Vec<u8>, _>("digest")?,
                            row.try_get::<i64, _>("id")?,
                        );
                    }
                }
                Ok(ids)
            }

            fn meta(record: &Record) -> ReportMeta {
                ReportMeta {
                    report_id: record.report_id(),
                    generated_at: record.generated_at_ms().unwrap_or(record.received_at),
                    received_at: record.received_at,
                    posture: record.posture,
                    trigger: record.trigger.as_deref().and_then(|t| {
                        let t: posture_schema::Trigger = serde_json::from_slice(t).ok()?;
                        $crate::ingest::trigger_of(&t).ok()
                    }),
                }
            }

            /// A device's newest check-ins, newest first, at most `limit`.
            pub(crate) async fn history(
                pool: &Pool,
                device_id: &str,
                limit: usize,
            ) -> Result<Vec<ReportMeta>, sqlx::Error> {
                let mut out = Vec::new();
                let mut before = i64::MAX;
                while out.len() < limit {
                    let rows = sqlx::query(
                        "SELECT day, data FROM checkin_blocks WHERE device_id = $1 AND day < $2 \
                         ORDER BY day DESC LIMIT $3",
                    )
                    .bind(device_id)
                    .bind(before)
                    .bind(BLOCKS_PER_PAGE)
                    .fetch_all(pool)
                    .await?;
                    if rows.is_empty() {
                        break;
                    }
                    for row in &rows {
                        let day: i64 = row.try_get("day")?;
                        let data: Vec<u8> = row.try_get("data")?;
                        out.extend(decode_block(day, &data).iter().map(meta));
                        before = day;
                    }
                }
                Ok(out)
            }

            /// Blocks of one device: the given days, or with `days` `None` every one, newest
            /// first, a page at a time, until `found` says stop.
            async fn find_record(
                pool: &Pool,
                device_id: &str,
                report_id: &str,
                days: &[i64],
            ) -> Result<Option<Record>, sqlx::Error> {
                let pick = |rows: &[<$db as sqlx::Database>::Row]| -> Result<Option<Record>, sqlx::Error> {
                    let mut best: Option<Record> = None;
                    for row in rows {
                        let day: i64 = row.try_get("day")?;
                        let data: Vec<u8> = row.try_get("data")?;
                        for r in decode_block(day, &data) {
                            if r.is(report_id)
                                && best.as_ref().is_none_or(|b| r.received_at > b.received_at)
                            {
                                best = Some(r);
                            }
                        }
                    }
                    Ok(best)
                };
                if !days.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT day, data FROM checkin_blocks WHERE device_id = ",
                    );
                    q.push_bind(device_id.to_owned());
                    q.push(" AND day IN (");
                    let mut list = q.separated(", ");
                    for d in days {
                        list.push_bind(*d);
                    }
                    q.push(")");
                    let rows = q.build().fetch_all(pool).await?;
                    if let Some(r) = pick(&rows)? {
                        return Ok(Some(r));
                    }
                }
                // Not where its id or the recent ids said: walk the device's days.
                let mut before = i64::MAX;
                loop {
                    let rows = sqlx::query(
                        "SELECT day, data FROM checkin_blocks WHERE device_id = $1 AND day < $2 \
                         ORDER BY day DESC LIMIT $3",
                    )
                    .bind(device_id)
                    .bind(before)
                    .bind(BLOCKS_PER_PAGE * 4)
                    .fetch_all(pool)
                    .await?;
                    let Some(last) = rows.last() else {
                        return Ok(None);
                    };
                    before = last.try_get("day")?;
                    if let Some(r) = pick(&rows)? {
                        return Ok(Some(r));
                    }
                }
            }

            /// One report's body, rebuilt from its check-in and parts. `hint` is a receive time
            /// the caller knows (the device's latest report).
            pub(crate) async fn body(
                pool: &Pool,
                device_id: &str,
                report_id: &str,
                hint: Option<i64>,
            ) -> Result<Option<String>, sqlx::Error> {
                let mut days = Vec::new();
                if let Some(at) = hint {
                    days.push(day_of(at));
                }
                let recent = sqlx::query(
                    "SELECT received_at FROM recent_report_ids \
                     WHERE report_id = $1 AND device_id = $2",
                )
                .bind(report_id)
                .bind(device_id)
                .fetch_optional(pool)
                .await?;
                if let Some(row) = recent {
                    days.push(day_of(row.try_get("received_at")?));
                }
                if let Some(t) = content::uuid_v7_time(report_id) {
                    let d = day_of(t);
                    days.extend([d - 1, d, d + 1]);
                }
                days.sort_unstable();
                days.dedup();
                let Some(record) = find_record(pool, device_id, report_id, &days).await? else {
                    return Ok(None);
                };
                let Some((&skeleton_id, check_ids)) = record.parts.split_first() else {
                    return Ok(None);
                };
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, data FROM report_parts WHERE id IN (",
                );
                let mut list = q.separated(", ");
                for id in &record.parts {
                    list.push_bind(*id);
                }
                q.push(")");
                let mut parts = HashMap::new();
                for row in q.build().fetch_all(pool).await? {
                    let data: Vec<u8> = row.try_get("data")?;
                    parts.insert(row.try_get::<i64, _>("id")?, content::decompress(&data));
                }
                let get = |id: &i64| parts.get(id).cloned().flatten();
                let missing = || {
                    tracing::error!(
                        device_id,
                        report_id,
                        "a part of this stored report is missing; it cannot be rebuilt"
                    );
                    Ok(None)
                };
                let Some(skeleton) = get(&skeleton_id) else {
                    return missing();
                };
                let Some(checks) = check_ids.iter().map(get).collect::<Option<Vec<_>>>() else {
                    return missing();
                };
                let Some(bytes) = content::compose(&skeleton, &checks, &record) else {
                    return missing();
                };
                match String::from_utf8(bytes) {
                    Ok(text) => Ok(Some(text)),
                    Err(_) => missing(),
                }
            }

            /// Runs a `DELETE … LIMIT $2` (with `$1` bound to `arg`) in batches until it deletes
            /// less than a batch, sizing each batch so that it holds the write lock about
            /// `budget` at most. Returns the rows deleted, and (with `sum_records`) what
            /// `RETURNING records` summed, else the rows again.
            pub(crate) async fn delete_in_batches<A>(
                pool: &Pool,
                sql: &'static str,
                arg: A,
                budget: Duration,
                sum_records: bool,
            ) -> Result<(u64, u64), sqlx::Error>
            where
                A: for<'q> sqlx::Encode<'q, $db> + sqlx::Type<$db> + Clone + Send + 'static,
            {
                let mut limit: i64 = 256;
                let mut total = 0u64;
                let mut rows_total = 0u64;
                loop {
                    let started = Instant::now();
                    let (deleted, counted) = if sum_records {
                        let rows = sqlx::query(sql)
                            .bind(arg.clone())
                            .bind(limit)
                            .fetch_all(pool)
                            .await?;
                        let mut sum = 0u64;
                        for r in &rows {
                            sum += u64::try_from(r.try_get::<i64, _>("records")?).unwrap_or(0);
                        }
                        (rows.len() as u64, sum)
                    } else {
                        let n = sqlx::query(sql)
                            .bind(arg.clone())
                            .bind(limit)
                            .execute(pool)
                            .await?
                            .rows_affected();
                        (n, n)
                    };
                    total += counted;
                    rows_total += deleted;
                    if deleted < u64::try_from(limit).unwrap_or(0) {
                        return Ok((rows_total, total));
                    }
                    limit = next_batch(limit, started.elapsed(), budget);
                    // Let waiting writers in between batches.
                    tokio::task::yield_now().await;
                }
            }

            /// Rolls up every closed day (before `today`) that has check-ins and no roll-up
            /// yet: per day, the devices whose last check-in of the day had each posture and
            /// each check status. Returns the days rolled up.
            pub(crate) async fn roll_up(pool: &Pool, today: i64) -> Result<u64, sqlx::Error> {
                let last: Option<i64> = sqlx::query_scalar("SELECT MAX(day) FROM rollup_days")
                    .fetch_one(pool)
                    .await?;
                let days: Vec<i64> = sqlx::query_scalar(
                    "SELECT DISTINCT day FROM checkin_blocks WHERE day > $1 AND day < $2 \
                     ORDER BY day",
                )
                .bind(last.unwrap_or(i64::MIN))
                .bind(today)
                .fetch_all(pool)
                .await?;
                for &day in &days {
                    roll_up_day(pool, day).await?;
                }
                Ok(days.len() as u64)
            }

            async fn roll_up_day(pool: &Pool, day: i64) -> Result<(), sqlx::Error> {
                let mut postures: BTreeMap<&'static str, i64> = BTreeMap::new();
                let mut by_part: HashMap<i64, i64> = HashMap::new();
                let mut devices = 0i64;
                let mut after = String::new();
                loop {
                    let rows = sqlx::query(
                        "SELECT device_id, data FROM checkin_blocks WHERE day = $1 \
                         AND device_id > $2 ORDER BY device_id LIMIT 1000",
                    )
                    .bind(day)
                    .bind(&after)
                    .fetch_all(pool)
                    .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.try_get("device_id")?;
                    for row in &rows {
                        let data: Vec<u8> = row.try_get("data")?;
                        let Some(r) = decode_block(day, &data)
                            .into_iter()
                            .max_by_key(|r| r.received_at)
                        else {
                            continue;
                        };
                        devices += 1;
                        *postures.entry(r.posture.as_str()).or_default() += 1;
                        for p in r.parts.iter().skip(1) {
                            *by_part.entry(*p).or_default() += 1;
                        }
                    }
                }
                let mut checks: BTreeMap<(String, String), i64> = BTreeMap::new();
                let part_ids: Vec<i64> = by_part.keys().copied().collect();
                for chunk in part_ids.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT id, check_id, status FROM report_parts \
                         WHERE check_id IS NOT NULL AND id IN (",
                    );
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    for row in q.build().fetch_all(pool).await? {
                        let n = by_part[&row.try_get::<i64, _>("id")?];
                        *checks
                            .entry((row.try_get("check_id")?, row.try_get("status")?))
                            .or_default() += n;
                    }
                }
                let text = day_text(day);
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM daily_posture_rollups WHERE day = $1")
                    .bind(&text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM daily_check_rollups WHERE day = $1")
                    .bind(&text)
                    .execute(&mut *tx)
                    .await?;
                for (posture, n) in &postures {
                    sqlx::query(
                        "INSERT INTO daily_posture_rollups (day, posture, devices) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(&text)
                    .bind(*posture)
                    .bind(*n)
                    .execute(&mut *tx)
                    .await?;
                }
                let checks: Vec<_> = checks.into_iter().collect();
                for chunk in checks.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO daily_check_rollups (day, check_id, status, devices) ",
                    );
                    q.push_values(chunk, |mut b, ((check, status), n)| {
                        b.push_bind(text.clone())
                            .push_bind(check.clone())
                            .push_bind(status.clone())
                            .push_bind(*n);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO rollup_days (day, devices) VALUES ($1, $2) \
                     ON CONFLICT (day) DO UPDATE SET devices = excluded.devices",
                )
                .bind(day)
                .bind(devices)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }

            /// Removes, from the blocks left on or before `cutoff_day` (the cutoff's own day,
            /// and the days of devices' latest reports), the records received before `before`
            /// that are not their device's latest report. Returns the records removed. A block
            /// that gained records meanwhile is left for the next pass.
            pub(crate) async fn trim_blocks(
                pool: &Pool,
                cutoff_day: i64,
                before: i64,
            ) -> Result<u64, sqlx::Error> {
                let mut removed = 0u64;
                let mut after = (i64::MIN, String::new());
                loop {
                    let rows = sqlx::query(
                        "SELECT b.device_id, b.day, b.records, b.data, d.latest_report_id, \
                             d.latest_received_at \
                         FROM checkin_blocks b JOIN devices d ON d.id = b.device_id \
                         WHERE b.day <= $1 AND (b.day > $2 OR (b.day = $2 AND b.device_id > $3)) \
                         ORDER BY b.day, b.device_id LIMIT 200",
                    )
                    .bind(cutoff_day)
                    .bind(after.0)
                    .bind(&after.1)
                    .fetch_all(pool)
                    .await?;
                    let Some(last) = rows.last() else {
                        return Ok(removed);
                    };
                    after = (last.try_get("day")?, last.try_get("device_id")?);
                    let mut writes = Vec::new();
                    for row in &rows {
                        let day: i64 = row.try_get("day")?;
                        let records: i64 = row.try_get("records")?;
                        let data: Vec<u8> = row.try_get("data")?;
                        let latest: Option<String> = row.try_get("latest_report_id")?;
                        let latest_at: Option<i64> = row.try_get("latest_received_at")?;
                        let all = decode_block(day, &data);
                        let total = all.len();
                        let keep: Vec<Record> = all
                            .into_iter()
                            .filter(|r| {
                                r.received_at >= before
                                    || (Some(r.received_at) == latest_at
                                        && latest.as_deref().is_some_and(|id| r.is(id)))
                            })
                            .collect();
                        if keep.len() == total {
                            continue;
                        }
                        let mut out = Vec::with_capacity(data.len());
                        for r in &keep {
                            r.encode(day * DAY_MS, &mut out);
                        }
                        removed += (total - keep.len()) as u64;
                        let device: String = row.try_get("device_id")?;
                        writes.push((device, day, records, keep.len() as i64, out));
                    }
                    if writes.is_empty() {
                        continue;
                    }
                    let mut tx = pool.begin().await?;
                    for (device, day, old, n, data) in writes {
                        if n == 0 {
                            sqlx::query(
                                "DELETE FROM checkin_blocks \
                                 WHERE device_id = $1 AND day = $2 AND records = $3",
                            )
                            .bind(device)
                            .bind(day)
                            .bind(old)
                            .execute(&mut *tx)
                            .await?;
                        } else {
                            sqlx::query(
                                "UPDATE checkin_blocks SET data = $4, records = $5 \
                                 WHERE device_id = $1 AND day = $2 AND records = $3",
                            )
                            .bind(device)
                            .bind(day)
                            .bind(old)
                            .bind(data)
                            .bind(n)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    tx.commit().await?;
                }
            }

            /// Marks the parts of blocks kept past `cutoff_day` (each device's latest report
            /// is kept forever) as used on `cutoff_day`, so part retention keeps them.
            pub(crate) async fn keep_parts_of_old_blocks(
                pool: &Pool,
                cutoff_day: i64,
            ) -> Result<(), sqlx::Error> {
                let mut after = (i64::MIN, String::new());
                loop {
                    let rows = sqlx::query(
                        "SELECT device_id, day, data FROM checkin_blocks \
                         WHERE day < $1 AND (day > $2 OR (day = $2 AND device_id > $3)) \
                         ORDER BY day, device_id LIMIT 500",
                    )
                    .bind(cutoff_day)
                    .bind(after.0)
                    .bind(&after.1)
                    .fetch_all(pool)
                    .await?;
                    let Some(last) = rows.last() else {
                        return Ok(());
                    };
                    after = (last.try_get("day")?, last.try_get("device_id")?);
                    let mut ids = HashSet::new();
                    for row in &rows {
                        let day: i64 = row.try_get("day")?;
                        let data: Vec<u8> = row.try_get("data")?;
                        for r in decode_block(day, &data) {
                            ids.extend(r.parts);
                        }
                    }
                    let ids: Vec<i64> = ids.into_iter().collect();
                    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "UPDATE report_parts SET last_day = ",
                        );
                        q.push_bind(cutoff_day);
                        q.push(" WHERE last_day < ");
                        q.push_bind(cutoff_day);
                        q.push(" AND id IN (");
                        let mut list = q.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        q.push(")");
                        q.build().execute(pool).await?;
                    }
                }
            }

            /// Daily roll-ups from `since_day` (`YYYY-MM-DD`) on.
            pub(crate) async fn rollups(
                pool: &Pool,
                since_day: &str,
            ) -> Result<Vec<CheckRollup>, sqlx::Error> {
                let rows = sqlx::query(
                    "SELECT day, '' AS check_id, posture AS status, devices \
                         FROM daily_posture_rollups WHERE day >= $1 \
                     UNION ALL SELECT day, check_id, status, devices \
                         FROM daily_check_rollups WHERE day >= $1 \
                     ORDER BY 1, 2, 3",
                )
                .bind(since_day)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CheckRollup {
                            day: r.try_get("day")?,
                            check_id: r.try_get("check_id")?,
                            status: r.try_get("status")?,
                            devices: r.try_get("devices")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_checkins;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_when_slow_and_grow_when_fast() {
        let budget = Duration::from_millis(50);
        assert_eq!(next_batch(1000, Duration::from_millis(80), budget), 500);
        assert_eq!(next_batch(1000, Duration::from_millis(10), budget), 2000);
        assert_eq!(next_batch(1000, Duration::from_millis(40), budget), 1000);
        assert_eq!(next_batch(20, Duration::from_secs(1), budget), 16);
    }

    #[test]
    fn day_numbers_print_as_utc_dates() {
        assert_eq!(day_text(0), "1970-01-01");
        assert_eq!(day_text(20_427), "2025-12-05");
    }
}
